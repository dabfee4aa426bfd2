"""RMSNormalization: LayerNormalization without the mean, the normalization
of many recent Transformers (Zhang and Sennrich, 2019). Kept apart from
``normalization.py``, which is already a full file."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .base import Layer, Shape, shape_str


class RMSNormalization(Layer):
    """Divides each sample by the root mean square of its values along
    ``axis``, then scales each position by a learned factor.

    Equation (as Keras 3; the mean over the normalized axes of one sample)::

        rms(x) = √(mean_axis(x²) + ε)
        y = x / rms(x) · scale

    Unlike LayerNormalization it neither subtracts the mean nor adds a shift,
    so it costs one reduction instead of two; training and inference compute
    the same thing. Half-precision inputs are normalized in float32 and the
    output is given back in their dtype.

    Args:
        axis: the axis to normalize (default ``-1``, the features), or a list
            of axes normalized together; not the batch axis.
        epsilon: ``ε`` ≥ 0 added under the root (default 1e-6, as Keras).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: any, rank ≥ 2. Output shape: the same.

    Weights: ``scale``, shaped like the normalized axes (in the order of the
    input), initialised to ones.

    Raises:
        ValueError: axis that is not an int or a list of ints, epsilon < 0,
            or an axis outside the input or on its batch axis.

    Example:
        >>> import torch
        >>> y = RMSNormalization()(torch.tensor([[6.0, 8.0]]))  # rms = √((36 + 64)/2) = √50
        >>> [round(v, 4) for v in y[0].tolist()]
        [0.8485, 1.1314]
    """

    equation = "y = x / √(mean_axis(x²) + ε) · scale"
    min_rank = 2
    rank_hint = "(batch, ..., features)"

    def __init__(self, axis: int | list[int] = -1, epsilon: float = 1e-6, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError(f"RMSNormalization: expected axis to be an int or a list of ints, got {axis!r}. "
                             "Fix: RMSNormalization(axis=-1) normalizes the features (the last axis).")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon >= 0:
            raise ValueError(f"RMSNormalization: expected epsilon to be a number ≥ 0, got {epsilon!r}. "
                             "Fix: RMSNormalization(epsilon=1e-6).")
        self.axis = axes if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -rank <= a < rank or a % rank == 0 for a in given):
            raise ValueError(
                f"Layer '{self.name}' (RMSNormalization) expected axes of inputs of shape {shape_str(input_shape)} "
                f"other than the batch axis (0), got axis={self.axis!r}. Fix: axis=-1 for the features, or "
                f"axes among 1..{rank - 1} (or -1..-{rank - 1})."
            )
        self._axes = tuple(sorted({a % rank for a in given}))
        self.fixed_axes = self._axes
        # scale broadcasts along the other axes: (1, ..., d_a, ..., 1) with the normalized sizes in place
        self._broadcast = tuple(input_shape[a] if a in self._axes else 1 for a in range(rank))
        self.scale = self.add_weight("scale", torch.ones(tuple(input_shape[a] for a in self._axes)))

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs if inputs.dtype.itemsize >= 4 else inputs.float()  # (B, ...) in at least float32
        inverse_rms = torch.rsqrt(x.square().mean(dim=self._axes, keepdim=True) + self.epsilon)  # 1/rms(x)
        y = x * inverse_rms * self.scale.to(x.dtype).reshape(self._broadcast)
        return y.to(inputs.dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
