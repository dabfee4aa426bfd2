"""Lambda: a Python function of torch tensors, used as a layer."""

from __future__ import annotations

import inspect
import json
import numbers
from typing import Any, Callable

import torch

from .. import _registry
from ._captured_tensors import check_captured_tensors
from .base import Layer, Shape, shape_str
from .symbolic import agreed_batch_shape


class Lambda(Layer):
    """Wraps a function of torch tensors as a layer with no weights.

    Equation::

        y = f(x)

    with ``f`` the function given (on a list of inputs, ``f`` receives the
    list), called as ``f(x, **arguments)``. A function with a ``training``
    parameter gets the training flag; one with a ``mask`` parameter gets the
    mask of its input (``(batch, time)`` booleans, or None).

    The output's mask (what the recurrent and pooling layers after it skip):
    ``mask(x, previous_mask)`` when ``mask`` is a function, ``mask`` itself
    when it is a tensor, None (no mask) when it is None, as Keras.

    Without ``output_shape``, the output shape is found by running ``f`` on
    zeros twice, every unknown size 2 in one run and 3 in the other (an
    output axis whose size follows them is unknown), as brainnet finds the
    shapes of the functional API; ``f`` must therefore work on any values.

    Saving: a file names ``f`` (and a ``mask`` function) by the name it was
    registered under, and never stores code; ``arguments`` are saved as JSON
    (numbers, strings, booleans, None, lists and dicts of them; a tuple comes
    back as a list), a mask tensor as a list. Decorate a named function with
    ``@brainnet.saving.register_serializable()`` (and import it before
    ``load_model``) to save a model with this layer; a lambda or an
    unregistered function is refused when the model is saved (Keras, which
    stores a lambda's bytecode, refuses to load it unless ``safe_mode=False``).
    For code with weights or much logic, subclass ``Layer`` instead.

    Args:
        function: the function ``f``.
        output_shape: the shape of one output sample (batch axis left out),
            or None (found by running ``f``, see above).
        mask: None (default: the output has no mask), a function
            ``mask(inputs, previous_mask)`` giving the output's mask, or a
            tensor (or array) of booleans that is the output's mask whatever
            the input.
        arguments: a dict of keyword arguments passed to ``f`` at each call,
            or None (default: none).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: any (or a list of shapes). Output shape: that of ``f(x)``.

    Raises:
        TypeError: ``function`` is not callable, ``arguments`` is not a dict
            of names, ``mask`` is neither a function nor a tensor.
        ValueError: ``f`` captures a tensor that autograd computed (a
            constant is ``t.detach()``); ``output_shape`` is not a tuple of sizes, or ``f``'s
            output does not have it; ``arguments`` names a parameter ``f``
            does not have; on save, ``f`` or ``mask`` is not registered, or
            ``arguments`` are not JSON values.

    Example:
        >>> import torch
        >>> Lambda(lambda x: x[:, :2] * 2)(torch.ones(3, 5)).shape
        torch.Size([3, 2])
        >>> scale = Lambda(lambda x, factor: x * factor, arguments={"factor": 3.0})
        >>> scale(torch.ones(1, 2)).tolist()
        [[3.0, 3.0]]
        >>> steps = Lambda(lambda x: x, mask=lambda x, previous: x[..., 0] != 0)
        >>> steps.compute_mask(torch.tensor([[[1.0], [0.0]]]), None).tolist()
        [[True, False]]
    """

    equation = "y = f(x)"

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: dict[str, Any] | None = None, **kwargs: Any) -> None:
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
        check_captured_tensors(function)  # a captured tensor with a grad_fn fails at the second step
        self.function = function
        self.output_shape = None if output_shape is None else tuple(None if d is None else int(d) for d in output_shape)
        self.arguments = _checked_arguments(function, arguments)
        self.mask = mask if mask is None or callable(mask) else _mask_tensor(mask)
        parameters = _parameters(function)
        self._takes_training, self._takes_mask = "training" in parameters, "mask" in parameters

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        out = self.function(inputs, **kwargs)
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
            return [agreed_batch_shape(a.shape, b.shape) for a, b in zip(runs[0], runs[1])]
        return agreed_batch_shape(runs[0].shape, runs[1].shape)

    def _probe(self, input_shape: Any, unknown: int) -> Any:
        """``f`` on zeros of ``input_shape``, each unknown size ``unknown``, in inference mode."""
        def zeros(shape: Shape) -> torch.Tensor:
            return torch.zeros(tuple(unknown if d is None else d for d in shape))

        probe = [zeros(s) for s in input_shape] if isinstance(input_shape, list) else zeros(input_shape)
        with torch.no_grad():
            return self.call(probe, training=False)

    def compute_mask(self, inputs: Any, mask: Any) -> Any:
        """The output's mask: ``mask(inputs, previous_mask)``, the given tensor, or None."""
        if self.mask is None or callable(self.mask):
            return None if self.mask is None else self.mask(inputs, mask)
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return self.mask.to(first.device) if isinstance(first, torch.Tensor) else self.mask

    def get_config(self) -> dict[str, Any]:
        name = self._registered(self.function, "function", "def my_function(x): ...", "Lambda(my_function)")
        mask = self.mask
        if callable(mask):
            mask = self._registered(mask, "mask function", "def my_mask(x, previous_mask): ...",
                                    "Lambda(f, mask=my_mask)")
        elif mask is not None:
            mask = mask.tolist()
        try:
            json.dumps(self.arguments, allow_nan=False)
        except (TypeError, ValueError):
            kinds = {k: type(v).__name__ for k, v in self.arguments.items()}
            raise ValueError(
                f"save: expected Lambda '{self.name}' to have arguments of JSON values (numbers, strings, booleans, "
                f"None, lists and dicts of them), got {kinds}. Fix: pass plain values, e.g. a tensor as "
                "t.tolist() turned back with torch.tensor inside the function; or write a Layer subclass."
            ) from None
        output_shape = None if self.output_shape is None else list(self.output_shape)
        return {**super().get_config(), "function": name, "output_shape": output_shape, "mask": mask,
                "arguments": dict(self.arguments)}

    def _registered(self, function: Callable[..., Any], role: str, definition: str, use: str) -> str:
        """The name ``function`` is registered under; refused when it has none."""
        name = _registry.registered_name(function)
        if name is None:
            what = "a lambda" if getattr(function, "__name__", "") == "<lambda>" else (
                f"the unregistered function {getattr(function, '__name__', type(function).__name__)!r}")
            raise ValueError(
                f"save: expected Lambda '{self.name}' to wrap a {role} registered by name (files never store "
                f"code), got {what}. Fix: {definition} decorated with "
                f"@brainnet.saving.register_serializable(), then {use}; or write a Layer subclass."
            )
        return name

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Lambda":
        function = _registry.lookup(config["function"], "function")
        mask = config.get("mask")
        if isinstance(mask, str):
            mask = _registry.lookup(mask, "function")
        return cls(**{**config, "function": function, "mask": mask})


def _checked_arguments(function: Callable[..., Any], arguments: Any) -> dict[str, Any]:
    """``arguments`` as a dict, refused when not a dict of names or when it names
    a parameter ``function`` does not have."""
    if arguments is None:
        return {}
    if not isinstance(arguments, dict) or not all(isinstance(k, str) for k in arguments):
        raise TypeError(
            f"Lambda: expected arguments to be a dict of keyword arguments for the function, got "
            f"{arguments!r:.80}. Fix: Lambda(f, arguments={{'factor': 2.0}}) calls f(x, factor=2.0)."
        )
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # some builtins have no signature: Python will say at call time
        return dict(arguments)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        unknown = sorted(set(arguments) - set(parameters))
        if unknown:
            raise ValueError(
                f"Lambda: expected arguments that the function takes ({', '.join(parameters)}), got {unknown}. "
                "Fix: name them as the function's parameters, or add those parameters to the function."
            )
    return dict(arguments)


def _mask_tensor(mask: Any) -> torch.Tensor:
    """A given output mask (a tensor, an array or nested lists) as a tensor."""
    try:
        return torch.as_tensor(mask)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"Lambda: expected mask to be None, a function mask(inputs, previous_mask) or a tensor of booleans, "
            f"got {type(mask).__name__} {mask!r:.80}. Fix: mask=lambda x, previous: x[..., 0] != 0, or leave "
            "mask out for an output without a mask."
        ) from None


def _parameters(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):  # some builtins have no signature
        return set()

