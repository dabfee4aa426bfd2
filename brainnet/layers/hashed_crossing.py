"""HashedCrossing: the combination of several categorical features hashed into
a fixed number of bins (the hashing trick on feature crosses), as Keras 3's
layer, with ``Hashing``'s hash; also the text of a cross that ``FeatureSpace``'s
crosses hash the same way."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ._vocabulary import encode, encoded_shape
from .base import Layer, Shape, shape_str
from .hashing import _holds_text, hash_bin
from .integer_lookup import as_integers
from .lookup import as_strings
from .symbolic import is_symbolic

SEPARATOR = "_X_"  # between the values of a cross, as between the names in a cross's name
MODES = ("int", "one_hot")


def crossed_text(values: list[np.ndarray]) -> np.ndarray:
    """The text of each sample's combination: ``text(x_1) + "_X_" + text(x_2) + …``
    (a string as it is, an integer's decimal digits)."""
    text = values[0].astype(str).astype(object)
    for v in values[1:]:
        text = text + SEPARATOR + v.astype(str).astype(object)  # object arrays of str: + joins them
    return text


class HashedCrossing(Layer):
    """Crosses categorical features: each sample's combination of values is hashed into ``num_bins`` bins.

    Rule (``x_1 … x_m`` one sample's values of the ``m ≥ 2`` features,
    ``text(x)`` a string itself or an integer's decimal digits, ``H`` the hash
    of ``Hashing``: BLAKE2b, 8-byte digest, read as a little-endian unsigned
    64-bit integer)::

        y = H(text(x_1) + "_X_" + text(x_2) + … + "_X_" + text(x_m)) mod num_bins

    so two samples share a bin when they agree on every feature (and, rarely,
    by a collision), and a model can learn from the combination ("city A and
    age band 3") with one Embedding or Dense over ``num_bins`` values. The
    bins are stable across processes and machines and equal the bins of
    ``FeatureSpace``'s crosses of the same values. Keras hashes with
    TensorFlow's FarmHash-based ``cross_hashed``, so the bin numbers differ
    from Keras's for the same values.

    Args:
        num_bins: the number of bins (an integer ≥ 1).
        output_mode: ``"int"`` (default): the bin indices, int64;
            ``"one_hot"``: each bin index as a float32 vector of width ``num_bins``.
        sparse: False only (brainnet returns dense tensors).

    Input shape: a list or tuple of at least two features of one shape,
    ``(batch, 1)``, ``(batch,)`` or ``()``; each feature integers (tensors,
    arrays, lists; whole-valued floats are taken) or strings (lists or
    NumPy arrays of str or UTF-8 bytes); features may differ in kind.
    Output shape: ``"int"``: the features' shape, int64; ``"one_hot"``:
    ``(batch, num_bins)``, or ``(num_bins,)`` for ``()``, float32.

    Raises:
        ValueError: ``num_bins`` not a positive integer, an unknown
            ``output_mode``, ``sparse=True``; fewer than two features, features
            of different shapes, or a shape other than those above.
        TypeError: fractional numbers, or values that are neither integers nor strings.

    Example:
        >>> layer = HashedCrossing(num_bins=5)
        >>> y = layer((["A", "B", "A"], np.array([101, 101, 101])))
        >>> bool(y[0] == y[2]), tuple(y.shape), y.dtype
        (True, (3,), torch.int64)
    """

    equation = 'y = H(text(x_1) + "_X_" + … + "_X_" + text(x_m)) mod num_bins'
    min_rank = 0
    input_dtype = torch.int64  # integer (or string) features, kept as they are

    def __init__(self, num_bins: int, output_mode: str = "int", sparse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        label = self._label = f"HashedCrossing '{self.name}'"
        if isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) or num_bins < 1:
            raise ValueError(
                f"{label}: expected num_bins, the number of bins (an integer ≥ 1), got {num_bins!r}. "
                "Fix: HashedCrossing(num_bins=32); about as many bins as value combinations keeps collisions rare."
            )
        if output_mode not in MODES:
            raise ValueError(
                f"{label}: expected output_mode 'int' or 'one_hot', got {output_mode!r}. "
                "Fix: output_mode='int' for bin indices (for an Embedding), 'one_hot' for a vector per sample."
            )
        if sparse:
            raise ValueError(
                f"{label}: expected sparse=False, got sparse=True; brainnet returns dense tensors. "
                "Fix: leave sparse out."
            )
        self.num_bins, self.output_mode = int(num_bins), output_mode
        self.register_buffer("_device", torch.zeros(0), persistent=False)  # where outputs of strings go

    def takes_text(self) -> bool:
        return True

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            got = f"{len(inputs)} feature(s)" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(
                f"{self._label}: expected a list or tuple of at least two features to cross, got {got}. "
                "Fix: layer((feature_a, feature_b)), each one value per sample."
            )
        return super().forward([self._feature(x) for x in inputs], training, **kwargs)

    def _feature(self, x: Any) -> Any:
        """A feature as strings (an object array) or integers (an int64 tensor), so that its
        shape is known; a symbolic tensor (a graph being built) or None as it is."""
        if x is None or is_symbolic(x):
            return x
        return as_strings(self._label, x) if _holds_text(x) else as_integers(self._label, x)

    def build(self, input_shape: list[Shape]) -> None:
        self._check_shapes(input_shape)

    def _check_shapes(self, shapes: list[Shape]) -> None:
        first = tuple(shapes[0]) if shapes[0] is not None else None
        if first is None or len(first) > 2 or (len(first) == 2 and first[1] != 1):
            raise ValueError(
                f"{self._label}: expected each feature of shape (batch, 1), (batch,) or (), one value per sample, "
                f"got {'None' if first is None else shape_str(first)}. Fix: cross one column per feature, "
                "x[:, i:i + 1] or x[:, i]."
            )
        if any(s is None or tuple(s) != first for s in shapes[1:]):
            raise ValueError(
                f"{self._label}: expected features of one shape, got shapes "
                f"{', '.join('None' if s is None else shape_str(s) for s in shapes)}. "
                "Fix: give every feature the same number of samples, each (batch, 1) or each (batch,)."
            )

    def call(self, inputs: list[Any]) -> torch.Tensor:
        self._check_shapes([tuple(x.shape) for x in inputs])
        device = next((x.device for x in inputs if isinstance(x, torch.Tensor)), self._device.device)
        shape = tuple(inputs[0].shape)
        values = [(x if isinstance(x, np.ndarray) else as_integers(self._label, x).cpu().numpy()).reshape(-1)
                  for x in inputs]
        text = crossed_text(values)
        ids = np.zeros(0, dtype=np.int64)
        if text.size:  # each distinct combination hashed once
            unique, where = np.unique(text.astype(str), return_inverse=True)
            table = np.array([hash_bin(t, self.num_bins) for t in unique.tolist()], dtype=np.int64)
            ids = table[where.reshape(-1)]
        y = torch.as_tensor(ids.reshape(shape), device=device)
        return y if self.output_mode == "int" else encode(y, "one_hot", self.num_bins)

    def compute_output_shape(self, input_shape: list[Shape]) -> Shape:
        return encoded_shape(tuple(input_shape[0]), self.output_mode, self.num_bins)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": False}
