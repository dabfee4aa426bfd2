"""``x + y``, ``x - y`` and ``x * y`` on symbolic tensors, as Keras 3 allows
on its ``KerasTensor``: in a functional model, the operator on two symbolic
tensors records a merging layer (``Add``, ``Subtract``, ``Multiply``) on
``[x, y]``, so the model replays it, summarises it and saves it like any
other layer. ``SymbolicTensor`` takes these functions as its operator
methods.

Keras 3 also takes a number or an array as the other operand and broadcasts
shapes; here both operands are symbolic tensors of one shape (the merging
layers' rule), and anything else is refused with the layer that does it.
"""

from __future__ import annotations

from typing import Any

_LAYERS = {"+": "Add", "-": "Subtract", "*": "Multiply"}
_FIXES = {
    "+": "layers.Lambda(lambda t: t + c)(x) adds a constant c",
    "-": "layers.Lambda(lambda t: t - c)(x) subtracts a constant c",
    "*": "layers.Rescaling(c)(x) multiplies by a constant c",
}


def _apply(symbol: str, left: Any, right: Any) -> Any:
    """``left symbol right`` where at least one side is symbolic: a merging layer's node, or a TypeError."""
    from . import merging
    from .symbolic import is_symbolic

    if not (is_symbolic(left) and is_symbolic(right)):
        other = right if is_symbolic(left) else left
        raise TypeError(
            f"Symbolic tensor '{symbol}': expected another symbolic tensor (from Input or a layer "
            f"called on one) on the other side, got {type(other).__name__} {other!r:.60}. "
            f"Fix: {_FIXES[symbol]}; put arithmetic with tensors or arrays inside a layer's call()."
        )
    return getattr(merging, _LAYERS[symbol])()([left, right])


def add(self: Any, other: Any) -> Any:
    """``x + y``: an ``Add`` layer on ``[x, y]``."""
    return _apply("+", self, other)


def radd(self: Any, other: Any) -> Any:
    return _apply("+", other, self)


def subtract(self: Any, other: Any) -> Any:
    """``x - y``: a ``Subtract`` layer on ``[x, y]``."""
    return _apply("-", self, other)


def rsubtract(self: Any, other: Any) -> Any:
    return _apply("-", other, self)


def multiply(self: Any, other: Any) -> Any:
    """``x * y``: a ``Multiply`` layer on ``[x, y]``."""
    return _apply("*", self, other)


def rmultiply(self: Any, other: Any) -> Any:
    return _apply("*", other, self)
