"""Utilities with Keras's names: ``to_categorical``, ``pad_sequences``, ``set_random_seed``,
``plot_model`` (drawn with matplotlib, in ``brainnet.models.visualization``),
``image_dataset_from_directory`` (in ``brainnet._image_folder``),
``text_dataset_from_directory`` (in ``brainnet._text_folder``),
``timeseries_dataset_from_array`` (in ``brainnet._timeseries``), ``split_dataset`` (in
``brainnet._split``) and ``PyDataset`` / ``Sequence`` (batches made by Python code, read by
``brainnet.training.streaming``)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ._image_folder import image_dataset_from_directory
from ._split import split_dataset
from ._text_folder import text_dataset_from_directory
from ._timeseries import timeseries_dataset_from_array
from .backend import clear_session
from .models.visualization import plot_model
from .training.streaming import PyDataset

Sequence = PyDataset  # Keras's older name

__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "plot_model", "clear_session",
           "image_dataset_from_directory", "text_dataset_from_directory", "timeseries_dataset_from_array",
           "split_dataset", "PyDataset",
           "Sequence"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """One-hot encode class indices: ``out[i, y_i] = 1``.

    Args:
        y: integer class indices, any shape (a trailing axis of size 1 is dropped).
        num_classes: number of classes; default ``max(y) + 1``.
        dtype: dtype of the result (default float32).

    Returns:
        Array of shape ``y.shape + (num_classes,)``.

    Raises:
        ValueError: labels that are not integers, negative, or ≥ num_classes.

    Example:
        >>> to_categorical([0, 2], 3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
        raise ValueError(
            f"to_categorical: expected integer class labels, got dtype {y.dtype} "
            f"(e.g. {y.reshape(-1)[:1].tolist()}). Fix: to_categorical(y.astype(int))."
        )
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        bad = int(y.min()) if y.min() < 0 else int(y.max())
        raise ValueError(
            f"to_categorical: expected labels in 0..{num_classes - 1}, got {bad}. "
            f"Fix: num_classes={int(y.max()) + 1} or correct the labels."
        )
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


_PAD_CHOICES = ("pre", "post")


def pad_sequences(sequences: Any, maxlen: int | None = None, dtype: str = "int32", padding: str = "pre",
                  truncating: str = "pre", value: float = 0.0) -> np.ndarray:
    """Sequences of different lengths as one array, padded or cut to ``maxlen``, as Keras's.

    Row ``i`` is sequence ``i``: longer than ``maxlen``, its first
    (``truncating="pre"``) or last (``"post"``) entries are dropped; shorter,
    ``value`` fills the start (``padding="pre"``) or the end (``"post"``).
    Entries may be numbers or arrays of one shape (e.g. one feature vector per
    step), which the result keeps after the time axis.

    Args:
        sequences: a list of sequences (lists or arrays), e.g. token ids.
        maxlen: the length of every row (default: the longest sequence's).
        dtype: of the result (default int32, as Keras).
        padding, truncating: ``"pre"`` (default) or ``"post"``.
        value: the padding value (default 0, which ``Embedding(mask_zero=True)`` masks).

    Returns:
        Array ``(len(sequences), maxlen) + step_shape``.

    Raises:
        ValueError: padding or truncating not "pre"/"post", a negative maxlen,
            sequences that are not a list of sequences, or steps of different shapes.

    Example:
        >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
        array([[2, 3],
               [0, 4]], dtype=int32)
    """
    for arg, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in _PAD_CHOICES:
            raise ValueError(f"pad_sequences: expected {arg} to be 'pre' or 'post', got {choice!r}. "
                             f"Fix: pad_sequences(sequences, {arg}='post').")
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0):
        raise ValueError(f"pad_sequences: expected maxlen to be a non-negative integer or None, got {maxlen!r}. "
                         "Fix: pad_sequences(sequences, maxlen=100).")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise ValueError(f"pad_sequences: expected a list of sequences, got {type(sequences).__name__}. "
                         "Fix: pad_sequences([[1, 2, 3], [4, 5]]).")
    rows = []
    for i, seq in enumerate(sequences):
        if isinstance(seq, (str, bytes)) or not hasattr(seq, "__len__"):
            raise ValueError(f"pad_sequences: expected a list of sequences, got {type(seq).__name__} {seq!r} at "
                             f"index {i}. Fix: put each sequence in a list, e.g. [[1, 2, 3], [4, 5]] rather than "
                             "[1, 2, 3].")
        rows.append(np.asarray(seq))
    step_shape = next((r.shape[1:] for r in rows if len(r)), ())
    for i, r in enumerate(rows):
        if len(r) and r.shape[1:] != step_shape:
            raise ValueError(f"pad_sequences: expected every step to have shape {step_shape}, as the first "
                             f"non-empty sequence's, got {r.shape[1:]} in sequence {i}. Fix: give every step the "
                             "same number of features.")
    length = max((len(r) for r in rows), default=0) if maxlen is None else int(maxlen)
    out = np.full((len(rows), length) + tuple(step_shape), value, dtype=dtype)
    for i, r in enumerate(rows):
        if not len(r) or not length:
            continue
        kept = r[-length:] if truncating == "pre" else r[:length]
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, length - len(kept):] = kept
    return out


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators.

    Weight initialization, dropout and ``fit``'s shuffling then repeat from
    run to run.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"set_random_seed: expected a non-negative integer, got {seed!r}. "
            "Fix: set_random_seed(42)."
        )
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
