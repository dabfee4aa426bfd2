"""Depthwise and depthwise separable convolutions: DepthwiseConv2D/1D filter
each channel on its own; SeparableConv2D/1D follow that with a 1×1
convolution that mixes the channels (MobileNet's and Xception's building
block: nearly a convolution's expressive power for a fraction of its cost).

Cost per output pixel, C input channels, m = depth_multiplier, k×k window:
Conv2D ``k²·C·F`` multiply-adds; DepthwiseConv2D ``k²·C·m``;
SeparableConv2D ``k²·C·m + C·m·F`` — for k = 3, C = F = 64, m = 1 that is
36,864 against 4,672, about 8× fewer (the ratio is 1/F + 1/k² for m = 1).
The weight counts are the same expressions (plus the biases).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import activations, regularizers
from . import _spatial
from .base import Layer, Shape
from .core import check_positive_int, take_weight_arguments, weight_arguments_config


class _Depthwise(Layer):
    """The arguments, weights and computation shared by the depthwise and separable layers."""

    rank = 2  # spatial axes
    fixed_axes = (-1,)
    kernel_layout = ("depth_multiplier", "in")
    separable = False  # SeparableConv: a pointwise kernel and `filters` after the depthwise step

    def _setup(self, args: dict[str, Any]) -> None:
        """Validate and keep the constructor's arguments (its ``locals()``)."""
        kind = type(self).__name__
        if self.separable:
            self.filters = check_positive_int(kind, "filters", args["filters"])
        self.kernel_size = self._sizes("kernel_size", args["kernel_size"])
        self.strides = self._sizes("strides", args["strides"])
        self.padding = _spatial.check_padding(kind, args["padding"])
        multiplier = args["depth_multiplier"]
        if isinstance(multiplier, bool) or not isinstance(multiplier, numbers.Integral) or multiplier < 1:
            raise ValueError(
                f"{kind}: expected depth_multiplier to be a positive integer (the filters per input channel), got "
                f"{multiplier!r}. Fix: depth_multiplier=1 (one filter per channel, the usual choice) or 2, 3, ..."
            )
        self.depth_multiplier = int(multiplier)
        self.dilation_rate = self._sizes("dilation_rate", args["dilation_rate"])
        _spatial.check_dilation(kind, self.strides, self.dilation_rate)
        self.activation = activations.get(args["activation"])
        self.use_bias = bool(args["use_bias"])
        take_weight_arguments(self, args, ("depthwise", "pointwise", "bias") if self.separable else ("depthwise", "bias"))
        self.activity_regularizer = regularizers.get(args["activity_regularizer"], argument="activity_regularizer")

    def _sizes(self, arg: str, value: Any) -> tuple[int, ...]:
        kind = type(self).__name__
        if self.rank == 2:
            return _spatial.pair(kind, arg, value)
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]  # Keras accepts kernel_size=(3,) in 1-D
        return (check_positive_int(kind, arg, value),)

    def _out_channels(self, channels: int | None) -> int | None:
        if self.separable:
            return self.filters
        return None if channels is None else channels * self.depth_multiplier

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the input is smaller than the window
        channels, m = input_shape[-1], self.depth_multiplier
        depthwise = self.initial_value("depthwise", (*self.kernel_size, channels, m))  # (m, C, *window)
        if self.separable:
            self.depthwise_kernel = self.add_weight("depthwise_kernel", depthwise)
            pointwise = self.initial_value("pointwise", (1,) * self.rank + (channels * m, self.filters))
            self.pointwise_kernel = self.add_weight("pointwise_kernel", pointwise)  # (F, C·m, 1, 1)
        else:
            self.kernel = self.add_weight("kernel", depthwise)
        bias = self.initial_value("bias", (self._out_channels(channels),)) if self.use_bias else None
        self.bias = self.add_weight("bias", bias) if self.use_bias else None

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        """(m, C, *window) → Keras's (*window, C, m); (F, C·m, 1, 1) → (1, 1, C·m, F): as Conv2D."""
        return None if weight == "bias" else (*range(2, 2 + self.rank), 1, 0)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.movedim(-1, 1)  # (B, C, *spatial); channels-last memory for images
        channels = x.shape[1]
        if self.padding == "same":
            x = _spatial.pad_same(x, _spatial.dilated(self.kernel_size, self.dilation_rate), self.strides)
        conv = F.conv2d if self.rank == 2 else F.conv1d
        depthwise = self.depthwise_kernel if self.separable else self.kernel  # (m, C, *window)
        # (C·m, 1, *window): output channel c·m + j is input channel c through filter j (Keras's order)
        weight = depthwise.transpose(0, 1).reshape(channels * self.depth_multiplier, 1, *self.kernel_size)
        if self.separable:
            y = conv(x, weight, None, self.strides, 0, self.dilation_rate, channels)  # (B, C·m, *spatial')
            y = conv(y, self.pointwise_kernel, self.bias)  # (B, F, *spatial'): Σ over the C·m channels
        else:
            y = conv(x, weight, self.bias, self.strides, 0, self.dilation_rate, channels)  # (B, C·m, *spatial')
        return y.movedim(1, -1)  # (B, *spatial', channels out)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        input_shape = tuple(input_shape)
        window = _spatial.dilated(self.kernel_size, self.dilation_rate)
        channels = self._out_channels(input_shape[-1])
        if self.rank == 2:
            return _spatial.spatial_output_shape(self.name, input_shape, channels, window, self.strides, self.padding)
        length = _spatial.output_length(input_shape[1], window[0], self.strides[0], self.padding)
        if length is not None and length <= 0:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): a sequence of {input_shape[1]} steps is shorter than "
                f"its window {window[0]} (kernel_size {self.kernel_size[0]}, dilation_rate {self.dilation_rate[0]}) "
                "with padding='valid'. Fix: padding='same', or a smaller kernel_size or dilation_rate."
            )
        return (input_shape[0], length, channels)

    def get_config(self) -> dict[str, Any]:
        one = (lambda t: t[0]) if self.rank == 1 else list
        kinds = ("depthwise", "pointwise", "bias") if self.separable else ("depthwise", "bias")
        return {
            **super().get_config(),
            **({"filters": self.filters} if self.separable else {}),
            "kernel_size": one(self.kernel_size),
            "strides": one(self.strides),
            "padding": self.padding,
            "depth_multiplier": self.depth_multiplier,
            "dilation_rate": one(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_arguments_config(self, kinds),
            **regularizers.config_of(self, "activity"),
        }


class DepthwiseConv2D(_Depthwise):
    """Depthwise 2-D convolution: each input channel is filtered on its own,
    by ``depth_multiplier`` filters of its own; channels are never mixed.

    Equation (c an input channel, j one of its m = depth_multiplier filters)::

        y[n, p, q, c·m + j] = f(Σ_{u,v} x[n, p·s_h + u·d_h, q·s_w + v·d_w, c] · w[u, v, c, j] + b[c·m + j])

    with ``w`` in Keras's layout ``(kh, kw, C, m)`` and ``x`` zero-padded
    first for "same" (as Conv2D, over the dilated window ``d·(k − 1) + 1``).
    The output channels run channel-major, ``c·m + j``, as Keras orders them.
    The ``kernel`` is stored as ``(m, C, kh, kw)`` (Conv2D's axis order, so a
    Keras kernel loads with ``np.transpose(kernel, (3, 2, 0, 1))``).

    Cost: ``kh·kw·C·m`` multiply-adds per output pixel (Conv2D to ``C·m``
    filters: ``kh·kw·C·C·m``), ``kh·kw·C·m`` weights plus ``C·m`` biases.

    Args:
        kernel_size: int or pair ``(kh, kw)``.
        strides: int or pair, default 1.
        padding: ``"valid"`` or ``"same"``.
        depth_multiplier: filters per input channel (positive int, default 1).
        dilation_rate: int or pair, default 1 (strides 1 only, as Keras).
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        depthwise_initializer: default ``"glorot_uniform"`` (Keras's fans of
            ``(kh, kw, C, m)``); bias_initializer: default ``"zeros"``.
        depthwise_regularizer, bias_regularizer, activity_regularizer: as Conv2D.
        depthwise_constraint: on the kernel seen in Keras's layout
            ``(kh, kw, C, m)``; bias_constraint: on ``b``.
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape: ``(batch, height, width, C)``.
    Output shape: ``(batch, new_height, new_width, C·m)``, sizes as Conv2D:
    ``⌊(n − d·(k − 1) − 1)/s⌋ + 1`` ("valid"), ``⌈n/s⌉`` ("same").

    Raises:
        ValueError: a bad hyperparameter (depth_multiplier < 1, strides > 1
            with dilation_rate > 1), input of rank other than 4, or an image
            smaller than the window with "valid" padding.

    Example:
        >>> import torch
        >>> DepthwiseConv2D(3, depth_multiplier=2, padding="same")(torch.ones(2, 8, 8, 4)).shape
        torch.Size([2, 8, 8, 8])
    """

    equation = "y[p, q, c·m + j] = f(Σ_{u,v} x[p·s + u·d, q·s + v·d, c]·w[u, v, c, j] + b)"
    rank = 2
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"
    _weight_names = {"depthwise": "kernel"}  # Keras 3 calls the depthwise kernel `kernel`

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = (1, 1),
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._setup(locals())


class DepthwiseConv1D(_Depthwise):
    """Depthwise 1-D convolution: each feature filtered along time on its own.

    Equation::

        y[n, t, c·m + j] = f(Σ_u x[n, t·s + u·d, c] · w[u, c, j] + b[c·m + j])

    with ``w`` in Keras's layout ``(k, C, m)``; stored ``(m, C, k)`` (a Keras
    kernel loads with ``np.transpose(kernel, (2, 1, 0))``). Cost ``k·C·m``
    multiply-adds per output step.

    Args: as DepthwiseConv2D, with ints (or 1-tuples) for kernel_size,
    strides and dilation_rate.

    Input shape: ``(batch, time, C)``. Output shape: ``(batch, new_time, C·m)``.

    Example:
        >>> import torch
        >>> DepthwiseConv1D(3)(torch.ones(2, 10, 4)).shape
        torch.Size([2, 8, 4])
    """

    equation = "y[t, c·m + j] = f(Σ_u x[t·s + u·d, c]·w[u, c, j] + b)"
    rank = 1
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = "give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1))"
    _weight_names = {"depthwise": "kernel"}

    def __init__(
        self,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._setup(locals())


class SeparableConv2D(_Depthwise):
    """Depthwise separable 2-D convolution: a depthwise convolution (each
    channel filtered on its own, ``depth_multiplier`` times) then a 1×1
    convolution that mixes the ``C·m`` results into ``filters`` channels.

    Equation (z the depthwise result, as DepthwiseConv2D without its bias)::

        z[n, p, q, c·m + j] = Σ_{u,v} x[n, p·s_h + u·d_h, q·s_w + v·d_w, c] · w_d[u, v, c, j]
        y[n, p, q, o] = f(Σ_i z[n, p, q, i] · w_p[0, 0, i, o] + b[o])

    with Keras's layouts ``w_d (kh, kw, C, m)`` (``depthwise_kernel``, stored
    ``(m, C, kh, kw)``) and ``w_p (1, 1, C·m, filters)`` (``pointwise_kernel``,
    stored ``(filters, C·m, 1, 1)``); both load from Keras with
    ``np.transpose(kernel, (3, 2, 0, 1))``.

    Cost per output pixel: ``kh·kw·C·m + C·m·filters`` multiply-adds, against
    ``kh·kw·C·filters`` for Conv2D (3×3, C = filters = 64, m = 1: 4,672
    against 36,864); the weights count the same (plus ``filters`` biases).

    Args:
        filters: output channels of the pointwise step (positive int).
        kernel_size, strides, padding, depth_multiplier, dilation_rate,
            activation, use_bias: as DepthwiseConv2D (``b`` has ``filters`` values).
        depthwise_initializer, pointwise_initializer: default
            ``"glorot_uniform"`` (Keras's fans); bias_initializer: ``"zeros"``.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
            activity_regularizer: penalties as Conv2D's.
        depthwise_constraint, pointwise_constraint, bias_constraint: applied
            after each update, in Keras's layouts.

    Input shape: ``(batch, height, width, C)``.
    Output shape: ``(batch, new_height, new_width, filters)``, sizes as Conv2D.

    Raises:
        ValueError: as DepthwiseConv2D, and filters < 1.

    Example:
        >>> import torch
        >>> SeparableConv2D(16, 3, padding="same")(torch.ones(2, 8, 8, 4)).shape
        torch.Size([2, 8, 8, 16])
    """

    equation = "y[p, q, o] = f(Σ_i w_p[i, o]·Σ_{u,v} x[p·s + u·d, q·s + v·d, ⌊i/m⌋]·w_d[u, v, ⌊i/m⌋, i mod m] + b_o)"
    rank = 2
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"
    separable = True
    kernel_layouts = {"depthwise_kernel": ("depth_multiplier", "in"), "pointwise_kernel": ("filters", "in·depth_multiplier")}
    _weight_names = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel"}

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = (1, 1),
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._setup(locals())


class SeparableConv1D(_Depthwise):
    """Depthwise separable 1-D convolution: DepthwiseConv1D then a pointwise
    (kernel size 1) convolution to ``filters`` features.

    Equation::

        z[n, t, c·m + j] = Σ_u x[n, t·s + u·d, c] · w_d[u, c, j]
        y[n, t, o] = f(Σ_i z[n, t, i] · w_p[0, i, o] + b[o])

    Keras's layouts ``w_d (k, C, m)``, ``w_p (1, C·m, filters)``; stored
    ``(m, C, k)`` and ``(filters, C·m, 1)`` (load with ``np.transpose(kernel, (2, 1, 0))``).
    Cost ``k·C·m + C·m·filters`` multiply-adds per output step (Conv1D: ``k·C·filters``).

    Args: as SeparableConv2D, with ints (or 1-tuples) for kernel_size,
    strides and dilation_rate.

    Input shape: ``(batch, time, C)``. Output shape: ``(batch, new_time, filters)``.

    Example:
        >>> import torch
        >>> SeparableConv1D(8, 3, padding="same")(torch.ones(2, 10, 4)).shape
        torch.Size([2, 10, 8])
    """

    equation = "y[t, o] = f(Σ_i w_p[i, o]·Σ_u x[t·s + u·d, ⌊i/m⌋]·w_d[u, ⌊i/m⌋, i mod m] + b_o)"
    rank = 1
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = "give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1))"
    separable = True
    kernel_layouts = {"depthwise_kernel": ("depth_multiplier", "in"), "pointwise_kernel": ("filters", "in·depth_multiplier")}
    _weight_names = {"depthwise": "depthwise_kernel", "pointwise": "pointwise_kernel"}

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        depthwise_regularizer: Any = None,
        pointwise_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        depthwise_constraint: Any = None,
        pointwise_constraint: Any = None,
        bias_constraint: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._setup(locals())
