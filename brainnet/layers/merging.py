"""Merging layers: join several inputs into one (Concatenate, Add, Subtract,
Multiply, Average, Maximum, Minimum, Dot)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
import torch.nn.functional as F

from .base import Layer, Shape, shape_str


class _Merge(Layer):
    """Shared checks: a list of at least two tensors of compatible shapes."""

    _same_rank = True  # Dot takes inputs of different ranks

    def _check(self, input_shape: Any, same_axes: slice | None) -> list[Shape]:
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected a list of at least two "
                f"inputs, got {input_shape!r}. Fix: {type(self).__name__}()([a, b])."
            )
        shapes = [tuple(s) for s in input_shape]
        batches = {s[0] for s in shapes if s and s[0] is not None}
        if len(batches) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected the same number of samples in "
                f"every input, got shapes {', '.join(shape_str(s) for s in shapes)}. Fix: pass the "
                "inputs of the same samples together (same batch size, same order)."
            )
        ranks = {len(s) for s in shapes}
        mismatch = (self._same_rank and len(ranks) > 1) or (
            same_axes is not None  # each axis: at most one size other than 1 (the others broadcast)
            and any(len(set(axis) - {None, 1}) > 1 for axis in zip(*(s[same_axes] for s in shapes)))
        )
        if mismatch:
            but = " except on the concatenation axis" if type(self) is Concatenate else " (an axis of size 1 broadcasts)"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected inputs whose shapes agree{but}, got "
                f"{', '.join(shape_str(s) for s in shapes)}. Fix: reshape or project the inputs "
                "(e.g. with Dense) to matching shapes first."
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self._check(input_shape, slice(1, None))

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The inputs' broadcast shape: on each axis the size other than 1 (Keras 3's rule)."""
        shapes = self._check(input_shape, slice(1, None))
        return tuple(max({d for d in axis if d != 1} - {None}, default=None if None in axis else 1)
                     for axis in zip(*shapes))

    def compute_mask(self, inputs: Any, mask: Any) -> torch.Tensor | None:
        """A step is real where it is real in every masked input (Keras's rule); None without masks."""
        masks = [m for m in (mask if isinstance(mask, (list, tuple)) else [mask]) if m is not None]
        if not masks:
            return None
        joined = torch.as_tensor(masks[0]).bool()
        for m in masks[1:]:
            joined = joined & torch.as_tensor(m).bool()
        return joined


class Add(_Merge):
    """Element-wise sum: ``y = Σ_i x_i``.

    Input: a list of tensors of one shape (axes of size 1 broadcast). Output: that shape.
    """

    equation = "y = Σ_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Multiply(_Merge):
    """Element-wise product: ``y = Π_i x_i``.

    Input: a list of tensors of one shape (axes of size 1 broadcast). Output: that shape.
    """

    equation = "y = Π_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """Element-wise mean: ``y = (1/n) Σ_i x_i``.

    Input: a list of tensors of one shape (axes of size 1 broadcast). Output: that shape.
    """

    equation = "y = (1/n) Σ_i x_i"
    float_math = True  # integer/bool inputs: float32 (a mean is a fraction; Keras's mean promotes so)

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(torch.broadcast_tensors(*inputs)).mean(0)


class Subtract(_Merge):
    """Element-wise difference of two inputs: ``y = x_1 − x_2``.

    Input: two tensors of one shape (axes of size 1 broadcast). Output: that shape.

    Raises:
        ValueError: not exactly two inputs, or shapes that differ.
    """

    equation = "y = x_1 − x_2"

    def _check(self, input_shape: Any, same_axes: slice | None) -> list[Shape]:
        if isinstance(input_shape, list) and len(input_shape) > 2:
            raise ValueError(
                f"Layer '{self.name}' (Subtract): expected exactly two inputs, got {len(input_shape)}. "
                "Fix: Subtract()([a, b]) computes a − b; for more terms, Add()([a, Lambda(lambda t: -t)(b), ...])."
            )
        return super()._check(input_shape, same_axes)

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return inputs[0] - inputs[1]


class Maximum(_Merge):
    """Element-wise maximum: ``y = max_i x_i``.

    Input: a list of tensors of one shape (axes of size 1 broadcast). Output: that shape.
    """

    equation = "y = max_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = torch.maximum(out, x)
        return out


class Minimum(_Merge):
    """Element-wise minimum: ``y = min_i x_i``.

    Input: a list of tensors of one shape (axes of size 1 broadcast). Output: that shape.
    """

    equation = "y = min_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = torch.minimum(out, x)
        return out


class Concatenate(_Merge):
    """Joins inputs along one axis: ``y = [x_1, x_2, ...]`` on ``axis``.

    Args:
        axis: the axis to join on (default -1, the features).

    Input: a list of tensors equal in shape except on ``axis``.
    Output: the same shape with ``axis`` the sum of the inputs' sizes.
    """

    equation = "y = [x_1 ‖ x_2 ‖ …] along axis"

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(
                f"Concatenate: expected axis to be an integer, got {axis!r}. Fix: Concatenate(axis=-1)."
            )
        self.axis = int(axis)

    def _other_axes_agree(self, input_shape: Any) -> list[Shape]:
        shapes = self._check(input_shape, None)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate): expected a non-batch axis of inputs of rank {rank} "
                f"(1 to {rank - 1}, or -1 to {1 - rank}), got axis={self.axis}. Fix: Concatenate(axis=-1)."
            )
        axis = self.axis % rank
        others = [tuple(d for i, d in enumerate(s) if i not in (0, axis)) for s in shapes]
        if any(
            a is not None and b is not None and a != b for o in others[1:] for a, b in zip(others[0], o)
        ):
            raise ValueError(
                f"Layer '{self.name}' (Concatenate): expected inputs whose shapes agree except on "
                f"axis {self.axis}, got {', '.join(shape_str(s) for s in shapes)}. Fix: reshape or "
                "project the inputs (e.g. with Dense, Flatten) to matching shapes first."
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self._other_axes_agree(input_shape)

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(inputs), dim=self.axis)

    def compute_mask(self, inputs: Any, mask: Any) -> torch.Tensor | None:
        """Keras's rule: each input's mask (all True where it has none) spread over its
        features, joined along ``axis``, then a step is real where any feature is: along
        time the masks follow each other, along the features a step real in any input is."""
        masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(inputs)
        if all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            m = torch.ones_like(x, dtype=torch.bool) if m is None else torch.as_tensor(m, device=x.device).bool()
            while m.ndim < x.ndim:
                m = m.unsqueeze(-1)
            full.append(m.expand_as(x))
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._other_axes_agree(input_shape)
        axis = self.axis % len(shapes[0])
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Batchwise dot product of two inputs along one axis of each (Keras's Dot).

    For each sample ``b``, with ``i`` the axis ``axes[0]`` of ``x`` and of the
    axis ``axes[1]`` of ``y`` (both of size ``n``), and ``p``, ``q`` the other
    non-batch axes of ``x`` and ``y`` in order::

        y_{b,p,q} = Σ_{k=1..n} x_{b,p,k} · y_{b,k,q}

    With ``normalize=True`` each input is first divided by its L2 norm along
    its dot axis, ``x̂ = x / max(‖x‖₂, 1e-7)``, so the output is the cosine
    similarity ``cos(x, y) = x·y / (‖x‖ ‖y‖)`` (Keras's epsilon).

    Args:
        axes: one axis for both inputs (an integer; negative counts from
            each input's last axis), or ``(axis of x, axis of y)``. Never 0,
            the batch axis.
        normalize: L2-normalise both inputs along their dot axes first.

    Input shape:
        A list of exactly two tensors ``[x, y]``, rank ≥ 2, the same batch
        size, and the same size on their dot axes.
    Output shape:
        ``(batch, *x's other axes, *y's other axes)``; two 2-D inputs give
        ``(batch, 1)``.

    Raises:
        ValueError: axes that are not an integer or a pair of integers, the
            batch axis, an axis the input does not have, not exactly two
            inputs, or dot axes of different sizes.

    Example:
        >>> import torch
        >>> Dot(axes=1)([torch.ones(4, 3), torch.ones(4, 3)]).shape
        torch.Size([4, 1])
        >>> Dot(axes=(1, 2))([torch.ones(2, 3, 5), torch.ones(2, 7, 3)]).shape
        torch.Size([2, 5, 7])
    """

    equation = "y_{b,p,q} = Σ_k x_{b,p,k} · y_{b,k,q} (normalize=True: cosine similarity)"

    def compute_mask(self, inputs: Any, mask: Any) -> None:
        return None  # the product mixes the steps: no mask comes out (Keras)
    _same_rank = False

    def __init__(self, axes: int | tuple[int, int] | list[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)

        def whole(a: Any) -> bool:
            return isinstance(a, numbers.Integral) and not isinstance(a, bool)

        pair = isinstance(axes, (list, tuple)) and len(axes) == 2 and all(whole(a) for a in axes)
        if not (whole(axes) or pair):
            raise ValueError(
                f"Dot: expected axes to be an integer or a pair of integers (axis of the first input, axis of "
                f"the second), got {axes!r}. Fix: Dot(axes=1) for two (batch, features) inputs, or "
                "Dot(axes=(1, 2))."
            )
        if not isinstance(normalize, bool):
            raise ValueError(f"Dot: expected normalize to be True or False, got {normalize!r}. "
                             "Fix: Dot(axes=1, normalize=True) for the cosine similarity.")
        self.axes: int | tuple[int, int] = int(axes) if whole(axes) else (int(axes[0]), int(axes[1]))
        self.normalize = normalize

    def _dot_axes(self, input_shape: Any) -> tuple[list[Shape], tuple[int, int]]:
        """The two input shapes and their dot axes (non-negative), checked."""
        if isinstance(input_shape, list) and len(input_shape) > 2:
            raise ValueError(
                f"Layer '{self.name}' (Dot): expected exactly two inputs, got {len(input_shape)}. "
                "Fix: Dot(axes=...)([a, b]); for more, take the dot products pair by pair."
            )
        shapes = self._check(input_shape, None)
        given = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        axes = []
        for which, (shape, axis) in enumerate(zip(shapes, given)):
            rank = len(shape)
            if not -rank <= axis < rank or axis % rank == 0:
                raise ValueError(
                    f"Layer '{self.name}' (Dot): expected a non-batch axis of input {which} of shape "
                    f"{shape_str(shape)} (1 to {rank - 1}, or -1 to {1 - rank}), got axis {axis} (axes="
                    f"{self.axes!r}). Fix: Dot(axes=-1) for the last axes, or give (axis of x, axis of y); "
                    "an input needs a batch axis and at least one more."
                )
            axes.append(axis % rank)
        n, m = shapes[0][axes[0]], shapes[1][axes[1]]
        if n is not None and m is not None and n != m:
            raise ValueError(
                f"Layer '{self.name}' (Dot): expected the dot axes to have the same size, got {n} (axis "
                f"{axes[0]} of {shape_str(shapes[0])}) and {m} (axis {axes[1]} of {shape_str(shapes[1])}). "
                "Fix: choose axes of equal size, e.g. Dot(axes=(1, 2)), or project one input with Dense first."
            )
        return shapes, (axes[0], axes[1])

    def build(self, input_shape: Any) -> None:
        self._dot_axes(input_shape)

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        _, (ax, ay) = self._dot_axes([tuple(t.shape) for t in inputs])
        x, y = inputs
        if self.normalize:
            x, y = F.normalize(x, dim=ax, eps=1e-7), F.normalize(y, dim=ay, eps=1e-7)
        x = x.movedim(ax, -1)  # (B, *p, n)
        y = y.movedim(ay, 1)  # (B, n, *q)
        b, n = x.shape[0], x.shape[-1]
        p, q = x.shape[1:-1], y.shape[2:]
        out = torch.bmm(x.reshape(b, math.prod(p), n), y.reshape(b, n, math.prod(q)))  # (B, Πp, Πq)
        out = out.reshape(b, *p, *q)  # (B, *p, *q)
        return out.reshape(b, 1) if out.dim() == 1 else out

    def compute_output_shape(self, input_shape: Any) -> Shape:
        (sx, sy), (ax, ay) = self._dot_axes(input_shape)
        out = (sx[0],) + tuple(d for i, d in enumerate(sx) if i not in (0, ax)) \
            + tuple(d for i, d in enumerate(sy) if i not in (0, ay))
        return out if len(out) > 1 else out + (1,)

    def get_config(self) -> dict[str, Any]:
        axes = self.axes if isinstance(self.axes, int) else list(self.axes)
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


# ------------------------------------------------ Keras's functional shorthands
def add(inputs: list[Any], **kwargs: Any) -> Any:
    """``Add(**kwargs)(inputs)``, as Keras's ``layers.add``."""
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    """``Subtract(**kwargs)(inputs)``, as Keras's ``layers.subtract``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    """``Multiply(**kwargs)(inputs)``, as Keras's ``layers.multiply``."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    """``Average(**kwargs)(inputs)``, as Keras's ``layers.average``."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    """``Maximum(**kwargs)(inputs)``, as Keras's ``layers.maximum``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    """``Minimum(**kwargs)(inputs)``, as Keras's ``layers.minimum``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    """``Concatenate(axis=axis, **kwargs)(inputs)``, as Keras's ``layers.concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs: list[Any], axes: Any = -1, **kwargs: Any) -> Any:
    """``Dot(axes=axes, **kwargs)(inputs)``, as Keras's ``layers.dot``."""
    return Dot(axes=axes, **kwargs)(inputs)
