"""Noise layers, active in training only: GaussianNoise (additive) and
GaussianDropout (multiplicative). Both are the identity at inference
(``predict``, ``evaluate``, ``training=False``) and draw fresh noise for
every training batch, from the layer's own generator when made with
``seed=`` (see ``brainnet/layers/_random.py``), else from torch's.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from ._random import check_seed, generator_for
from .base import Layer


def _normal(layer: Any, like: torch.Tensor) -> torch.Tensor:
    """z ~ N(0, 1) shaped, typed and placed like ``like``."""
    return torch.randn(like.shape, generator=generator_for(layer, like), device=like.device, dtype=like.dtype)


class _Noise(Layer):
    """Shared: a seed, the identity at inference, floating inputs in training."""

    supports_masking = True
    noise_scale = 0.0  # σ of the noise; 0 makes the layer the identity

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = check_seed(type(self).__name__, seed)
        self._generator: torch.Generator | None = None

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training or self.noise_scale == 0.0:
            return inputs
        if not inputs.is_floating_point():
            raise TypeError(
                f"Layer '{self.name}' ({type(self).__name__}): expected floating-point inputs, got "
                f"{inputs.dtype}. Fix: x = x.astype('float32'), or put the layer after one that makes floats."
            )
        return self.add_noise(inputs)

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise during training (a regulariser, or
    augmentation for real-valued inputs).

    Equation (training; identity at inference)::

        y = x + σ·z,   z ~ N(0, 1) drawn per value

    Args:
        stddev: σ ≥ 0, the noise's standard deviation (Keras allows [0, 1];
            brainnet any σ ≥ 0).
        seed: integer for repeatable draws, or None (torch's generator).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: ``stddev`` is not a finite number ≥ 0.

    Example:
        >>> import torch
        >>> GaussianNoise(0.1, seed=0)(torch.ones(2, 3), training=True).shape
        torch.Size([2, 3])
    """

    equation = "y = x + σ·z, z ~ N(0, 1) (training only)"

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or not 0 <= stddev < math.inf:
            raise ValueError(
                f"GaussianNoise: expected stddev to be a number ≥ 0, got {stddev!r}. Fix: GaussianNoise(0.1)."
            )
        self.stddev = float(stddev)
        self.noise_scale = self.stddev

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.stddev * _normal(self, x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """Multiplies by 1-centred Gaussian noise during training: dropout's mean and
    variance without zeros (Srivastava et al., 2014).

    Equation (training; identity at inference)::

        y = x · n,   n ~ N(1, rate/(1 − rate)) drawn per value

    (standard deviation √(rate/(1 − rate)), the same as that of Dropout's
    mask m/(1 − rate)).

    Args:
        rate: in [0, 1), as Dropout's rate.
        seed: integer for repeatable draws, or None (torch's generator).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: ``rate`` is not in [0, 1).

    Example:
        >>> import torch
        >>> GaussianDropout(0.2, seed=0)(torch.ones(2, 3), training=True).shape
        torch.Size([2, 3])
    """

    equation = "y = x·n, n ~ N(1, rate/(1 − rate)) (training only)"

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(
                f"GaussianDropout: expected rate in [0, 1), got {rate!r} (rate 1 would make the noise's "
                "variance infinite). Fix: GaussianDropout(0.2)."
            )
        self.rate = float(rate)
        self.noise_scale = math.sqrt(self.rate / (1.0 - self.rate))

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        return x * (1.0 + self.noise_scale * _normal(self, x))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
