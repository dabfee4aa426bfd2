"""EinsumDense: a dense layer whose product is any einsum of the input and one
kernel, e.g. the per-head projections of multi-head attention. Its own file
(``core.py``, Dense's, is full); the kernel's and bias's shapes follow from
the equation by Keras 3's rules, computed in ``einsum_shapes``."""

from __future__ import annotations

import re
from typing import Any, Callable

import torch

from .. import activations, regularizers
from .base import Layer, Shape, shape_str
from .core import take_weight_arguments, weight_arguments_config

# "I,W->O" (I names every input axis), "...I,W->...O" (leading axes, the batch among them, are
# elided and kept), "I...,W->O..." (I names the batch and at least one more axis; the trailing axes are kept)
_FORMS = {
    "none": re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"),
    "left": re.compile(r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)"),
    "right": re.compile(r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\."),
}


def _parse(equation: Any) -> tuple[str, str, str, str]:
    """(form, input spec, kernel spec, output spec), or a ValueError."""
    for form, pattern in _FORMS.items():
        found = pattern.fullmatch(equation) if isinstance(equation, str) else None
        if found:
            return (form, *found.groups())
    raise ValueError(
        f"EinsumDense: expected an equation 'I,W->O', '...I,W->...O' or 'I...,W->O...' (I, W, O: letters naming "
        f"the axes of the input, the kernel and the output), got {equation!r}. Fix: EinsumDense('ab,bc->ac', "
        "output_shape=64) is Dense(64); EinsumDense('...x,xy->...y', output_shape=64) acts on the last axis."
    )


def _check_specs(name: str, form: str, specs: tuple[str, str, str], output_shape: tuple, bias_axes: Any) -> None:
    """What the equation alone decides: a source for every output and kernel letter, output_shape's
    length, bias_axes."""
    inp, kernel, out = specs
    given = len(out) - (0 if form == "left" else 1)  # output_shape leaves out the batch and the elided axes
    orphans = [c for c in out if c not in inp and c not in kernel] + [c for c in kernel if c not in inp + out]
    if orphans:
        raise ValueError(
            f"{name}: expected every output letter to be an input or kernel letter and every kernel letter to be "
            f"an input or output letter, got {orphans[0]!r} alone in the equation '{inp},{kernel}->{out}'. Fix: "
            "name each kernel axis after the input axis it contracts or the output axis it makes."
        )
    if len(output_shape) != given:
        raise ValueError(
            f"{name}: expected output_shape with {given} entr{'y' if given == 1 else 'ies'} (the output axes "
            f"'{out[0 if form == 'left' else 1:]}', without the batch{' and the ellipsis' if form != 'none' else ''}),"
            f" got {output_shape}. Fix: one size per such axis, None where the input gives it."
        )
    if bias_axes is not None and (not isinstance(bias_axes, str) or not bias_axes or
                                  any(c not in out for c in bias_axes)):
        raise ValueError(
            f"{name}: expected bias_axes to be letters of the output '{out}', got {bias_axes!r}. "
            f"Fix: bias_axes='{out[-1]}' for one bias per output feature, or None for no bias."
        )


def einsum_equation_text(equation: str, bias_axes: str | None, activation: str) -> str:
    """The layer's equation spelt out for ``model.summary(show_equations=True)``, e.g.
    ``"abc,cde->abde"`` with ``bias_axes="de"`` and relu: ``y[a,b,d,e] = relu(Σ_c x[a,b,c]·W[c,d,e] + b[d,e])``.
    ``…`` stands for the axes an ellipsis keeps."""
    form, inp, kernel, out = _parse(equation)

    def index(letters: str) -> str:
        return ",".join(["…"] * (form == "left") + list(letters) + ["…"] * (form == "right"))

    summed = "".join(dict.fromkeys(c for c in inp + kernel if c not in out))
    body = f"x[{index(inp)}]·W[{','.join(kernel)}]"
    body = f"Σ_{summed} {body}" if summed else body
    if bias_axes:
        body += f" + b[{','.join(c for c in out if c in bias_axes)}]"
    if activation != "linear":
        body = f"{activation}({body})"
    return f"y[{index(out)}] = {body}"


def einsum_shapes(
    name: str, equation: str, bias_axes: str | None, input_shape: Shape, output_shape: tuple,
) -> tuple[tuple[int, ...], tuple[int, ...] | None, tuple, tuple[int, ...]]:
    """Keras 3's rules: ``(kernel shape, bias shape or None, full output shape, input axes the kernel fixes)``.

    The full output is the batch, then (for "...I") the other elided leading input axes, then
    ``output_shape``, then (for "I...") the elided trailing input axes; a None in it is the size
    of the input axis of the same letter. Each kernel axis has the size of the input axis, else
    the output axis, of its letter. The bias spans the output from its first letter in
    ``bias_axes`` to the end, with size 1 on the letters not in bias_axes (and on the elided
    trailing axes), so it broadcasts.
    """
    form, inp, kernel, out = _parse(equation)
    rank = len(input_shape)
    elided = rank - len(inp)
    if elided < (1 if form == "left" else 0) or (form == "none" and elided != 0):
        want = {"none": f"exactly {len(inp)}", "left": f"more than {len(inp)}", "right": f"at least {len(inp)}"}
        raise ValueError(
            f"Layer '{name}' (EinsumDense): expected inputs of rank {want[form]} for the equation '{equation}', "
            f"got shape {shape_str(input_shape)} of rank {rank}. Fix: one letter per input axis (the batch "
            "included), or '...' for the axes the layer does not touch, e.g. '...x,xy->...y'."
        )
    lead = elided if form == "left" else 0
    in_axis = {c: lead + i for i, c in enumerate(inp)}
    trailing = input_shape[rank - elided:] if form == "right" else ()
    full = [input_shape[0], *input_shape[1:lead], *output_shape, *trailing]  # None: not known yet
    for i, c in enumerate(out):
        axis = lead + i
        if c in in_axis:
            size = input_shape[in_axis[c]]
            if full[axis] is not None and size is not None and full[axis] != size:
                raise ValueError(
                    f"Layer '{name}' (EinsumDense): expected output axis '{c}' to have the size of input axis "
                    f"'{c}', {size}, got {full[axis]} in output_shape. Fix: None (or {size}) for that entry of "
                    "output_shape; a letter shared by input and output keeps its size."
                )
            full[axis] = size if full[axis] is None else full[axis]
    out_size = {c: full[lead + i] for i, c in enumerate(out)}
    kernel_shape = tuple(input_shape[in_axis[c]] if c in in_axis else out_size[c] for c in kernel)
    bias_shape = None
    if bias_axes is not None:
        first = min(out.index(c) for c in bias_axes)
        bias_shape = tuple(out_size[c] if c in bias_axes else 1 for c in out[first:]) + (1,) * len(trailing)
    if any(s is None for s in (*kernel_shape, *(bias_shape or ()))):
        raise ValueError(
            f"Layer '{name}' (EinsumDense): expected known sizes for the kernel {kernel!r} and the bias, got "
            f"kernel {kernel_shape}, bias {bias_shape} from inputs of shape {shape_str(input_shape)}. Fix: give the "
            "sizes in output_shape, and keep the batch letter out of the kernel and bias_axes."
        )
    fixed = tuple(in_axis[c] - (rank if form == "left" else 0) for c in kernel if c in in_axis)
    return kernel_shape, bias_shape, tuple(full), fixed


class EinsumDense(Layer):
    """A dense layer whose product is an einsum: the equation names the axes of
    the input, the kernel and the output, and every letter missing from the
    output is summed over.

    Equation (for ``equation="ab,bc->ac"``, which is Dense; ``bias_axes="c"``)::

        y[a, c] = f(Σ_b x[a, b] · W[b, c] + bias[c])

    and in general ``y[O] = f(Σ_{letters not in O} x[I] · W[K] + bias)``
    for ``equation="I,K->O"``, e.g. the per-head query projection of
    multi-head attention ``"abc,cde->abde"`` (``W`` of shape ``(d, heads,
    d_k)``). ``"..."`` stands for axes left as they are (``"...x,xy->...y"``
    acts on the last axis of inputs of any rank). The ``kernel`` is stored in
    the order its letters have (as Keras); each of its axes has the size of
    the input axis of the same letter, else of the output axis. The ``bias``
    spans the output from the first letter of ``bias_axes`` to the end, with
    size 1 on the letters not in ``bias_axes``, and broadcasts.

    Args:
        equation: ``"I,K->O"``, ``"...I,K->...O"`` or ``"I...,K->O..."``.
        output_shape: int or tuple: the output's sizes without the batch axis
            and the ``...`` axes; None where the input axis of the same letter
            gives it.
        activation: name or callable; ``None`` means linear.
        bias_axes: letters of the output that get a bias (default None: no bias).
        kernel_initializer: default ``"glorot_uniform"`` (Keras's fans of the
            kernel's shape); bias_initializer: default ``"zeros"``.
        kernel_regularizer, bias_regularizer, activity_regularizer,
            kernel_constraint, bias_constraint: as Dense's.
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: as the equation's input letters (and ``...``) say.
    Output shape: ``(batch, [leading ... axes], *output_shape, [trailing ... axes])``.

    Raises:
        ValueError: a malformed equation, a letter with no source, an
            output_shape of the wrong length, bias_axes not in the output, an
            input of the wrong rank, or an output size that contradicts the
            input's.

    Example:
        >>> import torch
        >>> EinsumDense("abc,cde->abde", output_shape=(None, 4, 16), bias_axes="de")(torch.ones(2, 10, 32)).shape
        torch.Size([2, 10, 4, 16])
    """

    equation = "y[O] = f(Σ x[I]·W[K] + b), summed over the letters not in O"

    @property
    def equation_text(self) -> str:
        """What ``model.summary(show_equations=True)`` shows: the equation with
        this layer's letters (``equation`` itself is the einsum string, as in Keras)."""
        return einsum_equation_text(self.equation, self.bias_axes, activations.serialize(self.activation))

    def __init__(
        self,
        equation: str,
        output_shape: int | tuple[int | None, ...],
        activation: str | Callable | None = None,
        bias_axes: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        form, *specs = _parse(equation)
        shape = (output_shape,) if isinstance(output_shape, int) else output_shape
        if not isinstance(shape, (tuple, list)) or any(
                s is not None and (isinstance(s, bool) or not isinstance(s, int) or s <= 0) for s in shape):
            raise ValueError(
                f"EinsumDense: expected output_shape to be a positive int or a tuple of positive ints and Nones, "
                f"got {output_shape!r}. Fix: output_shape=64, or (None, 64) with None where the input gives the size."
            )
        _check_specs("EinsumDense", form, tuple(specs), tuple(shape), bias_axes)
        self.equation = equation  # the instance's own: the einsum it computes
        self.partial_output_shape = tuple(shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        take_weight_arguments(self, locals(), ("kernel", "bias"))
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    def _shapes(self, input_shape: Shape) -> tuple:
        return einsum_shapes(self.name, self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape)

    def build(self, input_shape: Shape) -> None:
        kernel_shape, bias_shape, _, self.fixed_axes = self._shapes(input_shape)
        self.kernel = self.add_weight("kernel", self.initial_value("kernel", kernel_shape))
        self.bias = None if bias_shape is None else self.add_weight("bias", self.initial_value("bias", bias_shape))

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        y = torch.einsum(self.equation, inputs, self.kernel)  # the output's axes, in O's order
        return y if self.bias is None else y + self.bias

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._shapes(input_shape)[2]

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "equation": self.equation,
            "output_shape": list(self.partial_output_shape),
            "activation": activations.serialize(self.activation),
            "bias_axes": self.bias_axes,
            **weight_arguments_config(self, ("kernel", "bias")),
            **regularizers.config_of(self, "activity"),
        }
