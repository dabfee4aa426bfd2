"""fit, evaluate and predict on data that comes in batches, beside the array path.

The batches come from a DataLoader, a Dataset, a ``PyDataset`` or a
generator (``sources.py``). Each batch is ``x``, ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)`` (a list works as a tuple, a dict is ``x`` keyed by
Input names), and goes through the same checks as arrays
(``prepare.inputs``, ``labels``, ``sample_weights``), then to the model's
device (``non_blocking``, which overlaps the copy when the loader pins
memory).

Training runs the eager step (compiled with ``torch.compile`` under
``jit_compile=True``; a smaller last batch compiles once more), never the
CUDA graph, which replays a step over arrays held on the device. The array
path (``fitting.py``, ``inference.py``) is untouched by any of this.

Under torchrun (PyTorch's recipe): each process reads its own part of a
DataLoader over a ``DistributedSampler`` (``sources.py``). Every process
must read as many batches of the same size per epoch (checked once at the
start: a mismatch would leave the gradients' all-reduce waiting); each
gradient then weighs 1 / W, and the step, the sums behind the logs and the
stops are the array path's (``distributed.DataParallel``). The sampler
pads the samples to a multiple of W by repeating the first ones: training
counts them as PyTorch's recipe does, evaluation leaves each process's
repeated last sample out, so its results are those of the samples
themselves. ``predict`` runs in each process on what its loader reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .. import _malloc, distributed
from . import cpu_threads, prepare
from ._modes import batch_hooks_infer, callbacks_infer
from .callbacks import BatchLogs, Callback, History, overrides_batch_hooks, predict_batches, test_batch_end
from .devices import cudnn_autotune, move_to
from .prepare import DEFAULT_BATCH_SIZE, DEFAULT_INFERENCE_BATCH_SIZE
from .sources import BatchSource, PyDataset, check_steps, close, is_batch_source, source_kind
from .stopping import CtrlC, begin_fit, check_finite_loss, end_of_fit, warn_interrupted

# The public names; the sources' (BatchSource ... source_kind) are defined in sources.py.
__all__ = ["BatchSource", "PyDataset", "check_steps", "close", "is_batch_source", "source_kind",
           "prepare_batch", "refuse_with_source", "fit", "evaluate_source", "evaluate", "predict"]


def _split(batch: Any, method: str) -> tuple[Any, Any, Any]:
    """A batch as (x, y, sample_weight), the missing ones None."""
    if isinstance(batch, dict) or isinstance(batch, (torch.Tensor, np.ndarray)):
        return batch, None, None
    if isinstance(batch, (list, tuple)) and 1 <= len(batch) <= 3:
        x, y, w = tuple(batch) + (None,) * (3 - len(batch))
        return x, y, w
    got = (f"a {type(batch).__name__} of {len(batch)} elements" if isinstance(batch, (list, tuple))
           else f"a {type(batch).__name__}")
    raise ValueError(
        f"{method}: expected each batch as x, (x,), (x, y) or (x, y, sample_weight), got {got}. Fix: make the "
        "dataset's __getitem__ (or the generator) return (x, y), with several inputs as ((x_a, x_b), y)."
    )


def prepare_batch(trainer: Any, batch: Any, method: str, class_weight: Any = None) -> Any:
    """A batch checked as arrays are and moved to the device: ``xs`` for
    predict, else ``(xs, ys, sample weights)``."""
    x, y, w = _split(batch, method)
    xs = prepare.inputs(trainer, x)
    if method == "predict":
        return xs
    if y is None and any(h.loss is not None or h.metric_specs or h.weighted_specs for h in trainer.heads):
        raise ValueError(
            f"{method}: expected batches (x, y) or (x, y, sample_weight), got batches of inputs only, so there "
            "are no labels to compute the loss with. Fix: make the dataset return (x, y) pairs, e.g. "
            "TensorDataset(x, y)."
        )
    ys = prepare.labels(trainer, y, xs)
    sws = [] if w is None else prepare.sample_weights(trainer, w, ys[0].shape[0], "sample_weight")
    return xs, ys, prepare.class_weights(trainer, class_weight, xs, ys, sws, method)


def refuse_with_source(method: str, name: str, y: Any, sample_weight: Any, validation_split: float = 0.0) -> None:
    """Arguments Keras 3 refuses next to a DataLoader or generator (the batches carry them)."""
    for arg, value, what in (("y", y, "labels"), ("sample_weight", sample_weight, "sample weights")):
        if value is not None:
            raise ValueError(
                f"{method}: expected {arg}=None with x a {name}, whose batches carry the {what}, got {arg} as a "
                f"{type(value).__name__}. Fix: make each batch (x, y) or (x, y, sample_weight) and call "
                f"model.{method}(loader)."
            )
    if validation_split:
        raise ValueError(
            f"fit: expected validation_split=0 with x a {name} (Keras refuses it too: the samples cannot be "
            f"counted and cut before training), got validation_split={validation_split}. Fix: pass "
            "validation_data=val_loader, a loader over held-out samples (e.g. from torch.utils.data.random_split)."
        )


# ------------------------------------------------------------------ fit
def fit(trainer: Any, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
        callbacks: list[Callback] | None, validation_split: float, validation_data: Any, shuffle: bool,
        initial_epoch: int, sample_weight: Any, class_weight: Any, steps_per_epoch: Any,
        validation_steps: Any, validation_freq: int | list[int] = 1) -> History:
    """``Trainer.fit`` for a batch source ``x`` (``validation_freq`` checked by ``fitting.fit``)."""
    source = BatchSource(x, "fit", batch_size, DEFAULT_BATCH_SIZE, shuffle, check_steps(steps_per_epoch, "steps_per_epoch"),
                         "steps_per_epoch", epoch=initial_epoch)
    refuse_with_source("fit", source.name, y, sample_weight, validation_split)
    val = trainer.validation(validation_data, validation_steps, batch_size)  # Keras 3: fit's batch_size, if given
    try:
        return _fit(trainer, source, val, validation_freq, epochs, verbose, callbacks, initial_epoch, class_weight)
    finally:
        close(source, val)  # a PyDataset's loading workers stop with fit, however it ends


def _fit(trainer: Any, source: BatchSource, val: Any, validation_freq: int | list[int], epochs: int, verbose: Any,
         callbacks: list[Callback] | None, initial_epoch: int, class_weight: Any) -> History:
    source.pin_memory = trainer.device.type == "cuda"
    prepare_batch(trainer, source.peek(), "fit", class_weight)  # builds the model, checks the first batch
    trainer.build_optimizer()
    if trainer.device.type == "cpu":
        _malloc.keep_freed_memory()
    trainer.parallel.start(trainer, None)
    batch_size = source.batch_size
    if trainer.parallel.world > 1:
        _same_batches(trainer.parallel, source)
        batch_size = batch_size * trainer.parallel.world if batch_size else None  # the global batch, as arrays'
    trainer.penalized = trainer.has_penalties()

    steps = source.steps_per_epoch  # None: unknown until the pass ends
    verbose = (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
              "validation_freq": validation_freq}
    cbs, history = begin_fit(trainer, callbacks, verbose, params)
    trainer.loop_info = {"source": source.name, "batch_size": batch_size, "steps": steps,
                         "shuffle": source.shuffle}

    with CtrlC() as ctrl_c, cudnn_autotune(trainer.device), cpu_threads.follow_load(trainer.device):
        try:
            with callbacks_infer(trainer.model):  # a callback's self.model(x) infers, as in Keras 3
                for cb in cbs:
                    cb.on_train_begin({})
            _epochs(trainer, source, val, validation_freq, epochs, initial_epoch, class_weight, cbs, ctrl_c)
        except KeyboardInterrupt:
            warn_interrupted(trainer, epochs)
    return end_of_fit(history, cbs, trainer)


def _same_batches(parallel: distributed.DataParallel, source: BatchSource) -> None:
    """Under torchrun: refuse loaders that would give the processes
    different numbers or sizes of batches (a process with a batch more would
    wait for ever in the gradients' all-reduce); with equal batches each
    process's gradient weighs 1 / W.

    Raises:
        ValueError: the processes' loaders differ.
    """
    s = source.sampler
    every = parallel.gather_ints([source.steps_per_epoch or 0, source.batch_size or 0, len(s),
                                  int(source.data.drop_last)])
    if len(set(every)) > 1:
        got = ", ".join(f"rank {r}: {steps} batches of {size} from {n} samples{' (drop_last)' if drop else ''}"
                        for r, (steps, size, n, drop) in enumerate(every))
        raise ValueError(
            f"fit: expected every process to read as many batches of the same size per epoch (each step "
            f"all-reduces the gradients once), got {got}. Fix: give every process the same dataset and the same "
            "DataLoader(batch_size=...) and steps_per_epoch; DistributedSampler then pads each part to the same "
            "count (or drops the rest with drop_last=True)."
        )
    parallel.weight = 1.0 / parallel.world


def _epochs(trainer: Any, source: BatchSource, val: Any, validation_freq: int | list[int], epochs: int,
            initial_epoch: int, class_weight: Any, cbs: list[Callback], ctrl_c: CtrlC) -> None:
    from .fitting import validates  # here: fitting.py imports this module

    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
    parallel = trainer.parallel  # under torchrun: the stops agreed and the sums added as on the array path
    start, _ = parallel.same_start(trainer, *trainer._start(initial_epoch))
    for epoch in range(start["epoch"], epochs):
        with callbacks_infer(trainer.model):
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
        first = start["step"] if epoch == start["epoch"] else 0  # a backup made mid-epoch: skip what was done
        if first == 0:
            trainer._reset()
        trainer.model.train()
        trainer.position = (epoch, first)
        losses = []
        hooks_mode = batch_hooks_infer(trainer.model, batch_cbs)
        for step, batch in enumerate(source.epoch(epoch)):
            cpu_threads.tick()
            if step < first:
                continue
            if batch_cbs:
                with hooks_mode():
                    for cb in batch_cbs:
                        cb.on_train_batch_begin(step, {})
            losses.append(trainer.train_step(*prepare_batch(trainer, batch, "fit", class_weight)))
            trainer.position = (epoch, step + 1)
            if batch_cbs:
                logs = BatchLogs(trainer.running_logs)
                with hooks_mode():
                    for cb in batch_cbs:
                        cb.on_train_batch_end(step, logs)
            if parallel.stop_requested(trainer, ctrl_c):
                break
        parallel.agree_stop(trainer, ctrl_c)
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        if not losses:  # an iterator that ran out as this epoch began
            break
        if not trainer.stop_training:
            check_finite_loss(torch.stack(losses), first, epoch, epochs, source.steps_per_epoch or first + len(losses))
        parallel.end_epoch(trainer)
        logs = trainer.running_logs()
        if val is not None and validates(validation_freq, epoch):
            logs.update({f"val_{k}": v for k, v in trainer.validation_logs(val, cbs).items()})
        with callbacks_infer(trainer.model):
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
        parallel.agree_stop(trainer, ctrl_c)
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        if trainer.stop_training or source.exhausted:
            break


# ------------------------------------------------------------ evaluate
@torch.no_grad()
def evaluate_source(trainer: Any, source: BatchSource, cbs: list[Callback]) -> dict[str, float]:
    """The loss and metrics over the source's batches (one pass, or ``steps``)."""
    from .inference import inference_layers  # here: inference.py imports this module

    for cb in cbs:
        cb.on_test_begin({})
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb, "test")]
    trainer.penalized = trainer.has_penalties()
    trainer._reset()
    repeated = source.pads_last_sample
    with inference_layers(trainer.model):
        for step, batch in enumerate(source.epoch()):
            cpu_threads.tick()
            for cb in batch_cbs:
                cb.on_test_batch_begin(step, {})
            xs, ys, sws = prepare_batch(trainer, batch, "evaluate")
            if repeated and source.at_pass_end:  # the DistributedSampler's padding: counted once, elsewhere
                xs, ys, sws = ([t[:-1] for t in ts] for ts in (xs, ys, sws))
            if ys[0].shape[0] > 0:
                with trainer.autocast():
                    trainer._record(*trainer._forward_loss(xs, ys, sws), ys, sws)
            test_batch_end(batch_cbs, step, trainer.running_logs)
    trainer.parallel.sum_metrics(trainer)  # under torchrun: every process's parts
    logs = trainer.running_logs()
    for cb in cbs:
        cb.on_test_end(logs)
    return logs


def evaluate(trainer: Any, x: Any, y: Any, batch_size: int | None, callbacks: list[Callback] | None,
             sample_weight: Any, steps: Any) -> dict[str, float]:
    """``Trainer.evaluate`` for a batch source ``x``."""
    source = BatchSource(x, "evaluate", batch_size, DEFAULT_INFERENCE_BATCH_SIZE, False,
                         check_steps(steps, "steps"), "steps")
    refuse_with_source("evaluate", source.name, y, sample_weight)
    try:
        source.peek()
        move_to(trainer.model, trainer.device)
        trainer.parallel.start(trainer, None, broadcast=False)  # under torchrun: each process its part
        with cudnn_autotune(trainer.device), cpu_threads.follow_load(trainer.device):
            return evaluate_source(trainer, source, list(callbacks or []))
    finally:
        source.close()


# ------------------------------------------------------------- predict
@torch.no_grad()
def predict(trainer: Any, x: Any, batch_size: int | None, steps: Any, cbs: list[Callback] = ()) -> Any:
    """``Trainer.predict`` for a batch source ``x``: the outputs of every
    batch's inputs (labels in the batches are ignored, as Keras does)."""
    from .inference import inference_layers  # here: inference.py imports this module

    source = BatchSource(x, "predict", batch_size, DEFAULT_INFERENCE_BATCH_SIZE, False,
                         check_steps(steps, "steps"), "steps")
    source.peek()
    move_to(trainer.model, trainer.device)

    def run(batch: Any) -> Any:
        cpu_threads.tick()
        xs = prepare_batch(trainer, batch, "predict")
        with trainer.autocast():
            return trainer.model(trainer._model_input(xs))

    try:
        with cudnn_autotune(trainer.device), inference_layers(trainer.model), cpu_threads.follow_load(trainer.device):
            chunks = predict_batches(list(cbs), source.epoch(), run)
    finally:
        source.close()
    return trainer.gathered(chunks)
