"""Colour augmentation layers of Keras 3 that work in HSV (hue, saturation,
value): RandomSaturation, RandomHue, and RandomColorJitter, which chains
brightness, contrast, saturation and hue. Images are RGB,
``(batch, height, width, 3)``, with values in ``value_range``; identity at
inference, drawn per image in training, repeatable with ``seed=`` (see
``_augmentation.py``).

HSV is the hexcone model: with M = max(R, G, B), m = min(R, G, B),
C = M − m, V = M, S = C / M (0 when M = 0) and the hue H in turns [0, 1)::

    H = ((G − B)/C mod 6)/6  if M = R;  ((B − R)/C + 2)/6  if M = G;  ((R − G)/C + 4)/6  if M = B;  0 if C = 0

and back, for k = 5, 3, 1 (R, G, B): ``V − V·S·clip(min(t, 4 − t), 0, 1)``
with t = (k + 6H) mod 6.
"""

from __future__ import annotations

from typing import Any

import torch

from ._augmentation import _Augmentation, _factor_config, _unit_range, _value_range
from .augmentation_color import _check_rgb
from .augmentation_intensity import contrast, contrast_bounds
from .image_preprocessing import brighten, brightness_bounds


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(…, 3) RGB → (…, 3) HSV, hue in turns [0, 1); V on the input's scale."""
    r, g, b = x.unbind(-1)
    v, m = x.amax(-1), x.amin(-1)
    c = v - m
    safe_c = torch.where(c > 0, c, 1.0)
    s = torch.where(v > 0, c / torch.where(v > 0, v, 1.0), 0.0)
    h = torch.where(v == r, torch.remainder((g - b) / safe_c, 6.0),
                    torch.where(v == g, (b - r) / safe_c + 2.0, (r - g) / safe_c + 4.0)) / 6.0
    return torch.stack([torch.where(c > 0, h, 0.0), s, v], dim=-1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """(…, 3) HSV (hue in turns) → (…, 3) RGB."""
    h, s, v = hsv.unbind(-1)
    k = torch.arange(5.0, 0.0, -2.0, dtype=hsv.dtype, device=hsv.device)  # (5, 3, 1) for R, G, B, made on the device
    t = torch.remainder(k + 6.0 * h[..., None], 6.0)  # (…, 3)
    ramp = torch.minimum(t, 4.0 - t).clamp(0.0, 1.0)
    return v[..., None] - v[..., None] * s[..., None] * ramp


def saturate(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Scales the saturation of each image by u/(1 − u) (u of shape (B,)), clipped to [0, 1]."""
    hsv = rgb_to_hsv(x)
    scale = (u / (1.0 - u).clamp_min(1e-12))[:, None, None]  # (B, 1, 1); u = 1: every colour fully saturated
    s = (hsv[..., 1] * scale).clamp(0.0, 1.0)
    return hsv_to_rgb(torch.stack([hsv[..., 0], s, hsv[..., 2]], dim=-1))


def shift_hue(x: torch.Tensor, delta: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Turns the hue of each image by delta (turns, shape (B,)), on the [0, 1] scale, clipped."""
    low, high = value_range
    hsv = rgb_to_hsv((x - low) / (high - low))
    h = torch.remainder(hsv[..., 0] + delta[:, None, None], 1.0)
    rgb = hsv_to_rgb(torch.stack([h, hsv[..., 1], hsv[..., 2]], dim=-1)).clamp(0.0, 1.0)
    return rgb * (high - low) + low


def _hue_delta(layer: _Augmentation, n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
    """Keras's hue turn: ± U[low, high] / 2, each sign with probability ½."""
    sign = torch.where(layer._rand((n,), like) > 0.5, -1.0, 1.0)
    return sign * layer._uniform(n, low, high, like) / 2.0


class RandomSaturation(_Augmentation):
    """Scales the saturation of each RGB image by a random amount (Keras 3).

    Equation (training; identity at inference), per image n, with
    u_n ~ U[low, high] and HSV as in the module's docstring::

        S' = clip(S · u_n / (1 − u_n), 0, 1),   y = RGB(H, S', V)

    u = 0 turns the image gray, u = ½ leaves it as it is, u = 1 saturates it
    fully (S' = 1 wherever S > 0).

    Args:
        factor: the range of u: a number f means (0, f), or a pair (low,
            high); within [0, 1].
        value_range: the pixels' range (default (0, 255); HSV's S does not
            depend on it).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, 3)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], a bad value_range; images without 3 channels (at call).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[[200.0, 100.0, 50.0]]]])
        >>> RandomSaturation((0.0, 0.0))(x, training=True).flatten().tolist()
        [200.0, 200.0, 200.0]
    """

    equation = "S' = clip(S·u_n/(1 − u_n), 0, 1) in HSV, u_n ~ U[low, high] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomSaturation", "factor", factor)
        self.value_range = _value_range("RandomSaturation", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        _check_rgb(self, x)
        return saturate(x, self._uniform(x.shape[0], self.low, self.high, x))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomHue(_Augmentation):
    """Turns the hue of each RGB image by a random angle (Keras 3).

    Equation (training; identity at inference), per image n, with
    x̃ = (x − r₀)/(r₁ − r₀) on [0, 1], a_n ~ U[low, high] and a sign
    σ_n = ±1 (each with probability ½)::

        H' = (H + σ_n · a_n / 2) mod 1,   y = r₀ + (r₁ − r₀)·clip(RGB(H', S, V), 0, 1)

    so ``factor=1`` turns the hue by up to half a turn either way.

    Args:
        factor: the range of a: a number f means (0, f), or a pair (low,
            high); within [0, 1].
        value_range: the pixels' range, required as in Keras (e.g. (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, 3)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], a bad value_range; images without 3 channels (at call).

    Example:
        >>> import torch
        >>> x = torch.tensor([[[[1.0, 0.0, 0.0]]]])
        >>> y = RandomHue((2 / 3, 2 / 3), value_range=(0, 1), seed=0)(x, training=True)
        >>> [round(v, 4) for v in y.flatten().tolist()] in ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0])  # a third of a turn
        True
    """

    equation = "H' = (H ± a_n/2) mod 1 in HSV on [0, 1], a_n ~ U[low, high] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float],
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomHue", "factor", factor)
        self.value_range = _value_range("RandomHue", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        _check_rgb(self, x)
        return shift_hue(x, _hue_delta(self, x.shape[0], self.low, self.high, x), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomColorJitter(_Augmentation):
    """Changes brightness, contrast, saturation and hue of each RGB image by
    random amounts, in that order (Keras 3); a step whose factor is None is
    skipped.

    Equation (training; identity at inference), per image n, with
    value_range (r₀, r₁) and independent draws::

        brightness: x ← clip(x + b_n·(r₁ − r₀), r₀, r₁),           b_n ~ U[b_low, b_high]
        contrast:   x ← clip((x − μ[n, c])·a_n + μ[n, c], r₀, r₁),   a_n ~ U[1 − lower, 1 + upper]
        saturation: S ← clip(S·u_n/(1 − u_n), 0, 1),                 u_n ~ U[s_low, s_high]
        hue:        H ← (H ± h_n/2) mod 1, clipped to the range,     h_n ~ U[h_low, h_high]

    (μ[n, c]: the channel's mean over the image; each step as RandomBrightness,
    RandomContrast, RandomSaturation and RandomHue, with the contrast clipped
    to the value range as later Keras versions do.)

    Args:
        value_range: the pixels' range (default (0, 255)).
        brightness_factor: as RandomBrightness's factor (a number f means
            (−f, f), within [−1, 1]), or None (default).
        contrast_factor: as RandomContrast's factor (a number f means
            lower = upper = f), or None (default).
        saturation_factor: as RandomSaturation's factor, or None (default).
        hue_factor: as RandomHue's factor, or None (default).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, 3)``. Output shape: same.

    Raises:
        ValueError: a factor out of its range, a bad value_range; images
            without 3 channels when saturation or hue is set (at call).

    Example:
        >>> import torch
        >>> jitter = RandomColorJitter(brightness_factor=0.2, contrast_factor=0.2, saturation_factor=(0.3, 0.7),
        ...                            hue_factor=0.1, seed=0)
        >>> jitter(torch.full((2, 4, 4, 3), 100.0), training=True).shape
        torch.Size([2, 4, 4, 3])
    """

    equation = "brightness, contrast, saturation, hue in turn, each drawn per image (training only)"

    def __init__(
        self, value_range: tuple[float, float] = (0, 255), brightness_factor: float | tuple[float, float] | None = None,
        contrast_factor: float | tuple[float, float] | None = None,
        saturation_factor: float | tuple[float, float] | None = None,
        hue_factor: float | tuple[float, float] | None = None, seed: int | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(seed=seed, **kwargs)
        self.value_range = _value_range("RandomColorJitter", value_range)
        self.brightness = None if brightness_factor is None else brightness_bounds(
            "RandomColorJitter", "brightness_factor", brightness_factor)
        lower, upper = (0.0, 0.0) if contrast_factor is None else contrast_bounds(
            "RandomColorJitter", "contrast_factor", contrast_factor)
        self.contrast = None if contrast_factor is None else (1.0 - lower, 1.0 + upper)
        self.saturation = None if saturation_factor is None else _unit_range(
            "RandomColorJitter", "saturation_factor", saturation_factor)
        self.hue = None if hue_factor is None else _unit_range("RandomColorJitter", "hue_factor", hue_factor)
        self.brightness_factor, self.contrast_factor = _config(brightness_factor), _config(contrast_factor)
        self.saturation_factor, self.hue_factor = _config(saturation_factor), _config(hue_factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n, (low, high) = x.shape[0], self.value_range
        if self.saturation is not None or self.hue is not None:
            _check_rgb(self, x)
        if self.brightness is not None:
            x = brighten(x, self._uniform(n, *self.brightness, x), self.value_range)
        if self.contrast is not None:
            x = contrast(x, self._uniform(n, *self.contrast, x)).clamp(low, high)
        if self.saturation is not None:
            x = saturate(x, self._uniform(n, *self.saturation, x))
        if self.hue is not None:
            x = shift_hue(x, _hue_delta(self, n, *self.hue, x), self.value_range)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": list(self.value_range),
                "brightness_factor": self.brightness_factor, "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor}


def _config(factor: Any) -> Any:
    return None if factor is None else _factor_config(factor)


