"""Loss functions, as Keras names them.

Two forms, as in Keras:

* functions ``loss(y_true, y_pred)`` return one value per sample (the last
  axis reduced), e.g. ``sparse_categorical_crossentropy``;
* classes ``Loss(...)(y_true, y_pred)`` return the batch mean, e.g.
  ``SparseCategoricalCrossentropy(from_logits=True)``.

``compile(loss=...)`` takes either form or the name as a string: the
function's name (``"sparse_categorical_crossentropy"``, ``"mse"``) or, as in
Keras 3, the class's (``"SparseCategoricalCrossentropy"``), in any case.

Equations (per sample; ``p`` = predicted probabilities clipped to
[ε, 1 − ε] with ε = 1e-7 as Keras does, ``z`` = logits when ``from_logits``):

* categorical_crossentropy:  L = −Σ_j y_j · log p_j
* sparse_categorical_crossentropy:  L = −log p_y  (y a class index)
* binary_crossentropy:  L = −mean_j [y_j log p_j + (1 − y_j) log(1 − p_j)]
* mean_squared_error:  L = mean_j (y_j − ŷ_j)²
* mean_absolute_error:  L = mean_j |y_j − ŷ_j|
* huber (δ = ``delta``, e = ŷ − y):  L = mean_j [½ e_j² if |e_j| ≤ δ else δ·|e_j| − ½ δ²]
* kl_divergence (y, ŷ clipped to [ε, 1]):  L = Σ_j y_j · log(y_j / ŷ_j)
* log_cosh (e = ŷ − y):  L = mean_j log(cosh(e_j))
* hinge (labels 0/1 become −1/+1):  L = mean_j max(1 − y_j · ŷ_j, 0)
* squared_hinge (labels 0/1 become −1/+1):  L = mean_j max(1 − y_j · ŷ_j, 0)²

Label smoothing (``label_smoothing=ε`` on the cross-entropies, Keras's
formula): the targets become ``y ← y·(1 − ε) + ε/K`` with K the number of
classes (K = 2 for binary cross-entropy: ``y·(1 − ε) + ε/2``), on the
probability path and the fused logits path alike. Keras 3 has it for
categorical and binary cross-entropy; brainnet also gives it to the sparse
one, with the same meaning (the one-hot of the index, smoothed).

Sample weights (``fit(..., sample_weight=w)``, ``class_weight=``): a loss
called with ``sample_weight`` multiplies each sample's loss by its weight and
divides the sum by the number of loss values, not by the sum of the weights:
Keras's default reduction ``"sum_over_batch_size"``,
``L = Σ_i w_i · L_i / N`` for a batch of N samples (``weighted_mean``).

When a model's last layer applies softmax (or sigmoid) and the loss gets
probabilities, ``fit`` computes the loss from the logits instead
(log-softmax cross-entropy): the same math without the clipping, more stable
and faster. ``evaluate`` reports the same fused value.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

Tensor = torch.Tensor
EPSILON = 1e-7


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


def kl_divergence(y_true: Tensor, y_pred: Tensor) -> Tensor:
    """L = Σ_j y_j · log(y_j / ŷ_j), both clipped to [ε, 1] (ε = 1e-7, as Keras):
    how far the predicted distribution ŷ is from the target distribution y."""
    y_true, y_pred = _as_tensors(y_true, y_pred)
    y = y_true.to(y_pred.dtype).reshape(y_pred.shape).clamp(EPSILON, 1.0)
    p = y_pred.clamp(EPSILON, 1.0)
    return (y * torch.log(y / p)).sum(-1)


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

    def __init__(self, fn: Callable[..., Tensor], name: str, from_logits: bool = False) -> None:
        self.fn = fn
        self.name = name
        self.from_logits = bool(from_logits)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """Per-sample losses."""
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
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str = "categorical_crossentropy"
    ) -> None:
        super().__init__(categorical_crossentropy, name, from_logits)
        self.label_smoothing = _check_smoothing("CategoricalCrossentropy", label_smoothing)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        target = y_true.to(logits.dtype).reshape(-1, logits.shape[-1])
        flat = logits.reshape(-1, logits.shape[-1])
        if sample_weight is None:
            return F.cross_entropy(flat, target, label_smoothing=self.label_smoothing)
        values = F.cross_entropy(flat, target, label_smoothing=self.label_smoothing, reduction="none")
        return weighted_mean(values.reshape(logits.shape[:-1]), sample_weight, self.name)

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
        self, from_logits: bool = False, name: str = "sparse_categorical_crossentropy", label_smoothing: float = 0.0
    ) -> None:
        super().__init__(sparse_categorical_crossentropy, name, from_logits)
        self.label_smoothing = _check_smoothing("SparseCategoricalCrossentropy", label_smoothing)

    def from_logits_mean(self, y_true: Tensor, logits: Tensor, sample_weight: Tensor | None = None) -> Tensor:
        flat, target = logits.reshape(-1, logits.shape[-1]), y_true.reshape(-1).long()
        if sample_weight is None:
            return F.cross_entropy(flat, target, label_smoothing=self.label_smoothing)
        values = F.cross_entropy(flat, target, label_smoothing=self.label_smoothing, reduction="none")
        return weighted_mean(values.reshape(logits.shape[:-1]), sample_weight, self.name)

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
        self, from_logits: bool = False, label_smoothing: float = 0.0, name: str = "binary_crossentropy"
    ) -> None:
        super().__init__(binary_crossentropy, name, from_logits)
        self.label_smoothing = _check_smoothing("BinaryCrossentropy", label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class MeanSquaredError(Loss):
    """L = mean_j (y_j − ŷ_j)² (mean over the batch)."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(mean_squared_error, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class MeanAbsoluteError(Loss):
    """L = mean_j |y_j − ŷ_j| (mean over the batch)."""

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(mean_absolute_error, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class Huber(Loss):
    """L = mean_j h(ŷ_j − y_j), h(e) = ½ e² where |e| ≤ δ, δ·|e| − ½ δ² beyond (mean over the batch).

    Args:
        delta: δ > 0, where the loss turns from quadratic to linear (default 1.0).

    Raises:
        ValueError: delta is not a positive number.
    """

    def __init__(self, delta: float = 1.0, name: str = "huber_loss") -> None:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not delta > 0:
            raise ValueError(f"Huber: expected delta > 0 (a number), got {delta!r}. Fix: Huber(delta=1.0).")
        super().__init__(huber, name)
        self.delta = float(delta)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return huber(y_true, y_pred, self.delta)

    def get_config(self) -> dict:
        return {"delta": self.delta, "name": self.name}

    def __repr__(self) -> str:
        return f"Huber(delta={self.delta})"


class KLDivergence(Loss):
    """L = Σ_j y_j · log(y_j / ŷ_j), y and ŷ clipped to [ε, 1] (mean over the batch)."""

    def __init__(self, name: str = "kl_divergence") -> None:
        super().__init__(kl_divergence, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class LogCosh(Loss):
    """L = mean_j log(cosh(ŷ_j − y_j)) (mean over the batch)."""

    def __init__(self, name: str = "log_cosh") -> None:
        super().__init__(log_cosh, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class Hinge(Loss):
    """L = mean_j max(1 − y_j · ŷ_j, 0), y ∈ {−1, +1} (0/1 labels mapped; mean over the batch)."""

    def __init__(self, name: str = "hinge") -> None:
        super().__init__(hinge, name)

    def get_config(self) -> dict:
        return {"name": self.name}


class SquaredHinge(Loss):
    """L = mean_j max(1 − y_j · ŷ_j, 0)², y ∈ {−1, +1} (0/1 labels mapped; mean over the batch)."""

    def __init__(self, name: str = "squared_hinge") -> None:
        super().__init__(squared_hinge, name)

    def get_config(self) -> dict:
        return {"name": self.name}


_CLASSES: dict[str, type[Loss]] = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "log_cosh": LogCosh,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
}
_FUNCTIONS = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    kl_divergence: KLDivergence,
    log_cosh: LogCosh,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
}


# Keras 3 also takes a loss's class name as a string (loss="SparseCategoricalCrossentropy").
_CLASS_NAMES = {cls.__name__: cls for cls in _FUNCTIONS.values()}


def get(identifier: str | Loss | Callable) -> Loss:
    """Return a ``Loss`` for a Keras name (``"mse"``, or a class name as Keras 3
    takes it: ``"SparseCategoricalCrossentropy"``; any case), a ``Loss``
    instance, one of this module's functions, or any ``fn(y_true, y_pred)``
    (averaged over the batch).

    Raises:
        ValueError: unknown name.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    by_lower = {name.lower(): cls for name, cls in (*_CLASSES.items(), *_CLASS_NAMES.items())}
    if isinstance(identifier, str) and identifier.lower() in by_lower:
        return by_lower[identifier.lower()]()
    if callable(identifier) and not isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]()
        return Loss(identifier, getattr(identifier, "__name__", "loss"))
    spelled = {name.lower(): name for name in (*_CLASSES, *_CLASS_NAMES)}
    close = difflib.get_close_matches(str(identifier).lower(), list(spelled), n=1)
    hint = f"loss={spelled[close[0]]!r}" if close else "loss='sparse_categorical_crossentropy' for integer class labels"
    raise ValueError(
        f"Unknown loss {identifier!r}. Expected one of: {', '.join(_CLASSES)}, or a class name "
        f"({', '.join(_CLASS_NAMES)}), in any case; a brainnet.losses.Loss, or a function fn(y_true, y_pred). "
        f"Fix: {hint}."
    )
