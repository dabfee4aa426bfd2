"""Layers, by Keras name. Each one is a ``torch.nn.Module`` that builds its
weights on first call and states the equation it computes."""

from .base import Layer
from .convolution import Conv2D
from .core import Activation, Dense, Dropout, Flatten, Reshape
from .normalization import BatchNormalization
from .pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D

__all__ = [
    "Layer",
    "Dense",
    "Flatten",
    "Dropout",
    "Activation",
    "Reshape",
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "BatchNormalization",
]
