"""IntegerLookup: arbitrary integers ↔ contiguous indices through a
vocabulary, as Keras 3 (the structured-data tutorials' categorical columns).

The vocabulary (index layout, ``adapt`` ranking, given vocabularies) is
``_vocabulary.Vocabulary``, the one StringLookup uses; the lookup itself
runs on tensors (a sorted table and ``torch.searchsorted``), so the layer
works inside a model on CPU or GPU.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ._vocabulary import OUTPUT_MODES, Vocabulary, check_lookup_args, encode, encoded_shape
from .base import Layer, Shape

MODES = ("int", "one_hot") + OUTPUT_MODES[1:]


def as_integers(layer: str, values: Any) -> torch.Tensor:
    """``values`` (a tensor, an array, a list or a number) as an int64 tensor;
    whole-valued floats are taken as they are, other values refused."""
    if not isinstance(values, torch.Tensor):
        array = np.asarray(values)
        if array.dtype.kind not in "iufb":
            raise TypeError(
                f"{layer}: expected integers, got {array.dtype} values such as {array.reshape(-1)[:1].tolist()}. "
                "Fix: pass integer codes (np.array(column, dtype='int64')); for strings use StringLookup."
            )
        values = torch.tensor(array)  # a copy (0-d stays 0-d)
    if values.is_floating_point():
        if not bool((values == values.round()).all()):
            bad = float(values[values != values.round()].reshape(-1)[0])
            raise TypeError(
                f"{layer}: expected integers, got a non-integer value {bad}. Fix: pass integer codes "
                "(x.astype('int64')); to bucket continuous values use Discretization."
            )
    return values.long()


class IntegerLookup(Layer):
    """Maps integers to contiguous indices through a vocabulary (or back, ``invert=True``).

    Rule (``output_mode="int"``, defaults ``mask_token=None``, ``num_oov_indices=1``)::

        y = 1 + rank(x)              for x in the vocabulary (rank 0, 1, 2, ...)
        y = 0                        for any other integer (the OOV index)

    With ``num_oov_indices = n > 1`` an unknown ``x`` goes to OOV index
    ``x mod n`` (Keras's floormod) and the vocabulary starts at ``n``; with
    ``mask_token`` set, index 0 is the mask token and the others shift by one.
    ``get_vocabulary()[y]`` is the token of index ``y``. The other output
    modes encode those indices: ``one_hot`` (each value), ``multi_hot``,
    ``count`` and ``tf_idf`` (each sample, ``count · idf``), where a mask
    token in the input is left out.

    Args:
        max_tokens: most indices, special ones included; None: no cap.
        num_oov_indices: OOV indices (default 1); 0: unknown integers raise.
        mask_token: an integer that maps to index 0 (int mode); None (default).
        oov_token: the integer ``invert`` gives for OOV indices, default -1.
        vocabulary: integers (a list, array, tensor or the path of a file with
            one a line); or None, then ``adapt(data)`` learns them.
        vocabulary_dtype: ``"int64"`` only (as Keras).
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary.
        invert: map indices back to integers (int mode only).
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"``,
            ``"count"``, ``"tf_idf"``.
        sparse: False only (brainnet returns dense tensors).
        pad_to_max_tokens: vectors of width ``max_tokens`` in the other modes.

    Input shape: integers of any shape (int tensors, arrays, lists; whole-valued
    floats are taken too).
    Output shape: int mode the same, int64; ``one_hot`` ``(..., depth)``
    (a last axis of size 1 is replaced); the others ``input_shape[:-1] +
    (depth,)``, float32; ``depth`` is ``vocabulary_size()`` (or ``max_tokens``
    with ``pad_to_max_tokens``).

    Raises:
        ValueError: a bad argument, a bad vocabulary, a call before the
            vocabulary is known, unknown integers with ``num_oov_indices=0``;
            TypeError: strings or fractional numbers.

    Example:
        >>> layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
        >>> layer([[12, 1138, 42], [42, 1000, 36]]).tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    equation = "y = index of x in the vocabulary (unknown: OOV index x mod num_oov_indices)"
    min_rank = 0
    input_dtype = torch.int64

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1, mask_token: int | None = None,
                 oov_token: int = -1, vocabulary: Any = None, vocabulary_dtype: str = "int64", idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False, pad_to_max_tokens: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = self._label = f"IntegerLookup '{self.name}'"
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, numbers.Integral) \
                or num_oov_indices < 0:
            raise ValueError(
                f"{layer}: expected num_oov_indices an integer ≥ 0, got {num_oov_indices!r}. Fix: num_oov_indices=1 "
                "(unknown integers share one index), or 0 to refuse them."
            )
        for arg, value in (("mask_token", mask_token), ("oov_token", oov_token)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
                raise ValueError(
                    f"{layer}: expected {arg} an integer or None, got {value!r}. Fix: {arg}=0 (or another integer "
                    "that is no category), or None."
                )
        if vocabulary_dtype != "int64":
            raise ValueError(
                f"{layer}: expected vocabulary_dtype='int64' (the only one, as Keras), got {vocabulary_dtype!r}. "
                "Fix: leave vocabulary_dtype out."
            )
        if sparse:
            raise ValueError(
                f"{layer}: expected sparse=False, got sparse=True; brainnet returns dense tensors. "
                "Fix: leave sparse out."
            )
        reserved = int(num_oov_indices) + (mask_token is not None and output_mode == "int")
        self.output_mode = check_lookup_args(layer, output_mode, max_tokens, pad_to_max_tokens, reserved, MODES)
        if invert and self.output_mode != "int":
            raise ValueError(
                f"{layer}: expected output_mode='int' with invert=True (indices back to integers), got "
                f"output_mode={output_mode!r}. Fix: IntegerLookup(vocabulary=..., invert=True)."
            )
        self.max_tokens, self.num_oov_indices = max_tokens, int(num_oov_indices)
        self.mask_token = None if mask_token is None else int(mask_token)
        self.oov_token = None if oov_token is None else int(oov_token)
        self.invert, self.pad_to_max_tokens = bool(invert), bool(pad_to_max_tokens)
        vocab_mode = "count" if self.output_mode in ("one_hot", "multi_hot") else self.output_mode
        self.vocab = Vocabulary(layer, vocab_mode, self.mask_token, self.oov_token, self.num_oov_indices,
                                max_tokens, self.pad_to_max_tokens, kind=int)
        self._table: tuple | None = None  # (tokens, sorted tokens, their ranks) for the lookup
        if vocabulary is not None:
            self.vocab.set(vocabulary, idf_weights)
        elif idf_weights is not None:
            self.vocab.set([], idf_weights)  # refused with the right message

    # ------------------------------------------------------------ vocabulary
    def adapt(self, data: Any) -> None:
        """Learn the vocabulary from integers (any shape): ranked by count; for
        TF-IDF each row (sample) is a document, a 1-D array one per value."""
        values = as_integers(self._label, data).cpu().numpy()
        rows = values.reshape(len(values), -1) if values.ndim else values.reshape(1, 1)
        self.vocab.adapt(rows.tolist())

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[int]:
        """The tokens in index order (with the mask and OOV tokens first by default)."""
        return self.vocab.get(include_special_tokens)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Replace the vocabulary (integers or a file path); see ``vocabulary``."""
        self.vocab.set(vocabulary, idf_weights)

    def vocabulary_size(self) -> int:
        """Number of indices, the special ones included."""
        return self.vocab.size()

    # ------------------------------------------------------------ call
    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if isinstance(inputs, (list, tuple, numbers.Number)):
            inputs = as_integers(self._label, inputs)
        return super().forward(inputs, training, **kwargs)

    def _lookup(self, x: torch.Tensor) -> torch.Tensor:
        """The index of each integer: vocabulary, mask (0 in int mode, -1 = left
        out in the others) or OOV."""
        tokens = self.vocab.require()
        start = len(self.vocab.special)
        if self._table is None or self._table[0] is not tokens or self._table[1].device != x.device:
            self._table = (tokens, *torch.sort(torch.tensor(tokens, dtype=torch.int64, device=x.device)))
        _, keys, order = self._table  # the vocabulary sorted, and each one's rank
        at = torch.searchsorted(keys, x.contiguous()).clamp_max_(len(tokens) - 1)
        found = keys[at] == x
        if self.num_oov_indices == 0 and not bool(found.all()):
            unknown = x[~found].unique()[:5].tolist()
            raise ValueError(
                f"{self._label}: expected only vocabulary integers with num_oov_indices=0, got {unknown}. "
                "Fix: num_oov_indices=1 maps unknown integers to the OOV index."
            )
        oov = torch.remainder(x, max(self.num_oov_indices, 1)) + (start - self.num_oov_indices)
        ids = torch.where(found, order[at] + start, oov)
        if self.mask_token is not None:
            ids = torch.where(x == self.mask_token, 0 if self.output_mode == "int" else -1, ids)
        return ids

    def call(self, inputs: Any) -> torch.Tensor:
        x = as_integers(self._label, inputs)
        if self.invert:
            vocabulary = torch.tensor(self.get_vocabulary() + [self.oov_token if self.oov_token is not None else -1],
                                      dtype=torch.int64, device=x.device)
            inside = (x >= 0) & (x < len(vocabulary) - 1)
            return vocabulary[torch.where(inside, x, len(vocabulary) - 1)]
        ids = self._lookup(x)
        if self.output_mode == "int":
            return ids
        depth = self.vocab.depth()
        out = encode(ids, "count" if self.output_mode == "tf_idf" else self.output_mode, depth)
        if self.output_mode == "tf_idf":
            out = out * torch.as_tensor(self.vocab.idf_row(), dtype=out.dtype, device=out.device)
        return out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.vocab.depth())

    def get_config(self) -> dict[str, Any]:
        """The arguments, the vocabulary (and idf weights) included, so a loaded
        model maps integers as this one does."""
        vocabulary = self.vocab.get() if self.vocab.tokens is not None else None
        idf = None if self.vocab.idf is None else [float(w) for w in self.vocab.idf]
        return {**super().get_config(), "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
                "mask_token": self.mask_token, "oov_token": self.oov_token, "vocabulary": vocabulary,
                "vocabulary_dtype": "int64", "idf_weights": idf, "invert": self.invert,
                "output_mode": self.output_mode, "sparse": False, "pad_to_max_tokens": self.pad_to_max_tokens}
