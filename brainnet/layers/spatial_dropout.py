"""Spatial dropouts: SpatialDropout1D over sequences, SpatialDropout2D over
images, SpatialDropout3D over volumes. Neighbouring positions of a feature
map are strongly correlated, so dropping single values regularises little;
these drop whole channels, one draw per (sample, channel) shared by every
position. Moved out of ``core.py`` (a full file) to keep the family together."""

from __future__ import annotations

from typing import Any

import torch

from ._dropout import keep_mask, refuse_integers
from .base import Layer


class _SpatialDropout(Layer):
    """Drops whole channels: one Bernoulli draw per (sample, channel), shared
    by every position (time step or pixel) of that channel."""

    supports_masking = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            name = type(self).__name__
            raise ValueError(f"{name}: expected rate in [0, 1), got {rate!r}. Fix: {name}(0.2).")
        self.rate = float(rate)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return inputs
        refuse_integers(self, inputs)  # 1/(1 − rate) · x is no integer
        # (B, 1, ..., 1, C): one keep/drop per sample and channel
        shape = (inputs.shape[0],) + (1,) * (inputs.dim() - 2) + (inputs.shape[-1],)
        return inputs * keep_mask(shape, self.rate, inputs.dtype, inputs.device)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class SpatialDropout1D(_SpatialDropout):
    """Dropout of whole feature channels of sequences, during training.

    Neighbouring time steps are strongly correlated, so dropping single
    values regularises little; this drops a feature at every step at once.

    Equation (training; identity at inference)::

        y[n, t, c] = x[n, t, c] · m[n, c] / (1 − rate),   m[n, c] ~ Bernoulli(1 − rate)

    Args:
        rate: fraction of channels to drop, in [0, 1).

    Input shape: ``(batch, time, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> SpatialDropout1D(0.5)(torch.ones(2, 10, 4), training=True).shape
        torch.Size([2, 10, 4])
    """

    equation = "y[n, t, c] = x[n, t, c]·m[n, c]/(1 − rate), m ~ Bernoulli(1 − rate) (training only)"
    input_rank = 3
    rank_hint = "(batch, time, channels)"
    rank_fix = "give sequences as (N, T, C)"


class SpatialDropout2D(_SpatialDropout):
    """Dropout of whole feature maps (channels) of images, during training.

    Equation (training; identity at inference)::

        y[n, i, j, c] = x[n, i, j, c] · m[n, c] / (1 − rate),   m[n, c] ~ Bernoulli(1 − rate)

    Args:
        rate: fraction of feature maps to drop, in [0, 1).

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> SpatialDropout2D(0.5)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    equation = "y[n, i, j, c] = x[n, i, j, c]·m[n, c]/(1 − rate), m ~ Bernoulli(1 − rate) (training only)"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"


class SpatialDropout3D(_SpatialDropout):
    """Dropout of whole feature maps (channels) of volumes, during training.

    Equation (training; identity at inference)::

        y[n, d, i, j, c] = x[n, d, i, j, c] · m[n, c] / (1 − rate),   m[n, c] ~ Bernoulli(1 − rate)

    Args:
        rate: fraction of feature maps to drop, in [0, 1).

    Input shape: ``(batch, depth, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: ``rate`` outside [0, 1), or input of rank other than 5.

    Example:
        >>> import torch
        >>> SpatialDropout3D(0.5)(torch.ones(2, 3, 8, 8, 4), training=True).shape
        torch.Size([2, 3, 8, 8, 4])
    """

    equation = "y[n, d, i, j, c] = x[n, d, i, j, c]·m[n, c]/(1 − rate), m ~ Bernoulli(1 − rate) (training only)"
    input_rank = 5
    rank_hint = "(batch, depth, height, width, channels)"
    rank_fix = "give volumes as (N, D, H, W, C) (one channel: x[..., None])"
