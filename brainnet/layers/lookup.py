"""StringLookup: strings ↔ integer indices through a vocabulary, as Keras 3.

Also the vocabulary machinery that ``TextVectorization`` shares: learning a
vocabulary from token counts (``adapt``), setting one, looking tokens up,
and turning rows of indices into multi-hot, count or TF-IDF vectors.

The indices (Keras's layout)::

    output_mode="int":   [mask_token (if not None)] [oov_token] token_1 token_2 ...
    other output modes:                              [oov_token] token_1 token_2 ...

``adapt`` ranks the tokens by count, most frequent first, ties broken by the
token itself in reverse order (``"b"`` before ``"a"``), exactly as Keras's
``np.lexsort((tokens, counts))[::-1]``, then keeps the first
``max_tokens − (number of special tokens)``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .base import Layer, Shape

OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
OOV_TOKEN = "[UNK]"


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


class Vocabulary:
    """The tokens of a lookup layer, their indices and (TF-IDF) their idf weights.

    Private to the lookup layers: ``StringLookup`` and ``TextVectorization``
    each hold one.
    """

    def __init__(self, layer: str, output_mode: str, mask_token: str | None, oov_token: str,
                 num_oov_indices: int, max_tokens: int | None, pad_to_max_tokens: bool) -> None:
        self.layer, self.output_mode, self.oov_token = layer, output_mode, oov_token
        self.mask_token = mask_token if output_mode == "int" else None  # other modes drop it from the input
        self.dropped_token = mask_token  # a mask token in the input: index 0 (int) or left out (other modes)
        self.num_oov_indices, self.max_tokens, self.pad_to_max_tokens = num_oov_indices, max_tokens, pad_to_max_tokens
        self.special = ([self.mask_token] if self.mask_token is not None else []) + [oov_token] * num_oov_indices
        self.tokens: list[str] | None = None  # the learned or given tokens, special ones excluded
        self.index: dict[str, int] = {}
        self.idf: np.ndarray | None = None  # one weight per index (tf_idf), special ones included

    # -------------------------------------------------------- setting it
    def adapt(self, documents: Iterable[list[str]]) -> None:
        """Rank the tokens of ``documents`` (one list of tokens each) by count."""
        counts: Counter[str] = Counter()
        document_counts: Counter[str] = Counter()
        n_documents = 0
        for tokens in documents:
            counts.update(tokens)
            document_counts.update(set(tokens))
            n_documents += 1
        for special in (self.dropped_token, self.oov_token):
            counts.pop(special, None)
        ranked = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens is not None:
            ranked = ranked[: self.max_tokens - len(self.special)]
        idf = None
        if self.output_mode == "tf_idf":
            idf = [math.log(1 + n_documents / (1 + document_counts[t])) for t in ranked]
        self._set(ranked, idf, with_special=False)

    def set(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Set the tokens (a sequence of str or the path of a file of one token a
        line), with or without the special tokens at the front, as Keras."""
        layer = self.layer
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(
                f"{layer}: expected idf_weights with a vocabulary for output_mode='tf_idf' (one inverse document "
                "frequency per token), got none. Fix: pass idf_weights=[...] of the vocabulary's length, or "
                "adapt(texts) to learn both."
            )
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                f"{layer}: expected idf_weights only with output_mode='tf_idf', got them with "
                f"output_mode={self.output_mode!r}. Fix: drop idf_weights, or output_mode='tf_idf'."
            )
        if isinstance(vocabulary, (str, os.PathLike)):
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
            while vocabulary and vocabulary[-1] == "":
                vocabulary.pop()
        tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in np.asarray(vocabulary, dtype=object).tolist()]
        if not tokens or not all(isinstance(t, str) for t in tokens):
            raise ValueError(
                f"{layer}: expected a non-empty list of str tokens as vocabulary, got {vocabulary!r:.80}. "
                "Fix: vocabulary=['the', 'a', 'cat'], or a file path with one token a line."
            )
        with_special = tokens[: len(self.special)] == self.special
        own = tokens[len(self.special):] if with_special else tokens
        repeated = sorted(t for t, c in Counter(own).items() if c > 1)
        reserved = [t for t in own if t in self.special]
        if repeated or reserved:
            raise ValueError(
                f"{layer}: expected each vocabulary token once, and the special tokens {self.special} either "
                f"left out or first, in that order, got {'repeated ' + repr(repeated[:5]) if repeated else ''}"
                f"{' and ' if repeated and reserved else ''}{'special tokens further on: ' + repr(reserved) if reserved else ''}. "
                "Fix: pass the learned tokens once each, e.g. layer.get_vocabulary(include_special_tokens=False)."
            )
        size = len(self.special) + len(own)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                f"{layer}: expected at most max_tokens={self.max_tokens} indices, got a vocabulary of {size} "
                f"(special tokens {self.special} included). Fix: max_tokens={size} or more, or max_tokens=None."
            )
        idf = None
        if idf_weights is not None:
            idf = np.asarray(idf_weights, dtype=np.float64).reshape(-1)
            if len(idf) != len(tokens):
                raise ValueError(
                    f"{layer}: expected one idf weight per vocabulary token, {len(tokens)}, got {len(idf)}. "
                    "Fix: pass idf_weights of the vocabulary's length, in its order."
                )
        self._set(own, idf, with_special)

    def _set(self, tokens: list[str], idf: Any, with_special: bool) -> None:
        self.tokens = list(tokens)
        start = len(self.special)
        self.index = {t: start + i for i, t in enumerate(self.tokens)}
        if idf is None:
            self.idf = None
            return
        idf = np.asarray(idf, dtype=np.float64)
        if not with_special:  # the special tokens take the mean weight, as Keras (no count of them exists)
            mean = float(idf.mean()) if idf.size else 0.0
            idf = np.concatenate([np.full(start, mean), idf])
        self.idf = idf

    # -------------------------------------------------------- reading it
    def require(self) -> list[str]:
        if self.tokens is None:
            raise ValueError(
                f"{self.layer}: expected a vocabulary, got a layer that was neither adapted nor given one. "
                "Fix: layer.adapt(texts) first, or pass vocabulary=[...] to the layer."
            )
        return self.tokens

    def get(self, include_special_tokens: bool = True) -> list[str]:
        tokens = list(self.require())
        return self.special + tokens if include_special_tokens else tokens

    def size(self) -> int:
        """Indices in use: special tokens plus tokens (before adapt: the special ones)."""
        return len(self.special) + len(self.tokens or [])

    def depth(self) -> int:
        """Width of a multi-hot, count or TF-IDF vector."""
        return self.max_tokens if self.pad_to_max_tokens and self.max_tokens is not None else self.size()

    def idf_row(self) -> np.ndarray:
        """The idf weights padded with zeros to ``depth()``."""
        assert self.idf is not None
        return np.concatenate([self.idf, np.zeros(self.depth() - len(self.idf))])

    def lookup(self, tokens: Sequence[str]) -> np.ndarray:
        """The index of each token (int64): mask → 0 (int mode), unknown → the OOV index."""
        self.require()
        oov = len(self.special) - 1 if self.num_oov_indices else -1
        get = self.index.get
        ids = np.fromiter((get(t, oov) for t in tokens), dtype=np.int64, count=len(tokens))
        if self.mask_token is not None:
            ids[[t == self.mask_token for t in tokens]] = 0
        if self.num_oov_indices == 0 and (ids < 0).any():
            unknown = [t for t, i in zip(tokens, ids) if i < 0][:5]
            raise ValueError(
                f"{self.layer}: expected only vocabulary tokens with num_oov_indices=0, got {unknown}. "
                "Fix: num_oov_indices=1 maps unknown tokens to the [UNK] index."
            )
        return ids

    def bags(self, rows: list[list[str]]) -> torch.Tensor:
        """Multi-hot, count or TF-IDF vectors (float32, ``(len(rows), depth)``)::

            count[n, i]  = #{tokens of row n with index i}
            multi_hot    = min(count, 1)
            tf_idf       = count[n, i] · idf[i]
        """
        out = np.zeros((len(rows), self.depth()), dtype=np.float64)
        for n, row in enumerate(rows):
            kept = [t for t in row if t != self.dropped_token] if self.dropped_token is not None else row
            np.add.at(out[n], self.lookup(kept), 1.0)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1.0)
        elif self.output_mode == "tf_idf":
            out = out * self.idf_row()
        return torch.from_numpy(out.astype(np.float32))


def check_lookup_args(layer: str, output_mode: Any, max_tokens: Any, pad_to_max_tokens: Any, reserved: int) -> str:
    """Validate the arguments the lookup layers share; the output mode (Keras's old names mapped)."""
    mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if mode not in OUTPUT_MODES:
        raise ValueError(
            f"{layer}: expected output_mode among {', '.join(repr(m) for m in OUTPUT_MODES)}, got {output_mode!r}. "
            "Fix: output_mode='int' gives token indices (for an Embedding), 'multi_hot' a bag of words."
        )
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer))
                                   or max_tokens <= reserved):
        raise ValueError(
            f"{layer}: expected max_tokens None or an integer above {reserved} (it counts the {reserved} special "
            f"indices too), got {max_tokens!r}. Fix: max_tokens=20000, or None for every token."
        )
    if pad_to_max_tokens and max_tokens is None:
        raise ValueError(
            f"{layer}: expected max_tokens with pad_to_max_tokens=True (the width to pad to), got max_tokens=None. "
            "Fix: max_tokens=20000, pad_to_max_tokens=True."
        )
    return mode


class StringLookup(Layer):
    """Maps strings to integer indices through a vocabulary (or back, ``invert=True``).

    Rule (``output_mode="int"``, Keras's default ``mask_token=None``)::

        y = 1 + rank(x)   for a token x of the vocabulary (rank 0, 1, 2, ...)
        y = 0             for any other string (the OOV index, "[UNK]")

    and with ``mask_token`` set, index 0 is the mask token and the others
    shift by one. ``get_vocabulary()[y]`` is the token of index ``y``. The
    other output modes give one vector per sample over the indices
    (``multi_hot``, ``count``, ``tf_idf``; see ``TextVectorization``).

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
        output_mode: ``"int"`` (default), ``"multi_hot"``, ``"count"``,
            ``"tf_idf"``.
        pad_to_max_tokens: vectors of width ``max_tokens`` in the other modes.

    Input shape: any shape of strings (``invert=True``: of indices).
    Output shape: the same, int64 (``invert``: a NumPy array of str); other
    modes ``(batch, depth)`` float32 for ``(batch, k)`` strings.

    Raises:
        ValueError: a bad argument, a vocabulary with repeated tokens, calls
            before the vocabulary is known; TypeError: numbers instead of strings.

    Example:
        >>> layer = StringLookup(vocabulary=["a", "b", "c"])
        >>> layer([["a", "c"], ["d", "b"]]).tolist()
        [[1, 3], [0, 2]]
    """

    equation = "y = index of x in the vocabulary (unknown: the OOV index)"
    min_rank = 0

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
        self.output_mode = check_lookup_args(layer, output_mode, max_tokens, pad_to_max_tokens, reserved)
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
        """Learn the vocabulary from ``data`` (strings, any shape): every string
        is a token; for TF-IDF each row (sample) is a document."""
        array = as_strings(f"StringLookup '{self.name}'", data)
        rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        self.vocab.adapt(list(row) for row in rows.tolist())

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
        if self.invert:
            return self._invert(inputs)
        array = as_strings(f"StringLookup '{self.name}'", inputs)
        if self.output_mode == "int":
            ids = self.vocab.lookup(array.reshape(-1).tolist()).reshape(array.shape)
            return torch.from_numpy(ids).to(self._device.device)
        rows = array.reshape(len(array), -1).tolist() if array.ndim else [[array.item()]]
        return self.vocab.bags(rows).to(self._device.device)

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
