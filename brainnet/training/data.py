"""Turning user data into tensors, and refusing data that cannot be right.

Accepted: NumPy arrays, pandas DataFrames/Series, torch tensors and nested
lists (DataLoaders, Datasets and generators go through ``streaming.py``, and
each of their batches through these checks). Every check below raises a ``ValueError`` that says what was
expected, what was received and the one-line fix; nothing is silently
reshaped or dropped. Numbers are converted to the model's dtype (float32 by
default) for inputs, and to int64 class indices or float targets for labels,
as Keras does.
"""

from __future__ import annotations

import collections.abc
from typing import Any

import numpy as np
import torch

from ..layers.base import shape_str
from ..losses import Loss
from ..preprocessing import LoadedImage
from .sources import source_kind


def _to_numpy_or_tensor(data: Any, what: str) -> np.ndarray | torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data
    if data is None:
        raise ValueError(
            f"{what}: expected an array of samples, got None. Fix: pass {what}, e.g. "
            f"model.fit(x_train, y_train)."
        )
    if source_kind(data) is not None:  # reached here only as y, a weight or one of several inputs
        raise ValueError(
            f"{what}: expected an array (NumPy, torch tensor, pandas or a list), got a {type(data).__name__}, "
            "which gives batches; a DataLoader, Dataset, PyDataset or generator goes alone as x (or as "
            "validation_data), its batches carrying the labels. Fix: model.fit(loader) with batches (x, y), "
            "several inputs as ((x_a, x_b), y); or gather the samples into arrays first."
        )
    # ImagePreprocessing.load returns (array, background, inverted): NumPy would try to stack the three.
    if isinstance(data, LoadedImage):
        raise ValueError(
            f"{what}: expected an array of samples (N, ...), got a LoadedImage (what ImagePreprocessing.load "
            f"returns: .array of shape {np.shape(data.array)}, .background, .inverted). Fix: pass its array "
            "with a batch axis, image.array[None], e.g. model.predict(image.array[None])."
        )
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], LoadedImage):
        raise ValueError(
            f"{what}: expected an array of samples (N, ...), got a {type(data).__name__} of {len(data)} "
            "LoadedImage objects (what ImagePreprocessing.load returns). Fix: stack their arrays, "
            "model.predict(np.stack([image.array for image in images]))."
        )
    try:  # NumPy arrays, pandas DataFrames/Series and lists all convert here
        array = np.asarray(data)
    except ValueError as err:  # ragged nested lists
        raise ValueError(
            f"{what}: expected an array of equally sized samples, got {type(data).__name__} "
            f"that NumPy cannot stack ({err}). Fix: pad or crop samples to one shape."
        ) from None
    if array.ndim == 0 and array.dtype == object and isinstance(data, collections.abc.Iterable) \
            and not isinstance(data, (str, bytes, dict)):
        # An iterable of batches brainnet does not know, e.g. a tf.data.Dataset (Keras reads those).
        raise TypeError(
            f"{what}: expected arrays (NumPy, torch tensors, pandas, lists) or a batch source (a torch "
            f"DataLoader or Dataset, a brainnet.utils.PyDataset, an iterator), got a {type(data).__name__}, "
            "an iterable that is none of these (brainnet reads no tf.data.Dataset). Fix: pass an iterator "
            "over its (x, y) batches with steps_per_epoch, model.fit(iter(batches), steps_per_epoch=n) "
            "(for a tf.data.Dataset: ds.repeat().as_numpy_iterator()), or a torch DataLoader over the arrays."
        )
    return array


def _first_string(array: np.ndarray) -> Any:
    flat = array.reshape(-1)
    for item in flat[: min(len(flat), 1000)]:
        if isinstance(item, (str, bytes)):
            return item.decode() if isinstance(item, bytes) else str(item)
    return None


def _is_number(text: str) -> bool:
    """Whether a string spells a number ("7", "0.5"): data read as text, not words."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def as_tensor(data: Any, what: str, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert ``data`` to a tensor; strings and empty arrays are refused.

    Args:
        data: NumPy array, pandas object, torch tensor or nested list.
        what: ``"x"`` or ``"y"`` (for messages).
        dtype: convert to this dtype (None keeps integer/float kinds as they are).
    """
    array = _to_numpy_or_tensor(data, what)
    if isinstance(array, np.ndarray):
        if array.dtype.kind in "USO":
            sample = _first_string(array)
            if sample is not None and what != "y" and not _is_number(sample):
                raise ValueError(
                    f"{what}: expected numbers, got text such as {sample[:40]!r}, for a model that does not take "
                    "strings (fit, evaluate and predict take texts when a Sequential model starts with "
                    "TextVectorization or StringLookup, or an Input(shape=(1,), dtype='string') feeds one). Fix: "
                    "put the text layer first, vectorize = brainnet.layers.TextVectorization(max_tokens=20000, "
                    "output_sequence_length=500); vectorize.adapt(texts); model = Sequential([vectorize, "
                    f"Embedding(20000, 16), ...]); or vectorize the texts yourself, {what} = vectorize(texts)."
                )
            if sample is not None or array.dtype.kind in "US":
                fix = "y = y.astype(int)" if what == "y" else f"{what} = {what}.astype('float32')"
                raise ValueError(
                    f"{what}: expected numbers, got strings such as {sample!r} "
                    f"(dtype {array.dtype}). Fix: convert them first, e.g. {fix}."
                )
            array = array.astype(np.float64)
        if not array.flags.writeable:  # e.g. a view into a pandas frame
            array = array.copy()
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    else:
        tensor = array
    if tensor.dim() == 0 or tensor.shape[0] == 0:
        raise ValueError(
            f"{what}: expected at least one sample (shape (N, ...) with N ≥ 1), got an empty "
            f"array of shape {shape_str(tensor.shape)}. Fix: check how {what} was loaded or sliced."
        )
    return tensor if dtype is None else tensor.to(dtype)


def check_finite(x: torch.Tensor) -> None:
    """Refuse NaN or infinity in the inputs.

    First one sum, which reads the data once, vectorised, and allocates
    nothing of its size (6 ms for MNIST's 47 million pixels on 2 cores,
    against 195 ms for ``isfinite(x).all()``): a NaN or an infinity makes it
    non-finite. Only when it is not finite (or overflowed: huge values) is
    each value looked at."""
    if not x.is_floating_point() or bool(torch.isfinite(x.sum())):
        return
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        first = int((~torch.isfinite(x.reshape(x.shape[0], -1))).any(1).nonzero()[0])
        raise ValueError(
            f"x: expected finite numbers, got {bad} NaN or infinite value(s) (first in sample "
            f"{first}). Fix: clean the data, e.g. x = np.nan_to_num(x) or drop those samples."
        )


def check_indices(x: torch.Tensor, what: str) -> None:
    """Inputs that feed an Embedding must be whole numbers (token indices)."""
    if x.is_floating_point() and not bool((x == x.round()).all()):
        raise ValueError(
            f"{what}: the model starts with an Embedding, which expects integer token indices, "
            f"got non-integer values such as {float(x[x != x.round()][0])}. Fix: pass the "
            "token ids (e.g. x.astype('int64')), not normalised or embedded values."
        )


def check_same_length(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x and y: expected the same number of samples, got {x.shape[0]} in x and "
            f"{y.shape[0]} in y. Fix: pass matching arrays (e.g. x[:n], y[:n])."
        )


def _users_function(loss: Loss) -> bool:
    """A plain ``fn(y_true, y_pred)`` of the user's given to compile, or a ``Loss`` subclass of the user's
    that overrides ``call`` (Keras 3's way; the NER example's masked loss reads (N, T) labels beside
    (N, T, tags) outputs), not one of brainnet's losses."""
    call = type(loss).call
    if call is not Loss.call and not getattr(call, "__module__", "").startswith("brainnet"):
        return True
    return type(loss) is Loss and loss.fn is not None and not getattr(loss.fn, "__module__", "").startswith("brainnet")


def prepare_labels(y: torch.Tensor, loss: Loss, output_shape: tuple) -> torch.Tensor:
    """Check labels against the loss and the model's output, and convert them.

    ``output_shape`` is the model output's shape, batch axis first.
    """
    if type(loss).__call__ is not Loss.__call__:
        return y  # a loss that computes the batch's value itself (its own __call__) takes y as given, as in Keras
    if loss.kind == "label_sequence":  # CTC: (N, max_label_length) labels, as long as they are, any length
        _check_integral(y, loss.name)
        return y.long()
    units = output_shape[-1]
    out_rank = len(output_shape)
    if loss.kind == "sparse":
        if y.dim() == out_rank and y.shape[-1] == units and units > 1:
            raise ValueError(
                f"y: sparse_categorical_crossentropy expects class indices of shape "
                f"{shape_str(output_shape[:-1])}, got one-hot labels of shape {shape_str(y.shape)}. "
                "Fix: use loss='categorical_crossentropy', or y = y.argmax(axis=-1)."
            )
        if y.dim() == out_rank and y.shape[-1] == 1:
            y = y.reshape(y.shape[:-1])
        expected = tuple(output_shape[1:-1])  # one class index per output position
        if y.dim() != out_rank - 1 or any(e is not None and e != g for e, g in zip(expected, y.shape[1:])):
            raise ValueError(
                f"y: sparse_categorical_crossentropy expects one class index per output position, labels of "
                f"shape {shape_str((y.shape[0],) + expected)} for outputs {shape_str(output_shape)}, got "
                f"{shape_str(y.shape)}. Fix: give labels shaped like the outputs without their last axis "
                "(for a language model, y[n, t] = the id after x[n, t])."
            )
        _check_integral(y, "sparse_categorical_crossentropy")
        y = y.long()
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= units:
            bad = low if low < 0 else high
            raise ValueError(
                f"y: expected class labels in 0..{units - 1} (the output layer has {units} "
                f"units), got label {bad}. Fix: make the last layer Dense({max(high + 1, units)}) "
                "or correct the labels."
            )
        return y
    if loss.kind == "categorical" and (y.dim() == out_rank - 1 or (y.shape[-1] == 1 and units > 1)):
        raise ValueError(
            f"y: categorical_crossentropy expects one-hot labels of shape "
            f"{shape_str((y.shape[0],) + tuple(output_shape[1:]))}, got integer class labels of "
            f"shape {shape_str(y.shape)}. Fix: use loss='sparse_categorical_crossentropy', or "
            f"y = brainnet.utils.to_categorical(y, {units})."
        )
    y = y.float() if not y.is_floating_point() else y
    if _users_function(loss):  # Keras gives it y as given (a mixture density loss reads (N,) beside (N, 3k))
        return y.reshape(y.shape + (1,)) if y.dim() == out_rank - 1 and units == 1 else y
    if y.dim() == out_rank - 1 and units == 1:
        y = y.reshape(y.shape + (1,))
    if len(y.shape) != len(output_shape) or any(
        want is not None and got != want for got, want in zip(y.shape[1:], output_shape[1:])
    ):  # an output axis of unknown length (None) takes the targets' length
        raise ValueError(
            f"y: {loss.name} expects targets shaped like the model output "
            f"{shape_str((y.shape[0],) + tuple(output_shape[1:]))}, got {shape_str(y.shape)}. "
            "Fix: reshape y, or change the last layer's units to match."
        )
    if loss.kind == "binary" and (float(y.min()) < 0 or float(y.max()) > 1):
        raise ValueError(
            f"y: binary_crossentropy expects labels in [0, 1], got values from {float(y.min())} "
            f"to {float(y.max())}. Fix: map labels to 0/1, or use sparse_categorical_crossentropy "
            "for several classes."
        )
    return y


def _check_integral(y: torch.Tensor, loss_name: str) -> None:
    if y.is_floating_point() and not bool((y == y.round()).all()):
        raise ValueError(
            f"y: {loss_name} expects integer class labels, got non-integer values such as "
            f"{float(y[y != y.round()][0])}. Fix: y = y.astype(int), or use "
            "loss='mean_squared_error' for a regression."
        )


# ------------------------------------------------------------------ sample and class weights
def prepare_sample_weight(w: Any, samples: int, what: str = "sample_weight") -> torch.Tensor:
    """Finite, non-negative weights as a float tensor: one per sample (N,), or,
    as Keras takes them, a weight per loss value (N, T, ...), e.g. per time
    step or per token (the loss then checks that they fit its values).

    Shapes (N,) and (N, 1) give (N,). Keras also takes negative weights;
    brainnet refuses them (a negative weight makes training push that
    sample's loss up, almost always a mistake).
    """
    t = as_tensor(w, what)
    if t.dim() == 2 and t.shape[1] == 1:
        t = t.reshape(-1)
    if t.shape[0] != samples:
        raise ValueError(
            f"{what}: expected one weight per sample, {samples} as in x and y, got {t.shape[0]}. Fix: pass "
            "weights for the same samples as x and y, in the same order (e.g. w[:n] with x[:n], y[:n])."
        )
    t = t.to(torch.float64 if t.dtype == torch.float64 else torch.float32)
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        raise ValueError(
            f"{what}: expected finite weights, got {int(bad.sum())} NaN or infinite (first at sample "
            f"{int(bad.nonzero()[0][0])}). Fix: replace them, e.g. w = np.nan_to_num(w, nan=0.0) to leave those "
            "samples out."
        )
    if bool((t < 0).any()):
        raise ValueError(
            f"{what}: expected weights ≥ 0, got {float(t.min())} (sample {int(t.argmin()) // t[0].numel()}). A negative "
            "weight would train the model to make that sample's loss larger. Fix: use 0 to leave a sample "
            "out, positive weights to count it more or less."
        )
    return t


def class_sample_weights(class_weight: Any, y: torch.Tensor, output_shape: tuple) -> torch.Tensor:
    """Per-sample weights from ``class_weight`` ({class index: weight}), as Keras's
    fit makes them: each sample gets its class's weight (a one-hot row: the
    argmax; a single 0/1 column: the label), 1.0 for classes the dict leaves out.

    ``y`` are the labels as ``prepare_labels`` returns them, ``output_shape``
    the model output's shape (batch axis first).
    """
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"class_weight: expected a dict {{class index: weight}}, got a {type(class_weight).__name__}. "
            "Fix: class_weight={0: 1.0, 1: 5.0} (e.g. dict(enumerate(weights)) from a list)."
        )
    if len(output_shape) != 2:
        raise ValueError(
            f"class_weight: expected a model with one class per sample (output shape (N, classes)), got an "
            f"output of shape {shape_str(output_shape)}. Fix: pass sample_weight= instead (one weight per sample)."
        )
    classes = max(int(output_shape[-1]), 2)  # one sigmoid unit: classes 0 and 1
    table = torch.ones(classes, dtype=torch.float32)
    for key, value in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes:
            raise ValueError(
                f"class_weight: expected keys that are class indices 0..{classes - 1} (the model has {classes} "
                f"classes), got key {key!r}. Fix: key the dict by integer class index, e.g. {{0: 1.0, 1: 5.0}}."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not np.isfinite(value) or value < 0:
            raise ValueError(
                f"class_weight: expected finite weights ≥ 0, got {value!r} for class {key}. "
                "Fix: class_weight={0: 1.0, 1: 5.0}."
            )
        table[int(key)] = float(value)
    if y.dim() == 2 and y.shape[1] > 1:
        ids = y.argmax(-1)  # one-hot (or soft) labels: the class with the largest value, as Keras
    else:
        ids = y.reshape(y.shape[0], -1)[:, 0]
        if ids.is_floating_point():  # labels of a binary or regression loss
            bad = (ids != ids.round()) | (ids < 0) | (ids >= classes)
            if bool(bad.any()):
                raise ValueError(
                    f"class_weight: expected class labels 0..{classes - 1} to look the weights up by, got "
                    f"{float(ids[bad][0])}. Fix: pass sample_weight= (one weight per sample) for targets that "
                    "are not class labels."
                )
    return table.to(y.device)[ids.long()]
