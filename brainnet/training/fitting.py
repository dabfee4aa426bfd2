"""``fit`` on arrays: the epochs, the batches, validation, and ``train_on_batch``.

The arrays move to the device once (``prepare.py``); each epoch draws one
random permutation on the device and a batch is an ``index_select`` of it
(no Python loop over samples, no DataLoader); one step is
``Trainer.train_step`` (or a replay of the CUDA graph, ``jit.py``). Each
batch's loss stays on the device and is checked once per epoch
(``stopping.check_finite_loss``). Callbacks see Keras's order of events;
those that do not override a batch hook cost nothing per batch. Under
torchrun each process takes its part of every global batch
(``distributed.DataParallel``). A restored backup (``BackupAndRestore``)
resumes mid-epoch with that epoch's permutation.

A DataLoader, Dataset, PyDataset or generator goes to ``streaming.py``
instead, which shares the validation and the start of the epochs with
this loop.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

import torch

from .. import _malloc, distributed
from ..layers._training_mode import set_mode_all
from . import cpu_threads, prepare, sources, streaming
from .callbacks import BatchLogs, Callback, History, overrides_batch_hooks
from .devices import cudnn_autotune
from ._modes import batch_hooks_infer, callbacks_infer
from .inference import _as_returned, evaluate_tensors
from .jit import begin_graph_step
from .prepare import DEFAULT_BATCH_SIZE, DEFAULT_INFERENCE_BATCH_SIZE, _check_batch_size, first_batches, warn_pass_ends
from .stopping import CtrlC, begin_fit, check_finite_loss, end_of_fit, warn_interrupted

if TYPE_CHECKING:
    from .trainer import Trainer


def fit(
    trainer: Trainer, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
    callbacks: list[Callback] | None, validation_split: float, validation_data: Any,
    shuffle: bool, initial_epoch: int, sample_weight: Any = None, class_weight: Any = None,
    steps_per_epoch: Any = None, validation_steps: Any = None, validation_freq: Any = 1,
) -> History:
    """``Model.fit`` once the model is compiled: arrays here, a batch source in ``streaming.fit``."""
    check_validation_freq(validation_freq, validation_data is not None or bool(validation_split))
    if sources.is_batch_source(x):  # a DataLoader, Dataset, PyDataset or generator: streaming.py
        if batch_size is not None:
            _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        return streaming.fit(trainer, x, y, batch_size, epochs, verbose, callbacks, validation_split,
                             validation_data, shuffle, initial_epoch, sample_weight, class_weight,
                             steps_per_epoch, validation_steps, validation_freq)
    steps_per_epoch = sources.check_steps(steps_per_epoch, "steps_per_epoch")
    given = batch_size if batch_size is None else _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"fit: expected validation_split in [0, 1), got {validation_split!r}. "
            "Fix: validation_split=0.1 keeps the last 10% of the data for validation."
        )
    xs, ys, sws = prepare.arrays(trainer, x, y, sample_weight)
    val = validation(trainer, validation_data, validation_steps, given)
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
    sws = prepare.class_weights(trainer, class_weight, xs, ys, sws, "fit")
    batch_size = prepare.fit_batch_size(given, steps_per_epoch, xs[0].shape[0], DEFAULT_BATCH_SIZE)
    trainer.build_optimizer()
    if trainer.device.type == "cpu":
        _malloc.keep_freed_memory()  # no page faults on each step's fresh tensors (see _malloc)
    trainer.parallel.start(trainer, batch_size)  # under torchrun: join, check the global batch, rank 0's weights
    trainer.penalized = trainer.has_penalties()
    begin_graph_step(trainer)

    n = xs[0].shape[0]
    steps = steps_per_epoch or math.ceil(n / batch_size)  # an epoch's batches; a pass has ceil(n / batch_size)
    verbose = (1 if verbose == "auto" else int(verbose)) if distributed.is_main_process() else 0
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
              "validation_freq": validation_freq}
    cbs, history = begin_fit(trainer, callbacks, verbose, params)
    trainer.loop_info = {"samples": n, "batch_size": batch_size, "steps": steps, "shuffle": bool(shuffle)}

    with CtrlC() as ctrl_c, cudnn_autotune(trainer.device), cpu_threads.follow_load(trainer.device):
        try:
            with callbacks_infer(trainer.model, cbs):
                for cb in cbs:
                    cb.on_train_begin({})
            _epochs(trainer, xs, ys, sws, val, validation_freq, epochs, initial_epoch, cbs, ctrl_c)
        except KeyboardInterrupt:
            warn_interrupted(trainer, epochs, steps)
        finally:
            sources.close(val)  # validation from a PyDataset: its loading workers stop with fit
    return end_of_fit(history, cbs, trainer)


def check_validation_freq(validation_freq: Any, validating: bool) -> None:
    """fit's ``validation_freq`` (Keras 3: an int N, every N-th epoch, or a list of 1-based epoch numbers).

    Raises:
        ValueError: neither; or other than 1 with nothing to validate (``validating`` False).
    """
    def whole(n: Any) -> bool:
        return not isinstance(n, bool) and isinstance(n, int) and n >= 1

    if not (whole(validation_freq) or isinstance(validation_freq, list) and all(map(whole, validation_freq))):
        raise ValueError(
            f"fit: expected validation_freq to be a whole number >= 1 (validate after every N-th epoch) or a list "
            f"of epoch numbers counted from 1, got validation_freq={validation_freq!r}. Fix: validation_freq=2 "
            "validates after epochs 2, 4, 6, ...; validation_freq=[1, 5, 10] after those epochs."
        )
    if validation_freq != 1 and not validating:
        raise ValueError(
            f"fit: expected validation_data or validation_split with validation_freq={validation_freq!r}, got "
            "neither, so there is nothing to validate. Fix: pass validation_data=(x_val, y_val) or "
            "validation_split=0.1, or leave validation_freq out."
        )


def validates(validation_freq: int | list[int], epoch: int) -> bool:
    """Whether fit validates after ``epoch`` (counted from 0; ``validation_freq`` counts from 1, as Keras)."""
    if isinstance(validation_freq, list):
        return epoch + 1 in validation_freq
    return (epoch + 1) % validation_freq == 0


def validation(trainer: Trainer, validation_data: Any, validation_steps: Any, batch_size: int | None = None) -> Any:
    """fit's ``validation_data``: None, arrays on the device ``(xs, ys, sws)``, or a batch source.
    ``validation_steps`` with arrays keeps their first ``validation_steps`` batches of
    fit's ``batch_size``, as Keras 3 evaluates (``first_batches``)."""
    if validation_data is None:
        if validation_steps is not None:
            raise ValueError(
                f"fit: expected validation_data with validation_steps={validation_steps!r} (it counts the "
                "batches of validation_data evaluated after each epoch), got no validation_data. Fix: pass "
                "validation_data=(x_val, y_val), or leave validation_steps out."
            )
        return None
    if sources.is_batch_source(validation_data):
        steps = sources.check_steps(validation_steps, "validation_steps")
        return sources.BatchSource(validation_data, "validation_data", validation_batch_size(trainer),
                                   DEFAULT_INFERENCE_BATCH_SIZE, False, steps, "validation_steps")
    validation_steps = sources.check_steps(validation_steps, "validation_steps")
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else f"a {type(validation_data).__name__}")
        raise ValueError(
            f"fit: expected validation_data as a tuple (x_val, y_val) or (x_val, y_val, "
            f"sample_weight_val), or a DataLoader, got {got}. Fix: model.fit(x, y, "
            "validation_data=(x_val, y_val))."
        )
    val = prepare.arrays(trainer, *validation_data, what="validation_data[2]")
    if validation_steps is None:
        return val
    keep = slice(0, validated_samples(validation_steps, validation_batch_size(trainer) or batch_size, val[0][0].shape[0]))
    return tuple([t[keep] for t in ts] for ts in val)


def validated_samples(steps: int, batch_size: int | None, n: int) -> int:
    """How many of ``n`` validation samples ``validation_steps=steps`` takes: its
    first ``steps`` batches of ``batch_size`` (fit's; ``ceil(n / steps)`` when
    fit's was left out, so all of them), as Keras 3 reads them (in
    order, from the start at every validation); all, with a warning as Keras's,
    when they are fewer."""
    return first_batches("fit", "validation_steps", steps, batch_size, n, "validation arrays")[1]


def validation_logs(trainer: Trainer, val: Any, cbs: list[Callback]) -> dict[str, float]:
    """The loss and metrics on the validation data (arrays or a batch source); by the
    model's own ``test_step`` when it overrides it, as Keras 3's fit validates."""
    if getattr(trainer, "validates_with_test_step", False):  # set by Model.fit: test_step overridden
        return _validated_by_test_step(trainer, val, cbs)
    if isinstance(val, sources.BatchSource):
        return streaming.evaluate_source(trainer, val, cbs)
    return evaluate_tensors(trainer, *val, validation_batch_size(trainer) or DEFAULT_INFERENCE_BATCH_SIZE, cbs)


def _validated_by_test_step(trainer: Trainer, val: Any, cbs: list[Callback]) -> dict[str, Any]:
    """fit's validation by an overridden ``test_step`` while the built-in loop trains:
    each batch as ``test_step`` takes it, ``x`` and ``y`` in the model's structure
    (one tensor, a list, or a dict by the names of its inputs or outputs)."""
    from ._step_batches import Validation, source_batches
    from .custom_step import evaluate_batches

    model = trainer.model
    if isinstance(val, sources.BatchSource):
        return evaluate_batches(model, source_batches(val, trainer), cbs)

    def structured(tensors: list[Any], keys: Any) -> Any:
        return dict(zip(keys, tensors)) if keys else tensors[0] if len(tensors) == 1 else list(tensors)

    xs, ys, sws = val
    arrays = (structured(xs, getattr(model, "_input_keys", None)), structured(ys, getattr(model, "_output_keys", None)),
              structured(sws, None) if sws else None)
    return evaluate_batches(model, Validation(arrays).batches(validation_batch_size(trainer)
                                                              or DEFAULT_INFERENCE_BATCH_SIZE), cbs)


def validation_batch_size(trainer: Trainer) -> int | None:
    """fit's ``validation_batch_size`` (None: left out, so arrays validate in batches of 256)."""
    return getattr(trainer, "validation_batch_size", None)


def check_validation_batch_size(size: Any, validation_data: Any) -> int | None:
    """fit's ``validation_batch_size`` (Keras 3's): None or a positive int, for arrays or a
    ``Dataset`` (a DataLoader, PyDataset or generator makes its own batches)."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size <= 0:
        raise ValueError(
            f"fit: expected validation_batch_size to be a positive integer or None, got {size!r}. Fix: "
            "validation_batch_size=256 (or leave it out: arrays validate in batches of 256)."
        )
    size = int(size)
    kind = sources.source_kind(validation_data) if sources.is_batch_source(validation_data) else None
    if kind not in (None, "dataset"):
        raise ValueError(
            f"fit: expected no validation_batch_size with validation_data a {type(validation_data).__name__}, which "
            f"makes its own batches, got validation_batch_size={size}. Fix: leave validation_batch_size out and set "
            "the size where the batches are made, e.g. DataLoader(val_dataset, batch_size=64)."
        )
    return size


def _epochs(trainer: Trainer, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], val: Any,
            validation_freq: int | list[int], epochs: int, initial_epoch: int, cbs: list[Callback],
            ctrl_c: CtrlC) -> None:
    """The epochs of fit, from ``initial_epoch`` or from a restored backup.

    A pass over the arrays is ``ceil(n / batch_size)`` batches of one
    permutation. An epoch is a pass, or with ``steps_per_epoch`` that many
    batches going on from where the last epoch stopped in the pass
    (``trainer.pass_start``), as Keras 3: one that would go past the pass's
    end stops there, with a warning, and the next epoch starts a new pass."""
    n, steps, shuffle = trainer.loop_info["samples"], trainer.loop_info["steps"], trainer.loop_info["shuffle"]
    per_pass = math.ceil(n / trainer.loop_info["batch_size"])
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
    losses = torch.zeros(steps, device=trainer.device)  # each batch's loss, checked once per epoch
    start, order = trainer.parallel.same_start(trainer, *trainer._start(initial_epoch))
    trainer.pass_start = start.get("pass_start", 0)
    for epoch in range(start["epoch"], epochs):
        with callbacks_infer(trainer.model, cbs):  # a callback's self.model(x) infers, as in Keras 3
            for cb in cbs:
                cb.on_epoch_begin(epoch, {})
        first = start["step"] if epoch == start["epoch"] else 0
        if first == 0:
            trainer._reset()
            if trainer.pass_start == 0:  # a new pass: a new permutation
                order = trainer.parallel.same_order(torch.randperm(n, device=trainer.device)) if shuffle else None
        trainer.epoch_order = order
        count = min(steps, per_pass - trainer.pass_start)  # this epoch's batches
        if count < steps:
            warn_pass_ends(steps, count, n, trainer.loop_info["batch_size"])
        done = _batches(trainer, xs, ys, sws, epoch, first, count, order, losses, batch_cbs, ctrl_c)
        trainer.pass_start = (trainer.pass_start + count) % per_pass  # where the next epoch begins
        trainer.parallel.agree_stop(trainer, ctrl_c)  # under torchrun: all processes stop, or none
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        if not trainer.stop_training:
            check_finite_loss(losses[first:done], first, epoch, epochs, steps)
        trainer.parallel.end_epoch(trainer)  # under torchrun: sums over all processes
        logs = trainer.running_logs()
        if val is not None and validates(validation_freq, epoch):
            val_logs = validation_logs(trainer, val, cbs)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        with callbacks_infer(trainer.model, cbs):
            for cb in cbs:
                cb.on_epoch_end(epoch, logs)
        trainer.parallel.agree_stop(trainer, ctrl_c)
        if ctrl_c.pressed:
            raise KeyboardInterrupt
        if trainer.stop_training:
            break


def _batches(trainer: Trainer, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor],
             epoch: int, first: int, count: int, order: torch.Tensor | None, losses: torch.Tensor,
             batch_cbs: list[Callback], ctrl_c: CtrlC) -> int:
    """Train on the batches ``first, first+1, ...`` of one epoch until its
    ``count``-th or a stop; returns the number of the epoch's batches done.
    The epoch's batch ``step`` is batch ``trainer.pass_start + step`` of the
    pass. The sample weights ``sws`` (if any) are gathered like the labels."""
    set_mode_all(trainer.model, True)  # model.train(), without torch's walk through __setattr__
    batch_size, offset = trainer.loop_info["batch_size"], trainer.pass_start
    trainer.position = (epoch, first)
    hooks_mode = batch_hooks_infer(trainer.model, batch_cbs)
    for step in range(first, count):
        cpu_threads.tick()  # fewer threads while other programs take cores (cpu_threads)
        if batch_cbs:
            with hooks_mode():
                for cb in batch_cbs:
                    cb.on_train_batch_begin(step, {})
        # This process's part of the global batch (all of it in one process).
        b = offset + step  # the batch of the pass
        batch = trainer.parallel.shard(b * batch_size, min((b + 1) * batch_size, trainer.loop_info["samples"]))
        if trainer.graph_step is not None:  # one process; the graph gathers the batch itself
            if order is None:
                order = torch.arange(trainer.loop_info["samples"], device=trainer.device)
            losses[step] = trainer.graph_step(xs, ys, order[batch], sws)
        elif batch.stop == batch.start:  # under torchrun: no samples left for this process
            losses[step] = trainer.parallel.idle_step(trainer)
        else:
            if order is None:
                xb, yb, wb = [t[batch] for t in xs], [t[batch] for t in ys], [t[batch] for t in sws]
            else:
                idx = order[batch]
                xb, yb, wb = ([t.index_select(0, idx) for t in ts] for ts in (xs, ys, sws))
            losses[step] = trainer.train_step(xb, yb, wb)
        trainer.position = (epoch, step + 1)
        if batch_cbs:
            logs = BatchLogs(trainer.running_logs)
            with hooks_mode():
                for cb in batch_cbs:
                    cb.on_train_batch_end(step, logs)
        if trainer.parallel.stop_requested(trainer, ctrl_c):
            break
    return trainer.position[1]


def train_on_batch(trainer: Trainer, x: Any, y: Any, return_dict: bool, sample_weight: Any = None,
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
    xs, ys, sws = prepare.arrays(trainer, x, y, sample_weight)
    sws = prepare.class_weights(trainer, class_weight, xs, ys, sws, "train_on_batch")
    trainer.build_optimizer()
    trainer.penalized = trainer.has_penalties()
    set_mode_all(trainer.model, True)  # model.train(), without torch's walk through __setattr__
    trainer._reset()
    with cudnn_autotune(trainer.device):
        trainer.train_step(xs, ys, sws)
    return _as_returned(trainer.running_logs(), return_dict)
