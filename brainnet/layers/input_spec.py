"""``InputSpec``: what a layer says it takes (rank, dtype, sizes), checked at each call.

A layer of your own sets ``self.input_spec`` in ``__init__`` (or ``build``):
one ``InputSpec``, or a list of them for a layer called on a list of inputs
(``None`` for an input not checked). ``layer(x)`` then checks ``x`` against
it, eagerly and on symbolic ``Input``s, before building, with Keras 3's rules
(``assert_input_compatibility``), and answers a mismatch with brainnet's
teaching error: what was expected, what was got, and the fix. brainnet's own
layers check their inputs through ``input_rank``/``min_rank`` and
``fixed_axes`` instead and leave ``input_spec`` None.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ._shapes import shape_str


def dtype_name(dtype: Any) -> str:
    """A dtype's name as Keras writes it (``"float32"``, ``"int64"``, ``"bool"``, ``"string"``)."""
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    if dtype is str or (isinstance(dtype, str) and dtype in ("string", "str")):
        return "string"
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return str(getattr(torch, dtype)).removeprefix("torch.")  # "bfloat16", "float": torch's names
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise TypeError(
            f"InputSpec: expected dtype to be a dtype or its name, got {dtype!r}. Fix: InputSpec(dtype='float32') "
            "(or torch.float32, 'int64', 'bool', 'string')."
        ) from None


class InputSpec:
    """The rank, dtype and sizes a layer's input must have, ``None`` meaning "any".

    Set as ``self.input_spec`` in a layer's ``__init__``; every call then
    checks, for input ``x`` of shape ``s`` and rank ``n = len(s)``:
    ``n = ndim`` (unless ``allow_last_axis_squeeze``), ``n ≤ max_ndim``,
    ``n ≥ min_ndim``, ``dtype(x) = dtype``, ``s[a] = v`` for each
    ``a: v`` in ``axes``, and ``s[i] = shape[i]`` wherever both are known.

    Args:
        dtype: the input's dtype (a name such as ``"float32"``, or a torch or NumPy dtype); None: any.
        shape: the full shape, batch axis included, None for any size on an
            axis (sets ``ndim`` to its length); None: any.
        ndim: the rank, batch axis included; None: any.
        max_ndim: the largest rank taken; None: no limit.
        min_ndim: the smallest rank taken; None: no limit.
        axes: ``{axis: size}``, sizes some axes must have (negative axes count
            from the end), e.g. ``{-1: 8}``; None: none.
        allow_last_axis_squeeze: also take an input one rank higher whose last
            axis is 1, or one rank lower where ``shape``'s last axis is 1 (the
            rank is then not checked).
        name: the input's name, shown in the errors (Keras also matches it
            to a dict's keys; brainnet's layers take a tensor or a list).
        optional: the input may be None: an entry of a list of inputs that
            is None reaches ``call`` as None (``build`` sees None for its
            shape). A None input is refused everywhere else.

    Input shape:
        Whatever the spec allows.

    Output shape:
        Not concerned: an ``InputSpec`` only checks.

    Raises:
        TypeError: ``axes`` whose keys are not integers, an unknown ``dtype``.
        ValueError: an axis in ``axes`` beyond ``ndim``/``max_ndim``; at a
            call, an input the spec does not allow, or None where no
            optional spec takes it.

    Example:
        >>> import torch
        >>> from brainnet.layers import Layer
        >>> class Gray(Layer):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.input_spec = InputSpec(ndim=4, axes={-1: 1})
        ...     def call(self, x):
        ...         return x.mean(dim=(1, 2))
        >>> Gray()(torch.ones(2, 5, 5, 1)).shape
        torch.Size([2, 1])
    """

    def __init__(
        self,
        dtype: Any = None,
        shape: Iterable[int | None] | None = None,
        ndim: int | None = None,
        max_ndim: int | None = None,
        min_ndim: int | None = None,
        axes: dict[int, int] | None = None,
        allow_last_axis_squeeze: bool = False,
        name: str | None = None,
        optional: bool = False,
    ) -> None:
        self.dtype = None if dtype is None else dtype_name(dtype)
        self.shape = None if shape is None else tuple(None if d is None else int(d) for d in shape)
        self.ndim = len(self.shape) if self.shape is not None else ndim
        self.max_ndim = max_ndim
        self.min_ndim = min_ndim
        self.allow_last_axis_squeeze = bool(allow_last_axis_squeeze)
        self.name = name
        self.optional = bool(optional)
        try:
            self.axes = {int(axis): size for axis, size in (axes or {}).items()}
        except (AttributeError, TypeError, ValueError):
            raise TypeError(
                f"InputSpec: expected axes to be a dict of integer axis → size, got {axes!r}. "
                "Fix: InputSpec(axes={-1: 8}) for 8 values on the last axis."
            ) from None
        top = self.ndim if self.ndim is not None else self.max_ndim
        if self.axes and top is not None and max(self.axes) > top - 1:
            raise ValueError(
                f"InputSpec: expected the axes in axes to be below the rank {top}, got axis {max(self.axes)}. "
                f"Fix: count axes from 0 (the batch axis) to {top - 1}, or from the end with negative numbers."
            )

    def __repr__(self) -> str:
        fields = {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                  "min_ndim": self.min_ndim, "axes": self.axes}
        return "InputSpec(" + ", ".join(f"{k}={v}" for k, v in fields.items() if v) + ")"

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-safe but for ``axes``' integer keys)."""
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim, "max_ndim": self.max_ndim,
                "min_ndim": self.min_ndim, "axes": self.axes, "allow_last_axis_squeeze": self.allow_last_axis_squeeze,
                "name": self.name, "optional": self.optional}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputSpec:
        return cls(**config)


def check_input_spec(layer: Any, inputs: Any) -> None:
    """Raise a teaching ``ValueError`` when ``inputs`` do not fit ``layer.input_spec``
    (an ``InputSpec``, or a list of them, one per input, None for any)."""
    spec = layer.input_spec
    if isinstance(spec, InputSpec) and not isinstance(inputs, (list, tuple)):
        if not (inputs is None and spec.optional):
            _check_one(layer, spec, inputs, 0)
        return
    specs = [spec] if isinstance(spec, InputSpec) else list(spec)
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(inputs) != len(specs):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expected {len(specs)} input(s), as its input_spec says, "
            f"got {len(inputs)}. Fix: call it on a list of {len(specs)} tensors, layer([a, b, ...])."
        )
    for index, (x, one) in enumerate(zip(inputs, specs)):
        if one is not None and not (x is None and one.optional):
            _check_one(layer, one, x, index)


def check_none_inputs(layer: Any, inputs: Any) -> None:
    """Refuse a None input unless it is an entry of a list of inputs whose
    entry of ``layer.input_spec`` says ``optional=True``: that one reaches
    ``call`` as None (its shape None in ``build``), as in Keras 3."""
    where = f"Layer '{layer.name}' ({type(layer).__name__})"
    if inputs is None:
        raise ValueError(
            f"{where}: expected a tensor, or a list of tensors, got None. Fix: call it on a tensor, layer(x); an "
            "input that may be missing goes in a list, layer([x, None]), its entry of the layer's input_spec "
            "InputSpec(optional=True)."
        )
    spec = layer.input_spec
    specs = list(spec) if isinstance(spec, (list, tuple)) else []
    for index, x in enumerate(inputs):
        if x is None and not (index < len(specs) and specs[index] is not None and specs[index].optional):
            raise ValueError(
                f"{where} input {index}: expected a tensor, got None (only an input whose InputSpec says "
                f"optional=True may be None). Fix: pass a tensor there; in a layer of your own that takes a "
                f"missing input, make entry {index} of its input_spec list InputSpec(optional=True) and let call "
                "handle None."
            )


def _check_one(layer: Any, spec: InputSpec, x: Any, index: int) -> None:
    """Keras 3's checks of one input against one spec, in Keras's order."""
    where = f"Layer '{layer.name}' ({type(layer).__name__}) input {index}" + (f" '{spec.name}'" if spec.name else "")
    if not hasattr(x, "shape"):
        raise ValueError(f"{where}: expected a tensor, got {type(x).__name__}. Fix: call the layer on a tensor "
                         "(torch.as_tensor(x)), or on the output of an Input or another layer.")
    shape = tuple(x.shape)
    ndim = len(shape)
    got = f"got shape {shape_str(shape)} of rank {ndim}"
    before = f"put a Reshape/Flatten layer before '{layer.name}'"
    reshape = f"reshape the input (x[..., None] adds a last axis of 1) or {before}"
    fewer = f"reshape the input to fewer axes (x.reshape(len(x), -1) keeps the batch axis) or {before}"
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where}: expected rank ndim={spec.ndim}, {got}. Fix: {reshape}.")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where}: expected rank at most max_ndim={spec.max_ndim}, {got}. Fix: {fewer}.")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where}: expected rank at least min_ndim={spec.min_ndim}, {got}. Fix: {reshape}.")
    if spec.dtype is not None and dtype_name(x.dtype) != spec.dtype:
        raise ValueError(f"{where}: expected dtype {spec.dtype}, got {dtype_name(x.dtype)}. "
                         f"Fix: cast the input, x.to(torch.{spec.dtype}) (NumPy: x.astype('{spec.dtype}')).")
    for axis, size in spec.axes.items():
        if size is None:
            continue
        if not -ndim <= axis < ndim:
            raise ValueError(f"{where}: expected an axis {axis} of size {size}, {got}, which has no axis {axis}. "
                             f"Fix: {reshape}.")
        if shape[axis] is not None and shape[axis] != size:
            raise ValueError(f"{where}: expected size {size} on axis {axis}, {got} ({shape[axis]} there). Fix: give "
                             f"inputs with {size} on axis {axis}, or make a new layer for inputs of this size.")
    if spec.shape is not None:
        want, have = spec.shape, shape
        if spec.allow_last_axis_squeeze:
            if len(have) == len(want) + 1 and have[-1] == 1:
                have = have[:-1]
            elif len(want) == len(have) + 1 and want[-1] == 1:
                want = want[:-1]
        if any(w is not None and h is not None and w != h for w, h in zip(want, have)):
            raise ValueError(f"{where}: expected shape {shape_str(spec.shape)} (None: any size), {got}. "
                             f"Fix: give inputs of shape {shape_str(spec.shape)}.")
