"""Keras's Adagrad and Adamax update rules as ``torch.optim`` optimizers.

PyTorch has both optimizers, but places ε differently from Keras 3:

* Adagrad: Keras divides by √(a + ε), PyTorch by √a + ε;
* Adamax: Keras divides by (u + ε) with u ← max(β₂u, |g|), PyTorch folds ε
  into the norm itself, u ← max(β₂u, |g| + ε), where it then decays with β₂.

The two classes below compute Keras's rules (``brainnet.optimizers.Adagrad``
and ``Adamax`` run them), one ``torch._foreach`` call per operation over all
the weights of a group. Their state (``accumulator``; ``exp_avg``,
``exp_inf`` and ``step``) lives in ``optimizer.state`` like any
``torch.optim`` state, so ``state_dict`` saves and loads it.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch


class KerasAdagrad(torch.optim.Optimizer):
    """a ← a + g²;  θ ← θ − η·g / √(a + ε),  a starting at ``initial_accumulator_value``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, initial_accumulator_value: float,
                 eps: float) -> None:
        super().__init__(params, {"lr": lr, "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: D102 (torch.optim's signature)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            for p in params:
                if "accumulator" not in self.state[p]:
                    self.state[p]["accumulator"] = torch.full_like(
                        p, group["initial_accumulator_value"], memory_format=torch.preserve_format)
            accumulators = [self.state[p]["accumulator"] for p in params]
            torch._foreach_addcmul_(accumulators, grads, grads)  # a ← a + g²
            denominators = torch._foreach_add(accumulators, group["eps"])
            torch._foreach_sqrt_(denominators)  # √(a + ε)
            torch._foreach_addcdiv_(params, grads, denominators, value=-float(group["lr"]))


class KerasAdamax(torch.optim.Optimizer):
    """m ← β₁m + (1 − β₁)g;  u ← max(β₂u, |g|);  θ ← θ − η·m / ((1 − β₁ᵗ)(u + ε))."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float], eps: float) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: D102 (torch.optim's signature)
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            beta_1, beta_2 = group["betas"]
            grads = [p.grad for p in params]
            for p in params:
                state = self.state[p]
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_inf"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
            means = [self.state[p]["exp_avg"] for p in params]
            norms = [self.state[p]["exp_inf"] for p in params]
            torch._foreach_lerp_(means, grads, 1.0 - beta_1)  # m ← β₁m + (1 − β₁)g
            torch._foreach_mul_(norms, beta_2)
            torch._foreach_maximum_(norms, torch._foreach_abs(grads))  # u ← max(β₂u, |g|)
            denominators = torch._foreach_add(norms, group["eps"])
            lr = float(group["lr"])
            rates = [-lr / (1.0 - beta_1 ** self.state[p]["step"]) for p in params]  # η/(1 − β₁ᵗ), t per weight
            torch._foreach_addcdiv_(params, means, denominators, rates)
