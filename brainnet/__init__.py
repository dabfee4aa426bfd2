"""brainnet: the networks of "deep learning and the human brain", with a
Keras-style API on PyTorch.

    >>> from brainnet.models import Sequential
    >>> from brainnet.layers import Dense
"""

from . import activations, callbacks, distributed, layers, losses, metrics, models, optimizers, regularizers, saving, utils
from .layers import Input
from .models import Model, Sequential

__version__ = "0.1.0"

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "callbacks",
    "distributed",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "saving",
    "utils",
]
