"""What SimpleRNN, LSTM and GRU (``recurrent.py``) share: ``RecurrentBase``,
their common layer code, and the helpers that make their weights. The steps
and the two ways to run them over time (``time_loop``, the reference loop;
``run_fused``, PyTorch's fused kernels) are in ``_rnn_steps.py`` and are
re-exported here.

Weights are in Keras's layout: ``kernel`` ``(features, gates·units)``,
``recurrent_kernel`` ``(units, gates·units)``, gates side by side in Keras's
order (LSTM: i, f, c, o; GRU: z, r, h).

A mask (``(batch, time)`` booleans, True = real step) follows Keras: at a
masked step the states are carried over unchanged and the output repeats the
previous output (zeros before the first real step).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .. import activations, regularizers
# RecurrentBase calls run_fused and time_loop through this module's names, so
# that tests can spy on them here (tests/layers/test_recurrent.py::spy_paths).
from ._rnn_steps import (dropout_mask, gru_step, lstm_gates, lstm_step, run_fused, simple_rnn_step, time_loop,
                         transposed)
from ._rnn_state import check_stateful, keep_states, kept_states, reset_states
from .base import Layer, Shape, capturing, shape_str
from .core import check_positive_int, take_weight_arguments, weight_arguments_config

Tensor = torch.Tensor

__all__ = ["RecurrentBase", "RECURRENT_WEIGHTS", "build_weights", "lstm_bias", "gru_bias", "dropout_mask",
           "simple_rnn_step", "lstm_step", "lstm_gates", "gru_step", "time_loop", "run_fused", "transposed"]


# ------------------------------------------------------------ the base layer
RECURRENT_WEIGHTS = ("kernel", "recurrent", "bias")  # kernel_, recurrent_ and bias_ initializer/regularizer/constraint


def build_weights(layer: Any, features: int, torch_memory: bool = False) -> None:
    """A recurrent layer's or cell's weights, in Keras's shapes: ``kernel``
    ``(features, gates·units)``, ``recurrent_kernel`` ``(units, gates·units)``
    and ``bias`` (``layer._initial_bias()``), from its initializers.

    With ``torch_memory`` (the layers that may call PyTorch's fused kernel)
    the two matrices keep Keras's shapes but lie in memory as their
    transposes, torch's ``(gates·units, in)`` row by row (strides
    ``(1, in)``): ``kernel.t()`` is then the contiguous matrix the fused
    kernel takes, and autograd hands back gradients in the same layout. In
    Keras's row order oneDNN's LSTM copied each matrix into its own order at
    every call and autograd copied each gradient back (see
    ``_rnn_steps.transposed`` for what it cost)."""
    width = layer.gates * layer.units

    def matrix(arg: str, rows: int) -> torch.Tensor:
        value = layer.initial_value(arg, (rows, width))
        return value.t().contiguous().t() if torch_memory else value

    layer.kernel = layer.add_weight("kernel", matrix("kernel", features))
    layer.recurrent_kernel = layer.add_weight("recurrent_kernel", matrix("recurrent", layer.units))
    layer.bias = layer.add_weight("bias", layer._initial_bias()) if layer.use_bias else None


def lstm_bias(layer: Any, units: int) -> Tensor:
    """An LSTM's (or ConvLSTM2D's) first bias: ``bias_initializer`` on ``4·units``, or, with
    ``unit_forget_bias`` (Keras's default), on ``b_i`` and on ``[b_c, b_o]``
    with ``b_f = 1``."""
    if not layer.unit_forget_bias:
        return layer.initial_value("bias", (4 * units,))
    return torch.cat([layer.initial_value("bias", (units,)), torch.ones(units),
                      layer.initial_value("bias", (2 * units,))])


def gru_bias(layer: Any) -> Tensor:
    """A GRU's first bias: ``(2, 3·units)`` with ``reset_after`` (input and recurrent biases), else ``(3·units,)``."""
    return layer.initial_value("bias", (2, 3 * layer.units) if layer.reset_after else (3 * layer.units,))


def _check_rate(layer: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{layer}: expected {arg} in [0, 1), got {value!r}. Fix: {layer}(32, {arg}=0.2).")
    return float(value)


class RecurrentBase(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, states, masks, the
    choice between the fused kernel and the step loop, shapes and config.

    A subclass sets ``gates`` and ``state_names``, and implements
    ``_input_bias`` (the bias added to ``x W``), ``_step`` (the step function
    for the loop) and ``_fused_weights`` (torch-layout weights, or None when
    the configuration has no fused kernel).
    """

    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")
    fixed_axes = (-1,)
    supports_masking = True
    gates = 1
    state_names = ("h0",)
    fused_needs = ""

    def __init__(
        self,
        units: int,
        activation: str | Callable | None,
        use_bias: bool,
        dropout: float,
        recurrent_dropout: float,
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        use_cudnn: str | bool,
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
        stateful: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.stateful = check_stateful(cls, stateful)
        self.states: list[torch.Tensor] | None = None  # a stateful layer's last final states (_rnn_state.py)
        self.units = check_positive_int(cls, "units", units)
        self.state_activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.dropout = _check_rate(cls, "dropout", dropout)
        self.recurrent_dropout = _check_rate(cls, "recurrent_dropout", recurrent_dropout)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        if not (use_cudnn is True or use_cudnn is False or use_cudnn == "auto"):
            raise ValueError(
                f"{cls}: expected use_cudnn to be 'auto', True or False, got {use_cudnn!r}. "
                f"Fix: {cls}(32, use_cudnn='auto')."
            )
        self.use_cudnn = use_cudnn
        take_weight_arguments(self, locals(), RECURRENT_WEIGHTS)
        self.activity_regularizer = regularizers.get(activity_regularizer, argument="activity_regularizer")

    # ----------------------------------------------------------- weights
    def build(self, input_shape: Shape) -> None:
        build_weights(self, input_shape[-1], torch_memory=True)

    def _initial_bias(self) -> torch.Tensor:
        return self.initial_value("bias", (self.gates * self.units,))

    def _input_bias(self) -> torch.Tensor | None:
        return self.bias

    def _step(self, rec_mask: torch.Tensor | None) -> Callable:
        raise NotImplementedError

    def _fused_weights(self) -> tuple[str, list[torch.Tensor]] | None:
        raise NotImplementedError

    # ------------------------------------------------------------- call
    def call(
        self,
        inputs: torch.Tensor,
        training: bool | None = None,
        mask: torch.Tensor | None = None,
        initial_state: Any = None,
    ) -> torch.Tensor | list[torch.Tensor]:
        x = inputs  # (B, T, F)
        states = self._initial_states(kept_states(self, initial_state, x), x)
        mask = self._check_mask(mask, x)
        if self.go_backwards:
            x = x.flip(1)
            mask = None if mask is None else mask.flip(1)
        if training and self.dropout > 0:
            x = x * dropout_mask(x[:, 0], self.dropout)[:, None, :]
        rec_mask = None
        if training and self.recurrent_dropout > 0:
            rec_mask = dropout_mask(states[0], self.recurrent_dropout)
        fast = self._fused_weights() if rec_mask is None else None
        if self.use_cudnn is True and fast is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): use_cudnn=True needs the fused "
                f"kernel's configuration ({self.fused_needs}), got {self._config_summary()}. "
                "Fix: use_cudnn='auto' (the step loop runs this configuration)."
            )
        if fast is not None and mask is not None and capturing(x):
            fast = None  # the fused kernel packs masked sequences by their lengths, read on the host
        if fast is not None and self.use_cudnn is not False:
            mode, weights = fast
            outputs, states = run_fused(mode, x, states, weights, self.use_bias, mask)
        else:
            xw = x @ self.kernel  # (B, T, gates·units)
            bias = self._input_bias()
            if bias is not None:
                xw = xw + bias
            outputs, states = time_loop(self._step(rec_mask), xw, states, mask)
        keep_states(self, states)
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output, *states] if self.return_state else output

    def reset_states(self) -> None:
        """Zero the states a ``stateful`` layer keeps between calls (Keras's ``reset_state``)."""
        reset_states(self)

    reset_state = reset_states

    def empty_axis_message(self, shape: Shape, axis: int) -> str:
        if axis != 1:
            return super().empty_axis_message(shape, axis)
        return (
            f"Layer '{self.name}' ({type(self).__name__}): expected at least one time step, got "
            f"inputs of shape {shape_str(shape)}. Fix: give sequences of length 1 or more "
            "(pad the short ones and mask the padding)."
        )

    def _config_summary(self) -> str:
        cfg = self.get_config()
        keys = ("activation", "recurrent_activation", "reset_after")
        parts = [f"{k}={cfg[k]!r}" for k in keys if k in cfg]
        return ", ".join(parts + [f"recurrent_dropout={self.recurrent_dropout} while training"])

    def _initial_states(self, initial_state: Any, x: torch.Tensor) -> list[torch.Tensor]:
        batch = x.shape[0]
        if initial_state is None:
            return [x.new_zeros(batch, self.units) for _ in self.state_names]
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        states = [torch.as_tensor(s, dtype=x.dtype, device=x.device) for s in given]
        want = (batch, self.units)
        if len(states) != len(self.state_names) or any(tuple(s.shape) != want for s in states):
            names = ", ".join(self.state_names)
            got = ", ".join(shape_str(s.shape) for s in states)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected initial_state [{names}], "
                f"{len(self.state_names)} tensor(s) of shape (batch, units) = {shape_str(want)}, "
                f"got {len(states)} of shape(s) [{got}]. "
                f"Fix: {self.name}(x, initial_state=[{names}]) with each of shape {shape_str(want)}."
            )
        return states

    def _check_mask(self, mask: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
        if mask is None:
            return None
        mask = torch.as_tensor(mask, device=x.device)  # a NumPy or list mask too, as Keras takes it
        want = tuple(x.shape[:2])
        if tuple(mask.shape) != want:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected a mask of shape "
                f"(batch, time) = {shape_str(want)} (True = real step), got {shape_str(mask.shape)}. "
                "Fix: mask = tokens != 0 for the same batch, or let Embedding(mask_zero=True) make it."
            )
        mask = mask.to(device=x.device, dtype=torch.bool)
        if capturing(mask):  # no value can be read back into a CUDA graph: keep the mask
            return mask
        return None if bool(mask.all()) else mask

    # ----------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape: Shape) -> Shape | list[Shape]:
        batch, steps = input_shape[0], input_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [output] + [(batch, self.units) for _ in self.state_names]
        return output

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_names]
        return output_mask

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.state_activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "use_cudnn": self.use_cudnn,
            **weight_arguments_config(self, RECURRENT_WEIGHTS),
            **regularizers.config_of(self, "activity"),
        }
