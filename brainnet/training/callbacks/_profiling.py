"""``TensorBoard(profile_batch=...)``: torch's profiler over a range of
training batches, as Keras 3's TensorBoard runs TensorFlow's profiler.

Batches are counted from 1 across the epochs of one ``fit`` (Keras's
global batch count); the profiler starts as batch ``start`` begins and stops
as batch ``stop`` ends (or when training ends first), then writes one Chrome
trace (``*.pt.trace.json``) under ``log_dir/train/plugins/profile/``, where
TensorBoard's PyTorch profiler plugin (``torch-tb-profiler``) finds it and
``chrome://tracing`` or Perfetto open it. Each profiled batch is a span named
``train_batch_<n>`` in the trace, so that the time of each step is read off
at a glance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def profile_range(profile_batch: Any) -> tuple[int, int] | None:
    """``(start, stop)`` of the batches to profile, counted from 1, or None for
    ``profile_batch=0`` (off, Keras's default). Takes an int ``n`` (batch ``n``
    alone), a pair ``(start, stop)``, or Keras 2's string ``"start,stop"``.

    Raises:
        ValueError: anything else, a negative start, or stop before start.
    """
    given = profile_batch
    if isinstance(profile_batch, str):
        try:
            profile_batch = tuple(int(part) for part in profile_batch.split(","))
        except ValueError:
            profile_batch = None
        if profile_batch is not None and len(profile_batch) == 1:
            profile_batch = profile_batch[0]
    if isinstance(profile_batch, (int,)) and not isinstance(profile_batch, bool):
        start = stop = profile_batch
    elif (isinstance(profile_batch, (tuple, list)) and len(profile_batch) == 2
          and all(isinstance(b, int) and not isinstance(b, bool) for b in profile_batch)):
        start, stop = profile_batch
    else:
        start = stop = -1
    if start < 0 or stop < start:
        raise ValueError(
            f"TensorBoard: expected profile_batch a batch number ≥ 0 (0: no profiling) or a pair (start, stop) of "
            f"batch numbers with start ≤ stop, counted from 1 across epochs, got {given!r}. Fix: "
            "TensorBoard(log_dir, profile_batch=(10, 15)) profiles batches 10 to 15; profile_batch=3 the third alone."
        )
    return None if start == stop == 0 else (max(start, 1), stop)


class BatchProfiler:
    """Runs ``torch.profiler.profile`` from batch ``start`` to batch ``stop``
    and writes its trace into ``folder`` (see the module's docstring)."""

    def __init__(self, start: int, stop: int, folder: Path) -> None:
        self.start, self.stop, self.folder = start, stop, folder
        self._profiler: Any = None
        self._span: Any = None

    def batch_begin(self, batch: int) -> None:
        """``batch``: the global batch number, from 1."""
        if batch == self.start and self._profiler is None:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self.folder.mkdir(parents=True, exist_ok=True)
            self._profiler = torch.profiler.profile(
                activities=activities, on_trace_ready=torch.profiler.tensorboard_trace_handler(str(self.folder)))
            self._profiler.start()
        if self._profiler is not None:
            self._span = torch.profiler.record_function(f"train_batch_{batch}")
            self._span.__enter__()

    def batch_end(self, batch: int) -> None:
        if self._span is not None:
            self._span.__exit__(None, None, None)
            self._span = None
        if self._profiler is not None and batch >= self.stop:
            self.close()

    def close(self) -> None:
        """Stop and write the trace (training ended inside the range, or the range is done)."""
        if self._span is not None:
            self._span.__exit__(None, None, None)
            self._span = None
        if self._profiler is not None:
            profiler, self._profiler = self._profiler, None
            profiler.stop()  # calls on_trace_ready: the trace file is written
