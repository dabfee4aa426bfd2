"""The training loop behind fit/evaluate/predict, and its callbacks."""

from .trainer import Trainer

__all__ = ["Trainer"]
