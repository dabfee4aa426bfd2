"""Convolution layers: Conv2D over images, Conv1D over sequences, and the
plain functions Conv2D and Conv3D (``convolution3d.py``) share."""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import activations, regularizers
from . import _conv_taps, _spatial
from .base import Layer, Shape
from .core import check_positive_int, take_weight_arguments, weight_arguments_config


def _check_groups(layer: str, groups: Any, filters: int) -> int:
    """Keras: groups is a positive int that divides filters (and, at build, the input channels)."""
    groups = check_positive_int(layer, "groups", groups)
    if filters % groups:
        fits = [g for g in range(1, filters + 1) if filters % g == 0]
        raise ValueError(
            f"{layer}: expected groups to divide filters (each group gets filters/groups of them), got "
            f"groups={groups} with filters={filters}. Fix: groups among {fits}, or filters a multiple of {groups}."
        )
    return groups


def _group_channels(layer: Layer, channels: int) -> int:
    """Input channels per group; raises when groups does not divide them."""
    if channels % layer.groups:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected input channels divisible by groups="
            f"{layer.groups}, got {channels} channels. Fix: groups dividing both {channels} and "
            f"filters={layer.filters} (groups=1 mixes all channels), or a layer before it giving a multiple of "
            f"{layer.groups} channels."
        )
    return channels // layer.groups


def take_conv_arguments(layer: Layer, args: dict[str, Any], dims: int) -> None:
    """Validate and keep the constructor arguments (``locals()``) of Conv2D
    (``dims=2``) or Conv3D (``dims=3``) on ``layer``."""
    kind = type(layer).__name__
    layer.filters = check_positive_int(kind, "filters", args["filters"])
    layer.kernel_size = _spatial.sizes(kind, "kernel_size", args["kernel_size"], dims)
    layer.strides = _spatial.sizes(kind, "strides", args["strides"], dims)
    layer.padding = _spatial.check_padding(kind, args["padding"])
    layer.dilation_rate = _spatial.sizes(kind, "dilation_rate", args["dilation_rate"], dims)
    _spatial.check_dilation(kind, layer.strides, layer.dilation_rate)
    layer.groups = _check_groups(kind, args["groups"], layer.filters)
    layer.activation = activations.get(args["activation"])
    layer.use_bias = bool(args["use_bias"])
    take_weight_arguments(layer, args, ("kernel", "bias"))
    layer.activity_regularizer = regularizers.get(args["activity_regularizer"], argument="activity_regularizer")


def build_conv(layer: Layer, input_shape: Shape, memory_format: torch.memory_format) -> None:
    """Make the ``kernel`` (filters, in/groups, *window) in PyTorch's channels-last
    ``memory_format``, from Keras's shape (*window, in/groups, filters) and its fans, and the bias."""
    layer.compute_output_shape(input_shape)  # raises if the input is smaller than the window
    per_group = _group_channels(layer, input_shape[-1])
    kernel = layer.initial_value("kernel", (*layer.kernel_size, per_group, layer.filters))  # (out, in/G, *window)
    layer.kernel = layer.add_weight("kernel", _spatial.in_memory_format(kernel, memory_format))
    layer.bias = layer.add_weight("bias", layer.initial_value("bias", (layer.filters,))) if layer.use_bias else None


def conv_nd(
    inputs: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, strides: tuple[int, ...], padding: str,
    dilation: tuple[int, ...], groups: int = 1,
) -> torch.Tensor:
    """The convolution of a (B, *spatial, C) sequence, image or volume with a PyTorch-layout
    kernel (F, C/groups, *window), padded as Keras: (B, *spatial', F)."""
    x = _spatial.channels_first(inputs)  # (B, C, *spatial), channels-last memory
    window = kernel.shape[2:]
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(window)]
    if padding == "same" and max(strides) == 1 and all(k % 2 for k in window):
        y = conv(x, kernel, bias, 1, "same", dilation, groups)  # odd k: odd d·(k − 1) + 1, even padding
    else:
        if padding == "same":
            x = _spatial.pad_same(x, _spatial.dilated(tuple(window), dilation), strides)
        y = conv(x, kernel, bias, strides, 0, dilation, groups)
    return _spatial.channels_last(y)  # (B, *spatial', F)


def convolution_op(self: Layer, inputs: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Keras 3's ``convolution_op`` of Conv2D and Conv3D: ``inputs`` (B, *spatial, C)
    convolved with ``kernel``, in brainnet's layout (filters, C/groups, *window),
    with the layer's strides, padding, dilation and groups, no bias: (B, *spatial',
    filters). A subclass overrides it to change the kernel or the operation (such
    as keras.io's standardized convolution); the layer adds the bias and applies
    the activation to what it returns."""
    return conv_nd(inputs, kernel, None, self.strides, self.padding, self.dilation_rate, self.groups)


def convolve(layer: Layer, inputs: torch.Tensor) -> torch.Tensor:
    """Conv2D's or Conv3D's equation before the activation: (B, *spatial, C) → (B, *spatial', filters)."""
    if type(layer).convolution_op is convolution_op:  # not overridden: the bias added inside torch's convolution
        if _conv_taps.applies(layer, inputs):  # a one-channel 3×3 first layer on the CPU: one matrix product
            return _conv_taps.convolve(inputs, layer.kernel, layer.bias)
        return conv_nd(inputs, layer.kernel, layer.bias, layer.strides, layer.padding, layer.dilation_rate,
                       layer.groups)
    y = layer.convolution_op(inputs, layer.kernel)
    return y if layer.bias is None else y + layer.bias


def conv_config(layer: Layer) -> dict[str, Any]:
    """The constructor arguments Conv2D and Conv3D share, JSON-safe."""
    return {"filters": layer.filters, "kernel_size": list(layer.kernel_size), "strides": list(layer.strides),
            "padding": layer.padding, "dilation_rate": list(layer.dilation_rate), "groups": layer.groups,
            "activation": activations.serialize(layer.activation), "use_bias": layer.use_bias,
            **weight_arguments_config(layer, ("kernel", "bias")), **regularizers.config_of(layer, "activity")}


class Conv2D(Layer):
    """2-D convolution over images: each filter slides over the image and, at
    every position, takes a weighted sum of the pixels it covers.

    Equation (the teaching notation, k running over the filter's receptive
    field: rows u, columns v and input channels c)::

        y_ij = f(Σ_k x_ik · w_kj + b_j)
        i.e. y[n, p, q, j] = f(Σ_{u,v,c} x[n, p·s_h + u·d_h, q·s_w + v·d_w, g·C_g + c] · w[j, c, u, v] + b[j])

    where ``x`` is zero-padded first when ``padding="same"``, ``d`` is the
    dilation (1: adjacent taps), and with ``groups`` G the C input channels
    split into G groups of ``C_g = C/G``: filter ``j`` sees only the channels
    of its group ``g = ⌊j/(filters/G)⌋`` (c runs over ``C_g``). The ``kernel``
    is stored as ``(filters, in_channels/groups, kh, kw)`` in PyTorch's
    channels-last memory format (that is PyTorch's fast layout; Keras stores
    ``(kh, kw, in/groups, filters)``).

    Cost: ``kh·kw·(C/G)·filters`` multiply-adds per output pixel, as many
    weights (plus ``filters`` biases); ``SeparableConv2D`` does the same
    spatial filtering with ``kh·kw·C·m + C·m·filters``. On the CPU a 3×3
    convolution of one-channel images (the first layer of an MNIST network)
    runs as one matrix product of the shifted windows (``_conv_taps.py``).

    ``convolution_op(inputs, kernel)`` computes the sum without ``b`` (Keras
    3's hook): a subclass that overrides it changes the convolution, such as
    one with a standardized kernel, and keeps the bias and activation.

    Args:
        filters: number of output channels (positive int).
        kernel_size: int or pair ``(kh, kw)``.
        strides: int or pair, default 1.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size
            ⌈input/stride⌉, extra padding at the bottom/right as in Keras).
        dilation_rate: int or pair, default 1: the gap between kernel taps (a
            3×3 kernel with dilation 2 spans 5×5); with strides 1 only, as Keras.
        groups: positive int dividing both the input channels and ``filters``
            (default 1): ``groups`` independent convolutions side by side.
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: how the kernel starts (``brainnet.initializers``,
            default ``"glorot_uniform"``; fans as Keras computes them for its
            kernel ``(kh, kw, in/groups, filters)``); bias_initializer: default ``"zeros"``.
        kernel_regularizer: penalty on the kernel, e.g. ``"l2"`` or
            ``regularizers.L2(1e-4)`` (default None); bias_regularizer: on the
            bias; activity_regularizer: on the output ``y`` (see
            ``brainnet.regularizers``: ``R(y)`` of the whole batch's output,
            not divided by the batch size, as Keras 3). Their sum is in
            ``model.losses`` and is added to the training loss.
        kernel_constraint: projects the kernel after each optimizer update
            (``brainnet.constraints``); its ``axis`` refers to Keras's layout
            ``(kh, kw, in, filters)``, so ``MaxNorm(3, axis=[0, 1, 2])`` bounds each filter;
            bias_constraint: the same for ``b`` (default None).
        **kwargs: ``name``, ``input_shape`` (e.g. ``(28, 28, 1)``), ``trainable``.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, filters)`` with
    ``new = ⌊(n − d·(k − 1) − 1)/s⌋ + 1`` for "valid" and ``⌈n/s⌉`` for "same"
    (PyTorch's ``(n + 2p − d·(k − 1) − 1)/s + 1`` with Keras's padding ``p``).

    Raises:
        ValueError: a bad hyperparameter (strides > 1 with dilation_rate > 1,
            groups not dividing filters), input of rank other than 4, input
            channels that groups does not divide, or an image smaller than the
            (dilated) kernel with "valid" padding.

    Example:
        >>> import torch
        >>> Conv2D(8, (3, 3), activation="relu")(torch.ones(2, 28, 28, 1)).shape
        torch.Size([2, 26, 26, 8])
    """

    equation = "y_ij = f(Σ_k x_ik·w_kj + b_j), k over the (u, v, c) receptive field"
    input_rank = 4
    fixed_axes = (-1,)
    rank_hint = "(batch, height, width, channels)"

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = (1, 1),
        padding: str = "valid",
        dilation_rate: int | tuple[int, int] = (1, 1),
        groups: int = 1,
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
        take_conv_arguments(self, locals(), 2)

    convolution_op = convolution_op

    def build(self, input_shape: Shape) -> None:
        build_conv(self, input_shape, torch.channels_last)

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        return (2, 3, 1, 0) if weight == "kernel" else None  # (out, in, kh, kw) → Keras's (kh, kw, in, out)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return convolve(self, inputs)  # (B, H', W', filters)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _spatial.spatial_output_shape(
            self.name, tuple(input_shape), self.filters, _spatial.dilated(self.kernel_size, self.dilation_rate),
            self.strides, self.padding
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **conv_config(self)}


class Conv1D(Layer):
    """1-D convolution over time: each filter slides along the sequence.

    Equation (k over the filter's receptive field: offsets u and input
    features c)::

        y_ij = f(Σ_k x_ik · w_kj + b_j)
        i.e. y[n, t, j] = f(Σ_{u,c} x[n, t·s + u·d, g·C_g + c] · w[j, c, u] + b[j])

    where ``x`` is zero-padded first: on both sides for ``"same"`` (the extra
    step at the end, as Keras), ``d·(k − 1)`` steps on the left for ``"causal"``
    (so ``y[t]`` never sees ``x`` after ``t``); ``d`` is the dilation and, with
    ``groups`` G, filter ``j`` sees only the ``C_g = C/G`` features of its group
    ``g = ⌊j/(filters/G)⌋``. The ``kernel`` is stored as
    ``(filters, in_features/groups, k)`` (PyTorch's layout).

    Cost: ``k·(C/G)·filters`` multiply-adds per output step.

    Args:
        filters: number of output features (positive int).
        kernel_size: window length (int).
        strides: step (int, default 1).
        padding: ``"valid"``, ``"same"`` or ``"causal"``.
        dilation_rate: int, default 1: the gap between taps (WaveNet's stacks
            of causal convolutions with dilations 1, 2, 4, ...); strides 1 only.
        groups: positive int dividing the input features and ``filters`` (default 1).
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: how the kernel starts (``brainnet.initializers``,
            default ``"glorot_uniform"``; fans as Keras computes them for its
            kernel ``(k, in/groups, filters)``); bias_initializer: default ``"zeros"``.
        kernel_regularizer: penalty on the kernel, e.g. ``"l2"`` or
            ``regularizers.L2(1e-4)`` (default None); bias_regularizer: on the
            bias; activity_regularizer: on the output ``y`` (see
            ``brainnet.regularizers``: ``R(y)`` of the whole batch's output,
            not divided by the batch size, as Keras 3). Their sum is in
            ``model.losses`` and is added to the training loss.
        kernel_constraint: projects the kernel after each optimizer update
            (``brainnet.constraints``); its ``axis`` refers to Keras's layout
            ``(k, in, filters)``, so ``MaxNorm(3, axis=[0, 1])`` bounds each filter;
            bias_constraint: the same for ``b`` (default None).

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, new_time, filters)``, ``new_time`` = ⌊(T − d·(k − 1) − 1)/s⌋ + 1
    for "valid", ⌈T/s⌉ for "same", ⌊(T − 1)/s⌋ + 1 for "causal".

    Example:
        >>> import torch
        >>> Conv1D(8, 3, padding="causal")(torch.ones(2, 10, 4)).shape
        torch.Size([2, 10, 8])
    """

    equation = "y_ij = f(Σ_k x_ik·w_kj + b_j), k over the (u, c) receptive field"
    input_rank = 3
    fixed_axes = (-1,)
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        dilation_rate: int | tuple[int] = 1,
        groups: int = 1,
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
        self.filters = check_positive_int("Conv1D", "filters", filters)
        one = lambda v: v[0] if isinstance(v, (tuple, list)) and len(v) == 1 else v  # noqa: E731
        self.kernel_size = check_positive_int("Conv1D", "kernel_size", one(kernel_size))
        self.strides = check_positive_int("Conv1D", "strides", one(strides))
        self.dilation_rate = check_positive_int("Conv1D", "dilation_rate", one(dilation_rate))
        _spatial.check_dilation("Conv1D", (self.strides,), (self.dilation_rate,))
        self.groups = _check_groups("Conv1D", groups, self.filters)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same", "causal"):
            raise ValueError(
                f"Conv1D: expected padding 'valid', 'same' or 'causal', got {padding!r}. "
                "Fix: padding='causal' for sequence models that must not see the future."
            )
        self.padding = padding.lower()
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        take_weight_arguments(self, locals(), ("kernel", "bias"))
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    def _pads(self, length: int) -> tuple[int, int]:
        window = self.dilation_rate * (self.kernel_size - 1) + 1
        if self.padding == "causal":
            return window - 1, 0
        if self.padding == "same":
            return _spatial.same_pads(length, window, self.strides)
        return 0, 0

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the sequence is too short
        per_group = _group_channels(self, input_shape[-1])
        kernel = self.initial_value("kernel", (self.kernel_size, per_group, self.filters))  # (out, in/G, k)
        self.kernel = self.add_weight("kernel", kernel)
        self.bias = self.add_weight("bias", self.initial_value("bias", (self.filters,))) if self.use_bias else None

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        return (2, 1, 0) if weight == "kernel" else None  # (out, in, k) → Keras's (k, in, out)

    def convolution_op(self, inputs: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None = None,
                       ) -> torch.Tensor:
        """Keras 3's hook, as Conv2D's: ``inputs`` (B, T, C) padded as the layer
        pads them (causal too) and convolved with ``kernel`` (filters, C/groups, k),
        no bias: (B, T', filters). An override changes the convolution (Keras 3's
        Conv1D skips its hook)."""
        x = inputs.transpose(1, 2)  # (B, C, T)
        left, right = self._pads(x.shape[-1])
        if left or right:
            x = F.pad(x, (left, right))
        y = F.conv1d(x, kernel, bias, self.strides, 0, self.dilation_rate, self.groups)
        return y.transpose(1, 2)  # (B, T', filters)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        if type(self).convolution_op is Conv1D.convolution_op:  # not overridden: the bias added inside
            return self.convolution_op(inputs, self.kernel, self.bias)
        y = self.convolution_op(inputs, self.kernel)
        return y if self.bias is None else y + self.bias

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        length = input_shape[1]
        if length is not None:
            left, right = self._pads(length)
            window = self.dilation_rate * (self.kernel_size - 1) + 1
            length = (length + left + right - window) // self.strides + 1
            if length <= 0:
                raise ValueError(
                    f"Layer '{self.name}': a sequence of {input_shape[1]} steps is shorter than its "
                    f"window {window} with padding='valid'. Fix: padding='same' or "
                    "'causal', or a smaller kernel_size (or dilation_rate)."
                )
        return (input_shape[0], length, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **weight_arguments_config(self, ("kernel", "bias")),
            **regularizers.config_of(self, "activity"),
        }
