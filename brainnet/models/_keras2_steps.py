"""Keras 2's names for the compiled loss and metrics inside a custom
``train_step``: ``self.compiled_loss(y, y_pred)`` and
``self.compiled_metrics.update_state(y, y_pred)``. Tutorials written for
Keras 2 (keras.io's metric-learning example among them) use them; Keras 3
keeps both as deprecated shims that warn and point to ``compute_loss`` and
``self.metrics``, and so does brainnet.

One difference from Keras 3's shims, on purpose: ``compiled_loss`` records
the loss in the "loss" tracker, as Keras 2's did, and
``compiled_metrics.update_state`` updates the compiled metrics only. Keras
3's ``compiled_loss`` leaves the tracker alone and its
``compiled_metrics.update_state`` hands every ``Mean`` in ``self.metrics``
(the "loss" tracker among them) ``y_pred``, so a Keras 2 step there logs
the mean prediction as its "loss".

Each is a plain function of the model that ``Model`` binds by name.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

_LOSS_WARNING = ("`model.compiled_loss()` is deprecated (Keras 2's API). Instead, use "
                 "`loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)` and "
                 "record it with `self.metrics[0].update_state(loss)` (the \"loss\" tracker).")
_METRICS_WARNING = ("`model.compiled_metrics` is deprecated (Keras 2's API). Instead, use e.g.:\n"
                    "for metric in self.metrics:\n"
                    "    metric.update_state(loss) if metric.name == \"loss\" else metric.update_state(y, y_pred)")


def compiled_loss(self, y: Any, y_pred: Any, sample_weight: Any = None,
                  regularization_losses: Any = None) -> torch.Tensor:
    """The compiled loss on a batch, recorded in the "loss" tracker (Keras 2's
    ``model.compiled_loss``; deprecated, as in Keras 3: warns and points to
    ``compute_loss``). ``self.compute_loss`` already adds the model's
    penalties ``self.losses``, so ``regularization_losses`` may only be those
    (Keras 2's usual ``regularization_losses=self.losses``).

    Raises:
        RuntimeError: the model was never compiled.
        ValueError: ``regularization_losses`` that are not ``self.losses``.
    """
    warnings.warn(_LOSS_WARNING, UserWarning, stacklevel=2)
    trainer = self._require_compiled("compiled_loss")
    if regularization_losses is not None and not _same_tensors(regularization_losses, self.losses):
        raise ValueError(
            f"compiled_loss: expected regularization_losses=None or self.losses (compute_loss adds the model's "
            f"penalties itself), got {len(list(regularization_losses))} other tensor(s). Fix: leave "
            "regularization_losses out, and add other terms to the returned loss yourself: "
            "loss = self.compiled_loss(y, y_pred) + extra.")
    loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
    batch = y_pred[0] if isinstance(y_pred, (list, tuple)) else y_pred
    trainer.loss_tracker.update_state(loss.detach(), int(batch.shape[0]) if batch.dim() else 1)
    return loss


def _same_tensors(given: Any, own: list[torch.Tensor]) -> bool:
    given = list(given)
    return len(given) == len(own) and all(a is b or torch.equal(a, b) for a, b in zip(given, own))


class _CompiledMetrics:
    """What ``model.compiled_metrics`` returns: ``update_state(y, y_pred,
    sample_weight=None)`` updates the metrics given to ``compile``."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def update_state(self, y: Any, y_pred: Any, sample_weight: Any = None) -> None:
        warnings.warn(_METRICS_WARNING, UserWarning, stacklevel=2)
        self._model.compute_metrics(None, y, y_pred, sample_weight)


def compiled_metrics(self) -> _CompiledMetrics:
    """Keras 2's ``model.compiled_metrics``, whose ``update_state(y, y_pred,
    sample_weight=None)`` updates the compiled metrics (deprecated, as in
    Keras 3: warns and points to ``self.metrics``)."""
    return _CompiledMetrics(self)
