"""Regression and hinge losses: losses that compare ``y`` and ``ŷ`` value by
value over the last axis, ``e = ŷ − y`` for the regression ones.

* mean_squared_error:  L = mean_j (y_j − ŷ_j)²
* mean_absolute_error:  L = mean_j |y_j − ŷ_j|
* huber (δ = ``delta``):  L = mean_j [½ e_j² if |e_j| ≤ δ else δ·|e_j| − ½ δ²]
* log_cosh:  L = mean_j log(cosh(e_j))
* hinge (labels 0/1 become −1/+1):  L = mean_j max(1 − y_j · ŷ_j, 0)
* squared_hinge (labels 0/1 become −1/+1):  L = mean_j max(1 − y_j · ŷ_j, 0)²

The hinge losses, Keras's maximum-margin classification losses, live here
because they too are a mean of a function of ``y_j`` and ``ŷ_j``, with no
probabilities. Each function returns one value per sample; each class is
its ``Loss``. ``brainnet.losses`` re-exports them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._loss_base import Loss, Tensor, _as_tensors, reduction_config


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j (y_j − ŷ_j)² over the last axis."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    return (y_true.to(y_pred.dtype).reshape(y_pred.shape) - y_pred).square().mean(-1)


def mean_absolute_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j |y_j − ŷ_j| over the last axis."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    return (y_true.to(y_pred.dtype).reshape(y_pred.shape) - y_pred).abs().mean(-1)


def huber(y_true: Tensor, y_pred: Tensor, delta: float = 1.0) -> Tensor:
    """L = mean_j h(e_j), e = ŷ − y, h(e) = ½ e² where |e| ≤ δ and δ·|e| − ½ δ² beyond
    (squared error near the target, absolute error far from it: robust to outliers)."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    error = y_pred - y_true.to(y_pred.dtype).reshape(y_pred.shape)
    size = error.abs()
    return torch.where(size <= delta, 0.5 * error.square(), delta * size - 0.5 * delta**2).mean(-1)


def log_cosh(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j log(cosh(e_j)), e = ŷ − y, computed as e + softplus(−2e) − log 2
    (the same value without overflow): about e²/2 for small e, |e| − log 2 for large."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    error = y_pred - y_true.to(y_pred.dtype).reshape(y_pred.shape)
    return (error + F.softplus(-2.0 * error) - math.log(2.0)).mean(-1)


def _signed_labels(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """Labels as −1/+1: labels that are all 0 or 1 become 2y − 1 (as Keras); others stay.
    Decided on the device (no read back), so a training step stays one graph."""
    y = y_true.to(y_pred.dtype).reshape(y_pred.shape)
    binary = ((y == 0) | (y == 1)).all()
    return torch.where(binary, 2.0 * y - 1.0, y)


def hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j max(1 − y_j · ŷ_j, 0), labels y ∈ {−1, +1} (0/1 labels are mapped to them)."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    return (1.0 - _signed_labels(y_true, y_pred) * y_pred).clamp(min=0.0).mean(-1)


def squared_hinge(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j max(1 − y_j · ŷ_j, 0)², labels y ∈ {−1, +1} (0/1 labels are mapped to them)."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    return (1.0 - _signed_labels(y_true, y_pred) * y_pred).clamp(min=0.0).square().mean(-1)


class MeanSquaredError(Loss):
    """L = mean_j (y_j − ŷ_j)² (mean over the batch)."""

    def __init__(self, name: str = "mean_squared_error", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(mean_squared_error, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}


class MeanAbsoluteError(Loss):
    """L = mean_j |y_j − ŷ_j| (mean over the batch)."""

    def __init__(self, name: str = "mean_absolute_error", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(mean_absolute_error, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}


class Huber(Loss):
    """L = mean_j h(ŷ_j − y_j), h(e) = ½ e² where |e| ≤ δ, δ·|e| − ½ δ² beyond (mean over the batch).

    Args:
        delta: δ > 0, where the loss turns from quadratic to linear (default 1.0).

    Raises:
        ValueError: delta is not a positive number.
    """

    def __init__(self, delta: float = 1.0, name: str = "huber_loss", reduction: str | None = "sum_over_batch_size") -> None:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
            raise ValueError(f"Huber: expected delta > 0 (a number), got {delta!r}. Fix: Huber(delta=1.0).")
        super().__init__(huber, name, reduction=reduction)
        self.delta = float(delta)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return huber(y_true, y_pred, self.delta)

    def get_config(self) -> dict:
        return {"delta": self.delta, "name": self.name, **reduction_config(self)}

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"


class LogCosh(Loss):
    """L = mean_j log(cosh(ŷ_j − y_j)) (mean over the batch)."""

    def __init__(self, name: str = "log_cosh", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(log_cosh, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}


class Hinge(Loss):
    """L = mean_j max(1 − y_j · ŷ_j, 0), y ∈ {−1, +1} (0/1 labels mapped; mean over the batch)."""

    def __init__(self, name: str = "hinge", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(hinge, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}


class SquaredHinge(Loss):
    """L = mean_j max(1 − y_j · ŷ_j, 0)², y ∈ {−1, +1} (0/1 labels mapped; mean over the batch)."""

    def __init__(self, name: str = "squared_hinge", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(squared_hinge, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}
