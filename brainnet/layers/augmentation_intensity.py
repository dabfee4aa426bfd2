"""Contrast, sharpness and erasing augmentation layers: random changes of
the pixel values, applied during training only (see ``_augmentation.py`` for what all
augmentation layers share). Images are ``(batch, height, width, channels)``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ._augmentation import _Augmentation, _bounds, _factor_config, _unit_range, _value_range
from ._clip_range import warn_once_outside
from ._random import generator_for


def contrast_bounds(layer: str, arg: str, factor: Any) -> tuple[float, float]:
    """RandomContrast's factor as (lower, upper): a number f means (f, f), a pair is
    taken as given; the contrast factor is then drawn from U[1 − lower, 1 + upper]."""
    if isinstance(factor, (tuple, list)) and len(factor) == 2:
        lower, upper = _bounds(layer, arg, factor[0], symmetric=False)[0], float(factor[1])
    else:
        lower, upper = _bounds(layer, arg, factor, symmetric=False)
    if not 0.0 <= lower <= 1.0 or not upper >= 0.0:
        raise ValueError(
            f"{layer}: expected {arg} with lower in [0, 1] and upper ≥ 0, got {factor!r}. "
            f"Fix: {layer}({arg}=0.2) (contrast × U[0.8, 1.2])."
        )
    return lower, upper


def contrast(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Each image's deviations from its channel means scaled by a (shape (B,))."""
    mean = x.mean(dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
    return (x - mean) * a[:, None, None, None] + mean


class RandomContrast(_Augmentation):
    """Scales each image's deviations from its per-channel mean by a random factor.

    Equation (training; identity at inference), per image n and channel c,
    with one factor a_n ~ U[1 − lower, 1 + upper] per image and the value
    range (r₀, r₁)::

        y[n, i, j, c] = clip((x[n, i, j, c] − μ[n, c]) · a_n + μ[n, c], r₀, r₁)
        μ[n, c] = mean_{i,j} x[n, i, j, c]

    As in Keras 3's current version (Keras 3.3 did not clip), the result is clipped to
    ``value_range``, (0, 255) unless given: images scaled to [0, 1] need
    ``value_range=(0, 1)``.

    Args:
        factor: a number f means (lower, upper) = (f, f); or a pair
            (lower, upper), lower in [0, 1], upper ≥ 0.
        value_range: the pixels' range (low, high), for the clip (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: a factor out of bounds, or value_range not a pair (low, high) with low < high.

    Warns:
        UserWarning: once, when the first training batch has pixels outside
        value_range (the layer placed after ``Normalization``, say), with the fix.

    Example:
        >>> import torch
        >>> RandomContrast(0.2)(torch.ones(2, 4, 4, 3), training=True).shape
        torch.Size([2, 4, 4, 3])
        >>> x = torch.tensor([0.0, 1.0]).reshape(1, 1, 2, 1)  # mean 0.5: ×2 gives −0.5 and 1.5, clipped
        >>> RandomContrast((0.0, 1.0), value_range=(0, 1), seed=0)(x, training=True).amin().item() >= 0.0
        True
    """

    equation = "y = clip((x − μ[n, c])·a_n + μ[n, c], r₀, r₁), a_n ~ U[1 − lower, 1 + upper] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.lower, self.upper = contrast_bounds("RandomContrast", "factor", factor)
        self.value_range = _value_range("RandomContrast", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        warn_once_outside(self, x)  # pixels outside value_range (after Normalization): the clip changes them
        return contrast(x, self._uniform(x.shape[0], 1.0 - self.lower, 1.0 + self.upper, x)).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomSharpness(_Augmentation):
    """Blurs or sharpens each image by a random amount (Keras 3).

    Equation (training; identity at inference), per image n, with
    f_n ~ U[low, high] and the 3 × 3 smoothing of each channel (zero
    padding at the border, as Keras's ``padding="same"``)::

        b[i, j, c] = (Σ_{|di|,|dj| ≤ 1} x[i + di, j + dj, c] + 4·x[i, j, c]) / 13
        y = clip(x + (1 − 2·f_n)·(b − x), r₀, r₁)

    f = 0 gives the blurred image, f = ½ the image itself, f = 1 sharpens.

    Args:
        factor: the range of f: a number f means (0, f), or a pair (low,
            high); within [0, 1].
        value_range: the pixels' range, for the clip (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], or a bad value_range.

    Example:
        >>> import torch
        >>> RandomSharpness((0.5, 0.5))(torch.full((1, 3, 3, 1), 7.0), training=True)[0, 1, 1].tolist()
        [7.0]
    """

    equation = "y = clip(x + (1 − 2·f_n)·(smooth3×3(x) − x), r₀, r₁), f_n ~ U[low, high] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomSharpness", "factor", factor)
        self.value_range = _value_range("RandomSharpness", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[-1]
        f = self._uniform(x.shape[0], self.low, self.high, x)[:, None, None, None]  # (B, 1, 1, 1)
        # Keras's smoothing kernel, 1/13 around and 5/13 in the centre, one 3 × 3 filter per channel, made
        # on the device (host data copied in would be a synchronising copy, which a CUDA graph cannot hold)
        kernel = (F.pad(x.new_full((channels, 1, 1, 1), 4.0), (1, 1, 1, 1)) + 1.0) / 13.0  # (C, 1, 3, 3)
        img = x.permute(0, 3, 1, 2)  # (B, C, H, W)
        blurred = F.conv2d(img, kernel, padding=1, groups=channels).permute(0, 2, 3, 1)  # (B, H, W, C)
        return (x + (1.0 - 2.0 * f) * (blurred - x)).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomErasing(_Augmentation):
    """Erases one random rectangle of each image, with probability ``p``
    (torchvision's RandomErasing, Zhong et al. 2017).

    Equation (training; identity at inference), per image n, with
    probability p: a rectangle R_n of h × w pixels with area fraction
    s ~ U(scale) of H·W and aspect h/w = r, log r ~ U(log ratio),
    h = round(√(s·H·W·r)), w = round(√(s·H·W/r)), placed uniformly::

        y[n, i, j, c] = v_c  if (i, j) ∈ R_n,  else x[n, i, j, c]

    Like torchvision, up to 10 draws of (s, r) are tried per image and the
    first rectangle that fits (h < H and w < W) is used; if none fits the
    image is left unchanged. (Keras 3.8's RandomErasing has different
    arguments: ``factor``, ``scale``, ``fill_value``, ``value_range``.)

    Args:
        p: probability that an image is erased (default 0.5).
        scale: range of the erased area, as a fraction of the image
            (default (0.02, 0.33)).
        ratio: range of the aspect ratio h/w (default (0.3, 3.3)).
        value: the fill: a number (default 0), one number per channel, or
            ``"random"`` (standard normal noise per erased value).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Example:
        >>> import torch
        >>> RandomErasing(p=1.0)(torch.ones(2, 8, 8, 3), training=True).shape
        torch.Size([2, 8, 8, 3])
    """

    equation = "y[n, i, j, c] = v_c if (i, j) ∈ R_n else x[n, i, j, c], with probability p (training only)"
    attempts = 10  # as torchvision

    def __init__(
        self, p: float = 0.5, scale: tuple[float, float] = (0.02, 0.33), ratio: tuple[float, float] = (0.3, 3.3),
        value: float | Sequence[float] | str = 0.0, seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomErasing: expected p in [0, 1], got {p!r}. Fix: RandomErasing(p=0.5).")
        self.p = float(p)
        self.scale = _bounds("RandomErasing", "scale", list(scale) if isinstance(scale, tuple) else scale)
        self.ratio = _bounds("RandomErasing", "ratio", list(ratio) if isinstance(ratio, tuple) else ratio)
        if not isinstance(scale, (tuple, list)) or not 0.0 <= self.scale[0] <= 1.0 or self.scale[1] > 1.0:
            raise ValueError(
                f"RandomErasing: expected scale as a pair (low, high) within [0, 1], got {scale!r}. "
                "Fix: RandomErasing(scale=(0.02, 0.33))."
            )
        if not isinstance(ratio, (tuple, list)) or self.ratio[0] <= 0.0:
            raise ValueError(
                f"RandomErasing: expected ratio as a pair (low, high) of positive numbers, got {ratio!r}. "
                "Fix: RandomErasing(ratio=(0.3, 3.3))."
            )
        if isinstance(value, str):
            if value != "random":
                raise ValueError(
                    f"RandomErasing: expected value to be a number, a list of numbers or 'random', got "
                    f"{value!r}. Fix: RandomErasing(value=0) or RandomErasing(value='random')."
                )
            self.value: float | list[float] | str = value
        elif isinstance(value, (list, tuple)):
            self.value = [float(v) for v in value]
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            self.value = float(value)
        else:
            raise ValueError(
                f"RandomErasing: expected value to be a number, a list of numbers or 'random', got {value!r}. "
                "Fix: RandomErasing(value=0)."
            )

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, height, width, channels = x.shape
        area = height * width
        s = self.scale[0] + (self.scale[1] - self.scale[0]) * self._rand((n, self.attempts), x)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(log_lo + (log_hi - log_lo) * self._rand((n, self.attempts), x))
        h = torch.round(torch.sqrt(s * area * r))  # (B, attempts)
        w = torch.round(torch.sqrt(s * area / r))
        fits = (h < height) & (w < width)
        first = fits.to(torch.int8).argmax(dim=1, keepdim=True)  # the first attempt that fits
        h, w = h.gather(1, first).squeeze(1), w.gather(1, first).squeeze(1)  # (B,)
        erase = fits.any(dim=1) & (self._rand((n,), x) < self.p)
        top = torch.floor(self._rand((n,), x) * (height - h + 1))
        left = torch.floor(self._rand((n,), x) * (width - w + 1))
        rows = torch.arange(height, device=x.device, dtype=x.dtype)
        cols = torch.arange(width, device=x.device, dtype=x.dtype)
        in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])  # (B, H)
        in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # (B, W)
        mask = in_rows[:, :, None] & in_cols[:, None, :] & erase[:, None, None]  # (B, H, W)
        if self.value == "random":
            fill = torch.randn(x.shape, generator=generator_for(self, x), device=x.device, dtype=x.dtype)
        else:
            # filled on the device, not copied from host data (a synchronising copy, which a CUDA graph cannot hold)
            fill = (torch.cat([x.new_full((1,), v) for v in self.value] or [x.new_zeros(0)])
                    if isinstance(self.value, list) else x.new_full((), self.value))  # (C,) or ()
            if fill.dim() == 1 and fill.numel() != channels:
                raise ValueError(
                    f"Layer '{self.name}' (RandomErasing): expected one value per channel ({channels}), got "
                    f"{fill.numel()} values. Fix: value=[...] with {channels} numbers, or one number."
                )
        return torch.where(mask[..., None], fill, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "p": self.p, "scale": list(self.scale), "ratio": list(self.ratio),
                "value": self.value}
