"""``StackedRNNCells(cells)``: several cells that behave as one cell, so
``RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)]))`` is a two-layer recurrent
network that runs both cells at each time step, as Keras 3 does.

Also the plain functions that ``RNN`` and ``StackedRNNCells`` share to read a
cell: its state sizes (flattened), its output size, the cells it is made of,
and what is wrong with an object given as a cell.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape, shape_str

Tensor = torch.Tensor


def state_sizes(cell: Any) -> list[int]:
    """The cell's state sizes as a flat list: ``8`` → ``[8]``; a stack's
    ``[[8, 8], 4]`` → ``[8, 8, 4]`` (one entry per state tensor, in order)."""
    return _flat(cell.state_size)


def _flat(entry: Any) -> list[int]:
    if isinstance(entry, (list, tuple)):
        return [s for e in entry for s in _flat(e)]
    return [int(entry)]


def output_size_of(cell: Any) -> int:
    """The size of the cell's output: its ``output_size``, else its first state's size."""
    size = getattr(cell, "output_size", None)
    return int(size) if size is not None else state_sizes(cell)[0]


def leaf_cells(cells: list[Any]) -> list[Any]:
    """The cells that compute, in order: each ``StackedRNNCells`` replaced by its own cells."""
    out: list[Any] = []
    for cell in cells:
        out.extend(leaf_cells(list(cell.cells)) if isinstance(cell, StackedRNNCells) else [cell])
    return out


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def cells_equation(cells: list[Any]) -> str:
    """What a cell, or a stack of cells, computes at each step, one line each, as
    the summary shows it: the recurrence, then every cell's own equation in order::

        h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{t-1}),  h⁽⁰⁾_t = x_t,  k = 1 … 2,  output_t = h⁽²⁾_t
        cell_1 (LSTMCell): c_t = f ⊙ c_{t-1} + i ⊙ c̃,  h_t = o ⊙ tanh(c_t)
        cell_2 (GRUCell, x_t = h⁽¹⁾_t): h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃

    A cell that states no equation is named alone."""
    leaves = leaf_cells(cells)

    def own(label: str, cell: Any, below: int = 0) -> str:
        equation = getattr(cell, "equation", "")
        reads = f", x_t = h⁽{str(below).translate(_SUPERSCRIPT)}⁾_t" if below else ""
        return f"{label} ({type(cell).__name__}{reads})" + (f": {equation}" if equation else "")

    if len(leaves) == 1:
        return "\n".join(["output_t, states_t = cell(x_t, states_{t-1})", own("cell", leaves[0])])
    top = str(len(leaves)).translate(_SUPERSCRIPT)
    head = (f"h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{{t-1}}),  h⁽⁰⁾_t = x_t,  k = 1 … {len(leaves)},  "
            f"output_t = h⁽{top}⁾_t")
    return "\n".join([head] + [own(f"cell_{k}", cell, k - 1) for k, cell in enumerate(leaves, 1)])


def cell_problem(cell: Any) -> str | None:
    """What keeps ``cell`` from being a cell (a class, not a Layer, no usable
    ``state_size``), in words, or None when it is one."""
    if isinstance(cell, type):
        return f"the class {cell.__name__}"
    if not isinstance(cell, Layer):
        return f"{type(cell).__name__}, not a brainnet Layer"
    if getattr(cell, "state_size", None) is None:
        return f"{type(cell).__name__} without a state_size"
    try:
        state_sizes(cell)
    except (TypeError, ValueError):
        return f"{type(cell).__name__} whose state_size is {cell.state_size!r}"
    if not isinstance(cell, StackedRNNCells):
        for what in ("state_size", "output_size"):
            value = getattr(cell, what, None)
            entries = value if isinstance(value, (list, tuple)) else [value]
            shape = next((e for e in entries if isinstance(e, (list, tuple))), None)
            if shape is not None or (what == "output_size" and isinstance(value, (list, tuple))):
                shape = value if shape is None else shape
                return (f"{type(cell).__name__} whose {what} {value!r} holds a shape, {shape!r}, where a size was "
                        "expected (states and outputs are vectors, as in Keras 3: a state of shape (a, b) is one of "
                        "size a·b, reshaped in call)")
    return None


class StackedRNNCells(Layer):
    """A stack of cells that behaves as one cell: at each time step cell k
    reads the output of cell k − 1 and its own states.

    Equation (K cells, one time step)::

        h⁽⁰⁾_t = x_t
        h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{t-1}),   k = 1 … K
        output_t = h⁽ᴷ⁾_t

    ``state_size`` is the list of the cells' state sizes (``[[8, 8], 4]`` for
    ``[LSTMCell(8), GRUCell(4)]``); ``output_size`` is the last cell's.
    ``RNN(StackedRNNCells(cells))`` computes what ``RNN(cells)`` computes, and
    gives and takes its states the same way: flattened, the first cell's first.

    Args:
        cells: a list of cell instances (``SimpleRNNCell``, ``LSTMCell``,
            ``GRUCell``, or a ``Layer`` of your own with ``state_size`` and
            ``call(inputs, states)`` returning ``(output, new_states)``).
        **kwargs: ``name``, ``trainable``.

    Call: ``stack(x_t, states)`` with ``x_t`` ``(batch, features)`` and
    ``states`` one entry per cell (that cell's list of states, or one tensor
    for a cell of one state), as ``get_initial_state(batch_size)`` gives them;
    returns ``(output_t, new_states)`` in the same structure.

    Input shape: ``(batch, features)``: one time step.
    Output shape: ``(batch, output_size)``.

    Raises:
        ValueError: ``cells`` not a non-empty list of cell instances, or
            ``states`` that do not match the cells.

    Example:
        >>> import torch
        >>> from brainnet.layers import RNN, GRUCell, LSTMCell
        >>> stack = StackedRNNCells([LSTMCell(8), GRUCell(4)])
        >>> stack.state_size, stack.output_size
        ([[8, 8], 4], 4)
        >>> RNN(stack)(torch.ones(2, 10, 3)).shape
        torch.Size([2, 4])
    """

    equation = "h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{t-1}),  h⁽⁰⁾_t = x_t"
    input_rank = 2
    rank_hint = "(batch, features): one time step"
    rank_fix = ("give one time step x[:, t] of shape (batch, features) (RNN(StackedRNNCells(cells)) runs the "
                "stack over (batch, time, features))")
    fixed_axes = (-1,)

    def __init__(self, cells: list[Any], **kwargs: Any) -> None:
        if not isinstance(cells, (list, tuple)):
            problem = f"{type(cells).__name__} (one object, not a list)"
        elif not cells:
            problem = "an empty list"
        else:
            problem = next((p for p in map(cell_problem, cells) if p is not None), None)
        if problem is not None:
            raise ValueError(
                "StackedRNNCells: expected cells to be a non-empty list of cell instances (brainnet Layers with "
                f"state_size and call(inputs, states) returning (output, new_states)), got {problem}. "
                "Fix: StackedRNNCells([LSTMCell(32), GRUCell(16)])."
            )
        super().__init__(**kwargs)
        self.cells = torch.nn.ModuleList(cells)

    @property
    def equation_text(self) -> str:
        """The stack's recurrence, then each cell's own equation (what the summary shows)."""
        return cells_equation(list(self.cells))

    @property
    def state_size(self) -> list[Any]:
        return [cell.state_size for cell in self.cells]

    @property
    def output_size(self) -> int:
        return output_size_of(self.cells[-1])

    def build(self, input_shape: Shape) -> None:
        step = (input_shape[0], input_shape[-1])
        for cell in self.cells:
            if not cell.built:
                cell.build_from_shape(step)
            step = (input_shape[0], output_size_of(cell))

    def get_initial_state(self, batch_size: int) -> list[Any]:
        """One entry per cell: the cell's own ``get_initial_state``, else zeros
        (one tensor for a cell whose ``state_size`` is an int, a list otherwise)."""
        like = next(self.parameters(), torch.zeros(()))
        states: list[Any] = []
        for cell in self.cells:
            if hasattr(cell, "get_initial_state"):
                states.append(cell.get_initial_state(batch_size=batch_size))
            elif isinstance(cell.state_size, int):
                states.append(like.new_zeros(batch_size, cell.state_size))
            else:
                states.append([like.new_zeros(batch_size, size) for size in state_sizes(cell)])
        return states

    def forward(self, inputs: Any, states: Any = None, training: bool | None = None, **kwargs: Any) -> Any:
        """``stack(x_t, states)``, states second as for the built-in cells."""
        return super().forward(inputs, training=training, states=states, **kwargs)

    def call(self, inputs: Tensor, states: Any = None, training: bool | None = None) -> tuple[Tensor, list[Any]]:
        per_cell = self._check_states(states, inputs)
        h, new_states = inputs, []
        for cell, own in zip(self.cells, per_cell):
            bare = isinstance(own, Tensor)
            h, own_new = cell(h, states=[own] if bare else list(own), training=training)
            own_new = list(own_new) if isinstance(own_new, (list, tuple)) else [own_new]
            new_states.append(own_new[0] if bare and len(own_new) == 1 else own_new)
        return h, new_states

    def _check_states(self, states: Any, x: Tensor) -> list[Any]:
        batch = x.shape[0]
        want = [[(batch, s) for s in state_sizes(cell)] for cell in self.cells]
        given = list(states) if isinstance(states, (list, tuple)) else []

        def shapes(entry: Any) -> list[tuple[int, ...]] | None:
            entry = [entry] if isinstance(entry, Tensor) else entry
            if not isinstance(entry, (list, tuple)) or not all(isinstance(s, Tensor) for s in entry):
                return None
            return [tuple(s.shape) for s in entry]

        got = [shapes(entry) for entry in given]
        if len(given) != len(want) or got != want:
            def show(entry: list[tuple[int, ...]] | None) -> str:
                return "?" if entry is None else "[" + ", ".join(shape_str(s) for s in entry) + "]"

            raise ValueError(
                f"Layer '{self.name}' (StackedRNNCells) expected states: one entry per cell ({len(want)}), each "
                f"that cell's states, of shapes [{', '.join(show(w) for w in want)}], got "
                f"{'nothing' if states is None else '[' + ', '.join(show(g) for g in got) + ']'}. "
                f"Fix: {self.name}(x_t, states) with states = {self.name}.get_initial_state(batch_size) at the "
                "first step, then the states the previous step returned."
            )
        return given

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], self.output_size)

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        return {**super().get_config(), "cells": [_registry.serialize(c, "layer") for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "StackedRNNCells":
        from .. import _registry

        config = dict(config)
        cells = [_registry.deserialize(c, "layer", Layer) for c in config.pop("cells")]
        return cls(cells, **config)


__all__ = ["StackedRNNCells", "state_sizes", "output_size_of", "leaf_cells", "cell_problem"]
