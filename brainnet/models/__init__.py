"""Models: ``Sequential`` for a stack of layers, ``Model`` to subclass."""

from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
