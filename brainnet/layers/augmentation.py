"""Geometric augmentation layers: random flips, rotations, shifts and zooms,
applied during training only.

Each layer is the identity at inference and draws its own random
parameters per image in training, repeatably with ``seed=`` (what all
augmentation layers share is in ``_augmentation.py``). Images are
``(batch, height, width, channels)``. Contrast and erasing live in
``augmentation_intensity.py``; they are imported here too, so
``brainnet.layers.augmentation.RandomContrast`` keeps working.

The geometric layers (RandomRotation, RandomTranslation, RandomZoom) build
one affine map per image and resample with ``torch.nn.functional.affine_grid``
and ``grid_sample``. Pixels that come from outside the image are filled as
Keras's ``fill_mode`` says (input ``abcd``):

* ``"reflect"`` (default): ``(d c b a | a b c d | d c b a)``, reflected about
  the edge of the last pixel (grid_sample's "reflection" padding);
* ``"mirror"``: ``(d c b | a b c d | c b a)``, reflected about the centre of
  the last pixel (the same padding, with ``align_corners=True``);
* ``"nearest"``: ``(a a a a | a b c d | d d d d)`` (grid_sample's "border");
* ``"constant"``: ``fill_value`` (grid_sample's "zeros", plus
  ``fill_value · (1 − coverage)`` when it is not 0, which is the same as
  interpolating with out-of-image pixels equal to ``fill_value``).

Keras's ``"wrap"`` has no grid_sample counterpart and is refused.
``interpolation`` is ``"bilinear"`` (default) or ``"nearest"``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F

from ._augmentation import _Augmentation, _bounds, _choice, _factor_config
from .augmentation_intensity import RandomContrast, RandomErasing

__all__ = ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomErasing"]

_PADDING = {"reflect": "reflection", "mirror": "reflection", "nearest": "border", "constant": "zeros"}


def check_fill(layer: str, fill_mode: str, interpolation: str, fill_value: Any) -> tuple[str, str, float]:
    """``fill_mode``, ``interpolation`` and ``fill_value`` of a resampling layer, checked."""
    if isinstance(fill_mode, str) and fill_mode.lower() == "wrap":
        raise ValueError(
            f"{layer}: expected fill_mode 'reflect', 'mirror', 'nearest' or 'constant', got 'wrap' "
            "(Keras's wrap-around has no torch grid_sample counterpart). "
            f"Fix: {layer}(..., fill_mode='reflect')."
        )
    fill_mode = _choice(layer, "fill_mode", fill_mode, list(_PADDING), f"Fix: {layer}(..., fill_mode='reflect').")
    interpolation = _choice(layer, "interpolation", interpolation, ["bilinear", "nearest"],
                            f"Fix: {layer}(..., interpolation='bilinear').")
    if isinstance(fill_value, bool) or not isinstance(fill_value, numbers.Real):
        raise ValueError(f"{layer}: expected fill_value to be a number, got {fill_value!r}. Fix: fill_value=0.0.")
    return fill_mode, interpolation, float(fill_value)


def pixel_grid(xin: torch.Tensor, yin: torch.Tensor, fill_mode: str) -> torch.Tensor:
    """Input pixel coordinates (column ``xin``, row ``yin``, each (B, H, W);
    (0, 0) is the centre of the top-left pixel) as grid_sample's normalised
    grid (B, H, W, 2) for ``resample`` with that ``fill_mode``."""
    height, width = xin.shape[1:]
    if fill_mode == "mirror":  # align_corners=True: pixel centres at −1 … 1
        return torch.stack([2.0 * xin / max(width - 1, 1) - 1.0, 2.0 * yin / max(height - 1, 1) - 1.0], dim=-1)
    return torch.stack([(2.0 * xin + 1.0) / width - 1.0, (2.0 * yin + 1.0) / height - 1.0], dim=-1)


def resample(x: torch.Tensor, grid: torch.Tensor, fill_mode: str, interpolation: str,
             fill_value: float) -> torch.Tensor:
    """Images ``x`` (B, H, W, C) sampled at ``grid`` (B, H', W', 2, grid_sample's
    normalised (x, y)) with ``interpolation``, filled outside as ``fill_mode``
    says (see the module's docstring)."""
    align = fill_mode == "mirror"
    img = x.permute(0, 3, 1, 2)  # (B, C, H, W)
    out = F.grid_sample(img, grid, mode=interpolation, padding_mode=_PADDING[fill_mode], align_corners=align)
    if fill_mode == "constant" and fill_value != 0.0:
        inside = F.grid_sample(torch.ones_like(img[:, :1]), grid, mode=interpolation, padding_mode="zeros",
                               align_corners=align)
        out = out + fill_value * (1.0 - inside)
    return out.permute(0, 2, 3, 1)  # (B, H', W', C)


class _Affine(_Augmentation):
    """Shared by the geometric layers: per-image affine maps, one grid_sample."""

    def __init__(
        self, fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.fill_mode, self.interpolation, self.fill_value = check_fill(
            type(self).__name__, fill_mode, interpolation, fill_value)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        """(n, 2, 3) maps from output to input pixel offsets from the image centre:
        ``[dx_in, dy_in]ᵀ = A · [dx_out, dy_out]ᵀ + t`` (pixels, x to the right, y down)."""
        raise NotImplementedError

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, height, width, _ = x.shape
        pixel = self.matrices(n, height, width, x)  # (B, 2, 3), in pixels
        align = self.fill_mode == "mirror"
        # Pixels → grid_sample's normalised coordinates: x_n = 2·dx / sx.
        sx, sy = (max(width - 1, 1), max(height - 1, 1)) if align else (width, height)
        # Filled on the device, not copied from host data (a synchronising copy, which a CUDA graph cannot hold).
        scale = torch.cat([x.new_full((1, 1), 1.0 / sx), x.new_full((1, 1), 1.0 / sy)]) * 2.0  # (2, 1)
        unscale = torch.cat([x.new_full((1,), float(sx)), x.new_full((1,), float(sy))]) / 2.0  # (2,)
        theta = torch.cat([pixel[:, :, :2] * scale * unscale, pixel[:, :, 2:] * scale], dim=2)
        grid = F.affine_grid(theta, [n, x.shape[3], height, width], align_corners=align)  # (B, H, W, 2)
        return resample(x, grid, self.fill_mode, self.interpolation, self.fill_value)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


class RandomFlip(_Augmentation):
    """Flips each image left-right and/or up-down, each with probability ½.

    Equation (training; identity at inference), per image n::

        horizontal: y[n, i, j] = x[n, i, W − 1 − j]  with probability ½
        vertical:   y[n, i, j] = x[n, H − 1 − i, j]  with probability ½

    (independent draws for the two flips in ``"horizontal_and_vertical"``).

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``
            (default, as Keras).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomFlip("horizontal", seed=0)(torch.ones(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    equation = "y[n, i, j] = x[n, i, W−1−j] and/or x[n, H−1−i, j], each with probability ½ (training only)"

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.mode = _choice("RandomFlip", "mode", mode, ["horizontal", "vertical", "horizontal_and_vertical"],
                            "Fix: RandomFlip('horizontal') for natural images.")

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        if self.mode != "vertical":
            flip = self._rand((n,), x) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(2), x)
        if self.mode != "horizontal":
            flip = self._rand((n,), x) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(1), x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_Affine):
    """Rotates each image about its centre by a random angle.

    Equation (training; identity at inference), per image, with
    θ = 2π·u, u ~ U[low, high] (Keras: the factor is a fraction of a full
    turn; θ > 0 turns the image counter-clockwise as displayed, y down) and
    (c_x, c_y) = ((W − 1)/2, (H − 1)/2)::

        y[i, j] = x(c_y + sin θ·(j − c_x) + cos θ·(i − c_y),
                    c_x + cos θ·(j − c_x) − sin θ·(i − c_y))

    sampled with ``interpolation`` and filled outside as ``fill_mode`` says.

    Args:
        factor: u's range: a number f means (−f, f), or a pair (low, high);
            ``0.1`` rotates by up to ±36°.
        fill_mode: ``"reflect"`` (default), ``"mirror"``, ``"nearest"`` or
            ``"constant"`` (see the module's docstring; ``"wrap"`` is refused).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: integer for repeatable draws, or None.
        fill_value: value outside the image for ``"constant"`` (default 0).

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomRotation(0.1)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y(p) = x(c + R(θ)(p − c)), θ = 2π·u, u ~ U[low, high] (training only)"

    def __init__(
        self, factor: float | tuple[float, float], fill_mode: str = "reflect", interpolation: str = "bilinear",
        seed: int | None = None, fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.low, self.high = _bounds("RandomRotation", "factor", factor)
        self.factor = _factor_config(factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        angle = 2.0 * math.pi * self._uniform(n, self.low, self.high, like)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        return torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomTranslation(_Affine):
    """Shifts each image by a random fraction of its height and width.

    Equation (training; identity at inference), per image, with
    d_y = H·u, u ~ U[height low, high] and d_x = W·v, v ~ U[width low, high]
    (positive: down and right)::

        y[i, j] = x(i − d_y, j − d_x)

    Args:
        height_factor: u's range, a number f means (−f, f), or a pair; in [−1, 1].
        width_factor: v's range, likewise.
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomTranslation(0.1, 0.1)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y[i, j] = x(i − H·u, j − W·v), u, v ~ U[low, high] (training only)"

    def __init__(
        self, height_factor: float | tuple[float, float], width_factor: float | tuple[float, float],
        fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_bounds = _bounds("RandomTranslation", "height_factor", height_factor)
        self.width_bounds = _bounds("RandomTranslation", "width_factor", width_factor)
        for arg, (low, high) in (("height_factor", self.height_bounds), ("width_factor", self.width_bounds)):
            if low < -1 or high > 1:
                raise ValueError(
                    f"RandomTranslation: expected {arg} within [-1, 1] (a fraction of the image), got "
                    f"({low}, {high}). Fix: RandomTranslation({arg}=0.1, ...)."
                )
        self.height_factor, self.width_factor = _factor_config(height_factor), _factor_config(width_factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        dy = height * self._uniform(n, *self.height_bounds, like)
        dx = width * self._uniform(n, *self.width_bounds, like)
        one, zero = torch.ones_like(dx), torch.zeros_like(dx)
        return torch.stack([torch.stack([one, zero, -dx], 1), torch.stack([zero, one, -dy], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomZoom(_Affine):
    """Zooms each image in or out about its centre by a random amount.

    Equation (training; identity at inference), per image, with
    z_y = 1 + u, u ~ U[height low, high], and z_x = 1 + v (v from
    ``width_factor``, or z_x = z_y when it is None, keeping the aspect)::

        y[i, j] = x(c_y + z_y·(i − c_y), c_x + z_x·(j − c_x))

    z > 1 zooms out (the image shrinks), z < 1 zooms in (Keras's sign).

    Args:
        height_factor: u's range, a number f means (−f, f), or a pair; > −1.
        width_factor: v's range, or None (default: the same zoom as the height).
        fill_mode, interpolation, seed, fill_value: as RandomRotation.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomZoom(0.2)(torch.ones(2, 8, 8, 1), training=True).shape
        torch.Size([2, 8, 8, 1])
    """

    equation = "y(p) = x(c + diag(1 + v, 1 + u)(p − c)), u, v ~ U[low, high] (training only)"

    def __init__(
        self, height_factor: float | tuple[float, float], width_factor: float | tuple[float, float] | None = None,
        fill_mode: str = "reflect", interpolation: str = "bilinear", seed: int | None = None,
        fill_value: float = 0.0, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.height_bounds = _bounds("RandomZoom", "height_factor", height_factor)
        self.width_bounds = None if width_factor is None else _bounds("RandomZoom", "width_factor", width_factor)
        for arg, bounds in (("height_factor", self.height_bounds), ("width_factor", self.width_bounds)):
            if bounds is not None and bounds[0] <= -1:
                raise ValueError(
                    f"RandomZoom: expected {arg} > -1 (the zoom is 1 + factor), got {bounds}. "
                    f"Fix: RandomZoom({arg}=(-0.2, 0.2))."
                )
        self.height_factor = _factor_config(height_factor)
        self.width_factor = None if width_factor is None else _factor_config(width_factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        zy = 1.0 + self._uniform(n, *self.height_bounds, like)
        zx = zy if self.width_bounds is None else 1.0 + self._uniform(n, *self.width_bounds, like)
        zero = torch.zeros_like(zy)
        return torch.stack([torch.stack([zx, zero, zero], 1), torch.stack([zero, zy, zero], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}
