"""What every initializer is: the ``Initializer`` base class
(``init(shape, dtype=None)``), Keras's fans of a weight shape
(``compute_fans``), and the checks of arguments and shapes the initializers
share. ``brainnet.initializers`` re-exports ``Initializer`` and
``compute_fans``; the random initializers are in ``_random_initializers.py``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


Tensor = torch.Tensor
Shape = tuple


def compute_fans(shape: Shape) -> tuple[int, int]:
    """Keras's ``(fan_in, fan_out)`` of a weight shape: ``(1, 1)`` for a scalar,
    ``(n, n)`` for ``(n,)``, ``(in, out)`` for a matrix, and for a kernel
    ``(..., in, out)`` both times the product of the leading (window) sizes."""
    shape = tuple(int(d) for d in shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def _number(cls: str, arg: str, value: Any, *, positive: bool = False, example: str = "") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        want = "a number > 0" if positive else "a finite number"
        raise ValueError(
            f"{cls}: expected {arg} to be {want}, got {value!r}. Fix: {cls}({example or f'{arg}=1.0'})."
        )
    return float(value)


def _check_2d(cls: str, shape: Shape, rank: str, fix: str) -> None:
    if len(shape) < 2 or (rank == "exactly" and len(shape) != 2):
        raise ValueError(
            f"{cls}: expected a shape of {rank} 2 axes (a matrix), got {tuple(shape)}. Fix: {fix}."
        )


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns the initial tensor.

    Subclass it and override ``__call__`` (and ``get_config`` for saving,
    with ``@brainnet.saving.register_serializable()``) for an initializer of
    your own; a plain function ``fn(shape, dtype=None)`` works too.
    """

    elementwise = False  # draws every entry alike and independently (any axis order has the same law)

    def __call__(self, shape: Shape, dtype: Any = None) -> Tensor:
        return self.sample(tuple(int(d) for d in shape), compute_fans(shape), dtype)

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        """The values for ``shape`` with the given fans (an elementwise
        initializer of a kernel stored in another axis order gets the fans of
        its Keras shape)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
