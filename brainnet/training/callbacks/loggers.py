"""Callbacks that record or guard training: CSVLogger, TensorBoard,
TerminateOnNaN."""

from __future__ import annotations

import csv
import math
import os
import warnings
from pathlib import Path
from typing import Any

from ...distributed import is_main_process
from ._profiling import BatchProfiler, profile_range
from .base import Callback


class CSVLogger(Callback):
    """Write each epoch's logs as one row of a CSV file.

    The columns are ``epoch`` (0-based, as Keras) and the log names in
    alphabetical order; a row is flushed to disk as soon as its epoch ends.
    When fit validates after some epochs only (``validation_freq``) and not
    after the first, the ``val_`` columns are there from the start, ``NA``
    where an epoch has no validation (as Keras).

    Args:
        filename: the CSV file.
        separator: the column separator (default ``","``).
        append: add to an existing file (its header is kept) instead of
            starting a new one.

    Example:
        >>> log = CSVLogger("training.csv")
    """

    def __init__(self, filename: str | os.PathLike, separator: str = ",", append: bool = False) -> None:
        super().__init__()
        self.filename, self.separator, self.append = Path(filename), separator, bool(append)
        self._file: Any = None
        self._writer: Any = None
        self._keys: list[str] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not is_main_process():  # under torchrun only rank 0 writes
            return
        self._header = not (self.append and self.filename.exists() and self.filename.stat().st_size > 0)
        self.filename.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="", encoding="utf-8")
        self._writer, self._keys = None, None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_main_process():
            return
        logs = dict(logs or {})
        if self._keys is None:
            self._keys = sorted(logs)
            if self.params.get("validation_freq", 1) != 1 and not any(k.startswith("val_") for k in logs):
                self._keys += [f"val_{k}" for k in self._keys]  # validated later: the columns are needed
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys, delimiter=self.separator)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


class TerminateOnNaN(Callback):
    """Stop training, without an error, at the first batch whose loss is NaN
    or infinite (Keras's behaviour; without this callback ``fit`` raises a
    ``FloatingPointError`` at the end of that epoch). It reads the loss
    after every batch, so each step waits for the device.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            epochs = self.params.get("epochs", "?")
            warnings.warn(
                f"TerminateOnNaN: the loss is {loss} in epoch {self._epoch + 1}/{epochs} "
                f"at batch {batch + 1}/{self.params.get('steps', '?')}; training stopped. Usual causes: "
                "a learning rate too high, or inputs that are not scaled (e.g. pixels 0-255: "
                "x = x / 255.0). Fix: lower the learning rate or scale the inputs.",
                RuntimeWarning,
                stacklevel=2,
            )
            self.model.stop_training = True


def _summary_writer() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError(
            "TensorBoard callback: expected the 'tensorboard' package (PyTorch's SummaryWriter "
            "writes event files through it), got none installed. Fix: pip install tensorboard "
            "(or pip install 'brainnet[tensorboard]')."
        ) from None
    return SummaryWriter


class TensorBoard(Callback):
    """Write the logs as TensorBoard event files (``tensorboard --logdir logs``).

    Training values go to ``log_dir/train`` and validation values to
    ``log_dir/validation``, both under the tag ``epoch_<name>`` (so
    ``loss`` and ``val_loss`` share one chart, as in Keras).

    Args:
        log_dir: the folder for the event files (default ``"logs"``).
        histogram_freq: every this many epochs, a histogram of each weight
            (0: none).
        update_freq: ``"epoch"``, or a number of batches between
            ``batch_<name>`` values of the running logs.
        profile_batch: the training batches to profile with torch's
            profiler, counted from 1 across epochs: ``n`` (batch n alone),
            ``(start, stop)`` (both included) or ``"start,stop"``; 0 (default)
            none. The trace goes to ``log_dir/train/plugins/profile/`` as a
            ``*.pt.trace.json`` (TensorBoard's PyTorch profiler plugin,
            ``chrome://tracing`` or Perfetto show it), each batch a span
            ``train_batch_<n>``.
        embeddings_freq: 0 only (Keras's embedding projector is not written).

    Raises:
        ImportError: the optional ``tensorboard`` package is not installed.
        ValueError: a bad ``update_freq`` or ``profile_batch``; ``embeddings_freq`` other than 0.
    """

    def __init__(self, log_dir: str | os.PathLike = "logs", histogram_freq: int = 0, update_freq: str | int = "epoch",
                 profile_batch: Any = 0, embeddings_freq: int = 0) -> None:
        super().__init__()
        if embeddings_freq != 0:
            raise ValueError(
                f"TensorBoard: expected embeddings_freq=0 (brainnet writes the scalars and weight histograms, not "
                f"Keras's embedding projector), got {embeddings_freq!r}. Fix: leave embeddings_freq out, and read "
                "an Embedding's vectors with layer.get_weights()[0] (histogram_freq=1 charts their distribution)."
            )
        self._writer_class = _summary_writer()
        if update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, int) or update_freq < 1):
            raise ValueError(
                f"TensorBoard: expected update_freq 'epoch' or a number of batches ≥ 1, got {update_freq!r}. "
                "Fix: update_freq='epoch' or update_freq=100."
            )
        self.log_dir, self.histogram_freq, self.update_freq = Path(log_dir), int(histogram_freq), update_freq
        self._writers: dict[str, Any] = {}
        self._batches = 0
        batches = profile_range(profile_batch)
        self._profiler = None if batches is None else BatchProfiler(*batches, self.log_dir / "train" / "plugins" / "profile")
        self._profiled_batch = 0  # Keras's global batch count: from 1, across the epochs of one fit

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._profiled_batch = 0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._profiled_batch += 1
        if self._profiler is not None and is_main_process():
            self._profiler.batch_begin(self._profiled_batch)

    def _writer(self, split: str) -> Any:
        if split not in self._writers:
            self._writers[split] = self._writer_class(log_dir=str(self.log_dir / split))
        return self._writers[split]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self._profiler is not None:
            self._profiler.batch_end(self._profiled_batch)
        if not is_main_process():  # under torchrun only rank 0 writes
            return
        if self.update_freq != "epoch" and self._batches % self.update_freq == 0:
            for name, value in (logs or {}).items():
                self._writer("train").add_scalar(f"batch_{name}", value, self._batches)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if not is_main_process():
            return
        for name, value in (logs or {}).items():
            split, name = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self._writer(split).add_scalar(f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for name, weight in self.model.state_dict().items():
                if weight.is_floating_point():
                    self._writer("train").add_histogram(name, weight.detach().float().cpu(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._profiler is not None:
            self._profiler.close()  # training ended inside the range: the trace so far
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
