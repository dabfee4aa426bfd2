"""``x + y``, ``x - y``, ``x * y`` and ``x[key]`` on symbolic tensors, as Keras 3 allows
on its ``KerasTensor``: in a functional model, the operator on two symbolic
tensors records a merging layer (``Add``, ``Subtract``, ``Multiply``) on
``[x, y]``, so the model replays it, summarises it and saves it like any
other layer. ``SymbolicTensor`` takes these functions as its operator
methods.

Keras 3 also takes a number or an array as the other operand and broadcasts
shapes; here both operands are symbolic tensors of one shape (the merging
layers' rule), and anything else is refused with the layer that does it.
``x[key]`` records a ``GetItem`` layer (``get_item.py``), and a function of
``brainnet.activations`` given a symbolic tensor (``keras.activations.swish(x)``,
as Keras 3's DDPM example writes) an ``Activation`` layer.
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


def refuse_iteration(self: Any) -> Any:
    """``for t in x`` / ``a, b = x``: a TypeError (its first axis is the batch, of unknown size)."""
    raise TypeError(
        f"A symbolic tensor of shape {self.shape} cannot be iterated or unpacked: expected a list or tuple of "
        "tensors, got one tensor whose first axis is the batch. Fix: index the axis you mean, a, b = x[:, 0], "
        "x[:, 1], or give a layer's outputs as a list."
    )


def get_item(self: Any, key: Any) -> Any:
    """``x[key]``: a ``GetItem`` layer on ``x`` (ints, slices, None and ...; the batch axis kept whole)."""
    from .get_item import GetItem

    return GetItem(key)(self)


def activation_layer(name: str, fn: Any, x: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    """``activations.<name>(x, ...)`` on a symbolic ``x``: ``Activation(name)(x)``, ``Softmax(axis)(x)``
    for softmax; on anything else, the function itself (whose error then says what it got)."""
    from . import activation_layers, core
    from .symbolic import is_symbolic

    if not is_symbolic(x):
        return fn(x, *args, **kwargs)
    if name == "softmax":
        return activation_layers.Softmax(*args, **kwargs)(x)
    axis = args[0] if args else kwargs.get("axis", -1)  # log_softmax's one argument; the others take none
    last_axis = name == "log_softmax" and not args[1:] and not set(kwargs) - {"axis"} and axis in (-1, len(x.shape) - 1)
    if (args or kwargs) and not last_axis:
        given = ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())])
        raise TypeError(
            f"activations.{name}: expected a symbolic tensor alone (it becomes Activation({name!r})), got it with "
            f"{given}. Fix: layers.Lambda(lambda t: activations.{name}(t, {given}))(x)."
        )
    return core.Activation(name)(x)
