"""Discretization: continuous values into bins by boundaries, given or
learned as quantiles by ``adapt``, as Keras 3."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch

from ._vocabulary import ENCODINGS, encode, encoded_shape
from .base import Layer, Shape

MODES = ("int",) + ENCODINGS


def quantile_boundaries(values: np.ndarray, num_bins: int) -> list[float]:
    """The ``num_bins − 1`` inner boundaries that split ``values`` into bins of
    equal count: with the values sorted (``v_1 ≤ … ≤ v_n``), boundary ``k`` is
    where the empirical CDF, ``i/n`` at ``v_i`` and linear in between,
    reaches ``k/num_bins`` (Keras's interpolation, on all the values)."""
    v = np.sort(values.astype(np.float32).reshape(-1)).astype(np.float64)
    cdf = np.arange(1, len(v) + 1) / len(v)
    return np.interp(np.arange(1, num_bins) / num_bins, cdf, v).astype(np.float32).tolist()


class Discretization(Layer):
    """Puts each value into the bin whose range holds it.

    Rule (boundaries ``b_1 ≤ … ≤ b_{K−1}``, ``K`` bins)::

        y = #{k : b_k ≤ x}          bins (−∞, b_1), [b_1, b_2), …, [b_{K−1}, +∞)

    (NumPy's ``np.digitize(x, b)``). ``output_mode`` other than ``"int"``
    encodes those bin indices as ``CategoryEncoding`` does, width ``K``.
    ``adapt(data)`` with ``num_bins=K`` sets ``b_k`` to the ``k/K`` quantile of
    the data (see ``quantile_boundaries``): exact, where Keras computes an
    approximate summary within ``epsilon``; the two agree when the data has
    fewer than ``1/epsilon`` values.

    Args:
        bin_boundaries: the boundaries, ascending; or None with ``num_bins``.
        num_bins: the number of bins ``adapt`` learns boundaries for.
        epsilon: Keras's quantile tolerance; kept in the config, unused
            (brainnet's quantiles are exact).
        output_mode: ``"int"`` (default), ``"one_hot"``, ``"multi_hot"``, ``"count"``.
        sparse: False only (brainnet returns dense tensors).

    Input shape: any numbers. Output shape: int mode the same, int64; the
    other modes as ``CategoryEncoding`` with ``num_tokens = K``, float32.

    Raises:
        ValueError: neither or both of ``bin_boundaries`` and ``num_bins``,
            boundaries not ascending, ``adapt`` with given boundaries or on
            data that is empty, not numeric or not finite, a call before
            ``adapt``.

    Example:
        >>> layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
        >>> layer([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]).tolist()
        [[0, 2, 3, 1], [1, 3, 2, 1]]
    """

    equation = "y = #{k : b_k ≤ x}, the index of x's bin"
    min_rank = 0

    def __init__(self, bin_boundaries: Any = None, num_bins: int | None = None, epsilon: float = 0.01,
                 output_mode: str = "int", sparse: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = self._label = f"Discretization '{self.name}'"
        if output_mode not in MODES:
            raise ValueError(
                f"{layer}: expected output_mode among {', '.join(repr(m) for m in MODES)}, got {output_mode!r}. "
                "Fix: output_mode='int' for bin indices, 'one_hot' for one vector per value."
            )
        if sparse:
            raise ValueError(
                f"{layer}: expected sparse=False, got sparse=True; brainnet returns dense tensors. "
                "Fix: leave sparse out."
            )
        if (bin_boundaries is None) == (num_bins is None):
            got = "both" if num_bins is not None else "neither"
            raise ValueError(
                f"{layer}: expected either bin_boundaries or num_bins, got {got}. Fix: "
                "Discretization(bin_boundaries=[0.0, 1.0]) for bins you choose, or Discretization(num_bins=4) "
                "and adapt(data) for quantile bins."
            )
        if num_bins is not None and (isinstance(num_bins, bool) or not isinstance(num_bins, numbers.Integral)
                                     or num_bins < 1):
            raise ValueError(
                f"{layer}: expected num_bins a positive integer, got {num_bins!r}. Fix: num_bins=4 (quartiles)."
            )
        self.num_bins = None if num_bins is None else int(num_bins)
        self.epsilon, self.output_mode = float(epsilon), output_mode
        self.bin_boundaries = None if bin_boundaries is None else self._checked(bin_boundaries)

    def _checked(self, boundaries: Any) -> list[float]:
        values = np.asarray(boundaries, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) < 0):
            raise ValueError(
                f"{self._label}: expected ascending finite bin_boundaries, got {list(boundaries)!r:.80}. "
                "Fix: sort them, e.g. bin_boundaries=sorted(boundaries)."
            )
        return values.tolist()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Discretization":
        """An adapted layer's config holds both ``num_bins`` and the learned
        boundaries (as Keras's): the boundaries are set after construction."""
        config = dict(config)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = layer._checked(boundaries)
            return layer
        return cls(**config)

    def adapt(self, data: Any) -> None:
        """Learn ``num_bins − 1`` quantile boundaries from ``data`` (an array of
        any shape, or a list of such batches): all its values together."""
        if self.num_bins is None:
            raise ValueError(
                f"{self._label}: expected num_bins for adapt (it learns the boundaries), got a layer made with "
                "bin_boundaries. Fix: Discretization(num_bins=4) to learn them, or use the given ones without adapt."
            )
        batches = data if isinstance(data, list) and data and not np.isscalar(data[0]) and np.ndim(data[0]) else [data]
        try:
            values = np.concatenate([np.asarray(b.cpu() if isinstance(b, torch.Tensor) else b,
                                                dtype=np.float64).reshape(-1) for b in batches])
        except (TypeError, ValueError):
            raise ValueError(
                f"{self._label}: expected numbers to adapt on, got {type(data).__name__} that does not convert to "
                "numbers. Fix: adapt(np.asarray(column, dtype='float32'))."
            ) from None
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError(
                f"{self._label}: expected at least one value, all finite, got {values.size} values of which "
                f"{int(np.sum(~np.isfinite(values)))} NaN or infinite. Fix: drop or fill the missing values first "
                "(x = x[~np.isnan(x)])."
            )
        self.bin_boundaries = quantile_boundaries(values, self.num_bins)

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if isinstance(inputs, (list, tuple, numbers.Number)):
            inputs = torch.tensor(np.asarray(inputs, dtype=np.float32))
        return super().forward(inputs, training, **kwargs)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.bin_boundaries is None:
            raise ValueError(
                f"{self._label}: expected bin boundaries, got a layer with num_bins={self.num_bins} that was not "
                "adapted. Fix: layer.adapt(x_train) first, or Discretization(bin_boundaries=[...])."
            )
        x = inputs if inputs.is_floating_point() else inputs.to(torch.float64)
        boundaries = torch.tensor(self.bin_boundaries, dtype=x.dtype, device=x.device)
        ids = torch.bucketize(x.contiguous(), boundaries, right=True)  # b_{k-1} ≤ x < b_k → k
        if self.output_mode == "int":
            return ids
        return encode(ids, self.output_mode, len(self.bin_boundaries) + 1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        depth = self.num_bins if self.bin_boundaries is None else len(self.bin_boundaries) + 1
        return encoded_shape(input_shape, self.output_mode, depth)

    def get_config(self) -> dict[str, Any]:
        """The arguments and, once adapted, the learned boundaries."""
        return {**super().get_config(), "bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": False}
