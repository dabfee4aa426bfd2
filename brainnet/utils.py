"""Utilities with Keras's names: ``to_categorical``, ``set_random_seed``, ``plot_model`` (drawn with matplotlib, in ``brainnet.models.visualization``),
``pad_sequences`` (in ``brainnet._sequences``, also ``brainnet.preprocessing.sequence``'s),
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
from ._sequences import pad_sequences
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
