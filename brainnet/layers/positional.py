"""Position signals for Transformers: PositionalEncoding (fixed sinusoids,
"Attention Is All You Need") and PositionEmbedding (a learned table,
keras_hub's name, arguments and defaults).

Self-attention has no notion of order, so one of them is added to the
inputs first: ``y[b, t, :] = x[b, t, :] + P[t, :]``. Re-exported by
``transformer.py``, their home before.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape, glorot_uniform, shape_str
from .core import check_positive_int


def sinusoidal_table(length: int, dim: int, max_wavelength: float = 10000.0) -> torch.Tensor:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)), float64."""
    pos = torch.arange(length, dtype=torch.float64)[:, None]  # (L, 1)
    two_i = (torch.arange(dim) // 2 * 2).to(torch.float64)  # 2i for columns 2i and 2i + 1
    angles = pos / max_wavelength ** (two_i / dim)  # (L, d)
    return torch.where(torch.arange(dim) % 2 == 0, torch.sin(angles), torch.cos(angles))


def _check_length(layer: Layer, shape: Any, limit: int, arg: str) -> None:
    steps = shape[1] if not isinstance(shape, list) and len(shape) == 3 else None
    if steps is not None and steps > limit:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expected sequences of at most "
            f"{arg}={limit} steps, got {steps} (input {shape_str(shape)}). "
            f"Fix: {type(layer).__name__}({arg}={steps}), or cut the sequences."
        )


class PositionalEncoding(Layer):
    """Adds the fixed sinusoidal position encoding of "Attention Is All You Need".

    Equation, for step ``t`` and feature pair ``(2i, 2i+1)`` of ``d`` features::

        y[t, 2i]   = x[t, 2i]   + sin(t / 10000^(2i/d))
        y[t, 2i+1] = x[t, 2i+1] + cos(t / 10000^(2i/d))

    No weights: the table is a buffer computed once for ``max_length`` steps
    (not saved with the weights). keras_hub's ``SinePositionEncoding``
    returns the table instead of adding it.

    Args:
        max_length: the longest sequence accepted (default 2048).
        max_wavelength: the 10000 above (default 10000).

    Input shape: ``(batch, time, features)``, time ≤ max_length. Output shape: same.

    Raises:
        ValueError: more than ``max_length`` steps, or an input not of rank 3.

    Example:
        >>> import torch
        >>> PositionalEncoding()(torch.zeros(1, 2, 4))[0, 1, :2]  # sin(1), cos(1)
        tensor([0.8415, 0.5403])
    """

    equation = "y[t, 2i] = x[t, 2i] + sin(t/10000^(2i/d)),  y[t, 2i+1] = x[t, 2i+1] + cos(t/10000^(2i/d))"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")
    fixed_axes = (-1,)
    supports_masking = True

    def __init__(self, max_length: int = 2048, max_wavelength: float = 10000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = check_positive_int("PositionalEncoding", "max_length", max_length)
        if isinstance(max_wavelength, bool) or not isinstance(max_wavelength, (int, float)) or max_wavelength <= 0:
            raise ValueError(
                f"PositionalEncoding: expected max_wavelength > 0, got {max_wavelength!r}. "
                "Fix: max_wavelength=10000."
            )
        self.max_wavelength = float(max_wavelength)

    def check_input_shape(self, shape: Any) -> None:
        super().check_input_shape(shape)
        _check_length(self, shape, self.max_length, "max_length")

    def build(self, input_shape: Shape) -> None:
        # float64 until the layer is moved to its inputs' dtype, so float64 models get the exact table
        table = sinusoidal_table(self.max_length, input_shape[-1], self.max_wavelength)
        self.register_buffer("encoding", table, persistent=False)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.encoding[: inputs.shape[1]].to(inputs.dtype)  # (B, T, d) + (T, d)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_length": self.max_length, "max_wavelength": self.max_wavelength}


class PositionEmbedding(Layer):
    """A learned position embedding, as keras_hub's ``PositionEmbedding``.

    Equation: ``y[b, t, :] = P[start_index + t, :]`` with ``P`` the learned
    ``(sequence_length, d)`` table ``embeddings`` (glorot-uniform initialised).
    Like keras_hub it RETURNS the embeddings broadcast to the input's shape;
    it does not add them. Add them yourself: ``x = x + PositionEmbedding(T)(x)``.

    Args:
        sequence_length: the longest sequence (rows of ``P``).

    Call arguments: ``start_index`` (default 0), the position of the first step
    (for decoding one step at a time).

    Input shape: ``(batch, time, features)``. Output shape: same.

    Raises:
        ValueError: ``start_index + time > sequence_length``, or an input not of rank 3.

    Example:
        >>> import torch
        >>> x = torch.zeros(2, 5, 8)
        >>> (x + PositionEmbedding(sequence_length=10)(x)).shape
        torch.Size([2, 5, 8])
    """

    equation = "y[b, t, :] = P[t, :]  (returned, not added)"
    input_rank = 3
    rank_hint = "(batch, time, features); embed token indices first (Embedding)"
    fixed_axes = (-1,)

    def __init__(self, sequence_length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sequence_length = check_positive_int("PositionEmbedding", "sequence_length", sequence_length)

    def check_input_shape(self, shape: Any) -> None:
        super().check_input_shape(shape)
        _check_length(self, shape, self.sequence_length, "sequence_length")

    def build(self, input_shape: Shape) -> None:
        length, d = self.sequence_length, input_shape[-1]
        self.embeddings = self.add_weight("embeddings", glorot_uniform((length, d), length, d))

    def call(self, inputs: torch.Tensor, start_index: int = 0) -> torch.Tensor:
        steps = inputs.shape[1]
        if not 0 <= start_index <= self.sequence_length - steps:
            raise ValueError(
                f"Layer '{self.name}' (PositionEmbedding) expected start_index + steps ≤ "
                f"sequence_length={self.sequence_length}, got {start_index} + {steps}. "
                "Fix: a larger sequence_length, or a start_index within it."
            )
        return self.embeddings[start_index : start_index + steps].expand(inputs.shape)  # (B, T, d)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "sequence_length": self.sequence_length}
