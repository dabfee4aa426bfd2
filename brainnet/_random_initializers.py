"""The random initializers: ``RandomNormal``, ``RandomUniform``,
``TruncatedNormal``, ``VarianceScaling`` and its named forms (``GlorotUniform``,
``GlorotNormal``, ``HeNormal``, ``HeUniform``, ``LecunNormal``,
``LecunUniform``), and ``Orthogonal``.

Each takes Keras's ``seed``: an integer repeats the same values at every
call, ``None`` draws from torch's generator (``_Random``). The equations are
on ``brainnet.initializers``, which re-exports these classes and looks them
up by name.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from ._initializer_base import Initializer, Shape, Tensor, _check_2d, _dtype, _number


_TRUNCATION_STD = 0.87962566103423978  # std of N(0, 1) cut at ±2


class _Random(Initializer):
    """An initializer with Keras's ``seed`` (an integer, or None for torch's generator)."""

    elementwise = True

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            name = type(self).__name__
            raise ValueError(
                f"{name}: expected seed to be an integer or None, got {seed!r}. Fix: {name}(seed=42), or "
                "seed=None to draw from torch's generator (set by brainnet.utils.set_random_seed)."
            )
        self.seed = None if seed is None else int(seed)

    def _generator(self) -> torch.Generator | None:
        """A fresh generator at ``seed`` (so every call repeats its values), or None."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(_Random):
    """w ~ N(mean, stddev²).

    Args:
        mean: default 0.0; stddev: default 0.05 (> 0); seed: integer or None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("RandomNormal", "mean", mean, example="mean=0.0, stddev=0.05")
        self.stddev = _number("RandomNormal", "stddev", stddev, positive=True, example="mean=0.0, stddev=0.05")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return torch.empty(shape, dtype=_dtype(dtype)).normal_(self.mean, self.stddev, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Random):
    """w ~ U(minval, maxval).

    Args:
        minval: default -0.05; maxval: default 0.05 (> minval); seed: integer or None.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval = _number("RandomUniform", "minval", minval, example="minval=-0.05, maxval=0.05")
        self.maxval = _number("RandomUniform", "maxval", maxval, example="minval=-0.05, maxval=0.05")
        if self.maxval <= self.minval:
            raise ValueError(
                f"RandomUniform: expected minval < maxval, got minval={minval!r}, maxval={maxval!r}. "
                "Fix: RandomUniform(minval=-0.05, maxval=0.05)."
            )

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        t = torch.empty(shape, dtype=_dtype(dtype))
        return t.uniform_(self.minval, self.maxval, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def _truncated(shape: Shape, mean: float, std: float, dtype: Any, generator: torch.Generator | None) -> Tensor:
    """N(mean, std²) cut at mean ± 2·std (the law of Keras's redrawn values)."""
    t = torch.empty(shape, dtype=_dtype(dtype))
    return torch.nn.init.trunc_normal_(t, mean, std, mean - 2 * std, mean + 2 * std, generator=generator)


class TruncatedNormal(_Random):
    """N(mean, stddev²) with values beyond mean ± 2·stddev drawn again
    (their spread is then about 0.88·stddev).

    Args:
        mean: default 0.0; stddev: default 0.05 (> 0); seed: integer or None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("TruncatedNormal", "mean", mean, example="mean=0.0, stddev=0.05")
        self.stddev = _number("TruncatedNormal", "stddev", stddev, positive=True, example="mean=0.0, stddev=0.05")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return _truncated(shape, self.mean, self.stddev, dtype, self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Random):
    """Values of variance scale/n, n from the weight's fans (see the module's docstring).

    Args:
        scale: > 0 (default 1.0).
        mode: ``"fan_in"`` (default), ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"`` (default; ``"normal"`` is taken
            for it, as Keras), ``"untruncated_normal"`` or ``"uniform"``.
        seed: integer or None.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.scale = _number("VarianceScaling", "scale", scale, positive=True, example="scale=2.0")
        if mode not in _MODES:
            raise ValueError(
                f"VarianceScaling: expected mode among {', '.join(map(repr, _MODES))}, got {mode!r}. "
                "Fix: VarianceScaling(mode='fan_in') (He and LeCun) or mode='fan_avg' (Glorot)."
            )
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in _DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling: expected distribution among {', '.join(map(repr, _DISTRIBUTIONS))}, got "
                f"{distribution!r}. Fix: VarianceScaling(distribution='truncated_normal') or 'uniform'."
            )
        self.mode, self.distribution = mode, dist

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        fan_in, fan_out = fans
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated(shape, 0.0, math.sqrt(variance) / _TRUNCATION_STD, dtype, self._generator())
        t = torch.empty(shape, dtype=_dtype(dtype))
        if self.distribution == "untruncated_normal":
            return t.normal_(0.0, math.sqrt(variance), generator=self._generator())
        limit = math.sqrt(3.0 * variance)
        return t.uniform_(-limit, limit, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _Named(VarianceScaling):
    """A VarianceScaling whose only argument is the seed."""

    settings: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self.settings, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_Named):
    """U(−l, l), l = √(6 / (fan_in + fan_out)) (Xavier; Keras's default kernel)."""

    settings = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Named):
    """Truncated normal of variance 2 / (fan_in + fan_out)."""

    settings = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Named):
    """Truncated normal of variance 2 / fan_in (He et al. 2015, for ReLU)."""

    settings = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Named):
    """U(−l, l), l = √(6 / fan_in)."""

    settings = (2.0, "fan_in", "uniform")


class LecunNormal(_Named):
    """Truncated normal of variance 1 / fan_in (for SELU)."""

    settings = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Named):
    """U(−l, l), l = √(3 / fan_in)."""

    settings = (1.0, "fan_in", "uniform")


class Orthogonal(_Random):
    """An orthogonal matrix (times ``gain``): shape flattened to
    (Π shape[:-1], shape[-1]); orthonormal columns, or rows when there are
    fewer rows than columns (Keras's recurrent kernels).

    Args:
        gain: factor (default 1.0); seed: integer or None.
    """

    elementwise = False

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = _number("Orthogonal", "gain", gain, example="gain=1.0")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        _check_2d("Orthogonal", shape, "at least",
                  "use Orthogonal on kernels (matrices or convolution kernels), 'zeros' for biases")
        flat = torch.empty(math.prod(shape[:-1]), shape[-1], dtype=_dtype(dtype))
        return torch.nn.init.orthogonal_(flat, gain=self.gain, generator=self._generator()).reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}
