"""Metrics, as Keras names them: stateful averages over an epoch.

A metric accumulates with ``update_state(y_true, y_pred)`` and reports with
``result()``; ``reset_state()`` starts over. The running total stays on the device as a
float64 tensor that is updated in place (so updating never waits for the GPU,
and a training step captured as a CUDA graph keeps adding to the same
tensor); the count of values is a Python number, since it depends only on
the shapes. ``result()`` reads the total once.

With ``sample_weight`` (``compile(weighted_metrics=[...])`` and
``fit(..., sample_weight=w)``, as Keras 3) a metric is the weighted mean
Σ_i w_i · v_i / Σ_i w_i, with v_i the mean of sample i's values; the count
is then Σ w, a tensor on the device. Metrics in ``metrics=`` never see the
weights (Keras 3 too).

``metrics=["accuracy"]`` in ``compile`` picks the variant that matches the
loss, as Keras does: sparse labels → ``SparseCategoricalAccuracy``
(argmax(ŷ) = y), one-hot → ``CategoricalAccuracy`` (argmax(ŷ) = argmax(y)),
binary → ``BinaryAccuracy`` (ŷ > 0.5 equals y).

``Precision``, ``Recall`` and ``AUC`` (in ``brainnet._confusion_metrics``) keep
confusion counts per threshold instead of a total: a float64 tensor (4, T, L) in
``total``, updated in place the same way. ``update_state`` takes tensors, NumPy
arrays or lists, as Keras does; ``result()`` returns a Python float.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

import torch

from . import losses as losses_module
from ._loss_base import _as_tensors, _snake_case, _tensor
from ._metric_variable import Variable

Tensor = torch.Tensor


def _weights(sample_weight: Tensor, device: torch.device) -> Tensor:
    """Sample weights as a tensor on ``device`` (a user may pass an array or a list)."""
    return sample_weight if isinstance(sample_weight, Tensor) else _tensor(sample_weight, device)


class Metric:
    """Base class: a weighted mean of per-sample values ``values(y_true, y_pred)``.

    A metric of your own may instead, as in Keras 3, keep its state in
    variables from ``add_variable`` and override ``update_state``,
    ``result`` (a number, tensor or ``Variable``) and, if need be,
    ``reset_state``. ``name`` defaults to the class's name in snake_case;
    ``dtype`` is taken for Keras's signature and unused.

    ``argmax_invariant`` marks metrics that give the same result on logits
    as on softmax probabilities (so training can skip the softmax).
    """

    argmax_invariant = False

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or _snake_case(type(self).__name__)
        self.total: Tensor | float = 0.0
        self.count: Tensor | float = 0.0
        self.variables: list[Variable] = []

    def add_variable(self, shape: tuple[int, ...] = (), initializer: Any = "zeros", dtype: Any = None,
                     aggregation: str = "sum", name: str | None = None) -> Variable:
        """A state variable for a subclass's own ``update_state`` / ``result``
        (Keras 3's way of writing a metric); ``reset_state`` zeroes it.

        Args:
            shape: its shape (default a scalar).
            initializer: ``"zeros"``, ``"ones"``, another initializer name or
                a ``brainnet.initializers`` object.
            dtype: a torch dtype or its name (default float32).
            aggregation: kept for Keras's signature (one process sums nothing).
            name: its name.

        Example:
            >>> class Count(Metric):
            ...     def __init__(self, name="count"):
            ...         super().__init__(name=name)
            ...         self.n = self.add_variable(shape=(), initializer="zeros", name="n")
            ...     def update_state(self, y_true, y_pred, sample_weight=None):
            ...         self.n.assign_add(len(y_true))
            ...     def result(self):
            ...         return self.n
        """
        from . import initializers

        torch_dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype or torch.float32
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(
                f"{type(self).__name__}.add_variable: expected dtype None, a torch dtype or its name, got {dtype!r}. "
                "Fix: dtype='float32' (or 'int64', torch.float64, ...)."
            )
        init = initializers.get(initializer)
        value = init(tuple(shape), dtype=torch_dtype) if init is not None else torch.zeros(tuple(shape))
        variable = Variable(value.to(torch_dtype), name or f"variable_{len(self.variables)}")
        self.variables.append(variable)
        return variable

    def add_weight(self, shape: tuple[int, ...] = (), initializer: Any = "zeros", dtype: Any = None,
                   name: str | None = None) -> Variable:
        """``add_variable`` under its other Keras name."""
        return self.add_variable(shape, initializer, dtype, name=name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        """Add a batch: its values, or (``sample_weight``, one per sample)
        Σ_i w_i · mean(values of sample i) to the total and Σ_i w_i to the count.
        Each argument may be a tensor, a NumPy array or a list (as in Keras)."""
        y_true, y_pred = _as_tensors(y_true, y_pred)
        v = self.values(y_true, y_pred).detach()
        if sample_weight is None:
            self._add(v.sum(dtype=torch.float64), v.numel())
            return
        per_sample = v.reshape(v.shape[0], -1).to(torch.float64).mean(1)  # (N,)
        w = _weights(sample_weight, v.device).detach().to(torch.float64).reshape(-1)
        self._add((per_sample * w).sum(), w.sum())

    def _add(self, total: Tensor, count: float) -> None:
        """``total += total``, in place once the total is a float64 tensor on
        ``total``'s device (the first update makes it one); ``count += count``."""
        own = self._updatable_total()
        if own is not None and own.device == total.device:
            own.add_(total)
        else:  # a number (0 after a reset), or a total set from elsewhere: a new tensor of our own
            self.total = total.to(torch.float64).reshape(()) + self.total
        self.count = self.count + count

    def _updatable_total(self) -> Tensor | None:
        """The total, if it is a float64 scalar tensor that may be changed in
        place here (not one made under ``torch.inference_mode`` while outside it)."""
        own = self.total
        if not isinstance(own, Tensor) or own.dtype != torch.float64 or own.dim() != 0:
            return None
        if own.is_inference() and not torch.is_inference_mode_enabled():
            return None
        return own

    def result(self) -> float:
        if not isinstance(self.count, Tensor) and self.count == 0:  # nothing seen since a reset
            return 0.0
        count = float(self.count)  # a tensor with sample weights: Σ w, which may be 0
        return float(self.total) / count if count else 0.0

    def reset_state(self) -> None:
        """Start over: the total is zeroed in place (it keeps its tensor), the
        count is 0, and so is each variable of ``add_variable``."""
        for variable in self.variables:
            variable.assign(0)
        own = self._updatable_total()
        if own is not None:
            own.zero_()
        else:
            self.total = 0.0
        self.count = 0.0

    def get_config(self) -> dict:
        """Constructor arguments (for saving a compiled model)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def result_number(metric: Metric) -> float:
    """``metric.result()`` as a Python float for the logs (a subclass's
    ``result`` may return a tensor or a ``Variable``)."""
    value = metric.result()
    return value if isinstance(value, float) else float(value)


class Mean(Metric):
    """Weighted mean of the values given: ``update_state(values, weight)``."""

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)

    def update_state(self, values: Tensor, weight: float | Tensor = 1.0) -> None:  # type: ignore[override]
        values = (values if isinstance(values, Tensor) else _tensor(values, None)).detach().to(torch.float64)
        self._add((values * weight).sum(), weight * values.numel())


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples with argmax_j ŷ_j = y (y a class index)."""

    argmax_invariant = True

    def __init__(self, name: str = "sparse_categorical_accuracy") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return y_pred.argmax(-1) == y_true.reshape(y_pred.shape[:-1])


class CategoricalAccuracy(Metric):
    """Fraction of samples with argmax ŷ = argmax y (y one-hot)."""

    argmax_invariant = True

    def __init__(self, name: str = "categorical_accuracy") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return y_pred.argmax(-1) == y_true.argmax(-1)


class BinaryAccuracy(Metric):
    """Fraction of outputs with (ŷ > threshold) equal to y."""

    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(name)
        self.threshold = threshold

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (y_pred > self.threshold) == (y_true.reshape(y_pred.shape) > 0.5)

    def get_config(self) -> dict:
        return {"name": self.name, "threshold": self.threshold}


class Accuracy(Metric):
    """Fraction of exact matches ŷ = y."""

    def __init__(self, name: str = "accuracy") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return y_pred == y_true.reshape(y_pred.shape)


def _targets_like(name: str, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true`` in ``y_pred``'s shape, or an error when it has another number of values
    (class indices against a row of probabilities, say)."""
    if y_true.numel() != y_pred.numel():
        raise ValueError(
            f"metric {name}: expected targets with one value per output, shaped like the predictions "
            f"{tuple(y_pred.shape)}, got {tuple(y_true.shape)}. Fix: for class labels use "
            "metrics=['accuracy']; for an error per class, one-hot targets (brainnet.utils.to_categorical) "
            "with loss='categorical_crossentropy'."
        )
    return y_true.to(y_pred.dtype).reshape(y_pred.shape)


class MeanSquaredError(Metric):
    """mean (y − ŷ)²."""

    def __init__(self, name: str = "mean_squared_error") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (_targets_like(self.name, y_true, y_pred) - y_pred).square()


class MeanAbsoluteError(Metric):
    """mean |y − ŷ|."""

    def __init__(self, name: str = "mean_absolute_error") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return (_targets_like(self.name, y_true, y_pred) - y_pred).abs()


class MeanAbsolutePercentageError(Metric):
    """mean 100 · |y − ŷ| / max(|y|, ε), ε = 1e-7 (Keras's epsilon, so a target
    of 0 gives a huge value rather than a division by zero)."""

    def __init__(self, name: str = "mean_absolute_percentage_error") -> None:
        super().__init__(name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        y = _targets_like(self.name, y_true, y_pred)
        return 100.0 * (y - y_pred).abs() / y.abs().clamp_min(1e-7)


def _in_top_k(target: Tensor, score: Tensor, k: int) -> Tensor:
    """Whether each target class's score is among the k largest of its row: score ≥ the
    k-th largest (ties count as in, as Keras's in_top_k); k ≥ the number of classes: always."""
    kth = score.topk(min(k, score.shape[-1]), dim=-1).values[..., -1:]  # (..., 1)
    return (score.gather(-1, target.long().unsqueeze(-1)) >= kth).squeeze(-1)


class SparseTopKCategoricalAccuracy(Metric):
    """Fraction of samples whose class index y is among the k classes of largest ŷ."""

    argmax_invariant = True  # softmax keeps the order of the scores

    def __init__(self, k: int = 5, name: str = "sparse_top_k_categorical_accuracy") -> None:
        super().__init__(name)
        self.k = _whole(type(self).__name__, "k", k, 1)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        classes = y_pred.shape[-1]
        if y_true.numel() * classes != y_pred.numel():
            raise ValueError(
                f"metric {self.name}: expected class indices, one per sample (shape {tuple(y_pred.shape[:-1])}) "
                f"for predictions {tuple(y_pred.shape)}, got labels of shape {tuple(y_true.shape)}. Fix: for "
                "one-hot labels use metrics=['top_k_categorical_accuracy'] (TopKCategoricalAccuracy)."
            )
        return _in_top_k(y_true.reshape(y_pred.shape[:-1]), y_pred, self.k)

    def get_config(self) -> dict:
        return {"k": self.k, "name": self.name}


class TopKCategoricalAccuracy(Metric):
    """Fraction of samples whose class argmax y (y one-hot) is among the k classes of largest ŷ."""

    argmax_invariant = True

    def __init__(self, k: int = 5, name: str = "top_k_categorical_accuracy") -> None:
        super().__init__(name)
        self.k = _whole(type(self).__name__, "k", k, 1)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        if y_true.numel() != y_pred.numel():
            raise ValueError(
                f"metric {self.name}: expected one-hot labels shaped like the predictions {tuple(y_pred.shape)}, "
                f"got labels of shape {tuple(y_true.shape)}. Fix: for class indices use "
                "metrics=['sparse_top_k_categorical_accuracy'] (SparseTopKCategoricalAccuracy)."
            )
        return _in_top_k(y_true.reshape(y_pred.shape).argmax(-1), y_pred, self.k)

    def get_config(self) -> dict:
        return {"k": self.k, "name": self.name}


def _whole(cls: str, arg: str, value: object, minimum: int, optional: bool = False) -> object:
    """``value`` checked to be an integer ≥ ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{cls}: expected {arg} to be an integer ≥ {minimum}{' or None' if optional else ''}, got {value!r}. "
            f"Fix: {cls}({arg}={max(minimum, 1)})."
        )
    return value


# Precision, Recall and AUC build on Metric (above): their module imports this one.
from ._confusion_metrics import AUC, Precision, Recall  # noqa: E402


class _FunctionMetric(Metric):
    """Wraps ``fn(y_true, y_pred) -> per-sample values``."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], name: str) -> None:
        super().__init__(name)
        self.fn = fn

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        return self.fn(y_true, y_pred)


# A metric named by a string is called by that string in the history, as Keras 3
# names it. Names are case-sensitive, as in Keras, except accuracy/acc (below).
_BY_NAME: dict[str, type[Metric]] = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    # Keras 3 also takes the class names
    **{cls.__name__: cls for cls in (SparseCategoricalAccuracy, CategoricalAccuracy, BinaryAccuracy,
                                     MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
                                     Precision, Recall, AUC, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy)},
}
_ACCURACY_BY_LOSS_KIND = {
    "sparse": SparseCategoricalAccuracy,
    "categorical": CategoricalAccuracy,
    "binary": BinaryAccuracy,
}


def get(
    identifier: str | Metric | Callable,
    loss: losses_module.Loss | None = None,
    output_units: int | None = None,
    label_rank_lower: bool = False,
) -> Metric:
    """Return a ``Metric`` for a name (``"mse"``, or a class name as Keras 3
    takes it: ``"SparseCategoricalAccuracy"``), an instance, or ``fn(y_true, y_pred)``.
    A metric given by name carries that name (the key in ``History``), as in Keras 3.

    ``"accuracy"`` / ``"acc"`` (any case) picks the variant from the loss's kind; for
    other losses, from the shapes: one output unit → binary, labels of lower
    rank than the output → sparse, else categorical.

    Raises:
        ValueError: unknown name.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):  # "Accuracy" too, as Keras 3
        kind = loss.kind if loss is not None else "regression"
        if kind not in _ACCURACY_BY_LOSS_KIND:
            kind = "binary" if output_units == 1 else "sparse" if label_rank_lower else "categorical"
        return _ACCURACY_BY_LOSS_KIND[kind](name=identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier](name=identifier)
    if callable(identifier) and not isinstance(identifier, str):
        return _FunctionMetric(identifier, getattr(identifier, "__name__", "metric"))
    known = ["accuracy", *_BY_NAME]
    close = difflib.get_close_matches(str(identifier), known, n=1)
    hint = f"metrics=[{close[0]!r}]" if close else "metrics=['accuracy']"
    raise ValueError(
        f"Unknown metric {identifier!r}. Expected one of: {', '.join(known)} (case-sensitive, as in Keras), a "
        f"brainnet.metrics.Metric, or a function fn(y_true, y_pred). Fix: {hint}."
    )
