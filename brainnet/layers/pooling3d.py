"""Pooling over volumes (batch, depth, height, width, channels):
MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D,
and Keras's short names for them (MaxPool3D, AvgPool3D, GlobalAvgPool3D,
GlobalMaxPool3D). The window poolings share their arguments, shapes and
forward pass with the 2-D ones of ``pooling.py``, the global ones their
``keepdims`` and shapes with those of ``global_pooling.py``."""

from __future__ import annotations

import torch

from .global_pooling import GlobalPooling
from .pooling import WindowPooling, average_pool, max_pool

_VOLUME = "(batch, depth, height, width, channels)"
_VOLUME_FIX = "reshape the input (for one-channel volumes: x[..., None] gives (N, D, H, W, 1))"


class MaxPooling3D(WindowPooling):
    """Keeps the largest value of each box of voxels, channel by channel.

    Equation::

        y[n, d, h, w, c] = max_{0≤a<p_d, 0≤b<p_h, 0≤e<p_w} x[n, d·s_d + a, h·s_h + b, w·s_w + e, c]

    ("same" padding pads with −∞, so padding never wins the max.)

    Args:
        pool_size: int or triple ``(p_d, p_h, p_w)``, default (2, 2, 2).
        strides: int or triple; default ``pool_size``.
        padding: ``"valid"`` or ``"same"`` (the odd extra slice, row or column after, as Keras).

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, new_depth, new_height, new_width, channels)``,
    per axis ``⌊(n − p)/s⌋ + 1`` for "valid" and ``⌈n/s⌉`` for "same".

    Raises:
        ValueError: a bad pool_size, strides or padding, input of rank other
            than 5, or a volume smaller than the window with "valid" padding.

    Example:
        >>> import torch
        >>> MaxPooling3D(2)(torch.ones(1, 4, 26, 26, 8)).shape
        torch.Size([1, 2, 13, 13, 8])
    """

    equation = "y[d, h, w, c] = max_{a,b,e} x[d·s + a, h·s + b, w·s + e, c]"
    dims = 3
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return max_pool(inputs, self.pool_size, self.strides, self.padding)  # (B, D', H', W', C)


class AveragePooling3D(WindowPooling):
    """Averages each box of voxels, channel by channel.

    Equation::

        y[n, d, h, w, c] = (1/|B_dhw|) Σ_{(a,b,e) ∈ B_dhw} x[n, d·s_d + a, h·s_h + b, w·s_w + e, c]

    where ``B_dhw`` is the window without padded positions (Keras excludes
    padding from the average).

    Args:
        pool_size: int or triple ``(p_d, p_h, p_w)``, default (2, 2, 2).
        strides: int or triple; default ``pool_size``.
        padding: ``"valid"`` or ``"same"``.

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, new_depth, new_height, new_width, channels)``, sizes as in MaxPooling3D.

    Raises:
        ValueError: as MaxPooling3D.

    Example:
        >>> import torch
        >>> AveragePooling3D((1, 2, 2), padding="same")(torch.ones(1, 3, 5, 5, 2)).shape
        torch.Size([1, 3, 3, 3, 2])
    """

    equation = "y[d, h, w, c] = mean_{a,b,e} x[d·s + a, h·s + b, w·s + e, c]"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)
    dims = 3
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return average_pool(inputs, self.pool_size, self.strides, self.padding)  # (B, D', H', W', C)


class GlobalAveragePooling3D(GlobalPooling):
    """Averages each channel over all voxels.

    Equation::

        y[n, c] = (1/(D·H·W)) Σ_{d,h,w} x[n, d, h, w, c]

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the depth, height and width axes, of size 1 (default False).

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalAveragePooling3D()(torch.ones(2, 3, 5, 5, 8)).shape
        torch.Size([2, 8])
    """

    equation = "y[n, c] = (1/(D·H·W)) Σ_{d,h,w} x[n, d, h, w, c]"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)
    dims = 3
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=(1, 2, 3), keepdim=self.keepdims)


class GlobalMaxPooling3D(GlobalPooling):
    """Keeps the largest value of each channel over all voxels.

    Equation::

        y[n, c] = max_{d,h,w} x[n, d, h, w, c]

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the depth, height and width axes, of size 1 (default False).

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalMaxPooling3D(keepdims=True)(torch.ones(2, 3, 5, 5, 8)).shape
        torch.Size([2, 1, 1, 1, 8])
    """

    equation = "y[n, c] = max_{d,h,w} x[n, d, h, w, c]"
    dims = 3
    input_rank = 5
    rank_hint = _VOLUME
    rank_fix = _VOLUME_FIX

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=(1, 2, 3), keepdim=self.keepdims)


# Keras's shorter names for the same classes (a saved file names the long one).
MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalAvgPool3D = GlobalAveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
