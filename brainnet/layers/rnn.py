"""The generic recurrent layer ``RNN(cell)`` and the cells it runs:
``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, or a cell of your own.

A cell is one time step: ``output_t, states_t = cell(x_t, states_{t-1})``.
``RNN`` runs it along the time axis, which is how the teaching material draws
a recurrent network unrolled in time::

    h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)        (SimpleRNNCell)

Writing a cell is the way to try a recurrence of your own: subclass ``Layer``,
give it ``state_size`` (an int, or a list of ints: one per state) and a
``call(self, inputs, states)`` that returns ``(output, new_states)``, as in
Keras. ``RNN(LSTMCell(64))`` computes what ``LSTM(64)`` computes, with the
same weights; it runs the step loop in Python, where ``LSTM`` runs PyTorch's
fused kernel, so the ready-made layers are the fast way to train.

Follows Keras 3: states are handed to the cell as a list (one tensor per
entry of ``state_size``), a cell's ``get_initial_state(batch_size)`` is used
when it has one (zeros otherwise), masked steps carry the states over and
repeat the previous output, and a list of cells is stacked (the output of
one is the input of the next at each step).
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
        return _rnn_cells.lstm_bias(self)

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


# ------------------------------------------------------------------ RNN
def _sizes(cell: Any) -> list[int]:
    size = cell.state_size
    return [int(size)] if isinstance(size, int) else [int(s) for s in size]


def _output_size(cell: Any) -> int:
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else _sizes(cell)[0]


class RNN(Layer):
    """Runs a cell (or a stack of cells) along the time axis.

    Equation (one cell; the network unrolled in time)::

        output_t, states_t = cell(x_t, states_{t-1}),   t = 1 … T,   states_0 = 0

    A list of cells is a stack: at each step cell k reads the output of
    cell k − 1 (``x_t`` for the first) and its own states. At a masked step
    (``mask[:, t]`` False) every state is carried over and the output repeats
    the previous one (zeros before the first real step), as in Keras.

    Args:
        cell: a cell (``SimpleRNNCell``, ``LSTMCell``, ``GRUCell``, or your own
            ``Layer`` with ``state_size`` and ``call(inputs, states)`` returning
            ``(output, new_states)``), or a list of cells to stack.
        return_sequences: return every ``output_t`` instead of the last one.
        return_state: also return the final states, flattened in order (the
            first cell's, then the next's): ``[output, *states]``.
        go_backwards: read the sequence from the end (outputs in reversed order).
        **kwargs: ``name``, ``input_shape`` (``(time, features)``), ``trainable``.

    Call arguments: ``inputs``; ``mask`` ``(batch, time)`` booleans;
    ``initial_state`` (the states, flattened as ``return_state`` gives them);
    ``training``.

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, output_size)`` or ``(batch, time, output_size)``,
    ``output_size`` the last cell's (its ``output_size``, else its first state size).

    Raises:
        ValueError: a cell without ``state_size`` or ``call``, input of rank
            other than 3, or a wrong mask or initial_state.

    Example:
        >>> import torch
        >>> RNN(LSTMCell(4), return_sequences=True)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 10, 4])
    """

    equation = "output_t, states_t = cell(x_t, states_{t-1})"
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "a recurrent layer, give it return_sequences=True)")
    fixed_axes = (-1,)
    supports_masking = True

    def __init__(self, cell: Any, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, **kwargs: Any) -> None:
        cells = list(cell) if isinstance(cell, (list, tuple)) else [cell]
        for c in cells:
            problem = None
            if isinstance(c, type):
                problem = f"the class {c.__name__}"
            elif not isinstance(c, Layer):
                problem = f"{type(c).__name__}, not a brainnet Layer"
            elif getattr(c, "state_size", None) is None:
                problem = f"{type(c).__name__} without a state_size"
            if problem is None:
                try:
                    _sizes(c)
                except (TypeError, ValueError):
                    problem = f"{type(c).__name__} whose state_size is {c.state_size!r}"
            if problem is not None:
                raise ValueError(
                    f"RNN: expected cell to be a cell instance (a brainnet Layer with state_size, an int or a "
                    f"list of ints, and call(inputs, states) returning (output, new_states)), got {problem}. "
                    "Fix: RNN(LSTMCell(32)), or set self.state_size = units in your cell's __init__."
                )
        if not cells:
            raise ValueError("RNN: expected a cell or a list of cells, got an empty list. Fix: RNN([LSTMCell(32)]).")
        super().__init__(**kwargs)
        self.stacked = isinstance(cell, (list, tuple))
        if self.stacked:
            self.cells = torch.nn.ModuleList(cells)
        else:
            self.cell = cells[0]
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)

    @property
    def _cell_list(self) -> list[Any]:
        return list(self.cells) if self.stacked else [self.cell]

    def _state_count(self) -> int:
        return sum(len(_sizes(c)) for c in self._cell_list)

    @property
    def state_names(self) -> tuple[str, ...]:
        """One name per state, in the order of ``initial_state`` and ``return_state``:
        ``h0``, ``c0`` for one cell of two states, ``state_k`` otherwise."""
        if not self.stacked and len(_sizes(self.cell)) <= 2:
            return ("h0", "c0")[: len(_sizes(self.cell))]
        return tuple(f"state_{k}" for k in range(self._state_count()))

    def build(self, input_shape: Shape) -> None:
        step = (input_shape[0], input_shape[-1])
        for cell in self._cell_list:
            if not cell.built:
                cell.build_from_shape(step)
            step = (input_shape[0], _output_size(cell))

    def call(self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None,
             initial_state: Any = None) -> Tensor | list[Tensor]:
        x = inputs
        batch = x.shape[0]
        cells = self._cell_list
        states = self._initial_states(initial_state, x)
        mask = self._check_mask(mask, x)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        step_input = x[:, 0]
        for cell, own in zip(cells, states):  # dropout masks: one per sequence
            if hasattr(cell, "begin_sequence"):
                cell.begin_sequence(step_input, own, bool(training))
            step_input = x.new_zeros(batch, _output_size(cell))  # the next cell reads this one's output
        try:
            outputs, previous = [], None
            for t in range(x.shape[1]):
                h, new_states = x[:, t], []
                for cell, own in zip(cells, states):
                    h, own_new = cell(h, states=own, training=training)
                    own_new = list(own_new) if isinstance(own_new, (list, tuple)) else [own_new]
                    new_states.append(own_new)
                if previous is None:
                    previous = torch.zeros_like(h)
                if mask is not None:  # masked step: carry the states, repeat the output
                    real = mask[:, t, None]
                    h = torch.where(real, h, previous)
                    new_states = [[torch.where(real, n, o) for n, o in zip(ns, os)]
                                  for ns, os in zip(new_states, states)]
                outputs.append(h)
                states, previous = new_states, h
        finally:
            for cell in cells:
                if hasattr(cell, "end_sequence"):
                    cell.end_sequence()
        output = torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]
        return [output, *[s for own in states for s in own]] if self.return_state else output

    def _initial_states(self, initial_state: Any, x: Tensor) -> list[list[Tensor]]:
        batch, cells = x.shape[0], self._cell_list
        if initial_state is None:
            states = []
            for cell in cells:
                if hasattr(cell, "get_initial_state"):
                    own = cell.get_initial_state(batch_size=batch)
                    own = list(own) if isinstance(own, (list, tuple)) else [own]
                else:
                    own = [x.new_zeros(batch, size) for size in _sizes(cell)]
                states.append([torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in own])
            return states
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        given = [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in given]
        want = [(batch, size) for cell in cells for size in _sizes(cell)]
        if len(given) != len(want) or any(tuple(g.shape) != w for g, w in zip(given, want)):
            raise ValueError(
                f"Layer '{self.name}' (RNN) expected initial_state: {len(want)} tensor(s) of shape(s) "
                f"[{', '.join(shape_str(w) for w in want)}] (each cell's states in order), got {len(given)} of "
                f"shape(s) [{', '.join(shape_str(tuple(g.shape)) for g in given)}]. "
                f"Fix: {self.name}(x, initial_state=[...]) with the shapes above, e.g. the states another "
                "recurrent layer returned with return_state=True."
            )
        states, i = [], 0
        for cell in cells:
            n = len(_sizes(cell))
            states.append(given[i : i + n])
            i += n
        return states

    def _check_mask(self, mask: Tensor | None, x: Tensor) -> Tensor | None:
        if mask is None:
            return None
        want = tuple(x.shape[:2])
        if tuple(mask.shape) != want:
            raise ValueError(
                f"Layer '{self.name}' (RNN) expected a mask of shape (batch, time) = {shape_str(want)} "
                f"(True = real step), got {shape_str(tuple(mask.shape))}. "
                "Fix: mask = tokens != 0 for the same batch, or let Embedding(mask_zero=True) make it."
            )
        return mask.to(device=x.device, dtype=torch.bool)

    def empty_axis_message(self, shape: Shape, axis: int) -> str:
        if axis != 1:
            return super().empty_axis_message(shape, axis)
        return (
            f"Layer '{self.name}' (RNN): expected at least one time step, got inputs of shape "
            f"{shape_str(shape)}. Fix: give sequences of length 1 or more (pad the short ones and mask the padding)."
        )

    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        batch, steps = input_shape[0], input_shape[1]
        size = _output_size(self._cell_list[-1])
        output = (batch, steps, size) if self.return_sequences else (batch, size)
        if self.return_state:
            return [output] + [(batch, s) for cell in self._cell_list for s in _sizes(cell)]
        return output

    def compute_mask(self, inputs: Any, mask: Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._state_count()
        return output_mask

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        cells = [_registry.serialize(c, "layer") for c in self._cell_list]
        return {
            **super().get_config(),
            "cell": cells if self.stacked else cells[0],
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RNN":
        from .. import _registry

        config = dict(config)
        cell = config.pop("cell")
        if isinstance(cell, list):
            cell = [_registry.deserialize(c, "layer", Layer) for c in cell]
        else:
            cell = _registry.deserialize(cell, "layer", Layer)
        return cls(cell, **config)
