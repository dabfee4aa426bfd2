"""StringLookup: strings ↔ integer indices through a vocabulary, as Keras 3.

The vocabulary itself (learning it from token counts, setting it, the
index layout) is ``_vocabulary.Vocabulary``, which IntegerLookup and
TextVectorization share.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np
import torch

from ._ragged_strings import ragged_rows, rectangular
from ._vocabulary import OOV_TOKEN, OUTPUT_MODES, Vocabulary, check_lookup_args, encode, encoded_shape
from .base import Layer, Shape
from .symbolic import is_symbolic, symbolic_call


def as_strings(layer: str, inputs: Any) -> np.ndarray:
    """``inputs`` (a str, a nested list or a NumPy array of str or UTF-8 bytes)
    as an object array of Python str.

    Raises:
        TypeError: numbers, tensors or anything else that is not text.
    """
    if isinstance(inputs, torch.Tensor) or (isinstance(inputs, np.ndarray) and inputs.dtype.kind not in "USO"):
        dtype = inputs.dtype
        raise TypeError(
            f"{layer}: expected strings (a list or NumPy array of str), got numbers ({type(inputs).__name__} of "
            f"dtype {dtype}). Fix: pass the texts themselves, e.g. layer(['a text', 'another']); the layers after "
            "it take the integers it returns."
        )
    array = np.array(inputs, dtype=object) if not isinstance(inputs, np.ndarray) else inputs.astype(object)
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, bytes):
            flat[i] = item.decode("utf-8")
        elif not isinstance(item, str):
            raise TypeError(
                f"{layer}: expected strings (a list or NumPy array of str), got {type(item).__name__} {item!r} "
                "among them. Fix: pass the texts themselves, e.g. layer(['a text', 'another']); convert other "
                "values first, e.g. [str(v) for v in values]."
            )
    return flat.reshape(array.shape)



def text_call(layer: Layer, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """What a text layer's call does before looking strings up: a symbolic
    ``Input(dtype="string")`` records a graph node; anything else: ``None``
    (look the strings up)."""
    if is_symbolic(inputs):
        return symbolic_call(layer, inputs, kwargs)
    return None


def string_batches(layer: str, data: Any) -> Iterator[np.ndarray]:
    """``adapt``'s data as arrays of str: the data itself (a str, a list or an
    array of strings), or each batch of an iterable of them (a DataLoader or a
    generator of text batches, as Keras adapts on a dataset of texts).

    Raises:
        ValueError: batches of (texts, labels).
    """
    if isinstance(data, (str, bytes, list, tuple, np.ndarray, torch.Tensor)) or not isinstance(data, Iterable):
        yield as_strings(layer, data)
        return
    for batch in data:
        if isinstance(batch, (list, tuple)) and 2 <= len(batch) <= 3 and not isinstance(batch[0], (str, bytes)) \
                and any(_numbers(b) for b in batch[1:]):
            raise ValueError(
                f"{layer}: expected batches of texts to adapt on, got batches of {len(batch)} parts (texts, labels). "
                "Fix: adapt on the texts alone, layer.adapt(texts for texts, labels in loader)."
            )
        yield as_strings(layer, batch)


MODES = ("int", "one_hot") + OUTPUT_MODES[1:]  # StringLookup's output modes, as Keras 3's


def _string_rows(layer: str, rows: list[list[Any]]) -> list[list[str]]:
    """Ragged rows with every item checked to be a string (bytes decoded)."""
    flat = as_strings(layer, np.array([t for row in rows for t in row], dtype=object)).tolist()
    ends = np.cumsum([len(row) for row in rows], dtype=np.int64).tolist()
    return [flat[start:end] for start, end in zip([0] + ends[:-1], ends)]


def _numbers(value: Any) -> bool:
    return isinstance(value, torch.Tensor) or (isinstance(value, np.ndarray) and value.dtype.kind not in "USO")

class StringLookup(Layer):
    """Maps strings to integer indices through a vocabulary (or back, ``invert=True``).

    Rule (``output_mode="int"``, Keras's default ``mask_token=None``)::

        y = 1 + rank(x)   for a token x of the vocabulary (rank 0, 1, 2, ...)
        y = 0             for any other string (the OOV index, "[UNK]")

    and with ``mask_token`` set, index 0 is the mask token and the others
    shift by one. ``get_vocabulary()[y]`` is the token of index ``y``.
    ``one_hot`` encodes each string on its own, ``y[..., i] = [index(x) = i]``
    (a last axis of size 1 is replaced by the ``depth`` indices, as Keras;
    the mask token gives a row of zeros); the other output modes give one
    vector per sample over the indices (``multi_hot``, ``count``,
    ``tf_idf``; see ``TextVectorization``).

    Args:
        max_tokens: most indices, special ones included; None: no cap.
        num_oov_indices: 1 (default): unknown strings give the OOV index;
            0: they raise an error. (Keras's hashing into several OOV
            indices is not supported.)
        mask_token: a string that maps to index 0 (int mode); None (default).
        oov_token: the string of the OOV index, default ``"[UNK]"``.
        vocabulary: tokens (a list, or the path of a file with one a line);
            or None, then ``adapt(data)`` learns them.
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary.
        invert: map indices back to strings (int mode only).
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"``,
            ``"count"``, ``"tf_idf"``.
        pad_to_max_tokens: vectors of width ``max_tokens`` in the other modes.

    Input shape: any shape of strings (``invert=True``: of indices).
    Output shape: the same, int64 (``invert``: a NumPy array of str);
    ``one_hot``: ``(batch, depth)`` float32 for ``(batch,)`` or ``(batch, 1)``
    strings, ``(batch, k, depth)`` for ``(batch, k)``; other modes
    ``(batch, depth)`` float32 for ``(batch, k)`` strings, or for rows of
    several lengths (a list of lists, or pandas' object array of lists, in
    place of Keras's ``tf.ragged.constant``), which ``adapt`` also takes.

    Raises:
        ValueError: a bad argument, a vocabulary with repeated tokens, calls
            before the vocabulary is known; TypeError: numbers instead of strings.

    Example:
        >>> layer = StringLookup(vocabulary=["a", "b", "c"])
        >>> layer([["a", "c"], ["d", "b"]]).tolist()
        [[1, 3], [0, 2]]
        >>> StringLookup(vocabulary=["a", "b"], output_mode="one_hot")([["b"], ["z"]]).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """

    equation = "y = index of x in the vocabulary (unknown: the OOV index)"
    min_rank = 0
    casts_integer_inputs = False  # invert=True takes integer ids back to tokens

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: str | None = None,
                 oov_token: str = OOV_TOKEN, vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = f"StringLookup '{self.name}'"
        if num_oov_indices not in (0, 1) or isinstance(num_oov_indices, bool):
            raise ValueError(
                f"{layer}: expected num_oov_indices 0 or 1, got {num_oov_indices!r} (brainnet does not hash unknown "
                "strings into several OOV indices). Fix: num_oov_indices=1."
            )
        reserved = num_oov_indices + (mask_token is not None and output_mode == "int")
        self.output_mode = check_lookup_args(layer, output_mode, max_tokens, pad_to_max_tokens, reserved, MODES)
        if invert and self.output_mode != "int":
            raise ValueError(
                f"{layer}: expected output_mode='int' with invert=True (indices back to strings), got "
                f"output_mode={output_mode!r}. Fix: StringLookup(vocabulary=..., invert=True)."
            )
        self.max_tokens, self.num_oov_indices, self.mask_token = max_tokens, int(num_oov_indices), mask_token
        self.oov_token, self.invert, self.pad_to_max_tokens = oov_token, bool(invert), bool(pad_to_max_tokens)
        self.vocab = Vocabulary(layer, self.output_mode, mask_token, oov_token, self.num_oov_indices,
                                max_tokens, self.pad_to_max_tokens)
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # where outputs go (follows .to())
        if vocabulary is not None:
            self.vocab.set(vocabulary, idf_weights)
        elif idf_weights is not None:
            self.vocab.set([], idf_weights)  # refused with the right message

    def adapt(self, data: Any) -> None:
        """Learn the vocabulary from ``data`` (strings, any shape; or an iterable
        of such batches, e.g. a DataLoader of texts): every string is a token;
        for TF-IDF each row (sample) is a document. Rows of several lengths (a
        list of lists, Keras's ``tf.ragged.constant(rows)``) are documents too."""
        layer = f"StringLookup '{self.name}'"
        ragged = ragged_rows(data)
        if ragged is not None:
            self.vocab.adapt(_string_rows(layer, ragged))
            return

        def rows() -> Iterator[list[str]]:
            for array in string_batches(layer, data):
                yield from (array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)).tolist()

        self.vocab.adapt(rows())

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The tokens in index order (with the mask and OOV tokens first by default)."""
        return self.vocab.get(include_special_tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (a list of tokens or a file path); see ``vocabulary``."""
        self.vocab.set(vocabulary, idf_weights)

    def vocabulary_size(self) -> int:
        """Number of indices, the special ones included."""
        return self.vocab.size()

    def takes_text(self) -> bool:
        return not self.invert

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        done = text_call(self, inputs, kwargs)
        if done is not None:
            return done
        if self.invert:
            return self._invert(inputs)
        layer = f"StringLookup '{self.name}'"
        ragged = ragged_rows(inputs)
        if ragged is not None:  # rows of several lengths (Keras: a ragged tensor)
            rows = _string_rows(layer, ragged)
            if self.output_mode not in ("int", "one_hot"):
                return self.vocab.bags(rows).to(self._device.device)
            inputs = rectangular(layer, self.output_mode, rows)
        array = as_strings(layer, inputs)
        if self.output_mode == "int":
            ids = self.vocab.lookup(array.reshape(-1).tolist()).reshape(array.shape)
            return torch.from_numpy(ids).to(self._device.device)
        if self.output_mode == "one_hot":
            return self._one_hot(array)
        if array.ndim == 0:  # one string is one sample (Keras 3 upranks a scalar): (depth,)
            return self.vocab.bags([[array.item()]])[0].to(self._device.device)
        return self.vocab.bags(array.reshape(len(array), -1).tolist()).to(self._device.device)

    def _one_hot(self, array: np.ndarray) -> torch.Tensor:
        """Each string's index as a one-hot row; the mask token (if any) counts nowhere."""
        tokens = array.reshape(-1).tolist()
        ids = self.vocab.lookup(tokens)
        if self.mask_token is not None:
            ids[[t == self.mask_token for t in tokens]] = -1
        ids_tensor = torch.from_numpy(ids.reshape(array.shape)).to(self._device.device)
        return encode(ids_tensor, "one_hot", self.vocab.depth()).float()

    def _invert(self, inputs: Any) -> np.ndarray:
        vocabulary = self.get_vocabulary()
        ids = np.asarray(inputs.cpu() if isinstance(inputs, torch.Tensor) else inputs)
        if ids.dtype.kind not in "iu":
            raise TypeError(
                f"StringLookup '{self.name}' (invert=True): expected integer indices, got dtype {ids.dtype}. "
                "Fix: pass the indices the forward layer gave, e.g. lookup(ids.astype('int64'))."
            )
        names = np.array(vocabulary + [self.oov_token], dtype=object)
        out_of_range = (ids < 0) | (ids >= len(vocabulary))
        return names[np.where(out_of_range, len(vocabulary), ids)]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return tuple(input_shape)
        if self.output_mode == "one_hot":
            return encoded_shape(input_shape, "one_hot", self.vocab.depth())
        return tuple(input_shape[:1]) + (self.vocab.depth(),)

    def get_config(self) -> dict[str, Any]:
        """The arguments, the vocabulary (and idf weights) included, so a loaded
        model maps strings as this one does."""
        vocabulary = self.vocab.get() if self.vocab.tokens is not None else None
        idf = None if self.vocab.idf is None else [float(w) for w in self.vocab.idf]
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": vocabulary,
                "idf_weights": idf, "invert": self.invert, "output_mode": self.output_mode,
                "pad_to_max_tokens": self.pad_to_max_tokens}
