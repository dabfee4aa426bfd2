"""The trainer: the one object behind ``fit``, ``evaluate`` and ``predict`` of a compiled model.

It owns the optimizer, the losses and metrics (one head per output,
``outputs.py``), the device and the training step: one forward, one
backward and one optimizer step (``train_step``); loss and metrics
accumulate on the device and are read once per epoch (and at most ten
times a second for the progress bar). When the model ends in softmax (or
sigmoid) and the loss takes probabilities, the loss runs on the logits
instead (log-softmax cross-entropy).

On a GPU (or wherever it pays): under ``mixed_precision`` policy
``"mixed_bfloat16"`` the forward pass runs under ``torch.autocast`` in
bfloat16; ``compile(jit_compile=True)`` captures the whole step as one CUDA
graph on CUDA, or compiles the forward pass and loss with ``torch.compile``
(``jit.py``, ``graphs.py``). The optimizers use PyTorch's fused update
kernels on CUDA and on the CPU. On CUDA, fit, evaluate and predict let
cuDNN autotune its convolution algorithms (``devices.py``). Convolutions
run in channels-last memory format (the layout of Keras's (N, H, W, C)
arrays), so no transposing copy is made.

The loops are plain functions in their own modules, bound here as the
trainer's methods (no wrapper, so no extra call per batch):

* ``prepare.py``: x, y, sample and class weights checked and on the device;
* ``fitting.py``: fit on arrays (epochs, batches, validation), ``train_on_batch``;
* ``inference.py``: evaluate and predict on arrays, ``test_on_batch``, ``predict_on_batch``;
* ``streaming.py``: DataLoaders, Datasets, PyDatasets and generators, batch by batch.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Iterable, Sequence

import torch

from .. import constraints, distributed
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import mixed_precision
from .. import optimizers as optimizers_module
from ..layers import _added_losses
from ..layers._layer_metrics import layer_metrics
from ..layers.base import Layer
from . import fitting, inference, jit, prepare, structured, text_inputs
from .callbacks import History
from .devices import cudnn_autotune, default_device, move_to, resolve_device
from .graphs import CudaGraphStep
from .inference import _as_returned, _listed, inference_layers
from .jit import check_jit_compile
from .outputs import OutputHead, make_heads
from .prepare import DEFAULT_BATCH_SIZE, DEFAULT_INFERENCE_BATCH_SIZE, _check_batch_size

# Names other modules import from here, defined in the modules above since the split.
__all__ = [
    "Trainer", "default_device", "resolve_device", "cudnn_autotune", "inference_layers",
    "DEFAULT_BATCH_SIZE", "DEFAULT_INFERENCE_BATCH_SIZE", "_check_batch_size", "_as_returned",
]


class Trainer:
    """Owns the optimizer, the losses, the metrics and the loop for one model.

    Inside, inputs and labels are lists of tensors (one per model input and
    output); a single-input, single-output model has lists of one.
    """

    def __init__(
        self, model: Any, optimizer: Any, loss: Any, metrics: Iterable | None, device: Any,
        loss_weights: Any = None, jit_compile: bool | str = "auto", weighted_metrics: Any = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizers_module.get(optimizer) if optimizer is not None else None
        self.heads = make_heads(loss, metrics, loss_weights, list(model.output_names), weighted_metrics)
        self.device = resolve_device(device)
        self.loss_tracker = metrics_module.Mean("loss")
        self.compile_metrics: Any = None  # model.metrics' CompileMetrics, made when a custom step asks (model_steps)
        self.history: History | None = None  # of the fit in progress (or the last one)
        self.input_structure: Any = None  # a subclassed model's structure of inputs (structured.py), or None
        self.loop_info: dict[str, Any] = {}  # samples, batch_size, steps, shuffle of that fit
        self.epoch_order: torch.Tensor | None = None  # this epoch's permutation of the samples
        self.pass_start = 0  # the batch of the pass over the arrays where this epoch began (steps_per_epoch)
        self.resume_from: dict[str, Any] | None = None  # set by BackupAndRestore.on_train_begin
        self.interrupted = False  # the last fit was stopped by Ctrl-C
        self.position = (0, 0)  # (epoch, batches of it done) of the fit in progress
        self.penalized = True  # any regularizer in the model? (set by fit/evaluate; True: look every step)
        self._late_adders = 0  # _added_losses.LATE_ADDERS when penalized was last decided
        self.policy = mixed_precision.global_policy()  # taken at compile, as Keras's layers take it
        self.jit_compile = check_jit_compile(jit_compile)
        self._compiled_forward: Any = None  # torch.compile of _forward_loss, made at the first step (jit.py)
        self.graph_step: CudaGraphStep | None = None  # the step as a CUDA graph (fit, jit_compile on CUDA)
        self.parallel = distributed.DataParallel()  # the processes fit runs on: one, or several under torchrun
        self._warn_probabilities_as_logits()

    def _warn_probabilities_as_logits(self) -> None:
        """A loss told ``from_logits=True`` on a model that ends in softmax or sigmoid
        would apply that activation twice (Keras warns too)."""
        activation = self.model.output_activation_name if len(self.heads) == 1 else None
        loss = self.heads[0].loss if self.heads else None
        if activation in ("softmax", "sigmoid") and getattr(loss, "from_logits", False):
            warnings.warn(
                f"compile: the loss expects logits (from_logits=True), got a model whose last layer "
                f"applies {activation}, so {activation} would be applied twice and the loss would be "
                f"wrong. Fix: drop from_logits=True, or remove activation='{activation}' from the last "
                "layer (then predict() gives logits).",
                stacklevel=4,
            )

    @property
    def compiled(self) -> bool:
        """Whether training steps run compiled: ``jit_compile=True`` ("auto" is eager,
        since compiling costs seconds to minutes that short runs do not win back)."""
        return self.jit_compile is True

    def autocast(self, cache_enabled: bool = True) -> contextlib.AbstractContextManager:
        """``torch.autocast`` in the policy's compute dtype, or nothing under float32."""
        dtype = self.policy.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype, cache_enabled=cache_enabled)

    @property
    def wants_graphs(self) -> bool:
        """Capture the step as a CUDA graph: ``jit_compile=True`` on CUDA with an
        optimizer that has a fused CUDA update (SGD, Adam, AdamW)."""
        return self.compiled and self.device.type == "cuda" and self.optimizer.has_fused_update

    @property
    def stop_training(self) -> bool:
        """``model.stop_training``, as Keras: a callback sets it to stop fit."""
        return bool(getattr(self.model, "stop_training", False))

    @stop_training.setter
    def stop_training(self, value: bool) -> None:
        self.model.stop_training = bool(value)

    @property
    def loss(self) -> losses_module.Loss | None:
        """The loss of the first (usually only) output."""
        return self.heads[0].loss

    @property
    def multi_output(self) -> bool:
        return len(self.heads) > 1

    @property
    def tracked_heads(self) -> list[OutputHead]:
        """The outputs whose own loss is logged (``<output>_loss``): as Keras 3,
        those with a loss when several outputs have one, else none."""
        lossed = [h for h in self.heads if h.loss is not None]
        return lossed if len(lossed) > 1 else []

    # ----------------------------------------------------------- set-up
    def build_optimizer(self) -> None:
        """Move the model to the device and create the torch optimizer (once)."""
        move_to(self.model, self.device)  # skipped on the CPU: train_on_batch builds at every call
        if self.optimizer is None:
            raise ValueError(
                "fit: expected a compiled model, got one without an optimizer. "
                "Fix: model.compile(optimizer='adam', loss=...) before fit."
            )
        if not self.optimizer.built and not any(p.requires_grad for p in self.model.parameters()):
            frozen = "whose weights are all frozen (trainable=False)" if any(True for _ in self.model.parameters()) \
                else "which has no weights"
            raise ValueError(
                f"fit: expected a model with trainable weights to update, got model '{self.model.name}', "
                f"{frozen}. Fix: add a layer with weights (Dense, say), set trainable=True on the "
                "layers to train, or compute the loss without training: model.evaluate(x, y)."
            )
        if not self.optimizer.built:
            self.optimizer.build(self.model.parameters(), graph_safe=self.wants_graphs,
                                 constraints=constraints.of_model(self.model))
        else:
            self._refuse_weights_unfrozen_after_build()

    def _refuse_weights_unfrozen_after_build(self) -> None:
        """Refuse weights made trainable after the optimizer was built for the others:
        it would silently leave them as they are (Keras 3 refuses them too)."""
        known = {id(p) for group in self.optimizer.torch_optimizer.param_groups for p in group["params"]}
        unfrozen = [getattr(m, "name", type(m).__name__) for m in self.model.modules()
                    if any(p.requires_grad and id(p) not in known for p in m.parameters(recurse=False))]
        if unfrozen:
            raise ValueError(
                f"fit: expected the trainable weights the optimizer was built for at the first fit after compile, "
                f"got trainable weights it was not built for (made trainable, or added, since then) in layer(s) "
                f"{', '.join(map(repr, unfrozen))}; the optimizer would leave them unchanged. Fix: compile again "
                "after changing trainable or adding layers, with a new optimizer, "
                "model.compile(optimizer=brainnet.optimizers.Adam(1e-5), loss=...)."
            )

    @property
    def fused(self) -> bool:
        return not self.multi_output and self.loss is not None and self.loss.can_fuse(
            self.model.output_activation_name
        )

    # ------------------------------------------------------------- steps
    def _model_input(self, xs: list[torch.Tensor]) -> Any:
        if self.input_structure is not None:  # a subclassed model's dict or nested lists of inputs
            return structured.rebuilt(self.input_structure, xs)
        if self.model.takes_text():  # its text layers hand on what text_inputs.vectorized made
            xs = text_inputs.model_input(self.model, xs)
        return xs if isinstance(self.model.input_shape, list) else xs[0]

    def _forward_loss(
        self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: Sequence[torch.Tensor] = (),
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Total loss, per-output losses, and the predictions the metrics see
        (logits when the metrics give the same result on them).

        ``sws``: each output's sample weights for the batch, or none (``()``:
        the plain mean, no multiplication). Weighted, each output's loss is
        Σ_i w_i · L_i / N, Keras's "sum_over_batch_size".

        The total includes the regularization penalties, ``Σ model.losses``
        (as Keras 3, in fit and in evaluate); per-output losses do not."""
        head = self.heads[0]
        activation = None if self.multi_output or self.loss is None else self.model.output_activation_name
        if activation is not None and self.loss.can_fuse(activation):  # self.fused, the name looked up once
            logits = self.model(self._model_input(xs), pre_activation=True)
            loss = head.loss.from_logits_mean(ys[0], logits, sws[0] if sws else None)
            if head.weight != 1.0:  # loss_weights on a single output scales its loss, as Keras
                loss = loss * head.weight
            if not all(m.argmax_invariant for m in head.metrics + head.weighted_metrics):
                logits = self.model.output_activation(logits)
            return self._regularized(loss), [loss], [logits]
        preds = self.model(self._model_input(xs))
        preds = _listed(preds)
        weights = sws if sws else [None] * len(self.heads)
        # An output compiled without a loss (loss=[loss_fn, None]) adds nothing: a 0 in its place.
        losses = [p.new_zeros(()) if h.loss is None else h.loss(y, p) if w is None else h.loss(y, p, sample_weight=w)
                  for h, y, p, w in zip(self.heads, ys, preds, weights)]
        terms = [l * h.weight if self.multi_output or h.weight != 1.0 else l
                 for h, l in zip(self.heads, losses) if h.loss is not None]
        total = terms[0] if terms else preds[0].new_zeros(())  # no loss compiled: only model.losses count
        for term in terms[1:]:
            total = total + term
        return self._regularized(total), losses, preds

    def has_penalties(self) -> bool:
        """Whether any layer of the model has a weight or activity regularizer, or adds losses in call."""
        self._late_adders = _added_losses.LATE_ADDERS[0]
        _added_losses.mark_loss_scopes(self.model, Layer)  # a layer that adds losses late: the model collects them
        return any(
            isinstance(m, Layer) and (m.activity_regularizer is not None or m._adds_losses
                                      or any(r is not None for r in m.weight_regularizers().values()))
            for m in self.model.modules()
        )

    def _regularized(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss + Σ model.losses`` (the weight and activity penalties). The
        layers are searched for penalties once per fit/evaluate
        (``self.penalized``), not at every step."""
        if not self.penalized:
            if self._late_adders == _added_losses.LATE_ADDERS[0]:
                return loss
            self.penalized = self.has_penalties()  # a layer's call just added its first loss from a helper
            if not self.penalized:
                return loss
        penalties = self.model.losses
        if not penalties:
            return loss
        # A penalty is a scalar; what add_loss got may be any tensor, which counts by its sum (Keras 3).
        return loss + torch.stack([p if p.dim() == 0 else p.sum() for p in penalties]).sum()

    def _record(self, loss: torch.Tensor, losses: list[torch.Tensor], preds: list[torch.Tensor],
                ys: list[torch.Tensor], sws: Sequence[torch.Tensor] = ()) -> None:
        """Add a batch to the running means: the losses count once per sample
        (Keras: a batch's loss weighs its size, weighted or not), ``metrics``
        ignore sample weights, ``weighted_metrics`` use them (Keras 3)."""
        n = ys[0].shape[0]
        with torch.no_grad():
            self.loss_tracker.update_state(loss.detach(), n)
            tracked = self.tracked_heads
            for i, (head, l, p, y) in enumerate(zip(self.heads, losses, preds, ys)):
                if head in tracked:
                    head.tracker.update_state(l.detach(), n)
                for m in head.metrics:
                    m.update_state(y, p.detach())
                for m in head.weighted_metrics:
                    m.update_state(y, p.detach(), sws[i] if sws else None)

    def _weighted_metrics(self) -> bool:
        """Whether any output has weighted metrics (whose counts, Σ w, sample weights make data)."""
        return any(h.weighted_metrics or h.weighted_specs for h in self.heads)

    def trackers(self) -> list[metrics_module.Metric]:
        """Every running mean an epoch's logs are read from (each a total and a
        count): the loss, then per output its loss, its metrics and its weighted metrics
        (none yet before the first labels resolve them: evaluate on batches right after compile)."""
        return [self.loss_tracker] + [m for h in self.heads
                                      for m in [h.tracker, *(h.metrics or ()), *(h.weighted_metrics or ())]]

    def train_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor],
                   sws: Sequence[torch.Tensor] = ()) -> torch.Tensor:
        """One optimizer step on one batch (``sws``: its sample weights per
        output, or none); returns the batch's loss (on the device)."""
        self.optimizer.zero_grad()
        forward = self._step_forward()
        with self.autocast():
            loss, losses, preds = forward(xs, ys, sws)
        loss.backward()
        self.parallel.reduce_gradients()  # under torchrun: the global batch's gradient
        self.optimizer.step()
        self._record(loss, losses, preds, ys, sws)
        return loss.detach()

    def _reset(self) -> None:
        for m in self.trackers() + layer_metrics(self.model):  # and the metrics layers keep (Keras 3 resets them)
            m.reset_state()

    def running_logs(self) -> dict[str, float]:
        """Loss and metrics so far in this epoch (reads them from the device).

        One output: ``loss`` and the metric names. Several: ``loss`` (the
        weighted total), ``<output>_loss`` each, ``<output>_<metric>`` each.
        Weighted metrics come last, named as Keras 3 names them (with
        ``weighted_`` before the metric's name when a metric has it already).
        """
        return {name: metrics_module.result_number(metric) for name, metric in self.logged()}

    def logged(self, kept: bool = True) -> list[tuple[str, metrics_module.Metric]]:
        """(name, metric) of each value in the logs, in their order (``model.metrics_names``):
        the compiled ones, then (``kept``) the metrics the model and its layers keep as
        attributes and update in call (``layer.metrics``, by their own names, as Keras 3).
        Before the first fit or evaluate resolves the metrics (``"accuracy"``
        picks its variant from the labels), they are named as compile gave them."""
        def metrics_of(h: Any) -> list[metrics_module.Metric]:
            return h.metrics if h.metrics is not None else [metrics_module.get(m, h.loss) for m in h.metric_specs]

        def weighted_of(h: Any) -> list[metrics_module.Metric]:
            if h.weighted_metrics is not None:
                return h.weighted_metrics
            return [metrics_module.get(m, h.loss) for m in h.weighted_specs]

        def prefix(h: Any) -> str:
            return f"{h.name}_" if self.multi_output else ""

        pairs: list[tuple[str, metrics_module.Metric]] = [("loss", self.loss_tracker)]
        pairs += [(h.tracker.name, h.tracker) for h in self.tracked_heads]
        pairs += [(f"{prefix(h)}{m.name}", m) for h in self.heads for m in metrics_of(h)]
        taken = {name for name, _ in pairs}
        for h in self.heads:
            for m in weighted_of(h):
                name = f"{prefix(h)}{m.name}"
                pairs.append((f"{prefix(h)}weighted_{m.name}" if name in taken else name, m))
                taken.add(pairs[-1][0])
        if kept:
            pairs += [(m.name, m) for m in layer_metrics(self.model)]
        return pairs

    def _start(self, initial_epoch: int) -> tuple[dict[str, int], torch.Tensor | None]:
        """Where fit's loop begins: ``initial_epoch``, or where a restored
        backup (``resume_from``) says, with that epoch's permutation and
        place in the pass over the arrays (``pass_start``)."""
        resume, self.resume_from = self.resume_from, None
        if resume is None:
            return {"epoch": initial_epoch, "step": 0, "pass_start": 0}, None
        return {"epoch": resume["epoch"], "step": resume["step"], "pass_start": resume["pass_start"]}, resume["order"]

    # ---------------------------------------- plain functions, bound as methods
    # Each takes the trainer as its first argument; see its module.
    _step_forward = jit.step_forward  # _forward_loss, or its torch.compile
    _model_tensors = jit.model_tensors
    _cuda_generators = jit.cuda_generators

    _inputs = prepare.inputs
    _labels = prepare.labels
    _prepare = prepare.arrays
    _sample_weights = prepare.sample_weights
    _weights_on_device = prepare.weights_on_device
    _class_weights = prepare.class_weights

    fit = fitting.fit
    validation = fitting.validation
    validation_logs = fitting.validation_logs
    train_on_batch = fitting.train_on_batch

    evaluate = inference.evaluate
    test_on_batch = inference.test_on_batch
    predict = inference.predict
    predict_on_batch = inference.predict_on_batch
    gathered = inference.gathered
