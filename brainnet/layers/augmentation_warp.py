"""Warping augmentation layers (Keras 3): random shears, perspective and
elastic distortions, applied during training only.

Each layer is the identity at inference and draws its own random
parameters per image in training, repeatably with ``seed=`` (see
``_augmentation.py``). Images are ``(batch, height, width, channels)``.
They resample with ``grid_sample`` through the plain functions of
``augmentation.py`` (``check_fill``, ``pixel_grid``, ``resample``), so
``fill_mode``, ``interpolation`` and ``fill_value`` mean what they mean for
RandomRotation. Coordinates are pixels: x the column, y the row, (0, 0) the
centre of the top-left pixel.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ._augmentation import _Augmentation, _bounds, _factor_config, _unit_range, _value_range
from ._random import generator_for
from .augmentation import _Affine, check_fill, pixel_grid, resample
from .augmentation_filter import gaussian_blur

__all__ = ["RandomShear", "RandomPerspective", "RandomElasticTransform"]


def _shear_bounds(arg: str, factor: Any) -> tuple[float, float]:
    """Keras's shear factor: a number f means (−f, f), a pair is taken as given; within [0, 1]
    for a pair and |f| ≤ 1 for a number (the draw's sign is random anyway)."""
    low, high = _bounds("RandomShear", arg, factor)
    lowest = 0.0 if isinstance(factor, (tuple, list)) else -1.0
    if not (lowest <= low and high <= 1.0):
        raise ValueError(
            f"RandomShear: expected {arg} to be a number in [0, 1] or a pair (low, high) within [0, 1], got "
            f"{factor!r} (the sign of each shear is drawn at random). Fix: RandomShear({arg}=0.2) or "
            f"RandomShear({arg}=(0.1, 0.3))."
        )
    return low, high


class RandomShear(_Affine):
    """Shears each image along x and y by random amounts (Keras 3).

    Equation (training; identity at inference), per image, with
    s_x = ε·u, u ~ U[x low, high], s_y = ε·v, v ~ U[y low, high] and one
    random sign ε = ±1 (probability ½ each) shared by both, about the
    top-left corner as Keras::

        y[i, j] = x(i + s_y·j, j + s_x·i)        (row, column)

    sampled with ``interpolation`` and filled outside as ``fill_mode`` says.
    s_x = 0.3 moves the bottom row by 30 % of the height across.

    Args:
        x_factor: u's range: a number f means (−f, f), or a pair (low, high)
            within [0, 1]; default 0 (no shear along x).
        y_factor: v's range, likewise; default 0.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"mirror"``, ``"nearest"`` or
            ``"constant"`` (``"wrap"`` is refused).
        fill_value: value outside the image for ``"constant"`` (default 0).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: a factor outside [0, 1], an unknown fill_mode or
            interpolation, a seed that is not an integer.

    Example:
        >>> import torch
        >>> RandomShear(x_factor=0.2, y_factor=0.2, seed=0)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    equation = "y[i, j] = x(i + s_y·j, j + s_x·i), s = ±(u, v), u, v ~ U[low, high] (training only)"

    def __init__(
        self, x_factor: float | tuple[float, float] = 0.0, y_factor: float | tuple[float, float] = 0.0,
        interpolation: str = "bilinear", fill_mode: str = "reflect", fill_value: float = 0.0,
        seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, **kwargs)
        self.x_bounds = _shear_bounds("x_factor", x_factor)
        self.y_bounds = _shear_bounds("y_factor", y_factor)
        self.x_factor, self.y_factor = _factor_config(x_factor), _factor_config(y_factor)

    def matrices(self, n: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
        sign = torch.where(self._rand((n,), like) < 0.5, 1.0, -1.0)
        sx = sign * self._uniform(n, *self.x_bounds, like)
        sy = sign * self._uniform(n, *self.y_bounds, like)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        one = torch.ones_like(sx)
        # About the top-left corner: in offsets from the centre, d_in = A·d_out + A·c − c.
        return torch.stack([torch.stack([one, sx, sx * cy], 1), torch.stack([sy, one, sy * cx], 1)], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


def homographies(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """(B, 8) coefficients a of the projective maps that take the four ``end``
    points onto the ``start`` points (each (B, 4, 2) as (x, y)):
    ``x_s = (a0·x + a1·y + a2) / (a6·x + a7·y + 1)``,
    ``y_s = (a3·x + a4·y + a5) / (a6·x + a7·y + 1)``, solved in float64."""
    s, e = start.double(), end.double()
    xs, ys, xe, ye = s[..., 0], s[..., 1], e[..., 0], e[..., 1]  # (B, 4) each
    one, zero = torch.ones_like(xe), torch.zeros_like(xe)
    rows_x = torch.stack([xe, ye, one, zero, zero, zero, -xe * xs, -ye * xs], dim=-1)  # (B, 4, 8)
    rows_y = torch.stack([zero, zero, zero, xe, ye, one, -xe * ys, -ye * ys], dim=-1)  # (B, 4, 8)
    system = torch.cat([rows_x, rows_y], dim=1)  # (B, 8, 8)
    target = torch.cat([xs, ys], dim=1)  # (B, 8)
    # solve_ex without its error check: linalg.solve reads the check back to the host (a sync a
    # CUDA graph cannot hold); the corners RandomPerspective draws make it singular with probability 0
    return torch.linalg.solve_ex(system, target, check_errors=False)[0].to(start.dtype)


class RandomPerspective(_Augmentation):
    """Distorts the perspective of random images by moving their corners (Keras 3).

    Equation (training; identity at inference), per image n: with
    probability p_n ~ U[low, high] (that is, if u_n < p_n, u_n ~ U[0, 1)),
    each corner c_k of (0, 0), (W−1, 0), (0, H−1), (W−1, H−1) moves to
    c'_k = c_k + c_k ⊙ d_k, d_k ~ U[−scale/2, scale/2]² (Keras's draw: the
    top-left corner stays, the others move in proportion to their
    coordinates), and with P the projective map taking each c'_k to c_k::

        y[i, j] = x(P(j, i)),   P(x, y) = ((a0·x + a1·y + a2) / q, (a3·x + a4·y + a5) / q),
                                q = a6·x + a7·y + 1

    sampled with ``interpolation``; points outside the image are
    ``fill_value`` (Keras's perspective has no other fill mode).

    Args:
        factor: the range of the probability p: a number f means (0, f), or
            a pair (low, high) within [0, 1]; default 1.0 (so each image is
            distorted with probability ½ on average, as Keras).
        scale: how far the corners move, in [0, 1] (default 1.0).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_value: value outside the image (default 0).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor or scale outside [0, 1], an unknown
            interpolation, a fill_value that is not a number.

    Example:
        >>> import torch
        >>> RandomPerspective(factor=(1.0, 1.0), scale=0.3, seed=0)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    equation = "y[i, j] = x(P(j, i)), P projective with P(c_k + c_k ⊙ d_k) = c_k, with probability p (training only)"

    def __init__(
        self, factor: float | tuple[float, float] = 1.0, scale: float = 1.0, interpolation: str = "bilinear",
        fill_value: float = 0.0, seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomPerspective", "factor", factor)
        self.factor = _factor_config(factor)
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0.0 <= scale <= 1.0:
            raise ValueError(
                f"RandomPerspective: expected scale to be a number in [0, 1], got {scale!r}. "
                "Fix: RandomPerspective(scale=0.3)."
            )
        self.scale = float(scale)
        _, self.interpolation, self.fill_value = check_fill("RandomPerspective", "constant", interpolation,
                                                            fill_value)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, height, width, _ = x.shape
        p = self._uniform(n, self.low, self.high, x)
        apply = self._rand((n,), x) < p  # (B,)
        d = self.scale * (self._rand((n, 4, 2), x) - 0.5)  # (B, 4, 2), U[−scale/2, scale/2)
        corner = torch.arange(4, device=x.device)  # made on the device: no host copy inside a CUDA graph
        start = torch.stack([(corner % 2) * (width - 1), (corner // 2) * (height - 1)], 1).to(x.dtype)  # (4, 2)
        start = start.expand(n, 4, 2)
        a = homographies(start, start + start * d)  # (B, 8)
        ys, xs = torch.meshgrid(torch.arange(height, device=x.device, dtype=x.dtype),
                                torch.arange(width, device=x.device, dtype=x.dtype), indexing="ij")  # (H, W)
        a = a[:, :, None, None]  # (B, 8, 1, 1)
        q = a[:, 6] * xs + a[:, 7] * ys + 1.0  # (B, H, W)
        xin = (a[:, 0] * xs + a[:, 1] * ys + a[:, 2]) / q
        yin = (a[:, 3] * xs + a[:, 4] * ys + a[:, 5]) / q
        warped = resample(x, pixel_grid(xin, yin, "constant"), "constant", self.interpolation, self.fill_value)
        return torch.where(apply[:, None, None, None], warped, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomElasticTransform(_Augmentation):
    """Distorts random images with a smooth random displacement field (Keras 3,
    after Simard et al. 2003).

    Equation (training; identity at inference), per image n: with
    probability p_n ~ U[low, high] (that is, if u_n < p_n, u_n ~ U[0, 1)),
    a magnitude f_n ~ U[scale low, high], α = 0.1·max(H, W)·f_n and
    σ = 0.05·min(H, W)·f_n (Keras's), noise e_x, e_y ~ N(0, 1) per pixel and
    G_σ the normalised Gaussian of Keras's int(6σ) | 1 taps (|t| ≤ ⌊3σ⌋),
    zeros outside the image::

        d_x = α·G_σ ∗ (σ·e_x),   d_y = α·G_σ ∗ (σ·e_y)
        y[i, j] = clip(x(i + d_y[i, j], j + d_x[i, j]) if u_n < p_n else x[i, j], r₀, r₁)

    sampled with ``interpolation`` and filled outside as ``fill_mode`` says
    (as Keras, every image is clipped to ``value_range``; with a factor or
    scale of 0 the layer returns its inputs).

    Args:
        factor: the range of the probability p: a number f means (0, f), or
            a pair (low, high) within [0, 1]; default 1.0 (half the images
            on average, as Keras).
        scale: the magnitude's range: a number s means (0, s), or a pair
            within [0, 1]; default 1.0.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_mode: ``"reflect"`` (default), ``"mirror"``, ``"nearest"`` or
            ``"constant"`` (``"wrap"`` is refused).
        fill_value: value outside the image for ``"constant"`` (default 0).
        value_range: the pixels' range, for the clip (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor or scale outside [0, 1], an unknown fill_mode or
            interpolation, a bad value_range.

    Example:
        >>> import torch
        >>> RandomElasticTransform(factor=(1.0, 1.0), value_range=(0, 1), seed=0)(
        ...     torch.rand(2, 28, 28, 1), training=True).shape
        torch.Size([2, 28, 28, 1])
    """

    equation = ("y = clip(x(i + d_y, j + d_x), r₀, r₁), d = α·G_σ ∗ (σ·e), e ~ N(0, 1), with probability p "
                "(training only)")

    def __init__(
        self, factor: float | tuple[float, float] = 1.0, scale: float | tuple[float, float] = 1.0,
        interpolation: str = "bilinear", fill_mode: str = "reflect", fill_value: float = 0.0,
        value_range: tuple[float, float] = (0, 255), seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        name = "RandomElasticTransform"
        self.low, self.high = _unit_range(name, "factor", factor)
        self.scale_bounds = _unit_range(name, "scale", scale)
        self.fill_mode, self.interpolation, self.fill_value = check_fill(name, fill_mode, interpolation, fill_value)
        self.value_range = _value_range(name, value_range)
        self.factor, self.scale = _factor_config(factor), _factor_config(scale)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if self.high == 0.0 or self.scale_bounds[1] == 0.0:
            return x  # as Keras: nothing drawn, nothing clipped
        n, height, width, _ = x.shape
        p = self._uniform(n, self.low, self.high, x)
        apply = self._rand((n,), x) < p  # (B,)
        f = self._uniform(n, *self.scale_bounds, x)  # (B,)
        alpha, sigma = 0.1 * max(height, width) * f, 0.05 * min(height, width) * f  # (B,) each
        noise = torch.randn((n, height, width, 2), generator=generator_for(self, x), device=x.device, dtype=x.dtype)
        # One kernel length for the batch (the largest σ's, a tap to spare), each image's Gaussian cut at ⌊3σ⌋.
        size = 2 * (int(3.0 * 0.05 * min(height, width) * self.scale_bounds[1]) + 1) + 1
        field = gaussian_blur(noise * sigma[:, None, None, None], sigma.clamp_min(1e-6), sigma.clamp_min(1e-6),
                              (size, size), radius=torch.floor(3.0 * sigma))  # (B, H, W, 2): d_x, d_y per α
        field = alpha[:, None, None, None] * field
        ys, xs = torch.meshgrid(torch.arange(height, device=x.device, dtype=x.dtype),
                                torch.arange(width, device=x.device, dtype=x.dtype), indexing="ij")  # (H, W)
        grid = pixel_grid(xs + field[..., 0], ys + field[..., 1], self.fill_mode)
        warped = resample(x, grid, self.fill_mode, self.interpolation, self.fill_value)
        return torch.where(apply[:, None, None, None], warped, x).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": list(self.value_range)}
