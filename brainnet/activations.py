"""Activation functions, by Keras name.

Each function maps a tensor to a tensor of the same shape; given a symbolic
tensor (``keras.activations.swish(x)`` in a functional graph, as Keras 3
allows), it records an ``Activation`` layer instead. ``get(name)``
turns a Keras activation name (``"relu"``, ``"softmax"``, ...) or a callable
into a callable; an unknown name raises a ``ValueError`` that lists the
known ones and suggests the closest.

    >>> import torch
    >>> from brainnet import activations
    >>> activations.get("relu")(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
"""

from __future__ import annotations

import contextlib
import difflib
import functools
from typing import Callable

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def linear(x: Tensor) -> Tensor:
    """f(x) = x."""
    return x


def relu(x: Tensor) -> Tensor:
    """f(x) = max(0, x)."""
    return F.relu(x)


def relu6(x: Tensor) -> Tensor:
    """f(x) = min(max(0, x), 6)."""
    return F.relu6(x)


def leaky_relu(x: Tensor) -> Tensor:
    """f(x) = x if x > 0 else 0.2·x (Keras's default slope)."""
    return F.leaky_relu(x, 0.2)


def elu(x: Tensor) -> Tensor:
    """f(x) = x if x > 0 else exp(x) − 1."""
    return F.elu(x)


def selu(x: Tensor) -> Tensor:
    """f(x) = λ·(x if x > 0 else α·(exp(x) − 1)), λ ≈ 1.0507, α ≈ 1.6733."""
    return F.selu(x)


def gelu(x: Tensor) -> Tensor:
    """f(x) = x·Φ(x), Φ the standard normal CDF (exact form)."""
    return F.gelu(x)


def silu(x: Tensor) -> Tensor:
    """f(x) = x·σ(x) (also called swish)."""
    return F.silu(x)


def sigmoid(x: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + exp(−x))."""
    return torch.sigmoid(x)


def hard_sigmoid(x: Tensor) -> Tensor:
    """f(x) = clip(x/6 + 1/2, 0, 1) (Keras 3's definition)."""
    return F.hardsigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (exp(x) − exp(−x)) / (exp(x) + exp(−x))."""
    return torch.tanh(x)


def softplus(x: Tensor) -> Tensor:
    """f(x) = log(1 + exp(x))."""
    return F.softplus(x)


def softsign(x: Tensor) -> Tensor:
    """f(x) = x / (1 + |x|)."""
    return F.softsign(x)


def exponential(x: Tensor) -> Tensor:
    """f(x) = exp(x)."""
    return torch.exp(x)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """softmax(x)_j = exp(x_j) / Σ_k exp(x_k), over ``axis`` (the last by default, as Keras 3)."""
    return torch.softmax(x, dim=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log_softmax(x)_j = x_j − log Σ_k exp(x_k), over ``axis`` (the last by default, as Keras 3)."""
    return torch.log_softmax(x, dim=axis)


def _recorded_on_symbolic(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """``fn``, which on a symbolic tensor records an ``Activation`` layer (``Softmax(axis)`` for
    softmax), as Keras 3's activations, made of ops, give a KerasTensor back."""

    @functools.wraps(fn)
    def activation(x: Tensor, *args: object, **kwargs: object) -> Tensor:
        if isinstance(x, Tensor):  # the hot path: one isinstance
            return fn(x, *args, **kwargs)
        from .layers._symbolic_operators import activation_layer

        return activation_layer(fn.__name__, fn, x, args, kwargs)

    return activation


(relu, relu6, leaky_relu, elu, selu, gelu, silu, sigmoid, hard_sigmoid, tanh, softplus, softsign, exponential,
 softmax, log_softmax) = map(_recorded_on_symbolic, (
    relu, relu6, leaky_relu, elu, selu, gelu, silu, sigmoid, hard_sigmoid, tanh, softplus, softsign, exponential,
    softmax, log_softmax))
swish = silu  # Keras 3's other name: keras.activations.swish is keras.activations.silu

_BY_NAME: dict[str, Callable[[Tensor], Tensor]] = {
    "linear": linear,
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "selu": selu,
    "gelu": gelu,
    "silu": silu,
    "swish": silu,
    "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "softsign": softsign,
    "exponential": exponential,
    "softmax": softmax,
    "log_softmax": log_softmax,
}
_NAME_OF: dict[Callable, str] = {}  # each function's first name in _BY_NAME (silu, not swish): serialize
for _name, _fn in _BY_NAME.items():
    _NAME_OF.setdefault(_fn, _name)


def get(identifier: str | Callable | dict | None) -> Callable[[Tensor], Tensor]:
    """Return the activation function for a Keras name, a callable, or None.

    Args:
        identifier: a name such as ``"relu"``, a callable (returned as is; a
            layer such as ``layers.ReLU()`` too), a layer's spec as
            ``serialize`` writes it (rebuilt), or ``None`` (the identity,
            ``linear``).

    Raises:
        ValueError: the name is not a known activation.
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:  # a layer used as activation, as saved
        from .layers._layer_serialization import deserialize

        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    if isinstance(identifier, str):  # registered, or in load_model's custom_objects
        from . import _registry

        with contextlib.suppress(ValueError):
            return _registry.lookup(identifier, "activation")
    close = difflib.get_close_matches(str(identifier).lower(), list(_BY_NAME), n=1)
    hint = f"activation={close[0]!r}" if close else "one of the names above"
    raise ValueError(
        f"Unknown activation {identifier!r}. Expected one of: "
        f"{', '.join(sorted(_BY_NAME))}, or a callable. Fix: use {hint}."
    )


def serialize(fn: Callable) -> str | dict:
    """Return the Keras name of a built-in activation, or the registered name
    of one decorated with ``@brainnet.saving.register_serializable()`` (for
    get_config); ``None`` (set on a layer after it was made) is ``linear``;
    a layer (``Dense(3, activation=layers.ReLU())``) is its spec, as Keras 3
    saves it, which ``get`` rebuilds."""
    if fn is None:
        return "linear"
    try:
        name = _NAME_OF.get(fn)
    except TypeError:  # an unhashable callable: not one of the built-in functions
        name = None
    if name is not None:
        return name
    from .layers.base import Layer

    if isinstance(fn, Layer):
        from .layers._layer_serialization import serialize as serialize_layer

        return serialize_layer(fn)
    from . import _registry

    return _registry.registered_name(fn) or getattr(fn, "__name__", repr(fn))
