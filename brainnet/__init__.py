"""brainnet: the networks of "deep learning and the human brain", with a
Keras-style API on PyTorch.

    >>> from brainnet.models import Sequential
    >>> from brainnet.layers import Dense
"""

from . import (activations, callbacks, constraints, distributed, initializers, layers, losses, metrics, models,
               optimizers, regularizers, saving, utils)
from .layers import Input
from .models import Model, Sequential

__version__ = "0.1.0"

# Imported on first use (``import brainnet; brainnet.explain.saliency(...)``), as
# they pull in matplotlib, Pillow or the recipes that a plain import does not need.
_LAZY = ("backend", "benchmarks", "datasets", "explain", "mixed_precision", "preprocessing", "recipes", "schedules", "text")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'brainnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "constraints",
    "distributed",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
]
