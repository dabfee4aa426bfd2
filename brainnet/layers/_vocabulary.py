"""The vocabulary machinery the lookup layers share (StringLookup,
IntegerLookup, TextVectorization), and the category encoder that turns
indices into one-hot, multi-hot or count vectors (also CategoryEncoding's,
Discretization's and Hashing's).

The indices of a vocabulary (Keras's layout)::

    output_mode="int":   [mask_token (if not None)] [oov_token] × num_oov_indices  token_1 token_2 ...
    other output modes:                              [oov_token] × num_oov_indices  token_1 token_2 ...

``adapt`` ranks the tokens by count, most frequent first, ties broken by the
token itself in reverse order (``"b"`` before ``"a"``, 42 before 12), exactly
as Keras's ``np.lexsort((tokens, counts))[::-1]``, then keeps the first
``max_tokens − (number of special tokens)``.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from .base import Shape

OUTPUT_MODES = ("int", "multi_hot", "count", "tf_idf")
OOV_TOKEN = "[UNK]"


class Vocabulary:
    """The tokens of a lookup layer, their indices and (TF-IDF) their idf weights.

    Private to the lookup layers: ``StringLookup``, ``IntegerLookup`` and
    ``TextVectorization`` each hold one. ``kind`` is the type of the tokens
    (``str`` or ``int``).
    """

    def __init__(self, layer: str, output_mode: str, mask_token: Any, oov_token: Any,
                 num_oov_indices: int, max_tokens: int | None, pad_to_max_tokens: bool, kind: type = str) -> None:
        self.layer, self.output_mode, self.oov_token, self.kind = layer, output_mode, oov_token, kind
        self.mask_token = mask_token if output_mode == "int" else None  # other modes drop it from the input
        self.dropped_token = mask_token  # a mask token in the input: index 0 (int) or left out (other modes)
        self.num_oov_indices, self.max_tokens, self.pad_to_max_tokens = num_oov_indices, max_tokens, pad_to_max_tokens
        self.special = ([self.mask_token] if self.mask_token is not None else []) + [oov_token] * num_oov_indices
        self.tokens: list[Any] | None = None  # the learned or given tokens, special ones excluded
        self.index: dict[str, int] = {}
        self.idf: np.ndarray | None = None  # one weight per index (tf_idf), special ones included

    # -------------------------------------------------------- setting it
    def adapt(self, documents: Iterable[list[Any]]) -> None:
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
            if self.kind is int:
                vocabulary = [int(t) if t.strip().lstrip("+-").isdigit() else t for t in vocabulary]
        if isinstance(vocabulary, torch.Tensor):
            vocabulary = vocabulary.tolist()
        tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in np.asarray(vocabulary, dtype=object).tolist()]
        if self.kind is int:
            if not tokens or not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in tokens):
                raise ValueError(
                    f"{layer}: expected a non-empty list of integer tokens as vocabulary, got {vocabulary!r:.80}. "
                    "Fix: vocabulary=[12, 36, 1138], or a file path with one integer a line."
                )
            tokens = [int(t) for t in tokens]
        elif not tokens or not all(isinstance(t, str) for t in tokens):
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

    def _set(self, tokens: list[Any], idf: Any, with_special: bool) -> None:
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
                f"Fix: layer.adapt({'texts' if self.kind is str else 'values'}) first, or pass vocabulary=[...] "
                "to the layer."
            )
        return self.tokens

    def get(self, include_special_tokens: bool = True) -> list[Any]:
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
        tokens = [t for row in rows for t in row]  # all rows' tokens looked up at once
        row_of = np.repeat(np.arange(len(rows)), [len(row) for row in rows])
        if self.dropped_token is not None:
            kept = np.fromiter((t != self.dropped_token for t in tokens), dtype=bool, count=len(tokens))
            tokens, row_of = [t for t, k in zip(tokens, kept) if k], row_of[kept]
        np.add.at(out, (row_of, self.lookup(tokens)), 1.0)
        if self.output_mode == "multi_hot":
            out = np.minimum(out, 1.0)
        elif self.output_mode == "tf_idf":
            out = out * self.idf_row()
        return torch.from_numpy(out.astype(np.float32))


def check_lookup_args(layer: str, output_mode: Any, max_tokens: Any, pad_to_max_tokens: Any, reserved: int,
                      modes: tuple[str, ...] = OUTPUT_MODES) -> str:
    """Validate the arguments the lookup layers share; the output mode (Keras's old names mapped)."""
    mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if mode not in modes:
        raise ValueError(
            f"{layer}: expected output_mode among {', '.join(repr(m) for m in modes)}, got {output_mode!r}. "
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


# ------------------------------------------------------------------ indices → vectors
ENCODINGS = ("one_hot", "multi_hot", "count")


def encoded_shape(input_shape: Shape, mode: str, depth: int) -> Shape:
    """The shape ``encode`` gives (Keras's rule): ``one_hot`` encodes each value,
    on the last axis when it has size 1, on a new last axis otherwise; the other
    modes encode each sample, the last axis holding its values."""
    shape = tuple(input_shape)
    if mode == "int":
        return shape
    if not shape:
        return (depth,)
    if mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    return shape[:-1] + (depth,)


def encode(indices: torch.Tensor, mode: str, depth: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Indices in ``[0, depth)`` as float vectors of width ``depth``; a negative
    index (a dropped mask token) counts nowhere::

        one_hot:    y[..., j, i] = [x[..., j] = i]
        count:      y[..., i] = Σ_j w[..., j] · [x[..., j] = i]     (w = 1 without weights)
        multi_hot:  y[..., i] = 1 if some x[..., j] = i, else 0
    """
    dtype = weights.dtype if weights is not None and weights.is_floating_point() else torch.get_default_dtype()
    x = indices.long()
    if x.dim() == 0:
        x = x.reshape(1)  # one sample of one value
    elif mode == "one_hot" and not (x.dim() > 1 and x.shape[-1] == 1):
        x = x.unsqueeze(-1)  # (..., 1): each value its own sample
    kept = x >= 0
    w = torch.ones(x.shape, dtype=dtype, device=x.device) if weights is None else weights.to(dtype).reshape(x.shape)
    out = torch.zeros(x.shape[:-1] + (depth,), dtype=dtype, device=x.device)  # (..., depth)
    out.scatter_add_(-1, torch.where(kept, x, 0), torch.where(kept, w, 0))
    return out.clamp_max_(1) if mode == "multi_hot" else out
