"""What SimpleRNN, LSTM and GRU (``recurrent.py``) share: the steps, the two
ways to run them over time, and ``RecurrentBase``, their common layer code.

* ``time_loop``: the reference path, one Python step per time step, each
  step (``simple_rnn_step``, ``lstm_step``, ``gru_step``) written as the
  layer's equation. It handles every configuration.
* ``run_fused``: PyTorch's fused kernels (``torch.rnn_tanh``, ``torch.lstm``,
  ``torch.gru``: oneDNN on CPU, cuDNN on GPU), given views of the Keras-layout
  weights in the layout torch expects. Used when the configuration allows it.

Weights are in Keras's layout: ``kernel`` ``(features, gates·units)``,
``recurrent_kernel`` ``(units, gates·units)``, gates side by side in Keras's
order (LSTM: i, f, c, o; GRU: z, r, h). Inputs are in processing order
(already reversed for ``go_backwards``) and already input-dropped.

A mask (``(batch, time)`` booleans, True = real step) follows Keras: at a
masked step the states are carried over unchanged and the output repeats the
previous output (zeros before the first real step).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .. import activations, regularizers
from ._dropout import keep_mask
from .base import Layer, Shape, autocast_enabled, capturing, shape_str
from .core import check_positive_int, take_weight_arguments, weight_arguments_config

Tensor = torch.Tensor
Activation = Callable[[Tensor], Tensor]


def dropout_mask(like: Tensor, rate: float) -> Tensor:
    """One dropout mask per sequence: entries 0 or 1/(1 − rate), shaped like
    one step (``(batch, n)``) and reused at every time step."""
    return keep_mask(tuple(like.shape), rate, like.dtype, like.device)


def _dropped(h: Tensor, mask: Tensor | None) -> Tensor:
    return h if mask is None else h * mask


# ------------------------------------------------------------------ the steps
# Each step takes xw_t = x_t W + b (the input projection of one step, computed
# for all steps at once) and the states at t − 1; it returns (output, states).
def simple_rnn_step(
    xw_t: Tensor, states: list[Tensor], recurrent_kernel: Tensor, activation: Activation,
    rec_mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """h_t = f(x_t W_xh + h_{t-1} W_hh + b_h)."""
    (h,) = states
    h = activation(xw_t + _dropped(h, rec_mask) @ recurrent_kernel)
    return h, [h]


def lstm_step(
    xw_t: Tensor, states: list[Tensor], recurrent_kernel: Tensor, activation: Activation,
    recurrent_activation: Activation, rec_mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """Gates i, f, c̃, o from x_t W + h_{t-1} U + b; c_t = f ⊙ c_{t-1} + i ⊙ c̃;
    h_t = o ⊙ tanh(c_t)."""
    h, c = states
    z = xw_t + _dropped(h, rec_mask) @ recurrent_kernel  # (B, 4·units)
    return lstm_gates(z, c, activation, recurrent_activation)


def lstm_gates(
    z: Tensor, c: Tensor, activation: Activation, recurrent_activation: Activation,
) -> tuple[Tensor, list[Tensor]]:
    """From the pre-activations z = [z_i, z_f, z_c, z_o] (last axis) and c_{t-1}:
    i, f, o = σ(z_i), σ(z_f), σ(z_o); c_t = f ⊙ c_{t-1} + i ⊙ tanh(z_c); h_t = o ⊙ tanh(c_t)
    (LSTM and ConvLSTM2D)."""
    z_i, z_f, z_c, z_o = z.chunk(4, dim=-1)
    i, f, o = recurrent_activation(z_i), recurrent_activation(z_f), recurrent_activation(z_o)
    c = f * c + i * activation(z_c)
    h = o * activation(c)
    return h, [h, c]


def gru_step(
    xw_t: Tensor, states: list[Tensor], recurrent_kernel: Tensor, recurrent_bias: Tensor | None,
    activation: Activation, recurrent_activation: Activation, reset_after: bool,
    rec_mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """z, r from x_t W + h_{t-1} U + b; h̃ with the reset gate applied after
    (reset_after) or before the recurrent product; h_t = z ⊙ h_{t-1} + (1 − z) ⊙ h̃."""
    (h,) = states
    h_in = _dropped(h, rec_mask)
    x_z, x_r, x_h = xw_t.chunk(3, dim=-1)
    units = h.shape[-1]
    if reset_after:
        hu = h_in @ recurrent_kernel  # (B, 3·units)
        if recurrent_bias is not None:
            hu = hu + recurrent_bias
        h_z, h_r, h_h = hu.chunk(3, dim=-1)
        z, r = recurrent_activation(x_z + h_z), recurrent_activation(x_r + h_r)
        candidate = activation(x_h + r * h_h)
    else:
        h_z, h_r = (h_in @ recurrent_kernel[:, : 2 * units]).chunk(2, dim=-1)
        z, r = recurrent_activation(x_z + h_z), recurrent_activation(x_r + h_r)
        candidate = activation(x_h + (r * h_in) @ recurrent_kernel[:, 2 * units :])
    h = z * h + (1 - z) * candidate
    return h, [h]


# ------------------------------------------------------------- reference loop
def time_loop(
    step: Callable[[Tensor, list[Tensor]], tuple[Tensor, list[Tensor]]],
    xw: Tensor, states: list[Tensor], mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """Run ``step`` over ``xw`` (``(B, T, gates·units)``, or ``(B, T, H, W, gates·filters)``
    for ConvLSTM2D) from ``states``.

    Returns the outputs ``(B, T, units)`` in processing order and the final states.
    """
    outputs = []
    previous = torch.zeros_like(states[0])  # the output "before" the first step
    for t in range(xw.shape[1]):
        output, new_states = step(xw[:, t], states)
        if mask is not None:  # masked step: carry states, repeat the output
            real = mask[:, t].reshape(-1, *[1] * (output.dim() - 1))  # (B, 1) or (B, 1, 1, 1)
            output = torch.where(real, output, previous)
            new_states = [torch.where(real, new, old) for new, old in zip(new_states, states)]
        outputs.append(output)
        states, previous = new_states, output
    return torch.stack(outputs, dim=1), states


# --------------------------------------------------------------- fused kernels
_KERNELS = {"rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu, "lstm": torch.lstm, "gru": torch.gru}


def run_fused(
    mode: str, x: Tensor, states: list[Tensor], weights: Sequence[Tensor], has_biases: bool,
    mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """``_run_fused`` in float32 with autocast off when a mixed-precision policy is on.

    Under autocast PyTorch sends its fused RNN kernels into 16 bits in ways
    brainnet cannot use: on CUDA the cuDNN RNN runs in float16 even when the
    policy asks for bfloat16 (float16 without loss scaling, which brainnet
    does not do), and on CPUs without AVX-512 BF16 oneDNN has no bfloat16
    LSTM at all (it fails to create the kernel). So the recurrence runs in
    float32; the layers before and after it keep the policy's dtype.
    """
    device = x.device.type
    if autocast_enabled(device):
        with torch.autocast(device_type=device, enabled=False):
            out, final = _run_fused(mode, x.float(), [s.float() for s in states], [w.float() for w in weights],
                                    has_biases, mask)
        return out, final
    return _run_fused(mode, x, states, weights, has_biases, mask)


def _run_fused(
    mode: str, x: Tensor, states: list[Tensor], weights: Sequence[Tensor], has_biases: bool,
    mask: Tensor | None,
) -> tuple[Tensor, list[Tensor]]:
    """The same computation as ``time_loop`` on PyTorch's fused kernel.

    Args:
        mode: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"``.
        x: inputs ``(B, T, F)``, in processing order.
        states: initial states, each ``(B, units)``.
        weights: torch layout ``[w_ih (g·units, F), w_hh (g·units, units)]``
            plus ``[b_ih, b_hh]`` when ``has_biases``, gates in torch's order.
        mask: ``(B, T)`` booleans or None.

    A mask is handled exactly: since masked steps only carry the state, the
    real steps of each sequence are moved to its front (a stable sort), run as
    a packed batch of shorter sequences, and each output is then read back at
    the last real step at or before it.
    """
    kernel = _KERNELS[mode]
    if x.is_cuda:  # cuDNN wants the weights in one chunk (else it copies and warns)
        weights = _one_chunk(weights)
    hx = [s.unsqueeze(0) for s in states]  # (1, B, units): one layer, one direction
    hx_arg = hx if mode == "lstm" else hx[0]
    train = torch.is_grad_enabled()  # cuDNN's backward needs the training workspace
    if mask is None:
        out, *final = kernel(x, hx_arg, weights, has_biases, 1, 0.0, train, False, True)
        return out, [s.squeeze(0) for s in final]

    batch, steps, units = x.shape[0], x.shape[1], states[0].shape[-1]
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # real steps first
    x_real = x.gather(1, order[..., None].expand_as(x))  # (B, T, F)
    lengths = mask.sum(dim=1)
    packed = pack_padded_sequence(  # an empty sequence runs one step, undone below
        x_real, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
    )
    sort, unsort = packed.sorted_indices, packed.unsorted_indices
    hx_sorted = [h[:, sort] for h in hx]
    out_data, *final = kernel(
        packed.data, packed.batch_sizes, hx_sorted if mode == "lstm" else hx_sorted[0],
        weights, has_biases, 1, 0.0, train, False,
    )
    out_real, _ = pad_packed_sequence(
        PackedSequence(out_data, packed.batch_sizes, sort, unsort), batch_first=True, total_length=steps
    )  # (B, T, units): output after the k-th real step at position k
    seen = mask.cumsum(dim=1) - 1  # (B, T): index of the last real step so far, −1 if none
    out = out_real.gather(1, seen.clamp(min=0)[..., None].expand(batch, steps, units))
    out = torch.where((seen >= 0)[..., None], out, torch.zeros_like(out))
    has_real = (lengths > 0)[:, None]  # a sequence with no real step keeps its initial states
    final = [torch.where(has_real, f.squeeze(0)[unsort], s) for f, s in zip(final, states)]
    return out, final


def _one_chunk(weights: Sequence[Tensor]) -> list[Tensor]:
    """The weights as views into one contiguous buffer, in cuDNN's order."""
    flat = torch.cat([w.reshape(-1) for w in weights])
    views, start = [], 0
    for w in weights:
        views.append(flat[start : start + w.numel()].view(w.shape))
        start += w.numel()
    return views


# ------------------------------------------------------------ the base layer
RECURRENT_WEIGHTS = ("kernel", "recurrent", "bias")  # kernel_, recurrent_ and bias_ initializer/regularizer/constraint


def build_weights(layer: Any, features: int) -> None:
    """A recurrent layer's or cell's weights, in Keras's layout: ``kernel``
    ``(features, gates·units)``, ``recurrent_kernel`` ``(units, gates·units)``
    and ``bias`` (``layer._initial_bias()``), from its initializers."""
    width = layer.gates * layer.units
    layer.kernel = layer.add_weight("kernel", layer.initial_value("kernel", (features, width)))
    layer.recurrent_kernel = layer.add_weight("recurrent_kernel", layer.initial_value("recurrent", (layer.units, width)))
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
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
        build_weights(self, input_shape[-1])

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
        states = self._initial_states(initial_state, x)
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
        output = outputs if self.return_sequences else outputs[:, -1]
        return [output, *states] if self.return_state else output

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
            "use_cudnn": self.use_cudnn,
            **weight_arguments_config(self, RECURRENT_WEIGHTS),
            **regularizers.config_of(self, "activity"),
        }


def transposed(weights: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Keras ``(in, gates·units)`` matrices as torch's ``(gates·units, in)`` views;
    biases as they are (None dropped).

    Why views rather than parameters stored in torch's layout: measured on
    CPU (torch 2.13, oneDNN, 1 thread; two stacked LSTM(64) on (64, 28, 28)
    batches, forward + backward), views 20.7 ms per step, torch-layout
    parameters 21.0 ms, contiguous copies 21.5 ms: no difference beyond noise,
    so the weights keep Keras's shapes (and ``set_weights`` takes Keras's
    arrays). The Python step loop took 33.9 ms.
    """
    return [w.t() if w.dim() == 2 else w for w in weights if w is not None]
