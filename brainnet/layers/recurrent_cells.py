"""The built-in cells that ``RNN(cell)`` runs: ``SimpleRNNCell``,
``LSTMCell`` and ``GRUCell``, each one time step of the matching layer of
``recurrent.py``::

    output_t, states_t = cell(x_t, states_{t-1})
    h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)        (SimpleRNNCell)

A cell holds the same weights as its layer (``SimpleRNNCell(64)`` as
``SimpleRNN(64)``, in Keras's layout) and runs the same step function from
``_rnn_steps.py``, so ``RNN(LSTMCell(64))`` computes what ``LSTM(64)``
computes. What the three share (arguments, weights, states, the
per-sequence dropout masks, config) is ``_Cell``, their one base class.
``rnn.py`` holds ``RNN`` and re-exports the cells, as before.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import torch

from .. import activations
from . import _rnn_cells
from ._rnn_cells import _check_rate, dropout_mask
from .base import Layer, Shape, shape_str
from .core import check_positive_int, take_weight_arguments, weight_arguments_config

Tensor = torch.Tensor


class _Cell(Layer):
    """What the three built-in cells share: weights in Keras's layout (as the
    matching layer's), states, per-sequence dropout masks and config."""

    input_rank = 2
    rank_hint = "(batch, features): one time step"
    rank_fix = "give one time step x[:, t] of shape (batch, features) (RNN(cell) runs a cell over (batch, time, features))"
    fixed_axes = (-1,)
    gates = 1
    n_states = 1

    def __init__(self, units: int, activation: str | Callable | None, use_bias: bool, dropout: float,
                 recurrent_dropout: float, kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_constraint: Any = None, recurrent_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.units = check_positive_int(cls, "units", units)
        self.state_activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.dropout = _check_rate(cls, "dropout", dropout)
        self.recurrent_dropout = _check_rate(cls, "recurrent_dropout", recurrent_dropout)
        take_weight_arguments(self, locals(), _rnn_cells.RECURRENT_WEIGHTS)
        self._masks: tuple[Tensor | None, Tensor | None] | None = None  # set by RNN for one sequence

    @property
    def state_size(self) -> int | list[int]:
        return self.units if self.n_states == 1 else [self.units] * self.n_states

    @property
    def output_size(self) -> int:
        return self.units

    # ----------------------------------------------------------- weights
    def build(self, input_shape: Shape) -> None:
        _rnn_cells.build_weights(self, input_shape[-1])

    def _initial_bias(self) -> Tensor:
        return self.initial_value("bias", (self.gates * self.units,))

    def _input_bias(self) -> Tensor | None:
        return self.bias

    def _step(self, rec_mask: Tensor | None) -> Callable:
        raise NotImplementedError

    # ------------------------------------------------------------- call
    def forward(self, inputs: Any, states: Any = None, training: bool | None = None, **kwargs: Any) -> Any:
        """``cell(x_t, states)``, states second as in Keras (a Layer's second
        positional argument is otherwise ``training``)."""
        return super().forward(inputs, training=training, states=states, **kwargs)

    def get_initial_state(self, batch_size: int) -> list[Tensor]:
        """Zeros, one ``(batch, units)`` tensor per state, on the weights' device."""
        like = self.kernel if self.built else torch.zeros(())
        return [like.new_zeros(batch_size, self.units) for _ in range(self.n_states)]

    def begin_sequence(self, x0: Tensor, states: list[Tensor], training: bool) -> None:
        """Draw this sequence's dropout masks (the same at every step, as Keras)."""
        drop_in = dropout_mask(x0, self.dropout) if training and self.dropout > 0 else None
        drop_rec = dropout_mask(states[0], self.recurrent_dropout) if training and self.recurrent_dropout > 0 else None
        self._masks = (drop_in, drop_rec)

    def end_sequence(self) -> None:
        self._masks = None

    def call(self, inputs: Tensor, states: Any = None, training: bool | None = None) -> tuple[Tensor, list[Tensor]]:
        states = self._check_states(states, inputs)
        if self._masks is not None:
            drop_in, drop_rec = self._masks
        else:  # called on its own: fresh masks for this step
            drop_in = dropout_mask(inputs, self.dropout) if training and self.dropout > 0 else None
            drop_rec = dropout_mask(states[0], self.recurrent_dropout) if training and self.recurrent_dropout > 0 else None
        x = inputs if drop_in is None else inputs * drop_in
        xw = x @ self.kernel
        bias = self._input_bias()
        if bias is not None:
            xw = xw + bias
        return self._step(drop_rec)(xw, states)

    def _check_states(self, states: Any, x: Tensor) -> list[Tensor]:
        given = list(states) if isinstance(states, (list, tuple)) else ([] if states is None else [states])
        want = (x.shape[0], self.units)
        if len(given) != self.n_states or any(tuple(s.shape) != want for s in given):
            got = ", ".join(shape_str(tuple(s.shape)) for s in given) if given else "none"
            cls = type(self).__name__
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expected states: a list of {self.n_states} tensor(s) of shape "
                f"(batch, units) = {shape_str(want)}, got {len(given)} of shape(s) [{got}]. "
                f"Fix: {self.name}(x_t, states) with states = {self.name}.get_initial_state(batch_size) "
                "at the first step, then the states the previous step returned."
            )
        return [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in given]

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.state_activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            **weight_arguments_config(self, _rnn_cells.RECURRENT_WEIGHTS),
        }


class SimpleRNNCell(_Cell):
    """One step of ``SimpleRNN``: the hidden state mixes the input with the
    previous hidden state.

    Equation (the teaching notation)::

        h_t = f(W_hh h_{t-1} + W_xh x_t + b_h),   output_t = h_t

    ``kernel`` ``W_xh`` ``(features, units)``, ``recurrent_kernel`` ``W_hh``
    ``(units, units)``, ``bias`` ``b_h`` ``(units,)``: the same weights as
    ``SimpleRNN(units)``. ``state_size`` is ``units``.

    Args:
        units: size of ``h_t``. activation: ``f`` (default ``"tanh"``).
        use_bias: add ``b_h`` (default True).
        dropout, recurrent_dropout: fractions of ``x_t`` and of ``h_{t-1}``
            dropped while training (inside ``RNN``: one mask per sequence).
        kernel_regularizer, recurrent_regularizer, bias_regularizer, kernel_initializer,
        recurrent_initializer, bias_initializer, kernel_constraint, recurrent_constraint,
        bias_constraint: as in ``SimpleRNN``.

    Call: ``cell(x_t, states)`` with ``x_t`` ``(batch, features)`` and
    ``states`` ``[h_{t-1}]``; returns ``(h_t, [h_t])``.

    Example:
        >>> import torch
        >>> cell = SimpleRNNCell(4)
        >>> out, states = cell(torch.ones(2, 3), [torch.zeros(2, 4)])
        >>> out.shape, len(states)
        (torch.Size([2, 4]), 1)
    """

    equation = "h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)"

    def __init__(self, units: int, activation: str | Callable | None = "tanh", use_bias: bool = True,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, kernel_regularizer: Any = None,
                 recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(units, activation, use_bias, dropout, recurrent_dropout, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_constraint, recurrent_constraint, bias_constraint, **kwargs)

    def _step(self, rec_mask: Tensor | None) -> Callable:
        return functools.partial(_rnn_cells.simple_rnn_step, recurrent_kernel=self.recurrent_kernel,
                                 activation=self.state_activation, rec_mask=rec_mask)


class LSTMCell(_Cell):
    """One step of ``LSTM``: gates decide what the cell state ``c_t``
    (long-term memory) forgets, writes and shows.

    Equations (σ is ``recurrent_activation``)::

        i = σ(x_t W_i + h_{t-1} U_i + b_i)    f = σ(x_t W_f + h_{t-1} U_f + b_f)
        c̃ = tanh(x_t W_c + h_{t-1} U_c + b_c)  o = σ(x_t W_o + h_{t-1} U_o + b_o)
        c_t = f ⊙ c_{t-1} + i ⊙ c̃,   h_t = o ⊙ tanh(c_t),   output_t = h_t

    Weights as ``LSTM(units)``'s (gates side by side in Keras's order i, f,
    c, o). ``state_size`` is ``[units, units]`` (``h`` then ``c``).

    Args:
        units, activation (default ``"tanh"``), recurrent_activation (the
        gates' σ, default ``"sigmoid"``), use_bias, unit_forget_bias (``b_f``
        starts at 1, default True), dropout, recurrent_dropout, and the
        regularizers, initializers and constraints: as in ``LSTM``.

    Call: ``cell(x_t, [h_{t-1}, c_{t-1}])``; returns ``(h_t, [h_t, c_t])``.

    Example:
        >>> import torch
        >>> cell = LSTMCell(4)
        >>> out, (h, c) = cell(torch.ones(2, 3), cell.get_initial_state(2))
        >>> out.shape, c.shape
        (torch.Size([2, 4]), torch.Size([2, 4]))
    """

    equation = "c_t = f ⊙ c_{t-1} + i ⊙ c̃,  h_t = o ⊙ tanh(c_t)"
    gates = 4
    n_states = 2

    def __init__(self, units: int, activation: str | Callable | None = "tanh",
                 recurrent_activation: str | Callable | None = "sigmoid", use_bias: bool = True,
                 unit_forget_bias: bool = True, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(units, activation, use_bias, dropout, recurrent_dropout, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_constraint, recurrent_constraint, bias_constraint, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _initial_bias(self) -> Tensor:
        return _rnn_cells.lstm_bias(self, self.units)

    def _step(self, rec_mask: Tensor | None) -> Callable:
        return functools.partial(_rnn_cells.lstm_step, recurrent_kernel=self.recurrent_kernel,
                                 activation=self.state_activation, recurrent_activation=self.recurrent_activation,
                                 rec_mask=rec_mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_Cell):
    """One step of ``GRU``: an update gate mixes the previous state with a
    candidate; a reset gate decides how much of the past the candidate sees.

    Equations (Keras's convention; σ is ``recurrent_activation``)::

        z = σ(x_t W_z + b_z + h_{t-1} U_z + b'_z),   r = σ(x_t W_r + b_r + h_{t-1} U_r + b'_r)
        h̃ = tanh(x_t W_h + b_h + r ⊙ (h_{t-1} U_h + b'_h))   (reset_after=True)
        h̃ = tanh(x_t W_h + b_h + (r ⊙ h_{t-1}) U_h)          (reset_after=False)
        h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃,   output_t = h_t

    Weights as ``GRU(units)``'s (``bias`` ``(2, 3·units)`` with
    ``reset_after``). ``state_size`` is ``units``.

    Args:
        units, activation, recurrent_activation, use_bias, reset_after
        (default True), dropout, recurrent_dropout, and the regularizers,
        initializers and constraints: as in ``GRU``.

    Call: ``cell(x_t, [h_{t-1}])``; returns ``(h_t, [h_t])``.

    Example:
        >>> import torch
        >>> GRUCell(4)(torch.ones(2, 3), [torch.zeros(2, 4)])[0].shape
        torch.Size([2, 4])
    """

    equation = "h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃"
    gates = 3

    def __init__(self, units: int, activation: str | Callable | None = "tanh",
                 recurrent_activation: str | Callable | None = "sigmoid", use_bias: bool = True,
                 reset_after: bool = True, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None, bias_regularizer: Any = None,
                 kernel_initializer: Any = "glorot_uniform", recurrent_initializer: Any = "orthogonal",
                 bias_initializer: Any = "zeros", kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(units, activation, use_bias, dropout, recurrent_dropout, kernel_regularizer,
                         recurrent_regularizer, bias_regularizer, kernel_initializer, recurrent_initializer,
                         bias_initializer, kernel_constraint, recurrent_constraint, bias_constraint, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = bool(reset_after)

    def _initial_bias(self) -> Tensor:
        return _rnn_cells.gru_bias(self)

    def _input_bias(self) -> Tensor | None:
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def _step(self, rec_mask: Tensor | None) -> Callable:
        recurrent_bias = self.bias[1] if self.bias is not None and self.reset_after else None
        return functools.partial(_rnn_cells.gru_step, recurrent_kernel=self.recurrent_kernel,
                                 recurrent_bias=recurrent_bias, activation=self.state_activation,
                                 recurrent_activation=self.recurrent_activation, reset_after=self.reset_after,
                                 rec_mask=rec_mask)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "recurrent_activation": activations.serialize(self.recurrent_activation),
                "reset_after": self.reset_after}
