"""Callbacks, by Keras name (the loop that calls them is brainnet.training)."""

from .training.callbacks import Callback, History, ProgressBar

__all__ = ["Callback", "History", "ProgressBar"]
