"""Probabilistic losses: the cross-entropies and the KL divergence, which
compare predicted probabilities with labels or target distributions (the
cross-entropies also take logits, ``from_logits=True``).

* categorical_crossentropy:  L = −Σ_j y_j · log p_j
* sparse_categorical_crossentropy:  L = −log p_y  (y a class index)
* binary_crossentropy:  L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)]
* kl_divergence (y, ŷ clipped to [ε, 1]):  L = Σ_j y_j · log(y_j / ŷ_j)

Probabilities are clipped to [ε, 1 − ε] with ε = 1e-7 as Keras does; the
logits path uses log-softmax (or the fused sigmoid cross-entropy) instead.
Label smoothing, Keras's formula, is ``_smooth``. Each function returns one
value per sample; each class is its ``Loss``. ``brainnet.losses``
re-exports them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._loss_base import Loss, Tensor, _as_tensors, reduce_values, reduction_config


EPSILON = 1e-7


def _smooth(y_true: Tensor, label_smoothing: float, classes: int) -> Tensor:
    """y·(1 − ε) + ε/K (Keras's label smoothing)."""
    return y_true * (1.0 - label_smoothing) + label_smoothing / classes if label_smoothing else y_true


def categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """L = −Σ_j y_j · log p_j over the last axis (y one-hot or soft labels,
    smoothed to y·(1 − ε) + ε/K first when ``label_smoothing=ε``)."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[-1])
    if from_logits:
        return -(y_true * torch.log_softmax(y_pred, dim=-1)).sum(-1)
    p = y_pred / y_pred.sum(-1, keepdim=True)
    return -(y_true * torch.log(p.clamp(EPSILON, 1.0 - EPSILON))).sum(-1)


def sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """L = −log p_y, with y the integer class index of each sample; with
    ``label_smoothing=ε``: L = −(1 − ε)·log p_y − (ε/K)·Σ_j log p_j."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    index = y_true.long().reshape(y_pred.shape[:-1]).unsqueeze(-1)
    if from_logits:
        logp = torch.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(-1, keepdim=True)
        logp = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
    nll = -logp.gather(-1, index).squeeze(-1)
    if not label_smoothing:
        return nll
    return (1.0 - label_smoothing) * nll - label_smoothing * logp.mean(-1)


def binary_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False, label_smoothing: float = 0.0
) -> Tensor:
    """L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)] over the last axis
    (y smoothed to y·(1 − ε) + ε/2 first when ``label_smoothing=ε``)."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    y_true = _smooth(y_true.to(y_pred.dtype).reshape(y_pred.shape), label_smoothing, 2)
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none").mean(-1)
    p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p)).mean(-1)


def kl_divergence(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = Σ_j y_j · log(y_j / ŷ_j), both clipped to [ε, 1] (ε = 1e-7, as Keras):
    how far the predicted distribution ŷ is from the target distribution y."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    y = y_true.to(y_pred.dtype).reshape(y_pred.shape).clamp(EPSILON, 1.0)
    p = y_pred.clamp(EPSILON, 1.0)
    return (y * torch.log(y / p)).sum(-1)


def _check_smoothing(cls: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{cls}: expected label_smoothing in [0, 1], got {value!r}. Fix: {cls}(label_smoothing=0.1)."
        )
    return float(value)


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot labels: L = −Σ_j y_j log p_j (mean over the batch).

    Args:
        from_logits: whether ``y_pred`` are logits (default False: probabilities).
        label_smoothing: ε in [0, 1]; the targets become y·(1 − ε) + ε/K (default 0).
    """

    kind = "categorical"
    fused_activation = "softmax"

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str = "categorical_crossentropy",
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(categorical_crossentropy, name, from_logits, reduction)
        self.label_smoothing = _check_smoothing("CategoricalCrossentropy", label_smoothing)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        target = y_true.to(logits.dtype).reshape(-1, logits.shape[-1])
        flat = logits.reshape(-1, logits.shape[-1])
        if sample_weight is None and self.reduction in ("sum_over_batch_size", "mean"):
            return F.cross_entropy(flat, target, label_smoothing=self.label_smoothing)
        values = F.cross_entropy(flat, target, label_smoothing=self.label_smoothing, reduction="none")
        return reduce_values(values.reshape(logits.shape[:-1]), sample_weight, self.reduction, self.name)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with class-index labels: L = −log p_y (mean over the batch).

    Args:
        from_logits: whether ``y_pred`` are logits (default False: probabilities).
        label_smoothing: ε in [0, 1] (not in Keras 3's sparse loss; a brainnet
            extra): the target is the one-hot of y smoothed to y·(1 − ε) + ε/K,
            i.e. L = −(1 − ε)·log p_y − (ε/K)·Σ_j log p_j (default 0).
    """

    kind = "sparse"
    fused_activation = "softmax"

    def __init__(
        self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy", label_smoothing: float = 0.0,
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(sparse_categorical_crossentropy, name, from_logits, reduction)
        self.label_smoothing = _check_smoothing("SparseCategoricalCrossentropy", label_smoothing)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        flat, target = logits.reshape(-1, logits.shape[-1]), y_true.reshape(-1).long()
        if sample_weight is None and self.reduction in ("sum_over_batch_size", "mean"):
            return F.cross_entropy(flat, target, label_smoothing=self.label_smoothing)
        values = F.cross_entropy(flat, target, label_smoothing=self.label_smoothing, reduction="none")
        return reduce_values(values.reshape(logits.shape[:-1]), sample_weight, self.reduction, self.name)

    def get_config(self) -> dict:
        # Keras 3's config has no label_smoothing; brainnet writes it only when used.
        config = super().get_config()
        return {**config, "label_smoothing": self.label_smoothing} if self.label_smoothing else config


class BinaryCrossentropy(Loss):
    """L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)] (mean over the batch).

    Args:
        from_logits: whether ``y_pred`` are logits (default False: probabilities).
        label_smoothing: ε in [0, 1]; the targets become y·(1 − ε) + ε/2 (default 0).
    """

    kind = "binary"
    fused_activation = "sigmoid"

    def __init__(
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str = "binary_crossentropy",
        reduction: str | None = "sum_over_batch_size",
    ) -> None:
        super().__init__(binary_crossentropy, name, from_logits, reduction)
        self.label_smoothing = _check_smoothing("BinaryCrossentropy", label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class KLDivergence(Loss):
    """L = Σ_j y_j · log(y_j / ŷ_j), y and ŷ clipped to [ε, 1] (mean over the batch)."""

    def __init__(self, name: str = "kl_divergence", reduction: str | None = "sum_over_batch_size") -> None:
        super().__init__(kl_divergence, name, reduction=reduction)

    def get_config(self) -> dict:
        return {"name": self.name, **reduction_config(self)}
