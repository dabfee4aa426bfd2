"""The state of a custom metric: ``Metric.add_variable`` returns a ``Variable``.

A subclass of ``brainnet.metrics.Metric`` written the Keras 3 way keeps its
state in variables it creates in ``__init__``
(``self.tp = self.add_variable(shape=(), initializer="zeros", name="tp")``),
changes them in ``update_state`` (``self.tp.assign_add(values.sum())``) and
reads them in ``result``. A ``Variable`` holds one torch tensor, ``value``
(replaced, not changed in place, at each update), that follows the device of
what is added to it (so a metric updated on the
GPU keeps its state there); it converts to a Python number (``float(v)``), a
NumPy array (``v.numpy()``) and takes part in arithmetic as its tensor.
"""

from __future__ import annotations

from typing import Any

import torch

Tensor = torch.Tensor


class Variable:
    """A named tensor that ``assign``, ``assign_add`` and ``assign_sub`` update.

    Args:
        value: the initial tensor.
        name: the variable's name.

    Example:
        >>> v = Variable(torch.zeros(()), name="count")
        >>> v.assign_add(3.0)
        >>> float(v)
        3.0
    """

    def __init__(self, value: Tensor, name: str) -> None:
        self.value = value
        self.name = name

    def _like(self, other: Any) -> Tensor:
        """``other`` as a tensor of this variable's dtype, on the device of
        ``other`` when it is a tensor (the variable moves there first)."""
        if isinstance(other, Variable):
            other = other.value
        if isinstance(other, Tensor) and other.device != self.value.device:
            self.value = self.value.to(other.device)
        return torch.as_tensor(other, dtype=self.value.dtype, device=self.value.device).detach()

    def assign(self, value: Any) -> None:
        """``v ← value`` (broadcast to the variable's shape)."""
        self.value = self._like(value).broadcast_to(self.value.shape).clone()

    def assign_add(self, value: Any) -> None:
        """``v ← v + value``."""
        self.value = self.value + self._like(value)

    def assign_sub(self, value: Any) -> None:
        """``v ← v − value``."""
        self.assign_add(-self._like(value))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    @property
    def dtype(self) -> torch.dtype:
        return self.value.dtype

    def numpy(self) -> Any:
        return self.value.detach().cpu().numpy()

    def __float__(self) -> float:
        return float(self.value)

    def __array__(self, dtype: Any = None) -> Any:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        """torch functions take a Variable as its tensor (``torch.sqrt(v)``)."""
        unwrap = lambda a: a.value if isinstance(a, Variable) else a  # noqa: E731
        return func(*[unwrap(a) for a in args], **{k: unwrap(a) for k, a in (kwargs or {}).items()})

    def __add__(self, other: Any) -> Tensor:
        return self.value + (other.value if isinstance(other, Variable) else other)

    def __radd__(self, other: Any) -> Tensor:
        return other + self.value

    def __sub__(self, other: Any) -> Tensor:
        return self.value - (other.value if isinstance(other, Variable) else other)

    def __rsub__(self, other: Any) -> Tensor:
        return other - self.value

    def __mul__(self, other: Any) -> Tensor:
        return self.value * (other.value if isinstance(other, Variable) else other)

    def __rmul__(self, other: Any) -> Tensor:
        return other * self.value

    def __truediv__(self, other: Any) -> Tensor:
        return self.value / (other.value if isinstance(other, Variable) else other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return other / self.value

    def __neg__(self) -> Tensor:
        return -self.value

    def __repr__(self) -> str:
        return f"<Variable name={self.name} shape={self.shape} value={self.value.detach().cpu().tolist()}>"
