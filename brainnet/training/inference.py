"""``evaluate`` and ``predict`` on arrays, ``test_on_batch`` and ``predict_on_batch``.

The arrays move to the device once (``prepare.py``) and are read in slices
of ``batch_size`` (256 by default: larger batches than fit's, the same
results), under ``torch.no_grad`` and with every layer in inference mode
(``inference_layers``), which is put back afterwards. The loss and metrics
accumulate on the device as in fit and are read once at the end; under
torchrun each process evaluates its part and the sums are added. predict
gathers each batch's outputs into NumPy arrays (``gathered``, shared with
``streaming.py``, which evaluates and predicts a DataLoader's batches).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .. import distributed
from ..layers.symbolic import flatten
from . import cpu_threads, prepare, sources, streaming
from ..layers._training_mode import eval_all
from ._modes import kept_modes
from .callbacks import Callback, overrides_batch_hooks, predict_batches, test_batch_end
from .devices import cudnn_autotune, move_to
from .prepare import DEFAULT_INFERENCE_BATCH_SIZE, _check_batch_size, first_batches

if TYPE_CHECKING:
    from .trainer import Trainer


@contextlib.contextmanager
def inference_layers(model: torch.nn.Module) -> Any:
    """Every layer in inference mode (``eval()``: no dropout, batch normalization's
    moving statistics), then each put back as it was, so that ``predict`` and
    ``evaluate`` leave ``model(x)`` as ``train()``/``eval()`` had set it."""
    with kept_modes(model):
        eval_all(model)
        yield


# ---------------------------------------------------------- evaluate
@torch.no_grad()
def evaluate_tensors(
    trainer: Trainer, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor], batch_size: int,
    cbs: list[Callback],
) -> dict[str, float]:
    """The loss and metrics over prepared arrays (also fit's validation arrays)."""
    for cb in cbs:
        cb.on_test_begin({})
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb, "test")]
    trainer.penalized = trainer.has_penalties()
    trainer._reset()
    xs, ys, sws = trainer.parallel.shard_arrays(xs, ys, sws)  # under torchrun: this process's part
    with inference_layers(trainer.model):
        for step, start in enumerate(range(0, xs[0].shape[0], batch_size)):
            cpu_threads.tick()  # fewer threads while other programs take cores (cpu_threads)
            for cb in batch_cbs:
                cb.on_test_batch_begin(step, {})
            batch = slice(start, start + batch_size)
            xb, yb, wb = [t[batch] for t in xs], [t[batch] for t in ys], [t[batch] for t in sws]
            with trainer.autocast():
                trainer._record(*trainer._forward_loss(xb, yb, wb), yb, wb)
            test_batch_end(batch_cbs, step, trainer.running_logs)
    trainer.parallel.sum_metrics(trainer)
    logs = trainer.running_logs()
    for cb in cbs:
        cb.on_test_end(logs)
    return logs


def evaluate(
    trainer: Trainer, x: Any, y: Any, batch_size: int | None, verbose: Any, callbacks: list[Callback] | None,
    return_dict: bool, sample_weight: Any = None, steps: Any = None,
) -> float | list[float] | dict[str, float]:
    """``Model.evaluate`` once the model is compiled: arrays here, a batch source in ``streaming.evaluate``;
    ``steps`` with arrays: their first ``steps`` batches (Keras 3, ``prepare.first_batches``)."""
    if batch_size is not None:
        _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
    if sources.is_batch_source(x):
        logs = streaming.evaluate(trainer, x, y, batch_size, callbacks, sample_weight, steps)
    else:
        steps = sources.check_steps(steps, "steps")
        xs, ys, sws = prepare.arrays(trainer, x, y, sample_weight)
        if steps is not None:  # Keras 3: the first `steps` batches
            batch_size, keep = first_batches("evaluate", "steps", steps, batch_size, int(xs[0].shape[0]))
            xs, ys, sws = ([t[:keep] for t in ts] for ts in (xs, ys, sws))
        batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
        logs = _evaluate_prepared(trainer, xs, ys, sws, batch_size, callbacks)
    if verbose not in (0, "0") and distributed.is_main_process():
        from .callbacks import format_logs

        print(f"evaluate - {format_logs(logs)}", flush=True)
    return _as_returned(logs, return_dict)


def _evaluate_prepared(trainer: Trainer, xs: list[torch.Tensor], ys: list[torch.Tensor], sws: list[torch.Tensor],
                       batch_size: int, callbacks: list[Callback] | None = None) -> dict[str, float]:
    move_to(trainer.model, trainer.device)
    trainer.parallel.start(trainer, None, broadcast=False)  # under torchrun: each process a part
    several = xs[0].shape[0] > batch_size  # one batch (test_on_batch): too short to follow the load
    with cudnn_autotune(trainer.device), cpu_threads.follow_load(trainer.device if several else None):
        return evaluate_tensors(trainer, xs, ys, sws, batch_size, list(callbacks or []))


def test_on_batch(trainer: Trainer, x: Any, y: Any, return_dict: bool,
                  sample_weight: Any = None) -> float | list[float] | dict[str, float]:
    """``evaluate`` on exactly ``(x, y)`` as one batch (metrics reset first)."""
    xs, ys, sws = prepare.arrays(trainer, x, y, sample_weight)
    return _as_returned(_evaluate_prepared(trainer, xs, ys, sws, max(int(xs[0].shape[0]), 1)), return_dict)


def _as_returned(logs: dict[str, float], return_dict: bool) -> float | list[float] | dict[str, float]:
    """Logs as evaluate returns them: the dict, or ``[loss, *metrics]`` (the loss alone as a float)."""
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


# ----------------------------------------------------------- predict
def predict(trainer: Trainer, x: Any, batch_size: int | None, steps: Any = None,
            callbacks: list[Callback] | None = None) -> np.ndarray | list[np.ndarray]:
    """``Model.predict``: the outputs for arrays here (``steps``: of their first ``steps`` batches,
    as Keras 3), for a batch source in ``streaming.predict``."""
    if batch_size is not None:
        _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
    if sources.is_batch_source(x):
        return streaming.predict(trainer, x, batch_size, steps, list(callbacks or []))
    steps = sources.check_steps(steps, "steps")
    xs = prepare.inputs(trainer, x, absent_ok=True)
    if steps is not None:  # Keras 3: the outputs of the first `steps` batches
        batch_size, keep = first_batches("predict", "steps", steps, batch_size, _samples(xs), verb="predicted")
        xs = [None if t is None else t[:keep] for t in xs]
    batch_size = _check_batch_size(batch_size, DEFAULT_INFERENCE_BATCH_SIZE)
    return _predict_tensors(trainer, xs, batch_size, list(callbacks or []))


def predict_on_batch(trainer: Trainer, x: Any) -> np.ndarray | list[np.ndarray]:
    """``predict`` on exactly ``x`` as one batch."""
    xs = prepare.inputs(trainer, x, absent_ok=True)
    return _predict_tensors(trainer, xs, max(_samples(xs), 1))


def _samples(xs: list[torch.Tensor | None]) -> int:
    """The number of samples: the first input's (None for an absent optional one)."""
    return int(next(t for t in xs if t is not None).shape[0])


@torch.no_grad()
def _predict_tensors(trainer: Trainer, xs: list[torch.Tensor | None], batch_size: int,
                     cbs: list[Callback] = ()) -> np.ndarray | list[np.ndarray]:
    move_to(trainer.model, trainer.device)

    def run(start: int) -> Any:
        cpu_threads.tick()
        with trainer.autocast():
            batch = [None if t is None else t[start:start + batch_size] for t in xs]  # None: an absent optional input
            return trainer.model(trainer._model_input(batch))

    several = _samples(xs) > batch_size  # one batch (predict_on_batch): too short to follow the load
    with cudnn_autotune(trainer.device), inference_layers(trainer.model), \
            cpu_threads.follow_load(trainer.device if several else None):
        chunks = predict_batches(list(cbs), range(0, _samples(xs), batch_size), run)
    return gathered(trainer, chunks)


def gathered(trainer: Trainer, chunks: list[Any]) -> np.ndarray | list[np.ndarray]:
    """predict's result from the model's outputs for each batch: NumPy, one
    array per output (a dict by output name when the outputs were a dict)."""
    outputs = [torch.cat(parts).float().cpu().numpy() for parts in zip(*map(_listed, chunks))]
    if getattr(trainer.model, "_output_keys", None) or getattr(trainer.model, "_output_structure", None):
        return trainer.model.keyed(outputs)  # outputs given as a dict (or nested lists): predict gives the same
    return outputs if len(outputs) > 1 else outputs[0]


def _listed(out: Any) -> list[Any]:
    """A model's output(s) as a list: a tensor, a list of them, or a dict by output name (in order)."""
    if isinstance(out, dict):
        return list(out.values())
    return flatten(out)  # a list of lists of outputs (Keras 3's nesting) is flattened too
