"""Layers that resize volumes (batch, depth, height, width, channels) without
weights: UpSampling3D, ZeroPadding3D, Cropping3D (the plumbing of 3-D
decoders and U-Nets), sharing their argument checks with ``reshaping.py``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from . import _spatial
from .base import Layer, Shape
from .reshaping import cropped, margins, repeated

_VOLUME = "(batch, depth, height, width, channels)"
_VOLUME_FIX = "reshape the input (for one-channel volumes: x[..., None] gives (N, D, H, W, 1))"


def _grow(size: int | None, by: int, times: int = 1) -> int | None:
    """``size·times + by``, unknown when ``size`` is."""
    return None if size is None else size * times + by


class UpSampling3D(Layer):
    """Enlarges a volume ``size`` times along depth, height and width, each
    voxel repeated into an ``s_d × s_h × s_w`` box, channel by channel.

    Equation::

        y[n, d, h, w, c] = x[n, ⌊d/s_d⌋, ⌊h/s_h⌋, ⌊w/s_w⌋, c]

    Args:
        size: int or triple ``(s_d, s_h, s_w)`` of positive ints, default (2, 2, 2).

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, depth·s_d, height·s_h, width·s_w, channels)``.

    Raises:
        ValueError: a size that is not a positive int or a triple of them, or
            input of rank other than 5.

    Example:
        >>> import torch
        >>> UpSampling3D((1, 2, 2))(torch.ones(1, 3, 7, 7, 16)).shape
        torch.Size([1, 3, 14, 14, 16])
    """

    equation = "y[d, h, w, c] = x[⌊d/s_d⌋, ⌊h/s_h⌋, ⌊w/s_w⌋, c]"
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def __init__(self, size: int | tuple[int, int, int] = (2, 2, 2), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = _spatial.sizes("UpSampling3D", "size", size, 3)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point():  # integers: torch interpolates floats only
            return repeated(inputs, self.size)
        x = _spatial.channels_first(inputs)  # (B, C, D, H, W), channels_last_3d memory
        y = F.interpolate(x, scale_factor=self.size, mode="nearest")  # whole factors: exact repeats
        return _spatial.channels_last(y)  # (B, D·s_d, H·s_h, W·s_w, C)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, *spatial, channels = input_shape
        return (batch, *(_grow(n, 0, s) for n, s in zip(spatial, self.size)), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size)}


class ZeroPadding3D(Layer):
    """Adds slices, rows and columns of zeros around each volume.

    Equation::

        y[n, d, h, w, c] = x[n, d − front, h − top, w − left, c] where that voxel exists, else 0

    Args:
        padding: ``p`` (every side), ``(slices, rows, columns)`` (each on both
            sides of its axis) or ``((front, back), (top, bottom), (left,
            right))``; non-negative ints, default ``((1, 1), (1, 1), (1, 1))``.

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, depth + front + back, height + top + bottom, width + left + right, channels)``.

    Raises:
        ValueError: a bad padding, or input of rank other than 5.

    Example:
        >>> import torch
        >>> ZeroPadding3D(((1, 0), (2, 2), (0, 1)))(torch.ones(1, 3, 5, 5, 2)).shape
        torch.Size([1, 4, 9, 6, 2])
    """

    equation = "y[d, h, w, c] = x[d − front, h − top, w − left, c], 0 outside"
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def __init__(self, padding: Any = ((1, 1), (1, 1), (1, 1)), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = margins("ZeroPadding3D", "padding", padding, 3)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        (front, back), (top, bottom), (left, right) = self.padding
        return F.pad(inputs, (0, 0, left, right, top, bottom, front, back))  # (B, D', H', W', C): last axis first

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, *spatial, channels = input_shape
        return (batch, *(_grow(n, sum(p)) for n, p in zip(spatial, self.padding)), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping3D(Layer):
    """Removes slices, rows and columns at the edges of each volume (e.g. to
    match a 3-D U-Net skip connection to the smaller map it joins).

    Equation::

        y[n, d, h, w, c] = x[n, d + front, h + top, w + left, c],
        0 ≤ d < D − front − back, 0 ≤ h < H − top − bottom, 0 ≤ w < W − left − right

    Args:
        cropping: ``p`` (every side), ``(slices, rows, columns)`` or
            ``((front, back), (top, bottom), (left, right))``; non-negative
            ints, default ``((1, 1), (1, 1), (1, 1))`` (Keras's).

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, depth − front − back, height − top − bottom, width − left − right, channels)``.

    Raises:
        ValueError: a bad cropping, one that removes every slice, row or
            column, or input of rank other than 5.

    Example:
        >>> import torch
        >>> Cropping3D((2, 4, 2))(torch.ones(2, 28, 28, 10, 3)).shape
        torch.Size([2, 24, 20, 6, 3])
    """

    equation = "y[d, h, w, c] = x[d + front, h + top, w + left, c]"
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def __init__(self, cropping: Any = ((1, 1), (1, 1), (1, 1)), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = margins("Cropping3D", "cropping", cropping, 3)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if nothing would be left

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        (front, back), (top, bottom), (left, right) = self.cropping
        _, depth, height, width, _ = inputs.shape
        self.compute_output_shape(tuple(inputs.shape))  # a later call on a smaller volume
        return inputs[:, front:depth - back, top:height - bottom, left:width - right, :]  # (B, D', H', W', C)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, depth, height, width, channels = input_shape
        slices, rows, columns = self.cropping
        return (batch, cropped(self, depth, slices, "slices"), cropped(self, height, rows, "rows"),
                cropped(self, width, columns, "columns"), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}
