"""What compile() says about each model output: its loss, weight and metrics.

A single-output model has one head. For several outputs, Keras's forms are
accepted: ``loss`` as one loss for every output, a list (one per output,
in order) or a dict keyed by output name (the name of the layer that makes
it); the same for ``loss_weights``; ``metrics`` (and ``weighted_metrics``)
as one flat list for every output, a list of lists, or a dict.
"""

from __future__ import annotations

from typing import Any

from .. import losses as losses_module
from .. import metrics as metrics_module


class OutputHead:
    """One output's loss, loss weight, metrics, weighted metrics (those that
    sample weights weigh, as Keras's ``weighted_metrics``) and loss tracker."""

    def __init__(self, name: str, loss: Any, weight: float, metric_specs: list,
                 weighted_specs: list | None = None) -> None:
        self.name = name
        self.loss = losses_module.get(loss) if loss is not None else None
        self.weight = float(weight)
        self.metric_specs = metric_specs
        self.weighted_specs = list(weighted_specs or [])
        self.metrics: list[metrics_module.Metric] | None = None
        self.weighted_metrics: list[metrics_module.Metric] | None = None
        self.tracker = metrics_module.Mean(f"{name}_loss")

    def resolve_metrics(self, output_units: int, label_rank_lower: bool) -> None:
        if self.metrics is None:
            self.metrics = [
                metrics_module.get(m, self.loss, output_units, label_rank_lower) for m in self.metric_specs
            ]
            self.weighted_metrics = [
                metrics_module.get(m, self.loss, output_units, label_rank_lower) for m in self.weighted_specs
            ]


def _per_output(what: str, spec: Any, names: list[str], default: Any, fix: str) -> list[Any]:
    """Spread a compile() argument over the outputs (one value, list or dict)."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = sorted(set(spec) - set(names))
        if unknown:
            raise ValueError(
                f"compile: {what} names outputs {unknown}, but the model's outputs are {names}. "
                f"Fix: {fix}"
            )
        return [spec.get(name, default) for name in names]
    if isinstance(spec, (list, tuple)) and what != "metrics":
        if len(spec) != n:
            raise ValueError(
                f"compile: expected {n} {what} (one per output: {names}), got {len(spec)}. Fix: {fix}"
            )
        return list(spec)
    return [spec if spec is not None else default] * n


def _metrics_per_output(metrics: Any, names: list[str], fix: str) -> list[list]:
    """``metrics`` (or ``weighted_metrics``) as one list of specs per output."""
    if isinstance(metrics, str):
        metrics = [metrics]
    if isinstance(metrics, dict):
        per = _per_output("metrics", metrics, names, [], fix)
        per = [[m] if isinstance(m, str) else list(m) for m in per]
    elif metrics and len(names) > 1 and all(isinstance(m, (list, tuple)) for m in metrics):
        if len(metrics) != len(names):
            raise ValueError(
                f"compile: expected {len(names)} metric lists (one per output: {names}), got "
                f"{len(metrics)}. Fix: {fix}"
            )
        per = [list(m) for m in metrics]
    else:
        per = [list(metrics or [])] * len(names)
    return per


def make_heads(loss: Any, metrics: Any, loss_weights: Any, names: list[str],
               weighted_metrics: Any = None) -> list[OutputHead]:
    """One ``OutputHead`` per output name, from compile()'s arguments."""
    fix = f"give one per output as a list, or a dict keyed by {names}."
    losses = _per_output("losses", loss, names, None, fix)
    weights = _per_output("loss_weights", loss_weights, names, 1.0, fix)
    per = _metrics_per_output(metrics, names, fix)
    weighted = _metrics_per_output(weighted_metrics, names, fix)
    heads = [OutputHead(n, l, w, m, wm) for n, l, w, m, wm in zip(names, losses, weights, per, weighted)]
    for head in heads:  # unknown metric names fail at compile, not at fit
        for spec in head.metric_specs + head.weighted_specs:
            metrics_module.get(spec, head.loss)
    return heads
