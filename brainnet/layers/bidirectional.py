"""Bidirectional: a recurrent layer run over the sequence in both directions,
its two outputs merged, so each step sees its past and its future.

The wrapper of the recurrent family (``recurrent.py``: SimpleRNN, LSTM, GRU;
``rnn.py``: RNN(cell)). It owns no step of its own: the backward direction
is a copy of the wrapped layer, made through ``get_config``/``from_config``
with ``go_backwards`` flipped; this file holds that copy, the call of both
directions, the merge, and the shapes, masks and config of the pair.
``brainnet.layers.recurrent`` re-exports it, as before.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from ._rnn_cells import RecurrentBase
from .base import Layer, Shape

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


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
        >>> from brainnet.layers import LSTM
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
                real = torch.as_tensor(mask, device=y.device).to(torch.bool)[..., None]  # (B, T, 1); NumPy too
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

    def reset_states(self) -> None:
        """Zero the kept states of both directions (layers made with ``stateful=True``)."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

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
