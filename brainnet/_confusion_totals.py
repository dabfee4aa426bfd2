"""TruePositives, FalsePositives, TrueNegatives and FalseNegatives (re-exported
by ``brainnet.metrics``): the weighted confusion counts at one threshold, as
Keras 3 keeps them. The imbalanced-classification example (credit-card
fraud) watches all four beside Precision and Recall while it trains.

A prediction ŷ is called positive when ŷ > t, a label y is positive when
y ≠ 0; over every value seen since the last reset, with weights w (1 without
sample weights):

    TP = Σ w·[y ≠ 0]·[ŷ > t]     FP = Σ w·[y = 0]·[ŷ > t]
    TN = Σ w·[y = 0]·[ŷ ≤ t]     FN = Σ w·[y ≠ 0]·[ŷ ≤ t]

The counts are kept, as Precision's and Recall's are, in one float64 tensor
(4, 1, 1) that is added to in place (``brainnet._confusion_metrics``); each
of these metrics reads its own row.
"""

from __future__ import annotations

import torch

from ._confusion_counts import FN, FP, TN, TP
from ._confusion_metrics import _ConfusionMetric, _threshold

Tensor = torch.Tensor

__all__ = ["TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives"]


class _Count(_ConfusionMetric):
    """One confusion count at one threshold: row ``row`` of the counts."""

    row = TP
    default_name = ""

    def __init__(self, thresholds: float | None = None, name: str | None = None, dtype: object = None) -> None:
        cls = type(self).__name__
        super().__init__(name or self.default_name, [_threshold(cls, thresholds, 0.5)])
        self.thresholds = thresholds

    def _value(self, counts: Tensor) -> Tensor:
        return counts[self.row, 0, 0]

    def get_config(self) -> dict:
        return {"thresholds": self.thresholds, "name": self.name}


class TruePositives(_Count):
    """TP = Σ w·[y ≠ 0]·[ŷ > threshold]: the (weighted) number of positive labels
    predicted positive, summed over the batches since the last reset.

    Every output counts (one sigmoid output per sample: one value per sample).

    Args:
        thresholds: one number in [0, 1] (default 0.5): ŷ above it is called positive.
        name: the key in ``History`` (default ``"true_positives"``).

    Input shape: labels (0/1) and predictions (probabilities) of the same number
    of values, e.g. ``(N, 1)`` and ``(N, 1)``. Output: a float, the count.

    Example:
        >>> m = TruePositives()
        >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        >>> m.result()
        2.0
    """

    row, default_name = TP, "true_positives"


class FalsePositives(_Count):
    """FP = Σ w·[y = 0]·[ŷ > threshold]: the (weighted) number of negative labels
    predicted positive (false alarms), summed over the batches since the last reset.

    Args:
        thresholds: one number in [0, 1] (default 0.5): ŷ above it is called positive.
        name: the key in ``History`` (default ``"false_positives"``).

    Input shape: labels and predictions of the same number of values. Output: a float.

    Example:
        >>> m = FalsePositives()
        >>> m.update_state([0, 1, 0, 0], [0, 0, 1, 1])
        >>> m.result()
        2.0
    """

    row, default_name = FP, "false_positives"


class TrueNegatives(_Count):
    """TN = Σ w·[y = 0]·[ŷ ≤ threshold]: the (weighted) number of negative labels
    predicted negative, summed over the batches since the last reset.

    Args:
        thresholds: one number in [0, 1] (default 0.5): ŷ at or below it is called negative.
        name: the key in ``History`` (default ``"true_negatives"``).

    Input shape: labels and predictions of the same number of values. Output: a float.

    Example:
        >>> m = TrueNegatives()
        >>> m.update_state([0, 1, 0, 0], [1, 1, 0, 0])
        >>> m.result()
        2.0
    """

    row, default_name = TN, "true_negatives"


class FalseNegatives(_Count):
    """FN = Σ w·[y ≠ 0]·[ŷ ≤ threshold]: the (weighted) number of positive labels
    predicted negative (misses), summed over the batches since the last reset.

    Args:
        thresholds: one number in [0, 1] (default 0.5): ŷ at or below it is called negative.
        name: the key in ``History`` (default ``"false_negatives"``).

    Input shape: labels and predictions of the same number of values. Output: a float.

    Example:
        >>> m = FalseNegatives()
        >>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0])
        >>> m.result()
        2.0
    """

    row, default_name = FN, "false_negatives"
