"""Lamb (re-exported by ``brainnet.optimizers``): Adam's step rescaled, weight by weight,
by the trust ratio ‖θ‖ / ‖step‖ (You et al., 2019, "Large Batch Optimization for Deep
Learning"), with Keras 3's rule and defaults (``keras.optimizers.Lamb``; TensorFlow
Addons' ``tfa.optimizers.LAMB`` before it, which the Barlow Twins example uses).

PyTorch has no Lamb; ``KerasLamb`` below is the ``torch.optim`` optimizer that runs the
rule, its state (``exp_avg``, ``exp_avg_sq``, ``step``) in ``optimizer.state`` as any
``torch.optim`` state.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from ._optimizer_base import Optimizer
from .schedules import LearningRateSchedule


class KerasLamb(torch.optim.Optimizer):
    """m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;  u = m̂ / (√v̂ + ε);
    θ ← θ − η·r·u,  r = ‖θ‖ / ‖u‖ (1 where either norm is 0)."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float], eps: float) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # noqa: D102 (torch.optim's signature)
        for group in self.param_groups:
            beta_1, beta_2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g, state = p.grad, self.state[p]
                if "step" not in state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
                m.lerp_(g, 1.0 - beta_1)  # m ← β₁m + (1 − β₁)g
                v.mul_(beta_2).addcmul_(g, g, value=1.0 - beta_2)  # v ← β₂v + (1 − β₂)g²
                # u = m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
                update = (m / (1.0 - beta_1**t)) / ((v / (1.0 - beta_2**t)).sqrt() + group["eps"])
                w_norm, u_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                ratio = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.sub_(update * (ratio * group["lr"]))  # θ ← θ − η·r·u


class Lamb(Optimizer):
    """Lamb: Adam's step scaled per weight so that its size is the weight's own (large batches).

    Equation (Keras 3's rule; t the step, from 1; one ratio per weight tensor)::

        m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²
        u = m̂ / (√v̂ + ε),  m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)
        r = ‖θ‖ / ‖u‖  (r = 1 where ‖θ‖ = 0 or ‖u‖ = 0)
        θ ← θ − η·r·u

    Every weight tensor therefore moves by η·‖θ‖ per step whatever the scale of
    its gradient (a weight at zero, such as a fresh bias, by Adam's step).

    Args:
        learning_rate: η, default 0.001.
        beta_1: β₁, default 0.9; beta_2: β₂, default 0.999.
        epsilon: ε, default 1e-7.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.

    Example:
        >>> import brainnet
        >>> model = brainnet.Sequential([brainnet.layers.Dense(1)])
        >>> model.compile(optimizer=brainnet.optimizers.Lamb(learning_rate=0.01), loss="mse")
    """

    torch_class = KerasLamb

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, name: str = "Lamb", lr: float | None = None, weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self._set_clipping(clipnorm, clipvalue, global_clipnorm)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
