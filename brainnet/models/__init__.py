"""Models: ``Sequential`` for a stack of layers, ``Model(inputs, outputs)`` for
a graph (functional API), ``Model`` to subclass; ``Input`` starts a graph."""

from ..layers.symbolic import Input
from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["Input", "Model", "Sequential", "Functional"]
