"""Recurrent layers: SimpleRNN, LSTM, GRU, and the Bidirectional wrapper.

A recurrent layer reads a sequence ``(batch, time, features)`` one step at a
time and keeps a hidden state ``h_t`` (the network's working memory); the
LSTM adds a cell state ``c_t`` (long-term memory). Names, arguments, defaults
and weights follow Keras 3.

This file holds what differs between the layers: weights, equations, the
step each one runs. ``_rnn_cells.py`` holds the steps, the loop over time,
the fused-kernel path and ``RecurrentBase`` (arguments, states, masks,
shapes, config). LSTM and GRU (and SimpleRNN with tanh or relu) run on
PyTorch's fused kernels whenever their configuration allows.

The activation of a recurrent layer is stored as ``state_activation``, not
``activation``: on a brainnet Layer ``activation`` means "the final activation,
fusable into the loss", which the recurrent activations are not.
"""

from __future__ import annotations

import copy
import functools
from typing import Any, Callable

import torch

from .. import activations
from . import _rnn_cells
from ._rnn_cells import RecurrentBase, transposed
from .base import Layer, Shape

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class SimpleRNN(RecurrentBase):
    """Fully connected recurrent layer: the new hidden state mixes the input
    with the previous hidden state.

    Equation (per time step; the teaching notation)::

        h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)

    computed as ``h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)`` with ``W_xh`` the
    ``kernel`` ``(features, units)``, ``W_hh`` the ``recurrent_kernel``
    ``(units, units)`` and ``b_h`` the ``bias`` ``(units,)``; ``h_0 = 0``
    unless ``initial_state`` is given. The output at step t is ``h_t``.

    Args:
        units: size of the hidden state (positive int).
        activation: ``f``, default ``"tanh"``.
        use_bias: whether to add ``b_h`` (default True).
        kernel_initializer: how ``W_xh`` starts (``brainnet.initializers``,
            default ``"glorot_uniform"``); recurrent_initializer: ``W_hh``
            (default ``"orthogonal"``); bias_initializer: ``b_h`` (default ``"zeros"``).
        kernel_constraint, recurrent_constraint, bias_constraint: project
            ``W_xh``, ``W_hh``, ``b_h`` after each optimizer update
            (``brainnet.constraints``, e.g. ``MaxNorm(3)``; default None).
        kernel_regularizer: penalty on ``W_xh``, e.g. ``"l2"`` or
            ``regularizers.L2(1e-4)``: adds ``R(W_xh)`` to the loss (default None).
        recurrent_regularizer: penalty on ``W_hh``: adds ``R(W_hh)``.
        bias_regularizer: penalty on ``b_h``: adds ``R(b_h)``.
        activity_regularizer: penalty on the output: adds ``R(y)`` of the whole
            batch's output (every ``h_t`` with return_sequences, else ``h_T``), and
            with return_state ``R`` of each returned state too (Keras 3's rule: every
            output tensor). The penalties are in ``model.losses``; fit and evaluate
            add their sum to the loss (see ``brainnet.regularizers``).
        dropout: fraction of the inputs dropped while training (one mask per
            sequence, the same at every step), in [0, 1).
        recurrent_dropout: same, for ``h_{t-1}`` where it enters the product.
        return_sequences: return every ``h_t`` instead of the last one.
        return_state: also return the final state: ``[output, h_T]``.
        go_backwards: read the sequence from the end (outputs come in the
            reversed order, as in Keras).
        use_cudnn: ``"auto"`` runs PyTorch's fused kernel when ``f`` is tanh
            or relu and there is no recurrent dropout; ``False`` always runs
            the step loop; ``True`` insists on the fused kernel. (Keras has
            this argument on LSTM and GRU only.)
        **kwargs: ``name``, ``input_shape`` (e.g. ``(time, features)``), ``trainable``.

    Call arguments: ``inputs``; ``mask`` ``(batch, time)`` booleans (True =
    real step: at a masked step the state is carried over and the output
    repeats the previous one); ``initial_state`` ``[h0]``; ``training``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)``, or ``(batch, time, units)`` with
    ``return_sequences``; with ``return_state`` a list ``[output, (batch, units)]``.

    Raises:
        ValueError: a bad hyperparameter, input of rank other than 3, a
            feature size other than the one built for, or a wrong mask or
            initial_state.

    Example:
        >>> import torch
        >>> SimpleRNN(4)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 4])
    """

    equation = "h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)"
    fused_needs = "activation='tanh' or 'relu', no recurrent_dropout while training"

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
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
        use_cudnn: str | bool = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, use_bias, dropout, recurrent_dropout,
            return_sequences, return_state, go_backwards, use_cudnn,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, **kwargs,
        )

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        return functools.partial(
            _rnn_cells.simple_rnn_step, recurrent_kernel=self.recurrent_kernel,
            activation=self.state_activation, rec_mask=rec_mask,
        )

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        mode = {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(self.state_activation)
        if mode is None:
            return None
        zeros = None if self.bias is None else torch.zeros_like(self.bias)  # torch's b_hh
        return mode, transposed([self.kernel, self.recurrent_kernel, self.bias, zeros])


def _tanh_and_sigmoid(layer: LSTM | GRU) -> bool:
    """Whether a gated layer has the activations PyTorch's fused kernels compute."""
    return layer.state_activation is activations.tanh and layer.recurrent_activation is activations.sigmoid


class LSTM(RecurrentBase):
    """Long short-term memory: a cell state ``c_t`` (long-term memory) that
    gates decide to forget, write and read.

    Equations (per time step; σ is ``recurrent_activation``, tanh is
    ``activation``)::

        i_t = σ(x_t W_i + h_{t-1} U_i + b_i)          input gate
        f_t = σ(x_t W_f + h_{t-1} U_f + b_f)          forget gate
        c̃_t = tanh(x_t W_c + h_{t-1} U_c + b_c)       candidate memory
        o_t = σ(x_t W_o + h_{t-1} U_o + b_o)          output gate
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t               cell state (long-term memory)
        h_t = o_t ⊙ tanh(c_t)                          hidden state = output

    ``kernel`` ``(features, 4·units)`` holds ``[W_i, W_f, W_c, W_o]`` side by
    side (Keras's order, which is also torch's i, f, g, o),
    ``recurrent_kernel`` ``(units, 4·units)`` the ``U``s and ``bias``
    ``(4·units,)`` the ``b``s; ``h_0 = c_0 = 0`` unless ``initial_state``.

    Args:
        units: size of ``h_t`` and ``c_t`` (positive int).
        activation: default ``"tanh"``.
        recurrent_activation: the gates' σ, default ``"sigmoid"``.
        use_bias: whether to add the ``b``s (default True).
        unit_forget_bias: initialise ``b_f`` to 1 (default True, as Keras;
            ``bias_initializer`` then makes the other three ``b``s).
        kernel_initializer, recurrent_initializer, bias_initializer,
            kernel_constraint, recurrent_constraint, bias_constraint: as in
            ``SimpleRNN``, for the four gates' weights side by side.
        kernel_regularizer: adds ``R(W)``, ``W = [W_i, W_f, W_c, W_o]`` the
            ``kernel`` (default None); recurrent_regularizer: adds ``R(U)``, the
            ``recurrent_kernel``; bias_regularizer: adds ``R(b)``, all four ``b``s;
            activity_regularizer: adds ``R(y)`` of the output (with return_state
            also ``R(h_T) + R(c_T)``). As in ``SimpleRNN``.
        dropout, recurrent_dropout, return_sequences, go_backwards, **kwargs:
            as in ``SimpleRNN``.
        return_state: also return the final states: ``[output, h_T, c_T]``.
        use_cudnn: ``"auto"`` runs PyTorch's fused LSTM kernel (oneDNN on
            CPU, cuDNN on GPU) with the default activations and no recurrent
            dropout; ``False`` always runs the step loop; ``True`` insists.

    Call arguments: as ``SimpleRNN``, with ``initial_state=[h0, c0]``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)`` or ``(batch, time, units)``; with
    ``return_state`` ``[output, (batch, units), (batch, units)]``.

    Raises:
        ValueError: as ``SimpleRNN``.

    Example:
        >>> import torch
        >>> out, h, c = LSTM(4, return_sequences=True, return_state=True)(torch.ones(2, 10, 3))
        >>> out.shape, h.shape, c.shape
        (torch.Size([2, 10, 4]), torch.Size([2, 4]), torch.Size([2, 4]))
    """

    equation = "c_t = f_t ⊙ c_{t-1} + i_t ⊙ c̃_t,  h_t = o_t ⊙ tanh(c_t)"
    gates = 4
    state_names = ("h0", "c0")
    fused_needs = "activation='tanh', recurrent_activation='sigmoid', no recurrent_dropout while training"

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = "tanh",
        recurrent_activation: str | Callable | None = "sigmoid",
        use_bias: bool = True,
        unit_forget_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
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
        use_cudnn: str | bool = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, use_bias, dropout, recurrent_dropout,
            return_sequences, return_state, go_backwards, use_cudnn,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _initial_bias(self) -> torch.Tensor:
        return _rnn_cells.lstm_bias(self)

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        return functools.partial(
            _rnn_cells.lstm_step, recurrent_kernel=self.recurrent_kernel,
            activation=self.state_activation, recurrent_activation=self.recurrent_activation,
            rec_mask=rec_mask,
        )

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        if not _tanh_and_sigmoid(self):
            return None
        zeros = None if self.bias is None else torch.zeros_like(self.bias)  # torch's b_hh
        return "lstm", transposed([self.kernel, self.recurrent_kernel, self.bias, zeros])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


def _zr_to_rz(w: torch.Tensor) -> torch.Tensor:
    """Keras's GRU gate order (z, r, h) → torch's (r, z, n), on the last axis."""
    z, r, h = w.chunk(3, dim=-1)
    return torch.cat([r, z, h], dim=-1)


class GRU(RecurrentBase):
    """Gated recurrent unit: an update gate mixes the previous state with a
    candidate state; a reset gate decides how much of the past the candidate sees.

    Equations (Keras's convention; σ is ``recurrent_activation``)::

        z_t = σ(x_t W_z + b_z + h_{t-1} U_z + b'_z)    update gate
        r_t = σ(x_t W_r + b_r + h_{t-1} U_r + b'_r)    reset gate
        h̃_t = tanh(x_t W_h + b_h + r_t ⊙ (h_{t-1} U_h + b'_h))   (reset_after=True)
        h̃_t = tanh(x_t W_h + b_h + (r_t ⊙ h_{t-1}) U_h)          (reset_after=False)
        h_t = z_t ⊙ h_{t-1} + (1 − z_t) ⊙ h̃_t

    ``kernel`` ``(features, 3·units)`` holds ``[W_z, W_r, W_h]``,
    ``recurrent_kernel`` ``(units, 3·units)`` the ``U``s. With
    ``reset_after=True`` the ``bias`` is ``(2, 3·units)``: row 0 the input
    biases ``b``, row 1 the recurrent biases ``b'``; with ``reset_after=False``
    it is ``(3·units,)`` (no ``b'``).

    Args:
        units: size of ``h_t`` (positive int).
        activation: default ``"tanh"``.
        recurrent_activation: the gates' σ, default ``"sigmoid"``.
        use_bias: default True.
        kernel_initializer, recurrent_initializer, bias_initializer (on the
            whole ``bias``), kernel_constraint, recurrent_constraint,
            bias_constraint: as in ``SimpleRNN``.
        kernel_regularizer: adds ``R(W)``, ``W = [W_z, W_r, W_h]`` the ``kernel``
            (default None); recurrent_regularizer: adds ``R(U)``, the
            ``recurrent_kernel``; bias_regularizer: adds ``R(bias)`` of the whole
            ``bias`` (both rows ``b`` and ``b'`` with reset_after, as Keras);
            activity_regularizer: adds ``R(y)`` of the output (with return_state
            also ``R(h_T)``). As in ``SimpleRNN``.
        reset_after: apply the reset gate after the recurrent product
            (default True, as Keras 3 and cuDNN/torch.nn.GRU).
        dropout, recurrent_dropout, return_sequences, go_backwards, **kwargs:
            as in ``SimpleRNN``.
        return_state: also return the final state: ``[output, h_T]``.
        use_cudnn: ``"auto"`` runs PyTorch's fused GRU kernel with the
            default activations, ``reset_after=True`` and no recurrent
            dropout; ``False`` always runs the step loop; ``True`` insists.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, units)`` or ``(batch, time, units)``; with
    ``return_state`` ``[output, (batch, units)]``.

    Raises:
        ValueError: as ``SimpleRNN``.

    Example:
        >>> import torch
        >>> GRU(4, return_sequences=True)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 10, 4])
    """

    equation = "h_t = z_t ⊙ h_{t-1} + (1 − z_t) ⊙ h̃_t"
    gates = 3
    fused_needs = (
        "activation='tanh', recurrent_activation='sigmoid', reset_after=True, "
        "no recurrent_dropout while training"
    )

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = "tanh",
        recurrent_activation: str | Callable | None = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
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
        reset_after: bool = True,
        use_cudnn: str | bool = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            units, activation, use_bias, dropout, recurrent_dropout,
            return_sequences, return_state, go_backwards, use_cudnn,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _initial_bias(self) -> torch.Tensor:
        return _rnn_cells.gru_bias(self)

    def _input_bias(self) -> torch.Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        recurrent_bias = self.bias[1] if self.bias is not None and self.reset_after else None
        return functools.partial(
            _rnn_cells.gru_step, recurrent_kernel=self.recurrent_kernel, recurrent_bias=recurrent_bias,
            activation=self.state_activation, recurrent_activation=self.recurrent_activation,
            reset_after=self.reset_after, rec_mask=rec_mask,
        )

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        if not (self.reset_after and _tanh_and_sigmoid(self)):
            return None
        biases = [None, None] if self.bias is None else [_zr_to_rz(self.bias[0]), _zr_to_rz(self.bias[1])]
        return "gru", transposed([_zr_to_rz(self.kernel), _zr_to_rz(self.recurrent_kernel), *biases])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


_REGULARIZER_ARGS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
                     "kernel_initializer", "recurrent_initializer", "bias_initializer",
                     "kernel_constraint", "recurrent_constraint", "bias_constraint")


def _copy(layer: RecurrentBase, **changes: Any) -> RecurrentBase:
    """A fresh layer of the same class, through get_config/from_config. The
    regularizers, initializers and constraints go over as they are (a plain
    function has no config)."""
    regs = {arg: getattr(layer, arg) for arg in _REGULARIZER_ARGS if getattr(layer, arg, None) is not None}
    bare = copy.copy(layer)  # a shallow copy, only to read the config without the regularizers
    for arg in regs:
        setattr(bare, arg, None)
    config = {k: v for k, v in bare.get_config().items() if k != "input_shape"}
    return type(layer).from_config({**config, **regs, **changes})


def _prefixed(prefix: str, name: str) -> str:
    return prefix + name.removeprefix(prefix)


class Bidirectional(Layer):
    """Runs a recurrent layer over the sequence in both directions and merges
    the two outputs, so each step sees its past and its future.

    Equation (with return_sequences; →h from the layer, ←h from a copy of it
    that reads the sequence from the end, re-aligned in time)::

        y_t = merge(→h_t, ←h_t),  merge ∈ {concat, sum, mul, ave}

    Without return_sequences it merges the two final outputs. The backward
    copy is made through ``get_config``/``from_config`` with ``go_backwards``
    flipped (fresh weights, as Keras; named ``forward_<name>`` and
    ``backward_<name>``). With a mask and return_sequences, the outputs at
    masked steps are zeros (Keras's rule for Bidirectional).

    Regularizers: the copy takes the layer's regularizers with its config, so
    each direction adds its own penalties once: ``R(W_fw) + R(W_bw)`` for each
    regularized weight, and an activity regularizer adds ``R`` of each
    direction's output (before the merge).

    Args:
        layer: a ``SimpleRNN``, ``LSTM`` or ``GRU`` instance.
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"``, or
            ``None`` to return ``[forward, backward]``.
        backward_layer: optional layer of the same kind for the backward
            direction (its ``go_backwards`` must differ from ``layer``'s and
            its ``return_sequences``/``return_state`` must match).
        **kwargs: ``name``, ``input_shape`` (default: the layer's), ``trainable``.

    Call arguments: ``inputs``, ``mask``, ``training`` as the layer;
    ``initial_state``: the forward states, then the backward ones.

    Input shape: ``(batch, time, features)``.
    Output shape: the layer's, with ``2·units`` for ``"concat"``; with
    ``return_state`` the states of both directions follow the output
    (``[y, h_fw, c_fw, h_bw, c_bw]`` for an LSTM).

    Raises:
        ValueError: ``layer`` or ``backward_layer`` is not a recurrent layer,
            an unknown ``merge_mode``, mismatched layers, or a wrong number of
            initial states.

    Example:
        >>> import torch
        >>> Bidirectional(LSTM(4, return_sequences=True))(torch.ones(2, 10, 3)).shape
        torch.Size([2, 10, 8])
    """

    equation = "y_t = merge(→h_t, ←h_t)"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")
    fixed_axes = (-1,)
    supports_masking = True

    def __init__(
        self,
        layer: RecurrentBase,
        merge_mode: str | None = "concat",
        backward_layer: RecurrentBase | None = None,
        **kwargs: Any,
    ) -> None:
        from .rnn import RNN

        for arg, value in (("layer", layer), ("backward_layer", backward_layer)):
            if not isinstance(value, (RecurrentBase, RNN)) and not (arg == "backward_layer" and value is None):
                got = f"the class {value.__name__}" if isinstance(value, type) else type(value).__name__
                raise ValueError(
                    f"Bidirectional: expected {arg} to be a recurrent layer instance (SimpleRNN, "
                    f"LSTM, GRU or RNN(cell)), got {got}. Fix: Bidirectional(LSTM(32, return_sequences=True))."
                )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"Bidirectional: expected merge_mode to be one of 'concat', 'sum', 'mul', 'ave' or "
                f"None, got {merge_mode!r}. Fix: Bidirectional(layer, merge_mode='concat')."
            )
        kwargs.setdefault("input_shape", layer.input_shape_arg)
        super().__init__(**kwargs)
        self.forward_layer = _copy(layer, name=_prefixed("forward_", layer.name))
        if backward_layer is None:
            backward_layer = _copy(
                layer, name=_prefixed("backward_", layer.name), go_backwards=not layer.go_backwards
            )
        self.backward_layer = backward_layer
        self._check_pair()
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        if not self.trainable:  # a frozen wrapper freezes both directions
            self.forward_layer.trainable = self.backward_layer.trainable = False

    def _check_pair(self) -> None:
        fw, bw = self.forward_layer, self.backward_layer
        for attr in ("return_sequences", "return_state"):
            if getattr(fw, attr) != getattr(bw, attr):
                want, got = getattr(fw, attr), getattr(bw, attr)
                raise ValueError(
                    f"Bidirectional: expected layer and backward_layer to have the same {attr}, got "
                    f"{want} and {got}. Fix: give both {attr}={want}."
                )
        if fw.go_backwards == bw.go_backwards:
            raise ValueError(
                f"Bidirectional: expected layer and backward_layer to read in opposite directions, "
                f"got go_backwards={fw.go_backwards} for both. "
                f"Fix: create backward_layer with go_backwards={not fw.go_backwards}."
            )

    def build(self, input_shape: Shape) -> None:
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)

    def call(
        self,
        inputs: torch.Tensor,
        training: bool | None = None,
        mask: torch.Tensor | None = None,
        initial_state: Any = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        fw_state = bw_state = None
        if initial_state is not None:
            states, n = list(initial_state), len(self.forward_layer.state_names)
            if len(states) != 2 * n:
                names = ", ".join(f"{s}_{d}" for d in ("fw", "bw") for s in self.forward_layer.state_names)
                raise ValueError(
                    f"Layer '{self.name}' (Bidirectional): expected initial_state [{names}] "
                    f"({2 * n} tensors: the forward states, then the backward ones), got "
                    f"{len(states)}. Fix: {self.name}(x, initial_state=[{names}])."
                )
            fw_state, bw_state = states[:n], states[n:]
        y = self.forward_layer(inputs, training, mask=mask, initial_state=fw_state)
        y_rev = self.backward_layer(inputs, training, mask=mask, initial_state=bw_state)
        states = []
        if self.return_state:
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev.flip(1)  # back to forward time order
            if mask is not None:  # Keras: masked steps output zeros in Bidirectional
                real = mask.to(device=y.device, dtype=torch.bool)[..., None]  # (B, T, 1)
                y, y_rev = torch.where(real, y, 0.0), torch.where(real, y_rev, 0.0)
        output = self._merge(y, y_rev)
        if self.return_state:
            return (output if self.merge_mode is None else [output]) + states
        return output

    def _merge(self, y: torch.Tensor, y_rev: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.merge_mode == "concat":
            return torch.cat([y, y_rev], dim=-1)  # (..., 2·units)
        if self.merge_mode == "sum":
            return y + y_rev
        if self.merge_mode == "mul":
            return y * y_rev
        if self.merge_mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        shape = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            shape, states = shape[0], shape[1:]
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outputs + states + states
        return outputs if self.merge_mode is None else shape

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            return masks + [None] * (2 * len(self.forward_layer.state_names))
        return masks if self.merge_mode is None else output_mask

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        return {
            **super().get_config(),
            "layer": _registry.serialize(self.forward_layer, "layer"),
            "merge_mode": self.merge_mode,
            "backward_layer": _registry.serialize(self.backward_layer, "layer"),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Bidirectional":
        from .. import _registry

        config = dict(config)
        for key in ("layer", "backward_layer"):
            if isinstance(config.get(key), dict):
                config[key] = _registry.deserialize(config[key], "layer", Layer)
        return cls(**config)
