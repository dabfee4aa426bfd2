"""The recurrent layers' steps and the two ways to run them over time
(shared by ``_rnn_cells.RecurrentBase``, the cells and ConvLSTM).

* ``time_loop``: the reference path, one Python step per time step, each
  step (``simple_rnn_step``, ``lstm_step``, ``gru_step``) written as the
  layer's equation. It handles every configuration.
* ``run_fused``: PyTorch's fused kernels (``torch.rnn_tanh``, ``torch.lstm``,
  ``torch.gru``: oneDNN on CPU, cuDNN on GPU), given views of the Keras-layout
  weights in the layout torch expects (``transposed``; each layer's set from
  ``fused_simple_rnn_weights``, ``fused_lstm_weights``, ``fused_gru_weights``).
  Used when the configuration allows it.

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

from .. import activations
from ._dropout import keep_mask
from .base import autocast_enabled

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


def transposed(weights: list[torch.Tensor | None]) -> list[torch.Tensor]:
    """Keras ``(in, gates·units)`` matrices as torch's ``(gates·units, in)`` views;
    biases as they are (None dropped).

    The recurrent layers keep Keras's shapes (``set_weights`` and saved
    files take Keras's arrays) but store these matrices in torch's memory
    order (``_rnn_cells.build_weights``), so the views are contiguous.
    With Keras's row order the fused kernel copied each matrix into its own
    order at every call and autograd copied each gradient back: a training
    step of the benchmark's 3 × LSTM(64) stack ran 1.11–1.12 × faster in
    torch's order at batch 2 on a 2-core Xeon, 1.00–1.09 × at batch 128
    (``benchmarks/rnn_weight_layout.py``;
    BENCHMARKS.md, "Recurrent matrices in torch's memory order").
    """
    return [w.t() if w.dim() == 2 else w for w in weights if w is not None]


# ------------------------------------------- each layer's weights for its kernel
# A layer's ``_fused_weights``: its kernel's name and its weights in torch's
# layout, or None when its configuration has no fused kernel (the step loop runs).
def fused_simple_rnn_weights(layer: Any) -> tuple[str, list[Tensor]] | None:
    """SimpleRNN: ``rnn_tanh`` or ``rnn_relu``; torch's second bias ``b_hh`` zeros."""
    mode = {activations.tanh: "rnn_tanh", activations.relu: "rnn_relu"}.get(layer.state_activation)
    if mode is None:
        return None
    zeros = None if layer.bias is None else torch.zeros_like(layer.bias)  # torch's b_hh
    return mode, transposed([layer.kernel, layer.recurrent_kernel, layer.bias, zeros])


def _tanh_and_sigmoid(layer: Any) -> bool:
    """Whether a gated layer has the activations PyTorch's fused kernels compute."""
    return layer.state_activation is activations.tanh and layer.recurrent_activation is activations.sigmoid


def fused_lstm_weights(layer: Any) -> tuple[str, list[Tensor]] | None:
    """LSTM with tanh and sigmoid: ``lstm`` (the gates i, f, c, o are torch's order too)."""
    if not _tanh_and_sigmoid(layer):
        return None
    zeros = None if layer.bias is None else torch.zeros_like(layer.bias)  # torch's b_hh
    return "lstm", transposed([layer.kernel, layer.recurrent_kernel, layer.bias, zeros])


def _zr_to_rz(w: Tensor) -> Tensor:
    """Keras's GRU gate order (z, r, h) → torch's (r, z, n), on the last axis;
    a matrix also transposed to torch's ``(3·units, in)``, made by joining
    the transposed blocks (contiguous, whichever memory order ``w`` has)."""
    z, r, h = w.chunk(3, dim=-1)
    if w.dim() == 2:
        return torch.cat([r.t(), z.t(), h.t()], dim=0)
    return torch.cat([r, z, h], dim=-1)


def fused_gru_weights(layer: Any) -> tuple[str, list[Tensor]] | None:
    """GRU with reset_after=True, tanh and sigmoid: ``gru``, the gates reordered."""
    if not (layer.reset_after and _tanh_and_sigmoid(layer)):
        return None
    biases = [] if layer.bias is None else [_zr_to_rz(layer.bias[0]), _zr_to_rz(layer.bias[1])]
    return "gru", [_zr_to_rz(layer.kernel), _zr_to_rz(layer.recurrent_kernel), *biases]
