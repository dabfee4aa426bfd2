"""What every loss is: the ``Loss`` class (its options, the batch mean, the
fused path on logits) and Keras's weighted reduction, ``weighted_mean``
(``L = Σ_i w_i · L_i / N``), with the conversion of the arrays, lists or
numbers a user passes (``_as_tensors``) that the metrics share.

The loss families subclass ``Loss``: ``_probabilistic_losses.py`` and
``_regression_losses.py``; ``brainnet.losses`` re-exports all of them.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import numpy as np
import torch


Tensor = torch.Tensor


def _tensor(value: Any, device: torch.device | None) -> Tensor:
    """``value`` (a NumPy array, list or number) as a tensor on ``device``: floats in
    torch's default dtype (float32, Keras's floatx), integers and booleans as they are."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"expected numbers (a torch tensor, NumPy array, list or number) for a loss or metric, got "
            f"{type(value).__name__} of dtype {array.dtype}. Fix: convert the values first, e.g. "
            "np.asarray(y, dtype='float32'), or pass a torch tensor."
        )
    if array.dtype.kind == "f":
        return torch.as_tensor(array, dtype=torch.get_default_dtype(), device=device)
    return torch.as_tensor(array, device=device)


def _as_tensors(y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Tensors for the labels and predictions a user passes to a loss or metric
    (arrays, lists or numbers, as Keras takes them), each on the other's device if
    that one is a tensor. Tensors pass through untouched (the training loop's case)."""
    if isinstance(y_true, Tensor) and isinstance(y_pred, Tensor):
        return y_true, y_pred
    device = y_pred.device if isinstance(y_pred, Tensor) else y_true.device if isinstance(y_true, Tensor) else None
    return (y_true if isinstance(y_true, Tensor) else _tensor(y_true, device),
            y_pred if isinstance(y_pred, Tensor) else _tensor(y_pred, device))


def weighted_mean(values: Tensor, sample_weight: Tensor, name: str = "loss") -> Tensor:
    """Keras's ``"sum_over_batch_size"`` with weights: ``Σ_i w_i · L_i / (number of L)``.

    ``values`` holds the per-sample losses, batch axis first (N, or (N, T) for
    a loss per time step, each step of sample i weighed by w_i);
    ``sample_weight`` holds one weight per sample (N,).

    Raises:
        ValueError: ``values`` is not one loss per sample (a loss function
            that already averaged over the batch cannot be weighed).
    """
    n = sample_weight.shape[0]
    if values.dim() == 0 or values.shape[0] != n:
        raise ValueError(
            f"loss {name}: expected one loss value per sample (shape ({n}, ...)) to weigh by sample_weight, "
            f"got shape {tuple(values.shape)}. Fix: make the loss function return per-sample values, e.g. "
            "return ((y_true - y_pred) ** 2).mean(-1) rather than .mean()."
        )
    w = sample_weight.reshape((n,) + (1,) * (values.dim() - 1))  # (N, 1, ...): one weight per sample
    return (values * w).mean()


def _snake_case(name: str) -> str:
    """``CustomMSE`` → ``custom_mse``, Keras's default name of a loss subclass."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class Loss:
    """A loss with its options; calling it gives the batch mean (with
    ``sample_weight``: Σ_i w_i · L_i / N, as Keras).

    ``kind`` tells the trainer how to read labels: ``"sparse"`` (class
    indices), ``"categorical"`` (one-hot), ``"binary"`` (0/1 per output) or
    ``"regression"``. ``fused_activation`` names the output activation whose
    logits this loss can take directly (softmax or sigmoid), if any.
    """

    kind = "regression"
    fused_activation: str | None = None

    label_smoothing = 0.0  # the cross-entropies take it as an argument

    def __init__(self, fn: Callable[..., Tensor] | None = None, name: str | None = None,
                 from_logits: bool = False) -> None:
        """``fn(y_true, y_pred)`` gives the per-sample losses. A subclass may
        instead override ``call`` and pass only ``name`` (Keras 3's way:
        ``super().__init__(name="my_loss")``), or override ``__call__`` to
        return the batch's loss itself (as keras.io's supervised contrastive
        loss does); the name defaults to the class's name in snake_case.

        Raises:
            TypeError: neither ``fn`` nor an overridden ``call`` or ``__call__``.
        """
        if fn is None and type(self).call is Loss.call and type(self).__call__ is Loss.__call__:
            raise TypeError(
                f"{type(self).__name__}: expected a function fn(y_true, y_pred) or a subclass that overrides "
                "call(self, y_true, y_pred), got neither. Fix: define call(self, y_true, y_pred) returning one "
                "loss per sample, e.g. ((y_true - y_pred) ** 2).mean(-1), or pass the function as fn."
            )
        self.fn = fn
        self.name = name or _snake_case(type(self).__name__)
        self.from_logits = bool(from_logits)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses (a subclass may override this, as in Keras)."""
        if self.kind == "regression":
            return self.fn(y_true, y_pred)
        if self.label_smoothing:
            return self.fn(y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return self.fn(y_true, y_pred, from_logits=self.from_logits)

    def __call__(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """The batch mean as a scalar tensor; ``y_true``, ``y_pred`` and ``sample_weight``
        may be tensors, NumPy arrays or lists (as in Keras)."""
        y_true, y_pred = _as_tensors(y_true, y_pred)
        values = self.call(y_true, y_pred)
        if sample_weight is None:
            return values.mean()
        if not isinstance(sample_weight, Tensor):
            sample_weight = _tensor(sample_weight, values.device)
        return weighted_mean(values, sample_weight, self.name)

    def can_fuse(self, activation: str | None) -> bool:
        """True when the model's output activation can be folded into this loss."""
        return not self.from_logits and activation is not None and activation == self.fused_activation

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """Batch mean of the loss computed on logits (the fused path); with
        ``sample_weight``, Σ_i w_i · L_i / N."""
        if self.label_smoothing:
            values = self.fn(y_true, logits, from_logits=True, label_smoothing=self.label_smoothing)
        else:
            values = self.fn(y_true, logits, from_logits=True)
        return values.mean() if sample_weight is None else weighted_mean(values, sample_weight, self.name)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"{type(self).__name__}(from_logits={self.from_logits}{smoothing})"
