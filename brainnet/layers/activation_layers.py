"""Activation layers with arguments: ReLU, LeakyReLU, Softmax (Keras 3's).

``Activation("relu")`` covers the plain functions; these take the settings
Keras tutorials give them (``ReLU(max_value=6.0)``, ``LeakyReLU(0.2)``,
``Softmax(axis=1)``).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import torch
import torch.nn.functional as F

from .. import activations
from .base import Layer, Shape, shape_str


def _non_negative(layer: str, arg: str, value: Any, example: str, allow_none: bool = False) -> float | None:
    """A number ≥ 0 as a float (or None where allowed), else a teaching error."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(
            f"{layer}: expected {arg} to be a number ≥ 0{' or None' if allow_none else ''}, got {value!r}. "
            f"Fix: {layer}({arg}={example})."
        )
    return float(value)


class ReLU(Layer):
    """Rectified linear unit, with Keras 3's optional ceiling, leak and threshold.

    Equation (θ = ``threshold``, α = ``negative_slope``, m = ``max_value``)::

        y = min(x, m)       if x > θ
        y = α · (x − θ)     otherwise

    With the defaults: ``y = max(x, 0)``; ``max_value=None`` means no ceiling.

    Args:
        max_value: ceiling m ≥ 0, or None (default).
        negative_slope: slope α ≥ 0 below the threshold (default 0).
        threshold: θ ≥ 0, below which the unit is off (default 0).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: a negative (or non-numeric) argument.

    Example:
        >>> import torch
        >>> ReLU(max_value=6.0)(torch.tensor([-1.0, 3.0, 9.0])).tolist()
        [0.0, 3.0, 6.0]
    """

    equation = "y = min(x, max_value) if x > θ else α·(x − θ)"
    supports_masking = True

    def __init__(
        self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.max_value = _non_negative("ReLU", "max_value", max_value, "6.0", allow_none=True)
        self.negative_slope = _non_negative("ReLU", "negative_slope", negative_slope, "0.1")
        self.threshold = _non_negative("ReLU", "threshold", threshold, "0.0")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.negative_slope == 0.0 and self.threshold == 0.0:  # the common case, one kernel
            y = torch.relu(inputs)
            return y if self.max_value is None else y.clamp(max=self.max_value)
        above = inputs if self.max_value is None else inputs.clamp(max=self.max_value)
        return torch.where(inputs > self.threshold, above, self.negative_slope * (inputs - self.threshold))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """Leaky ReLU: negative inputs keep a small slope.

    Equation::

        y = x         if x ≥ 0
        y = α · x     otherwise

    Args:
        negative_slope: α ≥ 0 (default 0.3, Keras 3's). ``alpha=`` (Keras 2's
            name, in many tutorials) is taken with a deprecation warning, as Keras 3 does.

    Input shape: any. Output shape: same as input.

    Example:
        >>> import torch
        >>> LeakyReLU(0.5)(torch.tensor([-2.0, 2.0])).tolist()
        [-1.0, 2.0]
    """

    equation = "y = x if x ≥ 0 else α·x"
    supports_masking = True

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("LeakyReLU: alpha= is deprecated (Keras 3); use negative_slope=.", DeprecationWarning,
                          stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _non_negative("LeakyReLU", "negative_slope", negative_slope, "0.3")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class Softmax(Layer):
    """Softmax along one axis: the values along it become probabilities.

    Equation (along ``axis``)::

        y_i = exp(x_i) / Σ_j exp(x_j)

    On the last axis (the default) it is the model's output activation, like
    ``Activation("softmax")``: a cross-entropy loss then runs on the logits
    (log-softmax, the same value, stable).

    Args:
        axis: the axis to normalise (default -1).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: an axis the input does not have.

    Example:
        >>> import torch
        >>> Softmax()(torch.zeros(1, 4)).tolist()
        [[0.25, 0.25, 0.25, 0.25]]
    """

    equation = "y_i = exp(x_i) / Σ_j exp(x_j) (along axis)"

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(f"Softmax: expected axis to be an int, got {axis!r}. Fix: Softmax(axis=-1).")
        self.axis = int(axis)
        if self.axis == -1:
            self.activation = activations.get("softmax")  # the model's output activation (fused losses)

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank:
            raise ValueError(
                f"Layer '{self.name}' (Softmax): expected axis from {-rank} to {rank - 1} for inputs of shape "
                f"{shape_str(input_shape)}, got axis={self.axis}. Fix: Softmax(axis=-1) normalises the last axis."
            )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(inputs, dim=self.axis)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs if self.activation is not None else self.call(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
