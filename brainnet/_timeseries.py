"""``timeseries_dataset_from_array``: sliding windows over a series, as
batches that ``fit`` takes (Keras 3's function, behind ``brainnet.utils``).

The series stays where it is: the returned DataLoader's dataset holds the
array (a tensor sharing its memory) and the start of each window, and cuts
the windows of a batch when the batch is read."""

from __future__ import annotations

import warnings
from typing import Any, NoReturn

import numpy as np
import torch


class _Windows(torch.utils.data.Dataset):
    """Window ``i``: ``data[s_i + k * rate]`` for ``k = 0 .. length - 1`` (and ``targets[s_i]``)."""

    def __init__(self, data: torch.Tensor, targets: torch.Tensor | None, starts: torch.Tensor, length: int,
                 rate: int) -> None:
        self.data, self.targets, self.starts, self.length, self.rate = data, targets, starts, length, rate
        self.offsets = torch.arange(length) * rate  # (L,): the steps of one window, from its start

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> Any:
        s = int(self.starts[i])
        window = self.data[s: s + (self.length - 1) * self.rate + 1: self.rate]  # (L, ...), a view
        return window if self.targets is None else (window, self.targets[s])

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """A batch's windows cut by one gather (DataLoader calls this), one sample per index."""
        s = self.starts[torch.as_tensor(indices, dtype=torch.long)]  # (B,)
        windows = self.data[s[:, None] + self.offsets].unbind(0)  # B × (L, ...)
        return list(windows) if self.targets is None else list(zip(windows, self.targets[s].unbind(0)))


def _refuse(argument: str, expected: str, got: str, fix: str) -> NoReturn:
    raise ValueError(f"timeseries_dataset_from_array: expected {argument} {expected}, got {got}. Fix: {fix}.")


def _series(values: Any, argument: str) -> torch.Tensor:
    """``values`` as a tensor with time on axis 0, sharing a NumPy array's memory (no copy)."""
    if isinstance(values, torch.Tensor):
        tensor = values.detach()
    else:
        array = np.asarray(values)
        if array.dtype.kind not in "biuf":
            _refuse(argument, "an array of numbers", f"dtype {array.dtype}",
                    f"{argument} = np.asarray({argument}, dtype='float32')")
        if any(stride < 0 for stride in array.strides):
            array = np.ascontiguousarray(array)  # a reversed view: torch takes no negative strides
        with warnings.catch_warnings():
            # a read-only array (pandas' .values, np.broadcast_to) is shared as it is: the windows only read it
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(array)
    if tensor.ndim == 0:
        _refuse(argument, "an array with time on axis 0", f"a scalar {tensor.item()!r}",
                f"{argument} = np.asarray([...]) with one entry per time step")
    return tensor


def _integer(value: Any, argument: str, smallest: int, fix: str, none: bool = False) -> int | None:
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
        _refuse(argument, f"an integer ≥ {smallest}" + (" or None" if none else ""), repr(value), fix)
    return int(value)


def timeseries_dataset_from_array(
    data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1, sampling_rate: int = 1,
    batch_size: int | None = 128, shuffle: bool = False, seed: int | None = None, start_index: int | None = None,
    end_index: int | None = None,
) -> torch.utils.data.DataLoader:
    """Sliding windows over a series, with their targets, as Keras 3's function.

    Window ``i`` takes ``sequence_length`` steps, every ``sampling_rate``-th,
    from ``start_index + i · sequence_stride``; its target is the target of
    the step where it starts::

        x_i[k] = data[start + i·s + k·r]        k = 0 … L − 1
        y_i    = targets[start + i·s]
        i = 0 … ⌈n / s⌉ − 1,   n = min(end − start − (L − 1)·r, len(targets))

    (``start``, ``end``: ``start_index``, ``end_index``, default the whole
    series; a window must end before ``end``; ``n`` without targets is the
    first term alone.) To predict the step after each window, shift the
    targets: ``timeseries_dataset_from_array(series[:-L], series[L:], L)``.

    Returns a ``torch.utils.data.DataLoader`` that ``fit``, ``evaluate`` and
    ``predict`` take (and so does a plain PyTorch loop). Its batches are
    ``(windows, targets)``, or windows alone when ``targets`` is None:
    windows ``(batch, sequence_length) + data.shape[1:]`` and targets
    ``(batch,) + targets.shape[1:]``, each in its array's dtype (float32
    for float32 data; float64 data stays float64, and ``fit`` casts it to
    the model's dtype). The windows are cut when a batch is read, from the
    array itself (a NumPy array is shared, not copied).

    With ``shuffle`` the windows come in a new random order every epoch,
    drawn by a ``torch.Generator`` seeded with ``seed``: the same seed gives
    the same orders (no seed: PyTorch's generator, which
    ``brainnet.utils.set_random_seed`` seeds). Keras shuffles the starts once
    and then within a buffer of 8 batches; the windows are the same.

    Args:
        data: the series, time on axis 0: ``(steps,)`` or ``(steps, features)``
            (a NumPy array, a tensor, or anything ``np.asarray`` takes).
        targets: one target per step (``targets[j]`` for the window starting
            at step ``j``), or None.
        sequence_length: ``L``, steps per window.
        sequence_stride: ``s``, steps from one window's start to the next (default 1).
        sampling_rate: ``r``, steps between two entries of a window (default 1).
        batch_size: windows per batch (default 128); None: one window at a time.
        shuffle: draw the windows in random order (default False: in time order).
        seed: for the shuffling.
        start_index: the first step used (default 0).
        end_index: the steps from here on are not used (default: the series' length).

    Raises:
        ValueError: arguments Keras refuses (a stride or rate < 1 or not
            shorter than the series, indices outside the series or out of
            order), and: a series too short for one window, targets too
            short for the windows, data that are not numbers.

    Example:
        >>> series = np.arange(10, dtype="float32")
        >>> loader = timeseries_dataset_from_array(series[:-3], series[3:], sequence_length=3, batch_size=2)
        >>> x, y = next(iter(loader))
        >>> x.tolist(), y.tolist()
        ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [3.0, 4.0])
    """
    series = _series(data, "data")
    steps = len(series)
    length = _integer(sequence_length, "sequence_length", 1, "sequence_length=10 (steps per window)")
    stride = _integer(sequence_stride, "sequence_stride", 1, "sequence_stride=1 (a window at every step)")
    rate = _integer(sampling_rate, "sampling_rate", 1, "sampling_rate=1 (every step of the window)")
    batch = _integer(batch_size, "batch_size", 1, "batch_size=128, or None for one window at a time", none=True)
    start = _integer(start_index, "start_index", 0, "start_index=0, the first step", none=True) or 0
    end = _integer(end_index, "end_index", 1, "leave end_index out to use the series to its end", none=True)
    if seed is not None:
        _integer(seed, "seed", 0, "seed=1337")
    # Keras's checks, in its order
    if start >= steps:
        _refuse("start_index", f"lower than the length of the data ({steps})", repr(start),
                f"start_index=0, or any step before {steps}")
    if end is not None and end <= start:
        _refuse("end_index", f"higher than start_index ({start})", repr(end),
                "an end_index above start_index, or leave it out to use the series to its end")
    if end is not None and end >= steps:
        _refuse("end_index", f"lower than the length of the data ({steps}), as in Keras", repr(end),
                "leave end_index out (None) to use the series to its end")
    if rate >= steps:
        _refuse("sampling_rate", f"lower than the length of the data ({steps})", repr(rate), "sampling_rate=1")
    if stride >= steps:
        _refuse("sequence_stride", f"lower than the length of the data ({steps})", repr(stride),
                f"sequence_stride={length} for windows that follow each other without overlap")
    end = steps if end is None else end

    span = (length - 1) * rate + 1  # the steps one window covers
    n = end - start - span + 1  # the starts (from start) whose window ends before end
    if n <= 0:  # Keras returns an empty dataset
        raise ValueError(f"timeseries_dataset_from_array: expected data long enough for one window "
                         f"(sequence_length={length} with sampling_rate={rate} covers {span} steps), got "
                         f"{end - start} steps from step {start} to {end}. Fix: a shorter sequence_length or "
                         "sampling_rate, or more data.")
    labels = None
    if targets is not None:
        labels = _series(targets, "targets")
        n = min(n, len(labels))  # Keras: no more windows than targets
        last = start + (n - 1) // stride * stride  # the step where the last window starts
        if last >= len(labels):
            _refuse("targets to reach the step where the last window starts", f"(step {last})",
                    f"{len(labels)} targets", f"one target per step of data ({steps}), or start_index=0")
    starts = torch.arange(start, start + n, stride)  # (windows,)
    windows = _Windows(series, labels, starts, length, rate)
    generator = torch.Generator().manual_seed(int(seed)) if shuffle and seed is not None else None
    return torch.utils.data.DataLoader(windows, batch_size=batch, shuffle=bool(shuffle), generator=generator)
