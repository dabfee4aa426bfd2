"""Lambda: a Python function of torch tensors, used as a layer."""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable

import torch

from .. import _registry
from .base import Layer, Shape, shape_str
from .symbolic import agreed_shape


class Lambda(Layer):
    """Wraps a function of torch tensors as a layer with no weights.

    Equation::

        y = f(x)

    with ``f`` the function given (on a list of inputs, ``f`` receives the
    list). A function with a ``training`` parameter gets the training flag.

    Without ``output_shape``, the output shape is found by running ``f`` on
    zeros twice, every unknown size 2 in one run and 3 in the other (an
    output axis whose size follows them is unknown), as brainnet finds the
    shapes of the functional API; ``f`` must therefore work on any values.

    Saving: a file names ``f`` by the name it was registered under, and never
    stores code. Decorate a named function with
    ``@brainnet.saving.register_serializable()`` (and import it before
    ``load_model``) to save a model with this layer; a lambda or an
    unregistered function is refused when the model is saved (Keras, which
    stores a lambda's bytecode, refuses to load it unless ``safe_mode=False``).
    For code with weights or much logic, subclass ``Layer`` instead.

    Args:
        function: the function ``f``.
        output_shape: the shape of one output sample (batch axis left out),
            or None (found by running ``f``, see above).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: any (or a list of shapes). Output shape: that of ``f(x)``.

    Raises:
        TypeError: ``function`` is not callable.
        ValueError: ``output_shape`` is not a tuple of sizes, or ``f``'s
            output does not have it; on save, ``f`` is not registered.

    Example:
        >>> import torch
        >>> Lambda(lambda x: x[:, :2] * 2)(torch.ones(3, 5)).shape
        torch.Size([3, 2])
    """

    equation = "y = f(x)"

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(
                f"Lambda: expected a function of torch tensors, got {type(function).__name__} {function!r:.80}. "
                "Fix: Lambda(lambda x: x * 2), or Lambda(my_function)."
            )
        if output_shape is not None and not (
            isinstance(output_shape, (tuple, list))
            and all(d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
                    for d in output_shape)
        ):
            raise ValueError(
                f"Lambda: expected output_shape to be the shape of one output sample (a tuple of sizes, None for "
                f"any), or None, got {output_shape!r}. Fix: Lambda(f, output_shape=(10,)), or leave output_shape "
                "out and brainnet finds it by running f."
            )
        self.function = function
        self.output_shape = None if output_shape is None else tuple(None if d is None else int(d) for d in output_shape)
        self._takes_training = "training" in _parameters(function)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        out = self.function(inputs, training=training) if self._takes_training else self.function(inputs)
        if self.output_shape is not None and isinstance(out, torch.Tensor):
            sample = tuple(out.shape[1:])
            if len(sample) != len(self.output_shape) or any(
                    want is not None and want != got for want, got in zip(self.output_shape, sample)):
                raise ValueError(
                    f"Layer '{self.name}' (Lambda): expected outputs of shape "
                    f"{shape_str((None,) + self.output_shape)} (its output_shape), got {shape_str(out.shape)}. "
                    "Fix: give output_shape the shape of one output sample, or leave it out."
                )
        return out

    def compute_output_shape(self, input_shape: Any) -> Any:
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        if self.output_shape is not None:
            return (first[0],) + self.output_shape
        runs = [self._probe(input_shape, unknown) for unknown in (2, 3)]
        if isinstance(runs[0], (list, tuple)):
            return [_agreed(a.shape, b.shape) for a, b in zip(runs[0], runs[1])]
        return _agreed(runs[0].shape, runs[1].shape)

    def _probe(self, input_shape: Any, unknown: int) -> Any:
        """``f`` on zeros of ``input_shape``, each unknown size ``unknown``, in inference mode."""
        def zeros(shape: Shape) -> torch.Tensor:
            return torch.zeros(tuple(unknown if d is None else d for d in shape))

        probe = [zeros(s) for s in input_shape] if isinstance(input_shape, list) else zeros(input_shape)
        with torch.no_grad():
            return self.call(probe, training=False)

    def get_config(self) -> dict[str, Any]:
        name = _registry.registered_name(self.function)
        if name is None:
            what = "a lambda" if getattr(self.function, "__name__", "") == "<lambda>" else (
                f"the unregistered function {getattr(self.function, '__name__', type(self.function).__name__)!r}")
            raise ValueError(
                f"save: expected Lambda '{self.name}' to wrap a function registered by name (files never store "
                f"code), got {what}. Fix: def my_function(x): ... decorated with "
                "@brainnet.saving.register_serializable(), then Lambda(my_function); or write a Layer subclass."
            )
        output_shape = None if self.output_shape is None else list(self.output_shape)
        return {**super().get_config(), "function": name, "output_shape": output_shape}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Lambda":
        function = _registry.lookup(config["function"], "function")
        return cls(**{**config, "function": function})


def _parameters(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()


def _agreed(first: tuple, second: tuple) -> tuple:
    """``agreed_shape``, with the batch size kept where both runs had the same."""
    shape = agreed_shape(first, second)
    return (first[0] if first[0] == second[0] else None,) + shape[1:]
