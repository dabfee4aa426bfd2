"""The pieces a custom ``train_step`` is written with (Keras 3's names):
``model.compute_loss``, ``model.compute_metrics``, ``model.metrics`` (the
loss tracker and the compiled metrics) and the standard steps that
``super().train_step(data)``, ``super().test_step(data)`` and
``super().predict_step(data)`` run.

The compiled loss of a batch is

    L = Σ_k λ_k · (1/N) Σ_i w_i · ℓ_k(y_ik, ŷ_ik)  +  Σ model.losses

(λ_k the ``loss_weights`` of output k, w_i the sample weights, 1 without;
``model.losses`` the regularization penalties), what the built-in step
minimizes.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import torch

from .. import metrics as metrics_module
from ..layers._layer_metrics import layer_metrics
from . import data as data_module
from ._step_batches import unpack
from .prepare import labels_per_output

Tensor = torch.Tensor


def _listed(out: Any) -> list[Any]:
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _per_output(value: Any, heads: list[Any], what: str) -> list[Any]:
    """``sample_weight`` as one entry per output: a dict by output name, a
    list (several outputs), or one array that serves every output. (``y`` is
    spread by ``prepare.labels_per_output``, as the built-in loop does.)"""
    names = [h.name for h in heads]
    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"{what}: expected an entry for each output {names}, got none for {missing}. "
                             f"Fix: {what}={{name: array, ...}} with every output name.")
        return [value[n] for n in names]
    if len(heads) > 1 and isinstance(value, (list, tuple)):
        if len(value) != len(heads):
            raise ValueError(f"{what}: expected {len(heads)} entries (one per output: {names}), got {len(value)}. "
                             f"Fix: pass one per output, in the order of the model's outputs.")
        return list(value)
    return [value] * len(heads)


def _labels(head: Any, y: Any, y_pred: Tensor, device: torch.device) -> Tensor:
    """Labels as the built-in loop gives them to the loss (checked against it and the output)."""
    t = data_module.as_tensor(y, "y").to(device)
    if head.loss is not None:
        t = data_module.prepare_labels(t, head.loss, tuple(y_pred.shape))
    return t


def _weights(trainer: Any, w: Any, samples: int) -> Tensor | None:
    if w is None:
        return None
    return trainer._weights_on_device(data_module.prepare_sample_weight(w, samples))


def compute_loss(model: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
    """The compiled loss of a batch plus ``Σ model.losses`` (module docstring)."""
    trainer = model._require_compiled("compute_loss")
    heads, preds = trainer.heads, _listed(y_pred)
    total: Tensor | None = None
    if any(h.loss is not None for h in heads):
        if y is None:
            raise ValueError(
                "compute_loss: expected labels y for the loss compile() was given, got y=None. Fix: "
                "self.compute_loss(y=y, y_pred=y_pred) with y from data (x, y = data)."
            )
        ys, sws = labels_per_output(trainer, y), _per_output(sample_weight, heads, "sample_weight")
        for head, yi, p, w in zip(heads, ys, preds, sws):
            if head.loss is None:
                continue
            t = _labels(head, yi, p, p.device)
            w = _weights(trainer, w, t.shape[0])
            loss = head.loss(t, p) if w is None else head.loss(t, p, sample_weight=w)
            loss = loss if head.weight == 1.0 else head.weight * loss
            total = loss if total is None else total + loss
    penalties = model.losses
    if penalties:
        penalty = torch.stack([p.sum() for p in penalties]).sum()
        total = penalty if total is None else total + penalty
    if total is None:
        raise ValueError(
            "compute_loss: expected a loss to compute, got none: compile() was given no loss and the model has "
            "no regularization penalties. Fix: model.compile(optimizer='adam', loss='mse'), or compute the loss "
            "in train_step yourself (loss = self.loss_fn(y, y_pred))."
        )
    return total


class CompileMetrics:
    """The metrics given to ``compile`` (``metrics=`` and ``weighted_metrics=``)
    as one entry of ``model.metrics``, as Keras's compile-metrics container:
    ``update_state(y, y_pred, sample_weight)`` updates each of them (only the
    weighted ones see the weights), ``result()`` is a dict by the names the
    History uses."""

    name = "compile_metrics"

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        heads, preds = self.trainer.heads, _listed(y_pred)
        ys, sws = labels_per_output(self.trainer, y_true), _per_output(sample_weight, heads, "sample_weight")
        with torch.no_grad():
            for head, yi, p, w in zip(heads, ys, preds, sws):
                if yi is None:  # an output compiled with no loss and no metrics (loss=[loss_fn, None])
                    continue
                p = p.detach()
                t = _labels(head, yi, p, p.device)
                head.resolve_metrics(p.shape[-1], metrics_module.sparse_labels(t.shape, p.shape))
                for m in head.metrics:
                    m.update_state(t, p)
                w = _weights(self.trainer, w, t.shape[0])
                for m in head.weighted_metrics:
                    m.update_state(t, p, w)

    def _pairs(self) -> list[tuple[str, metrics_module.Metric]]:
        trackers = {id(self.trainer.loss_tracker), *(id(h.tracker) for h in self.trainer.heads)}
        return [(name, m) for name, m in self.trainer.logged(kept=False) if id(m) not in trackers]

    def result(self) -> dict[str, float]:
        return {name: metrics_module.result_number(m) for name, m in self._pairs()}

    def reset_state(self) -> None:
        for _, m in self._pairs():
            m.reset_state()

    def __repr__(self) -> str:
        return f"CompileMetrics({[name for name, _ in self._pairs()]})"


def model_metrics(model: Any) -> list[Any]:
    """Keras's ``model.metrics``: the loss tracker ("loss") once compiled, then
    the compiled metrics as one ``CompileMetrics`` (when compile had some), then
    the metrics the model and its layers keep as attributes (``layer.metrics``)."""
    trainer = model.trainer
    if trainer is None:
        return layer_metrics(model)
    found: list[Any] = [trainer.loss_tracker]
    if any(h.metric_specs or h.weighted_specs for h in trainer.heads):
        if trainer.compile_metrics is None:
            trainer.compile_metrics = CompileMetrics(trainer)
        found.append(trainer.compile_metrics)
    return found + layer_metrics(model)


def metrics_result(model: Any) -> dict[str, float]:
    """``{name: value}`` of every entry of ``model.metrics`` (a dict result flattened into it)."""
    logs: dict[str, float] = {}
    for m in model.metrics:
        value = m.result()
        if isinstance(value, dict):
            logs.update(value)
        else:
            logs[m.name] = value
    return logs


def compute_metrics(model: Any, y: Any, y_pred: Any, sample_weight: Any = None) -> dict[str, float]:
    """Update the compiled metrics with the batch; all of ``model.metrics``' results."""
    trainer = model._require_compiled("compute_metrics")
    if any(h.metric_specs or h.weighted_specs for h in trainer.heads):
        model_metrics(model)[1].update_state(y, y_pred, sample_weight)  # after the loss tracker; a model's own trackers follow
    return metrics_result(model)


def _batch_size(x: Any) -> int:
    leaves = [t for t in _listed(x) if isinstance(t, Tensor)]
    return int(leaves[0].shape[0]) if leaves else 1


def _model_loss(model: Any, x: Any, y: Any, y_pred: Any, sample_weight: Any, training: bool) -> Tensor:
    """``model.compute_loss`` as Keras 3's standard steps call it: ``training``
    is passed only to an override that takes it (Keras added the argument in
    3.3, and tutorials written before, the knowledge-distillation one among
    them, define ``compute_loss(self, x, y, y_pred, sample_weight,
    allow_empty=False)``)."""
    method = model.compute_loss
    extra = {"training": training} if _takes_training(getattr(method, "__func__", method)) else {}
    return method(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, **extra)


@functools.lru_cache(maxsize=None)
def _takes_training(compute_loss: Any) -> bool:
    """Whether a ``compute_loss`` function accepts ``training=`` (read once per
    function, not at every step)."""
    params = inspect.signature(compute_loss).parameters
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def train_step(model: Any, data: Any) -> dict[str, float]:
    """Keras 3's standard step: forward, compiled loss, backward, the optimizer's
    update, the loss tracker (weighted by the batch size) and compiled metrics."""
    x, y, sample_weight = unpack(data)
    model.zero_grad()
    y_pred = model(x, training=True)
    loss = _model_loss(model, x, y, y_pred, sample_weight, training=True)
    model.trainer.loss_tracker.update_state(loss, _batch_size(x))
    weights = model.trainable_weights
    loss.backward()
    model.optimizer.apply([v.grad for v in weights], weights)
    return model.compute_metrics(x, y, y_pred, sample_weight)


def test_step(model: Any, data: Any) -> dict[str, float]:
    """Keras 3's standard evaluation step: forward, loss tracker, compiled metrics."""
    x, y, sample_weight = unpack(data)
    y_pred = model(x, training=False)
    loss = _model_loss(model, x, y, y_pred, sample_weight, training=False)
    model.trainer.loss_tracker.update_state(loss, _batch_size(x))
    return model.compute_metrics(x, y, y_pred, sample_weight)


def predict_step(model: Any, data: Any) -> Any:
    """Keras 3's standard prediction step: the model's output for x."""
    x, _, _ = unpack(data)
    return model(x, training=False)
