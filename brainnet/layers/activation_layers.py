"""Activation layers with arguments: ReLU, LeakyReLU, Softmax, ELU, PReLU (Keras 3's).

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
from .base import _INITIALIZERS, Layer, Shape, shape_str


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

    float_math = True  # integer/bool inputs: float32 (torch has no integer kernel for it; Keras promotes)
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

    float_math = True  # integer/bool inputs: float32 (torch has no integer kernel for it; Keras promotes)
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


class ELU(Layer):
    """Exponential linear unit: smooth below zero, saturating at −α.

    Equation::

        y = x                  if x > 0
        y = α · (exp(x) − 1)   otherwise

    Args:
        alpha: α ≥ 0, the value negative inputs approach (default 1.0).

    Input shape: any. Output shape: same as input.

    Example:
        >>> import torch
        >>> ELU()(torch.tensor([0.0, 2.0])).tolist()
        [0.0, 2.0]
    """

    float_math = True  # integer/bool inputs: float32 (torch has no integer kernel for it; Keras promotes)
    equation = "y = x if x > 0 else α·(exp(x) − 1)"
    supports_masking = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _non_negative("ELU", "alpha", alpha, "1.0")

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """Parametric ReLU: a leaky ReLU whose negative slopes are learned.

    Equation (α a trainable weight of the sample's shape, with size 1 along
    ``shared_axes``, broadcast there)::

        y = x       if x ≥ 0
        y = α · x   otherwise

    Args:
        alpha_initializer: initializer name of α (default ``"zeros"``, Keras's:
            the layer starts as a ReLU).
        shared_axes: axes (1-based, the batch axis being 0) that share one α,
            e.g. ``[1, 2]`` after a Conv2D for one α per channel; default
            None: one α per value of a sample.

    Input shape: any, batch axis first. Output shape: same as input.

    Raises:
        ValueError: an unknown initializer, a shared axis the input does not
            have, or an unknown size on an axis with its own α.

    Example:
        >>> import torch
        >>> layer = PReLU(shared_axes=[1, 2])
        >>> layer(torch.ones(2, 4, 4, 3)).shape, tuple(layer.alpha.shape)
        (torch.Size([2, 4, 4, 3]), (1, 1, 3))
    """

    equation = "y = x if x ≥ 0 else α·x (α learned)"
    supports_masking = True
    min_rank = 2

    def __init__(self, alpha_initializer: str = "zeros", shared_axes: int | list[int] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(alpha_initializer, str) or alpha_initializer.lower() not in _INITIALIZERS:
            raise ValueError(
                f"PReLU: expected alpha_initializer among {', '.join(_INITIALIZERS)}, got {alpha_initializer!r}. "
                "Fix: PReLU(alpha_initializer='zeros')."
            )
        self.alpha_initializer = alpha_initializer.lower()
        axes = [shared_axes] if isinstance(shared_axes, numbers.Integral) else shared_axes
        if axes is not None and (
            not isinstance(axes, (list, tuple))
            or not all(isinstance(a, numbers.Integral) and not isinstance(a, bool) and a >= 1 for a in axes)
        ):
            raise ValueError(
                f"PReLU: expected shared_axes to be None or a list of axes ≥ 1 (axis 0 is the batch), got "
                f"{shared_axes!r}. Fix: PReLU(shared_axes=[1, 2]) after a Conv2D."
            )
        self.shared_axes = None if axes is None else sorted(int(a) for a in axes)

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        shared = self.shared_axes or []
        if any(a >= rank for a in shared):
            raise ValueError(
                f"Layer '{self.name}' (PReLU): expected shared_axes from 1 to {rank - 1} for inputs of shape "
                f"{shape_str(input_shape)}, got {self.shared_axes}. Fix: PReLU(shared_axes=[1, 2]) for images, [1] "
                "for sequences."
            )
        own = [a for a in range(1, rank) if a not in shared]
        unknown = [a for a in own if input_shape[a] is None]
        if unknown:
            raise ValueError(
                f"Layer '{self.name}' (PReLU): expected a known size on every axis with its own α, got shape "
                f"{shape_str(input_shape)} (axis {unknown[0]} is None). Fix: PReLU(shared_axes={unknown}) shares "
                "one α along it."
            )
        self.input_rank, self.fixed_axes = rank, tuple(own)
        shape = tuple(1 if a in shared else input_shape[a] for a in range(1, rank))
        self.alpha = self.add_weight("alpha", shape=shape, initializer=self.alpha_initializer)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return torch.where(inputs >= 0, inputs, self.alpha * inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha_initializer": self.alpha_initializer,
                "shared_axes": self.shared_axes}
