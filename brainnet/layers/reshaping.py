"""Layers that resize images and sequences without weights: UpSampling2D,
UpSampling1D, ZeroPadding2D, ZeroPadding1D, Cropping2D, Cropping1D (the
plumbing of decoders and U-Nets: grow a feature map back, or trim a skip
connection to the size of the path it joins)."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F

from . import _spatial
from .base import Layer, Shape
from .core import check_positive_int

_SEQUENCE_FIX = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                 "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")


def _natural(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0


# How each rank's margins are spelled: one per axis, a (before, after) pair per axis, and two examples.
_MARGIN_WORDS = {
    2: ("a pair (rows, columns)", "a pair of pairs ((top, bottom), (left, right))", "(1, 2)", "((1, 0), (2, 2))"),
    3: ("a triple (slices, rows, columns)", "a triple of pairs ((front, back), (top, bottom), (left, right))",
        "(1, 2, 2)", "((1, 0), (2, 2), (0, 1))"),
}


def margins(layer: str, arg: str, value: Any, dims: int) -> tuple[tuple[int, int], ...]:
    """``((before, after), ...)``, one pair per spatial axis, from Keras's three
    spellings: ``p``, one int per axis (each on both sides) or the pairs themselves."""
    if _natural(value):
        value = (value,) * dims
    if isinstance(value, (tuple, list)) and len(value) == dims and all(_natural(v) for v in value):
        value = tuple((v, v) for v in value)
    ok = isinstance(value, (tuple, list)) and len(value) == dims and all(
        isinstance(p, (tuple, list)) and len(p) == 2 and all(_natural(v) for v in p) for p in value)
    if not ok:
        each, pairs, example, example_pairs = _MARGIN_WORDS[dims]
        raise ValueError(
            f"{layer}: expected {arg} to be a non-negative int, {each} or {pairs}, got {value!r}. "
            f"Fix: {arg}=1, {arg}={example} or {arg}={example_pairs}."
        )
    return tuple((int(before), int(after)) for before, after in value)


def margins_1d(layer: str, arg: str, value: Any) -> tuple[int, int]:
    """``(before, after)`` from an int (both sides) or the pair."""
    if _natural(value):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(_natural(v) for v in value)):
        raise ValueError(
            f"{layer}: expected {arg} to be a non-negative int or a pair (before, after) of them, got "
            f"{value!r}. Fix: {arg}=1 or {arg}=(1, 2)."
        )
    return int(value[0]), int(value[1])


class UpSampling2D(Layer):
    """Enlarges an image ``size`` times along height and width, channel by channel.

    Equation, ``"nearest"`` (each pixel repeated into an ``s_h × s_w`` block)::

        y[n, p, q, c] = x[n, ⌊p/s_h⌋, ⌊q/s_w⌋, c]

    ``"bilinear"`` (half-pixel centres, ``align_corners=False``, as Keras 3's
    ``ops.image.resize`` and TensorFlow's ``tf.image.resize``): along each axis
    the output position ``p`` reads the input at
    ``r = max((p + ½)/s − ½, 0)``, between rows ``i₀ = ⌊r⌋`` and
    ``i₁ = min(i₀ + 1, H − 1)``, weighted ``1 − (r − i₀)`` and ``r − i₀``::

        y[n, p, q, c] = Σ_{a ∈ {i₀, i₁}, b ∈ {k₀, k₁}} α_a(p) · β_b(q) · x[n, a, b, c]

    Args:
        size: int or pair ``(s_h, s_w)``, default (2, 2).
        interpolation: ``"nearest"`` (default) or ``"bilinear"``.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, height·s_h, width·s_w, channels)``.

    Example:
        >>> import torch
        >>> UpSampling2D((2, 2))(torch.ones(1, 7, 7, 16)).shape
        torch.Size([1, 14, 14, 16])
    """

    equation = "y[p, q, c] = x[⌊p/s_h⌋, ⌊q/s_w⌋, c] (nearest)"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, size: int | tuple[int, int] = (2, 2), interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = _spatial.pair("UpSampling2D", "size", size)
        if not isinstance(interpolation, str) or interpolation.lower() not in ("nearest", "bilinear"):
            raise ValueError(
                f"UpSampling2D: expected interpolation 'nearest' or 'bilinear', got {interpolation!r}. Fix: "
                "interpolation='nearest' repeats pixels, 'bilinear' blends neighbours (brainnet has no "
                "'bicubic' or 'lanczos' here)."
            )
        self.interpolation = interpolation.lower()

    @property
    def float_math(self) -> bool:  # type: ignore[override]
        """'bilinear' blends pixels into fractions: integer/bool inputs become float32; 'nearest' keeps them."""
        return self.interpolation == "bilinear"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point():  # integers, 'nearest': torch interpolates floats only
            return repeated(inputs, self.size)
        x = _spatial.channels_first(inputs)  # (B, C, H, W), channels-last memory
        if self.interpolation == "nearest":
            y = F.interpolate(x, scale_factor=self.size, mode="nearest")
        else:
            y = F.interpolate(x, scale_factor=self.size, mode="bilinear", align_corners=False)
        return _spatial.channels_last(y)  # (B, H·s_h, W·s_w, C)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, height, width, channels = input_shape
        grow = lambda n, s: None if n is None else n * s  # noqa: E731
        return (batch, grow(height, self.size[0]), grow(width, self.size[1]), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}


def repeated(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Each pixel (voxel) of channels-last ``x`` repeated ``size`` times along each
    spatial axis: nearest upsampling for any dtype (Keras keeps integers integers)."""
    for axis, s in enumerate(size, start=1):
        x = x.repeat_interleave(s, dim=axis)  # (B, ..., n·s, ..., C)
    return x


class UpSampling1D(Layer):
    """Repeats each time step ``size`` times.

    Equation::

        y[n, t, c] = x[n, ⌊t/s⌋, c]

    Args:
        size: repetitions of each step (positive int, default 2).

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, time·size, features)``.

    Example:
        >>> import torch
        >>> UpSampling1D(3)(torch.ones(2, 5, 4)).shape
        torch.Size([2, 15, 4])
    """

    equation = "y[t, c] = x[⌊t/s⌋, c]"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = _SEQUENCE_FIX

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = check_positive_int("UpSampling1D", "size", size)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.repeat_interleave(self.size, dim=1)  # (B, T·s, F)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, steps, features = input_shape
        return (batch, None if steps is None else steps * self.size, features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class ZeroPadding2D(Layer):
    """Adds rows and columns of zeros around each image.

    Equation::

        y[n, p, q, c] = x[n, p − top, q − left, c] where that pixel exists, else 0

    Args:
        padding: ``p`` (every side), ``(rows, columns)`` (rows at top and
            bottom, columns at left and right) or ``((top, bottom), (left,
            right))``; non-negative ints, default ``(1, 1)``.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, height + top + bottom, width + left + right, channels)``.

    Example:
        >>> import torch
        >>> ZeroPadding2D(((1, 0), (2, 2)))(torch.ones(1, 5, 5, 3)).shape
        torch.Size([1, 6, 9, 3])
    """

    equation = "y[p, q, c] = x[p − top, q − left, c], 0 outside"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, padding: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = margins("ZeroPadding2D", "padding", padding, 2)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.padding
        return F.pad(inputs, (0, 0, left, right, top, bottom))  # (B, H', W', C): F.pad's pairs go last axis first

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, height, width, channels = input_shape
        (top, bottom), (left, right) = self.padding
        grow = lambda n, extra: None if n is None else n + extra  # noqa: E731
        return (batch, grow(height, top + bottom), grow(width, left + right), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class ZeroPadding1D(Layer):
    """Adds zero time steps at the start and end of each sequence.

    Equation::

        y[n, t, c] = x[n, t − before, c] where that step exists, else 0

    Args:
        padding: ``p`` (both ends) or ``(before, after)``; non-negative ints, default 1.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, time + before + after, features)``.
    """

    equation = "y[t, c] = x[t − before, c], 0 outside"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = _SEQUENCE_FIX

    def __init__(self, padding: int | tuple[int, int] = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = margins_1d("ZeroPadding1D", "padding", padding)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.pad(inputs, (0, 0, *self.padding))  # (B, T', F)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, steps, features = input_shape
        return (batch, None if steps is None else steps + sum(self.padding), features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": list(self.padding)}


def cropped(layer: Layer, size: int | None, crop: tuple[int, int], what: str) -> int | None:
    """The length left after cropping ``crop`` from ``size``, or an error if nothing is left."""
    if size is None:
        return None
    if sum(crop) >= size:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected to crop fewer than the {size} {what} of "
            f"its input, got cropping {crop} ({sum(crop)} {what} in all), which leaves nothing. Fix: crop "
            f"at most {size - 1} {what} in all, or look at the input's shape with model.summary()."
        )
    return size - sum(crop)


class Cropping2D(Layer):
    """Removes rows and columns at the edges of each image (e.g. to match a
    U-Net skip connection to the smaller map it joins).

    Equation::

        y[n, p, q, c] = x[n, p + top, q + left, c],  0 ≤ p < H − top − bottom, 0 ≤ q < W − left − right

    Args:
        cropping: ``p`` (every side), ``(rows, columns)`` or ``((top,
            bottom), (left, right))``; non-negative ints, default ``((0, 0), (0, 0))``.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, height − top − bottom, width − left − right, channels)``.

    Raises:
        ValueError: a bad cropping, or one that removes every row or column.

    Example:
        >>> import torch
        >>> Cropping2D(((2, 2), (4, 4)))(torch.ones(1, 28, 28, 3)).shape
        torch.Size([1, 24, 20, 3])
    """

    equation = "y[p, q, c] = x[p + top, q + left, c]"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = margins("Cropping2D", "cropping", cropping, 2)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if nothing would be left

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.cropping
        _, height, width, _ = inputs.shape
        self.compute_output_shape(tuple(inputs.shape))  # a later call on a smaller image
        return inputs[:, top:height - bottom, left:width - right, :]  # (B, H', W', C)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, height, width, channels = input_shape
        rows, columns = self.cropping
        return (batch, cropped(self, height, rows, "rows"), cropped(self, width, columns, "columns"), channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping]}


class Cropping1D(Layer):
    """Removes time steps at the start and end of each sequence.

    Equation::

        y[n, t, c] = x[n, t + before, c],  0 ≤ t < T − before − after

    Args:
        cropping: ``p`` (both ends) or ``(before, after)``; non-negative ints, default ``(1, 1)``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, time − before − after, features)``.
    """

    equation = "y[t, c] = x[t + before, c]"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = _SEQUENCE_FIX

    def __init__(self, cropping: int | tuple[int, int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = margins_1d("Cropping1D", "cropping", cropping)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if nothing would be left

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        before, after = self.cropping
        self.compute_output_shape(tuple(inputs.shape))  # a later call on a shorter sequence
        return inputs[:, before:inputs.shape[1] - after, :]  # (B, T', F)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, steps, features = input_shape
        return (batch, cropped(self, steps, self.cropping, "steps"), features)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": list(self.cropping)}
