"""fit, evaluate and predict for a model that writes its own steps (Keras 3's
"customizing what happens in fit()").

A subclass of ``brainnet.Model`` may override ``train_step(self, data)``,
``test_step(self, data)`` and ``predict_step(self, data)``. ``fit``,
``evaluate`` and ``predict`` then call them once per batch and keep the rest:
epochs, batch_size, shuffle, validation (through ``test_step`` when it is
overridden, else the built-in evaluation), callbacks, the progress bar and the
History. ``data`` is the batch as Keras packs it, its arrays as tensors on the
model's device: ``(x, y)``, ``(x, y, sample_weight)``, or ``x`` alone when
there are no labels (``(x,)`` when x is a list of several inputs); a
DataLoader's or generator's batch as it comes (a list made a tuple). The dict
a step returns for the last batch of an epoch is the epoch's logs, its values
made Python floats and a nested dict (``compile_metrics`` of
``model.metrics``) flattened.
``train_on_batch``, ``test_on_batch`` and ``predict_on_batch`` run the same
steps once, on exactly the batch they are given.

A custom step runs eagerly, op by op, in one process: brainnet does not
compile it or capture it as a CUDA graph, and refuses ``jit_compile=True`` and
torchrun for it. Models that do not override ``train_step`` never come here:
``Model.fit`` checks once per call and takes the loop of ``trainer.py``.

The loops are here; the batches they give the steps (arrays on the device,
cut and packed, or a batch source's) come from ``_step_batches.py``.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from .. import distributed
from ..layers._training_mode import set_mode_all
from . import cpu_threads, streaming
from ._step_batches import Arrays, Validation, _take as take, batches_of, pack, source_batches, unpack
from ._modes import batch_hooks_infer, callbacks_infer
from .devices import move_to
from .fitting import check_validation_freq, validates, validation_batch_size
from .prepare import fit_batch_size
from .callbacks import (BatchLogs, Callback, History, format_logs, overrides_batch_hooks, predict_batches,
                        test_batch_end)
from .callbacks.backup import BackupAndRestore
from .stopping import CtrlC, begin_fit, end_of_fit, warn_interrupted

Tensor = torch.Tensor

# pack and unpack (Keras's packing of a batch) live with the batches; named here too, as before.
__all__ = ["fit", "evaluate", "evaluate_batches", "predict", "train_on_batch", "test_on_batch", "predict_on_batch",
           "check_supported", "pythonify", "reset_metrics", "pack", "unpack"]


# ------------------------------------------------------------- the logs
def pythonify(logs: Any, step: str) -> dict[str, Any]:
    """A step's returned dict with Python floats for scalars (tensors, NumPy),
    nested dicts flattened into it (as Keras does)."""
    if not isinstance(logs, dict):
        raise TypeError(
            f"{step}: expected the step to return a dict of metric values such as {{'loss': ...}}, got "
            f"{type(logs).__name__}. Fix: end {step} with `return {{m.name: m.result() for m in self.metrics}}`."
        )
    flat: dict[str, Any] = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            flat.update(pythonify(value, step))
        elif isinstance(value, Tensor) and value.numel() == 1:  # (np.size would read Tensor.size, a method)
            flat[key] = float(value.detach().item())
        elif isinstance(value, (np.ndarray, np.generic)) and value.size == 1:
            flat[key] = float(value.item())
        else:
            flat[key] = value
    return flat


def reset_metrics(model: Any) -> None:
    for m in model.metrics:
        m.reset_state()


# ----------------------------------------------------------- the checks
def check_supported(trainer: Any, method: str, step: str, callbacks: Any = None, class_weight: Any = None) -> None:
    """What a custom step cannot do in brainnet, refused with what to do instead."""
    if distributed.world_size() > 1:
        raise ValueError(
            f"{method}: expected one process for a model that overrides {step}, got "
            f"{distributed.world_size()} under torchrun: brainnet cannot reduce the gradients of a step it does "
            f"not run. Fix: run the script with python (one process), or train with the built-in {step} (delete "
            "the override) to use several processes."
        )
    if trainer.jit_compile is True:
        raise ValueError(
            f"{method}: expected jit_compile='auto' or False for a model that overrides {step} (brainnet runs a "
            "custom step eagerly, op by op), got jit_compile=True. Fix: model.compile(..., jit_compile=False), "
            "or leave jit_compile out."
        )
    if class_weight is not None:
        raise ValueError(
            f"{method}: expected sample_weight, not class_weight, for a model that overrides {step}, got "
            "class_weight. Fix: pass the class weights as sample weights, "
            "sample_weight=np.array([class_weight[c] for c in y]); train_step then receives (x, y, sample_weight)."
        )
    backups = [type(cb).__name__ for cb in callbacks or [] if isinstance(cb, BackupAndRestore)]
    if backups:
        raise ValueError(
            f"{method}: expected no BackupAndRestore for a model that overrides {step} (the backup cannot know "
            "the optimizers and state of a step brainnet does not run), got one in callbacks. Fix: use "
            "ModelCheckpoint(filepath, save_weights_only=True) and load_weights to resume."
        )


# ------------------------------------------------------------------ fit
def fit(trainer: Any, x: Any, y: Any, batch_size: int | None, epochs: int, verbose: Any,
        callbacks: list[Callback] | None, validation_split: float, validation_data: Any, shuffle: bool,
        initial_epoch: int, sample_weight: Any, class_weight: Any, steps_per_epoch: Any,
        validation_steps: Any, own_test_step: bool, validation_freq: Any = 1, overridden: str = "train_step",
        ) -> History:
    """``Model.fit`` for a model that overrides ``train_step`` or
    ``compute_loss`` (``overridden`` names it for the errors; ``own_test_step``:
    it overrides ``test_step`` or ``compute_loss`` too, so that ``test_step``
    then runs the validation)."""
    from .trainer import DEFAULT_BATCH_SIZE, DEFAULT_INFERENCE_BATCH_SIZE, _check_batch_size
    from .trainer import cudnn_autotune

    model = trainer.model
    check_supported(trainer, "fit", overridden, callbacks, class_weight)
    check_validation_freq(validation_freq, validation_data is not None or bool(validation_split))
    move_to(model, trainer.device)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"fit: expected validation_split in [0, 1), got {validation_split!r}. "
                         "Fix: validation_split=0.1 keeps the last 10% of the data for validation.")
    val: Any = None
    source: Any = None
    given = batch_size  # None: left out
    if streaming.is_batch_source(x):
        if batch_size is not None:
            _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        source = streaming.BatchSource(x, "fit", batch_size, DEFAULT_BATCH_SIZE, shuffle,
                                       streaming.check_steps(steps_per_epoch, "steps_per_epoch"), "steps_per_epoch",
                                       epoch=initial_epoch)
        streaming.refuse_with_source("fit", source.name, y, sample_weight, validation_split)
        steps, batch_size = source.steps_per_epoch, source.batch_size

        def epoch_batches(epoch: int) -> Iterator[Any]:
            return source_batches(source, trainer, epoch)

        def exhausted() -> bool:
            return source.exhausted
    else:
        steps_per_epoch = streaming.check_steps(steps_per_epoch, "steps_per_epoch")
        given = None if batch_size is None else _check_batch_size(batch_size, DEFAULT_BATCH_SIZE)
        arrays = Arrays(trainer, "fit", x, y, sample_weight)
        if validation_split and validation_data is None:
            split = arrays.split(validation_split)
            val = split if own_test_step else trainer._prepare(*split, what="validation_data[2]")
        batch_size = fit_batch_size(given, steps_per_epoch, arrays.samples, DEFAULT_BATCH_SIZE)
        steps = steps_per_epoch or -(-arrays.samples // batch_size)

        def epoch_batches(epoch: int) -> Iterator[Any]:
            return arrays.epoch(batch_size, shuffle, steps_per_epoch)

        def exhausted() -> bool:
            return False
    if validation_data is not None:  # a batch size left out stays so: validation_steps then takes all (Keras 3)
        val = _validation(trainer, validation_data, validation_steps, own_test_step,
                          batch_size if given is not None or source is not None else None)

    verbose = 1 if verbose == "auto" else int(verbose)
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size,
              "validation_freq": validation_freq}
    cbs, history = begin_fit(trainer, callbacks, verbose, params)
    trainer.loop_info = {"batch_size": batch_size, "steps": steps, "shuffle": bool(shuffle)}
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
    hooks_mode = batch_hooks_infer(model, batch_cbs)

    def validate() -> dict[str, Any]:
        if not own_test_step:
            return trainer.validation_logs(val, cbs)
        if isinstance(val, streaming.BatchSource):
            return evaluate_batches(model, source_batches(val, trainer), cbs)
        return evaluate_batches(model, Validation(val).batches(validation_batch_size(trainer)
                                                               or DEFAULT_INFERENCE_BATCH_SIZE), cbs)

    with CtrlC() as ctrl_c, cudnn_autotune(trainer.device), cpu_threads.follow_load(trainer.device):
        try:
            with callbacks_infer(model):  # a callback's self.model(x) infers, as in Keras 3
                for cb in cbs:
                    cb.on_train_begin({})
            for epoch in range(initial_epoch, epochs):
                reset_metrics(model)
                with callbacks_infer(model):
                    for cb in cbs:
                        cb.on_epoch_begin(epoch, {})
                model.train()
                trainer.position, logs = (epoch, 0), None
                ran = False
                for step, data in enumerate(epoch_batches(epoch)):
                    cpu_threads.tick()
                    if batch_cbs:
                        with hooks_mode():
                            for cb in batch_cbs:
                                cb.on_train_batch_begin(step, {})
                    logs, ran = model.train_step(data), True
                    trainer.position = (epoch, step + 1)
                    if batch_cbs:
                        batch_logs = BatchLogs(lambda logs=logs: pythonify(logs, "train_step"))
                        with hooks_mode():
                            for cb in batch_cbs:
                                cb.on_train_batch_end(step, batch_logs)
                    if ctrl_c.pressed or trainer.stop_training:
                        break
                if ctrl_c.pressed:
                    raise KeyboardInterrupt
                if not ran:  # an iterator that ran out as this epoch began
                    break
                epoch_logs = pythonify(logs, "train_step")
                if val is not None and validates(validation_freq, epoch):
                    epoch_logs.update({f"val_{k}": v for k, v in validate().items()})
                with callbacks_infer(model):
                    for cb in cbs:
                        cb.on_epoch_end(epoch, epoch_logs)
                if ctrl_c.pressed:
                    raise KeyboardInterrupt
                if trainer.stop_training or exhausted():
                    break
        except KeyboardInterrupt:
            warn_interrupted(trainer, epochs)
        finally:
            streaming.close(val, source)  # a PyDataset's loading workers stop with fit
    return end_of_fit(history, cbs, trainer)


def _validation(trainer: Any, validation_data: Any, validation_steps: Any, own_test_step: bool,
                batch_size: int | None) -> Any:
    """fit's validation_data: for ``test_step``, a BatchSource or arrays on the
    device (x, y, sample_weight); for the built-in evaluation, what it takes.
    ``validation_steps`` with arrays: their first batches of ``batch_size``."""
    from .fitting import validated_samples
    from .trainer import DEFAULT_INFERENCE_BATCH_SIZE

    if not own_test_step:
        return trainer.validation(validation_data, validation_steps, batch_size)
    if streaming.is_batch_source(validation_data):
        return streaming.BatchSource(validation_data, "validation_data", validation_batch_size(trainer),
                                     DEFAULT_INFERENCE_BATCH_SIZE, False,
                                     streaming.check_steps(validation_steps, "validation_steps"), "validation_steps")
    validation_steps = streaming.check_steps(validation_steps, "validation_steps")
    if isinstance(validation_data, (np.ndarray, torch.Tensor)):
        validation_data = (validation_data, None)  # x alone, as Keras 3 unpacks it: test_step gets x
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        return trainer.validation(validation_data, None)  # its error says what it takes
    arrays = Arrays(trainer, "fit", *tuple(validation_data) + (None,) * (3 - len(validation_data)))
    if validation_steps is None:
        return arrays.arrays
    keep = slice(0, validated_samples(validation_steps, validation_batch_size(trainer) or batch_size, arrays.samples))
    return tuple(take(a, keep) for a in arrays.arrays)


# ------------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate_batches(model: Any, batches: Iterator[Any], cbs: list[Callback]) -> dict[str, Any]:
    """``test_step`` on each batch, in inference mode, the metrics reset first;
    the logs of the last batch."""
    from .trainer import inference_layers

    for cb in cbs:
        cb.on_test_begin({})
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb, "test")]
    reset_metrics(model)
    logs: Any = {}
    with inference_layers(model):
        for step, data in enumerate(batches):
            for cb in batch_cbs:
                cb.on_test_batch_begin(step, {})
            logs = model.test_step(data)
            test_batch_end(batch_cbs, step, lambda: pythonify(logs, "test_step"))
    logs = pythonify(logs, "test_step")
    for cb in cbs:
        cb.on_test_end(logs)
    return logs


def evaluate(trainer: Any, x: Any, y: Any, batch_size: int | None, verbose: Any, callbacks: list[Callback] | None,
             return_dict: bool, sample_weight: Any, steps: Any, overridden: str = "test_step") -> Any:
    """``Model.evaluate`` for a model that overrides ``test_step`` or
    ``compute_loss`` (``overridden`` names it for the errors)."""
    from .trainer import DEFAULT_INFERENCE_BATCH_SIZE, _as_returned, _check_batch_size

    check_supported(trainer, "evaluate", overridden)
    move_to(trainer.model, trainer.device)
    batches = batches_of(trainer, "evaluate", x, y, sample_weight, batch_size, steps, DEFAULT_INFERENCE_BATCH_SIZE,
                          _check_batch_size)
    logs = evaluate_batches(trainer.model, batches, list(callbacks or []))
    if verbose not in (0, "0"):
        print(f"evaluate - {format_logs(logs)}", flush=True)
    return _as_returned(logs, return_dict)


# ----------------------------------------------------------- one batch
def train_on_batch(trainer: Any, x: Any, y: Any, sample_weight: Any, class_weight: Any, return_dict: bool,
                   overridden: str = "train_step") -> Any:
    """``Model.train_on_batch`` for a model that overrides ``train_step`` or
    ``compute_loss``: its step on exactly ``(x, y)``, the metrics reset
    first, its logs as ``train_on_batch`` returns them (Keras 3)."""
    from .trainer import _as_returned

    check_supported(trainer, "train_on_batch", overridden, None, class_weight)
    model = trainer.model
    move_to(model, trainer.device)
    data = pack(*Arrays(trainer, "train_on_batch", x, y, sample_weight).arrays)
    reset_metrics(model)
    set_mode_all(model, True)
    return _as_returned(pythonify(model.train_step(data), "train_step"), return_dict)


@torch.no_grad()
def test_on_batch(trainer: Any, x: Any, y: Any, sample_weight: Any, return_dict: bool,
                  overridden: str = "test_step") -> Any:
    """``Model.test_on_batch`` for a model that overrides ``test_step`` or
    ``compute_loss``: its step on exactly ``(x, y)`` in inference mode, the
    metrics reset first."""
    from .trainer import _as_returned, inference_layers

    check_supported(trainer, "test_on_batch", overridden)
    model = trainer.model
    move_to(model, trainer.device)
    data = pack(*Arrays(trainer, "test_on_batch", x, y, sample_weight).arrays)
    reset_metrics(model)
    with inference_layers(model):
        logs = model.test_step(data)
    return _as_returned(pythonify(logs, "test_step"), return_dict)


# -------------------------------------------------------------- predict
@torch.no_grad()
def predict(trainer: Any, x: Any, batch_size: int | None, steps: Any, cbs: list[Callback] = ()) -> Any:
    """``Model.predict`` for a model that overrides ``predict_step``: its
    outputs for every batch, joined along the batch axis, as NumPy."""
    from .trainer import DEFAULT_INFERENCE_BATCH_SIZE, _check_batch_size, inference_layers

    check_supported(trainer, "predict", "predict_step")
    model = trainer.model
    move_to(model, trainer.device)
    batches = batches_of(trainer, "predict", x, None, None, batch_size, steps, DEFAULT_INFERENCE_BATCH_SIZE,
                          _check_batch_size)
    with inference_layers(model):
        outputs = predict_batches(list(cbs), batches, model.predict_step)
    if not outputs:
        return []
    return _joined(outputs)


@torch.no_grad()
def predict_on_batch(trainer: Any, x: Any) -> Any:
    """``Model.predict_on_batch`` for a model that overrides ``predict_step``:
    its step once on exactly ``x``, packed as ``predict`` packs a batch, in
    inference mode; its outputs as NumPy (same structure)."""
    from .trainer import inference_layers

    check_supported(trainer, "predict_on_batch", "predict_step")
    model = trainer.model
    move_to(model, trainer.device)
    data = pack(*Arrays(trainer, "predict_on_batch", x, None, None).arrays)
    with inference_layers(model):
        return _joined([model.predict_step(data)])


def _joined(outputs: list[Any]) -> Any:
    """The batches' outputs as one NumPy array per output (same structure)."""
    first = outputs[0]
    if isinstance(first, dict):
        return {k: _joined([o[k] for o in outputs]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_joined([o[i] for o in outputs]) for i in range(len(first)))
    if isinstance(first, Tensor):
        joined = torch.cat([o.detach() for o in outputs])
        return (joined.float() if joined.is_floating_point() else joined).cpu().numpy()
    return np.concatenate([np.asarray(o) for o in outputs])
