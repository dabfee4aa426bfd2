"""Conv3D: convolution over volumes (a scan's slices, a clip's frames), the
3-D member of the family of ``convolution.py``, with whose Conv2D it shares
its arguments, weights and forward pass through plain functions."""

from __future__ import annotations

from typing import Any, Callable

import torch

from . import _spatial
from .base import Layer, Shape
from .convolution import build_conv, conv_config, convolution_op, convolve, take_conv_arguments


class Conv3D(Layer):
    """3-D convolution over volumes: each filter is a small box that slides
    along depth, height and width and, at every position, takes a weighted
    sum of the voxels it covers.

    Equation (the teaching notation, k running over the filter's receptive
    field: slices a, rows b, columns c and input channels k)::

        y_ij = f(Σ_k x_ik · w_kj + b_j)
        i.e. y[n, d, h, w, j] = f(b[j] + Σ_{a,b,c,k} x[n, d·s_d + a·r_d, h·s_h + b·r_h, w·s_w + c·r_w, g·C_g + k]
                                                    · W[j, k, a, b, c])

    where ``x`` is zero-padded first when ``padding="same"`` (the odd extra
    slice, row or column after, as Keras), ``r`` is the dilation (1: adjacent
    taps), and with ``groups`` G the C input channels split into G groups of
    ``C_g = C/G``: filter ``j`` sees only the channels of its group
    ``g = ⌊j/(filters/G)⌋`` (k runs over ``C_g``). The ``kernel`` ``W`` is
    stored as ``(filters, in_channels/groups, kd, kh, kw)`` in PyTorch's
    ``channels_last_3d`` memory format, as Conv2D's (Keras stores
    ``(kd, kh, kw, in/groups, filters)``; ``set_weights`` refuses that layout
    with the ``np.transpose`` that converts it).

    Cost: ``kd·kh·kw·(C/G)·filters`` multiply-adds per output voxel, as many
    weights (plus ``filters`` biases).

    Args:
        filters: number of output channels (positive int).
        kernel_size: int or triple ``(kd, kh, kw)``.
        strides: int or triple, default 1.
        padding: ``"valid"`` (no padding) or ``"same"`` (output size
            ⌈input/stride⌉ on each axis).
        dilation_rate: int or triple, default 1: the gap between kernel taps;
            with strides 1 only, as Keras.
        groups: positive int dividing both the input channels and ``filters``
            (default 1): ``groups`` independent convolutions side by side.
        activation: name or callable; ``None`` means linear.
        use_bias: whether to add ``b`` (default True).
        kernel_initializer: how the kernel starts (``brainnet.initializers``,
            default ``"glorot_uniform"``; fans as Keras computes them for its
            kernel ``(kd, kh, kw, in/groups, filters)``); bias_initializer: default ``"zeros"``.
        kernel_regularizer: penalty on the kernel, e.g. ``"l2"`` (default
            None); bias_regularizer: on the bias; activity_regularizer: on the
            output ``y``; their sum is in ``model.losses`` and in the training loss.
        kernel_constraint: projects the kernel after each optimizer update
            (``brainnet.constraints``); its ``axis`` refers to Keras's layout
            ``(kd, kh, kw, in, filters)``, so ``MaxNorm(3, axis=[0, 1, 2, 3])``
            bounds each filter; bias_constraint: the same for ``b`` (default None).
        **kwargs: ``name``, ``input_shape`` (e.g. ``(3, 28, 28, 1)``), ``trainable``.

    Input shape: ``(batch, depth, height, width, channels)``.
    Output shape: ``(batch, new_depth, new_height, new_width, filters)`` with,
    per axis, ``new = ⌊(n − r·(k − 1) − 1)/s⌋ + 1`` for "valid" and ``⌈n/s⌉``
    for "same".

    Raises:
        ValueError: a bad hyperparameter (strides > 1 with dilation_rate > 1,
            groups not dividing filters), input of rank other than 5, input
            channels that groups does not divide, or a volume smaller than the
            (dilated) kernel with "valid" padding.

    Example:
        >>> import torch
        >>> Conv3D(8, 3, activation="relu")(torch.ones(2, 5, 28, 28, 1)).shape
        torch.Size([2, 3, 26, 26, 8])
    """

    equation = "y_ij = f(Σ_k x_ik·w_kj + b_j), k over the (a, b, c, channel) receptive field"
    input_rank = 5
    fixed_axes = (-1,)
    rank_hint = "(batch, depth, height, width, channels)"
    rank_fix = "reshape the input (for one-channel volumes: x[..., None] gives (N, D, H, W, 1))"

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int, int],
        strides: int | tuple[int, int, int] = (1, 1, 1),
        padding: str = "valid",
        dilation_rate: int | tuple[int, int, int] = (1, 1, 1),
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
        take_conv_arguments(self, locals(), 3)

    convolution_op = convolution_op  # Keras 3's hook, as Conv2D's

    def build(self, input_shape: Shape) -> None:
        build_conv(self, input_shape, torch.channels_last_3d)

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        return (2, 3, 4, 1, 0) if weight == "kernel" else None  # (out, in, kd, kh, kw) → Keras's (kd, kh, kw, in, out)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return convolve(self, inputs)  # (B, D', H', W', filters)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _spatial.spatial_output_shape(
            self.name, tuple(input_shape), self.filters, _spatial.dilated(self.kernel_size, self.dilation_rate),
            self.strides, self.padding
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **conv_config(self)}
