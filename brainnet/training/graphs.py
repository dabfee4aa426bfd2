"""The training step as one CUDA graph: batch, forward, loss, backward, update, metrics.

On a GPU a small network's step is a few hundred microseconds of kernels and
about as much Python and launch overhead. Capturing the whole step once and
replaying it removes the overhead. The graph reads the training arrays
(already on the device) through a static index buffer, so a step is one
small copy (the batch's indices, from the epoch's permutation) and one
launch: gathering the batch, forward, loss, backward, the fused optimizer
update and the running sums of the loss and metrics all happen inside the
graph. Used by ``fit`` when the model is compiled with ``jit_compile=True``
on a CUDA device and the optimizer has a fused CUDA update (SGD, Adam,
AdamW); the learning rate then lives in a device tensor that the graph
reads, so schedules and callbacks that change it work as before.

What is exact and what is not:

* The first ``WARMUP`` steps run eagerly (on a side stream, as CUDA graph
  capture requires: lazy state such as momentum buffers is created there).
* A batch of another size (the last, smaller batch of an epoch) runs eagerly
  on the same weights, optimizer state and metric sums.
* The metrics' running totals are float64 tensors that the graph adds to in
  place (``Metric._add``); the counts, which depend only on the batch's
  shape, are added on the host after each replay. Metrics other than
  brainnet's own (a ``Metric`` subclass or a function) might do what a graph
  cannot hold (read a value back to the host), so with any of them the
  metrics are updated eagerly after each replay from the graph's outputs;
  so are weighted metrics when the fit has sample weights (their count,
  Σ w, is data, not a shape).
* Sample weights (``fit(sample_weight=...)``, ``class_weight=``) are arrays
  on the device like the labels: the graph gathers each batch's weights
  with the same index and weighs the loss inside the graph.
* The graph outlives its ``fit``: a later ``fit`` of the same compiled model
  replays it without new warm-up steps or capture when nothing the graph
  holds has changed. It is captured again, rather than replayed on stale
  memory, when the arrays or a metric's total tensor are replaced (checked
  before each step: a restored backup replaces totals before the first
  step), and at the first step of each ``fit`` when any weight, buffer or
  optimizer state is another tensor than the graph's (a restored backup,
  ``model.to``), a weight was frozen or unfrozen, or the optimizer's
  settings differ. New arrays are captured at once; a new batch size or a
  changed model or optimizer first gets ``WARMUP`` eager steps again (an
  unfrozen weight's optimizer state is made lazily, which a capture must
  not do).
  Other changes to the model between ``fit`` calls (a layer's settings)
  need ``compile`` again, as in Keras.
* The arithmetic is the eager step's; results match it to float rounding
  (kernels may be chosen differently), not bit for bit.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Sequence

import torch

from .. import metrics as metrics_module

WARMUP = 3  # eager steps before capture

# brainnet's metrics whose update is device work only (capturable).
_GRAPH_SAFE_METRICS = (
    metrics_module.Mean, metrics_module.SparseCategoricalAccuracy, metrics_module.CategoricalAccuracy,
    metrics_module.BinaryAccuracy, metrics_module.Accuracy, metrics_module.MeanSquaredError,
    metrics_module.MeanAbsoluteError, metrics_module.TopKCategoricalAccuracy,
    metrics_module.SparseTopKCategoricalAccuracy, metrics_module.Precision, metrics_module.Recall,
    metrics_module.AUC, metrics_module.TruePositives, metrics_module.FalsePositives,
    metrics_module.TrueNegatives, metrics_module.FalseNegatives,
)


def graph_safe_metrics(metrics: Sequence[metrics_module.Metric]) -> bool:
    """Whether every metric is one of brainnet's own, whose update a CUDA graph can hold."""
    return all(type(m) in _GRAPH_SAFE_METRICS for m in metrics)


def gather(arrays: Sequence[torch.Tensor], idx: torch.Tensor) -> list[torch.Tensor]:
    """The batch ``idx`` of each array (rows along the first axis)."""
    return [t.index_select(0, idx) for t in arrays]


class CudaGraphStep:
    """Runs training steps, capturing the step as a CUDA graph after ``WARMUP``.

    Args:
        forward_loss: ``(xs, ys) -> (loss, per-output losses, predictions)``.
        optimizer: a brainnet optimizer built with ``graph_safe=True``.
        autocast: ``cache_enabled -> context manager`` for the forward pass.
        record: ``(loss, losses, preds, ys) -> None``, the metric updates.
        metrics: ``() -> list of Metric``, every metric ``record`` updates.
        model_tensors: ``() -> tensors``, the model's weights and buffers
            (the forward reads them and may write buffers in place).
        generators: ``() -> generators``, the CUDA random generators of the
            model's own (seeded layers), which a graph must register.
        weighted_metrics: ``() -> bool``, whether some metrics take sample
            weights (then, with weights, the metrics are updated after each
            replay instead of inside the graph).

    Call ``begin()`` at the start of each ``fit``, then the object once per step.
    """

    def __init__(self, forward_loss: Callable, optimizer: Any, autocast: Callable[[bool], Any],
                 record: Callable, metrics: Callable[[], list[metrics_module.Metric]],
                 model_tensors: Callable[[], Iterable[torch.Tensor]] = tuple,
                 generators: Callable[[], Iterable[torch.Generator]] = tuple,
                 weighted_metrics: Callable[[], bool] = bool) -> None:
        self.forward_loss = forward_loss
        self.optimizer = optimizer
        self.autocast = autocast
        self.record = record
        self.metrics = metrics
        self.model_tensors = model_tensors
        self.generators = generators
        self.weighted_metrics = weighted_metrics
        self.graph: torch.cuda.CUDAGraph | None = None
        self.batch: int | None = None  # this fit's full batch size (the first seen)
        self.warm = 0  # eager warm-up steps at the shapes of the coming capture
        self.warm_key: Any = None  # those shapes: the batch size, each array's sample shape and dtype
        self.totals: list[Any] = []  # the metric totals the graph adds to (kept alive with it)
        self.fit_checked = False  # the first step of a fit checks what the graph holds
        self.held: Any = None  # what the graph holds besides arrays and totals (see _held)
        self.static_idx: torch.Tensor | None = None
        self.outputs: Any = None  # (loss, losses, preds, batch labels, batch weights) the graph writes
        self.record_in_graph = False
        self.counts: list[float] = []  # what one replay adds to each metric's count
        self.sources: list[Any] = []  # what the graph reads and adds to: checked before each replay
        self.eager_steps = 0
        self.replays = 0
        self.captures = 0

    def __call__(self, xs: list[torch.Tensor], ys: list[torch.Tensor], idx: torch.Tensor,
                 sws: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """One step on the rows ``idx`` of the arrays ``xs``, ``ys`` and the sample
        weights ``sws`` (none: ``()``), all on the device; returns the batch's
        loss (on the device)."""
        # Streams, synchronisation and capture follow the current device: make it the data's
        # (with device="cuda:1" the kernels would otherwise run outside the capture).
        with torch.cuda.device(idx.device) if idx.device.type == "cuda" else contextlib.nullcontext():
            return self._step(xs, ys, list(sws), idx)

    def _step(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor],
              idx: torch.Tensor) -> torch.Tensor:
        if self.batch is None:
            self.batch = idx.shape[0]
            if self.static_idx is not None and self.static_idx.shape[0] != self.batch:
                self.graph, self.warm = None, 0  # another batch size: warm up on it, then capture
        if idx.shape[0] != self.batch:  # the ragged last batch
            return self._eager(xs, ys, sws, idx, side_stream=False)
        if self.graph is not None and not self.fit_checked:
            self.fit_checked = True
            if self._held() != self.held:  # weights, buffers or optimizer state replaced, or settings changed:
                self.graph, self.warm = None, 0  # warm up again (an unfrozen weight's state is made lazily)
        if self.graph is not None and not self._same_sources(xs, ys, sws):
            self.graph = None  # new arrays or metric totals: capture again
        if self.graph is None:
            key = (idx.shape[0], [(tuple(t.shape[1:]), t.dtype) for t in xs + ys + sws])
            if key != self.warm_key:  # other shapes: other kernels (cuDNN autotunes them) to warm up first
                self.warm_key, self.warm = key, 0
            if self.warm < WARMUP:
                self.warm += 1
                return self._eager(xs, ys, sws, idx, side_stream=True)
            self._capture(xs, ys, sws, idx)
        self.static_idx.copy_(idx)
        self.optimizer.set_step_rate()
        self.graph.replay()
        self.optimizer.steps += 1
        self.replays += 1
        loss, losses, preds, yb, wb = self.outputs
        if self.record_in_graph:
            for m, n in zip(self.metrics(), self.counts):
                m.count = m.count + n
        else:
            self.record(loss, losses, preds, yb, wb)
        return loss

    def begin(self) -> None:
        """A new ``fit``: its first step checks whether the graph still applies."""
        self.batch = None
        self.fit_checked = False

    @staticmethod
    def _arrays(xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor]) -> list[Any]:
        return [(t.data_ptr(), t.shape, t.stride(), t.dtype) for t in xs + ys] + [
            ("weights", t.data_ptr(), t.shape, t.stride(), t.dtype) for t in sws]

    def _same_sources(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor]) -> bool:
        """Whether the arrays and the metrics' totals are at the addresses the graph uses."""
        if self._arrays(xs, ys, sws) != self.sources:
            return False
        return not self.record_in_graph or [m.total.data_ptr() for m in self.metrics()] == [
            t.data_ptr() for t in self.totals]

    def _held(self) -> list[Any]:
        """The memory and settings the graph holds besides the arrays and the
        metrics' totals: the model's tensors, which weights train, the optimizer's
        settings and state tensors."""
        opt = self.optimizer.torch_optimizer
        held: list[Any] = [opt, self.optimizer.decoupled_decay]  # the object itself (compared with ==: is)
        held += [self.optimizer.clipnorm, self.optimizer.global_clipnorm, self.optimizer.clipvalue]  # baked in
        held += [self.optimizer.ema_momentum, self.optimizer.ema_overwrite_frequency]  # baked in
        held += [t.data_ptr() for t in self.optimizer.averages or ()]
        held += [(t.data_ptr(), t.shape, t.dtype) for t in self.model_tensors()]
        for group in opt.param_groups:
            held.append([(p.data_ptr(), p.requires_grad) for p in group["params"]])
            held.append(sorted((k, ("tensor", v.data_ptr()) if torch.is_tensor(v) else repr(v))
                               for k, v in group.items() if k != "params"))
        for p, state in opt.state.items():
            held.append((p.data_ptr(), sorted((k, v.data_ptr()) for k, v in state.items() if torch.is_tensor(v))))
        return held

    def _eager(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], idx: torch.Tensor,
               side_stream: bool) -> torch.Tensor:
        self.eager_steps += 1
        stream = torch.cuda.Stream() if side_stream else None
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            xb, yb, wb = gather(xs, idx), gather(ys, idx), gather(sws, idx)
            self.optimizer.zero_grad()
            with self.autocast(True):
                loss, losses, preds = self.forward_loss(xb, yb, wb)
            loss.backward()
            self.optimizer.step()
            self.record(loss, losses, preds, yb, wb)
        if stream is not None:
            torch.cuda.current_stream().wait_stream(stream)
        return loss.detach()

    def _capture(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor],
                 idx: torch.Tensor) -> None:
        metrics = self.metrics()
        # A weighted metric's count is Σ w with weights: data the host cannot add after a replay.
        self.record_in_graph = graph_safe_metrics(metrics) and not (sws and self.weighted_metrics())
        if self.record_in_graph:
            for m in metrics:  # a float64 tensor on the device for the graph to add to
                m._add(torch.zeros((), dtype=torch.float64, device=idx.device), 0)
        before = [m.count for m in metrics]
        self.static_idx = idx.clone()
        torch.cuda.synchronize()
        self.optimizer.zero_grad()  # the graph's backward allocates the gradients it writes

        def body() -> tuple:
            xb, yb, wb = gather(xs, self.static_idx), gather(ys, self.static_idx), gather(sws, self.static_idx)
            with self.autocast(False):  # autocast's cast cache must be off while capturing
                loss, losses, preds = self.forward_loss(xb, yb, wb)
            loss.backward()
            self.optimizer.apply_update()
            loss, losses, preds = loss.detach(), [l.detach() for l in losses], [p.detach() for p in preds]
            if self.record_in_graph:
                self.record(loss, losses, preds, yb, wb)  # captured: the totals' additions run at each replay
            return loss, losses, preds, yb, wb

        graph, outputs = self._captured(body)
        if self.record_in_graph:
            # Capturing ran the host side of the updates once; each replay adds the counts instead.
            self.counts = [m.count - b for m, b in zip(metrics, before)]
            for m, b in zip(metrics, before):
                m.count = b
        self.graph = graph
        self.captures += 1
        self.outputs = outputs
        self.sources = self._arrays(xs, ys, sws)
        self.totals = [m.total for m in metrics] if self.record_in_graph else []
        self.held = self._held()
        self.fit_checked = True

    def _captured(self, body: Callable[[], tuple]) -> tuple[Any, tuple]:
        """Capture ``body``'s kernels as a CUDA graph: ``(graph, body's outputs)``."""
        graph = torch.cuda.CUDAGraph()
        for generator in self.generators():  # a seeded layer's own generator, advanced at each replay
            graph.register_generator_state(generator)
        with torch.cuda.graph(graph):
            outputs = body()
        return graph, outputs
