"""Shared helpers for layers over (batch, height, width, channels) images.

Inside, torch convolutions want (N, C, H, W). ``x.permute(0, 3, 1, 2)`` of a
contiguous (N, H, W, C) tensor is exactly an (N, C, H, W) tensor in PyTorch's
channels-last memory format: the edge layout costs no copy, and torch's
channels-last kernels run on it directly.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F

PADDINGS = ("valid", "same")


def nchw(x: torch.Tensor) -> torch.Tensor:
    """(N, H, W, C) → (N, C, H, W) view in channels-last memory format."""
    return x.permute(0, 3, 1, 2)


def nhwc(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, H, W, C) view (contiguous when x is channels-last)."""
    return x.permute(0, 2, 3, 1)


def pair(layer: str, arg: str, value: Any) -> tuple[int, int]:
    """Accept an int or a pair of positive ints (Keras's kernel_size style)."""
    is_int = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)  # noqa: E731
    pair_ = (value, value) if is_int(value) else value
    if not isinstance(pair_, (tuple, list)) or len(pair_) != 2 or not all(is_int(v) and v > 0 for v in pair_):
        raise ValueError(
            f"{layer}: expected {arg} to be a positive int or a pair of them, got {value!r}. "
            f"Fix: {arg}=(3, 3) or {arg}=3."
        )
    return int(pair_[0]), int(pair_[1])


def dilated(kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """The window a dilated kernel spans, per axis: ``d·(k − 1) + 1``."""
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def check_dilation(layer: str, strides: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    """Keras 3 refuses strides > 1 together with dilation_rate > 1 (on any axes)."""
    if max(strides) > 1 and max(dilation) > 1:
        one = lambda t: t[0] if len(t) == 1 else t  # noqa: E731
        raise ValueError(
            f"{layer}: expected strides of 1 when dilation_rate > 1 (Keras does not combine them), got "
            f"strides={one(strides)} with dilation_rate={one(dilation)}. Fix: strides=1 with the dilation, "
            "then a pooling layer (or a strided convolution) to downsample; or dilation_rate=1."
        )


def check_padding(layer: str, padding: Any) -> str:
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(
            f"{layer}: expected padding 'valid' or 'same', got {padding!r}. "
            "Fix: padding='same' keeps height and width (at stride 1); 'valid' uses no padding."
        )
    return padding.lower()


def output_length(size: int | None, kernel: int, stride: int, padding: str) -> int | None:
    """Keras's output length: valid ⌊(n − k)/s⌋ + 1, same ⌈n/s⌉."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return max((size - kernel) // stride + 1, 0)


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Padding (before, after) for 'same' as TensorFlow/Keras: the odd extra
    row or column goes after (bottom/right)."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pads_2d(x: torch.Tensor, kernel: tuple[int, int], strides: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) 'same' padding for an (N, C, H, W) tensor."""
    top, bottom = same_pads(x.shape[2], kernel[0], strides[0])
    left, right = same_pads(x.shape[3], kernel[1], strides[1])
    return top, bottom, left, right


def pad_2d(x: torch.Tensor, pads: tuple[int, int, int, int], value: float = 0.0) -> torch.Tensor:
    top, bottom, left, right = pads
    return F.pad(x, (left, right, top, bottom), value=value)


def spatial_output_shape(
    layer: str, input_shape: tuple, channels: int | None, kernel: tuple[int, int],
    strides: tuple[int, int], padding: str,
) -> tuple:
    """(batch, H', W', channels) for an (batch, H, W, C) input shape."""
    h = output_length(input_shape[1], kernel[0], strides[0], padding)
    w = output_length(input_shape[2], kernel[1], strides[1], padding)
    if (h is not None and h <= 0) or (w is not None and w <= 0):
        _, height, width, depth = input_shape
        if height in (1, 3, 4) and width is not None and depth is not None and width > 4 and depth > 4:
            raise ValueError(  # (C, H, W) given where (H, W, C) is meant: PyTorch's order
                f"Layer '{layer}': input of height×width {height}×{width} with {depth} channels is "
                f"smaller than its window {kernel[0]}×{kernel[1]}; this looks like channels-first "
                f"(channels, height, width) = ({height}, {width}, {depth}). Fix: brainnet, like Keras, "
                f"takes (height, width, channels): input_shape=({width}, {depth}, {height}), and images "
                "as x.transpose(0, 2, 3, 1)."
            )
        raise ValueError(
            f"Layer '{layer}': input of height×width {input_shape[1]}×{input_shape[2]} is "
            f"smaller than its window {kernel[0]}×{kernel[1]} with padding='valid', so the "
            "output would be empty. Fix: use padding='same', a smaller kernel, or fewer "
            "pooling layers before it."
        )
    return (input_shape[0], h, w, input_shape[3] if channels is None else channels)
