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
* ctc (y a padded label sequence, class 0 the blank, ŷ per-step logits):
  L = −log Σ_{π : B(π) = y} Π_t softmax(ŷ_t)[π_t], B merging repeats and dropping blanks

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

Where the code lives: ``_loss_base.py`` (``Loss``, ``weighted_mean``),
``_probabilistic_losses.py`` (the cross-entropies, KL divergence) and
``_regression_losses.py`` (squared and absolute error, Huber, log-cosh,
hinge), ``_ctc.py`` (CTC). This module gathers them under their Keras names and looks them up
(``get``).
"""

from __future__ import annotations

import difflib
from typing import Callable

from ._ctc import CTC, ctc
from ._loss_base import Loss, weighted_mean
from ._probabilistic_losses import (
    EPSILON,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    KLDivergence,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    kl_divergence,
    sparse_categorical_crossentropy,
)
from ._regression_losses import (
    Hinge,
    Huber,
    LogCosh,
    MeanAbsoluteError,
    MeanSquaredError,
    SquaredHinge,
    hinge,
    huber,
    log_cosh,
    mean_absolute_error,
    mean_squared_error,
    squared_hinge,
)


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
    "ctc": CTC,
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
    ctc: CTC,
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


__all__ = [
    "Loss", "get", "weighted_mean", "EPSILON",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy", "kl_divergence",
    "mean_squared_error", "mean_absolute_error", "huber", "log_cosh", "hinge", "squared_hinge", "ctc",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy", "KLDivergence",
    "MeanSquaredError", "MeanAbsoluteError", "Huber", "LogCosh", "Hinge", "SquaredHinge", "CTC",
]
