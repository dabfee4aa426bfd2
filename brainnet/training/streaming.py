"""fit, evaluate and predict on data that comes in batches, beside the array path.

The sources Keras 3's fit takes besides arrays:

* a ``torch.utils.data.DataLoader``: one epoch is one pass over it (its
  length), its own sampler shuffles, its own workers load;
* a ``torch.utils.data.Dataset`` (Keras refuses a bare one): batched here
  by a DataLoader with fit's ``batch_size`` and ``shuffle``;
* a ``brainnet.utils.PyDataset`` (Keras's ``PyDataset`` / ``Sequence``):
  ``len()`` batches, ``dataset[i]`` the i-th; fit's ``shuffle`` shuffles the
  order of the batches each epoch, ``on_epoch_begin``/``on_epoch_end`` are
  called around each epoch;
* a Python generator or other iterator: read once, so fit needs
  ``steps_per_epoch`` (it may never end) and takes that many batches per
  epoch from where the last epoch stopped; when it runs out, fit warns and
  stops, as Keras does.

Each batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a
list works as a tuple, a dict is ``x`` keyed by Input names), and goes
through the same checks as arrays (``Trainer._inputs``, ``_labels``,
``_sample_weights``), then to the model's device (``non_blocking``, which
overlaps the copy when the loader pins memory).

Training runs the eager step (compiled with ``torch.compile`` under
``jit_compile=True``; a smaller last batch compiles once more), never the
CUDA graph, which replays a step over arrays held on the device. The array
path in ``trainer.py`` is untouched by any of this.

Under torchrun (PyTorch's recipe): ``fit`` and ``evaluate`` (and
``validation_data``) take a DataLoader whose sampler is a
``DistributedSampler``, so each process reads its own part; anything else
is refused with that recipe as the fix. Before each pass over a training
loader ``sampler.set_epoch(epoch)`` is called (in one process too), so the
order changes every epoch and is the same draw in every process. Every
process must read as many batches of the same size per epoch (checked once
at the start: a mismatch would leave the gradients' all-reduce waiting); each
gradient then weighs 1 / W, and the step, the sums behind the logs and
the stops are the array path's (``distributed.DataParallel``). The sampler
pads the samples to a multiple of W by repeating the first ones: training
counts them as PyTorch's recipe does, evaluation leaves each process's
repeated last sample out, so its results are those of the samples
themselves. ``predict`` runs in each process on what its loader reads.
"""

from __future__ import annotations

import collections.abc
import warnings
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data.distributed import DistributedSampler

from .. import _malloc, distributed
from .callbacks import BatchLogs, Callback, History, ProgressBar, overrides_batch_hooks
from .stopping import CtrlC, check_finite_loss


class PyDataset:
    """Batches made by Python code, as Keras's ``keras.utils.PyDataset``
    (also named ``Sequence``): implement ``__len__`` (the number of batches)
    and ``__getitem__(i)`` (the i-th batch: ``(x, y)``, ``(x, y,
    sample_weight)`` or ``x``); optionally ``on_epoch_begin`` and
    ``on_epoch_end``. ``fit(dataset, shuffle=True)`` visits the batches in a
    new random order each epoch (drawn from torch's generator, so
    ``set_random_seed`` reproduces it).

    Example:
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         x = np.arange(8 * i, 8 * i + 8, dtype="float32")[:, None]
        ...         return x, x ** 2
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        # Keras's arguments, kept for ported code; batches are made in this process.
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError("PyDataset: define __len__, the number of batches")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("PyDataset: define __getitem__(index), the batch at that index")

    def on_epoch_begin(self) -> None:
        """Called before each epoch."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (e.g. to shuffle the samples)."""


def source_kind(data: Any) -> str | None:
    """"loader", "dataset", "pydataset" or "iterator"; None for anything else (arrays)."""
    if isinstance(data, torch.utils.data.DataLoader):
        return "loader"
    if isinstance(data, torch.utils.data.Dataset):
        return "dataset"
    if isinstance(data, PyDataset):
        return "pydataset"
    if isinstance(data, collections.abc.Iterator):
        return "iterator"
    return None


def is_batch_source(data: Any) -> bool:
    return source_kind(data) is not None


def check_steps(steps: Any, name: str) -> int | None:
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{name}: expected a positive number of batches or None, got {steps!r}. "
                         f"Fix: {name}=100, or leave it out to take one pass over a DataLoader.")
    return int(steps)


def _check_distributed(sampler: Any, method: str, kind: str, name: str, data: Any) -> None:
    """Under torchrun, fit and evaluate read a DataLoader over a
    DistributedSampler that splits over these processes."""
    world, rank = distributed.world_size(), distributed.rank()
    if sampler is None:
        user_loader = kind == "loader" and name == type(data).__name__  # not a Dataset batched here
        got = f"a {name} whose sampler is a {type(data.sampler).__name__}" if user_loader else f"a {name}"
        raise ValueError(
            f"{method}: expected arrays, or a DataLoader whose sampler is a DistributedSampler, under torchrun "
            f"({world} processes), got {got}: every process would read all of the batches. Fix: sampler = "
            "DistributedSampler(dataset, num_replicas=world_size(), rank=rank()); loader = DataLoader(dataset, "
            "batch_size=per_process_batch, sampler=sampler) (world_size and rank from brainnet.distributed), "
            "then model.fit(loader)."
        )
    if (sampler.num_replicas, sampler.rank) != (world, rank):
        raise ValueError(
            f"{method}: expected a DistributedSampler that splits over the {world} processes, this one as rank "
            f"{rank}, got num_replicas={sampler.num_replicas}, rank={sampler.rank}. Fix: sampler = "
            "DistributedSampler(dataset, num_replicas=world_size(), rank=rank()) (world_size and rank from "
            "brainnet.distributed)."
        )


class BatchSource:
    """The batches of one source, epoch after epoch.

    ``steps`` (``steps_per_epoch``, or ``steps`` of evaluate/predict): None
    is one pass per epoch (a DataLoader's or PyDataset's length, an
    iterator until it ends); a number takes that many batches per epoch,
    going on from where the last epoch stopped and starting a new pass of a
    DataLoader or PyDataset when one ends (Keras ends that epoch early
    instead, with a warning). ``exhausted`` says an iterator ran out.
    """

    def __init__(self, data: Any, method: str, batch_size: int | None, default_batch_size: int, shuffle: bool,
                 steps: int | None, steps_name: str, epoch: int | None = None) -> None:
        kind = source_kind(data)
        name = type(data).__name__
        if kind == "dataset":  # batched here, as fit batches arrays (Keras takes DataLoaders only)
            data = torch.utils.data.DataLoader(data, batch_size=batch_size or default_batch_size, shuffle=shuffle)
            kind = "loader"
        elif batch_size is not None:  # Keras ignores it; brainnet drops nothing silently
            raise ValueError(
                f"{method}: expected no batch_size with a {name}, which makes its own batches, got "
                f"batch_size={batch_size!r}. Fix: leave batch_size out and set the size where the batches are made, "
                "e.g. DataLoader(dataset, batch_size=64)."
            )
        # The DistributedSampler of a training loader hears set_epoch before each pass.
        self.sampler = data.sampler if kind == "loader" and isinstance(data.sampler, DistributedSampler) else None
        if distributed.world_size() > 1 and method != "predict":
            _check_distributed(self.sampler, method, kind, name, data)
        self.data, self.kind, self.name = data, kind, name
        self.number = epoch  # the epoch a new pass is for (fit's training loader), else None
        self._pass_number: int | None = None  # the epoch the iterator in hand was made for
        self._read = 0  # batches the iterator in hand has given
        self.steps, self.steps_name, self.method = steps, steps_name, method
        self.shuffle = bool(shuffle) and kind == "pydataset"  # a DataLoader's sampler shuffles, an iterator cannot
        self.exhausted = False
        self._iterator: Iterator | None = None
        self._peeked: list[Any] = []
        self._fresh = True  # the iterator in hand has given no batch yet
        if kind == "iterator" and steps is None and method in ("fit", "validation_data"):
            raise ValueError(
                f"{method}: expected {steps_name} with a {name}, which is read once and may never end, got "
                f"{steps_name}=None. Fix: {steps_name}=N (batches per epoch), or give a DataLoader or a "
                "brainnet.utils.PyDataset, which fit can read again every epoch."
            )

    @property
    def batch_size(self) -> int | None:
        return getattr(self.data, "batch_size", None)

    @property
    def length(self) -> int | None:
        """Batches in one pass, or None (an iterator, or a DataLoader of an IterableDataset without len)."""
        if self.kind == "iterator":
            return None
        try:
            return len(self.data)
        except TypeError:
            return None

    @property
    def steps_per_epoch(self) -> int | None:
        return self.steps if self.steps is not None else self.length

    @property
    def pads_last_sample(self) -> bool:
        """Whether this process's last sample of a pass is one its
        DistributedSampler repeated to even out the parts (the sampler
        interleaves: this process gets positions rank, rank + W, ... of the
        padded list, the padding at its end), and the loader reads it."""
        s = self.sampler
        if s is None or s.drop_last or self.batch_size is None:
            return False
        last = (s.num_samples - 1) * s.num_replicas + s.rank  # position of this process's last sample
        read = not self.data.drop_last or s.num_samples % self.batch_size == 0
        return read and last >= len(s.dataset)

    @property
    def at_pass_end(self) -> bool:
        """Whether the batch just given is the last of a pass."""
        return self.length is not None and self._read == self.length

    def _new_pass(self) -> Iterator:
        if self.kind == "pydataset":
            order = torch.randperm(len(self.data)).tolist() if self.shuffle else range(len(self.data))
            return (self.data[i] for i in order)
        if self.sampler is not None and self.number is not None:
            self.sampler.set_epoch(self.number)  # PyTorch's recipe: a new order each epoch, alike everywhere
        self._pass_number = self.number
        return iter(self.data)

    def _next(self) -> Any:
        if self._peeked:
            return self._peeked.pop(0)
        if self._iterator is None:
            self._iterator, self._fresh, self._read = self._new_pass(), True, 0
        batch = next(self._iterator)
        self._fresh = False
        self._read += 1
        return batch

    def peek(self) -> Any:
        """The first batch, kept for the epoch to come (to build and check the model before training)."""
        try:
            batch = self._next()
        except StopIteration:
            raise ValueError(
                f"{self.method}: expected at least one batch, got an empty {self.name}. Fix: check that its "
                "dataset holds samples (len(dataset) > 0) and that a generator yields before it returns."
            ) from None
        self._peeked.append(batch)
        return batch

    def epoch(self, number: int | None = None) -> Iterator[Any]:
        """The batches of one epoch (``number``: fit's epoch, for the
        DistributedSampler's ``set_epoch``)."""
        if number is not None and self.sampler is not None:
            self.number = number
            if self._peeked and self._pass_number != number:  # peeked for another epoch (a restored backup's)
                self._peeked, self._iterator = [], None
        if self.kind == "pydataset":
            self.data.on_epoch_begin()
        done = 0
        while self.steps is None or done < self.steps:
            try:
                batch = self._next()
            except StopIteration:
                fresh, self._iterator = self._fresh, None
                if self.steps is None:
                    break  # the pass is over: so is the epoch
                if self.kind == "iterator":
                    self.exhausted = True
                    warnings.warn(
                        f"{self.method}: the {self.name} ran out of data after {done} batch(es) of this epoch; "
                        f"training stops here (as Keras). Fix: make it yield at least {self.steps_name} × epochs "
                        "batches (e.g. loop forever with `while True:`), or lower epochs.",
                        stacklevel=4,
                    )
                    break
                if fresh:  # a new pass with no batch at all: it would loop for ever
                    raise ValueError(
                        f"{self.method}: expected batches, got an empty pass of the {self.name}. Fix: check that "
                        "its dataset still holds samples."
                    ) from None
                continue  # a new pass of the DataLoader or PyDataset, within the epoch
            done += 1
            yield batch
        if self.steps is None:
            self._iterator = None
        if self.kind == "pydataset":
            self.data.on_epoch_end()


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
    xs = trainer._inputs(x)
    if method == "predict":
        return xs
    if y is None:
        raise ValueError(
            f"{method}: expected batches (x, y) or (x, y, sample_weight), got batches of inputs only, so there "
            "are no labels to compute the loss with. Fix: make the dataset return (x, y) pairs, e.g. "
            "TensorDataset(x, y)."
        )
    ys = trainer._labels(y, xs)
    sws = [] if w is None else trainer._sample_weights(w, ys[0].shape[0], "sample_weight")
    return xs, ys, trainer._class_weights(class_weight, xs, ys, sws, method)


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
        validation_steps: Any) -> History:
    """``Trainer.fit`` for a batch source ``x``."""
    from .trainer import DEFAULT_BATCH_SIZE, cudnn_autotune

    source = BatchSource(x, "fit", batch_size, DEFAULT_BATCH_SIZE, shuffle, check_steps(steps_per_epoch, "steps_per_epoch"),
                         "steps_per_epoch", epoch=initial_epoch)
    refuse_with_source("fit", source.name, y, sample_weight, validation_split)
    val = trainer.validation(validation_data, validation_steps)
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
    history = History()
    cbs = ([ProgressBar(verbose)] if verbose else []) + list(callbacks or []) + [history]
    params = {"epochs": epochs, "steps": steps, "verbose": verbose, "batch_size": batch_size}
    for cb in cbs:
        cb.set_model(trainer.model)
        cb.set_params(params)
    trainer.stop_training = False
    trainer.interrupted = False
    history.params, history.model = params, trainer.model
    trainer.history, trainer.resume_from, trainer.epoch_order = history, None, None
    trainer.loop_info = {"source": source.name, "batch_size": batch_size, "steps": steps,
                         "shuffle": source.shuffle}

    with CtrlC() as ctrl_c, cudnn_autotune(trainer.device):
        try:
            for cb in cbs:
                cb.on_train_begin({})
            _epochs(trainer, source, val, epochs, initial_epoch, class_weight, cbs, ctrl_c)
        except KeyboardInterrupt:
            trainer.interrupted = True
            epoch, done = trainer.position
            warnings.warn(
                f"fit: interrupted (Ctrl-C) in epoch {epoch + 1}/{epochs} after {done} batches. The History "
                f"holds the {len(history.epoch)} finished epoch(s); the model keeps its weights and can predict, "
                "evaluate, save or fit again.",
                stacklevel=3,
            )
    last_logs = {k: v[-1] for k, v in history.history.items()}
    for cb in cbs:
        cb.on_train_end(last_logs)
    return history


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


def _epochs(trainer: Any, source: BatchSource, val: Any, epochs: int, initial_epoch: int, class_weight: Any,
            cbs: list[Callback], ctrl_c: CtrlC) -> None:
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb)]
    parallel = trainer.parallel  # under torchrun: the stops agreed and the sums added as on the array path
    start, _ = parallel.same_start(trainer, *trainer._start(initial_epoch))
    for epoch in range(start["epoch"], epochs):
        for cb in cbs:
            cb.on_epoch_begin(epoch, {})
        first = start["step"] if epoch == start["epoch"] else 0  # a backup made mid-epoch: skip what was done
        if first == 0:
            trainer._reset()
        trainer.model.train()
        trainer.position = (epoch, first)
        losses = []
        for step, batch in enumerate(source.epoch(epoch)):
            if step < first:
                continue
            for cb in batch_cbs:
                cb.on_train_batch_begin(step, {})
            losses.append(trainer.train_step(*prepare_batch(trainer, batch, "fit", class_weight)))
            trainer.position = (epoch, step + 1)
            if batch_cbs:
                logs = BatchLogs(trainer.running_logs)
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
        if val is not None:
            logs.update({f"val_{k}": v for k, v in trainer.validation_logs(val, cbs).items()})
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
    from .trainer import inference_layers

    for cb in cbs:
        cb.on_test_begin({})
    trainer.penalized = trainer.has_penalties()
    trainer._reset()
    repeated = source.pads_last_sample
    with inference_layers(trainer.model):
        for batch in source.epoch():
            xs, ys, sws = prepare_batch(trainer, batch, "evaluate")
            if repeated and source.at_pass_end:  # the DistributedSampler's padding: counted once, elsewhere
                xs, ys, sws = ([t[:-1] for t in ts] for ts in (xs, ys, sws))
                if ys[0].shape[0] == 0:
                    continue
            with trainer.autocast():
                trainer._record(*trainer._forward_loss(xs, ys, sws), ys, sws)
    trainer.parallel.sum_metrics(trainer)  # under torchrun: every process's parts
    logs = trainer.running_logs()
    for cb in cbs:
        cb.on_test_end(logs)
    return logs


def evaluate(trainer: Any, x: Any, y: Any, batch_size: int | None, callbacks: list[Callback] | None,
             sample_weight: Any, steps: Any) -> dict[str, float]:
    """``Trainer.evaluate`` for a batch source ``x``."""
    from .trainer import DEFAULT_INFERENCE_BATCH_SIZE, cudnn_autotune

    source = BatchSource(x, "evaluate", batch_size, DEFAULT_INFERENCE_BATCH_SIZE, False,
                         check_steps(steps, "steps"), "steps")
    refuse_with_source("evaluate", source.name, y, sample_weight)
    source.peek()
    trainer.model.to(trainer.device)
    trainer.parallel.start(trainer, None, broadcast=False)  # under torchrun: each process its part
    with cudnn_autotune(trainer.device):
        return evaluate_source(trainer, source, list(callbacks or []))


# ------------------------------------------------------------- predict
@torch.no_grad()
def predict(trainer: Any, x: Any, batch_size: int | None, steps: Any) -> Any:
    """``Trainer.predict`` for a batch source ``x``: the outputs of every
    batch's inputs (labels in the batches are ignored, as Keras does)."""
    from .trainer import DEFAULT_INFERENCE_BATCH_SIZE, cudnn_autotune, inference_layers

    source = BatchSource(x, "predict", batch_size, DEFAULT_INFERENCE_BATCH_SIZE, False,
                         check_steps(steps, "steps"), "steps")
    source.peek()
    trainer.model.to(trainer.device)
    chunks = []
    with cudnn_autotune(trainer.device), inference_layers(trainer.model):
        for batch in source.epoch():
            xs = prepare_batch(trainer, batch, "predict")
            with trainer.autocast():
                chunks.append(trainer.model(trainer._model_input(xs)))
    return trainer.gathered(chunks)
