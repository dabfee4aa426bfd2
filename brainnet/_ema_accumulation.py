"""Keras 3's weight averaging (``use_ema``) and gradient accumulation
(``gradient_accumulation_steps``), the optimizer options that keep tensors
of their own beside ``torch.optim``'s state.

With θ the weights after an update, k = ``optimizer.iterations`` before it
(the updates taken, counting N gradients as one with accumulation over N
steps), m = ``ema_momentum``:

* average:     θ̄ ← m'·θ̄ + (1 − m')·θ,  m' = 0 at k = 0 (θ̄ starts at θ), else m,
  after every call of the optimizer;
* overwrite:   θ ← θ̄ when (k + 1) is a multiple of ``ema_overwrite_frequency``;
* accumulation over N: a ← a + g on N − 1 calls out of N, without an update;
  on the N-th, the update runs on (g + a)/N (clipping and weight decay
  included) and a ← 0.

Plain functions of an ``Optimizer`` (``brainnet/_optimizer_base.py``), which
calls them from ``apply_update`` only when the option is set.
"""

from __future__ import annotations

from typing import Any

import torch


def validate(name: str, use_ema: bool, ema_momentum: float, ema_overwrite_frequency: int | None,
             gradient_accumulation_steps: int | None) -> None:
    """Raise for option values Keras 3 refuses too, with the fix."""
    if not isinstance(use_ema, bool):
        raise ValueError(f"{name}: expected use_ema to be True or False, got {use_ema!r}. Fix: {name}(use_ema=True).")
    if isinstance(ema_momentum, bool) or not isinstance(ema_momentum, (int, float)) or not 0 <= ema_momentum <= 1:
        raise ValueError(
            f"{name}: expected ema_momentum to be a number in [0, 1], got {ema_momentum!r}. "
            f"Fix: {name}(use_ema=True, ema_momentum=0.99)."
        )
    freq = ema_overwrite_frequency
    if freq is not None and (isinstance(freq, bool) or not isinstance(freq, int) or freq < 1):
        raise ValueError(
            f"{name}: expected ema_overwrite_frequency to be an integer ≥ 1 or None, got {freq!r}. "
            f"Fix: {name}(use_ema=True, ema_overwrite_frequency=100), or None to write the average "
            "into the weights only at the end of fit."
        )
    steps = gradient_accumulation_steps
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise ValueError(
            f"{name}: expected gradient_accumulation_steps to be an integer ≥ 2 or None, got {steps!r}. "
            f"Fix: {name}(gradient_accumulation_steps=4) to update once every 4 batches, or None."
        )


def make(params: list[torch.Tensor], count: bool) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Zeros in each weight's shape, dtype and memory layout; with ``count``,
    also a step counter on the weights' device (the CUDA-graph step reads it)."""
    tensors = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in params]
    counter = torch.zeros((), dtype=torch.int64, device=params[0].device) if count and params else None
    return tensors, counter


def accumulate(params: list[torch.Tensor], accumulators: list[torch.Tensor], steps: int, calls: int) -> bool:
    """Gradient accumulation over ``steps`` calls, ``calls`` made before this
    one: add the gradients to the accumulators and return False, or, on the
    last call of the group, turn each gradient into (g + a)/steps, reset the
    accumulators and return True (the update runs). A weight without a
    gradient keeps its accumulator, as Keras leaves it out of the call."""
    update = (calls + 1) % steps == 0
    with torch.no_grad():
        for p, acc in zip(params, accumulators):
            if p.grad is None:
                continue
            if update:
                p.grad = (p.grad + acc) / steps
                acc.zero_()
            else:
                acc.add_(p.grad)
    return update


def average(params: list[torch.Tensor], averages: list[torch.Tensor], momentum: float, iterations: int,
            overwrite_frequency: int | None, counter: torch.Tensor | None) -> None:
    """One update of the moving averages, then the overwrite of the weights
    when it is due. ``iterations``: updates before this one (host count);
    ``counter``: the same count on the device, which the CUDA-graph step
    uses instead (no host value is baked into a captured graph, no branch).

    Example (m = 0.5, overwrite every 2 updates: the first update copies θ,
    the second averages and, being the 2nd, writes θ̄ into θ):
        >>> import torch
        >>> theta, avg = [torch.tensor([1.0])], [torch.zeros(1)]
        >>> average(theta, avg, 0.5, 0, 2, None)
        >>> avg[0].item()
        1.0
        >>> theta = [torch.tensor([3.0])]
        >>> average(theta, avg, 0.5, 1, 2, None)
        >>> avg[0].item(), theta[0].item()
        (2.0, 2.0)
    """
    if not params:
        return
    with torch.no_grad():
        if counter is None:
            weight = 1.0 - (momentum if iterations != 0 else 0.0)  # the first update copies θ
            torch._foreach_lerp_(averages, params, weight)  # θ̄ + w(θ − θ̄) = m·θ̄ + (1 − m)·θ
            if overwrite_frequency and (iterations + 1) % overwrite_frequency == 0:
                torch._foreach_copy_(params, averages)
            return
        weights = _per_dtype(1.0 - momentum * (counter != 0).to(torch.float64), averages)
        torch._foreach_lerp_(averages, params, weights)
        if overwrite_frequency:
            due = _per_dtype(((counter + 1) % overwrite_frequency == 0).to(torch.float64), params)
            torch._foreach_lerp_(params, averages, due)  # a weight of 0 or 1: θ as it is, or exactly θ̄


def _per_dtype(value: torch.Tensor, like: list[torch.Tensor]) -> list[torch.Tensor]:
    cast: dict[Any, torch.Tensor] = {}
    return [cast.setdefault(t.dtype, value.to(t.dtype)) for t in like]


def finalize(params: list[torch.Tensor], averages: list[torch.Tensor]) -> None:
    """Write the averages into the weights (Keras's ``finalize_variable_values``)."""
    with torch.no_grad():
        torch._foreach_copy_(params, averages)
