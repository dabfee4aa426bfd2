"""Hashing: strings or integers into a fixed number of bins, as Keras 3's
layer, with a hash from Python's standard library (see ``Hashing``)."""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np
import torch

from ._vocabulary import ENCODINGS, encode, encoded_shape
from .base import Layer, Shape
from .integer_lookup import as_integers
from .lookup import as_strings

MODES = ("int",) + ENCODINGS
_UINT64 = 2 ** 64


def hash_bin(text: str, bins: int, key: bytes = b"") -> int:
    """The bin of one value's text: BLAKE2b (8-byte digest, keyed by ``key``)
    of its UTF-8 bytes, read as a little-endian unsigned 64-bit integer, mod ``bins``."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "little") % bins


def _holds_text(inputs: Any) -> bool:
    """Whether ``inputs`` are strings (a str, bytes, or a list/array of them)."""
    if isinstance(inputs, (str, bytes)):
        return True
    if isinstance(inputs, np.ndarray):
        return inputs.dtype.kind in "US" or (inputs.dtype.kind == "O" and inputs.size > 0
                                              and isinstance(inputs.flat[0], (str, bytes)))
    if isinstance(inputs, (list, tuple)):
        flat = np.asarray(inputs, dtype=object).reshape(-1)
        return flat.size > 0 and isinstance(flat[0], (str, bytes))
    return False


class Hashing(Layer):
    """Hashes strings or integers into ``num_bins`` bins (the hashing trick).

    Rule (``B = num_bins``, ``text(x)`` the string itself or an integer's
    decimal digits, ``H`` BLAKE2b with an 8-byte digest read as a
    little-endian unsigned 64-bit integer, keyed by the salt when given)::

        y = H(text(x)) mod B                                   (mask_value None)
        y = 0 if x = mask_value, else 1 + H(text(x)) mod (B − 1)   (mask_value set, B > 1)

    The bins are stable across processes and machines (unlike Python's
    ``hash``), so a saved model bins as it did when trained. The integer 12
    and the string ``"12"`` share a bin, as in Keras. The hash is not
    Keras's: Keras hashes with FarmHash64 (SipHash64 with a salt) through
    TensorFlow, which brainnet does not use, so **bin numbers differ from
    Keras's** for the same values; models trained with Keras's Hashing do
    not carry over. The other output modes encode the bins as
    ``CategoryEncoding`` does, width ``B``.

    Args:
        num_bins: the number of bins ``B``, bin 0 included (required, ≥ 1).
        mask_value: a string or integer sent to bin 0, the others hashed into
            ``[1, B)``; None (default): no mask bin.
        salt: an unsigned integer ``s`` (the same as ``(s, s)``) or a pair of
            them, the key of the hash; None (default): unkeyed.
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"``,
            ``"count"``.
        sparse: False only (brainnet returns dense tensors).

    Input shape: strings (a str, a list or NumPy array of str or UTF-8
    bytes) or integers (tensors, arrays, lists; whole-valued floats are taken
    too), any shape.
    Output shape: ``"int"`` the same, int64; ``"one_hot"`` ``(..., B)`` per
    value (a last axis of size 1 is replaced), ``"multi_hot"``/``"count"``
    ``input_shape[:-1] + (B,)``, float32.

    Raises:
        ValueError: a bad argument, ``sparse=True``, a ``mask_value`` of the
            other kind than the inputs (a string for integers, or the reverse);
        TypeError: fractional numbers, or strings mixed with other values.

    Example:
        >>> layer = Hashing(num_bins=3)
        >>> layer([["A"], ["B"], ["C"], ["D"], ["E"]]).tolist()
        [[1], [1], [2], [2], [2]]
    """

    equation = "y = H(text(x)) mod num_bins (mask_value: 0, others 1 + H mod (num_bins − 1))"
    min_rank = 0
    input_dtype = torch.int64

    def __init__(self, num_bins: int | None = None, mask_value: str | int | None = None,
                 salt: int | tuple[int, int] | list[int] | None = None, output_mode: str = "int",
                 sparse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = self._label = f"Hashing '{self.name}'"
        if num_bins is None or isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) \
                or num_bins < 1:
            raise ValueError(
                f"{layer}: expected num_bins, the number of bins (an integer ≥ 1), got {num_bins!r}. "
                "Fix: Hashing(num_bins=64); about as many bins as distinct values keeps collisions rare."
            )
        if output_mode not in MODES:
            raise ValueError(
                f"{layer}: expected output_mode among {', '.join(repr(m) for m in MODES)}, got {output_mode!r}. "
                "Fix: output_mode='int' for bin indices (for an Embedding), 'one_hot' for a vector per value."
            )
        if sparse:
            raise ValueError(
                f"{layer}: expected sparse=False, got sparse=True; brainnet returns dense tensors. "
                "Fix: leave sparse out."
            )
        if mask_value is not None and (isinstance(mask_value, bool)
                                       or not isinstance(mask_value, (str, numbers.Integral))):
            raise ValueError(
                f"{layer}: expected mask_value a string, an integer or None, got {mask_value!r}. "
                "Fix: mask_value='' for padded strings, mask_value=0 for padded integer codes, or None."
            )
        pair = (salt, salt) if isinstance(salt, numbers.Integral) and not isinstance(salt, bool) else salt
        if salt is not None and not (
                isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and 0 <= s < _UINT64
                        for s in pair)):
            raise ValueError(
                f"{layer}: expected salt an unsigned 64-bit integer, a pair of them, or None, got {salt!r}. "
                "Fix: salt=133 (the same as [133, 133]), or salt=[133, 137]."
            )
        self.num_bins, self.output_mode = int(num_bins), output_mode
        self.mask_value = mask_value if mask_value is None or isinstance(mask_value, str) else int(mask_value)
        self.salt = None if salt is None else [int(s) for s in pair]
        self._key = b"" if self.salt is None else b"".join(s.to_bytes(8, "little") for s in self.salt)
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # where string outputs go

    def takes_text(self) -> bool:
        return True

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if _holds_text(inputs):
            texts = as_strings(self._label, inputs)
            return self._output(self._bins(texts, text=True), self._device.device)
        if isinstance(inputs, (list, tuple, numbers.Number)):
            inputs = as_integers(self._label, inputs)
        return super().forward(inputs, training, **kwargs)

    def call(self, inputs: Any) -> torch.Tensor:
        x = as_integers(self._label, inputs)
        return self._output(self._bins(x.cpu().numpy(), text=False), x.device)

    def _bins(self, values: np.ndarray, text: bool) -> np.ndarray:
        """The bin of each value (int64, the shape of ``values``)."""
        if self.mask_value is not None and isinstance(self.mask_value, str) != text:
            got, fix = ("strings", "mask_value=''") if text else ("integers", "mask_value=0")
            raise ValueError(
                f"{self._label}: expected {'integers' if text else 'strings'} with mask_value="
                f"{self.mask_value!r}, got {got}. Fix: a mask value of the inputs' kind, e.g. {fix}, or "
                "mask_value=None."
            )
        masked = self.mask_value is not None and self.num_bins > 1
        bins = self.num_bins - 1 if masked else self.num_bins
        flat = values.reshape(-1)
        ids = np.zeros(0, dtype=np.int64)
        if flat.size:  # each distinct value hashed once
            unique, where = np.unique(flat, return_inverse=True)
            table = [hash_bin(v if text else str(int(v)), bins, self._key) for v in unique.tolist()]
            ids = np.array(table, dtype=np.int64)[where.reshape(-1)]
        if masked:
            ids = np.where(flat == self.mask_value, 0, ids + 1)
        return ids.reshape(values.shape)

    def _output(self, ids: np.ndarray, device: torch.device) -> torch.Tensor:
        y = torch.as_tensor(ids, device=device)
        return y if self.output_mode == "int" else encode(y, self.output_mode, self.num_bins)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_bins": self.num_bins, "mask_value": self.mask_value,
                "salt": self.salt, "output_mode": self.output_mode, "sparse": False}
