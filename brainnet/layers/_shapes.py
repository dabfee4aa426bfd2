"""Shapes and the checks of a layer's input: the ``Shape`` convention, how a
shape prints, and the errors for a wrong rank, an empty axis, a size the
weights were not built for, or a model input of the wrong shape.

Shapes follow Keras: the batch axis is first, images are
``(batch, height, width, channels)`` and sequences ``(batch, time, features)``;
``None`` in a shape means "any size". The error builders below return the
exception (the caller raises it), so that the checks on the hot path of
``Layer.forward`` stay inline in the layer and only a wrong input pays for
the message.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

Shape = tuple  # a shape with None for unknown sizes, batch axis first


def shape_of(inputs: Any) -> Shape | list[Shape]:
    """Shape of a tensor, or list of shapes of a list of tensors (None for a
    None input, which an optional ``InputSpec`` lets through, as Keras 3); a
    dict, or lists and dicts inside one another (a subclassed model's inputs,
    as Keras 3 passes them), give the same structure of shapes (dicts and
    lists; tuples become lists)."""
    if isinstance(inputs, (list, tuple)):
        return [None if t is None else shape_of(t) if isinstance(t, (list, tuple, dict)) else tuple(t.shape)
                for t in inputs]
    if isinstance(inputs, dict):
        return {k: None if t is None else shape_of(t) for k, t in inputs.items()}
    return tuple(inputs.shape)


def normalize_shape(shape: Any) -> Shape | list[Shape] | dict[Any, Any]:
    """A shape as a tuple, or several shapes as a list of tuples (None for a None
    input); a dict of shapes (or lists and dicts of them inside one another) alike."""
    if isinstance(shape, dict):
        return {k: None if s is None else normalize_shape(s) for k, s in shape.items()}
    if isinstance(shape, list) and any(isinstance(s, (tuple, list, dict)) for s in shape):
        return [None if s is None else normalize_shape(s) for s in shape]
    return tuple(shape)


def any_batch(shape: Any) -> Any:
    """``shape`` (or a structure of shapes) with the batch axis as None."""
    if isinstance(shape, dict):
        return {k: None if s is None else any_batch(s) for k, s in shape.items()}
    if isinstance(shape, list):
        return [None if s is None else any_batch(s) for s in shape]
    return (None,) + tuple(shape[1:])


def shape_str(shape: Iterable) -> str:
    """Format a shape the way Keras prints it: ``(None, 28, 28, 1)``."""
    dims = tuple(shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


# ------------------------------------------------------------ a layer's input
def build_once(layer: Any, input_shape: Shape | list[Shape]) -> None:
    """``Layer.build_from_shape``: check ``input_shape`` (a list of shapes for
    several inputs), then, the first time, ``build`` for it and keep it, with
    the batch axis as None, as ``built_input_shape``."""
    input_shape = normalize_shape(input_shape)
    layer.check_input_shape(input_shape)
    if not layer.built:
        if takes_no_shape(layer.build):
            layer.build()  # Keras 3 calls a build(self) that takes no shape without one
        else:
            layer.build(input_shape)
        layer.built = True
        layer.built_input_shape = any_batch(input_shape)


def takes_no_shape(build: Any) -> bool:
    """Whether a bound ``build`` takes no argument (``def build(self): ...``,
    as keras.io examples write for a layer whose weights come from
    ``__init__``): Keras 3 passes a shape only to a build that names one."""
    import inspect

    try:
        params = inspect.signature(build).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: give it the shape
        return False
    return not any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY, p.VAR_POSITIONAL)
                   for p in params)


def built_by_hand(build: Any) -> Any:
    """A brainnet layer's ``build``, wrapped so that a call by hand
    (``self.conv.build(input_shape)`` inside a layer of one's own, as Keras
    examples do before reading ``self.conv.kernel``) marks the layer built
    for that shape, as Keras 3 does and as ``build_from_shape`` would; its
    first call then uses those weights instead of building new ones."""
    import functools

    @functools.wraps(build)
    def build_and_mark(layer: Any, *args: Any, **kwargs: Any) -> None:
        build(layer, *args, **kwargs)
        if not layer.built:  # not already marked (build_from_shape, or a subclass's build around this one)
            shape = args[0] if args else kwargs.get("input_shape")
            layer.built = True
            if shape is not None:
                layer.built_input_shape = any_batch(normalize_shape(shape))

    return build_and_mark


def check_input_shape(layer: Any, shape: Shape | list[Shape]) -> None:
    """Raise a teaching error when the input has the wrong rank, or, once
    built, a different size on an axis the weights depend on. Layers that
    take a list (or a dict) of inputs check them in ``build``/``call`` instead.
    (``Layer.check_input_shape``; ``forward`` runs it at each call once built.)"""
    if isinstance(shape, (list, dict)):
        return
    check_rank(layer, shape)  # the rank, and no empty axis but the batch
    if not layer.built or layer.built_input_shape is None:
        return
    for axis in layer.fixed_axes:
        want, got = layer.built_input_shape[axis], shape[axis]
        if want is not None and got is not None and want != got:
            raise built_axis_error(layer, shape, axis, want, got)


def check_rank(layer: Any, shape: Shape) -> None:
    """Raise on a rank ``layer`` does not take (``input_rank``, ``min_rank``),
    or on an empty axis (size 0) other than the batch
    (``layer.empty_axis_message``); ``check_input_shape`` runs it."""
    rank = len(shape)
    ok = rank == layer.input_rank if layer.input_rank is not None else rank >= layer.min_rank
    if ok:
        empty = [axis for axis, size in enumerate(shape) if axis > 0 and size == 0]
        if empty:
            raise ValueError(layer.empty_axis_message(shape, empty[0]))
        return
    raise rank_error(layer, shape)


def built_axis_error(layer: Any, shape: Shape, axis: int, want: int, got: int) -> ValueError:
    """A size on ``axis`` that the built weights do not fit (``fixed_axes``)."""
    return ValueError(
        f"Layer '{layer.name}' ({type(layer).__name__}) was built for inputs of "
        f"shape {shape_str(layer.built_input_shape)}, got {shape_str(shape)} "
        f"(axis {axis}: expected {want}, got {got}). Fix: give inputs of the "
        "shape the layer was built for, or create a new layer."
    )


def rank_error(layer: Any, shape: Shape) -> ValueError:
    """An input whose rank the layer does not take (``input_rank``, ``min_rank``):
    the fix is in ``input_shape=`` when the shape is that argument's, else in the data."""
    rank = len(shape)
    want = layer.input_rank if layer.input_rank is not None else f"at least {layer.min_rank}"
    hint = f" {layer.rank_hint}" if layer.rank_hint else ""
    own = layer.input_shape_arg
    if own is not None and tuple(shape[1:]) == own:
        example = ""
        if layer.input_rank is not None and len(own) == layer.input_rank - 2:
            example = f", e.g. input_shape={own + (1,)} (one channel or feature last)"
        return ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expected input of rank {want}{hint}, got "
            f"input_shape={own}, which makes inputs of rank {rank}. Fix: give "
            f"input_shape the sample's shape without the batch axis{example}."
        )
    return ValueError(
        f"Layer '{layer.name}' ({type(layer).__name__}) expected input of rank {want}"
        f"{hint}, got shape {shape_str(shape)} of rank {rank}. "
        f"Fix: {layer.rank_fix} or put a Reshape/Flatten layer before '{layer.name}'."
    )


def empty_axis_message(layer: Any, shape: Shape, axis: int) -> str:
    """The error for an input with nothing along ``axis`` (``Layer.empty_axis_message``;
    a layer may say it better by overriding it)."""
    return (
        f"Layer '{layer.name}' ({type(layer).__name__}) expected at least one value along every axis "
        f"but the batch, got shape {shape_str(shape)} (axis {axis} is empty). Fix: look at what "
        "made this input (a slice, a Reshape or a pooling that left nothing, an empty sequence) "
        "and give it at least one entry on that axis."
    )


# ------------------------------------------------------------ a model's input
def adjust_input_rank(x: Any, expected: Shape) -> Any:
    """``x`` (an array or tensor, batch first) with the size-1 last axis of an
    ``expected`` model input added or dropped, as Keras 3's functional models
    adjust it: ``(N,)`` for ``Input(shape=(1,))`` is taken as ``(N, 1)``, and
    ``(N, 1)`` for ``Input(shape=())`` as ``(N,)``, when that gives the
    expected shape. Anything else is left as it is for ``check_model_input``
    to judge (one image without its batch axis keeps its own message)."""
    if x.ndim == len(expected) - 1 and expected[-1] == 1:
        adjusted = x[..., None]
    elif x.ndim == len(expected) + 1 and x.shape[-1] == 1:
        adjusted = x[..., 0]
    else:
        return x
    return adjusted if _matches(tuple(adjusted.shape), expected) else x


def _matches(received: Shape, expected: Shape) -> bool:
    return len(received) == len(expected) and all(e is None or e == r for e, r in zip(expected[1:], received[1:]))


def check_model_input(received: Shape, expected: Shape) -> None:
    """Raise when ``received`` (batch first) does not match ``expected``."""
    if _matches(received, expected):
        return
    fix = _reshape_fix(received, expected)
    raise ValueError(
        f"Model input: expected shape {shape_str(expected)}, got {shape_str(received)}. "
        f"Fix: {fix}"
    )


def _reshape_fix(received: Shape, expected: Shape) -> str:
    received, expected = tuple(received), tuple(expected)
    if received == expected[1:] or (len(expected) >= 3 and _matches((None,) + received, expected)):
        return "this looks like one sample without the batch axis; use x[None] (or x_test[:1])."
    if len(expected) == 3:
        fix = _sequence_fix(received, expected)
        if fix is not None:
            return fix
    if len(expected) == 4 and expected[3] == 1 and tuple(received) == tuple(expected[1:3]):
        return "this looks like one image without the batch and channel axes; use x[None, ..., None]."
    if (len(received) == len(expected) == 4 and expected[3] not in (None, 1)
            and tuple(received[1:]) == (expected[3], expected[1], expected[2])):
        return ("these look like channels-first images (samples, channels, height, width); brainnet, like "
                "Keras, takes (samples, height, width, channels): x = x.transpose(0, 2, 3, 1) (a torch "
                "tensor: x.permute(0, 2, 3, 1)). A reshape would scramble the pixels.")
    known = [d for d in expected[1:] if d is not None]
    if len(known) == len(expected) - 1 and np.prod(known) == np.prod(received[1:] or (0,)):
        target = ", ".join(str(d) for d in expected[1:])
        return f"x = x.reshape(-1, {target})"
    return "give inputs of the shape the first layer was built for (its input_shape)."


def _sequence_fix(received: Shape, expected: Shape) -> str | None:
    """The fix for the mistakes made with sequence models (recurrent, Conv1D,
    Transformer), whose input is ``(None, T, F)``: ``T`` time steps (``None``
    for any length) of ``F`` features. ``None`` when none of them fits."""
    steps, features = expected[1], expected[2]
    any_length = f"Input(shape=(None, {features}))"  # when the model's layers take any length
    if len(received) == 1 and features == 1 and steps in (None, received[0]):
        return ("this looks like one sequence without the batch and feature axes; use x[None, :, None] "
                f"(shape (1, {received[0]}, 1)).")
    if len(received) == 2 and features is not None:
        length = received[1]
        if features == 1 and steps is not None and length != steps:
            return (f"the model takes sequences of {steps} time steps, got {length}; {_windows(steps)} and add "
                    f"the feature axis with x[..., None], or build the model with {any_length} to take any length.")
        if steps is not None and length == steps * features:
            return (f"x = x.reshape(-1, {steps}, {features}) ({steps} time steps of {features} features; each "
                    "row must hold them step after step).")
        if steps is None and length % features == 0:
            return (f"x = x.reshape(len(x), -1, {features}) (time steps of {features} features; each row must "
                    "hold them step after step).")
        if length == steps:
            return (f"these look like sequences without the feature axis, (samples, time); the model takes "
                    f"{features} features per step: give them as (samples, {steps}, {features}) (e.g. "
                    f"np.stack([feature_1, …, feature_{features}], axis=-1)), or, for one feature per step, "
                    f"build the model with Input(shape=({steps}, 1)).")
        return None
    if len(received) != 3:
        return None
    got_steps, got_features = received[1], received[2]
    if steps is not None and features is not None and steps != features and received[1:] == (features, steps):
        return ("these look like (samples, features, time); brainnet, like Keras, takes (samples, time, "
                "features): x = x.transpose(0, 2, 1) (a torch tensor: x.permute(0, 2, 1)). A reshape would "
                "mix up steps and features.")
    steps_off = steps is not None and got_steps != steps
    features_off = features is not None and got_features != features
    if steps_off and features_off:
        return (f"the model takes sequences of {steps} time steps of {features} features, got {got_steps} of "
                f"{got_features}: {_windows(steps)} of the {features} features it was trained on, or build the "
                f"model with Input(shape=(None, {got_features})) for these.")
    if steps_off:
        return (f"the model takes sequences of {steps} time steps (axis 1), got {got_steps}: {_windows(steps)}, or "
                f"build the model with Input(shape=(None, {got_features})) to take any length (recurrent layers, "
                "Conv1D and global pooling do; Flatten does not).")
    if features_off:
        return (f"the model takes {features} features per time step (the last axis), got {got_features}: give "
                f"every step the {features} features it was trained on, in the same order, or build the model "
                f"with Input(shape=({steps}, {got_features})).")
    return None


def _windows(steps: int) -> str:
    return (f"make windows of {steps} steps (e.g. brainnet.utils.timeseries_dataset_from_array(data, targets, "
            f"sequence_length={steps}))")
