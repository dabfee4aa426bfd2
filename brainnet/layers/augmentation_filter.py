"""Filtering layers of images (Keras 3): a random Gaussian blur (training
only, see ``_augmentation.py``) and histogram equalization (always on, as
Keras documents). Images are ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F

from ._augmentation import (IMAGES_RANK_FIX, _Augmentation, _factor_config, _from_255, _to_255, _unit_range,
                            _value_range)
from .base import Layer

__all__ = ["RandomGaussianBlur", "Equalization"]


def gaussian_kernels(sigma: torch.Tensor, size: int, radius: torch.Tensor | None = None) -> torch.Tensor:
    """(B, size) normalised 1-D Gaussians, one per σ in ``sigma`` (B,):
    g[t] ∝ exp(−t² / (2σ²)), t = −(size−1)/2 … (size−1)/2, and g[t] = 0 for
    |t| > ``radius`` (B,) when given (a shorter kernel, zero-padded to ``size``)."""
    t = torch.arange(size, device=sigma.device, dtype=sigma.dtype) - (size - 1) / 2.0
    g = torch.exp(-0.5 * (t / sigma[:, None]) ** 2)  # (B, size)
    if radius is not None:
        g = g * (t.abs() <= radius[:, None])
    return g / g.sum(dim=1, keepdim=True)


def gaussian_blur(x: torch.Tensor, sigma_y: torch.Tensor, sigma_x: torch.Tensor, size: tuple[int, int],
                  radius: torch.Tensor | None = None) -> torch.Tensor:
    """Each image of ``x`` (B, H, W, C) blurred with its own separable Gaussian
    (σ_y down the rows with ``size[0]`` taps, σ_x along them with ``size[1]``,
    each cut at ``radius`` when given), zeros outside the image (a ``"same"``
    convolution, as Keras)."""
    n, height, width, channels = x.shape
    kh, kw = size
    gy = gaussian_kernels(sigma_y, kh, radius).repeat_interleave(channels, dim=0)  # (B·C, kh)
    gx = gaussian_kernels(sigma_x, kw, radius).repeat_interleave(channels, dim=0)  # (B·C, kw)
    img = x.permute(0, 3, 1, 2).reshape(1, n * channels, height, width)  # (1, B·C, H, W)
    img = F.conv2d(img, gy[:, None, :, None], padding=(kh // 2, 0), groups=n * channels)
    img = F.conv2d(img, gx[:, None, None, :], padding=(0, kw // 2), groups=n * channels)
    return img.reshape(n, channels, height, width).permute(0, 2, 3, 1)  # (B, H, W, C)


def _kernel_size(kernel_size: Any) -> tuple[int, int]:
    sizes = kernel_size if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
    if not (len(sizes) == 2 and all(isinstance(k, numbers.Integral) and not isinstance(k, bool) and k > 0
                                    and k % 2 == 1 for k in sizes)):
        raise ValueError(
            f"RandomGaussianBlur: expected kernel_size to be an odd positive integer or a pair (height, width) "
            f"of them, got {kernel_size!r}. Fix: RandomGaussianBlur(kernel_size=3) or kernel_size=(5, 3)."
        )
    return int(sizes[0]), int(sizes[1])


def _sigma_bounds(sigma: Any) -> tuple[float, float]:
    if isinstance(sigma, numbers.Real) and not isinstance(sigma, bool) and sigma >= 0:
        return 0.0, float(sigma)
    if (isinstance(sigma, (tuple, list)) and len(sigma) == 2
            and all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in sigma)
            and 0 <= sigma[0] <= sigma[1]):
        return float(sigma[0]), float(sigma[1])
    raise ValueError(
        f"RandomGaussianBlur: expected sigma to be a number s ≥ 0 (meaning (0, s)) or a pair (low, high) with "
        f"0 ≤ low ≤ high, got {sigma!r}. Fix: RandomGaussianBlur(sigma=1.0) or sigma=(0.5, 2.0)."
    )


class RandomGaussianBlur(_Augmentation):
    """Blurs random images with a Gaussian of random width (Keras 3).

    Equation (training; identity at inference), per image n: with
    probability p_n ~ U[low, high] (that is, if u_n < p_n, u_n ~ U[0, 1)),
    σ_x, σ_y ~ U[sigma low, high] + 10⁻⁶ (drawn per image), the normalised
    kernels g_σ[t] ∝ exp(−t²/(2σ²)) over the kernel's taps and zeros
    outside the image::

        b[i, j, c] = Σ_{s,t} g_σy[s]·g_σx[t]·x[i + s, j + t, c]
        y = clip(b if u_n < p_n else x, r₀, r₁)

    (as Keras, every image is clipped to ``value_range``).

    Args:
        factor: the range of the probability p: a number f means (0, f), or
            a pair (low, high) within [0, 1]; default 1.0 (half the images
            on average, as Keras).
        kernel_size: odd number of taps (default 3), or a pair (height,
            width) of odd numbers.
        sigma: σ's range: a number s means (0, s) (default 1.0), or a pair
            (low, high) with 0 ≤ low ≤ high.
        value_range: the pixels' range, for the clip (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], an even or non-positive
            kernel_size, a negative sigma, a bad value_range.

    Example:
        >>> import torch
        >>> layer = RandomGaussianBlur(factor=(1.0, 1.0), value_range=(0, 1), seed=0)
        >>> y = layer(torch.full((2, 5, 5, 3), 0.5), training=True)
        >>> round(float(y[0, 2, 2, 0]), 4), round(float(y[0, 0, 0, 0]), 4) < 0.5  # zeros outside: edges darken
        (0.5, True)
    """

    equation = "y = clip(g_σy ⊗ g_σx ∗ x with probability p, else x, r₀, r₁), σ ~ U[low, high] (training)"

    def __init__(
        self, factor: float | tuple[float, float] = 1.0, kernel_size: int | tuple[int, int] = 3,
        sigma: float | tuple[float, float] = 1.0, value_range: tuple[float, float] = (0, 255),
        seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomGaussianBlur", "factor", factor)
        self.size = _kernel_size(kernel_size)
        self.sigma_bounds = _sigma_bounds(sigma)
        self.value_range = _value_range("RandomGaussianBlur", value_range)
        self.factor = _factor_config(factor)
        self.kernel_size = _factor_config(kernel_size)
        self.sigma = _factor_config(sigma)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        p = self._uniform(n, self.low, self.high, x)
        apply = self._rand((n,), x) < p  # (B,)
        low, high = self.sigma_bounds
        sigma = low + (high - low) * self._rand((n, 2), x) + 1e-6  # (B, 2): σ_x, σ_y
        blurred = gaussian_blur(x, sigma[:, 1], sigma[:, 0], self.size)
        return torch.where(apply[:, None, None, None], blurred, x).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": list(self.value_range)}


class Equalization(Layer):
    """Equalizes the histogram of each channel of each image (Keras 3).
    Active in training and at inference, as Keras documents.

    Equation, per image n and channel c, on v = the pixels mapped linearly
    from ``value_range`` onto [0, 255], with N = H·W pixels::

        b(v) = clip(⌊v·(bins − 1)/255⌋, 0, bins − 1)           (the bin of a pixel)
        h[k] = #{(i, j): b(v[i, j]) = k},   C[k] = Σ_{k' ≤ k} h[k'],   C₀ = the first non-zero C[k]
        y[i, j] = clip(round(255·(C[b(v[i, j])] − C₀) / (N − C₀)), 0, 255)

    mapped back onto ``value_range`` (N − C₀ = 0 counts as 1). A channel
    whose pixels all fall in one bin is left as it is.

    Args:
        value_range: the pixels' range (default (0, 255)).
        bins: the number of histogram bins (default 256, one per 8-bit level).

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: a value_range that is not (low, high) with low < high,
            bins not an integer ≥ 2.

    Example:
        >>> import torch
        >>> Equalization()(torch.tensor([[[[10.0], [10.0], [20.0], [30.0]]]])).flatten().tolist()
        [0.0, 0.0, 128.0, 255.0]
    """

    equation = "y = round(255·(C[b(x)] − C₀)/(N − C₀)), C the cumulative histogram per image and channel"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"
    rank_fix = IMAGES_RANK_FIX

    def __init__(self, value_range: tuple[float, float] = (0, 255), bins: int = 256, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value_range = _value_range("Equalization", value_range)
        if isinstance(bins, bool) or not isinstance(bins, numbers.Integral) or bins < 2:
            raise ValueError(
                f"Equalization: expected bins to be an integer ≥ 2, got {bins!r}. "
                "Fix: Equalization(bins=256) for 8-bit images."
            )
        self.bins = int(bins)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        dtype = inputs.dtype if inputs.is_floating_point() else torch.get_default_dtype()
        x = inputs.to(torch.promote_types(dtype, torch.float32))  # counts exact to 2²⁴ pixels, even for float16
        n, height, width, channels = x.shape
        v = _to_255(x, self.value_range).permute(0, 3, 1, 2).reshape(n, channels, height * width)  # (B, C, N)
        b = torch.trunc(v * (self.bins - 1) / 255.0).clamp(0, self.bins - 1).long()  # (B, C, N)
        h = torch.zeros(n, channels, self.bins, device=x.device, dtype=x.dtype).scatter_add_(
            2, b, torch.ones_like(v))  # (B, C, bins)
        cdf = h.cumsum(dim=2)
        c0 = torch.where(cdf > 0, cdf, float(height * width + 1)).amin(dim=2, keepdim=True)  # (B, C, 1)
        spread = cdf[:, :, -1:] - c0
        lut = (255.0 * (cdf - c0) / torch.where(spread == 0, 1.0, spread)).round().clamp(0.0, 255.0)
        equalized = lut.gather(2, b)  # (B, C, N)
        one_bin = ((h > 0).sum(dim=2, keepdim=True) <= 1)  # (B, C, 1)
        y = torch.where(one_bin, v, equalized).reshape(n, channels, height, width).permute(0, 2, 3, 1)
        return _from_255(y, self.value_range).to(dtype)  # (B, H, W, C)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": list(self.value_range), "bins": self.bins}
