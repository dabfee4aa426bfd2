"""Precision, Recall and AUC (re-exported by ``brainnet.metrics``): metrics
that keep confusion counts at thresholds and read rates and areas from them.
The counts and the arithmetic on them (TP(t) = Σ w·[y ≠ 0]·[ŷ > t], ...)
are in ``brainnet._confusion_counts``.
"""

from __future__ import annotations

import torch

from ._confusion_counts import (EPSILON, FN, FP, NEG_INF, TN, TP, area, auc_thresholds, counts,
                                evenly_spaced, interpolated_pr_area, keep_top_k, precision, ratio, recall)
from ._loss_base import _as_tensors
from ._metric_base import Metric, _weights, _whole

Tensor = torch.Tensor

# The counts' helpers are re-exported: this module was their home before.
__all__ = ["Precision", "Recall", "AUC", "EPSILON", "NEG_INF", "TP", "FP", "TN", "FN", "auc_thresholds",
           "evenly_spaced", "counts", "keep_top_k", "ratio", "precision", "recall", "area",
           "interpolated_pr_area"]


def _threshold(cls: str, value: object, default: float) -> float:
    """One threshold in [0, 1] (``default`` for None)."""
    if value is None:
        return default
    if isinstance(value, (list, tuple)):
        raise ValueError(
            f"{cls}: expected thresholds to be one number (brainnet logs one value per metric), got {value!r}. "
            f"Fix: one metric per threshold, e.g. metrics=[{cls}(thresholds=t, name=f'{cls.lower()}_{{t}}') "
            f"for t in {list(value)!r}]."
        )
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"{cls}: expected thresholds to be a number in [0, 1], got {value!r}. Fix: {cls}(thresholds=0.5) "
            "for probabilities (sigmoid outputs); for logits, thresholds=0.0 and a from_logits=True loss."
        )
    return float(value)


def _labels_like(name: str, y_true: Tensor, y_pred: Tensor) -> Tensor:
    """``y_true`` in ``y_pred``'s shape (one 0/1 label per prediction), or an error."""
    if y_true.numel() != y_pred.numel():
        raise ValueError(
            f"metric {name}: expected labels shaped like the predictions {tuple(y_pred.shape)} (one 0/1 label "
            f"per output), got {tuple(y_true.shape)}. Fix: one-hot class indices first (y = "
            "brainnet.utils.to_categorical(y), with loss='categorical_crossentropy'); for one class c, "
            "Precision(class_id=c) or Recall(class_id=c)."
        )
    return y_true.reshape(y_pred.shape)


class _ConfusionMetric(Metric):
    """Base of Precision, Recall and AUC: ``total`` holds the weighted counts TP, FP,
    TN, FN at each threshold (a float64 tensor (4, T, L), see ``brainnet._confusion_counts``),
    summed over the batches in place; ``count`` the number of predictions counted.

    ``top_k`` keeps each row's k largest predictions (the others count as negative);
    ``class_id`` counts only that column of labels and predictions (after ``top_k``).
    """

    per_label = False  # AUC(multi_label=True): one curve per label (L = the predictions' last axis)

    def __init__(self, name: str, thresholds: list[float], top_k: int | None = None,
                 class_id: int | None = None, labels: int | None = 1) -> None:
        super().__init__(name)
        self.top_k, self.class_id = top_k, class_id
        self._thresholds = [float(t) for t in thresholds]
        self._on_device: dict[tuple[str, torch.device], Tensor] = {}
        self.labels = labels  # L, None until the first batch shows it
        self.total = self._zeros(torch.device("cpu")) if labels else 0.0

    def _zeros(self, device: torch.device) -> Tensor:
        return torch.zeros((4, len(self._thresholds), self.labels), dtype=torch.float64, device=device)

    def _constant(self, key: str, values: list[float], device: torch.device) -> Tensor:
        """``values`` as a float64 tensor on ``device``, made once (a captured step copies nothing in)."""
        if (key, device) not in self._on_device:
            self._on_device[key, device] = torch.tensor(values, dtype=torch.float64, device=device)
        return self._on_device[key, device]

    def _scores(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
        """Labels and predictions to count, of one shape (top_k and class_id applied)."""
        if self.top_k is None and self.class_id is None:
            return y_true, y_pred
        classes = y_pred.shape[-1] if y_pred.dim() else 0  # top_k ranks along the last axis
        if ((self.class_id is not None and (y_pred.dim() < 2 or self.class_id >= classes))
                or (self.top_k is not None and self.top_k > classes)):
            raise ValueError(
                f"metric {self.name}: expected predictions with a class axis (N, C) for class_id, C > class_id "
                f"and C ≥ top_k, got predictions of shape {tuple(y_pred.shape)} with top_k={self.top_k}, "
                f"class_id={self.class_id}. Fix: top_k and class_id count the classes of the model's last "
                "layer (its units); use them only with one output per class."
            )
        if self.top_k is not None:
            y_pred = keep_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        return y_true, y_pred

    def _weights_like(self, sample_weight: Tensor, score: Tensor, batch: int) -> Tensor:
        """One weight per prediction: per sample (N,) spread over its predictions, or as many as them."""
        w = _weights(sample_weight, score.device).detach().to(torch.float64)
        if w.numel() == score.numel():
            return w.reshape(score.shape)
        if w.numel() == batch and score.dim() >= 1 and score.shape[0] == batch:
            return w.reshape((batch,) + (1,) * (score.dim() - 1)).expand(score.shape)
        raise ValueError(
            f"metric {self.name}: expected sample_weight with one weight per sample ({batch},) or one per "
            f"prediction {tuple(score.shape)}, got shape {tuple(w.shape)}. Fix: one weight per sample, e.g. "
            "sample_weight=np.ones(len(y))."
        )

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        """Add a batch's weighted confusion counts. Each argument may be a tensor,
        a NumPy array or a list (as in Keras)."""
        y_true, y_pred = _as_tensors(y_true, y_pred)
        y_pred = y_pred.detach()
        batch = y_pred.shape[0] if y_pred.dim() else 1
        y_true, score = self._scores(_labels_like(self.name, y_true.detach(), y_pred), y_pred)
        weight = None if sample_weight is None else self._weights_like(sample_weight, score, batch)
        labels = self.labels if self.per_label else 1
        weight = self._label_weighted(weight, score)
        flat = (-1, labels)  # (M, L)
        c = counts((y_true != 0).reshape(flat), score.reshape(flat),
                              None if weight is None else weight.reshape(flat),
                              self._constant("thresholds", self._thresholds, score.device))
        self._add(c, score.numel())

    def _label_weighted(self, weight: Tensor | None, score: Tensor) -> Tensor | None:
        return weight

    def _add(self, total: Tensor, count: float) -> None:
        """``total`` (the batch's counts, or a 0 that puts the counts on its device) added in place."""
        own = self._updatable_total()
        if own is None or own.device != total.device:
            fresh = self._zeros(total.device)
            if isinstance(self.total, Tensor) and self.total.shape == fresh.shape:
                fresh += self.total.to(total.device)  # counts restored or moved from elsewhere
            self.total = own = fresh
        own.add_(total)
        self.count = self.count + count

    def _updatable_total(self) -> Tensor | None:
        own = self.total
        if (not isinstance(own, Tensor) or self.labels is None or own.dtype != torch.float64
                or own.shape != (4, len(self._thresholds), self.labels)):
            return None
        if own.is_inference() and not torch.is_inference_mode_enabled():
            return None
        return own

    def reset_state(self) -> None:
        own = self._updatable_total()
        if own is not None:
            own.zero_()
        elif self.labels is not None:
            self.total = self._zeros(self.total.device if isinstance(self.total, Tensor) else torch.device("cpu"))
        self.count = 0.0

    def result(self) -> float:
        c = self.total
        if self.labels is None or not isinstance(c, Tensor) or c.shape != (4, len(self._thresholds), self.labels):
            return 0.0  # nothing counted
        return float(self._value(c))

    def _value(self, counts: Tensor) -> Tensor:
        raise NotImplementedError


class _AtThreshold(_ConfusionMetric):
    """Precision and Recall: counts at one threshold, and the ratio ``_ratio`` of them."""

    default_name = ""

    def __init__(self, thresholds: float | None = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None) -> None:
        cls = type(self).__name__
        top_k = _whole(cls, "top_k", top_k, 1, optional=True)
        super().__init__(name or self.default_name, [_threshold(cls, thresholds, 0.5 if top_k is None else NEG_INF)],
                         top_k, _whole(cls, "class_id", class_id, 0, optional=True))
        self.thresholds = thresholds

    def get_config(self) -> dict:
        return {"thresholds": self.thresholds, "top_k": self.top_k, "class_id": self.class_id, "name": self.name}


class Precision(_AtThreshold):
    """precision = TP / (TP + FP): of the predictions called positive (ŷ > threshold),
    the fraction whose label is positive (y ≠ 0); 0 while none is called positive.

    All outputs count (several sigmoid outputs: each is a yes/no question).

    Args:
        thresholds: one number in [0, 1] (default 0.5; with ``top_k``, every top-k prediction).
        top_k: count only each row's k largest predictions as candidates for positive.
        class_id: count only this output (column) of labels and predictions.
        name: the key in ``History`` (default ``"precision"``).

    Example:
        >>> m = Precision()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    default_name = "precision"

    def _value(self, counts: Tensor) -> Tensor:
        return precision(counts)[0, 0]


class Recall(_AtThreshold):
    """recall = TP / (TP + FN): of the positive labels (y ≠ 0), the fraction predicted
    positive (ŷ > threshold); 0 while there is no positive label.

    Args:
        thresholds: one number in [0, 1] (default 0.5; with ``top_k``, every top-k prediction).
        top_k: count only each row's k largest predictions as candidates for positive.
        class_id: count only this output (column) of labels and predictions.
        name: the key in ``History`` (default ``"recall"``).

    Example:
        >>> m = Recall()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> round(m.result(), 4)
        0.6667
    """

    default_name = "recall"

    def _value(self, counts: Tensor) -> Tensor:
        return recall(counts)[0, 0]


_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR"}  # the spellings Keras takes
_SUMMATIONS = {s: s for s in ("interpolation", "minoring", "majoring")}
_SUMMATIONS.update({s.capitalize(): s for s in _SUMMATIONS})


class AUC(_ConfusionMetric):
    """Area under the ROC curve (true positive rate against false positive rate) or the
    precision–recall curve, as Keras computes it: a Riemann sum over T thresholds.

    The thresholds are −ε, 1/(T − 1), …, (T − 2)/(T − 1), 1 + ε (ε = 1e-7); TP, FP, TN,
    FN at each are summed over the batches (``update_state``), and ``result()`` is

        AUC = Σ_i (x_i − x_{i+1}) · h_i

    with x = FPR, y = TPR for ROC (x = recall, y = precision for PR) and h_i =
    (y_i + y_{i+1})/2 ("interpolation"), min(y_i, y_{i+1}) ("minoring") or max
    ("majoring"); PR with "interpolation" interpolates TP and FP between thresholds
    instead (Davis & Goadrich 2006). Predictions are clipped to [0, 1] when the
    thresholds are evenly spaced (Keras does too). Several outputs (a one-hot label
    per class against softmax probabilities, say) are flattened into one curve, as
    Keras does, unless ``multi_label=True``: then one curve per output, averaged.

    Args:
        num_thresholds: T > 1 (default 200).
        curve: ``"ROC"`` (default) or ``"PR"``.
        summation_method: ``"interpolation"`` (default), ``"minoring"`` or ``"majoring"``.
        name: the key in ``History`` (default ``"auc"``).
        thresholds: a list of numbers in [0, 1] to use instead of the even ones (−ε and 1 + ε added).
        multi_label: one AUC per output, then their mean (default False: flattened).
        num_labels: the number of outputs with ``multi_label`` (default: the first batch's).
        label_weights: one weight ≥ 0 per output: with ``multi_label``, the weights of the
            outputs' AUCs in the mean; without, of their predictions in the counts.
        from_logits: apply the sigmoid to the predictions first (default False).

    Example:
        >>> m = AUC(num_thresholds=3)
        >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
        >>> m.result()
        0.75
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: str = "auc", thresholds: list[float] | None = None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights: list[float] | None = None,
                 from_logits: bool = False) -> None:
        if thresholds is not None and not (
                isinstance(thresholds, (list, tuple)) and thresholds
                and all(not isinstance(t, bool) and isinstance(t, (int, float)) and 0 <= t <= 1 for t in thresholds)):
            raise ValueError(
                f"AUC: expected thresholds to be a list of numbers in [0, 1], got {thresholds!r}. Fix: "
                "AUC(thresholds=[0.25, 0.5, 0.75]), or AUC(num_thresholds=200) for evenly spaced ones."
            )
        if thresholds is None:
            num_thresholds = _whole("AUC", "num_thresholds", num_thresholds, 2)
        if curve not in _CURVES or summation_method not in _SUMMATIONS:
            raise ValueError(
                f"AUC: expected curve 'ROC' or 'PR' and summation_method 'interpolation', 'minoring' or "
                f"'majoring', got curve={curve!r}, summation_method={summation_method!r}. Fix: AUC(curve='PR') "
                "for the precision-recall curve, AUC() for the ROC curve."
            )
        if num_labels is not None and not multi_label:
            raise ValueError(
                f"AUC: expected num_labels only with multi_label=True, got num_labels={num_labels!r} and "
                "multi_label=False. Fix: AUC(multi_label=True, num_labels=...) for one curve per output, or "
                "drop num_labels."
            )
        if label_weights is not None and not (
                isinstance(label_weights, (list, tuple)) and label_weights
                and all(not isinstance(w, bool) and isinstance(w, (int, float)) and w >= 0 for w in label_weights)):
            raise ValueError(
                f"AUC: expected label_weights to be a list of numbers ≥ 0, one per output, got {label_weights!r}. "
                "Fix: AUC(multi_label=True, label_weights=[1.0, 2.0]) for two outputs."
            )
        inner = [float(t) for t in thresholds] if thresholds is not None else None
        every = auc_thresholds(num_thresholds, inner)
        labels = _whole("AUC", "num_labels", num_labels, 1, optional=True) if multi_label else 1
        super().__init__(name, every, labels=labels)
        self.num_thresholds = len(every)
        self.curve, self.summation_method = _CURVES[curve], _SUMMATIONS[summation_method]
        self.thresholds, self.multi_label, self.num_labels = inner, bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in label_weights]
        self.from_logits = bool(from_logits)
        self.per_label = self.multi_label
        self._clip = evenly_spaced([0.0, *every[1:-1], 1.0])

    def _scores(self, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
        outputs = y_pred.shape[-1] if y_pred.dim() else 1
        wanted = self.labels if self.multi_label else None
        if self.multi_label and (y_pred.dim() != 2 or (wanted is not None and outputs != wanted)):
            raise ValueError(
                f"metric {self.name}: expected predictions of shape (N, L) with multi_label=True, L the same at "
                f"every batch{f' ({wanted})' if wanted else ''}, got {tuple(y_pred.shape)}. Fix: "
                "AUC(multi_label=True) on a model with one sigmoid output per label, or AUC() to flatten."
            )
        weights = self.label_weights
        if weights is not None and len(weights) != outputs:
            raise ValueError(
                f"metric {self.name}: expected one label weight per output ({outputs}), got {len(weights)} "
                f"label_weights. Fix: AUC(label_weights=[...]) with {outputs} numbers, or no label_weights."
            )
        if self.multi_label and self.labels is None:  # L from the first batch
            self.labels = outputs
            self.total = self._zeros(y_pred.device)
        if self.from_logits:
            y_pred = torch.sigmoid(y_pred)
        return y_true, y_pred.clamp(0.0, 1.0) if self._clip else y_pred

    def _label_weighted(self, weight: Tensor | None, score: Tensor) -> Tensor | None:
        """Without ``multi_label``, each output's predictions weigh its label weight."""
        if self.label_weights is None or self.multi_label:
            return weight
        per_output = self._constant("label_weights", self.label_weights, score.device).expand(score.shape)
        return per_output if weight is None else weight * per_output

    def _value(self, counts: Tensor) -> Tensor:
        by_label = area(counts, self.curve, self.summation_method)  # (L,)
        if not self.multi_label or self.label_weights is None:
            return by_label.mean()
        w = torch.tensor(self.label_weights, dtype=torch.float64, device=by_label.device)
        return ratio((by_label * w).sum(), w.sum())

    def get_config(self) -> dict:
        return {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "name": self.name, "thresholds": self.thresholds,
                "multi_label": self.multi_label, "num_labels": self.num_labels,
                "label_weights": self.label_weights, "from_logits": self.from_logits}
