"""Reshaping layers that move or repeat axes: RepeatVector, Permute.
(Flatten and Reshape are in core.py.)"""

from __future__ import annotations

import numbers
from typing import Any, Iterable

import torch

from .base import Layer, Shape
from .core import check_positive_int


class RepeatVector(Layer):
    """Repeats each sample's feature vector ``n`` times along a new time axis
    (an encoder's summary fed to every step of a decoder, say).

    Equation::

        y[b, t, f] = x[b, f]   for t = 0 … n − 1

    Args:
        n: the number of repetitions (positive int).

    Input shape: ``(batch, features)``. Output shape: ``(batch, n, features)``.

    Raises:
        ValueError: ``n`` is not a positive int, or the input is not 2-D.

    Example:
        >>> import torch
        >>> RepeatVector(3)(torch.ones(2, 5)).shape
        torch.Size([2, 3, 5])
    """

    equation = "y[b, t, f] = x[b, f], t = 0 … n − 1"
    input_rank = 2
    rank_hint = "(batch, features)"
    rank_fix = "give one vector per sample, e.g. the output of an LSTM without return_sequences,"

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = check_positive_int("RepeatVector", "n", n)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.unsqueeze(1).expand(-1, self.n, -1)  # (B, n, F), a view of x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permutes the axes of each sample (the batch axis stays first).

    Equation (``dims`` 1-based, as in Keras)::

        y[b, i₁, …, i_k] = x[b, j₁, …, j_k]   with j_{dims[a]} = i_a

    that is, output axis ``a`` is input axis ``dims[a − 1]``; ``Permute((2, 1))``
    swaps the two axes of a sequence (``(batch, time, features)`` →
    ``(batch, features, time)``).

    Args:
        dims: a permutation of ``1 … k``, k the number of axes of a sample.

    Input shape: ``(batch, d_1, …, d_k)``.
    Output shape: ``(batch, d_{dims[0]}, …, d_{dims[k−1]})``.

    Raises:
        ValueError: ``dims`` is not a permutation of 1 … k, or the input's
            rank is not k + 1.

    Example:
        >>> import torch
        >>> Permute((2, 1))(torch.ones(2, 10, 64)).shape
        torch.Size([2, 64, 10])
    """

    equation = "y[b, i_1, …, i_k] = x[b, j_1, …, j_k], j_dims[a] = i_a"

    def __init__(self, dims: Iterable[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        given = dims
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else None
        if (dims is None or not dims or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims)
                or sorted(dims) != list(range(1, len(dims) + 1))):
            raise ValueError(
                f"Permute: expected dims to be a permutation of 1 … k (1-based, the batch axis left out), got "
                f"{given!r}. Fix: Permute((2, 1)) swaps the two axes of (batch, time, features)."
            )
        self.dims = tuple(int(d) for d in dims)
        self.input_rank = len(self.dims) + 1  # this layer's rank: one axis per entry, and the batch
        self.rank_hint = f"(batch, {', '.join(f'd{i}' for i in range(1, len(self.dims) + 1))}) for dims={self.dims}"
        self.rank_fix = "give dims one entry per axis of a sample, e.g. Permute((2, 1)) for (batch, time, features),"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.permute(0, *self.dims)  # (B, d_dims[0], …), a view of x

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}
