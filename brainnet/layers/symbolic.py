"""Symbolic tensors: how the functional API records a graph of layers.

``Input(shape=(28, 28, 1))`` returns a ``SymbolicTensor``: a shape (batch
axis first, ``None`` = any size) and a dtype, but no values. Calling a layer
on symbolic tensors builds the layer for that shape, records a ``Node``
(layer, inputs, call arguments) and returns symbolic outputs; no data flows.
``brainnet.models.Model(inputs, outputs)`` then replays the nodes on real
tensors.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from . import _symbolic_operators, _training_mode
from ._masking import warn_mask_dropped
from ._text_holders import accepts_text, probe_strings
from .base import Layer, Shape, shape_str
from .input_spec import check_input_spec


class SymbolicTensor:
    """A placeholder in a functional graph: a shape and a dtype, no values.

    Attributes:
        shape: shape with the batch axis first (``None`` = any size).
        dtype: torch dtype the real tensor will have (``"string"``: texts).
        node: the ``Node`` that produces it (``None`` for an ``Input``).
        index: which output of that node it is.
        name: the Input's name, or the producing layer's name.
        optional: an ``Input(..., optional=True)``: the model may be given None for it.
    """

    optional: bool = False
    _keras_mask: "SymbolicTensor | None" = None  # the (batch, time) mask it carries, as Keras's

    def __init__(self, shape: Shape, dtype: torch.dtype | str, node: "Node | None" = None,
                 index: int = 0, name: str = "") -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={shape_str(self.shape)} dtype={self.dtype} name={self.name!r}>"

    # x + y, x - y, x * y: an Add, Subtract or Multiply layer on [x, y] (_symbolic_operators.py)
    __add__, __radd__ = _symbolic_operators.add, _symbolic_operators.radd
    __sub__, __rsub__ = _symbolic_operators.subtract, _symbolic_operators.rsubtract
    __mul__, __rmul__ = _symbolic_operators.multiply, _symbolic_operators.rmultiply
    # x[:, None, None, :]: a GetItem layer (get_item.py), as Keras 3's ops.GetItem
    __getitem__ = _symbolic_operators.get_item
    __iter__ = _symbolic_operators.refuse_iteration  # not x[0], x[1], ... (the batch axis)

    def __bool__(self) -> bool:
        raise TypeError(
            "A symbolic tensor (from Input or a layer called on one) has no values, so it "
            "cannot be used in an if or a comparison. Fix: put that logic inside a layer's call()."
        )

    @classmethod
    def __torch_function__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        # Keras 3 runs keras.ops on its symbolic tensors; torch functions need values.
        name = getattr(func, "__name__", repr(func))
        raise TypeError(
            f"torch function {name}() was given a symbolic tensor (from Input or a layer called on one), "
            "which has no values: torch functions expect torch.Tensors. Fix: make the call inside a layer, "
            f"layers.Lambda(lambda t: <your {name}(...) call on t>)(x), or in the call() of a layer of your own."
        )


class Node:
    """One call of a layer in a graph: ``outputs = layer(inputs, **kwargs)``."""

    def __init__(self, layer: Layer, inputs: Any, kwargs: dict[str, Any]) -> None:
        self.layer = layer
        self.inputs = inputs
        self.kwargs = kwargs
        self.outputs: list[SymbolicTensor] = []

    def parents(self) -> list[SymbolicTensor]:
        """Every symbolic tensor this node reads (inputs and keyword arguments)."""
        return [t for t in flatten(self.inputs) + flatten(list(self.kwargs.values())) if is_symbolic(t)]


_INPUT_COUNT = [0]


def Input(shape: tuple | int | None = None, batch_size: int | None = None, name: str | None = None,
          dtype: str | torch.dtype = "float32", batch_shape: tuple | None = None,
          optional: bool = False) -> SymbolicTensor:
    """The entry point of a functional model: ``inputs = Input(shape=(28, 28, 1))``.

    Give the shape of one sample (``shape``, with ``batch_size`` to fix the
    batch), or the whole batch's shape at once (``batch_shape``, batch axis
    first), as Keras 3 does: ``Input(batch_shape=(16, 10, 5))`` is
    ``Input(shape=(10, 5), batch_size=16)``.

    Args:
        shape: shape of one sample, without the batch axis (``None`` = any size).
        batch_size: fixed batch size, or None (any).
        name: optional name (default ``input_layer``, ``input_layer_1``, ...).
        dtype: ``"float32"`` for data, ``"int64"``/``"int32"`` for token indices,
            ``"string"`` for texts (Keras's ``Input(shape=(1,), dtype="string")``),
            which only a TextVectorization or StringLookup layer may read.
        batch_shape: shape with the batch axis first, instead of ``shape`` and
            ``batch_size`` (``None`` entries = any size).
        optional: whether the model may be given None for this input
            (``model([x, None])``, ``predict``), as in Keras 3; the layers that
            read it then get None (their ``input_spec`` entry for it says
            ``InputSpec(optional=True)``).

    Returns:
        A ``SymbolicTensor`` of shape ``(batch_size, *shape)``.

    Raises:
        ValueError: neither ``shape`` nor ``batch_shape``, ``batch_shape`` together
            with ``shape`` or ``batch_size``, a shape that is not a tuple of sizes,
            or ``optional`` not True or False.

    Example:
        >>> Input(batch_shape=(16, 10, 5)).shape
        (16, 10, 5)
    """
    if not isinstance(optional, (bool, np.bool_)):
        raise ValueError(
            f"Input: expected optional to be True or False, got {optional!r}. "
            "Fix: Input(shape=(4,), optional=True) for an input the model may be given None for."
        )
    if batch_shape is not None:
        if shape is not None or batch_size is not None:
            given = "shape" if shape is not None else "batch_size"
            raise ValueError(
                f"Input: expected either batch_shape or shape (with batch_size), got batch_shape={batch_shape!r} "
                f"and {given}={shape if shape is not None else batch_size!r}. Fix: Input(batch_shape="
                f"{tuple(batch_shape)!r}) alone, or Input(shape=..., batch_size=...)."
            )
        if isinstance(batch_shape, int) or not isinstance(batch_shape, (tuple, list)) or len(batch_shape) == 0:
            raise ValueError(
                f"Input: expected batch_shape to be a tuple of sizes with the batch axis first, got {batch_shape!r}. "
                "Fix: Input(batch_shape=(16, 10, 5)), or Input(shape=(10, 5)) for any batch size."
            )
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        if batch_size is not None:
            batch_size = int(batch_size)
    if shape is None:
        raise ValueError(
            "Input: expected the shape of one sample, got neither shape nor batch_shape. "
            "Fix: Input(shape=(28, 28, 1)) (the batch axis left out), or Input(batch_shape=(None, 28, 28, 1))."
        )
    if isinstance(shape, int):
        shape = (shape,)
    try:
        dims = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"Input: expected shape to be a tuple of sizes (None for any), got {shape!r}. "
            "Fix: Input(shape=(28, 28, 1))."
        ) from None
    # Texts have no torch dtype: a string Input keeps the name "string".
    torch_dtype = dtype if dtype == "string" else getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if name is None:
        n = _INPUT_COUNT[0]
        _INPUT_COUNT[0] += 1
        name = "input_layer" if n == 0 else f"input_layer_{n}"
    tensor = SymbolicTensor((batch_size,) + dims, torch_dtype, name=name)
    tensor.optional = bool(optional)
    return tensor


def is_symbolic(value: Any) -> bool:
    return isinstance(value, SymbolicTensor)


def flatten(structure: Any) -> list[Any]:
    if isinstance(structure, dict):  # a layer called on a dict of tensors (Keras 3 takes any nest)
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [x for item in structure for x in flatten(item)]
    return [structure]


def any_symbolic(inputs: Any, kwargs: dict[str, Any]) -> bool:
    if isinstance(inputs, torch.Tensor) and not kwargs:  # the training hot path
        return False
    return any(is_symbolic(t) for t in flatten(inputs) + flatten(list(kwargs.values())))


def _probe_value(t: SymbolicTensor, device: torch.device | None, unknown: int) -> torch.Tensor:
    shape = tuple(unknown if d is None else d for d in t.shape)
    value = torch.zeros(shape, dtype=t.dtype, device=device)
    if t._keras_mask is not None:  # the layer's call gets a mask, as on real data
        value._keras_mask = _probe_value(t._keras_mask, device, unknown) == 0
    return value


def _probe_input(layer: Layer, v: Any, device: torch.device | None, unknown: int) -> Any:
    """A trial run's value for ``v``: zeros for a symbolic tensor (strings its
    text layer knows for a string Input, ``_text_holders``), ``v`` itself otherwise."""
    if not is_symbolic(v):
        return v
    if v.dtype == "string":
        return probe_strings(layer, tuple(unknown if d is None else d for d in v.shape))
    return _probe_value(v, device, unknown)


def _map(structure: Any, fn: Any) -> Any:
    if isinstance(structure, dict):
        return {k: _map(v, fn) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map(x, fn) for x in structure]
    return fn(structure)


def agreed_shape(first: Any, second: Any) -> tuple:
    """The shape two runs on zeros agree on, batch first: where one ran with every
    unknown size 2 and the other with 3, an axis whose size differs is unknown."""
    return (None,) + tuple(a if a == b else None for a, b in zip(first[1:], second[1:]))


def agreed_batch_shape(first: Any, second: Any) -> tuple:
    """``agreed_shape``, with the batch size kept where both runs had the same: a
    fixed batch (``Input(batch_shape=(16, ...))``) stays in the output's shape."""
    shape = agreed_shape(first, second)
    return (first[0] if first[0] == second[0] else None,) + shape[1:]


class _Probing(threading.local):
    on = False


_PROBING = _Probing()


def probing() -> bool:
    """Whether the layers now run on zeros to find a graph's shapes (a stateful
    recurrent layer then keeps no states)."""
    return _PROBING.on


def _probe_run(layer: Layer, inputs: Any, kwargs: dict[str, Any], unknown: int) -> Any:
    """The layer's output on zeros, each unknown size ``unknown``, in inference mode."""
    device = next((p.device for p in layer.parameters()), None)
    probe = lambda v: _probe_input(layer, v, device, unknown)  # noqa: E731
    was_probing = probing()
    modes = _training_mode.modes_of(layer)
    layer.eval()
    _PROBING.on = True
    try:
        with torch.no_grad():
            return layer(_map(inputs, probe), **{k: _map(v, probe) for k, v in kwargs.items()})
    except (ValueError, TypeError, RuntimeError) as err:
        unknowns = any(is_symbolic(t) and None in t.shape for t in flatten(inputs) + flatten(list(kwargs.values())))
        if type(err) not in (ValueError, TypeError, RuntimeError) or not unknowns or len(err.args) != 1:
            raise
        # The layer saw tensors whose unknown sizes (the batch's at least) were made up:
        # say so, or a learner looks for a batch of 2 in their code. torch's own errors
        # (RuntimeError: a reshape to a fixed batch size) get the fix too.
        fix = "" if type(err) is not RuntimeError else (
            f" Fix: in {type(layer).__name__}'s call, take sizes from the input (x.shape[0], or -1 in a reshape), "
            "not from a fixed batch size; or define compute_output_shape(input_shape) on the layer the graph "
            "calls, which it then uses in place of the trial runs.")
        raise type(err)(f"{err.args[0]} (Shapes above come from a trial run on zeros in which every "
                        f"size the model does not know yet, the batch's included, was {unknown}.){fix}") from None
    finally:  # each module's mode put back, and whether one was chosen (a call's own default counts then)
        _training_mode.put_back(modes)
        _PROBING.on = was_probing


def forget_trial_losses(layer: Layer) -> None:
    """Drop what ``add_loss`` got in the trial runs on zeros (Keras's
    ``model.losses`` is ``[]`` once built)."""
    for module in layer.modules():
        if isinstance(module, Layer) and module._added_losses:
            module._added_losses = ()


def own_output_shape(layer: Layer, input_shape: Shape) -> Any:
    """``layer.compute_output_shape(input_shape)``; for a layer of your own that does
    not define it, the shape two runs on zeros give (as a functional graph finds it),
    since the default (the input's shape) holds for brainnet's layers only."""
    cls = type(layer)
    if cls.compute_output_shape is not Layer.compute_output_shape or cls.__module__.startswith("brainnet."):
        return layer.compute_output_shape(input_shape)
    placeholder = SymbolicTensor(input_shape, layer.input_dtype or torch.get_default_dtype())
    runs = [_probe_run(layer, placeholder, {}, unknown) for unknown in (2, 3)]
    forget_trial_losses(layer)
    if isinstance(runs[0], (list, tuple)):
        return [agreed_batch_shape(a.shape, b.shape) for a, b in zip(runs[0], runs[1])]
    return agreed_batch_shape(runs[0].shape, runs[1].shape)


def symbolic_call(layer: Layer, inputs: Any, kwargs: dict[str, Any], training: bool | None = None) -> Any:
    """Record ``layer(inputs, **kwargs)`` on symbolic tensors; return symbolic outputs.
    A ``training`` given (``base_model(x, training=False)``) is kept in the node.

    The output shape comes from ``compute_output_shape`` when the layer
    defines it and the call has no extra arguments; otherwise from two runs
    on zeros in inference mode (every unknown size, batch included, 2 in one
    and 3 in the other: an output axis that follows them is unknown), as
    Keras's symbolic pass would give.
    """
    if training is not None:
        kwargs = {**kwargs, "training": bool(training)}
    if not accepts_text(layer) and any(is_symbolic(t) and t.dtype == "string" for t in flatten(inputs)):
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected numbers, got a string Input. Fix: turn the "
            "strings into numbers first, x = TextVectorization(...)(inputs) (adapt it on the texts), and call "
            f"{type(layer).__name__} on x."
        )
    if layer.input_spec is not None:
        check_input_spec(layer, inputs)
    shapes = _map(inputs, lambda t: t.shape if is_symbolic(t) else None if t is None else tuple(t.shape))
    layer.build_from_shape(shapes)
    own_shape_rule = type(layer).compute_output_shape is not Layer.compute_output_shape
    if own_shape_rule and not set(kwargs) - {"training"}:
        out_shapes = layer.compute_output_shape(shapes)
        multi = isinstance(out_shapes, list)
        out_shapes = out_shapes if multi else [out_shapes]
        dtypes = [torch.get_default_dtype()] * len(out_shapes)
    else:
        # Two runs on zeros, every unknown size 2 in one and 3 in the other: an output
        # axis whose size follows them (time, say) is unknown too.
        runs = [_probe_run(layer, inputs, kwargs, unknown) for unknown in (2, 3)]
        multi = isinstance(runs[0], (list, tuple))
        outs, others = (list(runs[0]), list(runs[1])) if multi else ([runs[0]], [runs[1]])
        out_shapes = [agreed_batch_shape(o.shape, p.shape) for o, p in zip(outs, others)]
        dtypes = [o.dtype for o in outs]
    forget_trial_losses(layer)
    masks = _output_masks(layer, inputs, kwargs, len(out_shapes))
    node = Node(layer, inputs, kwargs)
    layer.__dict__.setdefault("_inbound_nodes", []).append(node)  # layer.output, layer.input
    node.outputs = [
        SymbolicTensor(s, d, node, i, layer.name) for i, (s, d) in enumerate(zip(out_shapes, dtypes))
    ]
    for out, mask in zip(node.outputs, masks):
        out._keras_mask = mask
    return node.outputs if multi else node.outputs[0]


def _output_masks(layer: Layer, inputs: Any, kwargs: dict[str, Any], count: int) -> list[Any]:
    """The symbolic masks of the outputs (``x._keras_mask``): ``compute_mask`` run on
    zeros twice (unknown sizes 2, then 3), for a layer that supports masking."""
    own_rule = layer._own_compute_mask
    given = kwargs.get("mask")
    carried = any(is_symbolic(t) and t._keras_mask is not None for t in flatten(inputs))
    if not (own_rule or layer.supports_masking) and carried:  # a mask= of its own call's is no time-step mask
        warn_mask_dropped(layer, stacklevel=6)  # _output_masks, symbolic_call, forward, torch's two, the user's
    if not (own_rule or (layer.supports_masking and (carried or given is not None))):
        return [None] * count
    device = next((p.device for p in layer.parameters()), None)
    runs = []
    for unknown in (2, 3):
        probe = lambda v, unknown=unknown: _probe_input(layer, v, device, unknown)  # noqa: E731
        values = _map(inputs, probe)
        previous = _map(given, probe) if given is not None else (
            [getattr(v, "_keras_mask", None) for v in values] if isinstance(values, list)
            else getattr(values, "_keras_mask", None))
        if isinstance(previous, list) and all(m is None for m in previous):
            previous = None
        with torch.no_grad():
            out = layer.compute_mask(values, previous)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        runs.append((out + [None] * count)[:count])
    return [None if a is None or b is None else SymbolicTensor(agreed_shape(a.shape, b.shape), torch.bool)
            for a, b in zip(*runs)]
