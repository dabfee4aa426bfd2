"""Core layers: Dense, Flatten, Dropout, Activation, Reshape, Rescaling (SpatialDropout1D/2D/3D are in
``spatial_dropout.py``)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Iterable

import torch

from .. import activations, constraints, initializers, regularizers
from ._dropout import dropout, refuse_integers
from .base import Layer, Shape, shape_str


def check_positive_int(layer: str, arg: str, value: Any) -> int:
    """Validate a hyperparameter that must be a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"{layer}: expected {arg} to be a positive integer, got {value!r}. "
            f"Fix: {layer}({arg}=32, ...)."
        )
    return int(value)


def take_weight_arguments(layer: Layer, args: dict[str, Any], weights: tuple[str, ...]) -> None:
    """Set ``<w>_initializer``, ``<w>_regularizer`` and ``<w>_constraint`` of each
    weight ``w`` (``"kernel"``, ``"bias"``, ...) from the constructor's ``args``
    (its ``locals()``), checked; the layer's weights are ``weights``."""
    kind = type(layer).__name__
    for w in weights:
        arg = f"{w}_initializer"
        setattr(layer, arg, initializers.layer_initializer(kind, arg, args[arg]))
        setattr(layer, f"{w}_regularizer", regularizers.get(args[f"{w}_regularizer"], argument=f"{w}_regularizer"))
        arg = f"{w}_constraint"
        setattr(layer, arg, constraints.get(args[arg], argument=arg, layer=kind))
    layer._weight_kinds = weights


def weight_arguments_config(layer: Layer, weights: tuple[str, ...]) -> dict[str, Any]:
    """The config entries of ``take_weight_arguments``: every initializer, and the
    regularizers and constraints that are set (absent means None)."""
    return {**initializers.config_of(layer, *weights), **regularizers.config_of(layer, *weights),
            **constraints.config_of(layer, *weights)}


class Dense(Layer):
    """Fully connected layer: every output unit sees every input feature.

    Equation (per sample, the teaching notation)::

        y_j = f(Σ_k x_k · w_kj + b_j)

    with ``W`` of shape ``(input_dim, units)`` (``kernel``), ``b`` of shape
    ``(units,)`` (``bias``) and ``f`` the activation. Inputs of rank > 2 are
    transformed along the last axis.

    Args:
        units: number of output units (positive int).
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: how ``W`` starts (``brainnet.initializers``: a
            name such as ``"he_normal"`` for ReLU networks, or an object;
            default ``"glorot_uniform"``, as Keras); bias_initializer: how
            ``b`` starts (default ``"zeros"``).
        kernel_regularizer: penalty on the kernel, e.g. ``"l2"`` or
            ``regularizers.L2(1e-4)`` (default None); bias_regularizer: on the
            bias; activity_regularizer: on the output ``y`` (see
            ``brainnet.regularizers``: ``R(y)`` of the whole batch's output,
            not divided by the batch size, as Keras 3). Their sum is in
            ``model.losses`` and is added to the training loss.
        kernel_constraint: projects ``W`` after each optimizer update
            (``brainnet.constraints``, e.g. ``MaxNorm(3)``: each unit's
            incoming weights, a column of ``W``, keep a norm ≤ 3); bias_constraint:
            the same for ``b`` (default None).
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: ``(batch, ..., input_dim)``.
    Output shape: ``(batch, ..., units)``.

    Raises:
        ValueError: ``units`` is not a positive int, the activation is unknown,
            or the input's last axis differs from the one the layer was built for.

    Example:
        >>> import torch
        >>> Dense(3, activation="relu")(torch.ones(2, 5)).shape
        torch.Size([2, 3])
    """

    equation = "y_j = f(Σ_k x_k·w_kj + b_j)"
    supports_masking = True
    min_rank = 2
    fixed_axes = (-1,)
    rank_hint = "(batch, ..., features)"

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        use_bias: bool = True,
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
        self.units = check_positive_int("Dense", "units", units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        take_weight_arguments(self, locals(), ("kernel", "bias"))
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    def build(self, input_shape: Shape) -> None:
        self.kernel = self.add_weight("kernel", self.initial_value("kernel", (input_shape[-1], self.units)))
        self.bias = self.add_weight("bias", self.initial_value("bias", (self.units,))) if self.use_bias else None

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.dim() == 2 and self.bias is not None:
            return torch.addmm(self.bias, inputs, self.kernel)  # (B, units)
        out = inputs @ self.kernel
        return out + self.bias if self.bias is not None else out

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_arguments_config(self, ("kernel", "bias")),
            **regularizers.config_of(self, "activity"),
        }


class Flatten(Layer):
    """Flattens each sample to one vector, in Keras's (H, W, C) order.

    Equation::

        y[n, (i·W + j)·C + c] = x[n, i, j, c]

    Input shape: ``(batch, d1, d2, ...)``.
    Output shape: ``(batch, d1·d2·...)``.

    Example:
        >>> import torch
        >>> Flatten()(torch.ones(2, 3, 3, 4)).shape
        torch.Size([2, 36])
    """

    equation = "y[n, (i·W + j)·C + c] = x[n, i, j, c]"
    min_rank = 2

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(inputs.shape[0], -1)  # (B, H·W·C)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)


class Dropout(Layer):
    """Sets a random fraction ``rate`` of inputs to 0 during training.

    Equation (training; identity at inference)::

        y = x · m / (1 − rate),   m ~ Bernoulli(1 − rate)

    On the CPU, ``m`` is cut from 16-bit uniforms of torch's generator, which
    makes the layer about 4 × faster than ``F.dropout``
    (``python benchmarks/dropout_mask.py``): the keep probability is then
    ``round((1 − rate)·2¹⁶)/2¹⁶``, within 7.6·10⁻⁶ of ``1 − rate``
    (``brainnet/layers/_dropout.py``). ``torch.manual_seed`` makes it
    reproducible.

    Args:
        rate: fraction of inputs to drop, in [0, 1).

    Input shape: any. Output shape: same as input.
    """

    equation = "y = x·m/(1 − rate), m ~ Bernoulli(1 − rate) (training only)"
    supports_masking = True

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
            raise ValueError(
                f"Dropout: expected rate in [0, 1), got {rate!r}. Fix: Dropout(0.5)."
            )
        self.rate = float(rate)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        if not training or self.rate == 0.0:
            return inputs
        refuse_integers(self, inputs)  # 1/(1 − rate) · x is no integer
        return dropout(inputs, self.rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class Activation(Layer):
    """Applies an activation function element-wise: ``y = f(x)``.

    Args:
        activation: name (``"relu"``, ``"softmax"``, ...) or callable.

    Input shape: any. Output shape: same as input.
    """

    equation = "y = f(x)"
    supports_masking = True

    def __init__(self, activation: str | Callable, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    @property
    def float_math(self) -> bool:  # type: ignore[override]
        """Integer/bool inputs become float32 unless ``f`` keeps integers (relu, linear), as Keras's ops."""
        return self.activation not in (activations.relu, activations.linear)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (batch axis untouched).

    Equation: ``y[n] = reshape(x[n], target_shape)``, in row-major order.

    Args:
        target_shape: shape of one output sample; one entry may be -1.

    Input shape: ``(batch, ...)``. Output shape: ``(batch, *target_shape)``.

    Raises:
        ValueError: the sample's size does not fit ``target_shape``.
    """

    equation = "y[n] = reshape(x[n], target_shape)"
    min_rank = 1

    def __init__(self, target_shape: Iterable[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(
            d == 0 or d < -1 for d in self.target_shape
        ):
            raise ValueError(
                f"Reshape: expected positive sizes and at most one -1 in target_shape, "
                f"got {self.target_shape}. Fix: Reshape((28, 28, 1))."
            )

    def _resolved(self, sample_shape: Shape) -> tuple[int, ...]:
        known = math.prod(d for d in self.target_shape if d != -1)
        size = math.prod(sample_shape)
        fits = size % known == 0 if -1 in self.target_shape else size == known
        if not fits:
            raise ValueError(
                f"Layer '{self.name}' (Reshape): cannot reshape samples of shape "
                f"{shape_str(sample_shape)} ({size} values) to {shape_str(self.target_shape)} "
                f"({known} values). Fix: choose a target_shape with {size} values."
            )
        return tuple(size // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape((inputs.shape[0],) + self._resolved(tuple(inputs.shape[1:])))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if any(d is None for d in input_shape[1:]):
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        return (input_shape[0],) + self._resolved(tuple(input_shape[1:]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Rescaling(Layer):
    """Scales and shifts every value, e.g. pixels from [0, 255] to [0, 1].

    Equation::

        y = x · scale + offset

    Integer inputs (raw ``uint8`` pixels) come out as floats.

    Args:
        scale: a number (``1/255`` for [0, 1]; ``1/127.5`` with
            ``offset=-1`` for [−1, 1]).
        offset: a number added after scaling (default 0).

    Input shape: any. Output shape: same as input.

    Raises:
        ValueError: ``scale`` or ``offset`` is not a number.

    Example:
        >>> import torch
        >>> Rescaling(1 / 127.5, offset=-1.0)(torch.tensor([0.0, 255.0])).tolist()
        [-1.0, 1.0]
    """

    equation = "y = x·scale + offset"
    supports_masking = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(
                    f"Rescaling: expected {arg} to be a number, got {value!r}. "
                    "Fix: Rescaling(1/255) for pixels in [0, 1], Rescaling(1/127.5, offset=-1) for [-1, 1]."
                )
        self.scale, self.offset = float(scale), float(offset)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        return inputs * self.scale + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
