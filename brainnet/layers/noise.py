"""Noise layers, active in training only: GaussianNoise (additive),
GaussianDropout (multiplicative) and AlphaDropout (SELU's dropout). All are the identity at inference
(``predict``, ``evaluate``, ``training=False``) and draw fresh noise for
every training batch, from the layer's own generator when made with
``seed=`` (see ``brainnet/layers/_random.py``), else from torch's.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from ._dropout import refuse_integers
from ._random import check_seed, generator_for
from .base import Layer, shape_str


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
        refuse_integers(self, inputs)
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


# SELU's constants (Klambauer et al., 2017): selu(x) = λ·x for x > 0, λ·α·(eˣ − 1) otherwise
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check_noise_shape(layer: str, noise_shape: Any) -> list[int | None] | None:
    """None, or a list of positive ints and Nones (None: the input's size on that axis)."""
    if noise_shape is None:
        return None
    ok = isinstance(noise_shape, (list, tuple)) and all(
        s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0) for s in noise_shape)
    if not ok:
        raise ValueError(
            f"{layer}: expected noise_shape to be None or a tuple of positive ints and Nones, got {noise_shape!r}. "
            f"Fix: {layer}(0.1, noise_shape=(None, 1, None)) shares one mask across the steps of (batch, time, "
            "features)."
        )
    return [None if s is None else int(s) for s in noise_shape]


class AlphaDropout(_Noise):
    """Dropout for self-normalizing networks (SELU activations): dropped values
    are set to SELU's negative saturation ``α' = −λα`` instead of 0, then an
    affine map restores the mean and variance of the inputs (Klambauer et
    al., 2017), so activations stay at mean 0 and variance 1.

    Equation (training; identity at inference; p = rate)::

        m ~ Bernoulli(1 − p) per value (or per noise_shape, broadcast)
        a = ((1 − p)·(1 + p·α'²))^(−1/2),   b = −a·α'·p,   α' = −λα ≈ −1.7581
        y = a·(x·m + α'·(1 − m)) + b

    For x of mean 0 and variance 1, ``x·m + α'(1 − m)`` has mean ``α'p`` and
    variance ``(1 − p)(1 + p·α'²)``, which ``a`` and ``b`` undo.

    Args:
        rate: p, the fraction of values dropped, in [0, 1).
        noise_shape: None (one draw per value), or one entry per input axis,
            each None (that axis's size) or 1 (one draw shared along it), e.g.
            ``(None, 1, None)`` for one mask per sequence of ``(batch, time, features)``.
        seed: integer for repeatable draws, or None (torch's generator).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: ``rate`` outside [0, 1), a malformed noise_shape, or one
            that does not broadcast to the inputs.

    Example:
        >>> import torch
        >>> y = AlphaDropout(0.1, seed=0)(torch.randn(1000, 64), training=True)
        >>> abs(float(y.mean())) < 0.05 and abs(float(y.std()) - 1) < 0.05
        True
    """

    equation = "y = a·(x·m + α'·(1 − m)) + b, m ~ Bernoulli(1 − rate), α' = −λα (training only)"

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(
                f"AlphaDropout: expected rate in [0, 1), got {rate!r} (rate 1 would drop everything and make "
                "a infinite). Fix: AlphaDropout(0.1); SELU networks use small rates such as 0.05 or 0.1."
            )
        self.rate = float(rate)
        self.noise_shape = _check_noise_shape("AlphaDropout", noise_shape)
        self.noise_scale = math.sqrt(self.rate / (1.0 - self.rate))  # 0 at rate 0: the identity

    def _mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(x.shape)
        shape = tuple(n if s is None else s for s, n in zip(self.noise_shape, x.shape))
        if len(self.noise_shape) != x.dim() or any(s not in (1, n) for s, n in zip(shape, x.shape)):
            raise ValueError(
                f"Layer '{self.name}' (AlphaDropout): expected noise_shape with one entry per axis of the inputs "
                f"{shape_str(x.shape)}, each None, 1 or that axis's size, got noise_shape={self.noise_shape}. "
                f"Fix: noise_shape={(None,) + (1,) * (x.dim() - 2) + (None,)} for one mask per sample and "
                "feature, or noise_shape=None for one draw per value."
            )
        return shape

    def add_noise(self, x: torch.Tensor) -> torch.Tensor:
        u = torch.rand(self._mask_shape(x), generator=generator_for(self, x), device=x.device, dtype=x.dtype)
        keep = (u >= self.rate).to(x.dtype)  # m: 1 kept, 0 dropped
        alpha_p = -_SELU_SCALE * _SELU_ALPHA  # α'
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        return a * (x * keep + alpha_p * (1.0 - keep)) + b

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape}
