"""Confusion counts at thresholds, and the rates and areas read from them:
the arithmetic behind Precision, Recall and AUC (``brainnet._confusion_metrics``).

Keras 3's semantics: a prediction ŷ is called positive at threshold t when
ŷ > t (both in float32, as Keras compares them), a label y is positive
when y ≠ 0. Over the values seen so far, with weights w (1 without sample
weights):

    TP(t) = Σ w·[y ≠ 0]·[ŷ > t]     FP(t) = Σ w·[y = 0]·[ŷ > t]
    TN(t) = Σ w·[y = 0]·[ŷ ≤ t]     FN(t) = Σ w·[y ≠ 0]·[ŷ ≤ t]

kept as one float64 tensor ``counts`` of shape (4, T, L): rows TP, FP, TN,
FN; T thresholds; L labels (1 unless each label has its own curve).
"""

from __future__ import annotations

import torch

Tensor = torch.Tensor
EPSILON = 1e-7  # Keras's backend.epsilon(): the AUC's end thresholds are −ε and 1 + ε
NEG_INF = -1e10  # a prediction outside the top k (below every threshold)
TP, FP, TN, FN = range(4)


def auc_thresholds(num_thresholds: int, thresholds: list[float] | None) -> list[float]:
    """The AUC's thresholds: −ε, then ``thresholds`` sorted (or the num_thresholds − 2
    evenly spaced i/(num_thresholds − 1), i = 1 … num_thresholds − 2), then 1 + ε."""
    inner = sorted(thresholds) if thresholds is not None else [
        i / (num_thresholds - 1) for i in range(1, num_thresholds - 1)]
    return [-EPSILON, *inner, 1.0 + EPSILON]


def evenly_spaced(thresholds: list[float]) -> bool:
    """Whether thresholds are, within ε, 0, 1/(T − 1), …, 1 (Keras then clips ŷ to [0, 1])."""
    n = len(thresholds)
    return n >= 3 and all(abs(t - i / (n - 1)) <= EPSILON for i, t in enumerate(thresholds))


def counts(positive: Tensor, score: Tensor, weight: Tensor | None, thresholds: Tensor) -> Tensor:
    """The weighted confusion counts (4, T, L) of one batch.

    Args:
        positive: (M, L) bool, whether each label is positive.
        score: (M, L) predictions.
        weight: (M, L) float64 weights, or None (each value weighs 1).
        thresholds: (T,) float64, on the same device.
    """
    pos = positive.to(torch.float64)  # (M, L)
    neg = 1.0 - pos
    if weight is not None:
        pos, neg = pos * weight, neg * weight
    # compared in float32, as Keras casts both to the metric's dtype: ŷ = float32(t) is not above t
    above = (score.float().unsqueeze(0) > thresholds.float().view(-1, 1, 1)).to(torch.float64)  # (T, M, L)
    tp = torch.einsum("tml,ml->tl", above, pos)  # (T, L)
    fp = torch.einsum("tml,ml->tl", above, neg)
    return torch.stack([tp, fp, neg.sum(0) - fp, pos.sum(0) - tp])  # (4, T, L)


def keep_top_k(score: Tensor, k: int) -> Tensor:
    """``score`` with all but the k largest values of each row (last axis) set to −1e10;
    ties go to the lower index (a stable sort), as Keras's examples show."""
    top = score.sort(dim=-1, descending=True, stable=True).indices[..., :k]
    keep = torch.zeros_like(score, dtype=torch.bool).scatter_(-1, top, True)
    return torch.where(keep, score, NEG_INF)


def ratio(a: Tensor, b: Tensor) -> Tensor:
    """a / b where b > 0, else 0 (a rate with nothing to count is 0, as Keras's divide_no_nan)."""
    return torch.where(b > 0, a / torch.where(b > 0, b, 1.0), 0.0)


def precision(c: Tensor) -> Tensor:
    """TP / (TP + FP) at each threshold and label: (T, L)."""
    return ratio(c[TP], c[TP] + c[FP])


def recall(c: Tensor) -> Tensor:
    """TP / (TP + FN) at each threshold and label: (T, L)."""
    return ratio(c[TP], c[TP] + c[FN])


def area(c: Tensor, curve: str, summation: str) -> Tensor:
    """Area under the curve, per label (L,): Σ_i (x_i − x_{i+1}) · h_i over the
    thresholds in increasing order, x falling from its value at the lowest threshold.

    ROC: x = FPR = FP/(FP + TN), y = TPR = recall. PR: x = recall, y = precision.
    h_i = (y_i + y_{i+1})/2 ("interpolation"), min(y_i, y_{i+1}) ("minoring") or
    max ("majoring"); PR with "interpolation" is ``interpolated_pr_area``.
    """
    if curve == "PR" and summation == "interpolation":
        return interpolated_pr_area(c)
    if curve == "ROC":
        x, y = ratio(c[FP], c[FP] + c[TN]), recall(c)
    else:
        x, y = recall(c), precision(c)
    if summation == "interpolation":
        heights = (y[:-1] + y[1:]) / 2
    elif summation == "minoring":
        heights = torch.minimum(y[:-1], y[1:])
    else:
        heights = torch.maximum(y[:-1], y[1:])
    return ((x[:-1] - x[1:]) * heights).sum(0)


def interpolated_pr_area(c: Tensor) -> Tensor:
    """PR-AUC with TP and the predicted positives P = TP + FP taken as linear between
    neighbouring thresholds A (lower) and B (Davis & Goadrich 2006), per label (L,).

    Within an interval, precision = TP/P with TP = TP_B + s·(P − P_B), slope
    s = (TP_A − TP_B)/(P_A − P_B); integrating over recall = TP/(TP + FN) gives
    s · [(TP_A − TP_B) + (TP_B − s·P_B) · log(P_A / P_B)] / (TP_B + FN_B),
    the log term taken as 0 when P_A or P_B is 0.
    """
    tp, p = c[TP], c[TP] + c[FP]
    dtp, dp = tp[:-1] - tp[1:], p[:-1] - p[1:]
    slope = ratio(dtp, dp.clamp(min=0))
    intercept = tp[1:] - slope * p[1:]
    both = (p[:-1] > 0) & (p[1:] > 0)
    log_ratio = torch.where(both, torch.log(torch.where(both, p[:-1] / torch.where(both, p[1:], 1.0), 1.0)), 0.0)
    return ratio(slope * (dtp + intercept * log_ratio), (tp[1:] + c[FN][1:]).clamp(min=0)).sum(0)
