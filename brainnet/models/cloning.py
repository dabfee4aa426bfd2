"""clone_model: the same architecture, new layers, fresh weights (Keras's
``keras.models.clone_model``).

A Sequential model is rebuilt from copies of its layers; a functional model
by calling copies of its layers on new Inputs, node by node, in the order
of its graph (a layer used twice is copied once, so it stays shared); a
subclassed model from its ``get_config()``. Each copy is made by
``clone_function(layer)``, by default ``type(layer).from_config(layer.get_config())``:
a new, unbuilt layer with the same settings (and name), whose weights are
drawn afresh when it is built. Nothing of the training is copied: the clone
is not compiled.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import _registry
from ..layers.base import Layer
from ..layers.lambda_layer import Lambda
from ..layers.symbolic import Input, SymbolicTensor, is_symbolic
from .functional import Functional
from .model import Model
from .sequential import Sequential


def clone_model(
    model: Model,
    input_tensors: Any = None,
    clone_function: Callable[[Layer], Layer] | None = None,
    call_function: Callable[..., Any] | None = None,
    recursive: bool = False,
) -> Model:
    """A new model of the same architecture with freshly initialised weights.

    Copy the weights with ``clone.set_weights(model.get_weights())``; compile
    the clone before training it (it is not compiled, as in Keras).

    Args:
        model: a ``Sequential``, functional (``Model(inputs, outputs)``) or
            subclassed model; a subclassed one needs a ``get_config()`` that
            returns its constructor arguments.
        input_tensors: new ``Input``s to build the clone on (the same
            structure as ``model.inputs``: one, or a list of them for
            several); by default new Inputs like the model's.
        clone_function: ``fn(layer) -> layer`` making each layer of the
            clone (not for subclassed models); e.g. to change a setting:
            ``lambda l: type(l).from_config({**l.get_config(), "rate": 0.3})
            if isinstance(l, Dropout) else type(l).from_config(l.get_config())``.
            Returning ``layer`` itself shares that layer (and its weights).
        call_function: ``fn(layer, inputs, **kwargs) -> outputs`` calling
            each cloned layer in a functional model (to insert layers around
            it); default ``layer(inputs, **kwargs)``. Functional models only.
        recursive: clone models nested in the model with ``clone_model``
            and the same functions, instead of with ``clone_function``.

    A Sequential model built for an input shape (by ``input_shape=``, an
    ``Input`` or its first batch) gives a clone built for the same shape, so
    ``set_weights`` works at once (Keras leaves a clone of a model without
    an ``Input`` unbuilt).

    Raises:
        TypeError: ``model`` is not a brainnet model, a function that is not
            callable, or one that returns something other than a layer.
        ValueError: ``input_tensors`` of another structure, ``call_function``
            with a Sequential model, ``clone_function``/``input_tensors``/
            ``call_function`` with a subclassed model, or a layer that its
            ``get_config()`` cannot rebuild.
    """
    if not isinstance(model, Model):
        raise TypeError(
            f"clone_model: expected a brainnet model (Sequential, Model(inputs, outputs) or a Model subclass), got "
            f"{type(model).__name__}. Fix: clone the model, or copy a layer with "
            "type(layer).from_config(layer.get_config())."
        )
    for name, fn in (("clone_function", clone_function), ("call_function", call_function)):
        if fn is not None and not callable(fn):
            raise TypeError(f"clone_model: expected {name} to be a function, got {type(fn).__name__}. "
                            f"Fix: clone_model(model, {name}=lambda layer: ...) or leave it out.")
    copy = _copier(clone_function, call_function, recursive, {})
    if isinstance(model, Sequential):
        if call_function is not None:
            raise ValueError(
                "clone_model: expected call_function only with a functional model, got it with a Sequential one, "
                "whose layers are listed, not called, when it is made (Keras refuses it too). Fix: "
                "clone_model(model, clone_function=...) or rebuild it as Model(inputs, outputs) first."
            )
        return _clone_sequential(model, input_tensors, copy)
    if type(model) is Functional:
        return _clone_functional(model, input_tensors, copy, call_function)
    if clone_function is not None or input_tensors is not None or call_function is not None:
        raise ValueError(
            f"clone_model: expected only the model for the subclassed model {type(model).__name__!r}, whose layers "
            "are made inside its __init__, got clone_function, input_tensors or call_function (Keras refuses them "
            f"too). Fix: clone_model(model), or change the settings: {type(model).__name__}.from_config"
            "({**model.get_config(), ...})."
        )
    return _clone_subclassed(model)


def _copier(clone_function: Callable | None, call_function: Callable | None, recursive: bool,
            cache: dict[int, Layer]) -> Callable[[Layer], Layer]:
    """``clone_function`` (or the fresh copy), once per layer, checked; nested
    models through clone_model when ``recursive``."""

    def copy(layer: Layer) -> Layer:
        if id(layer) in cache:
            return cache[id(layer)]
        if recursive and isinstance(layer, Sequential):
            new = _clone_sequential(layer, None, copy)
        elif recursive and type(layer) is Functional:
            new = _clone_functional(layer, None, copy, call_function)
        else:
            new = (clone_function or _fresh_copy)(layer)
            if not isinstance(new, Layer):
                raise TypeError(
                    f"clone_model: expected clone_function to return a layer for '{layer.name}' "
                    f"({type(layer).__name__}), got {type(new).__name__}. Fix: return a layer, e.g. "
                    "type(layer).from_config(layer.get_config()), or layer itself to share it."
                )
        cache[id(layer)] = new
        return new

    return copy


def _fresh_copy(layer: Layer) -> Layer:
    """A new, unbuilt layer of the same class and settings (Keras's default
    ``clone_function``); a Lambda keeps its function (and mask and
    arguments), registered or not."""
    if type(layer) is Lambda:
        return Lambda(layer.function, output_shape=layer.output_shape, mask=layer.mask, arguments=layer.arguments,
                      **Layer.get_config(layer))
    _registry._check_config_covers_init(type(layer), "layer", layer)
    try:
        return type(layer).from_config(layer.get_config())
    except TypeError as err:
        raise ValueError(
            f"clone_model: expected layer class {type(layer).__name__!r} to be rebuilt from its get_config(), got "
            f"an error ({err}). Fix: give the class a get_config() that returns exactly its constructor arguments "
            "(and accept **kwargs for name and trainable)."
        ) from None


def _clone_sequential(model: Sequential, input_tensors: Any, copy: Callable[[Layer], Layer]) -> Sequential:
    layers: list[Any] = [copy(layer) for layer in model.layers]
    if input_tensors is not None:
        given = input_tensors[0] if isinstance(input_tensors, (list, tuple)) and len(input_tensors) == 1 \
            else input_tensors
        if not is_symbolic(given) or given.node is not None:
            raise ValueError(
                f"clone_model: expected input_tensors for a Sequential model to be one Input(...), got "
                f"{given!r:.80}. Fix: clone_model(model, input_tensors=Input(shape={model.input_shape[1:] if model.input_shape else '(...)'}))"
                ", or clone a functional model to build on other tensors."
            )
        layers.insert(0, given)
    elif model._input is not None:
        layers.insert(0, _like(model._input))
    clone = Sequential(layers, name=model.name, trainable=model.trainable)
    if not clone.built and model.built_input_shape is not None:
        clone.build(model.built_input_shape)
    return clone


def _like(tensor: SymbolicTensor) -> SymbolicTensor:
    """A new Input of the same shape, batch size, dtype, name and optionality."""
    return Input(shape=tensor.shape[1:], batch_size=tensor.shape[0], name=tensor.name,
                 dtype=str(tensor.dtype).replace("torch.", ""), optional=tensor.optional)


def _clone_functional(model: Functional, input_tensors: Any, copy: Callable[[Layer], Layer],
                      call_function: Callable | None) -> Functional:
    originals = model.inputs
    if input_tensors is None:
        inputs = [_like(t) for t in originals]
    else:
        inputs = list(input_tensors) if isinstance(input_tensors, (list, tuple)) else [input_tensors]
        if isinstance(input_tensors, (list, tuple)) != model._multi_input or len(inputs) != len(originals) \
                or not all(is_symbolic(t) for t in inputs):
            want = f"a list of {len(originals)} symbolic tensors" if model._multi_input else "one symbolic tensor"
            raise ValueError(
                f"clone_model: expected input_tensors shaped like model.inputs ({want}: "
                f"{', '.join(t.name for t in originals)}), got {input_tensors!r:.120}. Fix: "
                f"input_tensors={'[' + ', '.join('Input(...)' for _ in originals) + ']' if model._multi_input else 'Input(...)'}."
            )
    new: dict[int, Any] = {id(old): t for old, t in zip(originals, inputs)}

    def swap(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [swap(v) for v in value]
        return new[id(value)] if is_symbolic(value) else value

    for node in model._nodes:
        layer = copy(node.layer)
        args, kwargs = swap(node.inputs), {k: swap(v) for k, v in node.kwargs.items()}
        out = call_function(layer, args, **kwargs) if call_function is not None else layer(args, **kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        if len(outs) != len(node.outputs):
            raise ValueError(
                f"clone_model: expected the clone of '{node.layer.name}' to give {len(node.outputs)} output(s), as "
                f"the original, got {len(outs)}. Fix: return from call_function (or the cloned layer) what the "
                "original layer returned."
            )
        new.update({id(old): t for old, t in zip(node.outputs, outs)})
    outputs = [new[id(t)] for t in model.outputs]
    if model._input_keys and [t.name for t in inputs] == model._input_keys:  # inputs given as a dict: a dict again
        inputs = dict(zip(model._input_keys, inputs))
    return Functional(inputs if model._multi_input else inputs[0],
                      outputs if model._multi_output else outputs[0], name=model.name, trainable=model.trainable)


def _clone_subclassed(model: Model) -> Model:
    """From ``get_config()`` (checked as ``save`` checks it), built for the same input shape."""
    spec = _registry.serialize(model, "layer")
    with _registry.custom_objects({spec["class_name"]: type(model)}):
        clone = _registry.deserialize(spec, "layer", Model)
    if not clone.built and model.built_input_shape is not None:
        clone.build(model.built_input_shape)
    return clone


__all__ = ["clone_model"]
