"""What the augmentation layers share: the training-only base class and the
checks of their arguments.

Each augmentation layer is the identity at inference (``model.predict``,
``evaluate``, ``training=False``) and, during training, draws its own random
parameters for every image of the batch and transforms the whole batch in
one call on the batch's device. ``seed=`` makes the sequence of draws
repeatable (a layer with a seed owns a ``torch.Generator``; without one it
uses torch's global random state). Images are ``(batch, height, width,
channels)``.

The layers themselves live by family: geometric ones in ``augmentation.py``,
contrast, sharpness and erasing in ``augmentation_intensity.py``,
inversion, solarization, posterization and grayscale in
``augmentation_color.py``, saturation, hue and colour jitter in
``augmentation_hsv.py``, MixUp and CutMix in ``augmentation_mixing.py``,
shears, perspective and elastic distortions in ``augmentation_warp.py``,
the Gaussian blur in ``augmentation_filter.py``, and the policies that
compose them (Pipeline, RandAugment, AugMix) in ``augmentation_policies.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Sequence

import torch

from ._random import check_seed, generator_for
from .base import Layer


def _bounds(layer: str, arg: str, factor: Any, symmetric: bool = True) -> tuple[float, float]:
    """Keras's factor: a number f means (−f, f) (or (f, f) when not
    ``symmetric``), a pair (low, high) is taken as given."""
    if isinstance(factor, numbers.Real) and not isinstance(factor, bool):
        low, high = (-float(factor), float(factor)) if symmetric else (float(factor), float(factor))
    elif isinstance(factor, (tuple, list)) and len(factor) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in factor
    ):
        low, high = float(factor[0]), float(factor[1])
    else:
        raise ValueError(
            f"{layer}: expected {arg} to be a number or a pair (low, high), got {factor!r}. "
            f"Fix: {layer}({arg}=0.1) or {layer}({arg}=(-0.1, 0.2))."
        )
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        if symmetric and isinstance(factor, numbers.Real) and -math.inf < factor < 0:  # (−f, f) the wrong way round
            raise ValueError(
                f"{layer}: expected {arg} with low ≤ high (a number f means (−f, f), so f ≥ 0), got {factor!r}. "
                f"Fix: {layer}({arg}={-factor!r}), which draws from ({factor!r}, {-factor!r})."
            )
        raise ValueError(
            f"{layer}: expected {arg} with low ≤ high, got {factor!r}. Fix: {layer}({arg}=(-0.1, 0.2))."
        )
    return low, high


def _choice(layer: str, arg: str, value: Any, allowed: Sequence[str], fix: str) -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(
            f"{layer}: expected {arg} to be one of {', '.join(repr(a) for a in allowed)}, got {value!r}. {fix}"
        )
    return value.lower()


# The fix for images of the wrong rank: Keras also takes one unbatched image, brainnet batches only (docs/keras.md).
IMAGES_RANK_FIX = ("give a batch of images: one image (height, width, channels) is x[None], one-channel images "
                   "(batch, height, width) are x[..., None],")


class _Augmentation(Layer):
    """Identity at inference; ``augment(x)`` on each training batch."""

    _augments_when_left_out = True  # layer(x) alone augments, as Keras's call(..., training=True)

    input_rank = 4
    rank_hint = "(batch, height, width, channels)"
    rank_fix = IMAGES_RANK_FIX

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = check_seed(type(self).__name__, seed)
        self._generator: torch.Generator | None = None

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not inputs.is_floating_point():  # uint8 (or int, bool) pixels: float32, values kept, as Keras 3 casts
            inputs = inputs.to(torch.get_default_dtype())
        if not training:
            return inputs
        return self.augment(inputs)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _rand(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """U[0, 1) of ``shape`` on ``like``'s device, from the layer's generator."""
        return torch.rand(shape, generator=generator_for(self, like), device=like.device, dtype=like.dtype)

    def _uniform(self, n: int, low: float, high: float, like: torch.Tensor) -> torch.Tensor:
        return low + (high - low) * self._rand((n,), like)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}



def _factor_config(factor: Any) -> Any:
    return list(factor) if isinstance(factor, (tuple, list)) else factor



def _unit_range(layer: str, arg: str, factor: Any) -> tuple[float, float]:
    """Keras's factor of a probability or a fraction: a number f means (0, f),
    a pair (low, high) is taken as given; both ends within [0, 1]."""
    low, high = _bounds(layer, arg, factor, symmetric=False)
    if not isinstance(factor, (tuple, list)):
        low = 0.0
    if low < 0.0 or high < low or high > 1.0:  # a negative number f would otherwise give (0, f)
        raise ValueError(
            f"{layer}: expected {arg} within [0, 1] (a number f means (0, f)), got {factor!r}. "
            f"Fix: {layer}({arg}=0.5) or {layer}({arg}=(0.2, 0.8))."
        )
    return low, high


def _value_range(layer: str, value_range: Any) -> tuple[float, float]:
    """The images' value range (low, high), checked."""
    if not (isinstance(value_range, (tuple, list)) and len(value_range) == 2
            and all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value_range)
            and value_range[0] < value_range[1]):
        raise ValueError(
            f"{layer}: expected value_range as a pair (low, high) with low < high, got {value_range!r}. "
            "Fix: value_range=(0, 255) for raw pixels, (0, 1) after Rescaling(1/255)."
        )
    return float(value_range[0]), float(value_range[1])


def _to_255(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Values in ``value_range`` mapped linearly onto [0, 255] (unchanged when
    the range is already (0, 255), so integer pixels stay exact)."""
    low, high = value_range
    return x if (low, high) == (0.0, 255.0) else (x - low) / (high - low) * 255.0


def _from_255(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """The inverse of ``_to_255``."""
    low, high = value_range
    return x if (low, high) == (0.0, 255.0) else x / 255.0 * (high - low) + low
