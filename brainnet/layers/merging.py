"""Merging layers: join several inputs into one (Concatenate, Add, Subtract,
Multiply, Average, Maximum, Minimum)."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .base import Layer, Shape, shape_str


class _Merge(Layer):
    """Shared checks: a list of at least two tensors of compatible shapes."""

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
        mismatch = len(ranks) > 1 or (
            same_axes is not None
            and any(
                a is not None and b is not None and a != b
                for s in shapes[1:]
                for a, b in zip(shapes[0][same_axes], s[same_axes])
            )
        )
        if mismatch:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected inputs whose shapes agree"
                f"{' except on the concatenation axis' if type(self) is Concatenate else ''}, got "
                f"{', '.join(shape_str(s) for s in shapes)}. Fix: reshape or project the inputs "
                "(e.g. with Dense) to matching shapes first."
            )
        return shapes

    def build(self, input_shape: Any) -> None:
        self._check(input_shape, slice(1, None))

    def compute_output_shape(self, input_shape: Any) -> Shape:
        return tuple(self._check(input_shape, slice(1, None))[0])


class Add(_Merge):
    """Element-wise sum: ``y = Σ_i x_i``.

    Input: a list of tensors of one shape. Output: that shape.
    """

    equation = "y = Σ_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Multiply(_Merge):
    """Element-wise product: ``y = Π_i x_i``.

    Input: a list of tensors of one shape. Output: that shape.
    """

    equation = "y = Π_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Average(_Merge):
    """Element-wise mean: ``y = (1/n) Σ_i x_i``.

    Input: a list of tensors of one shape. Output: that shape.
    """

    equation = "y = (1/n) Σ_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(inputs)).mean(0)


class Subtract(_Merge):
    """Element-wise difference of two inputs: ``y = x_1 − x_2``.

    Input: a list of exactly two tensors of one shape. Output: that shape.

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

    Input: a list of tensors of one shape. Output: that shape.
    """

    equation = "y = max_i x_i"

    def call(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = torch.maximum(out, x)
        return out


class Minimum(_Merge):
    """Element-wise minimum: ``y = min_i x_i``.

    Input: a list of tensors of one shape. Output: that shape.
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

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._other_axes_agree(input_shape)
        axis = self.axis % len(shapes[0])
        sizes = [s[axis] for s in shapes]
        out = list(shapes[0])
        out[axis] = None if any(d is None for d in sizes) else sum(sizes)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
