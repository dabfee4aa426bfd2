"""Texts into fit, evaluate and predict: the model's leading text layers, applied once.

A model takes strings when its first layer is a ``TextVectorization`` or a
``StringLookup`` (Sequential), or when an ``Input(dtype="string")`` feeds one
(functional). Those layers have no trainable weights and give the same numbers
for the same strings every time, so the trainer applies them once to the
whole string array (in chunks, on the CPU) and trains the rest of the model
on the resulting tensor through the array fast path: batches are slices of
that tensor, and at each forward pass the model receives them wrapped in
``VectorizedText`` and takes them as the text layer's output. The result is
exactly that of vectorizing by hand first, ``x = vectorize(texts)``, and
training the layers after it on ``x``. A DataLoader of texts goes through the
same function batch by batch. A text layer with trainable weights (a
``Sequential([StringLookup, Embedding])``, a layer of yours that holds a
``StringLookup``) cannot be applied once: its strings become indices into a
table of the strings seen, batches are slices of those, and at each step the
layer runs on the batch's strings, as in Keras.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..layers._shapes import adjust_input_rank
from ..layers.base import Layer, check_model_input
from . import data as data_module

CHUNK = 4096  # texts vectorized at a time: a bounded list of Python token lists


class VectorizedText:
    """A batch of what the model's text layer made of the strings (see above):
    the model (Sequential, functional) takes ``tensor`` as that layer's output
    instead of calling it again."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor

    @property
    def shape(self) -> torch.Size:
        return self.tensor.shape


def holds_text(data: Any) -> bool:
    """Whether ``data`` (an array, a list, a pandas object) holds strings."""
    if isinstance(data, torch.Tensor) or data is None or isinstance(data, (str, bytes, dict)):
        return False
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "US":
            return True
        if data.dtype.kind != "O":
            return False
    elif not isinstance(data, (list, tuple)) and not hasattr(data, "__array__"):
        return False
    try:
        flat = np.asarray(data, dtype=object).reshape(-1)
    except ValueError:  # ragged nested lists: not an array of texts
        return False
    return flat.size > 0 and isinstance(flat[0], (str, bytes))


def trainable(head: Layer) -> bool:
    """Whether a text layer has trainable weights (``Sequential([StringLookup,
    Embedding])``, a layer of yours holding a ``StringLookup``): then it runs at
    every step on the batch's strings, as in Keras, instead of once."""
    return any(p.requires_grad for p in head.parameters())


def string_ids(head: Layer, texts: np.ndarray) -> torch.Tensor:
    """Each string's index in the table of the strings ``head`` has been given
    (grown by each call: training, validation and predict data share it), so
    that batches are slices of a tensor; ``strings_of`` turns a batch back."""
    table = head.__dict__.setdefault("_string_ids", {})
    uniq, inverse = np.unique(texts.astype(str), return_inverse=True)
    ids = np.array([table.setdefault(t, len(table)) for t in uniq.tolist()], dtype=np.int64)
    head.__dict__["_strings"] = np.array(list(table), dtype=object)
    return torch.from_numpy(ids[inverse].reshape(texts.shape))


def strings_of(head: Layer, ids: torch.Tensor) -> np.ndarray:
    """The strings a batch of ``string_ids`` stands for."""
    return head.__dict__["_strings"][ids.cpu().numpy()]


def vectorized(trainer: Any, x: Any) -> list[torch.Tensor] | None:
    """``x`` as the trainer's input tensors on its device when the model takes
    strings: each text input through its text layer, once, the others checked
    and converted as arrays are. None when the model takes no strings."""
    model = trainer.model
    if not model.takes_text():
        return None
    heads = model.text_heads()  # per model input, its text layer (None: a numeric input)
    names = [t.name for t in model.inputs] if isinstance(x, dict) else []
    if names and all(n in x for n in names):  # a dict by Input name: one array per Input already
        given = [x[n] for n in names]
    else:
        given = list(x) if len(heads) > 1 and isinstance(x, (list, tuple)) else [x]
    if len(given) != len(heads):
        raise ValueError(
            f"x: expected {len(heads)} arrays (one per model input, texts for the string inputs), got "
            f"{len(given)}. Fix: pass one array per Input, in the order of Model(inputs=[...]), or a dict by name."
        )
    expected = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    dtypes = model.input_dtypes(len(heads))
    tensors = []
    for i, (xi, head) in enumerate(zip(given, heads)):
        what = f"x[{i}]" if len(heads) > 1 else "x"
        if head is None:  # a numeric input beside the texts: the array checks
            t = adjust_input_rank(data_module.as_tensor(xi, what), expected[i])
            check_model_input(tuple(t.shape), expected[i])
            data_module.check_finite(t)
            if dtypes[i] is not None:
                data_module.check_indices(t, what)
            tensors.append(t.to(trainer.device, dtypes[i] or model.dtype))
            continue
        if not isinstance(xi, torch.Tensor) and np.size(xi) == 0:
            data_module.as_tensor(np.zeros((0,)), what)  # the empty-array error
        if not holds_text(xi):
            got = f"a tensor of dtype {xi.dtype}" if isinstance(xi, torch.Tensor) else \
                f"{type(xi).__name__} of {np.asarray(xi).dtype}"
            raise ValueError(
                f"{what}: expected texts (an array or list of str), since the model's '{head.name}' "
                f"({type(head).__name__}) takes strings, got {got}. Fix: pass the texts themselves, e.g. "
                f"model.fit(texts, y); to train on indices made already, fit the layers after '{head.name}'."
            )
        texts = _texts_for(model, i, np.asarray(xi, dtype=object))
        t = string_ids(head, texts) if trainable(head) else apply_head(head, texts)
        tensors.append(t.to(trainer.device, model.dtype if t.is_floating_point() else None))
    for t in tensors[1:]:
        data_module.check_same_length(tensors[0], t)
    return tensors


def _texts_for(model: Any, index: int, texts: np.ndarray) -> np.ndarray:
    """The strings shaped as the model's input: a functional ``Input(shape=(1,))``
    takes ``(N,)`` texts as ``(N, 1)`` and ``Input(shape=())`` takes ``(N, 1)``
    as ``(N,)``, as Keras adjusts the rank; an unbuilt Sequential is built."""
    if not model.built:
        model.build_from_shape((None,) + texts.shape[1:])
    want = model.input_shape[index] if isinstance(model.input_shape, list) else model.input_shape
    texts = adjust_input_rank(texts, want)
    check_model_input(texts.shape, want)
    return texts


@torch.no_grad()
def apply_head(head: Layer, texts: np.ndarray) -> torch.Tensor:
    """``head(texts)``, CHUNK texts at a time on the CPU. Token sequences of
    unfixed length (``output_sequence_length=None``) are padded with 0 to the
    longest of all the texts, as one call on the whole array pads them."""
    was_training = head.training
    head.eval()
    try:
        parts = [head(texts[start:start + CHUNK]).cpu() for start in range(0, len(texts), CHUNK)]
    finally:
        head.train(was_training)
    if parts[0].dim() >= 2 and len({p.shape[1:] for p in parts}) > 1:
        longest = max(p.shape[-1] for p in parts)
        parts = [torch.nn.functional.pad(p, (0, longest - p.shape[-1])) for p in parts]
    return torch.cat(parts)


def model_input(model: Any, xs: list[torch.Tensor]) -> list[Any]:
    """The tensors of a text model's forward pass, each text input's wrapped in
    ``VectorizedText`` so that the model skips its text layer; the strings
    themselves for a text layer with trainable weights, which runs on them."""
    return [x if head is None else strings_of(head, x) if trainable(head) else VectorizedText(x)
            for x, head in zip(xs, model.text_heads())]
