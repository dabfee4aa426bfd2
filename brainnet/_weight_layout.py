"""Gradients and optimizer state in their weight's memory layout, which
PyTorch's fused update needs: it walks a weight and its gradient (and its
state) in memory order together, so a channels-last kernel's contiguous
gradient or reloaded moment would be read in the wrong order."""

from __future__ import annotations

from typing import Any

import torch


def same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape and the same strides on every axis longer than 1 (the
    stride of a length-1 axis never moves through memory)."""
    return a.shape == b.shape and all(
        n == 1 or sa == sb for n, sa, sb in zip(a.shape, a.stride(), b.stride()))


def in_layout_of(weight: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` (the weight's shape, its own dtype and device) laid out
    in memory as ``weight`` is."""
    return torch.empty_strided(weight.shape, weight.stride(), dtype=t.dtype, device=t.device).copy_(t)


def gradients_in_weight_layout(param_groups: list[dict[str, Any]]) -> None:
    """Copy every gradient whose memory layout differs from its weight's into
    the weight's layout.

    PyTorch's fused update walks a weight and its gradient in memory order
    together, so a gradient with other strides than its weight (a contiguous
    gradient set by hand on a channels-last ``Conv2D`` kernel) would be added
    to the wrong entries: measured with torch 2.13's fused CPU SGD and Adam,
    tested in ``tests/test_optimizers.py``. Autograd's own gradients already
    take their weight's layout, so in training this only compares strides.
    Skipped while a CUDA graph is being captured (nothing may be allocated
    then, and the captured step's gradients come from autograd)."""
    if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
        return
    for group in param_groups:
        for p in group["params"]:
            g = p.grad
            if g is not None and g.stride() != p.stride() and not same_layout(g, p):
                p.grad = in_layout_of(p, g)


def state_in_weight_layout(optimizer: torch.optim.Optimizer) -> None:
    """Put every per-weight state tensor (momentum, Adam's moments) in its
    weight's memory layout, as the update itself creates them. A loaded state
    comes back contiguous, and the fused update would read a contiguous
    moment of a channels-last kernel in the wrong order (see
    ``gradients_in_weight_layout``): a resumed run then drifted from the
    uninterrupted one (``tests/training/test_resume.py``)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and not same_layout(value, p):
                    optimizer.state[p][name] = in_layout_of(p, value)
