"""Transposed convolutions: Conv2DTranspose over images, Conv1DTranspose over
sequences, Conv3DTranspose over volumes, the upsampling convolutions of
decoders (autoencoders, U-Nets).

Each input position spreads a copy of the kernel, scaled by its value, onto
the output, ``s`` positions further per input step: the adjoint (the
gradient) of a strided convolution, which is why it undoes the shrinking.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import torch
import torch.nn.functional as F

from .. import activations, initializers, regularizers
from . import _spatial
from .base import Layer, Shape
from .core import check_positive_int


def transposed_length(
    size: int | None, kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None,
) -> tuple[int | None, int]:
    """``(output length, positions cropped before it)`` along one axis, as Keras 3.

    The full scatter covers ``(n − 1)·s + k_d`` positions, ``k_d = (k − 1)·d + 1``;
    Keras keeps ``length`` of them from ``crop`` on (zeros past the scatter's end):

    * valid: length ``(n − 1)·s + k_d + p`` with ``p = output_padding``, by
      default ``max(k_d, s) − k_d`` (so ``n·s + max(k_d − s, 0)``); crop 0;
    * same, no output_padding: length ``n·s``, crop ``⌊max(k_d − s, 0)/2⌋``
      (the adjoint of Conv2D's "same", the odd extra row at the bottom);
    * same with ``p``: length ``(n − 1)·s + (k_d mod 2) + p``, crop ``max(⌊k_d/2⌋ − ⌈p/2⌉, 0)``.

    These are TensorFlow's and JAX's positions (Keras's torch backend crops one
    more row at the top for an odd ``k_d − s``, and warns about it).
    """
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return (None if size is None else (size - 1) * stride + k + extra), 0
    if output_padding is None:
        return (None if size is None else size * stride), max(k - stride, 0) // 2
    length = None if size is None else (size - 1) * stride + k % 2 + output_padding
    return length, max(k // 2 - math.ceil(output_padding / 2), 0)


class _ConvTranspose(Layer):
    """Shared arguments, weights and computation of the transposed convolutions."""

    rank = 2  # spatial axes
    fixed_axes = (-1,)
    kernel_layout = ("in", "out")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, ...] | None = None,
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.filters = check_positive_int(kind, "filters", filters)
        self.kernel_size = self._sizes("kernel_size", kernel_size)
        self.strides = self._sizes("strides", strides)
        self.dilation_rate = self._sizes("dilation_rate", dilation_rate)
        self.padding = _spatial.check_padding(kind, padding)
        self.output_padding = self._output_padding(output_padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.layer_initializer(kind, "kernel_initializer", kernel_initializer)
        self.bias_initializer = initializers.layer_initializer(kind, "bias_initializer", bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer, argument="kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, argument="bias_regularizer")
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    def _sizes(self, arg: str, value: Any) -> tuple[int, ...]:
        kind = type(self).__name__
        if self.rank > 1:
            return _spatial.sizes(kind, arg, value, self.rank)
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]  # Keras accepts kernel_size=(3,) in 1-D
        return (check_positive_int(kind, arg, value),)

    def _output_padding(self, value: Any) -> tuple[int, ...] | None:
        if value is None:
            return None
        kind = type(self).__name__
        is_int = lambda v: isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0  # noqa: E731
        pads = (value,) * self.rank if is_int(value) else value
        if not isinstance(pads, (tuple, list)) or len(pads) != self.rank or not all(is_int(p) for p in pads):
            several = {1: "a tuple of one", 2: "a pair of them", 3: "a triple of them"}[self.rank]
            raise ValueError(
                f"{kind}: expected output_padding to be None, a non-negative int or {several}, got {value!r}. "
                "Fix: output_padding=None (Keras's default size) or output_padding=1."
            )
        pads = tuple(int(p) for p in pads)
        if any(p >= s for p, s in zip(pads, self.strides)):
            raise ValueError(
                f"{kind}: expected output_padding smaller than strides on every axis (the extra rows "
                f"past the last stride), got output_padding={pads} with strides={self.strides}. Fix: "
                f"output_padding=None, or at most strides − 1 on each axis: output_padding="
                f"{tuple(min(p, s - 1) for p, s in zip(pads, self.strides))}."
            )
        return pads

    def _axes(self, sizes: tuple) -> list[tuple[int | None, int]]:
        """``(length, crop)`` of each spatial axis for these input sizes."""
        pads = self.output_padding or (None,) * self.rank
        return [
            transposed_length(n, k, s, d, self.padding, p)
            for n, k, s, d, p in zip(sizes, self.kernel_size, self.strides, self.dilation_rate, pads)
        ]

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the output would be empty
        keras_shape = (*self.kernel_size, self.filters, input_shape[-1])  # Keras's (window..., out, in): its fans
        kernel = self.initial_value("kernel", keras_shape)  # (in, out, window...)
        fast = {2: torch.channels_last, 3: torch.channels_last_3d}.get(self.rank, torch.contiguous_format)
        self.kernel = self.add_weight("kernel", _spatial.in_memory_format(kernel, fast))
        self.bias = self.add_weight("bias", self.initial_value("bias", (self.filters,))) if self.use_bias else None

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        """(in, out, window...) → Keras's (window..., out, in)."""
        return (*range(2, 2 + self.rank), 1, 0) if weight == "kernel" else None

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs.movedim(-1, 1)  # (B, C, *spatial)
        axes = self._axes(tuple(x.shape[2:]))
        if any(length <= 0 for length, _ in axes):
            self.compute_output_shape(tuple(inputs.shape))  # raises: this input leaves nothing
        scatter = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self.rank]
        y = scatter(x, self.kernel, None, self.strides, dilation=self.dilation_rate)  # (B, filters, *full)
        pads: list[int] = []
        for axis, (length, crop) in reversed(list(enumerate(axes))):
            full = y.shape[2 + axis]
            pads += [-crop, length - (full - crop)]  # F.pad: last axis first; negative crops
        if any(pads):
            y = F.pad(y, pads)
        y = y.movedim(1, -1)  # (B, *spatial', filters)
        return y + self.bias.to(y.dtype) if self.bias is not None else y  # bfloat16 under autocast, as Conv2D

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        lengths = [length for length, _ in self._axes(tuple(input_shape[1:-1]))]
        for axis, length in enumerate(lengths):
            if length is not None and length <= 0:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): an input of {input_shape[1 + axis]} along "
                    f"axis {1 + axis} gives an empty output with kernel_size {self.kernel_size}, padding='same' "
                    f"and output_padding={self.output_padding} (length (n − 1)·s + (k mod 2) + output_padding). "
                    "Fix: output_padding=None (the output is then n·s long), or an odd kernel_size."
                )
        return (input_shape[0], *lengths, self.filters)

    def get_config(self) -> dict[str, Any]:
        one = (lambda t: t[0]) if self.rank == 1 else list
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": one(self.kernel_size),
            "strides": one(self.strides),
            "padding": self.padding,
            "output_padding": None if self.output_padding is None else one(self.output_padding),
            "dilation_rate": one(self.dilation_rate),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            **initializers.config_of(self, "kernel", "bias"),
            **regularizers.config_of(self, "kernel", "bias", "activity"),
        }

    def weight_regularizers(self) -> dict[str, Any]:
        return {"kernel": self.kernel_regularizer, "bias": self.bias_regularizer}


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"): each input pixel adds the
    kernel, scaled by that pixel, onto the output, ``s`` pixels further for
    each step of the input; the upsampling layer of decoders.

    Equation (the scatter form: over every input pixel (i, k) and kernel tap
    (u, v) landing on output pixel (p, q))::

        y[n, p, q, j] = f(b[j] + Σ_{i,k,u,v,c : i·s_h + u·d_h − P_h = p, k·s_w + v·d_w − P_w = q}
                                  x[n, i, k, c] · w[c, j, u, v])

    with ``P`` the rows (columns) cropped at the top (left) as Keras: 0 for
    "valid", ``⌊max(k_d − s, 0)/2⌋`` for "same" (so it is the adjoint of
    ``Conv2D`` with the same kernel, strides and padding), and
    ``max(⌊k_d/2⌋ − ⌈output_padding/2⌉, 0)`` for "same" with
    ``output_padding``; ``k_d = (k − 1)·d + 1``. The ``kernel`` is stored as
    ``(in_channels, filters, kh, kw)`` (PyTorch's layout for a transposed
    convolution); a Keras kernel ``(kh, kw, filters, in_channels)`` loads with
    ``np.transpose(kernel, (3, 2, 0, 1))``.

    Args:
        filters: number of output channels (positive int).
        kernel_size: int or pair ``(kh, kw)``.
        strides: int or pair, default 1: the upsampling factor.
        padding: ``"valid"`` or ``"same"``.
        output_padding: None (default) or an int or pair, each smaller than
            its stride: the output's size along that axis is then fixed by the
            formula below (useful to get back an odd size a strided Conv2D
            rounded down).
        dilation_rate: int or pair, default 1: gaps between kernel taps.
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: ``"glorot_uniform"`` (default, Keras's fans for its
            ``(kh, kw, filters, in)`` kernel), ``"he_normal"``, ``"zeros"``, ... or a ``brainnet.initializers`` object;
            bias_initializer: default ``"zeros"``.
        kernel_regularizer, bias_regularizer, activity_regularizer: as Conv2D.
        **kwargs: ``name``, ``input_shape`` (e.g. ``(7, 7, 16)``), ``trainable``.

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, filters)``, per axis with
    ``k_d = (k − 1)·d + 1`` (Keras 3's formula): "valid": ``n·s + max(k_d − s, 0)``,
    or ``(n − 1)·s + k_d + output_padding``; "same": ``n·s``, or
    ``(n − 1)·s + (k_d mod 2) + output_padding``.

    Raises:
        ValueError: a bad hyperparameter (output_padding not smaller than
            strides included), input of rank other than 4, or an output that
            would be empty.

    Example:
        >>> import torch
        >>> Conv2DTranspose(8, 3, strides=2, padding="same")(torch.ones(2, 7, 7, 16)).shape
        torch.Size([2, 14, 14, 8])
    """

    equation = "y[p, q, j] = f(b_j + Σ x[i, k, c]·w[c, j, u, v] over i·s + u = p, k·s + v = q)"
    rank = 2
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution: each time step adds the kernel, scaled by
    its features, onto the output, ``s`` steps further per input step.

    Equation (over every input step t and kernel tap u landing on output step o)::

        y[n, o, j] = f(b[j] + Σ_{t,u,c : t·s + u·d − P = o} x[n, t, c] · w[c, j, u])

    with ``P`` as in Conv2DTranspose. The ``kernel`` is stored as
    ``(in_features, filters, k)``; a Keras kernel ``(k, filters, in)`` loads
    with ``np.transpose(kernel, (2, 1, 0))``.

    Args: as Conv2DTranspose, with ints (or 1-tuples) for kernel_size,
    strides, output_padding and dilation_rate.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, new_time, filters)``, ``new_time`` as one axis of Conv2DTranspose.

    Example:
        >>> import torch
        >>> Conv1DTranspose(4, 3, strides=2)(torch.ones(2, 10, 8)).shape
        torch.Size([2, 21, 4])
    """

    equation = "y[o, j] = f(b_j + Σ x[t, c]·w[c, j, u] over t·s + u = o)"
    rank = 1
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution: each input voxel adds the kernel, scaled by
    that voxel, onto the output volume, ``s`` voxels further along depth,
    height and width for each step of the input; the upsampling layer of
    volume decoders (3-D U-Nets, video generators).

    Equation (over every input voxel (a, i, k) and kernel tap (t, u, v)
    landing on output voxel (o, p, q))::

        y[n, o, p, q, j] = f(b[j] + Σ_{a,i,k,t,u,v,c : a·s_d + t·d_d − P_d = o,
                                                      i·s_h + u·d_h − P_h = p,
                                                      k·s_w + v·d_w − P_w = q}
                                   x[n, a, i, k, c] · w[c, j, t, u, v])

    with the crops ``P`` of Conv2DTranspose on each axis. The ``kernel`` is
    stored as ``(in_channels, filters, kd, kh, kw)``; a Keras kernel
    ``(kd, kh, kw, filters, in_channels)`` loads with
    ``np.transpose(kernel, (4, 3, 0, 1, 2))``.

    Args:
        filters: number of output channels (positive int).
        kernel_size: int or triple ``(kd, kh, kw)``.
        strides: int or triple, default 1: the upsampling factor per axis.
        padding: ``"valid"`` or ``"same"``.
        output_padding: None (default) or an int or triple, each smaller than
            its stride (the output size per axis as in Conv2DTranspose).
        dilation_rate: int or triple, default 1: gaps between kernel taps.
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: default ``"glorot_uniform"`` (Keras's fans for its
            ``(kd, kh, kw, filters, in)`` kernel); bias_initializer: default ``"zeros"``.
        kernel_regularizer, bias_regularizer, activity_regularizer: as Conv3D.
        **kwargs: ``name``, ``input_shape`` (e.g. ``(4, 8, 8, 16)``), ``trainable``.

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, new_depth, new_height, new_width, filters)``, each
    axis as one axis of Conv2DTranspose ("same", no output_padding: ``n·s``).

    Raises:
        ValueError: a bad hyperparameter (output_padding not smaller than
            strides included), input of rank other than 5, or an output that
            would be empty.

    Example:
        >>> import torch
        >>> Conv3DTranspose(4, 2, strides=2)(torch.ones(2, 3, 5, 6, 8)).shape
        torch.Size([2, 6, 10, 12, 4])
    """

    equation = (
        "y[o, p, q, j] = f(b_j + Σ x[a, i, k, c]·w[c, j, t, u, v] over a·s + t = o, i·s + u = p, "
        "k·s + v = q)"
    )
    rank = 3
    input_rank = 5
    rank_hint = "(batch, depth, height, width, channels)"
    rank_fix = "reshape the input (for one-channel volumes: x[..., None] gives (N, D, H, W, 1))"
