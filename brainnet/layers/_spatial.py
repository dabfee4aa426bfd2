"""Shared helpers for layers over (batch, height, width, channels) images
and (batch, depth, height, width, channels) volumes.

Inside, torch convolutions want (N, C, H, W). ``x.permute(0, 3, 1, 2)`` of a
contiguous (N, H, W, C) tensor is exactly an (N, C, H, W) tensor in PyTorch's
channels-last memory format: the edge layout costs no copy, and torch's
channels-last kernels run on it directly. The same holds in 3-D: a contiguous
(N, D, H, W, C) volume moved to (N, C, D, H, W) is in ``channels_last_3d``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F

PADDINGS = ("valid", "same")


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """(N, *spatial, C) → (N, C, *spatial) view (channels-last memory for images and volumes)."""
    return x.movedim(-1, 1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """(N, C, *spatial) → (N, *spatial, C) view (contiguous when x is in channels-last memory)."""
    return x.movedim(1, -1)


def in_memory_format(kernel: torch.Tensor, memory_format: torch.memory_format) -> torch.Tensor:
    """``kernel`` copied into ``memory_format`` with the strides torch gives a new
    tensor of that format, which are those of the convolution's gradient.

    ``kernel.contiguous(memory_format=...)`` would keep a kernel whose axes of
    size 1 only make it look channels-last (one input channel: strides
    (9, 9, 3, 1) for (F, 1, 3, 3)); its gradient then comes as (9, 1, 3, 1),
    and DistributedDataParallel warns that the gradient's strides differ from
    its bucket's at every such kernel.
    """
    return torch.empty_like(kernel, memory_format=memory_format).copy_(kernel)


_TUPLE_NAMES = {1: "1-tuple", 2: "pair", 3: "triple"}
SPATIAL_AXES = {2: ("height", "width"), 3: ("depth", "height", "width")}


def sizes(layer: str, arg: str, value: Any, dims: int) -> tuple[int, ...]:
    """Accept an int or ``dims`` positive ints (Keras's kernel_size style)."""
    is_int = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool)  # noqa: E731
    given = (value,) * dims if is_int(value) else value
    if not isinstance(given, (tuple, list)) or len(given) != dims or not all(is_int(v) and v > 0 for v in given):
        raise ValueError(
            f"{layer}: expected {arg} to be a positive int or a {_TUPLE_NAMES[dims]} of them, got {value!r}. "
            f"Fix: {arg}={(3,) * dims} or {arg}=3."
        )
    return tuple(int(v) for v in given)


def pair(layer: str, arg: str, value: Any) -> tuple[int, int]:
    """Accept an int or a pair of positive ints (Keras's kernel_size style)."""
    return sizes(layer, arg, value, 2)  # type: ignore[return-value]


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


def same_padding(x: torch.Tensor, window: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, ...]:
    """Keras's 'same' padding of an (N, C, *spatial) tensor in ``F.pad``'s
    order: (before, after) of the last axis first."""
    pads: list[int] = []
    for axis in reversed(range(len(window))):
        pads += same_pads(x.shape[2 + axis], window[axis], strides[axis])
    return tuple(pads)


def pad_same(x: torch.Tensor, window: tuple[int, ...], strides: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """An (N, C, *spatial) tensor padded as Keras's 'same' (the odd extra row after)."""
    return F.pad(x, same_padding(x, window, strides), value=value)


def spatial_output_shape(
    layer: str, input_shape: tuple, channels: int | None, kernel: tuple[int, ...],
    strides: tuple[int, ...], padding: str,
) -> tuple:
    """(batch, *spatial', channels) for a (batch, *spatial, C) input shape,
    with as many spatial axes as ``kernel`` has (2: images, 3: volumes)."""
    dims = len(kernel)
    out = [output_length(input_shape[1 + i], kernel[i], strides[i], padding) for i in range(dims)]
    if any(n is not None and n <= 0 for n in out):
        axes, spatial, last = SPATIAL_AXES[dims], input_shape[1:1 + dims], input_shape[1 + dims]
        names, given, window = "×".join(axes), "×".join(map(str, spatial)), "×".join(map(str, kernel))
        if spatial[0] in (1, 3, 4) and all(n is not None and n > 4 for n in (*spatial[1:], last)):
            raise ValueError(  # (C, *spatial) given where (*spatial, C) is meant: PyTorch's order
                f"Layer '{layer}': input of {names} {given} with {last} channels is smaller than its window "
                f"{window}; this looks like channels-first (channels, {', '.join(axes)}) = "
                f"{tuple(input_shape[1:])}. Fix: brainnet, like Keras, takes ({', '.join(axes)}, channels): "
                f"input_shape={(*input_shape[2:], spatial[0])}, and "
                f"{'images' if dims == 2 else 'volumes'} as x.transpose{(0, *range(2, dims + 2), 1)}."
            )
        raise ValueError(
            f"Layer '{layer}': input of {names} {given} is smaller than its window {window} with "
            "padding='valid', so the output would be empty. Fix: use padding='same', a smaller kernel, or "
            "fewer pooling layers before it."
        )
    return (input_shape[0], *out, input_shape[-1] if channels is None else channels)
