"""Loss functions, as Keras names them.

Two forms, as in Keras:

* functions ``loss(y_true, y_pred)`` return one value per sample (the last
  axis reduced), e.g. ``sparse_categorical_crossentropy``;
* classes ``Loss(...)(y_true, y_pred)`` return the batch mean, e.g.
  ``SparseCategoricalCrossentropy(from_logits=True)``.

``compile(loss=...)`` takes either form or the name as a string.

Equations (per sample; ``p`` = predicted probabilities clipped to
[ε, 1 − ε] with ε = 1e-7 as Keras does, ``z`` = logits when ``from_logits``):

* categorical_crossentropy:  L = −Σ_j y_j · log p_j
* sparse_categorical_crossentropy:  L = −log p_y  (y a class index)
* binary_crossentropy:  L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)]
* mean_squared_error:  L = mean_j (y_j − ŷ_j)²

When a model's last layer applies softmax (or sigmoid) and the loss gets
probabilities, ``fit`` computes the loss from the logits instead
(log-softmax cross-entropy): the same math without the clipping, more stable
and faster. ``evaluate`` reports the same fused value.
"""

from __future__ import annotations

import difflib
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
EPSILON = 1e-7


def categorical_crossentropy(y_true: Tensor, y_pred: Tensor, from_logits: bool = False) -> Tensor:
    """L = −Σ_j y_j · log p_j over the last axis (y one-hot or soft labels)."""
    if from_logits:
        return -(y_true * torch.log_softmax(y_pred, dim=-1)).sum(-1)
    p = y_pred / y_pred.sum(-1, keepdim=True)
    return -(y_true * torch.log(p.clamp(EPSILON, 1.0 - EPSILON))).sum(-1)


def sparse_categorical_crossentropy(
    y_true: Tensor, y_pred: Tensor, from_logits: bool = False
) -> Tensor:
    """L = −log p_y, with y the integer class index of each sample."""
    index = y_true.long().reshape(y_pred.shape[:-1]).unsqueeze(-1)
    if from_logits:
        logp = torch.log_softmax(y_pred, dim=-1)
    else:
        p = y_pred / y_pred.sum(-1, keepdim=True)
        logp = torch.log(p.clamp(EPSILON, 1.0 - EPSILON))
    return -logp.gather(-1, index).squeeze(-1)


def binary_crossentropy(y_true: Tensor, y_pred: Tensor, from_logits: bool = False) -> Tensor:
    """L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)] over the last axis."""
    y_true = y_true.to(y_pred.dtype).reshape(y_pred.shape)
    if from_logits:
        return F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none").mean(-1)
    p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return -(y_true * torch.log(p) + (1 - y_true) * torch.log(1 - p)).mean(-1)


def mean_squared_error(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = mean_j (y_j − ŷ_j)² over the last axis."""
    return (y_true.to(y_pred.dtype).reshape(y_pred.shape) - y_pred).square().mean(-1)


class Loss:
    """A loss with its options; calling it gives the batch mean.

    ``kind`` tells the trainer how to read labels: ``"sparse"`` (class
    indices), ``"categorical"`` (one-hot), ``"binary"`` (0/1 per output) or
    ``"regression"``. ``fused_activation`` names the output activation whose
    logits this loss can take directly (softmax or sigmoid), if any.
    """

    kind = "regression"
    fused_activation: str | None = None

    def __init__(self, fn: Callable[..., Tensor], name: str, from_logits: bool = False) -> None:
        self.fn = fn
        self.name = name
        self.from_logits = bool(from_logits)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses."""
        if self.kind == "regression":
            return self.fn(y_true, y_pred)
        return self.fn(y_true, y_pred, from_logits=self.from_logits)

    def __call__(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return self.call(y_true, y_pred).mean()

    def can_fuse(self, activation: str | None) -> bool:
        """True when the model's output activation can be folded into this loss."""
        return not self.from_logits and activation is not None and activation == self.fused_activation

    def from_logits_mean(self, y_true: Tensor, logits: Tensor) -> Tensor:
        """Batch mean of the loss computed on logits (the fused path)."""
        return self.fn(y_true, logits, from_logits=True).mean()

    def get_config(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class CategoricalCrossentropy(Loss):
    """Cross-entropy with one-hot labels: L = −Σ_j y_j log p_j (mean over the batch)."""

    kind = "categorical"
    fused_activation = "softmax"

    def __init__(self, from_logits: bool = False, name: str = "categorical_crossentropy") -> None:
        super().__init__(categorical_crossentropy, name, from_logits)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor) -> Tensor:
        target = y_true.to(logits.dtype).reshape(-1, logits.shape[-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with class-index labels: L = −log p_y (mean over the batch)."""

    kind = "sparse"
    fused_activation = "softmax"

    def __init__(self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy") -> None:
        super().__init__(sparse_categorical_crossentropy, name, from_logits)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor) -> Tensor:
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y_true.reshape(-1).long())


class BinaryCrossentropy(Loss):
    """L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)] (mean over the batch)."""

    kind = "binary"
    fused_activation = "sigmoid"

    def __init__(self, from_logits: bool = False, name: str = "binary_crossentropy") -> None:
        super().__init__(binary_crossentropy, name, from_logits)


class MeanSquaredError(Loss):
    """L = mean_j (y_j − ŷ_j)² (mean over the batch)."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)

    def get_config(self) -> dict:
        return {"name": self.name}


_CLASSES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}
_FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
}


def get(identifier: str | Loss | Callable) -> Loss:
    """Return a ``Loss`` for a Keras name, a ``Loss`` instance, one of this
    module's functions, or any ``fn(y_true, y_pred)`` (averaged over the batch).

    Raises:
        ValueError: unknown name.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    if callable(identifier) and not isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]()
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    close = difflib.get_close_matches(str(identifier), list(_CLASSES), n=1)
    hint = f"loss={close[0]!r}" if close else "loss='sparse_categorical_crossentropy' for integer class labels"
    raise ValueError(
        f"Unknown loss {identifier!r}. Expected one of: {', '.join(_CLASSES)}, a "
        f"brainnet.losses.Loss, or a function fn(y_true, y_pred). Fix: {hint}."
    )
