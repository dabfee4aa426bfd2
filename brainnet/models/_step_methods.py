"""The steps ``fit``, ``evaluate`` and ``predict`` run, as Keras 3's
"customizing what happens in fit()" names them: ``train_step``,
``test_step``, ``predict_step`` and the pieces a step is written with
(``compute_loss``, ``compute_metrics``, ``metrics``, ...).

Each is a plain function of the model (its first argument is ``self``) that
``Model`` binds as its method of the same name; a subclass overrides the
method, and ``fit`` takes the custom-step loop when ``type(model).train_step``
is not ``train_step`` below. The defaults run ``brainnet.training.model_steps``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..training import custom_step, model_steps


def train_step(self, data: Any) -> dict[str, Any]:
    """One training step on one batch; override it to train your own way
    (a GAN, a VAE) and keep the rest of ``fit``, as in Keras 3.

    ``data`` is the batch: ``(x, y)``, ``(x, y, sample_weight)`` or ``x``
    alone when fit got no y, as tensors on the model's device. Return a
    dict of values to log: ``{m.name: m.result() for m in self.metrics}``.
    This default is Keras's standard step: ``self.zero_grad()``;
    ``y_pred = self(x, training=True)``; ``loss = self.compute_loss(y=y,
    y_pred=y_pred, sample_weight=sample_weight)``; ``loss.backward()``;
    ``self.optimizer.apply([v.grad for v in self.trainable_weights],
    self.trainable_weights)``; ``self.compute_metrics(...)``. A model that
    does not override it trains with brainnet's built-in, faster loop.

    Example:
        >>> class Custom(brainnet.Sequential):
        ...     def train_step(self, data):
        ...         x, y = data
        ...         self.zero_grad()
        ...         y_pred = self(x, training=True)
        ...         loss = self.compute_loss(y=y, y_pred=y_pred)
        ...         loss.backward()
        ...         self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        ...         for m in self.metrics:
        ...             m.update_state(loss) if m.name == "loss" else m.update_state(y, y_pred)
        ...         return {m.name: m.result() for m in self.metrics}
    """
    return model_steps.train_step(self, data)


def test_step(self, data: Any) -> dict[str, Any]:
    """One evaluation step (``evaluate`` and fit's validation call it when
    overridden); the default is Keras's: forward in inference mode, the
    compiled loss into the "loss" tracker, ``compute_metrics``."""
    return model_steps.test_step(self, data)


def predict_step(self, data: Any) -> Any:
    """One prediction step (``predict`` calls it when overridden): the
    default returns ``self(x, training=False)``."""
    return model_steps.predict_step(self, data)


def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                 training: bool = True) -> torch.Tensor:
    """The loss given to ``compile`` on a batch, summed with the
    regularization penalties ``self.losses`` (Keras 3):
    L = Σ_k λ_k · (1/N) Σ_i w_i · ℓ_k(y_ik, ŷ_ik) + Σ self.losses.

    Raises:
        ValueError: no compiled loss and no penalties, or labels that do not fit the loss.
    """
    return model_steps.compute_loss(self, y, y_pred, sample_weight)


def compute_metrics(self, x: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
    """Update the metrics given to ``compile`` with a batch; return every
    value of ``self.metrics`` (``{"loss": ..., "mae": ...}``)."""
    return model_steps.compute_metrics(self, y, y_pred, sample_weight)


def get_metrics_result(self) -> dict[str, float]:
    """The current values of ``self.metrics`` as a dict (Keras 3)."""
    return model_steps.metrics_result(self)


def metrics(self) -> list[Any]:
    """What a custom step updates and ``fit`` resets at each epoch (and
    ``evaluate`` at its start): the "loss" tracker once compiled, then the
    compiled metrics as one object named "compile_metrics". Override it
    to list trackers of your own (``brainnet.metrics.Mean(name="d_loss")``)."""
    return model_steps.model_metrics(self)


def reset_metrics(self) -> None:
    """``reset_state()`` of every entry of ``self.metrics``."""
    custom_step.reset_metrics(self)
