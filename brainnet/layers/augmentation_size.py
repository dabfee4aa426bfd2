"""Augmentation layers that change the images' size: RandomHeight and
RandomWidth stretch or squeeze a training batch along one axis by a random
factor (Keras 3's layers of those names); the identity at inference.

One factor is drawn per batch (the batch keeps one size), and the images
are resized with ``Resizing``'s interpolation (half-pixel centres, no
antialiasing, as Keras), so the layers after them need to take images of
any size along that axis (convolutions and global pooling do; ``Flatten``
then ``Dense`` do not).
"""

from __future__ import annotations

from typing import Any

import torch

from ._augmentation import _Augmentation, _bounds, _choice, _factor_config
from .base import Shape
from .image_preprocessing import resize

__all__ = ["RandomHeight", "RandomWidth"]

_INTERPOLATIONS = ["bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"]


def _size_factor(layer: str, factor: Any) -> tuple[float, float]:
    """Keras's factor: f means (−f, f), a pair is (low, high); the size is scaled by 1 + U(low, high) > 0."""
    low, high = _bounds(layer, "factor", factor)
    if low <= -1.0:
        raise ValueError(
            f"{layer}: expected factor above -1 (the size is scaled by 1 + a draw from it, which must stay "
            f"positive), got {factor!r}. Fix: {layer}(factor=0.2) scales by 0.8 to 1.2, or "
            f"{layer}(factor=(-0.5, 0.2))."
        )
    return low, high


class _RandomSize(_Augmentation):
    """RandomHeight and RandomWidth: the axis (1 rows, 2 columns) resized by a random factor."""

    axis = 1

    def __init__(self, factor: float | tuple[float, float], interpolation: str = "bilinear",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        kind = type(self).__name__
        self.factor = factor
        self.low, self.high = _size_factor(kind, factor)
        self.interpolation = _choice(kind, "interpolation", interpolation, _INTERPOLATIONS,
                                     f"Fix: {kind}(0.2, interpolation='bilinear').")

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        scale = 1.0 + float(self._uniform(1, self.low, self.high, x)[0])  # one draw for the batch
        size = max(int(x.shape[self.axis] * scale), 1)
        height, width = (size, x.shape[2]) if self.axis == 1 else (x.shape[1], size)
        return resize(x, height, width, self.interpolation)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        out = list(input_shape)
        out[self.axis] = None  # a new size at each training batch
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": _factor_config(self.factor), "interpolation": self.interpolation}


class RandomHeight(_RandomSize):
    """Resizes a training batch to a random height (Keras 3's RandomHeight).

    Equation (training; identity at inference), one draw ``f ~ U(low, high)``
    per batch::

        H' = max(⌊H · (1 + f)⌋, 1),   y = resize(x, (H', W))

    with ``Resizing``'s interpolation (bilinear: half-pixel centres,
    ``y[i] = Σ`` of the two rows around ``(i + ½) · H/H' − ½``).

    Args:
        factor: a number f for (−f, f), or a pair (low, high), low > -1:
            0.2 makes the height 80 % to 120 % of the input's.
        interpolation: ``"bilinear"`` (default), ``"nearest"``,
            ``"bicubic"``, ``"lanczos3"`` or ``"lanczos5"``.
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, width, channels)`` in training.

    Raises:
        ValueError: a factor that is not a number or pair, or that reaches -1;
            an unknown interpolation.

    Example:
        >>> import torch
        >>> RandomHeight((0.5, 0.5), seed=0)(torch.ones(2, 8, 6, 3), training=True).shape
        torch.Size([2, 12, 6, 3])
    """

    equation = "y = resize(x, (⌊H·(1 + f)⌋, W)), f ~ U(low, high) once per batch (training only)"
    axis = 1


class RandomWidth(_RandomSize):
    """Resizes a training batch to a random width (Keras 3's RandomWidth).

    Equation (training; identity at inference), one draw ``f ~ U(low, high)``
    per batch::

        W' = max(⌊W · (1 + f)⌋, 1),   y = resize(x, (H, W'))

    with ``Resizing``'s interpolation (bilinear: half-pixel centres,
    ``y[j] = Σ`` of the two columns around ``(j + ½) · W/W' − ½``).

    Args:
        factor: a number f for (−f, f), or a pair (low, high), low > -1:
            0.2 makes the width 80 % to 120 % of the input's.
        interpolation: ``"bilinear"`` (default), ``"nearest"``,
            ``"bicubic"``, ``"lanczos3"`` or ``"lanczos5"``.
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, height, new_width, channels)`` in training.

    Raises:
        ValueError: a factor that is not a number or pair, or that reaches -1;
            an unknown interpolation.

    Example:
        >>> import torch
        >>> RandomWidth((-0.5, -0.5), seed=0)(torch.ones(2, 8, 6, 3), training=True).shape
        torch.Size([2, 8, 3, 3])
    """

    equation = "y = resize(x, (H, ⌊W·(1 + f)⌋)), f ~ U(low, high) once per batch (training only)"
    axis = 2
