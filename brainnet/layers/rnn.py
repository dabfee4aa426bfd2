"""The generic recurrent layer ``RNN(cell)``, which runs a cell along the time
axis: ``SimpleRNNCell``, ``LSTMCell``, ``GRUCell`` (in ``recurrent_cells.py``,
re-exported here), or a cell of your own.

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
one is the input of the next at each step), as is a ``StackedRNNCells``.
"""

from __future__ import annotations

from typing import Any

import torch

from ._rnn_state import check_stateful, keep_states, kept_states, reset_states
from .base import Layer, Shape, shape_str
from .recurrent_cells import GRUCell, LSTMCell, SimpleRNNCell
from .stacked_rnn_cells import StackedRNNCells, cell_problem, cells_equation, leaf_cells
from .stacked_rnn_cells import output_size_of as _output_size
from .stacked_rnn_cells import state_sizes as _sizes

Tensor = torch.Tensor


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
            ``(output, new_states)``), or a list of cells to stack (the same as
            one ``StackedRNNCells`` of them).
        return_sequences: return every ``output_t`` instead of the last one.
        return_state: also return the final states, flattened in order (the
            first cell's, then the next's): ``[output, *states]``.
        go_backwards: read the sequence from the end (outputs in reversed order).
        stateful: start each call from the final states of the previous call
            (``layer.states``, flattened; ``layer.reset_states()`` zeroes
            them) instead of zeros.
        **kwargs: ``name``, ``input_shape`` (``(time, features)``), ``trainable``.

    Call arguments: ``inputs``; ``mask`` ``(batch, time)`` booleans;
    ``initial_state`` (the states, flattened as ``return_state`` gives them,
    or nested one list per cell as Keras gives a stack's);
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
                 go_backwards: bool = False, stateful: bool = False, **kwargs: Any) -> None:
        cells = list(cell) if isinstance(cell, (list, tuple)) else [cell]
        for c in cells:
            problem = cell_problem(c)
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
        self.stateful = check_stateful("RNN", stateful)
        self.states: list[Tensor] | None = None  # a stateful layer's last final states (_rnn_state.py)

    @property
    def equation_text(self) -> str:
        """What the summary shows: the step, then the cell's own equation (a stack's:
        h⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, ...), then each cell's, in order)."""
        return cells_equation(self._top_cells)

    @property
    def _top_cells(self) -> list[Any]:
        return list(self.cells) if self.stacked else [self.cell]

    @property
    def _cell_list(self) -> list[Any]:
        """The cells that compute, in order (a StackedRNNCells gives its own)."""
        return leaf_cells(self._top_cells)

    def _state_count(self) -> int:
        return sum(len(_sizes(c)) for c in self._cell_list)

    @property
    def state_names(self) -> tuple[str, ...]:
        """One name per state, in the order of ``initial_state`` and ``return_state``:
        ``h0``, ``c0`` for one cell of two states, ``state_k`` otherwise."""
        if len(self._cell_list) == 1 and len(_sizes(self._cell_list[0])) <= 2:
            return ("h0", "c0")[: len(_sizes(self.cell))]
        return tuple(f"state_{k}" for k in range(self._state_count()))

    def build(self, input_shape: Shape) -> None:
        self._refuse_several_inputs(input_shape)
        step = (input_shape[0], input_shape[-1])
        for cell in self._top_cells:
            if not cell.built:
                cell.build_from_shape(step)
            step = (input_shape[0], _output_size(cell))

    def call(self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None,
             initial_state: Any = None) -> Tensor | list[Tensor]:
        self._refuse_several_inputs(inputs)
        x = inputs
        batch = x.shape[0]
        cells = self._cell_list
        states = self._initial_states(kept_states(self, initial_state, x), x)
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
        keep_states(self, [s for own in states for s in own])
        output = torch.stack(outputs, dim=1) if self.return_sequences else outputs[-1]
        return [output, *[s for own in states for s in own]] if self.return_state else output

    def _refuse_several_inputs(self, inputs: Any) -> None:
        """A list of inputs (tf.keras's nested inputs per step) is refused, as Keras 3's RNN does."""
        if isinstance(inputs, (list, tuple)) and inputs and not isinstance(inputs[0], (int, type(None))):
            raise ValueError(
                f"Layer '{self.name}' (RNN): expected one input, a tensor of shape (batch, time, features), got "
                f"{len(inputs)} inputs (a nested input per time step, which Keras 3's RNN does not take either). "
                "Fix: join them on the feature axis, e.g. layers.Concatenate()([a, layers.Reshape((-1, f))(b)]) "
                "with b's features per step flattened to f, and split the step input again in the cell's call."
            )

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
        given = _flatten(initial_state)  # Keras's nested [[h, c], h2] is [h, c, h2] here
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
        mask = torch.as_tensor(mask, device=x.device)  # a NumPy or list mask too, as Keras takes it
        want = tuple(x.shape[:2])
        if tuple(mask.shape) != want:
            raise ValueError(
                f"Layer '{self.name}' (RNN) expected a mask of shape (batch, time) = {shape_str(want)} "
                f"(True = real step), got {shape_str(tuple(mask.shape))}. "
                "Fix: mask = tokens != 0 for the same batch, or let Embedding(mask_zero=True) make it."
            )
        return mask.to(device=x.device, dtype=torch.bool)

    def reset_states(self) -> None:
        """Zero the states a ``stateful`` layer keeps between calls (Keras's ``reset_state``)."""
        reset_states(self)

    reset_state = reset_states

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

        cells = [_registry.serialize(c, "layer") for c in self._top_cells]
        return {
            **super().get_config(),
            "cell": cells if self.stacked else cells[0],
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
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


def _flatten(states: Any) -> list[Any]:
    if isinstance(states, (list, tuple)):
        return [s for entry in states for s in _flatten(entry)]
    return [states]


__all__ = ["RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"]
