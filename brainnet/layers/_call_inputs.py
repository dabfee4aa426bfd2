"""What ``layer(x)`` does to its inputs before ``call`` when they are not
plain tensors of the weights' dtype: NumPy arrays become tensors (texts stay
texts for the layers that take them, and are refused by the others), integer
and bool inputs of a layer with floating-point weights become the weights'
dtype, a ``dtype='float32'`` layer runs outside autocast on float32 inputs;
the first call's build (weights on the input's device), the refusal of a
second positional input; and the two questions layers ask about how they run
(is autocast on, is a CUDA graph being captured).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator

import numpy as np
import torch

from ._text_holders import accepts_text


def from_numpy(layer: Any, inputs: Any) -> Any:
    """NumPy arrays as tensors, as Keras takes them in ``layer(x)``: floats in
    the weights' dtype (float32 before the layer is built), integers as they
    are (token indices), on the weights' device; strings only for a layer that
    takes texts (``layer.takes_text()``)."""
    weight = next(itertools.chain(layer.parameters(), layer.buffers()), None)
    device = weight.device if weight is not None else None
    float_dtype = weight.dtype if weight is not None and weight.is_floating_point() else torch.get_default_dtype()

    def one(a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a
        if a.dtype.kind in "US" or (a.dtype.kind == "O" and a.size and isinstance(a.flat[0], (str, bytes))):
            # texts: only for a layer (or a model whose first layer) takes them
            if accepts_text(layer):  # a text layer, or a layer of yours holding one (_text_holders)
                return a
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}): expected numbers, got strings (dtype {a.dtype}). "
                "Fix: turn texts into indices first with brainnet.layers.TextVectorization (adapt(texts), "
                "then x = vectorize(texts)), or put that layer first in the model."
            )
        t = torch.as_tensor(a, device=device)
        return t.to(float_dtype) if t.is_floating_point() else t

    return [one(a) for a in inputs] if isinstance(inputs, (list, tuple)) else one(inputs)


def second_positional_error(layer: Any, training: Any, more: tuple[Any, ...] = ()) -> TypeError:
    """``layer(a, b)`` or ``layer(a, b, c, ...)``: the second positional argument is
    ``training``, which must be True, False or None, and there is no third; the
    inputs go in one list."""
    kind = type(training).__name__
    got = f"{2 + len(more)} positional arguments, the second of type {kind}" if more else \
        f"a second positional argument of type {kind}"
    return TypeError(
        f"{type(layer).__name__} '{layer.name}': expected the inputs as one argument (a list for several) and "
        f"training as True, False or None, got {got}. "
        "Fix: pass several inputs in a list, layer([a, b]) (call then unpacks a, b = inputs), or the others by "
        "keyword, layer(a, b=b) for call(self, a, b=None), and training by name, layer(x, training=True)."
    )


def positional_arguments(layer: Any, training: Any, more: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``layer(a, b, ...)``: Keras 3 passes ``b, ...`` on to ``call``'s next positional
    parameters (``call(self, x, context)``; the FNet decoder's ``decoder(x, encoded)``).
    They go into ``kwargs`` by those parameters' names, a ``training`` among them being
    the call's flag (returned; None if not among them). Where ``call`` has no such
    parameters (its second is ``training``, or too few, or one is given by keyword too,
    or positional-only), the teaching error: the inputs go in one list."""
    import inspect

    values = (training, *more)
    parameters = list(inspect.signature(layer.call).parameters.values())[1:]  # after the inputs
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    names = [p.name for p in parameters[:len(values)] if p.kind in kinds]
    if len(names) < len(values) or names[0] == "training" or any(name in kwargs for name in names):
        raise second_positional_error(layer, training, more)
    given = dict(zip(names, values))
    flag = given.pop("training", None)
    kwargs.update(given)
    return flag


BY_NAME = object()  # forward's default for inputs: layer(images=x) names them by call's first argument


def inputs_by_name(layer: Any, kwargs: dict[str, Any]) -> Any:
    """The inputs of ``layer(images=x)``, popped from ``kwargs``: Keras 3 takes
    ``call``'s first argument by its name as well as by position."""
    import inspect

    first = next(iter(inspect.signature(layer.call).parameters.values()), None)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if first is None or first.kind not in positional or first.name not in kwargs:
        name = first.name if first is not None and first.kind in positional else "inputs"
        raise TypeError(
            f"{type(layer).__name__} '{layer.name}': expected the inputs as the first argument, or by the name of "
            f"call's first argument ({name}=...), got neither (keyword arguments: {sorted(kwargs) or 'none'}). "
            f"Fix: layer(x), or layer({name}=x)."
        )
    return kwargs.pop(first.name)


def build_on_first_call(layer: Any, inputs: Any, shape: Any) -> None:
    """The first ``layer(x)`` on tensors: build for their shape
    (``build_from_shape``), then move the weights to the first input's
    device and floating dtype (texts have neither)."""
    layer.build_from_shape(shape)
    first = inputs
    while isinstance(first, (list, tuple, dict)):  # a structure of inputs: its first tensor
        first = next((t for t in (first.values() if isinstance(first, dict) else first) if t is not None), None)
    if isinstance(first, torch.Tensor):
        layer.to(device=first.device, dtype=first.dtype if first.is_floating_point() else None)


def integers_as_float(layer: Any, inputs: Any) -> Any:
    """Integer and bool tensors (``uint8`` pixels, ``int64`` counts) in the dtype
    of the layer's own floating-point weights, as Keras 3 promotes an integer
    input that meets float weights (``int64 @ float32 → float32``): the result is
    the float input's. A layer without floating weights whose result is float
    math (``float_math``: Softmax, ELU, the average poolings) takes them as
    float32, as Keras 3's ops promote an integer input of ``exp`` or ``mean`` to
    float32. Kept as they are where the layer takes integers on purpose
    (``input_dtype``: Embedding, the lookups), keeps integers integers (Flatten,
    ReLU, MaxPooling2D, Discretization: integers in, integers out, as in Keras),
    or hands its inputs to layers inside it (MultiHeadAttention's projections,
    RNN's cell, a layer of your own made of an Embedding and others), which decide.

    A float64 tensor that meets the layer's own float32 (or narrower) weights
    becomes their dtype too, as Keras 3 casts a floating input to the layer's
    compute dtype (and as ``layer(x)`` takes a float64 NumPy array); a layer
    without floating weights of its own keeps it float64 for the layers inside."""
    if layer.input_dtype is not None:
        return inputs
    many = isinstance(inputs, (list, tuple))
    if not any(_integer(t) or _double(t) for t in (inputs if many else [inputs])):
        return inputs
    weights = itertools.chain(layer.parameters(recurse=False), layer.buffers(recurse=False))
    dtype = next((w.dtype for w in weights if w.is_floating_point()), None)
    doubles = dtype is not None and dtype != torch.float64  # float64 inputs narrowed to the weights' dtype
    if dtype is None:
        if not layer.float_math:
            return inputs
        dtype = torch.get_default_dtype()  # float32, Keras's floatx

    def one(t: Any) -> Any:
        return t.to(dtype) if _integer(t) or (doubles and _double(t)) else t

    return type(inputs)(one(t) for t in inputs) if many else one(inputs)


def may_cast(inputs: Any) -> bool:
    """Whether ``integers_as_float`` may change ``inputs``: anything but a single
    float tensor narrower than float64 (the common case, decided without the weights)."""
    return not (isinstance(inputs, torch.Tensor) and inputs.is_floating_point() and inputs.dtype != torch.float64)


def _double(t: Any) -> bool:
    """A float64 tensor."""
    return isinstance(t, torch.Tensor) and t.dtype == torch.float64


def _integer(t: Any) -> bool:
    """An integer or bool tensor (not a float, a complex, a text or None)."""
    return isinstance(t, torch.Tensor) and not (t.is_floating_point() or t.is_complex())


@contextlib.contextmanager
def in_float32(inputs: Any) -> Iterator[Any]:
    """``dtype='float32'``: autocast off for this layer and its floating inputs in float32."""
    first = inputs
    while isinstance(first, (list, tuple, dict)):  # a structure of inputs: its first tensor
        first = next((t for t in (first.values() if isinstance(first, dict) else first) if t is not None), None)
    if first is None or not autocast_enabled(first.device.type):
        yield inputs
        return

    def up(t: Any) -> Any:
        return t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t

    with torch.autocast(device_type=first.device.type, enabled=False):
        yield [up(t) for t in inputs] if isinstance(inputs, (list, tuple)) else up(inputs)


def autocast_enabled(device: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device`` (``"cpu"``, ``"cuda"``)."""
    try:
        return torch.is_autocast_enabled(device)  # PyTorch ≥ 2.4
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device == "cpu" else torch.is_autocast_enabled()


def capturing(t: torch.Tensor) -> bool:
    """Whether ``t``'s kernels are being recorded into a CUDA graph: then no value
    may be read back to the host (a check such as ``bool(t.any())`` must wait
    for the eager steps, which run the same batches' shapes before capture)."""
    return t.is_cuda and torch.cuda.is_current_stream_capturing()
