"""Pooling layers: MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D,
GlobalMaxPooling2D, GlobalAveragePooling1D, GlobalMaxPooling1D, and Keras's
short names for them (MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D,
GlobalAvgPool1D, GlobalMaxPool1D)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from . import _spatial
from .base import Layer, Shape, shape_str


class _Pooling2D(Layer):
    """Shared arguments and shapes of the 2-D window poolings."""

    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(
        self,
        pool_size: int | tuple[int, int] = (2, 2),
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = _spatial.pair(kind, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _spatial.pair(kind, "strides", strides)
        self.padding = _spatial.check_padding(kind, padding)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the image is too small

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _spatial.spatial_output_shape(
            self.name, tuple(input_shape), None, self.pool_size, self.strides, self.padding
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class MaxPooling2D(_Pooling2D):
    """Keeps the largest value of each window, channel by channel.

    Equation::

        y[n, p, q, c] = max_{0≤u<ph, 0≤v<pw} x[n, p·s_h + u, q·s_w + v, c]

    ("same" padding pads with −∞, so padding never wins the max.)

    After a layer with ``activation="relu"`` a model pools that layer's
    pre-activation and applies the ReLU to the pooled map: the same numbers
    and gradients, with a quarter of the ReLU work for 2×2 windows
    (``brainnet/models/_fusion.py``).

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int or pair; default ``pool_size``.
        padding: "valid" or "same".

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, channels)``, new sizes as in Conv2D.

    Example:
        >>> import torch
        >>> MaxPooling2D((2, 2))(torch.ones(1, 26, 26, 32)).shape
        torch.Size([1, 13, 13, 32])
    """

    equation = "y[p, q, c] = max_{u,v} x[p·s + u, q·s + v, c]"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = _spatial.nchw(inputs)  # (B, C, H, W)
        if self.padding == "same":
            x = _spatial.pad_2d(x, _spatial.pads_2d(x, self.pool_size, self.strides), float("-inf"))
        return _spatial.nhwc(F.max_pool2d(x, self.pool_size, self.strides))


class AveragePooling2D(_Pooling2D):
    """Averages each window, channel by channel.

    Equation::

        y[n, p, q, c] = (1/|W_pq|) Σ_{(u,v) ∈ W_pq} x[n, p·s_h + u, q·s_w + v, c]

    where ``W_pq`` is the window without padded positions (Keras excludes
    padding from the average).

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int or pair; default ``pool_size``.
        padding: "valid" or "same".

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, channels)``.
    """

    equation = "y[p, q, c] = mean_{u,v} x[p·s + u, q·s + v, c]"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = _spatial.nchw(inputs)  # (B, C, H, W)
        if self.padding == "valid":
            return _spatial.nhwc(F.avg_pool2d(x, self.pool_size, self.strides))
        pads = _spatial.pads_2d(x, self.pool_size, self.strides)
        total = F.avg_pool2d(_spatial.pad_2d(x, pads), self.pool_size, self.strides)
        ones = torch.ones_like(x[:1, :1])  # (1, 1, H, W): which positions are real
        share = F.avg_pool2d(_spatial.pad_2d(ones, pads), self.pool_size, self.strides)
        return _spatial.nhwc(total / share)


class GlobalAveragePooling2D(Layer):
    """Averages each channel over all positions.

    Equation::

        y[n, c] = (1/(H·W)) Σ_{i,j} x[n, i, j, c]

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, channels)``.
    """

    equation = "y[n, c] = (1/(H·W)) Σ_{i,j} x[n, i, j, c]"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=(1, 2))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[3])


class GlobalMaxPooling2D(Layer):
    """Keeps the largest value of each channel over all positions.

    Equation::

        y[n, c] = max_{i,j} x[n, i, j, c]

    Args:
        keepdims: keep the height and width axes, of size 1 (default False).

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalMaxPooling2D()(torch.ones(2, 5, 5, 8)).shape
        torch.Size([2, 8])
    """

    equation = "y[n, c] = max_{i,j} x[n, i, j, c]"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=(1, 2), keepdim=self.keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], 1, 1, input_shape[3]) if self.keepdims else (input_shape[0], input_shape[3])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "keepdims": self.keepdims}


class GlobalAveragePooling1D(Layer):
    """Averages each feature over the time steps (only the real ones under a mask).

    Equation::

        y[n, c] = Σ_t m[n, t] · x[n, t, c] / Σ_t m[n, t]

    with ``m`` the mask (all ones without one).

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, features)``.
    """

    equation = "y[n, c] = Σ_t m_t·x[n, t, c] / Σ_t m_t"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = "give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1))"
    supports_masking = True

    def call(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return inputs.mean(dim=1)
        if tuple(mask.shape) != tuple(inputs.shape[:2]):
            raise ValueError(
                f"Layer '{self.name}' (GlobalAveragePooling1D): expected a mask of shape (batch, time) = "
                f"{shape_str(inputs.shape[:2])} (True = real step), got {shape_str(mask.shape)}. "
                "Fix: mask = tokens != 0 for the same batch, or let Embedding(mask_zero=True) make it."
            )
        m = mask.to(inputs.dtype).unsqueeze(-1)  # (B, T, 1)
        return (inputs * m).sum(1) / m.sum(1).clamp_min(1.0)

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> None:
        return None

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[2])


class GlobalMaxPooling1D(Layer):
    """Keeps the largest value of each feature over the time steps.

    Equation::

        y[n, c] = max_t x[n, t, c]

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, features)``.
    """

    equation = "y[n, c] = max_t x[n, t, c]"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = "give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1))"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=1)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], input_shape[2])


# Keras's shorter names for the same classes (a saved file names the long one).
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
