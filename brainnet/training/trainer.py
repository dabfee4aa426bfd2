"""The loop behind ``fit``, ``evaluate`` and ``predict``.

Speed by design: the arrays move to the device once; each epoch draws one
random permutation and a batch is an ``index_select`` of it (no Python loop
over samples, no DataLoader); one step is one forward, one backward and one
optimizer step; loss and metrics accumulate on the device and are read once
per epoch (and at most ten times a second for the progress bar). When the
model ends in softmax (or sigmoid) and the loss takes probabilities, the
loss runs on the logits instead (log-softmax cross-entropy).

On a GPU (or wherever it pays): under ``mixed_precision`` policy
``"mixed_bfloat16"`` the forward pass runs under ``torch.autocast`` in
bfloat16; ``compile(jit_compile=True)`` on CUDA captures the whole training
step (forward, loss, backward, fused optimizer update) as one CUDA graph and
replays it for every full batch, the batch's gathering and the metrics'
running sums included (``graphs.py``); elsewhere (CPU, or an
optimizer without a fused CUDA update) it compiles the forward pass and loss
with ``torch.compile``. The optimizers use PyTorch's fused update kernels on CUDA and on the CPU.
On CUDA, fit, evaluate and predict let cuDNN autotune its convolution
algorithms (``cudnn_autotune``). Convolutions run in channels-last memory format
(the layout of Keras's (N, H, W, C) arrays), so no transposing copy is made.

DataLoaders, Datasets, PyDatasets and generators go to ``streaming.py``
(batch by batch, eager or torch.compile'd steps); the loop here is for arrays.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .. import _malloc, constraints, distributed
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import mixed_precision
from .. import optimizers as optimizers_module
from ..layers.base import Layer, check_model_input
from . import data as data_module
from . import streaming, text_inputs
from .callbacks import BatchLogs, Callback, History, ProgressBar, overrides_batch_hooks
from .graphs import CudaGraphStep
from .outputs import make_heads
from .stopping import CtrlC, check_finite_loss

DEFAULT_BATCH_SIZE = 32  # Keras's default for fit
DEFAULT_INFERENCE_BATCH_SIZE = 256  # evaluate/predict: larger batches, same results


def default_device() -> torch.device:
    """CUDA when available, else CPU; ``$BRAINNET_DEVICE`` overrides."""
    import os

    name = os.environ.get("BRAINNET_DEVICE")
    if name:
        return resolve_device(name)
    return distributed.local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``/"auto"/"cpu"/"cuda"/"cuda:1"/"mps" into a usable device."""
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}. "
            "Fix: device='cpu'."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: expected a device this machine has, got {device!r} but CUDA is not "
            "available here. Fix: device='cpu' (or 'auto')."
        )
    return distributed.local_device(dev)  # under torchrun "cuda" is cuda:LOCAL_RANK


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
        self.loop_info: dict[str, Any] = {}  # samples, batch_size, steps, shuffle of that fit
        self.epoch_order: torch.Tensor | None = None  # this epoch's permutation of the samples
        self.resume_from: dict[str, Any] | None = None  # set by BackupAndRestore.on_train_begin
        self.interrupted = False  # the last fit was stopped by Ctrl-C
        self.position = (0, 0)  # (epoch, batches of it done) of the fit in progress
        self.penalized = True  # any regularizer in the model? (set by fit/evaluate; True: look every step)
        self.policy = mixed_precision.global_policy()  # taken at compile, as Keras's layers take it
        self.jit_compile = _check_jit_compile(jit_compile)
        self._compiled_forward: Any = None  # torch.compile of _forward_loss, made at the first step
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

    def _step_forward(self) -> Any:
        """``_forward_loss``, compiled when ``jit_compile=True`` (made once)."""
        if not self.compiled:
            return self._forward_loss
        if self._compiled_forward is None:
            import torch._dynamo

            # One compiled graph per model and batch shape; a program (or a test
            # suite) that compiles many models needs more than the default 8.
            if getattr(torch._dynamo.config, "recompile_limit", 64) < 64:
                torch._dynamo.config.recompile_limit = 64
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._compiled_forward = torch.compile(self._forward_loss, mode=mode, dynamic=False)
        if self.device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()  # the last step's outputs are read
        return self._compiled_forward

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

    # ----------------------------------------------------------- set-up
    def _inputs(self, x: Any) -> list[torch.Tensor]:
        texts = text_inputs.vectorized(self, x)  # a model that takes strings: its text layers, applied once
        if texts is not None:
            return texts
        expected = self.model.input_shape
        multi = isinstance(expected, list)
        names = [t.name for t in getattr(self.model, "inputs", [])] if multi and isinstance(x, dict) else []
        if names:  # Keras 3: inputs keyed by the Inputs' names
            missing = [n for n in names if n not in x]
            if missing or len(x) != len(names):
                raise ValueError(
                    f"x: expected a dict with one array per Input, keyed {names}, got keys {list(x)}. "
                    f"Fix: model.fit({{{', '.join(f'{n!r}: ...' for n in names)}}}, y), or Input(name=...) "
                    "to name the inputs as your dict does."
                )
            x = [x[n] for n in names]
        if multi and len(expected) == 1 and not isinstance(x, (list, tuple, dict)):
            x = [x]  # Model(inputs=[inp], ...): one array for the one input, as Keras 3 takes it
        if multi and not isinstance(x, (list, tuple)):
            raise ValueError(
                f"x: the model has {len(expected)} inputs, expected a list of {len(expected)} "
                f"arrays, got one {type(x).__name__}. Fix: model.fit([x_a, x_b], y)."
            )
        given = list(x) if multi else [x]
        if multi and len(given) != len(expected):
            raise ValueError(
                f"x: expected {len(expected)} arrays (one per model input), got {len(given)}. "
                "Fix: pass one array per Input, in the order of Model(inputs=[...])."
            )
        tensors = []
        for i, (xi, dtype) in enumerate(zip(given, self.model.input_dtypes(len(given)))):
            t = data_module.as_tensor(xi, f"x[{i}]" if multi else "x")
            if expected is not None:
                check_model_input(tuple(t.shape), expected[i] if multi else expected)
            data_module.check_finite(t)
            if dtype is not None:
                data_module.check_indices(t, f"x[{i}]" if multi else "x")
            tensors.append(t)
        for t in tensors[1:]:
            data_module.check_same_length(tensors[0], t)
        if not self.model.built:
            shapes = [(None,) + tuple(t.shape[1:]) for t in tensors]
            self.model.build_from_shape(shapes if multi else shapes[0])
        dtypes = self.model.input_dtypes(len(tensors))
        return [
            t.to(self.device, dtype or self.model.dtype, non_blocking=True) for t, dtype in zip(tensors, dtypes)
        ]

    def _labels(self, y: Any, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if any(h.loss is None for h in self.heads):
            raise ValueError(
                "compile: expected a loss, got loss=None. "
                "Fix: model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')."
            )
        names = [h.name for h in self.heads]
        if isinstance(y, dict):
            missing = [n for n in names if n not in y]
            if missing:
                raise ValueError(
                    f"y: expected labels for outputs {names}, got none for {missing}. "
                    "Fix: y={name: labels, ...} with every output name."
                )
            given = [y[n] for n in names]
        elif self.multi_output:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise ValueError(
                    f"y: the model has {len(names)} outputs {names}, expected a list of "
                    f"{len(names)} label arrays. Fix: model.fit(x, [y_a, y_b]) or y={{name: labels}}."
                )
            given = list(y)
        else:
            given = [y]
        out_shapes = self._output_shapes(xs)
        labels = []
        for head, yi, shape in zip(self.heads, given, out_shapes):
            t = data_module.as_tensor(yi, "y" if not self.multi_output else f"y[{head.name!r}]")
            data_module.check_same_length(xs[0], t)
            t = data_module.prepare_labels(t, head.loss, shape)
            head.resolve_metrics(shape[-1], t.dim() < len(shape))
            labels.append(t.to(self.device, non_blocking=True))
        return labels

    def _output_shapes(self, xs: list[torch.Tensor]) -> list[tuple]:
        """The shape of each model output (batch axis first) for inputs ``xs``."""
        in_shapes = [(None,) + tuple(t.shape[1:]) for t in xs]
        if self.model.takes_text():  # xs hold the text layers' outputs (text_inputs): the model's own input shapes
            shapes = self.model.input_shape
            in_shapes = list(shapes) if isinstance(shapes, list) else [shapes]
        out_shapes = self.model.compute_output_shape(in_shapes if len(xs) > 1 else in_shapes[0])
        return out_shapes if isinstance(out_shapes, list) else [out_shapes]

    def _prepare(self, x: Any, y: Any, sample_weight: Any = None, what: str = "sample_weight",
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Inputs, labels and sample weights (one tensor per output, or
        none at all: ``[]``) on the device."""
        xs = self._inputs(x)
        ys = self._labels(y, xs)
        return xs, ys, self._sample_weights(sample_weight, ys[0].shape[0], what)

    def _sample_weights(self, sample_weight: Any, samples: int, what: str) -> list[torch.Tensor]:
        """``sample_weight`` as one weight tensor (N,) per output on the device,
        as Keras takes it: one array for every output, or (several outputs) a
        list or a dict keyed by output name with one array each; ``[]`` for None."""
        if sample_weight is None:
            return []
        names = [h.name for h in self.heads]
        if isinstance(sample_weight, dict):
            if sorted(map(str, sample_weight)) != sorted(names):
                raise ValueError(
                    f"{what}: expected one array per output, keyed by the output names {names}, got keys "
                    f"{list(sample_weight)}. Fix: {what}={{{', '.join(f'{n!r}: w' for n in names)}}}, or one "
                    "array for every output."
                )
            given, labels = [sample_weight[n] for n in names], [f"{what}[{n!r}]" for n in names]
        elif self.multi_output and isinstance(sample_weight, (list, tuple)) and sample_weight \
                and all(np.ndim(w) > 0 if not isinstance(w, torch.Tensor) else w.dim() > 0 for w in sample_weight):
            if len(sample_weight) != len(names):
                raise ValueError(
                    f"{what}: expected one array per output ({len(names)}: {names}) or one array for every "
                    f"output, got a list of {len(sample_weight)} arrays. Fix: give {len(names)} arrays in the "
                    "order of the outputs, or a dict keyed by output name."
                )
            given, labels = list(sample_weight), [f"{what}[{i}]" for i in range(len(names))]
        else:  # one array, the same weights for every output
            weights = data_module.prepare_sample_weight(sample_weight, samples, what)
            return [self._weights_on_device(weights)] * len(names)
        return [self._weights_on_device(data_module.prepare_sample_weight(w, samples, label))
                for w, label in zip(given, labels)]

    def _weights_on_device(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights in the loss's float type (float64 only for a float64 model)."""
        dtype = torch.float64 if self.model.dtype == torch.float64 else torch.float32
        return weights.to(self.device, dtype, non_blocking=True)

    def _class_weights(self, class_weight: Any, xs: list[torch.Tensor], ys: list[torch.Tensor],
                       sws: list[torch.Tensor], method: str) -> list[torch.Tensor]:
        """``class_weight`` turned into sample weights (Keras 3: not together
        with sample_weight, and for one output only)."""
        if class_weight is None:
            return sws
        if sws:
            raise ValueError(
                f"{method}: expected sample_weight or class_weight, got both (Keras 3 refuses them together "
                "too). Fix: fold the class weights into the sample weights, e.g. "
                "sample_weight = w * np.array([class_weight[c] for c in y]), and drop class_weight."
            )
        if self.multi_output:
            raise ValueError(
                f"class_weight: expected a model with one output (as Keras), got {len(self.heads)} outputs "
                f"{[h.name for h in self.heads]}. Fix: pass sample_weight={{output name: weights}} with "
                "each output's per-sample weights, e.g. made from its labels."
            )
        return [self._weights_on_device(data_module.class_sample_weights(class_weight, ys[0],
                                                                         self._output_shapes(xs)[0]))]

    def build_optimizer(self) -> None:
        """Move the model to the device and create the torch optimizer (once)."""
        self.model.to(self.device)
        if self.optimizer is None:
            raise ValueError(
                "fit: expected a compiled model, got one without an optimizer. "
                "Fix: model.compile(optimizer='adam', loss=...) before fit."
            )
        if not self.optimizer.built:
            self.optimizer.build(self.model.parameters(), graph_safe=self.wants_graphs,
                                 constraints=constraints.of_model(self.model))

    @property
    def fused(self) -> bool:
        return not self.multi_output and self.loss is not None and self.loss.can_fuse(
            self.model.output_activation_name
        )

    # ------------------------------------------------------------- steps
    def _model_tensors(self) -> list[torch.Tensor]:
        return [*self.model.parameters(), *self.model.buffers()]

    def _cuda_generators(self) -> list[torch.Generator]:
        """The CUDA generators of seeded layers (augmentation with ``seed=``)."""
        found = (getattr(m, "_generator", None) for m in self.model.modules())
        return [g for g in found if isinstance(g, torch.Generator) and g.device.type == "cuda"]

    def _graphable_rng(self) -> bool:
        """A graph must register a seeded layer's own generator, which PyTorch
        allows since 2.5 (``CUDAGraph.register_generator_state``); before, such
        a model trains eagerly."""
        seeded = any(getattr(m, "seed", None) is not None and hasattr(m, "_generator") for m in self.model.modules())
        return not seeded or hasattr(torch.cuda.CUDAGraph, "register_generator_state")

    def _model_input(self, xs: list[torch.Tensor]) -> Any:
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
        if self.fused:
            logits = self.model(self._model_input(xs), pre_activation=True)
            loss = head.loss.from_logits_mean(ys[0], logits, sws[0] if sws else None)
            if head.weight != 1.0:  # loss_weights on a single output scales its loss, as Keras
                loss = loss * head.weight
            if not all(m.argmax_invariant for m in head.metrics + head.weighted_metrics):
                logits = self.model.output_activation(logits)
            return self._regularized(loss), [loss], [logits]
        preds = self.model(self._model_input(xs))
        preds = _listed(preds)
        if sws:
            losses = [h.loss(y, p, sample_weight=w) for h, y, p, w in zip(self.heads, ys, preds, sws)]
        else:
            losses = [h.loss(y, p) for h, y, p in zip(self.heads, ys, preds)]
        total = losses[0] * head.weight if self.multi_output or head.weight != 1.0 else losses[0]
        for h, l in zip(self.heads[1:], losses[1:]):
            total = total + h.weight * l
        return self._regularized(total), losses, preds

    def has_penalties(self) -> bool:
        """Whether any layer of the model has a weight or activity regularizer."""
        return any(
            isinstance(m, Layer) and (m.activity_regularizer is not None
                                      or any(r is not None for r in m.weight_regularizers().values()))
            for m in self.model.modules()
        )

    def _regularized(self, loss: torch.Tensor) -> torch.Tensor:
        """``loss + Σ model.losses`` (the weight and activity penalties). The
        layers are searched for penalties once per fit/evaluate
        (``self.penalized``), not at every step."""
        if not self.penalized:
            return loss
        penalties = self.model.losses
        return loss + torch.stack(penalties).sum() if penalties else loss

    def _record(self, loss: torch.Tensor, losses: list[torch.Tensor], preds: list[torch.Tensor],
                ys: list[torch.Tensor], sws: Sequence[torch.Tensor] = ()) -> None:
        """Add a batch to the running means: the losses count once per sample
        (Keras: a batch's loss weighs its size, weighted or not), ``metrics``
        ignore sample weights, ``weighted_metrics`` use them (Keras 3)."""
        n = ys[0].shape[0]
        with torch.no_grad():
            self.loss_tracker.update_state(loss.detach(), n)
            for i, (head, l, p, y) in enumerate(zip(self.heads, losses, preds, ys)):
                if self.multi_output:
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
        count): the loss, then per output its loss, its metrics and its weighted metrics."""
        return [self.loss_tracker] + [m for h in self.heads for m in [h.tracker, *h.metrics, *h.weighted_metrics]]

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
        for m in self.trackers():
            m.reset_state()

    def running_logs(self) -> dict[str, float]:
        """Loss and metrics so far in this epoch (reads them from the device).

        One output: ``loss`` and the metric names. Several: ``loss`` (the
        weighted total), ``<output>_loss`` each, ``<output>_<metric>`` each.
        Weighted metrics come last, named as Keras 3 names them (with
        ``weighted_`` before the metric's name when a metric has it already).
        """
        return {name: metric.result() for name, metric in self.logged()}

    def logged(self) -> list[tuple[str, metrics_module.Metric]]:
        """(name, metric) of each value in the logs, in their order (``model.metrics_names``).
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
        if self.multi_output:
            pairs += [(h.tracker.name, h.tracker) for h in self.heads]
        pairs += [(f"{prefix(h)}{m.name}", m) for h in self.heads for m in metrics_of(h)]
        taken = {name for name, _ in pairs}
        for h in self.heads:
            for m in weighted_of(h):
                name = f"{prefix(h)}{m.name}"
                pairs.append((f"{prefix(h)}weighted_{m.name}" if name in taken else name, m))
                taken.add(pairs[-1][0])
        return pairs

    # --------------------------------------------------------------- fit
    def fit(
        self, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
        callbacks: list[Callback] | None, validation_split: float, validation_data: Any,
        shuffle: bool, initial_epoch: int, sample_weight: Any = None, class_weight: Any = None,
        steps_per_epoch: Any = None, validation_steps: Any = None,
    ) -> History:
        if streaming.is_batch_source(x):  # a DataLoader, Dataset, PyDataset or generator: streaming.py
            if batch_size is not None:
                _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
            return streaming.fit(self, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                                 validation_data, shuffle, initial_epoch, sample_weight, class_weight,
                                 steps_per_epoch, validation_steps)
        _refuse_steps("fit", "steps_per_epoch", steps_per_epoch,
                      "fit takes whole arrays and makes ceil(N / batch_size) steps: pass x[:n], y[:n] for a shorter "
                      "epoch")
        batch_size = _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(
                f"fit: expected validation_split in [0, 1), got {validation_split!r}. "
                "Fix: validation_split=0.1 keeps the last 10% of the data for validation."
            )
        xs, ys, sws = self._prepare(x, y, sample_weight)
        val = self.validation(validation_data, validation_steps)
        if val is None and validation_split:
            total = xs[0].shape[0]
            n_val = int(total * validation_split)  # the last samples, before shuffling (Keras)
            if n_val == 0 or n_val == total:
                raise ValueError(
                    f"fit: validation_split={validation_split} of {total} samples leaves "
                    f"{n_val} for validation. Fix: use more data or a different split."
                )
            # The sample weights are split with x and y; class weights weigh the training part only (Keras 3).
            val = tuple([t[-n_val:] for t in ts] for ts in (xs, ys, sws))
            xs, ys, sws = ([t[:-n_val] for t in ts] for ts in (xs, ys, sws))
        sws = self._class_weights(class_weight, xs, ys, sws, "fit")
        self.build_optimizer()
        if self.device.type == "cpu":
            _malloc.keep_freed_memory()  # no page faults on each step's fresh tensors (see _malloc)
        self.parallel.start(self, batch_size)  # under torchrun: join, check the global batch, rank 0's weights
        self.penalized = self.has_penalties()
        if self.wants_graphs and self.optimizer.graph_safe and self.parallel.world == 1 and self._graphable_rng():
            if self.graph_step is None:  # kept across fit calls: replayed while nothing it holds changed
                self.graph_step = CudaGraphStep(self._forward_loss, self.optimizer, self.autocast, self._record,
                                                self.trackers, self._model_tensors, self._cuda_generators,
                                                self._weighted_metrics)
            self.graph_step.begin()
        else:
            self.graph_step = None

        n = xs[0].shape[0]
        steps = math.ceil(n / batch_size)
        verbose = (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0
        history = History()
        # Keras's order: the progress bar first, History last (it sees what
        # callbacks add to the logs, such as learning_rate).
        cbs = ([ProgressBar(verbose)] if verbose else []) + list(callbacks or []) + [history]
        params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
        for cb in cbs:
            cb.set_model(self.model)
            cb.set_params(params)
        self.stop_training = False
        self.interrupted = False
        history.params = params
        history.model = self.model
        self.history, self.resume_from, self.epoch_order = history, None, None
        self.loop_info = {"samples": n, "batch_size": batch_size, "steps": steps, "shuffle": bool(shuffle)}

        with CtrlC() as ctrl_c, cudnn_autotune(self.device):
            try:
                for cb in cbs:
                    cb.on_train_begin({})
                self._epochs(xs, ys, sws, val, epochs, initial_epoch, cbs, ctrl_c)
            except KeyboardInterrupt:
                self.interrupted = True
                epoch, done = self.position
                warnings.warn(
                    f"fit: interrupted (Ctrl-C) in epoch {epoch + 1}/{epochs} after {done} of {steps} "
                    f"batches. The History holds the {len(history.epoch)} finished epoch(s); the "
                    "model keeps its weights and can predict, evaluate, save or fit again.",
                    stacklevel=3,
                )
        last_logs = {k: v[-1] for k, v in history.history.items()}
        for cb in cbs:
            cb.on_train_end(last_logs)
        return history

    def validation(self, validation_data: Any, validation_steps: Any) -> Any:
        """fit's ``validation_data``: None, arrays on the device ``(xs, ys, sws)``, or a batch source."""
        if validation_data is None:
            _refuse_steps("fit", "validation_steps", validation_steps, "leave it out: there is no validation_data")
            return None
        if streaming.is_batch_source(validation_data):
            steps = streaming.check_steps(validation_steps, "validation_steps")
            return streaming.BatchSource(validation_data, "validation_data", None, DEFAULT_INFERENCE_BATCH_SIZE,
                                         False, steps, "validation_steps")
        _refuse_steps("fit", "validation_steps", validation_steps,
                      "leave it out: the whole validation arrays are evaluated after each epoch")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
                   if isinstance(validation_data, (tuple, list)) else f"a {type(validation_data).__name__}")
            raise ValueError(
                f"fit: expected validation_data as a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val), or a DataLoader, got {got}. Fix: model.fit(x, y, "
                "validation_data=(x_val, y_val))."
            )
        return self._prepare(*validation_data, what="validation_data[2]")

    def validation_logs(self, val: Any, cbs: list[Callback]) -> dict[str, float]:
        """The loss and metrics on the validation data (arrays or a batch source)."""
        if isinstance(val, streaming.BatchSource):
            return streaming.evaluate_source(self, val, cbs)
        return self._evaluate_tensors(*val, DEFAULT_INFERENCE_BATCH_SIZE, cbs)

    def _epochs(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], val: Any,
                epochs: int, initial_epoch: int, cbs: list[Callback], ctrl_c: CtrlC) -> None:
        """The epochs of fit, from ``initial_epoch`` or from a restored backup."""
        n, steps, shuffle = self.loop_info["samples"], self.loop_info["steps"], self.loop_info["shuffle"]
        batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
        losses = torch.zeros(steps, device=self.device)  # each batch's loss, checked once per epoch
        start, order = self.parallel.same_start(self, *self._start(initial_epoch))
        for epoch in range(start["epoch"], epochs):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
            first = start["step"] if epoch == start["epoch"] else 0
            if first == 0:
                self._reset()
                order = self.parallel.same_order(torch.randperm(n, device=self.device)) if shuffle else None
            self.epoch_order = order
            done = self._batches(xs, ys, sws, epoch, first, order, losses, batch_cbs, ctrl_c)
            self.parallel.agree_stop(self, ctrl_c)  # under torchrun: all processes stop, or none
            if ctrl_c.pressed:
                raise KeyboardInterrupt
            if not self.stop_training:
                check_finite_loss(losses[first:done], first, epoch, epochs, steps)
            self.parallel.end_epoch(self)  # under torchrun: sums over all processes
            logs = self.running_logs()
            if val is not None:
                val_logs = self.validation_logs(val, cbs)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
            self.parallel.agree_stop(self, ctrl_c)
            if ctrl_c.pressed:
                raise KeyboardInterrupt
            if self.stop_training:
                break

    def _batches(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], epoch: int,
                 first: int, order: torch.Tensor | None, losses: torch.Tensor, batch_cbs: list[Callback],
                 ctrl_c: CtrlC) -> int:
        """Train on the batches ``first, first+1, ...`` of one epoch until its
        end or a stop; returns the number of the epoch's batches done. The
        sample weights ``sws`` (if any) are gathered like the labels."""
        self.model.train()
        batch_size, steps = self.loop_info["batch_size"], self.loop_info["steps"]
        self.position = (epoch, first)
        for step in range(first, steps):
            for cb in batch_cbs:
                cb.on_train_batch_begin(step, {})
            # This process's part of the global batch (all of it in one process).
            batch = self.parallel.shard(step * batch_size, min((step + 1) * batch_size, self.loop_info["samples"]))
            if self.graph_step is not None:  # one process; the graph gathers the batch itself
                if order is None:
                    order = torch.arange(self.loop_info["samples"], device=self.device)
                losses[step] = self.graph_step(xs, ys, order[batch], sws)
            elif batch.stop == batch.start:  # under torchrun: no samples left for this process
                losses[step] = self.parallel.idle_step(self)
            else:
                if order is None:
                    xb, yb, wb = [t[batch] for t in xs], [t[batch] for t in ys], [t[batch] for t in sws]
                else:
                    idx = order[batch]
                    xb, yb, wb = ([t.index_select(0, idx) for t in ts] for ts in (xs, ys, sws))
                losses[step] = self.train_step(xb, yb, wb)
            self.position = (epoch, step + 1)
            if batch_cbs:
                logs = BatchLogs(self.running_logs)
                for cb in batch_cbs:
                    cb.on_train_batch_end(step, logs)
            if self.parallel.stop_requested(self, ctrl_c):
                break
        return self.position[1]

    def _start(self, initial_epoch: int) -> tuple[dict[str, int], torch.Tensor | None]:
        """Where the loop begins: ``initial_epoch``, or where a restored
        backup (``resume_from``) says, with that epoch's permutation."""
        resume, self.resume_from = self.resume_from, None
        if resume is None:
            return {"epoch": initial_epoch, "step": 0}, None
        return {"epoch": resume["epoch"], "step": resume["step"]}, resume["order"]

    # ---------------------------------------------------------- evaluate
    @torch.no_grad()
    def _evaluate_tensors(
        self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], batch_size: int,
        cbs: list[Callback],
    ) -> dict[str, float]:
        for cb in cbs:
            cb.on_test_begin({})
        self.penalized = self.has_penalties()
        self._reset()
        xs, ys, sws = self.parallel.shard_arrays(xs, ys, sws)  # under torchrun: this process's part
        with inference_layers(self.model):
            for start in range(0, xs[0].shape[0], batch_size):
                batch = slice(start, start + batch_size)
                xb, yb, wb = [t[batch] for t in xs], [t[batch] for t in ys], [t[batch] for t in sws]
                with self.autocast():
                    self._record(*self._forward_loss(xb, yb, wb), yb, wb)
        self.parallel.sum_metrics(self)
        logs = self.running_logs()
        for cb in cbs:
            cb.on_test_end(logs)
        return logs

    def evaluate(
        self, x: Any, y: Any, batch_size: int | None, verbose: Any, callbacks: list[Callback] | None,
        return_dict: bool, sample_weight: Any = None, steps: Any = None,
    ) -> float | list[float] | dict[str, float]:
        if batch_size is not None:
            _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        if streaming.is_batch_source(x):
            logs = streaming.evaluate(self, x, y, batch_size, callbacks, sample_weight, steps)
        else:
            _refuse_steps("evaluate", "steps", steps, "leave it out: evaluate goes over all of the arrays")
            xs, ys, sws = self._prepare(x, y, sample_weight)
            batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
            logs = self._evaluate_prepared(xs, ys, sws, batch_size, callbacks)
        if verbose not in (0, "0") and distributed.is_main_process():
            from .callbacks import format_logs

            print(f"evaluate - {format_logs(logs)}", flush=True)
        return _as_returned(logs, return_dict)

    def _evaluate_prepared(self, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor],
                           batch_size: int, callbacks: list[Callback] | None = None) -> dict[str, float]:
        self.model.to(self.device)
        self.parallel.start(self, None, broadcast=False)  # under torchrun: each process a part
        with cudnn_autotune(self.device):
            return self._evaluate_tensors(xs, ys, sws, batch_size, list(callbacks or []))

    # ------------------------------------------------------- one batch
    def train_on_batch(self, x: Any, y: Any, return_dict: bool, sample_weight: Any = None,
                       class_weight: Any = None) -> float | list[float] | dict[str, float]:
        """One optimizer step on exactly ``(x, y)``, in training mode; the loss
        and metrics of that batch (computed in its forward pass, before the
        update). The metrics start over at each call, as Keras 3 resets them."""
        if distributed.world_size() > 1:
            raise ValueError(
                f"train_on_batch: expected one process, got {distributed.world_size()} under torchrun; "
                "each process would step its own copy of the model on its own batch and the copies "
                "would drift apart. Fix: model.fit(x, y, batch_size=len(x), epochs=1, verbose=0) "
                "trains on the global batch in one step."
            )
        xs, ys, sws = self._prepare(x, y, sample_weight)
        sws = self._class_weights(class_weight, xs, ys, sws, "train_on_batch")
        self.build_optimizer()
        self.penalized = self.has_penalties()
        self.model.train()
        self._reset()
        with cudnn_autotune(self.device):
            self.train_step(xs, ys, sws)
        return _as_returned(self.running_logs(), return_dict)

    def test_on_batch(self, x: Any, y: Any, return_dict: bool,
                      sample_weight: Any = None) -> float | list[float] | dict[str, float]:
        """``evaluate`` on exactly ``(x, y)`` as one batch (metrics reset first)."""
        xs, ys, sws = self._prepare(x, y, sample_weight)
        return _as_returned(self._evaluate_prepared(xs, ys, sws, max(int(xs[0].shape[0]), 1)), return_dict)

    def predict_on_batch(self, x: Any) -> np.ndarray | list[np.ndarray]:
        """``predict`` on exactly ``x`` as one batch."""
        xs = self._inputs(x)
        return self._predict_tensors(xs, max(int(xs[0].shape[0]), 1))

    # ----------------------------------------------------------- predict
    def predict(self, x: Any, batch_size: int | None, steps: Any = None) -> np.ndarray | list[np.ndarray]:
        if batch_size is not None:
            _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        if streaming.is_batch_source(x):
            return streaming.predict(self, x, batch_size, steps)
        _refuse_steps("predict", "steps", steps, "leave it out: predict goes over all of the arrays")
        batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        return self._predict_tensors(self._inputs(x), batch_size)

    @torch.no_grad()
    def _predict_tensors(self, xs: list[torch.Tensor], batch_size: int) -> np.ndarray | list[np.ndarray]:
        self.model.to(self.device)
        chunks = []
        with cudnn_autotune(self.device), inference_layers(self.model):
            for start in range(0, xs[0].shape[0], batch_size):
                with self.autocast():
                    chunks.append(self.model(self._model_input([t[start:start + batch_size] for t in xs])))
        return self.gathered(chunks)

    def gathered(self, chunks: list[Any]) -> np.ndarray | list[np.ndarray]:
        """predict's result from the model's outputs for each batch: NumPy, one
        array per output (a dict by output name when the outputs were a dict)."""
        outputs = [torch.cat(parts).float().cpu().numpy() for parts in zip(*map(_listed, chunks))]
        if getattr(self.model, "_output_keys", None):  # outputs given as a dict: predict gives one
            return self.model.keyed(outputs)
        return outputs if len(outputs) > 1 else outputs[0]


def _listed(out: Any) -> list[Any]:
    """A model's output(s) as a list: a tensor, a list of them, or a dict by output name (in order)."""
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _as_returned(logs: dict[str, float], return_dict: bool) -> float | list[float] | dict[str, float]:
    """Logs as evaluate returns them: the dict, or ``[loss, *metrics]`` (the loss alone as a float)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


@contextlib.contextmanager
def inference_layers(model: torch.nn.Module) -> Any:
    """Every layer in inference mode (``eval()``: no dropout, batch normalization's
    moving statistics), then each put back as it was, so that ``predict`` and
    ``evaluate`` leave ``model(x)`` as ``train()``/``eval()`` had set it."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Any:
    """On CUDA: let cuDNN time its convolution algorithms for each new input
    shape and keep the fastest (``torch.backends.cudnn.benchmark``, as
    TensorFlow autotunes by default); the setting is put back afterwards.
    Left as it is off CUDA and when ``torch.use_deterministic_algorithms(True)``
    or ``cudnn.deterministic`` asks for reproducible kernels (autotuning may
    pick different algorithms from run to run)."""
    cudnn = torch.backends.cudnn
    if device.type != "cuda" or torch.are_deterministic_algorithms_enabled() or cudnn.deterministic:
        yield
        return
    before = cudnn.benchmark
    cudnn.benchmark = True
    try:
        yield
    finally:
        cudnn.benchmark = before


def _check_jit_compile(value: Any) -> bool | str:
    if value is True or value is False or value == "auto":
        return value
    raise ValueError(
        f"compile: expected jit_compile to be True, False or 'auto', got {value!r}. "
        "Fix: model.compile(..., jit_compile=True) to compile the training step with torch.compile."
    )


def _refuse_steps(method: str, name: str, steps: Any, fix: str) -> None:
    """Keras's steps arguments count batches of a DataLoader or generator; brainnet's array path has none."""
    if steps is not None:
        raise ValueError(
            f"{method}: expected {name}=None with arrays ({name} counts the batches of a DataLoader or "
            f"generator), got {name}={steps!r}. Fix: {fix}."
        )


def _check_batch_size(batch_size: int | None, default: int) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(
            f"batch_size: expected a positive integer, got {batch_size!r}. Fix: batch_size=32."
        )
    return int(batch_size)

