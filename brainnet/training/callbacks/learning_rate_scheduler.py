"""LearningRateScheduler (Keras's file name; ``monitors``, its home before,
re-exports it), and the helpers that read and set a compiled model's
learning rate, which ReduceLROnPlateau in ``monitors`` uses too.

The rate is the compiled optimizer's ``learning_rate``: ``_optimizer`` reads
the optimizer (or says the model was never compiled) and
``_set_learning_rate`` writes a new rate as a float.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable

import torch

from ...distributed import is_main_process
from .base import Callback


def _optimizer(model: Any, who: str) -> Any:
    """The model's optimizer, or the error for a model never compiled."""
    optimizer = model.optimizer
    if optimizer is None:
        raise RuntimeError(f"{who}: expected a compiled model with an optimizer. Fix: model.compile(...) first.")
    return optimizer


def _set_learning_rate(model: Any, value: float, who: str) -> None:
    _optimizer(model, who).learning_rate = float(value)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule``.

    Args:
        schedule: ``schedule(epoch, lr) -> new lr`` (epoch 0-based, lr the
            current rate); ``schedule(epoch)`` is accepted too.
        verbose: 1 prints each new rate.

    Raises:
        ValueError: the schedule returns something that is not a number ≥ 0.

    Example:
        >>> warm_then_decay = LearningRateScheduler(lambda epoch, lr: lr if epoch < 5 else lr * 0.9)
    """

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule, self.verbose = schedule, verbose
        try:
            params = inspect.signature(schedule).parameters.values()
            positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
            self._takes_lr = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)
        except (TypeError, ValueError):  # builtins without a signature
            self._takes_lr = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        rate = _optimizer(self.model, "LearningRateScheduler").learning_rate
        new = self.schedule(epoch, rate) if self._takes_lr else self.schedule(epoch)
        if isinstance(new, torch.Tensor) and new.numel() == 1:
            new = new.item()
        if isinstance(new, bool) or not isinstance(new, numbers.Real) or not new >= 0:
            raise ValueError(
                f"LearningRateScheduler: expected schedule({epoch}, {rate}) to return a learning rate "
                f"(a number ≥ 0), got {new!r}. Fix: return a float, e.g. lambda epoch, lr: lr * 0.9."
            )
        _set_learning_rate(self.model, new, "LearningRateScheduler")
        if self.verbose and is_main_process():
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new):.6g}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate
