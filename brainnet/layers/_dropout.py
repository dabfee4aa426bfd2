"""Dropout masks, drawn fast on the CPU.

Every dropout in brainnet (``Dropout``, ``SpatialDropout1D/2D/3D``, the
recurrent layers' ``dropout``/``recurrent_dropout``, the attention layers'
``dropout`` and the Transformer blocks') multiplies by a mask::

    y = x · m,   m_i = 1/(1 − rate) with probability 1 − rate, else 0

PyTorch draws such a mask with ``bernoulli_``, which on the CPU costs about
9 ns per element (one Mersenne-Twister draw and a float comparison each):
29.5 % of the operator time of the seed Transformer's training step
(``python benchmarks/profile_fit.py transformer`` before this module). Here the CPU mask is cut
from 64-bit words of the same generator (``torch.manual_seed`` and
``brainnet.utils.set_random_seed`` still make it reproducible), four 16-bit
uniforms ``u`` per word, an entry kept when ``u`` falls in the lowest
``K = round((1 − rate)·2¹⁶)`` of the 2¹⁶ levels: about 1 ns per element for
the draw. The keep probability is therefore
``K / 65536``, within 2⁻¹⁷ ≈ 7.6·10⁻⁶ of ``1 − rate``; kept entries are
still scaled by exactly ``1/(1 − rate)`` (as Keras and PyTorch do). Rates
closer than that to 0 or 1, tensors on other devices (where ``bernoulli_``
is fast) and code traced by ``torch.compile`` use PyTorch's draw.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

_LEVELS = 1 << 16  # 16-bit uniforms
_FLOATS = (torch.float32, torch.float64, torch.bfloat16, torch.float16)


def refuse_integers(layer: Any, inputs: torch.Tensor) -> None:
    """In training, a dropout or noise layer makes fractions: refuse integer/bool inputs with the fix."""
    if not inputs.is_floating_point():
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected floating-point inputs, got "
            f"{inputs.dtype}. Fix: x = x.astype('float32'), or put the layer after one that makes floats."
        )


def _keep_levels(rate: float) -> int:
    """K: the number of the 2¹⁶ levels of u that keep an entry."""
    return round((1.0 - rate) * _LEVELS)


def fast_mask(device: torch.device, dtype: torch.dtype, rate: float) -> bool:
    """Whether a mask for this device, dtype and rate is cut from 16-bit uniforms
    (not inside ``torch.compile``, whose generated code draws its own)."""
    return (device.type == "cpu" and dtype in _FLOATS and 0 < _keep_levels(rate) < _LEVELS
            and not torch.compiler.is_compiling())


def uniform16(shape: tuple[int, ...]) -> torch.Tensor:
    """int16 uniforms on [−32768, 32767], all 16 bits random, from torch's CPU generator."""
    n = math.prod(shape)
    # random_(-2**63, None) fills all 64 bits; plain random_() leaves the sign bit 0.
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2 ** 63), None)
    return words.view(torch.int16)[:n].view(shape)


def keep_mask(shape: tuple[int, ...], rate: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A dropout mask of ``shape``: entries 1/(1 − rate) (kept) or 0 (dropped).

    ``rate`` is in (0, 1). On the CPU the keep probability is
    ``round((1 − rate)·2¹⁶)/2¹⁶`` (see the module docstring); elsewhere it is
    ``1 − rate`` as ``bernoulli_`` draws it.
    """
    shape = tuple(int(s) for s in shape)
    if fast_mask(torch.device(device), dtype, rate):
        return _cut_mask(shape, rate, dtype)
    return torch.empty(shape, dtype=dtype, device=device).bernoulli_(1.0 - rate).div_(1.0 - rate)


def _cut_mask(shape: tuple[int, ...], rate: float, dtype: torch.dtype) -> torch.Tensor:
    """The CPU mask from 16-bit uniforms (the caller has checked ``fast_mask``)."""
    # Keep the lowest K of the 2¹⁶ levels: u < H with H = K − 2¹⁵. Arithmetic, not a comparison
    # (PyTorch's bool tensors convert slowly): d = (H − ½) − u is a half-integer, ≥ ½ where kept
    # and ≤ −½ where dropped, all exact in float32; clamped to [0, ½] and doubled it is 1 or 0.
    high = _keep_levels(rate) - _LEVELS // 2
    work = torch.float64 if dtype == torch.float64 else torch.float32  # u is not exact in 16-bit floats
    mask = torch.rsub(uniform16(shape).to(work), high - 0.5).clamp_(0.0, 0.5).mul_(2.0 / (1.0 - rate))
    return mask if dtype == work else mask.to(dtype)


def dropout(x: torch.Tensor, rate: float) -> torch.Tensor:
    """Training-mode dropout ``y = x·m`` (``rate`` in [0, 1)); the gradient is ``g·m``."""
    if rate == 0.0:
        return x
    if fast_mask(x.device, x.dtype, rate):
        return x * _cut_mask(tuple(x.shape), rate, x.dtype)
    return F.dropout(x, rate, training=True)
