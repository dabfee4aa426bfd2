"""GroupNormalization and UnitNormalization: each sample normalized on its
own, over groups of channels or to unit length, so that they work at any
batch size (``normalization.py`` holds BatchNormalization and
LayerNormalization, and re-exports these two)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import initializers, regularizers
from .base import Layer, Shape, shape_str
from .normalization import _is_number, _take_initializers


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (and all positions), then
    scales and shifts each channel: batch-independent, so it works at any batch
    size (the normalization of U-Nets and diffusion models).

    Equation, for sample ``n`` and group ``g`` of ``C / G`` channels, over every
    position and every channel of the group (biased variance)::

        μ = mean(x[n, ..., c ∈ g]),  σ² = mean((x[n, ..., c ∈ g] − μ)²)
        y[n, ..., c] = γ_c · (x[n, ..., c] − μ) / √(σ² + ε) + β_c

    ``groups=1`` normalizes each sample over all its values (layer normalization
    of an image); ``groups=-1`` (or C) each channel alone (instance normalization).

    Args:
        groups: G, which must divide the channels (default 32, as Keras), or -1.
        axis: the channel axis (default -1, channels last).
        epsilon: ε (default 1e-3, as Keras).
        center, scale: learn β, γ (default True).
        beta_initializer, gamma_initializer: defaults "zeros", "ones".
        beta_regularizer, gamma_regularizer: penalties in ``model.losses``.

    Input shape: ``(batch, ..., channels)``, rank ≥ 2. Output shape: same.

    Raises:
        ValueError: groups not a positive int (or -1), groups not dividing the
            channels, epsilon ≤ 0, or an axis outside the input.

    Example:
        >>> import torch
        >>> GroupNormalization(groups=2)(torch.randn(3, 5, 5, 4)).shape
        torch.Size([3, 5, 5, 4])
    """

    equation = "y = γ·(x − μ_g)/√(σ_g² + ε) + β  (μ_g, σ_g² over each sample's group of channels)"
    supports_masking = True  # the time-step mask passes on unchanged (Keras)
    min_rank = 2
    rank_hint = "(batch, ..., channels)"

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _take_initializers(self, locals(), ("beta", "gamma"))
        if isinstance(groups, bool) or not isinstance(groups, int) or not (groups > 0 or groups == -1):
            raise ValueError(
                f"GroupNormalization: expected groups to be a positive int that divides the channels, or -1 "
                f"(one group per channel), got {groups!r}. Fix: GroupNormalization(groups=8)."
            )
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"GroupNormalization: expected axis to be an int (the channel axis), got {axis!r}. "
                             "Fix: GroupNormalization(axis=-1) for channels-last data.")
        if not _is_number(epsilon) or not epsilon > 0:
            raise ValueError(f"GroupNormalization: expected epsilon > 0, got {epsilon!r}. Fix: epsilon=1e-3.")
        self.groups, self.axis, self.epsilon = groups, axis, float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_regularizer = regularizers.get(beta_regularizer, argument="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, argument="gamma_regularizer")

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        if not -rank < self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization) expected axis to be a channel axis of inputs of shape "
                f"{shape_str(input_shape)} (not the batch axis), got axis={self.axis}. Fix: axis=-1."
            )
        channels = input_shape[self.axis]
        groups = channels if self.groups == -1 else self.groups
        if channels is None or channels % groups:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization) expected groups={self.groups} to divide the "
                f"{channels} channels of inputs of shape {shape_str(input_shape)}. Fix: groups equal to one of "
                f"the divisors of {channels}, e.g. groups={_largest_divisor(channels, groups) if channels else 1}."
            )
        self._axis, self._groups = self.axis % rank, groups
        self.fixed_axes = (self._axis,)
        self.gamma = self.add_weight("gamma", self.initial_value("gamma", (channels,))) if self.scale else None
        self.beta = self.add_weight("beta", self.initial_value("beta", (channels,))) if self.center else None

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs[:1].numel() > self._groups:  # each group holds several values: torch's kernel
            # (N, C, ...) as F.group_norm takes it; from channels-last data a view in the
            # channels-last memory format, which its kernel keeps (6x the written-out form on CPU).
            y = F.group_norm(inputs.movedim(self._axis, 1), self._groups, self.gamma, self.beta, self.epsilon)
            return y.movedim(1, self._axis)
        # Written out for a group of one value, which F.group_norm refuses in training
        # (Keras gives β there: the value minus its own mean is 0).
        x = inputs.movedim(self._axis, -1)  # (N, ..., C)
        grouped = x.reshape(x.shape[0], -1, self._groups, x.shape[-1] // self._groups)  # (N, P, G, C/G)
        mean = grouped.mean(dim=(1, 3), keepdim=True)
        var = (grouped - mean).square().mean(dim=(1, 3), keepdim=True)
        y = ((grouped - mean) * torch.rsqrt(var + self.epsilon)).reshape(x.shape)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.movedim(-1, self._axis)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
            "center": self.center, "scale": self.scale,
            **initializers.config_of(self, "beta", "gamma"), **regularizers.config_of(self, "beta", "gamma"),
        }

    def weight_regularizers(self) -> dict[str, Any]:
        return {"gamma": self.gamma_regularizer, "beta": self.beta_regularizer}


def _largest_divisor(channels: int, at_most: int) -> int:
    return max(d for d in range(1, min(channels, at_most) + 1) if channels % d == 0)


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm along ``axis``.

    Equation (as Keras 3, the squared norm floored at 1e-12)::

        y = x / √(max(Σ_axis x², 1e-12))

    Args:
        axis: an int or a list of ints (default -1).

    Input shape: any rank ≥ 2. Output shape: same.

    Example:
        >>> import torch
        >>> float(UnitNormalization()(torch.tensor([[3.0, 4.0]])).norm())
        1.0
    """

    equation = "y = x / ‖x‖₂  (along axis)"
    supports_masking = True  # the time-step mask passes on unchanged (Keras)
    min_rank = 2

    def __init__(self, axis: int | list[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError(f"UnitNormalization: expected axis to be an int or a list of ints, got {axis!r}. "
                             "Fix: UnitNormalization(axis=-1).")
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank or a % rank == 0 for a in given):
            raise ValueError(
                f"Layer '{self.name}' (UnitNormalization) expected axes of inputs of shape {shape_str(input_shape)} "
                f"other than the batch axis, got axis={self.axis!r}. Fix: axis=-1."
            )
        self._axes = tuple(sorted({a % rank for a in given}))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        square_sum = inputs.square().sum(dim=self._axes, keepdim=True)
        return inputs * torch.rsqrt(square_sum.clamp_min(1e-12))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
