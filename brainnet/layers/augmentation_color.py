"""Tone augmentation layers of Keras 3: RandomInvert, Solarization,
RandomPosterization, RandomGrayscale, RandomColorDegeneration, and the
AutoContrast preprocessing layer. Images are ``(batch, height, width, channels)`` with values in
``value_range`` (default (0, 255); (0, 1) after ``Rescaling(1/255)``).

The random layers are the identity at inference and draw their parameters
per image in training, repeatably with ``seed=`` (see ``_augmentation.py``).
Where Keras works on the 0–255 scale (Solarization, RandomPosterization,
AutoContrast), the values are mapped linearly from ``value_range`` onto
[0, 255] and back: x̂ = 255·(x − r₀)/(r₁ − r₀).
"""

from __future__ import annotations

import numbers
from typing import Any

import torch

from ._augmentation import (IMAGES_RANK_FIX, _Augmentation, _factor_config, _from_255, _to_255, _unit_range,
                            _value_range)
from .base import Layer

# ITU-R BT.601 luma weights, as tf.image.rgb_to_grayscale and Keras.
_GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)


class RandomInvert(_Augmentation):
    """Inverts the colours of each image with a random probability (Keras 3).

    Equation (training; identity at inference), per image n, with
    p_n ~ U[low, high] and u_n ~ U[0, 1)::

        y[n] = r₁ − x[n]   if u_n < p_n,   else x[n]

    (r₁ is the top of ``value_range``, as Keras: the inversion is r₁ − x, not
    r₀ + r₁ − x.)

    Args:
        factor: the range of p: a number f means (0, f), or a pair (low, high);
            within [0, 1] (default 1.0, so each image is inverted with
            probability ½ on average).
        value_range: the pixels' range (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], or a value_range that is not (low, high) with low < high.

    Example:
        >>> import torch
        >>> RandomInvert(factor=(1.0, 1.0))(torch.full((1, 2, 2, 1), 55.0), training=True)[0, 0, 0].tolist()
        [200.0]
    """

    equation = "y = r₁ − x with probability p_n ~ U[low, high], else x (training only)"

    def __init__(self, factor: float | tuple[float, float] = 1.0, value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomInvert", "factor", factor)
        self.value_range = _value_range("RandomInvert", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        p = self._uniform(x.shape[0], self.low, self.high, x)
        apply = (self._rand((x.shape[0],), x) < p)[:, None, None, None]  # (B, 1, 1, 1)
        return torch.where(apply, self.value_range[1] - x, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class Solarization(_Augmentation):
    """Adds a random offset to each image, then inverts the values above a
    random threshold (Keras 3; AutoAugment's solarize).

    Equation (training; identity at inference), per image n, on the 0–255
    scale x̂, with a_n ~ 255·U[addition low, high] and t_n ~ 255·U[threshold
    low, high]::

        s = clip(x̂ + a_n, 0, 255)
        ŷ = s  if s < t_n,  else 255 − s

    mapped back to ``value_range``. With the defaults (no addition, threshold
    0) every value is inverted: y = r₀ + r₁ − x.

    Args:
        addition_factor: the range of a/255: a number f means (0, f), or a
            pair; within [0, 1] (default 0.0).
        threshold_factor: the range of t/255, likewise (default 0.0).
        value_range: the pixels' range (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: a factor outside [0, 1], or a bad value_range.

    Example:
        >>> import torch
        >>> Solarization(value_range=(0, 1))(torch.full((1, 2, 2, 1), 0.25), training=True)[0, 0, 0].tolist()
        [0.75]
    """

    equation = "s = clip(x̂ + a_n, 0, 255); ŷ = s if s < t_n else 255 − s (training only)"

    def __init__(self, addition_factor: float | tuple[float, float] = 0.0,
                 threshold_factor: float | tuple[float, float] = 0.0, value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.addition_bounds = _unit_range("Solarization", "addition_factor", addition_factor)
        self.threshold_bounds = _unit_range("Solarization", "threshold_factor", threshold_factor)
        self.value_range = _value_range("Solarization", value_range)
        self.addition_factor = _factor_config(addition_factor)
        self.threshold_factor = _factor_config(threshold_factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        a = 255.0 * self._uniform(n, *self.addition_bounds, x)[:, None, None, None]  # (B, 1, 1, 1)
        t = 255.0 * self._uniform(n, *self.threshold_bounds, x)[:, None, None, None]
        s = (_to_255(x, self.value_range) + a).clamp(0.0, 255.0)
        return _from_255(torch.where(s < t, s, 255.0 - s), self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor, "value_range": list(self.value_range)}


class RandomPosterization(_Augmentation):
    """Keeps only the top b bits of each 8-bit value, b drawn per image
    (Keras 3; AutoAugment's posterize).

    Equation (training; identity at inference), per image n, on the 0–255
    scale x̂ (clipped to [0, 255]), with b_n uniform in {low, …, high} and
    s_n = 8 − b_n::

        ŷ = ⌊⌊x̂⌋ / 2^s_n⌋ · 2^s_n

    mapped back to ``value_range``.

    Args:
        factor: the number of bits to keep: an integer f in [1, 8] means
            {1, …, f}, a pair (low, high) means {low, …, high}.
        value_range: the pixels' range (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: factor not an integer (or pair of integers) within [1, 8], or a bad value_range.

    Example:
        >>> import torch
        >>> RandomPosterization((2, 2))(torch.full((1, 2, 2, 1), 200.0), training=True)[0, 0, 0].tolist()
        [192.0]
    """

    equation = "ŷ = ⌊⌊x̂⌋ / 2^(8 − b_n)⌋ · 2^(8 − b_n), b_n ~ U{low, …, high} (training only)"

    def __init__(self, factor: int | tuple[int, int], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        pair = factor if isinstance(factor, (tuple, list)) else (1, factor)
        if not (len(pair) == 2 and all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in pair)
                and 1 <= pair[0] <= pair[1] <= 8):
            raise ValueError(
                f"RandomPosterization: expected factor to be the number of bits to keep, an integer in [1, 8] or "
                f"a pair (low, high) of them, got {factor!r}. Fix: RandomPosterization(4) or "
                "RandomPosterization((4, 6))."
            )
        self.low, self.high = int(pair[0]), int(pair[1])
        self.value_range = _value_range("RandomPosterization", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        u = self._rand((x.shape[0],), x)
        bits = (self.low + u * (self.high - self.low + 1)).floor().clamp(max=self.high)  # (B,)
        step = torch.pow(2.0, 8.0 - bits)[:, None, None, None]  # 2^s, (B, 1, 1, 1)
        pixels = _to_255(x, self.value_range).clamp(0.0, 255.0).floor()
        return _from_255(torch.floor(pixels / step) * step, self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


def _channels_first_fix(x: torch.Tensor, otherwise: str) -> str:
    """The fix for images of the wrong channel count: channels last when they look channels-first
    ((N, 3, H, W) or (N, 1, H, W), as torchvision gives them: more than 4 "channels" last), else ``otherwise``."""
    if x.shape[1] in (1, 3) and x.shape[-1] > 4:
        return ("the channels come first; brainnet's images are (batch, height, width, channels): "
                "x.permute(0, 2, 3, 1) (NumPy: x.transpose(0, 2, 3, 1)).")
    return otherwise


def _check_rgb(layer: Layer, x: torch.Tensor) -> None:
    if x.shape[-1] != 3:
        fix = _channels_first_fix(x, "use it on colour images only, or repeat a gray channel with "
                                     "x.repeat(1, 1, 1, 3) (NumPy: np.repeat(x, 3, axis=-1)).")
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected RGB images with 3 channels, got "
            f"{x.shape[-1]} channel(s) in shape {tuple(x.shape)}. Fix: {fix}"
        )


def _grayscale(layer: Layer, x: torch.Tensor) -> torch.Tensor:
    """The luma of RGB images, ``(B, H, W, 3)`` → ``(B, H, W, 1)``."""
    _check_rgb(layer, x)
    (wr, wg, wb), (r, g, b) = _GRAY_WEIGHTS, x.unbind(-1)  # weights as numbers: no host data in a CUDA graph
    return (wr * r + wg * g + wb * b)[..., None]  # (B, H, W, 1)


class RandomGrayscale(_Augmentation):
    """Turns each RGB image gray with probability ``factor`` (Keras 3),
    keeping its three channels.

    Equation (training; identity at inference), per image n, with
    u_n ~ U[0, 1)::

        y[n, i, j, c] = 0.2989·R + 0.5870·G + 0.1140·B  (for each c)   if u_n < factor
        y[n] = x[n]                                                       otherwise

    Args:
        factor: the probability that an image turns gray, in [0, 1] (default 0.5).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, 3)``. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1]; images without 3 channels (at call).

    Example:
        >>> import torch
        >>> y = RandomGrayscale(1.0)(torch.tensor([[[[100.0, 200.0, 50.0]]]]), training=True)
        >>> [round(v, 2) for v in y.flatten().tolist()]
        [152.99, 152.99, 152.99]
    """

    equation = "y = (0.2989·R + 0.5870·G + 0.1140·B) in every channel with probability factor (training only)"

    def __init__(self, factor: float = 0.5, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0.0 <= factor <= 1.0:
            raise ValueError(
                f"RandomGrayscale: expected factor to be a probability in [0, 1], got {factor!r}. "
                "Fix: RandomGrayscale(0.2) (one image in five turns gray)."
            )
        self.factor = float(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        gray = _grayscale(self, x)  # (B, H, W, 1)
        apply = (self._rand((x.shape[0],), x) < self.factor)[:, None, None, None]  # (B, 1, 1, 1)
        return torch.where(apply, gray.expand_as(x), x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomColorDegeneration(_Augmentation):
    """Dulls the colours of each image by blending it with its own grayscale
    version, by a random amount per image (Keras 3; AutoAugment's colour).

    Equation (training; identity at inference), per image n, with
    f_n ~ U[low, high] and g = 0.2989·R + 0.5870·G + 0.1140·B (the image
    itself when it has one channel)::

        y[n] = clip(x[n] + f_n·(g[n] − x[n]), r₀, r₁)

    f = 0 keeps the image, f = 1 gives its grayscale version in every channel.

    Args:
        factor: the range of f: a number f means (0, f), or a pair (low, high);
            within [0, 1]. ``(0.5, 0.5)`` always blends halfway.
        value_range: the pixels' range, which the result is clipped to
            (default (0, 255)).
        seed: integer for repeatable draws, or None.

    Input shape: ``(batch, height, width, channels)`` with 3 (RGB) or 1
    channel. Output shape: same.

    Raises:
        ValueError: factor outside [0, 1], a bad value_range; images with
            neither 3 nor 1 channel (at call).

    Example:
        >>> import torch
        >>> layer = RandomColorDegeneration((0.5, 0.5))
        >>> [round(v, 1) for v in layer(torch.tensor([[[[100.0, 200.0, 50.0]]]]), training=True).flatten().tolist()]
        [126.5, 176.5, 101.5]
    """

    equation = "y = clip(x + f_n·(gray(x) − x), r₀, r₁), f_n ~ U[low, high] (training only)"

    def __init__(self, factor: float | tuple[float, float], value_range: tuple[float, float] = (0, 255),
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.low, self.high = _unit_range("RandomColorDegeneration", "factor", factor)
        self.value_range = _value_range("RandomColorDegeneration", value_range)
        self.factor = _factor_config(factor)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] not in (1, 3):
            raise ValueError(
                f"Layer '{self.name}' (RandomColorDegeneration): expected RGB images with 3 channels (or gray "
                f"ones with 1), got {x.shape[-1]} channels in shape {tuple(x.shape)}. Fix: "
                f"{_channels_first_fix(x, 'use it on RGB or one-channel images only.')}"
            )
        f = self._uniform(x.shape[0], self.low, self.high, x)[:, None, None, None]  # (B, 1, 1, 1)
        gray = x if x.shape[-1] == 1 else _grayscale(self, x)  # (B, H, W, 1)
        return (x + f * (gray - x)).clamp(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class AutoContrast(Layer):
    """Stretches each channel of each image to span the whole value range
    (Keras 3). Active in training and at inference, as Keras.

    Equation, per image n and channel c, with lo = min_{i,j} x[n, :, :, c]
    and hi = max_{i,j} x[n, :, :, c]::

        y[n, i, j, c] = r₀ + (r₁ − r₀)·clip((x[n, i, j, c] − lo) / (hi − lo), 0, 1)

    A constant channel (hi = lo) is left as it is.

    Args:
        value_range: the pixels' range (default (0, 255)).

    Input shape: ``(batch, height, width, channels)``. Output shape: same.

    Raises:
        ValueError: a value_range that is not (low, high) with low < high.

    Example:
        >>> import torch
        >>> AutoContrast()(torch.tensor([[[[10.0], [20.0]]]])).flatten().tolist()
        [0.0, 255.0]
    """

    equation = "y = r₀ + (r₁ − r₀)·clip((x − min_ij x)/(max_ij x − min_ij x), 0, 1), per image and channel"
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"
    rank_fix = IMAGES_RANK_FIX

    def __init__(self, value_range: tuple[float, float] = (0, 255), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.value_range = _value_range("AutoContrast", value_range)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs if inputs.is_floating_point() else inputs.to(torch.get_default_dtype())
        low, high = self.value_range
        lo = x.amin(dim=(1, 2), keepdim=True)  # (B, 1, 1, C)
        hi = x.amax(dim=(1, 2), keepdim=True)
        spread = hi - lo
        stretched = low + (high - low) * ((x - lo) / torch.where(spread > 0, spread, 1.0)).clamp(0.0, 1.0)
        return torch.where(spread > 0, stretched, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value_range": list(self.value_range)}
