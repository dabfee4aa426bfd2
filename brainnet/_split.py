"""``split_dataset``: one data set cut in two (e.g. training and test), as
Keras 3's function, behind ``brainnet.utils``. Arrays come back as arrays;
a torch ``Dataset`` as two ``Subset`` views of it, so nothing is read."""

from __future__ import annotations

import random
from typing import Any, NoReturn

import numpy as np
import torch

_ARRAYS = (np.ndarray, torch.Tensor)


def _refuse(argument: str, expected: str, got: str, fix: str, error: type = ValueError) -> NoReturn:
    raise error(f"split_dataset: expected {argument} {expected}, got {got}. Fix: {fix}.")


def _length(dataset: Any) -> int:
    """The number of samples, after checking ``dataset`` is a kind split_dataset takes."""
    if isinstance(dataset, _ARRAYS):
        if dataset.ndim == 0:
            _refuse("dataset", "an array with one sample per row", "a scalar", "np.asarray([...]) of samples")
        return len(dataset)
    if isinstance(dataset, (tuple, list)):
        kind = type(dataset).__name__
        if not dataset:
            _refuse("dataset", f"a non-empty {kind} of arrays", f"an empty {kind}", "split_dataset((x, y), 0.8)")
        for i, part in enumerate(dataset):
            if not isinstance(part, _ARRAYS) or part.ndim == 0:
                _refuse("dataset", f"a {kind} of NumPy arrays (or tensors)", f"{type(part).__name__} at index {i}",
                        "np.asarray each part, e.g. split_dataset((np.asarray(x), np.asarray(y)), 0.8)")
        lengths = [len(part) for part in dataset]
        if len(set(lengths)) > 1:
            _refuse("dataset", f"a {kind} of arrays of one length (one row per sample)", f"lengths {lengths}",
                    "give every array one row per sample, e.g. x of shape (N, ...) with y of shape (N,)")
        return lengths[0]
    if isinstance(dataset, torch.utils.data.IterableDataset):
        _refuse("dataset", "a map-style torch Dataset (with __len__ and __getitem__)",
                f"the IterableDataset {type(dataset).__name__}", "read it into arrays first, or split its source",
                TypeError)
    if isinstance(dataset, torch.utils.data.Dataset):
        try:
            return len(dataset)
        except TypeError:
            _refuse("dataset", "a torch Dataset with __len__", f"{type(dataset).__name__} without it",
                    "define __len__ (the number of samples) on the Dataset", TypeError)
    _refuse("dataset", "a NumPy array, a tuple or list of arrays of one length, or a torch Dataset",
            f"{type(dataset).__name__}", "split_dataset((x, y), left_size=0.8), x and y NumPy arrays", TypeError)


def _sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    """Keras's rule: a float is a fraction (rounded), an int a count, None the rest."""
    for argument, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating))):
            _refuse(argument, "an int (a number of samples), a float (a fraction) or None", repr(size),
                    f"{argument}=0.8 or {argument}=800", TypeError)
    if left_size is None and right_size is None:
        _refuse("left_size or right_size", "(at least one)", "left_size=None and right_size=None",
                "split_dataset(data, left_size=0.8) for 80 % on the left, the rest on the right")
    if left_size == 0 and right_size == 0:
        _refuse("left_size and right_size", "not both zero", "left_size=0 and right_size=0",
                "left_size=0.8 (the rest goes right)")
    counts = {}
    for argument, size in (("left_size", left_size), ("right_size", right_size)):
        if size is None:
            counts[argument] = None
        elif isinstance(size, (float, np.floating)):
            if not 0 < size < 1:
                _refuse(argument, "a fraction between 0 and 1 (exclusive)", repr(size), f"{argument}=0.8")
            counts[argument] = round(float(size) * total)  # Keras: Python's round, half to even
        else:
            if not 0 < size < total:
                _refuse(argument, f"a number of samples between 1 and {total - 1} (the dataset has {total})",
                        repr(size), f"{argument}={max(1, total * 4 // 5)}, or a fraction such as 0.8")
            counts[argument] = int(size)
    if isinstance(left_size, (float, np.floating)) and isinstance(right_size, (float, np.floating)) \
            and left_size + right_size > 1:
        _refuse("left_size + right_size", "at most 1", f"{left_size} + {right_size}",
                "fractions that add up to 1 or less, e.g. left_size=0.8, right_size=0.2")
    left = total - counts["right_size"] if counts["left_size"] is None else counts["left_size"]
    right = total - left if counts["right_size"] is None else counts["right_size"]
    if left + right > total:
        _refuse("left_size + right_size", f"at most the dataset's length {total}", f"{left} + {right} samples",
                "smaller sizes, or leave one of them out (None) for the rest")
    for side, count in (("left", left), ("right", right)):
        if count == 0:
            _refuse(f"a non-empty {side} side", f"(with left_size={left_size!r}, right_size={right_size!r} of "
                    f"{total} samples)", "0 samples", "a larger fraction, or a number of samples ≥ 1")
    return left, right


def _take(part: Any, rows: np.ndarray) -> Any:
    if isinstance(part, torch.Tensor):
        return part[torch.as_tensor(rows, dtype=torch.long, device=part.device)]
    return part[rows]


def split_dataset(dataset: Any, left_size: int | float | None = None, right_size: int | float | None = None,
                  shuffle: bool = False, seed: int | None = None) -> tuple[Any, Any]:
    """Cut a data set in two, a left and a right part (e.g. training and test), as Keras 3's function.

    With ``N`` samples in the order ``p`` (``0 … N − 1``, or a shuffle of it)::

        left  = samples p[0 : a]          a = left_size  (a count, or round(left_size · N))
        right = samples p[N − b : N]      b = right_size (a count, or round(right_size · N))

    A size left out (None) is the rest: ``a = N − b`` or ``b = N − a``. When
    both are given and add up to less than ``N``, the samples between the two
    parts are in neither. The shuffle is Keras's: ``random.Random(seed)``
    shuffles ``p`` (no seed: one drawn from Python's ``random``, which
    ``brainnet.utils.set_random_seed`` seeds), so a seed gives the same split
    as in Keras.

    Args:
        dataset: a NumPy array (one sample per row), a tuple or list of
            arrays of one length (e.g. ``(x, y)``; tensors work as arrays),
            or a map-style ``torch.utils.data.Dataset``.
        left_size: a float in (0, 1), the left part's fraction; an int, its
            number of samples; None: the rest.
        right_size: the same for the right part.
        shuffle: shuffle the samples before cutting (default False).
        seed: for the shuffle.

    Returns:
        ``(left, right)``, each of the dataset's kind: arrays for an array, a
        tuple (list) of arrays for a tuple (list), a ``torch.utils.data.Subset``
        for a Dataset (Keras returns two ``tf.data.Dataset``).

    Raises:
        TypeError: a dataset of another kind, sizes that are not numbers.
        ValueError: an empty dataset or arrays of different lengths, sizes
            outside the dataset, both sizes None or zero, or a side that
            would be empty.

    Example:
        >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
        >>> (x_train, y_train), (x_test, y_test) = split_dataset((x, y), left_size=0.6)
        >>> y_train.tolist(), y_test.tolist()
        ([0, 1, 2], [3, 4])
    """
    total = _length(dataset)
    if total == 0:
        _refuse("dataset", "at least 2 samples", "an empty dataset",
                "split_dataset(data, 0.8) with data holding samples")
    left, right = _sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, 10**6)  # Keras's draw
        random.Random(seed).shuffle(order)  # the permutation Keras's random.seed(seed); random.shuffle(...) makes
    rows = (np.asarray(order[:left], dtype=np.int64), np.asarray(order[total - right:], dtype=np.int64))
    if isinstance(dataset, _ARRAYS):
        return _take(dataset, rows[0]), _take(dataset, rows[1])
    if isinstance(dataset, (tuple, list)):
        return tuple(type(dataset)(_take(part, r) for part in dataset) for r in rows)
    return torch.utils.data.Subset(dataset, rows[0].tolist()), torch.utils.data.Subset(dataset, rows[1].tolist())
