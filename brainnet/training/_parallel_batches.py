"""A ``PyDataset``'s batches loaded ahead in parallel, as Keras 3's
``PyDataset(workers=..., use_multiprocessing=..., max_queue_size=...)``.

With ``workers > 1`` (or ``use_multiprocessing=True``) a pass over the
batches ``order[0], order[1], ...`` reads batch 0 here, then keeps up to
``max_queue_size`` of the next batches loading at once and hands them
over in order, so the model sees the same batches in the same order as
with ``workers=1``:

* threads (``use_multiprocessing=False``): a ``ThreadPoolExecutor`` of
  ``workers`` threads, each ``dataset[i]`` one task; good when
  ``__getitem__`` waits (files, network) or runs code that releases the GIL
  (NumPy, PIL, torch);
* processes (``use_multiprocessing=True``): a ``torch.utils.data.DataLoader``
  whose item ``i`` is batch ``i`` (``batch_size=None``), with ``workers``
  worker processes, each ``ceil(max_queue_size / workers)`` batches ahead;
  good for Python code that holds the GIL. The dataset must pickle. New
  workers start with each pass, so they see what ``on_epoch_end`` changed.

Batch 0 of a pass is read in this thread so that fit can look at the first
batch (to build the model) before ``on_epoch_begin`` without starting any
worker. The workers stop when the pass ends or is closed (the end of fit,
an error, Ctrl-C): ``close()`` of the generator shuts them down and waits.
"""

from __future__ import annotations

import collections
import itertools
import math
import pickle
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterator, Sequence

import torch

THREAD_NAME = "brainnet-pydataset"


def check_loading(workers: Any, use_multiprocessing: Any, max_queue_size: Any, name: str) -> None:
    """Refuse loading settings that cannot work.

    Raises:
        ValueError: workers or max_queue_size not a positive int, use_multiprocessing not a bool.
    """
    for arg, value, fix in (
        ("workers", workers, "workers=1 loads one batch at a time in this process, workers=4 four at once"),
        ("max_queue_size", max_queue_size, "max_queue_size=10 (the default) keeps up to 10 batches loading ahead"),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected {arg} to be a whole number >= 1, got {arg}={value!r}. "
                             f"Fix: {fix}.")
    if not isinstance(use_multiprocessing, bool):
        raise ValueError(f"{name}: expected use_multiprocessing to be True or False, got "
                         f"use_multiprocessing={use_multiprocessing!r}. Fix: use_multiprocessing=True for "
                         "worker processes, False (the default) for threads.")


def is_parallel(dataset: Any) -> bool:
    """Whether fit loads this PyDataset's batches ahead in workers (Keras's rule)."""
    return dataset.workers > 1 or dataset.use_multiprocessing


def check_picklable(dataset: Any, method: str) -> None:
    """Worker processes get a pickled copy of the dataset.

    Raises:
        ValueError: the dataset does not pickle.
    """
    try:
        pickle.dumps(dataset)
    except Exception as error:  # pickle raises several types (PicklingError, TypeError, AttributeError)
        name = type(dataset).__name__
        raise ValueError(
            f"{method}: expected a {name} that pickles, as use_multiprocessing=True copies it into each worker "
            f"process, got one that does not ({type(error).__name__}: {error}). Fix: define the class at the top "
            "level of a module and keep no open files, locks or lambdas in its attributes (open files in "
            "__getitem__), or use threads: use_multiprocessing=False."
        ) from None


class _Batches(torch.utils.data.Dataset):
    """Item ``i`` is the PyDataset's batch ``i`` (for a DataLoader with ``batch_size=None``)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]


def _as_is(batch: Any) -> Any:
    """The batch as ``__getitem__`` made it (the DataLoader's default would make arrays tensors)."""
    return batch


def parallel_pass(dataset: Any, order: Sequence[int], seed: int, pin_memory: bool = False) -> Iterator[Any]:
    """The batches ``dataset[i]`` for ``i`` in ``order``, in that order, loaded ahead by the dataset's workers
    (``seed``: of the worker processes' torch generators, drawn apart from torch's global generator so that
    the shuffles of later epochs stay those of ``workers=1``; ``pin_memory``: worker processes put the
    tensors in page-locked memory, for a CUDA model)."""
    if len(order) == 0:
        return
    yield dataset[order[0]]  # here: fit peeks at it before on_epoch_begin, with no worker started
    rest = list(order[1:])
    if not rest:
        return
    if dataset.use_multiprocessing:
        yield from _processes(dataset, rest, seed, pin_memory)
    else:
        yield from _threads(dataset, rest)


def _threads(dataset: Any, order: list[int]) -> Iterator[Any]:
    pool = ThreadPoolExecutor(max_workers=dataset.workers, thread_name_prefix=THREAD_NAME)
    pending: collections.deque[Future] = collections.deque()
    indices = iter(order)
    try:
        for index in itertools.islice(indices, dataset.max_queue_size):
            pending.append(pool.submit(dataset.__getitem__, index))
        while pending:
            batch = pending.popleft().result()  # in order; an error in __getitem__ is raised here
            index = next(indices, None)
            if index is not None:  # one more in flight for the one taken
                pending.append(pool.submit(dataset.__getitem__, index))
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # the end of the pass, or close(): no thread outlives it


def _processes(dataset: Any, order: list[int], seed: int, pin_memory: bool) -> Iterator[Any]:
    workers = dataset.workers
    loader = torch.utils.data.DataLoader(
        _Batches(dataset), batch_size=None, sampler=order, num_workers=workers, collate_fn=_as_is,
        prefetch_factor=math.ceil(dataset.max_queue_size / workers), pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),  # its own: the global generator draws fit's shuffles
    )
    batches = iter(loader)
    try:
        yield from batches
    finally:
        batches._shutdown_workers()  # what the iterator's __del__ does, now rather than whenever it is collected
