"""Utilities with Keras's names: ``to_categorical``, ``normalize``, ``set_random_seed``, ``plot_model`` (drawn with matplotlib, in ``brainnet.models.visualization``),
``pad_sequences`` (in ``brainnet._sequences``, also ``brainnet.preprocessing.sequence``'s),
``image_dataset_from_directory`` (in ``brainnet._image_folder``),
``text_dataset_from_directory`` (in ``brainnet._text_folder``),
``audio_dataset_from_directory`` (in ``brainnet._audio_folder``),
``timeseries_dataset_from_array`` (in ``brainnet._timeseries``), ``split_dataset`` (in
``brainnet._split``), ``load_img``, ``img_to_array``, ``array_to_img`` and ``save_img`` (in
``brainnet._image_files``), ``get_file`` (in ``brainnet._get_file``), ``pack_x_y_sample_weight`` /
``unpack_x_y_sample_weight`` (the packing of ``brainnet.training._step_batches``) and ``PyDataset`` / ``Sequence`` (batches made by Python code, read by
``brainnet.training.streaming``), and ``brainnet.saving``'s registration and serialization functions
(``register_keras_serializable``, ``custom_object_scope``, ``serialize_keras_object``, ..., in
``brainnet._serialization``), which Keras 3 exports in both, and ``FeatureSpace`` (in
``brainnet._feature_space``), and ``ctc_loss`` / ``ctc_decode`` (in ``brainnet._ctc``) and ``rgb_to_hsv`` /
``hsv_to_rgb`` (in ``brainnet._color_spaces``), which Keras 3 keeps in ``keras.ops`` (``ops.image``'s for the
last two): brainnet has no ``ops``, and these are no single torch call."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from ._audio_folder import audio_dataset_from_directory
from ._color_spaces import hsv_to_rgb, rgb_to_hsv
from ._ctc import ctc_decode, ctc_loss
from ._feature_space import FeatureSpace
from ._get_file import get_file
from ._image_files import array_to_img, img_to_array, load_img, save_img
from ._image_folder import image_dataset_from_directory
from ._sequences import pad_sequences
from ._registry import register_keras_serializable
from ._serialization import (CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects,
                             get_registered_name, get_registered_object, serialize_keras_object)
from ._split import split_dataset
from ._text_folder import text_dataset_from_directory
from ._timeseries import timeseries_dataset_from_array
from .backend import clear_session
from .models.visualization import plot_model
from .training import _step_batches
from .training.streaming import PyDataset

Sequence = PyDataset  # Keras's older name

__all__ = ["to_categorical", "normalize", "pad_sequences", "set_random_seed", "plot_model", "clear_session",
           "image_dataset_from_directory", "text_dataset_from_directory", "audio_dataset_from_directory",
           "timeseries_dataset_from_array",
           "split_dataset", "PyDataset", "Sequence", "load_img", "img_to_array", "array_to_img", "save_img",
           "get_file", "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "register_keras_serializable",
           "custom_object_scope", "CustomObjectScope", "get_custom_objects", "get_registered_object",
           "get_registered_name", "serialize_keras_object", "deserialize_keras_object", "FeatureSpace",
           "ctc_loss", "ctc_decode", "rgb_to_hsv", "hsv_to_rgb"]


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


def normalize(x: Any, axis: int = -1, order: int | float = 2) -> np.ndarray | torch.Tensor:
    """Divide an array by its L-``order`` norm along ``axis``, as Keras 3's ``normalize``.

    ``out = x / ‖x‖_p`` with ``‖x‖_p = (Σ_k |x_k|^p)^(1/p)`` over the entries
    ``x_k`` along ``axis`` (``p = ∞``: ``max_k |x_k|``), so each such vector of
    the result has norm 1. A vector whose norm is 0 stays 0: a NumPy array
    divides it by 1 and a torch tensor divides by ``max(‖x‖_p, ε)``
    (ε = 1e-7, ``brainnet.config.epsilon()``), each as Keras does for its kind.

    Args:
        x: a NumPy array (or anything ``np.asarray`` takes, e.g. a list) or a
            torch tensor. The result is of the same kind: an array (integers
            become float64, floats keep their dtype, as NumPy divides) or a
            tensor on ``x``'s device (integers become torch's default float
            type, float32).
        axis: the axis the norm runs along (default -1, the last).
        order: ``p``, a positive integer (default 2, the Euclidean length)
            or ``float("inf")``.

    Returns:
        The normalised copy, of ``x``'s shape.

    Raises:
        ValueError: values that are not numbers, a scalar (no axis), an axis
            that ``x`` does not have, or an order that is not a positive
            integer or infinity.

    Example:
        >>> normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
        array([[0.6, 0.8],
               [0. , 0. ]])
    """
    if isinstance(order, bool) or not (isinstance(order, (int, np.integer)) and order >= 1 or order == float("inf")):
        raise ValueError(f"normalize: expected order to be a positive integer or float('inf'), got {order!r}. "
                         "Fix: normalize(x, order=2) for the Euclidean length (1 for the sum of |x|).")
    is_tensor = isinstance(x, torch.Tensor)
    array = x if is_tensor else np.asarray(x)
    kind = ("c" if array.is_complex() else "f") if is_tensor else array.dtype.kind
    if kind not in "biuf":
        raise ValueError(f"normalize: expected numbers, got dtype {array.dtype}. "
                         "Fix: convert the values first, e.g. normalize(np.asarray(x, dtype='float32')).")
    if array.ndim == 0:
        raise ValueError(f"normalize: expected an array with at least one axis, got the scalar {array.item()!r}. "
                         "Fix: normalize(np.atleast_1d(x)).")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -array.ndim <= axis < array.ndim:
        raise ValueError(f"normalize: expected axis to be an integer in [-{array.ndim}, {array.ndim - 1}] for an "
                         f"array of shape {tuple(array.shape)}, got {axis!r}. Fix: normalize(x, axis=-1) for the "
                         "last axis.")
    if is_tensor:
        from .losses import EPSILON

        values = array if array.is_floating_point() else array.to(torch.get_default_dtype())
        norm = torch.linalg.vector_norm(values, ord=order, dim=int(axis), keepdim=True)
        return values / norm.clamp_min(EPSILON)
    norm = np.linalg.norm(array, ord=order, axis=int(axis), keepdims=True)
    norm[norm == 0] = 1
    return array / norm


def set_random_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's (CPU and CUDA) random generators.

    Weight initialization, dropout and ``fit``'s shuffling then repeat from
    run to run, and on the CPU ``fit`` keeps its thread count however busy
    the machine is (``brainnet/training/cpu_threads.py``), so that a run
    repeats bit for bit.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"set_random_seed: expected a non-negative integer, got {seed!r}. "
            "Fix: set_random_seed(42)."
        )
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
    from .training import cpu_threads  # imported at the call: brainnet.training imports much of brainnet
    cpu_threads.SEEDED = True


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """Pack a batch the way ``fit`` and a custom ``train_step`` receive it, as Keras 3's.

    ``x`` alone stays ``x`` (a list or tuple of inputs becomes ``(x,)``, so
    that it is not read as ``(x, y)``); with labels the batch is ``(x, y)``,
    with weights ``(x, y, sample_weight)``. Sample weights without labels give
    ``(x, None, sample_weight)`` (Keras drops the weights there).

    Args:
        x: the inputs: an array, a tensor, or a list, tuple or dict of them.
        y: the targets, or None.
        sample_weight: one weight per sample, or None.

    Returns:
        ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``.

    Example:
        >>> pack_x_y_sample_weight("x"), pack_x_y_sample_weight(["a", "b"]), pack_x_y_sample_weight("x", "y")
        ('x', (['a', 'b'],), ('x', 'y'))
    """
    return _step_batches.pack(x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """Unpack a batch into ``(x, y, sample_weight)``, the missing ones None, as Keras 3's.

    For a custom ``train_step``, ``test_step`` or ``predict_step``, whose
    ``data`` may be ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
    (a list is read as a tuple).

    Args:
        data: the batch.

    Returns:
        ``(x, y, sample_weight)``.

    Raises:
        ValueError: a tuple or list of more than three elements (or none).

    Example:
        >>> unpack_x_y_sample_weight(("x", "y"))
        ('x', 'y', None)
    """
    return _step_batches.unpack(data)
