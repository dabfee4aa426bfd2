"""The batches a custom step receives (``brainnet.training.custom_step``):
fit's, evaluate's or predict's data as tensors on the model's device, cut
into batches and packed as Keras 3's steps take them, ``x``, ``(x, y)`` or
``(x, y, sample_weight)``, from arrays (in the order of the built-in loop's
shuffle, so that a seed gives the same batches) or from a batch source (a
DataLoader, Dataset, PyDataset or generator, ``streaming.BatchSource``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch

from . import data as data_module
from . import streaming
from .prepare import first_batches, warn_pass_ends

Tensor = torch.Tensor


def pack(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """A batch as Keras's steps receive it: ``x`` (``(x,)`` for a list or
    tuple of inputs) without labels, ``(x, y)``, or ``(x, y, sample_weight)``."""
    if y is None and sample_weight is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def unpack(data: Any) -> tuple[Any, Any, Any]:
    """``(x, y, sample_weight)`` of a batch, the missing ones None (Keras's
    ``unpack_x_y_sample_weight``)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if 1 <= len(data) <= 3:
        return tuple(data) + (None,) * (3 - len(data))  # type: ignore[return-value]
    raise ValueError(
        f"train_step: expected data as x, (x,), (x, y) or (x, y, sample_weight), got a tuple of {len(data)} "
        "elements. Fix: make each batch (x, y) or (x, y, sample_weight), with several inputs as ((x_a, x_b), y)."
    )


def _on_device(data: Any, what: str, device: torch.device, dtype: torch.dtype) -> Any:
    """Arrays (NumPy, pandas, torch) anywhere in ``data`` (tuples, lists, dicts)
    as tensors on ``device``; floating ones in ``dtype`` (the model's)."""
    if data is None or isinstance(data, (str, bytes, int, float, bool)):
        return data
    if isinstance(data, dict):
        return {k: _on_device(v, f"{what}[{k!r}]", device, dtype) for k, v in data.items()}
    if isinstance(data, (list, tuple)) and not (data and isinstance(data[0], (int, float))):
        return type(data)(_on_device(v, f"{what}[{i}]", device, dtype) for i, v in enumerate(data))
    t = data_module.as_tensor(data, what)
    return t.to(device, dtype if t.is_floating_point() else None, non_blocking=True)


def _leaves(data: Any) -> list[Tensor]:
    if isinstance(data, Tensor):
        return [data]
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, (list, tuple)):
        return [t for d in data for t in _leaves(d)]
    return []


def _take(data: Any, index: slice | Tensor) -> Any:
    """The samples ``index`` (a slice, or a tensor of positions) of every array in ``data``."""
    if isinstance(data, Tensor):
        return data[index] if isinstance(index, slice) else data.index_select(0, index)
    if isinstance(data, dict):
        return {k: _take(v, index) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_take(v, index) for v in data)
    return data


def _samples(method: str, arrays: tuple[Any, Any, Any]) -> int:
    """The number of samples, the same in every array of x, y and sample_weight."""
    lengths = {name: [int(t.shape[0]) for t in _leaves(a)] for name, a in zip(("x", "y", "sample_weight"), arrays)}
    every = [n for ns in lengths.values() for n in ns]
    if not every:
        raise ValueError(f"{method}: expected x as an array (or a list or dict of arrays), got "
                         f"{type(arrays[0]).__name__}. Fix: model.{method}(x, y) with NumPy arrays or tensors.")
    if len(set(every)) > 1:
        got = ", ".join(f"{name} {ns}" for name, ns in lengths.items() if ns)
        raise ValueError(
            f"{method}: expected every array of x, y and sample_weight to hold the same number of samples, got "
            f"lengths {got}. Fix: pass the same samples to each, e.g. x[:n], y[:n]."
        )
    return every[0]


def _float_dtype(model: torch.nn.Module) -> torch.dtype:
    return torch.float64 if model.dtype == torch.float64 else torch.float32


class Arrays:
    """fit's, evaluate's or predict's arrays on the device, batch by batch."""

    def __init__(self, trainer: Any, method: str, x: Any, y: Any, sample_weight: Any) -> None:
        device, dtype = trainer.device, _float_dtype(trainer.model)
        self.arrays = tuple(_on_device(a, name, device, dtype)
                            for a, name in zip((x, y, sample_weight), ("x", "y", "sample_weight")))
        self.samples = _samples(method, self.arrays)
        self.device = device
        self._pass: Iterator[Any] = iter(())  # steps_per_epoch: the pass in progress,
        self._left = 0  # and how many of its batches are left

    def split(self, fraction: float) -> tuple[Any, Any, Any]:
        """Keep the first samples; return the last ``fraction`` (before shuffling, as Keras)."""
        n_val = int(self.samples * fraction)
        if n_val == 0 or n_val == self.samples:
            raise ValueError(
                f"fit: expected validation_split to leave samples for training and for validation, got "
                f"validation_split={fraction} of {self.samples} samples, which leaves {n_val} for validation. "
                "Fix: use more data or another split, e.g. validation_split=0.2."
            )
        keep = self.samples - n_val
        val = tuple(_take(a, slice(keep, None)) for a in self.arrays)
        self.arrays = tuple(_take(a, slice(0, keep)) for a in self.arrays)
        self.samples = keep
        return val

    def batches(self, batch_size: int, shuffle: bool) -> Iterator[Any]:
        # The same draw as the built-in loop makes, so that a seed gives the same order.
        order = torch.randperm(self.samples, device=self.device) if shuffle else None
        for start in range(0, self.samples, batch_size):
            index: slice | Tensor = slice(start, start + batch_size)
            if order is not None:
                index = order[index]
            yield pack(*(_take(a, index) for a in self.arrays))

    def epoch(self, batch_size: int, shuffle: bool, steps: int | None) -> Iterator[Any]:
        """One epoch's batches: a pass, or ``steps`` (``steps_per_epoch``) going
        on in the pass where the last epoch stopped, as fit's built-in loop: an
        epoch that meets the pass's end stops there, with a warning."""
        if steps is None:
            yield from self.batches(batch_size, shuffle)
            return
        if self._left == 0:
            self._pass, self._left = self.batches(batch_size, shuffle), -(-self.samples // batch_size)
        count = min(steps, self._left)
        if count < steps:
            warn_pass_ends(steps, count, self.samples, batch_size)
        for _ in range(count):
            self._left -= 1
            yield next(self._pass)


def source_batches(source: streaming.BatchSource, trainer: Any, epoch: int | None = None) -> Iterator[Any]:
    """A batch source's batches for ``epoch``, as they come (a list made a tuple), on the device."""
    device, dtype = trainer.device, _float_dtype(trainer.model)
    for batch in source.epoch(epoch):
        yield _on_device(tuple(batch) if isinstance(batch, list) else batch, "batch", device, dtype)


def _closing(source: streaming.BatchSource, batches: Iterator[Any]) -> Iterator[Any]:
    """``batches``, then ``source.close()`` however the reading ends (a PyDataset's loading workers stop)."""
    try:
        yield from batches
    finally:
        source.close()


class Validation:
    """Validation arrays already on the device, in batches, in order."""

    def __init__(self, arrays: tuple[Any, Any, Any]) -> None:
        self.arrays = arrays
        self.samples = _samples("fit", arrays)

    def batches(self, batch_size: int) -> Iterator[Any]:
        for start in range(0, self.samples, batch_size):
            yield pack(*(_take(a, slice(start, start + batch_size)) for a in self.arrays))


def batches_of(trainer: Any, method: str, x: Any, y: Any, sample_weight: Any, batch_size: int | None, steps: Any,
               default: int, check_batch_size: Callable) -> Iterator[Any]:
    """evaluate's or predict's batches, in order: from a batch source, or arrays
    (with ``steps``, their first ``steps`` batches, as Keras 3)."""
    if streaming.is_batch_source(x):
        if batch_size is not None:
            check_batch_size(batch_size, default)
        source = streaming.BatchSource(x, method, batch_size, default, False, streaming.check_steps(steps, "steps"),
                                       "steps")
        streaming.refuse_with_source(method, source.name, y, sample_weight)
        return _closing(source, source_batches(source, trainer))
    if batch_size is not None:
        check_batch_size(batch_size, default)
    steps = streaming.check_steps(steps, "steps")
    arrays = Arrays(trainer, method, x, y, sample_weight)
    if steps is not None:
        verb = "predicted" if method == "predict" else "evaluated"
        batch_size, keep = first_batches(method, "steps", steps, batch_size, arrays.samples, verb=verb)
        arrays.arrays = tuple(_take(a, slice(0, keep)) for a in arrays.arrays)
        arrays.samples = keep
    return arrays.batches(check_batch_size(batch_size, default), False)
