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


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", None, "none")


def check_reduction(loss: str, reduction: Any) -> str | None:
    """``reduction`` if it is one of Keras 3's; otherwise a ValueError with the fix."""
    if not (reduction is None or isinstance(reduction, str)) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{loss}: expected reduction 'sum_over_batch_size' (the default), 'sum', 'mean', "
            f"'mean_with_sample_weight' or None, got {reduction!r}. Fix: {loss}(reduction='sum') for the sum "
            "over the batch, or reduction=None for the loss of each sample (or each time step)."
        )
    return reduction


def _weights_like(values: Tensor, sample_weight: Tensor, name: str) -> Tensor:
    """``sample_weight`` shaped to multiply ``values``: of their shape (a weight per
    time step, or per token), one weight per sample (N,) or (N, 1), or a scalar."""
    w = sample_weight.to(values.dtype)
    if w.dim() == values.dim() + 1 and w.shape[-1] == 1:
        w = w.squeeze(-1)  # (N, T, 1) weights for (N, T) losses
    if w.dim() == 0 or tuple(w.shape) == tuple(values.shape):
        return w
    n = w.shape[0]
    if w.dim() == 1 or (w.dim() == 2 and w.shape[1] == 1):
        if values.dim() == 0 or values.shape[0] != n:
            raise ValueError(
                f"loss {name}: expected one loss value per sample (shape ({n}, ...)) to weigh by sample_weight, "
                f"got shape {tuple(values.shape)}. Fix: make the loss function return per-sample values, e.g. "
                "return ((y_true - y_pred) ** 2).mean(-1) rather than .mean()."
            )
        return w.reshape((n,) + (1,) * (values.dim() - 1))  # (N, 1, ...): one weight per sample
    raise ValueError(
        f"loss {name}: expected sample_weight of the loss values' shape {tuple(values.shape)} (a weight per "
        f"loss value) or one weight per sample ({values.shape[0] if values.dim() else 1},), got shape "
        f"{tuple(w.shape)}. Fix: give weights of shape {tuple(values.shape)}, e.g. a weight per time step for a "
        "loss per time step, or one per sample."
    )


def reduce_values(values: Tensor, sample_weight: Tensor | None = None,
                  reduction: str | None = "sum_over_batch_size", name: str = "loss") -> Tensor:
    """Keras 3's reduction of loss values ``L`` with weights ``w`` (``w = 1`` when None),
    after ``L ← w · L``:

    * ``"sum_over_batch_size"`` and ``"mean"``: ``Σ w·L / (number of L)``;
    * ``"sum"``: ``Σ w·L``;
    * ``"mean_with_sample_weight"``: ``Σ w·L / Σ w`` (0 when ``Σ w = 0``);
    * ``None`` or ``"none"``: ``w·L`` itself, unreduced.

    Raises:
        ValueError: weights that fit neither the values' shape nor one per sample.
    """
    w = None if sample_weight is None else _weights_like(values, sample_weight, name)
    if w is not None:
        values = values * w
    if reduction is None or reduction == "none" or values.dim() == 0:
        return values
    total = values.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and w is not None:
        weight_sum = torch.broadcast_to(w, values.shape).sum()
        return torch.where(weight_sum == 0, torch.zeros_like(total), total / weight_sum)
    return total / max(values.numel(), 1)


def weighted_mean(values: Tensor, sample_weight: Tensor, name: str = "loss") -> Tensor:
    """Keras's ``"sum_over_batch_size"`` with weights: ``Σ_i w_i · L_i / (number of L)``.

    ``values`` holds the per-sample losses, batch axis first (N, or (N, T) for
    a loss per time step); ``sample_weight`` one weight per sample (N,), each
    step of sample i weighed by w_i, or a weight per loss value (values' shape).

    Raises:
        ValueError: ``values`` is not one loss per sample (a loss function
            that already averaged over the batch cannot be weighed), or
            weights of another shape.
    """
    return reduce_values(values, sample_weight, "sum_over_batch_size", name)


def reduction_config(loss: "Loss") -> dict:
    """``{"reduction": ...}`` when it is not the default (so configs written before it existed stay the same)."""
    return {} if loss.reduction == "sum_over_batch_size" else {"reduction": loss.reduction}


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
                 from_logits: bool = False, reduction: str | None = "sum_over_batch_size") -> None:
        """``fn(y_true, y_pred)`` gives the per-sample losses. A subclass may
        instead override ``call`` and pass only ``name`` (Keras 3's way:
        ``super().__init__(name="my_loss")``), or override ``__call__`` to
        return the batch's loss itself (as keras.io's supervised contrastive
        loss does); the name defaults to the class's name in snake_case.
        ``reduction`` is Keras 3's (see ``reduce_values``):
        ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
        ``"mean_with_sample_weight"`` or None (one value per sample, or per
        time step).

        Raises:
            TypeError: neither ``fn`` nor an overridden ``call`` or ``__call__``.
            ValueError: an unknown ``reduction``.
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
        self.reduction = check_reduction(type(self).__name__, reduction)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses (a subclass may override this, as in Keras)."""
        if self.kind == "regression":
            return self.fn(y_true, y_pred)
        if self.label_smoothing:
            return self.fn(y_true, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return self.fn(y_true, y_pred, from_logits=self.from_logits)

    def __call__(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """The batch mean as a scalar tensor (or as ``reduction`` says); ``y_true``,
        ``y_pred`` and ``sample_weight`` may be tensors, NumPy arrays or lists (as in
        Keras). ``sample_weight``: one weight per sample, or one per loss value."""
        y_true, y_pred = _as_tensors(y_true, y_pred)
        values = self.call(y_true, y_pred)
        if sample_weight is not None and not isinstance(sample_weight, Tensor):
            sample_weight = _tensor(sample_weight, values.device)
        return reduce_values(values, sample_weight, self.reduction, self.name)

    def can_fuse(self, activation: str | None) -> bool:
        """True when the model's output activation can be folded into this loss."""
        return not self.from_logits and activation is not None and activation == self.fused_activation

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        """The loss computed on logits (the fused path), reduced as ``__call__``
        reduces it (by default the batch mean; with ``sample_weight``, Σ_i w_i · L_i / N)."""
        if self.label_smoothing:
            values = self.fn(y_true, logits, from_logits=True, label_smoothing=self.label_smoothing)
        else:
            values = self.fn(y_true, logits, from_logits=True)
        return reduce_values(values, sample_weight, self.reduction, self.name)

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits, **reduction_config(self)}

    def __repr__(self) -> str:
        smoothing = f", label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"{type(self).__name__}(from_logits={self.from_logits}{smoothing})"
