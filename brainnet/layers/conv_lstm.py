"""Convolutional LSTMs (Shi et al., 2015): ConvLSTM1D over sequences of
signals, ConvLSTM2D over sequences of images (video frames, radar maps),
ConvLSTM3D over sequences of volumes. An LSTM whose states are stacks of
feature maps and whose products are convolutions. They share the LSTM's gate
arithmetic and loop over time (``_rnn_steps.py``), its first bias
(``_rnn_cells.py``), and the convolution (PyTorch's kernel layout, Keras's
padding) with Conv1D/2D/3D (``convolution.py``); the three differ only in their number of spatial axes."""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from .. import activations, regularizers
from . import _rnn_cells, _spatial
from ._rnn_cells import RECURRENT_WEIGHTS, dropout_mask
from .base import Layer, Shape, shape_str
from .convolution import conv_nd
from .core import check_positive_int, take_weight_arguments, weight_arguments_config

Tensor = torch.Tensor


_MEMORY_FORMATS = {1: torch.contiguous_format, 2: torch.channels_last, 3: torch.channels_last_3d}


def conv_lstm_step(
    xw_t: Tensor, states: list[Tensor], recurrent_kernel: Tensor, activation: Callable, recurrent_activation: Callable,
    rec_mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """One step: z = (W ∗ x_t + b) + U ∗ h_{t-1} ("same", stride 1), then the LSTM's gates on z."""
    h, c = states  # (B, *frame', filters) each
    h_in = h if rec_mask is None else h * rec_mask
    ones = (1,) * (h.dim() - 2)
    z = xw_t + conv_nd(h_in, recurrent_kernel, None, ones, "same", ones)  # (B, *frame', 4·filters)
    return _rnn_cells.lstm_gates(z, c, activation, recurrent_activation)


class _ConvLSTM(Layer):
    """What ConvLSTM1D, ConvLSTM2D and ConvLSTM3D share: arguments, weights,
    the loop over time, states, masks and shapes, for ``rank`` spatial axes
    named ``frame_axes``."""

    equation = "c_t = f_t ⊙ c_{t-1} + i_t ⊙ tanh(W_c ∗ x_t + U_c ∗ h_{t-1} + b_c),  h_t = o_t ⊙ tanh(c_t)"
    rank = 2
    frame_axes = ("rows", "cols")
    fixed_axes = (-1,)
    supports_masking = True
    state_names = ("h0", "c0")

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, ...],
        strides: int | tuple[int, ...] = 1,
        padding: str = "valid",
        dilation_rate: int | tuple[int, ...] = 1,
        activation: str | Callable | None = "tanh",
        recurrent_activation: str | Callable | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.filters = check_positive_int(kind, "filters", filters)
        self.kernel_size = _spatial.sizes(kind, "kernel_size", kernel_size, self.rank)
        self.strides = _spatial.sizes(kind, "strides", strides, self.rank)
        self.padding = _spatial.check_padding(kind, padding)
        self.dilation_rate = _spatial.sizes(kind, "dilation_rate", dilation_rate, self.rank)
        _spatial.check_dilation(kind, self.strides, self.dilation_rate)
        self.state_activation = activations.get(activation)  # not `activation`: nothing to fuse into a loss
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.dropout = _rnn_cells._check_rate(kind, "dropout", dropout)
        self.recurrent_dropout = _rnn_cells._check_rate(kind, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        take_weight_arguments(self, locals(), RECURRENT_WEIGHTS)
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    # ----------------------------------------------------------- weights
    def build(self, input_shape: Shape) -> None:
        self._frame_shape(input_shape)  # raises if a frame is smaller than the window
        channels, width, memory = input_shape[-1], 4 * self.filters, _MEMORY_FORMATS[self.rank]
        kernel = self.initial_value("kernel", (*self.kernel_size, channels, width))  # (4F, C, *kernel_size)
        self.kernel = self.add_weight("kernel", _spatial.in_memory_format(kernel, memory))
        recurrent = self.initial_value("recurrent", (*self.kernel_size, self.filters, width))  # (4F, F, *kernel_size)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", _spatial.in_memory_format(recurrent, memory))
        self.bias = self.add_weight("bias", _rnn_cells.lstm_bias(self, self.filters)) if self.use_bias else None

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        # (4F, in, *kernel_size) → Keras's (*kernel_size, in, 4F)
        return None if weight == "bias" else (*range(2, 2 + self.rank), 1, 0)

    # ------------------------------------------------------------- call
    def call(
        self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None, initial_state: Any = None,
    ) -> Tensor | list[Tensor]:
        x = inputs  # (B, T, *frame, C)
        batch, steps = x.shape[:2]
        frame = self._frame_shape((batch, *x.shape[2:]))  # (B, *frame', filters)
        states = self._initial_states(initial_state, x, frame)
        mask = self._check_mask(mask, x)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if training and self.dropout > 0:
            x = x * dropout_mask(x[:, 0], self.dropout)[:, None]  # one (B, *frame, C) mask for every step
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            rec_mask = dropout_mask(states[0], self.recurrent_dropout)
        frames = x.reshape(batch * steps, *x.shape[2:])  # (B·T, *frame, C): every step's W ∗ x_t at once
        xw = conv_nd(frames, self.kernel, self.bias, self.strides, self.padding, self.dilation_rate)
        xw = xw.reshape(batch, steps, *xw.shape[1:])  # (B, T, *frame', 4·filters)
        step = functools.partial(conv_lstm_step, recurrent_kernel=self.recurrent_kernel,
                                 activation=self.state_activation, recurrent_activation=self.recurrent_activation,
                                 rec_mask=rec_mask)
        outputs, states = _rnn_cells.time_loop(step, xw, states, mask)  # (B, T, *frame', filters)
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output, *states] if self.return_state else output

    def _initial_states(self, initial_state: Any, x: Tensor, frame: tuple) -> list[Tensor]:
        if initial_state is None:
            return [x.new_zeros(frame) for _ in self.state_names]
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        states = [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in given]
        if len(states) != 2 or any(tuple(s.shape) != frame for s in states):
            got = ", ".join(shape_str(s.shape) for s in states)
            axes = ", ".join(f"new_{axis}" for axis in self.frame_axes)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected initial_state [h0, c0], 2 tensors of shape "
                f"(batch, {axes}, filters) = {shape_str(frame)}, got {len(states)} of shape(s) "
                f"[{got}]. Fix: {self.name}(x, initial_state=[h0, c0]) with each of shape {shape_str(frame)}."
            )
        return states

    def _check_mask(self, mask: Tensor | None, x: Tensor) -> Tensor | None:
        if mask is None:
            return None
        mask = torch.as_tensor(mask, device=x.device)  # a NumPy or list mask too, as Keras takes it
        want = tuple(x.shape[:2])
        if tuple(mask.shape) != want:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected a mask of shape (batch, time) = "
                f"{shape_str(want)} (True = real step), got {shape_str(mask.shape)}. Fix: one boolean per step "
                f"of each sequence, e.g. mask = (frames != 0).any(axis={tuple(range(2, 3 + self.rank))}) when "
                "padding frames are all zeros."
            )
        return mask.to(device=x.device, dtype=torch.bool)

    # ----------------------------------------------------------- shapes
    def _frame_shape(self, frame_input: Shape) -> tuple:
        """(batch, *new_frame, filters) of one step, from (batch, [time,] *frame, channels)."""
        batch, sizes_in = frame_input[0], tuple(frame_input[-1 - self.rank:-1])
        window = _spatial.dilated(self.kernel_size, self.dilation_rate)
        sizes = [_spatial.output_length(n, k, s, self.padding) for n, k, s in zip(sizes_in, window, self.strides)]
        if any(n is not None and n <= 0 for n in sizes):
            channels_first = (0, 1, *range(3, 3 + self.rank), 2)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected frames of at least "
                f"{'×'.join(map(str, window))} (its window) with padding='valid', got frames of "
                f"{'×'.join(self.frame_axes)} {'×'.join(map(str, sizes_in))}. Fix: padding='same' or a smaller "
                f"kernel_size; each step's frame is ({', '.join(self.frame_axes)}, channels), channels last, so a "
                f"sequence of channels-first frames needs x.transpose{channels_first}."
            )
        return (batch, *sizes, self.filters)

    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        batch, steps = input_shape[0], input_shape[1]
        frame = self._frame_shape(input_shape)
        output = (batch, steps, *frame[1:]) if self.return_sequences else frame
        return [output, frame, frame] if self.return_state else output

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        return [output_mask, None, None] if self.return_state else output_mask

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "dilation_rate": list(self.dilation_rate),
            "activation": activations.serialize(self.state_activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            **weight_arguments_config(self, RECURRENT_WEIGHTS),
            **regularizers.config_of(self, "activity"),
        }


class ConvLSTM2D(_ConvLSTM):
    """Convolutional LSTM over a sequence of images: the LSTM's matrix
    products become convolutions, so the hidden state ``h_t`` and the cell
    state ``c_t`` (long-term memory) are feature maps that keep the image's
    layout.

    Equations (per time step; ∗ is a convolution, σ is
    ``recurrent_activation``, tanh is ``activation``)::

        i_t = σ(W_i ∗ x_t + U_i ∗ h_{t-1} + b_i)          input gate
        f_t = σ(W_f ∗ x_t + U_f ∗ h_{t-1} + b_f)          forget gate
        c̃_t = tanh(W_c ∗ x_t + U_c ∗ h_{t-1} + b_c)       candidate memory
        o_t = σ(W_o ∗ x_t + U_o ∗ h_{t-1} + b_o)          output gate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t
        h_t = o_t ⊙ tanh(c_t)                              output

    where, for gate g with filters j, ``(W_g ∗ x_t)[n, p, q, j] = Σ_{u,v,k}
    x_t[n, p·s_h + u·d_h, q·s_w + v·d_w, k] · W[g·F + j, k, u, v]`` (``x_t``
    padded as Keras for "same"), and ``U_g ∗ h`` is the same with stride 1,
    no dilation and "same" padding, so ``h`` keeps its size. The ``kernel``
    ``(4·filters, channels, kh, kw)`` and the ``recurrent_kernel``
    ``(4·filters, filters, kh, kw)`` are stored in PyTorch's layout, gates
    i, f, c, o one after the other (Keras: ``(kh, kw, channels, 4·filters)``;
    ``set_weights`` refuses that layout with the transpose that converts it);
    ``bias`` is ``(4·filters,)``. ``h_0 = c_0 = 0`` unless ``initial_state``.

    Args:
        filters: channels of ``h_t`` and ``c_t`` (positive int).
        kernel_size: int or pair ``(kh, kw)``, for both convolutions.
        strides: int or pair, default 1 (of the input convolution).
        padding: ``"valid"`` or ``"same"`` (of the input convolution).
        dilation_rate: int or pair, default 1 (of the input convolution;
            with strides 1 only, as Keras).
        activation: default ``"tanh"``; recurrent_activation: the gates' σ,
            default ``"sigmoid"``.
        use_bias: whether to add the ``b``s (default True).
        kernel_initializer: default ``"glorot_uniform"``; recurrent_initializer:
            default ``"orthogonal"``; bias_initializer: default ``"zeros"``
            (fans and shapes of Keras's layout).
        unit_forget_bias: initialise ``b_f`` to 1 (default True, as Keras).
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
            activity_regularizer, kernel_constraint, recurrent_constraint,
            bias_constraint: as in ``LSTM`` (constraint axes of Keras's layout).
        dropout: fraction of the input's values dropped while training (one
            mask per sequence, the same at every step), in [0, 1).
        recurrent_dropout: the same for ``h_{t-1}`` where it enters ``U ∗ h``.
        return_sequences: return every ``h_t`` instead of the last one.
        return_state: also return the final states: ``[output, h_T, c_T]``.
        go_backwards: read the sequence from the end (outputs in the reversed order, as Keras).
        **kwargs: ``name``, ``input_shape`` (e.g. ``(10, 64, 64, 1)``), ``trainable``.

    Call arguments: ``inputs``; ``mask`` ``(batch, time)`` booleans (True =
    real step: at a masked step the states are carried over and the output
    repeats the previous one); ``initial_state`` ``[h0, c0]``, each
    ``(batch, new_rows, new_cols, filters)``; ``training``.

    Input shape: ``(batch, time, rows, cols, channels)``.
    Output shape: ``(batch, new_rows, new_cols, filters)``, or
    ``(batch, time, new_rows, new_cols, filters)`` with return_sequences;
    new sizes as Conv2D's. With return_state, then ``h_T`` and ``c_T``.

    Raises:
        ValueError: a bad hyperparameter, input of rank other than 5, frames
            smaller than the window with "valid" padding, a mask or
            initial_state of the wrong shape.

    Example:
        >>> import torch
        >>> ConvLSTM2D(4, 3, padding="same", return_sequences=True)(torch.ones(2, 5, 8, 8, 1)).shape
        torch.Size([2, 5, 8, 8, 4])
    """

    rank = 2
    frame_axes = ("rows", "cols")
    input_rank = 5
    rank_hint = "(batch, time, rows, cols, channels)"
    rank_fix = ("give sequences of images as (N, T, H, W, C) (one channel: x[..., None]; after a ConvLSTM2D, "
                "give that layer return_sequences=True)")


class ConvLSTM1D(_ConvLSTM):
    """Convolutional LSTM over a sequence of signals (each step a 1-D frame
    of ``rows`` positions with ``channels`` features, e.g. one sweep of a line
    of sensors): ConvLSTM2D's equations with 1-D convolutions, so ``h_t`` and
    ``c_t`` are ``(new_rows, filters)`` maps.

    Equations (per time step; ∗ is a 1-D convolution)::

        i_t, f_t, o_t = σ(W_{i,f,o} ∗ x_t + U_{i,f,o} ∗ h_{t-1} + b_{i,f,o})
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ tanh(W_c ∗ x_t + U_c ∗ h_{t-1} + b_c)
        h_t = o_t ⊙ tanh(c_t)

    where ``(W_g ∗ x_t)[n, p, j] = Σ_{u,k} x_t[n, p·s + u·d, k] · W[g·F + j, k, u]``
    (``x_t`` padded as Keras for "same"), and ``U_g ∗ h`` has stride 1, no
    dilation and "same" padding. The ``kernel`` ``(4·filters, channels, k)``
    and the ``recurrent_kernel`` ``(4·filters, filters, k)`` are in PyTorch's
    layout (Keras: ``(k, channels, 4·filters)``; ``set_weights`` names the
    transpose); ``bias`` is ``(4·filters,)``, gates i, f, c, o.

    Args: as ConvLSTM2D, with an int (or a 1-tuple) for kernel_size, strides
    and dilation_rate. Call arguments: as ConvLSTM2D; ``initial_state``
    ``[h0, c0]`` each ``(batch, new_rows, filters)``.

    Input shape: ``(batch, time, rows, channels)``.
    Output shape: ``(batch, new_rows, filters)``, or ``(batch, time, new_rows,
    filters)`` with return_sequences; ``new_rows`` as Conv1D's. With
    return_state, then ``h_T`` and ``c_T``.

    Raises:
        ValueError: as ConvLSTM2D, for input of rank other than 4.

    Example:
        >>> import torch
        >>> ConvLSTM1D(4, 3, return_sequences=True)(torch.ones(2, 5, 16, 1)).shape
        torch.Size([2, 5, 14, 4])
    """

    rank = 1
    frame_axes = ("rows",)
    input_rank = 4
    rank_hint = "(batch, time, rows, channels)"
    rank_fix = ("give sequences of 1-D frames as (N, T, L, C) (one channel: x[..., None]; after a ConvLSTM1D, "
                "give that layer return_sequences=True)")


class ConvLSTM3D(_ConvLSTM):
    """Convolutional LSTM over a sequence of volumes (a scan over time, a
    clip of depth maps): ConvLSTM2D's equations with 3-D convolutions, so
    ``h_t`` and ``c_t`` are ``(new_depth, new_rows, new_cols, filters)`` maps.

    Equations (per time step; ∗ is a 3-D convolution)::

        i_t, f_t, o_t = σ(W_{i,f,o} ∗ x_t + U_{i,f,o} ∗ h_{t-1} + b_{i,f,o})
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ tanh(W_c ∗ x_t + U_c ∗ h_{t-1} + b_c)
        h_t = o_t ⊙ tanh(c_t)

    where ``(W_g ∗ x_t)[n, a, p, q, j] = Σ_{r,u,v,k} x_t[n, a·s_d + r·d_d,
    p·s_h + u·d_h, q·s_w + v·d_w, k] · W[g·F + j, k, r, u, v]`` (``x_t`` padded
    as Keras for "same"), and ``U_g ∗ h`` has stride 1, no dilation and "same"
    padding. The ``kernel`` ``(4·filters, channels, kd, kh, kw)`` and the
    ``recurrent_kernel`` ``(4·filters, filters, kd, kh, kw)`` are in PyTorch's
    layout, ``channels_last_3d`` memory (Keras: ``(kd, kh, kw, channels,
    4·filters)``; ``set_weights`` names the transpose); ``bias`` is ``(4·filters,)``.

    Args: as ConvLSTM2D, with an int or a triple for kernel_size, strides and
    dilation_rate. Call arguments: as ConvLSTM2D; ``initial_state`` ``[h0,
    c0]`` each ``(batch, new_depth, new_rows, new_cols, filters)``.

    Input shape: ``(batch, time, depth, rows, cols, channels)``.
    Output shape: ``(batch, new_depth, new_rows, new_cols, filters)``, or with
    ``time`` after ``batch`` with return_sequences; new sizes as Conv3D's.
    With return_state, then ``h_T`` and ``c_T``.

    Raises:
        ValueError: as ConvLSTM2D, for input of rank other than 6.

    Example:
        >>> import torch
        >>> ConvLSTM3D(2, 3, padding="same")(torch.ones(1, 3, 4, 6, 6, 1)).shape
        torch.Size([1, 4, 6, 6, 2])
    """

    rank = 3
    frame_axes = ("depth", "rows", "cols")
    input_rank = 6
    rank_hint = "(batch, time, depth, rows, cols, channels)"
    rank_fix = ("give sequences of volumes as (N, T, D, H, W, C) (one channel: x[..., None]; after a ConvLSTM3D, "
                "give that layer return_sequences=True)")
