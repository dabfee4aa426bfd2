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

Where the code lives: ``_metric_base.py`` (``Metric``: the running total,
sample weights, ``add_variable``, ``result_number``), ``_metric_variable.py``
(``Variable``), ``_confusion_metrics.py`` and ``_confusion_counts.py``
(Precision, Recall, AUC), ``_confusion_totals.py`` (TruePositives,
FalsePositives, TrueNegatives, FalseNegatives), this file (the mean, accuracy and error metrics,
and ``get``); every one of them is importable from ``brainnet.metrics``.
"""

from __future__ import annotations

import difflib
from typing import Callable, Sequence

import torch

from . import losses as losses_module
from ._confusion_metrics import AUC, Precision, Recall
from ._confusion_totals import FalseNegatives, FalsePositives, TrueNegatives, TruePositives
from ._loss_base import _tensor
from ._metric_base import Metric, _whole, result_number
from ._metric_variable import Variable

Tensor = torch.Tensor

# Metric, Precision, Recall, AUC and the four counts live in their own modules (see above) and are re-exported here.
__all__ = [
    "Metric", "Variable", "result_number", "get", "Mean", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "MeanSquaredError",
    "MeanAbsoluteError", "MeanAbsolutePercentageError", "Precision", "Recall", "AUC",
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
]


class Mean(Metric):
    """Weighted mean of the values given: ``update_state(values, sample_weight)``,
    result ``Σ w·v / Σ w`` over every update, the weights broadcast to the values
    (a number, or one weight per value as Keras 3 takes them; 1 when left out).

    Raises:
        ValueError: weights that do not broadcast to the values' shape.
    """

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)

    def update_state(self, values: Tensor, sample_weight: float | Tensor | None = None,  # type: ignore[override]
                     ) -> None:
        if sample_weight is None:
            sample_weight = 1.0
        if isinstance(values, Tensor) and values.dim() == 0 and type(sample_weight) in (int, float):
            own = self._updatable_total()  # fit's loss, once a batch: total += w·v in one operation
            if own is not None and own.device == values.device:
                own.add_(values.detach(), alpha=sample_weight)
                self.count = self.count + sample_weight
                return
        values = (values if isinstance(values, Tensor) else _tensor(values, None)).detach().to(torch.float64)
        if not isinstance(sample_weight, (int, float)):
            w = (sample_weight if isinstance(sample_weight, Tensor) else _tensor(sample_weight, values.device))
            w = w.detach().to(device=values.device, dtype=torch.float64)
            try:
                w = torch.broadcast_to(w, values.shape)
            except RuntimeError:
                raise ValueError(
                    f"Mean '{self.name}': expected sample_weight of the values' shape {tuple(values.shape)} (or one "
                    f"that broadcasts to it), got shape {tuple(w.shape)}. Fix: one weight per value, or a number."
                ) from None
            self._add((values * w).sum(), w.sum())
            return
        self._add((values * sample_weight).sum(), sample_weight * values.numel())


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
        y = y_true if y_true.dim() == 0 else y_true.reshape(y_pred.shape)  # one label for all, as Keras 3 broadcasts
        return (y_pred > self.threshold) == (y > 0.5)

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
                                     Precision, Recall, AUC, TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy,
                                     TruePositives, FalsePositives, TrueNegatives, FalseNegatives)},
}
_ACCURACY_BY_LOSS_KIND = {
    "sparse": SparseCategoricalAccuracy,
    "categorical": CategoricalAccuracy,
    "binary": BinaryAccuracy,
}


def sparse_labels(label_shape: Sequence[int], output_shape: Sequence[int]) -> bool:
    """Whether labels of ``label_shape`` are class indices for outputs of ``output_shape``
    (Keras 3's rule for ``"accuracy"``): of lower rank, or one per sample, ``(N, 1)``,
    beside several output units."""
    return len(label_shape) < len(output_shape) or (
        len(label_shape) > 0 and label_shape[-1] == 1 and (output_shape[-1] or 0) > 1)


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
    rank than the output or of one column beside several units (``sparse_labels``)
    → sparse, else categorical.

    Raises:
        ValueError: unknown name.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):  # "Accuracy" too, as Keras 3
        kind = loss.kind if loss is not None else "regression"
        if kind == "label_sequence":
            raise ValueError(
                f"metrics=[{identifier!r}] with the {loss.name} loss: expected a metric that compares predictions "
                "with labels step by step, got accuracy for label sequences that CTC aligns with the steps itself. "
                "Fix: leave the metric out, and measure after predict: keras.utils.ctc_decode(model.predict(x), "
                "lengths) gives the label sequences to compare with y."
            )
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
