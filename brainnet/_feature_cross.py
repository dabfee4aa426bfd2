"""The crossing layer of ``FeatureSpace``'s feature crosses: the values of
several categorical features, joined into one string per sample and hashed
into a fixed number of bins by brainnet's ``Hashing`` layer: the bins of
``brainnet.layers.HashedCrossing`` for the same values, which shares its text."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ._registry import register_serializable
from .layers.base import Layer, Shape
from .layers.hashed_crossing import crossed_text
from .layers.hashing import Hashing
from .layers.integer_lookup import as_integers



@register_serializable("brainnet")
class HashedCross(Layer):
    """Hashes the combination of several integer features into ``num_bins`` bins.

    Rule (``x_1 … x_m`` the integers one sample has in the crossed features,
    ``H`` ``Hashing``'s hash, BLAKE2b)::

        y = H(str(x_1) + "_X_" + str(x_2) + … + "_X_" + str(x_m)) mod num_bins

    so two samples share a bin when they agree on every crossed feature (and,
    rarely, by a collision). ``FeatureSpace`` crosses the features' indices
    (a lookup's, a hash's or a bin's), before any one-hot encoding.

    Args:
        num_bins: the number of bins (an integer ≥ 1).

    Input shape: a list of ``m ≥ 2`` integer tensors of one shape, e.g. ``(batch, 1)``.
    Output shape: that shape, int64.

    Raises:
        ValueError: ``num_bins`` not a positive integer; fewer than two inputs
            or inputs of different shapes.

    Example:
        >>> layer = HashedCross(num_bins=8)
        >>> y = layer([torch.tensor([[1], [1]]), torch.tensor([[2], [2]])])
        >>> bool(y[0] == y[1]), tuple(y.shape)
        (True, (2, 1))
    """

    equation = "y = H(str(x_1) _X_ … _X_ str(x_m)) mod num_bins"
    min_rank = 0

    def __init__(self, num_bins: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral) or num_bins < 1:
            raise ValueError(
                f"HashedCross '{self.name}': expected num_bins, the size of the crossing space (an integer ≥ 1), "
                f"got {num_bins!r}. Fix: crossing_dim=32, or about as many bins as value combinations."
            )
        self.num_bins = int(num_bins)
        self.hashing = Hashing(num_bins=self.num_bins, name=f"{self.name}_hashing")

    def call(self, inputs: Any) -> torch.Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2 \
                or len({tuple(x.shape) for x in inputs}) != 1:
            shapes = [tuple(x.shape) for x in inputs] if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise ValueError(
                f"HashedCross '{self.name}': expected a list of at least two integer tensors of one shape, got "
                f"{shapes}. Fix: cross two or more features, each one value per sample, (batch, 1)."
            )
        values = [as_integers(f"HashedCross '{self.name}'", x).cpu().numpy() for x in inputs]
        return self.hashing(crossed_text(values)).to(inputs[0].device)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[0]) if isinstance(input_shape, list) else tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_bins": self.num_bins}
