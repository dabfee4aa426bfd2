"""Recurrent layers: SimpleRNN, LSTM and GRU (and, re-exported from
``bidirectional.py``, the Bidirectional wrapper).

A recurrent layer reads a sequence ``(batch, time, features)`` one step at a
time and keeps a hidden state ``h_t`` (the network's working memory); the
LSTM adds a cell state ``c_t`` (long-term memory). Names, arguments, defaults
and weights follow Keras 3.

This file holds what differs between the layers: weights, equations, the
step each one runs. ``_rnn_steps.py`` holds the steps, the loop over time
and the fused-kernel path (with each layer's weights in torch's layout); ``_rnn_cells.py`` holds ``RecurrentBase``
(arguments, states, masks, shapes, config). LSTM and GRU (and SimpleRNN with tanh or relu) run on
PyTorch's fused kernels whenever their configuration allows.

The activation of a recurrent layer is stored as ``state_activation``, not
``activation``: on a brainnet Layer ``activation`` means "the final activation,
fusable into the loss", which the recurrent activations are not.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from .. import activations
from . import _rnn_cells, _rnn_steps
from ._rnn_cells import RecurrentBase
from .bidirectional import Bidirectional


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
        stateful: start each call from the final states of the previous call
            (sample i of a batch continues sample i of the batch before)
            instead of zeros; ``layer.states`` holds them and
            ``layer.reset_states()`` zeroes them (default False).
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
        stateful: bool = False,
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
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, stateful=stateful, **kwargs,
        )

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        return functools.partial(
            _rnn_cells.simple_rnn_step, recurrent_kernel=self.recurrent_kernel,
            activation=self.state_activation, rec_mask=rec_mask,
        )

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        return _rnn_steps.fused_simple_rnn_weights(self)


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
        dropout, recurrent_dropout, return_sequences, go_backwards, stateful, **kwargs:
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
        stateful: bool = False,
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
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, stateful=stateful, **kwargs,
        )
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _initial_bias(self) -> torch.Tensor:
        return _rnn_cells.lstm_bias(self, self.units)

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        return functools.partial(
            _rnn_cells.lstm_step, recurrent_kernel=self.recurrent_kernel,
            activation=self.state_activation, recurrent_activation=self.recurrent_activation,
            rec_mask=rec_mask,
        )

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        return _rnn_steps.fused_lstm_weights(self)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


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
        dropout, recurrent_dropout, return_sequences, go_backwards, stateful, **kwargs:
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
        stateful: bool = False,
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
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, stateful=stateful, **kwargs,
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
        return _rnn_steps.fused_gru_weights(self)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]
