"""Where fit, evaluate and predict read batches from when ``x`` is not arrays.

The sources Keras 3's fit takes besides arrays:

* a ``torch.utils.data.DataLoader``: one epoch is one pass over it (its
  length), its own sampler shuffles, its own workers load;
* a ``torch.utils.data.Dataset`` (Keras refuses a bare one): batched here
  by a DataLoader with fit's ``batch_size`` and ``shuffle``;
* a ``brainnet.utils.PyDataset`` (Keras's ``PyDataset`` / ``Sequence``):
  ``len()`` batches, ``dataset[i]`` the i-th; fit's ``shuffle`` shuffles the
  order of the batches each epoch, ``on_epoch_begin``/``on_epoch_end`` are
  called around each epoch; with ``workers > 1`` or ``use_multiprocessing``
  its batches load ahead in threads or processes (``_parallel_batches.py``),
  which stop at the end of each pass and in ``BatchSource.close()``;
* a Python generator or other iterator: read once, so fit needs
  ``steps_per_epoch`` (it may never end) and takes that many batches per
  epoch from where the last epoch stopped; when it runs out, fit warns and
  stops, as Keras does.

``BatchSource`` reads one of them epoch after epoch. Under torchrun, fit
and evaluate (and ``validation_data``) take a DataLoader whose sampler is a
``DistributedSampler`` that splits over the processes, so each process
reads its own part; anything else is refused with PyTorch's recipe as the
fix. Before each pass over a training loader ``sampler.set_epoch(epoch)``
is called (in one process too), so the order changes every epoch and is
the same draw in every process. What is done with the batches:
``streaming.py``.
"""

from __future__ import annotations

import collections.abc
import warnings
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data.distributed import DistributedSampler

from .. import distributed
from ._parallel_batches import check_loading, check_picklable, is_parallel, parallel_pass


class PyDataset:
    """Batches made by Python code, as Keras's ``keras.utils.PyDataset``
    (also named ``Sequence``): implement ``__len__`` (the number of batches)
    and ``__getitem__(i)`` (the i-th batch: ``(x, y)``, ``(x, y,
    sample_weight)`` or ``x``); optionally ``on_epoch_begin`` and
    ``on_epoch_end``. ``fit(dataset, shuffle=True)`` visits the batches in a
    new random order each epoch (drawn from torch's generator, so
    ``set_random_seed`` reproduces it).

    Loading in parallel, as Keras: with ``workers > 1`` fit (and evaluate,
    predict) loads up to ``max_queue_size`` batches ahead in ``workers``
    threads, or in ``workers`` processes with ``use_multiprocessing=True``
    (the dataset must then pickle: define its class at module level); the
    batches still arrive in order, so training gives the same weights as
    ``workers=1``. Threads help when ``__getitem__`` waits on files or runs
    NumPy/torch code; processes when it runs plain Python.

    Args:
        workers: batches loaded at once (1: one at a time, in fit's thread).
        use_multiprocessing: worker processes instead of threads.
        max_queue_size: at most this many batches loading or waiting ahead.

    Raises:
        ValueError: workers or max_queue_size below 1, or use_multiprocessing not a bool.

    Example:
        >>> class Squares(PyDataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, i):
        ...         x = np.arange(8 * i, 8 * i + 8, dtype="float32")[:, None] / 32
        ...         return x, x ** 2
        >>> class Loaded(Squares):
        ...     def __init__(self):
        ...         super().__init__(workers=4)  # four batches made at once, handed over in order
        >>> from brainnet import Sequential
        >>> from brainnet.layers import Dense
        >>> model = Sequential([Dense(1, input_shape=(1,))])
        >>> model.compile("sgd", "mse", device="cpu")
        >>> history = model.fit(Loaded(), epochs=2, verbose=0)
        >>> len(history.history["loss"])
        2
    """

    workers: int = 1  # class defaults: a subclass that skips super().__init__() loads one batch at a time
    use_multiprocessing: bool = False
    max_queue_size: int = 10

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        check_loading(workers, use_multiprocessing, max_queue_size, type(self).__name__)
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
                         f"Fix: {name}=100, or leave it out to take one pass over the data (all of the arrays, "
                         "or a DataLoader).")
    return int(steps)


def _check_distributed(sampler: Any, method: str, kind: str, name: str, data: Any) -> None:
    """With several processes (torchrun, or a group the program started),
    fit and evaluate read a DataLoader over a DistributedSampler that splits
    over these processes."""
    world, rank = distributed.world_size(), distributed.rank()
    if sampler is None:
        user_loader = kind == "loader" and name == type(data).__name__  # not a Dataset batched here
        got = f"a {name} whose sampler is a {type(data.sampler).__name__}" if user_loader else f"a {name}"
        raise ValueError(
            f"{method}: expected arrays, or a DataLoader whose sampler is a DistributedSampler, with {world} "
            f"processes (torchrun, or a torch.distributed group), got {got}: every process would read all of the "
            "batches. Fix: sampler = "
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
        if kind == "dataset" and isinstance(data, torch.utils.data.IterableDataset):
            raise ValueError(
                f"{method}: expected a DataLoader, or a Dataset of samples that {method} batches, got the "
                f"IterableDataset {name}, whose items may be samples or whole batches. Fix: "
                f"{method}(DataLoader(dataset, batch_size=None)) if it yields batches (tf.data's "
                "dataset.map(fn) on batches), DataLoader(dataset, batch_size=32) if it yields samples."
            )
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
        self.pin_memory = False  # worker processes pin the tensors they make (fit sets it for a CUDA model)
        if kind == "pydataset":  # Keras's loading settings can change after __init__: checked here again
            check_loading(data.workers, data.use_multiprocessing, data.max_queue_size, name)
            if data.use_multiprocessing:
                check_picklable(data, method)
        self._iterator: Iterator | None = None
        self._passes = 0
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
            if is_parallel(self.data):
                self._passes += 1  # the worker processes' seeds: set_random_seed's, a new one each pass
                return parallel_pass(self.data, order, (torch.initial_seed() + self._passes) % 2 ** 63,
                                     self.pin_memory)
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
            self.close()
        if self.kind == "pydataset":
            self.data.on_epoch_end()

    def close(self) -> None:
        """Stop the pass in hand: a PyDataset's loading threads or processes
        shut down (fit, evaluate and predict call it when they end, even on
        an error or Ctrl-C). A user's iterator is left open."""
        if self.kind == "pydataset" and self._iterator is not None:
            self._iterator.close()
        self._iterator = None


def close(*sources: Any) -> None:
    """``BatchSource.close()`` of those given that are batch sources (validation data may be arrays or None)."""
    for source in sources:
        if isinstance(source, BatchSource):
            source.close()
