"""Models: ``Sequential`` for a stack of layers, ``Model(inputs, outputs)`` for
a graph (functional API), ``Model`` to subclass; ``Input`` starts a graph;
``load_model`` reads a file written by ``model.save``."""

from ..layers.symbolic import Input
from .functional import Functional
from .model import Model
from .saving import load_model, save_model
from .sequential import Sequential

__all__ = ["Input", "Model", "Sequential", "Functional", "load_model", "save_model"]
