"""CategoryEncoding: integer categories in ``[0, num_tokens)`` as one-hot,
multi-hot or count vectors, as Keras 3."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ._vocabulary import ENCODINGS, encode, encoded_shape
from .base import Layer, Shape
from .integer_lookup import as_integers


class CategoryEncoding(Layer):
    """Encodes integer categories ``0 ≤ x < num_tokens`` as vectors of width ``num_tokens``.

    Rule (``N = num_tokens``)::

        one_hot:    y[..., j, i] = [x[..., j] = i]                     (each value)
        multi_hot:  y[..., i] = 1 if some x[..., j] = i, else 0        (each sample: the last axis)
        count:      y[..., i] = Σ_j w[..., j] · [x[..., j] = i]         (w = count_weights, or 1)

    ``one_hot`` encodes a last axis of size 1 in place: ``(batch, 1)`` gives
    ``(batch, N)``, as ``(batch,)`` does.

    Args:
        num_tokens: the number of categories ``N`` (required).
        output_mode: ``"multi_hot"`` (default), ``"one_hot"``, ``"count"``.
        sparse: False only (brainnet returns dense tensors).

    Call arguments:
        inputs: integers of any shape (whole-valued floats are taken too).
        count_weights: ``"count"`` mode only: one weight per input value.

    Input shape: ``(..., k)``. Output shape: ``one_hot`` ``(..., k, N)``
    (``(..., N)`` when ``k = 1``), the others ``(..., N)``; float32.

    Raises:
        ValueError: a bad argument, values outside ``[0, num_tokens)``,
            ``count_weights`` outside ``"count"`` mode or of another shape;
            TypeError: fractional values or strings.

    Example:
        >>> layer = CategoryEncoding(num_tokens=4, output_mode="multi_hot")
        >>> layer([[0, 1], [0, 0], [1, 2], [3, 1]]).tolist()
        [[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]
    """

    equation = "y_i = Σ_j w_j·[x_j = i] (count), min(1, ·) (multi_hot), per value (one_hot)"
    min_rank = 0
    input_dtype = torch.int64

    def __init__(self, num_tokens: int | None = None, output_mode: str = "multi_hot", sparse: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        layer = f"CategoryEncoding '{self.name}'"
        mode = "multi_hot" if output_mode == "binary" else output_mode
        if mode not in ENCODINGS:
            raise ValueError(
                f"{layer}: expected output_mode among {', '.join(repr(m) for m in ENCODINGS)}, got {output_mode!r}. "
                "Fix: output_mode='one_hot' for one category per value, 'multi_hot' for a set per sample."
            )
        if num_tokens is None or isinstance(num_tokens, bool) or not isinstance(num_tokens, numbers.Integral) \
                or num_tokens < 1:
            raise ValueError(
                f"{layer}: expected num_tokens, the number of categories (an integer ≥ 1), got {num_tokens!r}. "
                "Fix: CategoryEncoding(num_tokens=int(x.max()) + 1); for integers of unknown range use "
                "IntegerLookup(output_mode='one_hot') and adapt it."
            )
        if sparse:
            raise ValueError(
                f"{layer}: expected sparse=False, got sparse=True; brainnet returns dense tensors. "
                "Fix: leave sparse out."
            )
        self.num_tokens, self.output_mode, self._label = int(num_tokens), mode, layer

    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if isinstance(inputs, (list, tuple, numbers.Number)):
            inputs = as_integers(self._label, inputs)
        return super().forward(inputs, training, **kwargs)

    def call(self, inputs: Any, count_weights: Any = None) -> torch.Tensor:
        x = as_integers(self._label, inputs)
        if x.numel() and (bool((x < 0).any()) or bool((x >= self.num_tokens).any())):
            low, high = int(x.min()), int(x.max())
            raise ValueError(
                f"{self._label}: expected values in [0, num_tokens={self.num_tokens}), got values from {low} to "
                f"{high}. Fix: num_tokens={max(high + 1, self.num_tokens)} if these are category indices, or "
                "IntegerLookup first to map arbitrary integers to indices."
            )
        weights = None
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"{self._label}: expected count_weights only with output_mode='count', got them with "
                    f"output_mode={self.output_mode!r}. Fix: drop count_weights, or output_mode='count'."
                )
            weights = torch.as_tensor(count_weights, device=x.device).to(torch.get_default_dtype())
            if tuple(weights.shape) != tuple(x.shape):
                raise ValueError(
                    f"{self._label}: expected count_weights of the inputs' shape {tuple(x.shape)} (one weight per "
                    f"value), got {tuple(weights.shape)}. Fix: pass one weight for each input value."
                )
        return encode(x, self.output_mode, self.num_tokens, weights)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return encoded_shape(input_shape, self.output_mode, self.num_tokens)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode,
                "sparse": False}
