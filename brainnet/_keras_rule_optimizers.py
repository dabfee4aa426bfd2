"""Adagrad, Adamax and Nadam (re-exported by ``brainnet.optimizers``): the
optimizers whose rules follow Keras 3's exactly where PyTorch's own differ.
Adagrad and Adamax run the ``torch.optim`` rules of ``_optim_rules.py``
(Keras's place for ε); Nadam runs ``torch.optim.NAdam`` with
``momentum_decay=1`` (Keras's momentum schedule). Their equations are in
each class's docstring and in ``brainnet.optimizers``'s.
"""

from __future__ import annotations

from typing import Any

import torch

from ._optim_rules import KerasAdagrad, KerasAdamax
from ._optimizer_base import Optimizer
from .schedules import LearningRateSchedule


class Adagrad(Optimizer):
    """Adagrad: each weight's rate shrinks with the sum of its squared gradients.

    Equation (Keras 3's rule)::

        a ← a + g²;  θ ← θ − η·g / √(a + ε),  a starting at initial_accumulator_value

    Args:
        learning_rate: η, default 0.001 (Keras's default; Adagrad often wants more, e.g. 0.01).
        initial_accumulator_value: a₀ ≥ 0, default 0.1.
        epsilon: ε, default 1e-7.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.

    Raises:
        ValueError: a negative ``initial_accumulator_value``.
    """

    torch_class = KerasAdagrad

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7, name: str = "Adagrad", lr: float | None = None, weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self._set_clipping(clipnorm, clipvalue, global_clipnorm)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        value = initial_accumulator_value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(
                f"Adagrad: expected initial_accumulator_value to be a number ≥ 0, got {value!r}. "
                "Fix: Adagrad(initial_accumulator_value=0.1)."
            )
        self.initial_accumulator_value, self.epsilon = float(value), float(epsilon)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"initial_accumulator_value": self.initial_accumulator_value, "eps": self.epsilon}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax: Adam with the infinity norm of past gradients in place of their RMS.

    Equation (Keras 3's rule)::

        m ← β₁m + (1 − β₁)g;  u ← max(β₂u, |g|);  θ ← θ − η·m / ((1 − β₁ᵗ)(u + ε))

    Args:
        learning_rate: η, default 0.001.
        beta_1: β₁, default 0.9; beta_2: β₂, default 0.999.
        epsilon: ε, default 1e-7.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.
    """

    torch_class = KerasAdamax

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, name: str = "Adamax", lr: float | None = None, weight_decay: float | None = None,
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


class Nadam(Optimizer):
    """Nadam: Adam with Nesterov momentum (Dozat, 2015), Keras 3's schedule.

    Equation (t the step, from 1)::

        μ_t = β₁(1 − ½·0.96ᵗ);  Π_t = μ₁·μ₂⋯μ_t
        m ← β₁m + (1 − β₁)g;  s ← β₂s + (1 − β₂)g²
        m̂ = μ_{t+1}·m / (1 − Π_t·μ_{t+1}) + (1 − μ_t)·g / (1 − Π_t)
        θ ← θ − η·m̂ / (√(s/(1 − β₂ᵗ)) + ε)

    Runs ``torch.optim.NAdam(momentum_decay=1)``: PyTorch's μ_t is
    β₁(1 − ½·0.96^(t·ψ)), Keras's is ψ = 1.

    Args:
        learning_rate: η, default 0.001.
        beta_1: β₁, default 0.9; beta_2: β₂, default 0.999.
        epsilon: ε, default 1e-7.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.
    """

    torch_class = torch.optim.NAdam

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, name: str = "Nadam", lr: float | None = None, weight_decay: float | None = None,
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
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "momentum_decay": 1.0}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}
