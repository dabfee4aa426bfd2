"""Optimizers with Keras names, arguments and defaults, run by ``torch.optim``.

A brainnet optimizer holds its hyperparameters until the model's weights
exist (layers build lazily); ``build(params)`` then creates the
``torch.optim`` optimizer that does the work. The update rules (θ the
weights, g the gradient, η the learning rate):

* SGD:      v ← μ·v + g;  θ ← θ − η·v   (nesterov: θ ← θ − η·(g + μ·v))
* RMSprop:  s ← ρ·s + (1 − ρ)·g²;  θ ← θ − η·g / (√s + ε)
* Adam:     m ← β₁m + (1 − β₁)g;  s ← β₂s + (1 − β₂)g²;
            θ ← θ − η·m̂ / (√ŝ + ε),  m̂ = m/(1 − β₁ᵗ), ŝ = s/(1 − β₂ᵗ)
* AdamW:    θ ← θ − η·λ·θ (decoupled weight decay λ), then the Adam step
* Adagrad:  a ← a + g² (a₀ = initial_accumulator_value);  θ ← θ − η·g / √(a + ε)
* Adamax:   m ← β₁m + (1 − β₁)g;  u ← max(β₂u, |g|);  θ ← θ − η·m / ((1 − β₁ᵗ)(u + ε))
* Nadam:    μ_t = β₁(1 − ½·0.96ᵗ), Π_t = μ₁⋯μ_t;  m, s as in Adam;
            m̂ = μ_{t+1}·m / (1 − Π_t·μ_{t+1}) + (1 − μ_t)·g / (1 − Π_t);
            θ ← θ − η·m̂ / (√ŝ + ε),  ŝ = s/(1 − β₂ᵗ)
* Lamb:     m, s as in Adam;  u = m̂ / (√ŝ + ε);  θ ← θ − η·(‖θ‖/‖u‖)·u, per weight tensor

``weight_decay=λ`` on SGD, RMSprop, Adam, Adagrad, Adamax and Nadam is Keras 3's decoupled decay:
before each update, every weight that has a gradient shrinks,
θ ← θ − η·λ·θ (not an L2 term added to the gradient, which is what
``torch.optim``'s own ``weight_decay`` does). Default None (no decay).

SGD with momentum matches Keras's ``v ← μv − ηg; θ ← θ + v`` exactly for a
constant learning rate. Adam's and RMSprop's ε enters as in PyTorch
(outside the square root, unscaled), which differs from Keras only at the
scale of ε (1e-7 by default, as in Keras). Adagrad, Adamax and Nadam follow
Keras 3's rules exactly, ε included: Adagrad and Adamax run the rules of
``brainnet/_optim_rules.py`` (PyTorch places their ε otherwise), Nadam runs
``torch.optim.NAdam`` with ``momentum_decay=1``, which makes PyTorch's
momentum schedule μ_t = β₁(1 − ½·0.96^(t·ψ)) Keras's (PyTorch's default
ψ = 0.004 would make μ_t nearly constant at β₁/2).

Where the code lives: ``_optimizer_base.py`` (``Optimizer``: build, the
update step, ``apply``; gradient clipping and the memory-layout helpers of
the fused update beside it, in ``_gradient_clipping.py`` and
``_weight_layout.py``), ``_keras_rule_optimizers.py`` (Adagrad, Adamax,
Nadam), ``_lamb.py`` (Lamb), this file (SGD, RMSprop, Adam, AdamW and ``get``).
"""

from __future__ import annotations

import difflib
import sys
from typing import Any

import torch

from . import _registry, schedules
from ._keras_rule_optimizers import Adagrad, Adamax, Nadam
from ._lamb import Lamb
from ._optimizer_base import Optimizer
from ._weight_layout import state_in_weight_layout
from .schedules import LearningRateSchedule


# `from brainnet.optimizers.schedules import CosineDecay` works as in Keras,
# though optimizers is one module and the schedules live in brainnet/schedules.py.
sys.modules[__name__ + ".schedules"] = schedules


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Args:
        learning_rate: η, default 0.01. ``lr`` is accepted with a
            DeprecationWarning (the old Keras spelling).
        momentum: μ ≥ 0, default 0.
        nesterov: Nesterov momentum, default False.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.
    """

    torch_class = torch.optim.SGD

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.01, momentum: float = 0.0, nesterov: bool = False,
        name: str = "SGD", lr: float | None = None, weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self._set_clipping(clipnorm, clipvalue, global_clipnorm)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        if momentum < 0:
            raise ValueError(f"SGD: expected momentum ≥ 0, got {momentum!r}. Fix: SGD(momentum=0.9).")
        if nesterov and momentum == 0:
            raise ValueError(
                "SGD: nesterov=True needs momentum > 0, got momentum=0. "
                "Fix: SGD(momentum=0.9, nesterov=True)."
            )
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop: divide the gradient by a running root mean square.

    Args:
        learning_rate: η, default 0.001.
        rho: ρ, decay of the squared-gradient average, default 0.9.
        momentum: default 0.
        epsilon: ε, default 1e-7.
        centered: subtract the running mean of g (default False).
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.
    """

    torch_class = torch.optim.RMSprop

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, rho: float = 0.9, momentum: float = 0.0,
        epsilon: float = 1e-7, centered: bool = False, name: str = "RMSprop", lr: float | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self._set_clipping(clipnorm, clipvalue, global_clipnorm)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"alpha": self.rho, "momentum": self.momentum, "eps": self.epsilon, "centered": self.centered}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam: adaptive moment estimation.

    Args:
        learning_rate: η, default 0.001.
        beta_1: β₁, default 0.9; beta_2: β₂, default 0.999.
        epsilon: ε, default 1e-7.
        amsgrad: use the AMSGrad variant (default False).
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
        clipnorm, clipvalue, global_clipnorm: gradient clipping before each
            update, at most one (see ``Optimizer``), default None.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            weight averaging and gradient accumulation (see ``Optimizer``), default off.
    """

    torch_class = torch.optim.Adam

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, amsgrad: bool = False, name: str = "Adam", lr: float | None = None,
        weight_decay: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self._set_clipping(clipnorm, clipvalue, global_clipnorm)
        self._set_averaging(use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "amsgrad": self.amsgrad}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter).

    Args:
        learning_rate: η, default 0.001.
        weight_decay: λ, default 0.004 (Keras's default).
        beta_1, beta_2, epsilon, amsgrad, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, gradient_accumulation_steps: as in Adam.
    """

    torch_class = torch.optim.AdamW

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
        beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "AdamW",
        lr: float | None = None,
        clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
        use_ema: bool = False, ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
        gradient_accumulation_steps: int | None = None,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, lr, clipnorm=clipnorm,
                         clipvalue=clipvalue, global_clipnorm=global_clipnorm, use_ema=use_ema,
                         ema_momentum=ema_momentum, ema_overwrite_frequency=ema_overwrite_frequency,
                         gradient_accumulation_steps=gradient_accumulation_steps)
        self.weight_decay = float(weight_decay)

    def torch_kwargs(self) -> dict[str, Any]:
        return {**super().torch_kwargs(), "weight_decay": self.weight_decay}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight_decay": self.weight_decay}


__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adamax", "Nadam", "Lamb", "get", "serialize",
           "deserialize", "schedules",
           "LearningRateSchedule", "state_in_weight_layout"]

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "adamax": Adamax, "nadam": Nadam, "lamb": Lamb}


def get(identifier: str | dict[str, Any] | Optimizer) -> Optimizer:
    """Return an optimizer for a Keras name (``"adam"``, any case), a config
    ``{"class_name": "Adam", "config": {...}}`` (Keras's dict form, e.g. with
    ``clipnorm``) or an instance.

    Example:
        >>> from brainnet.optimizers import get
        >>> get({"class_name": "SGD", "config": {"learning_rate": 0.1, "clipnorm": 1.0}}).clipnorm
        1.0

    Raises:
        ValueError: unknown name, or a ``torch.optim`` optimizer passed in.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return _from_spec(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer) and identifier is not Optimizer:
        return identifier()  # compile(optimizer=Adam): the class with its defaults, as a name would give
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, torch.optim.Optimizer):
        raise ValueError(
            f"compile: expected a brainnet optimizer or its name, got a torch.optim "
            f"{type(identifier).__name__} (it is bound to weights that may not exist yet). "
            "Fix: optimizer=brainnet.optimizers.Adam(learning_rate=...) or optimizer='adam'."
        )
    typed = str(identifier).lower()
    # Swapped letters first ('adma' is 'adam', though difflib ranks 'adamax' closer).
    close = [n for n in _BY_NAME if sorted(n) == sorted(typed)] or difflib.get_close_matches(typed, list(_BY_NAME), n=1)
    hint = f"optimizer={close[0]!r}" if close else "optimizer='adam'"
    raise ValueError(
        f"Unknown optimizer {identifier!r}. Expected one of: {', '.join(_BY_NAME)} "
        f"(any case) or a brainnet.optimizers.Optimizer. Fix: {hint}."
    )


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": ..., "config": optimizer.get_config()}``, which
    ``deserialize`` (or ``get``) turns back into an equal optimizer (Keras 3's
    ``keras.optimizers.serialize``).

    Raises:
        ValueError: not a brainnet optimizer.
    """
    if not isinstance(optimizer, Optimizer):
        raise ValueError(
            f"optimizers.serialize: expected a brainnet optimizer, got a {type(optimizer).__module__}."
            f"{type(optimizer).__qualname__}. Fix: serialize(brainnet.optimizers.Adam(learning_rate=1e-3)), or "
            "optimizers.get('adam') for a name."
        )
    return _registry.serialize(optimizer, "optimizer")


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Optimizer:
    """The optimizer ``serialize`` described: a built-in's class name in any
    case, or one of ``custom_objects`` or registered (Keras 3's
    ``keras.optimizers.deserialize``)."""
    with _registry.custom_objects(custom_objects):
        return _from_spec(config)


def rate_from_config(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> dict[str, Any]:
    """``config`` with a learning-rate schedule saved as a dict rebuilt (``Optimizer.from_config``)."""
    if isinstance(config.get("learning_rate"), dict):
        with _registry.custom_objects(custom_objects):
            rate = _registry.deserialize(config["learning_rate"], "schedule", LearningRateSchedule)
        config = {**config, "learning_rate": rate}
    return config


def _from_spec(spec: dict[str, Any]) -> Optimizer:
    """An optimizer from ``{"class_name": ..., "config": {...}}``: a built-in's
    name in any case (as Keras takes it), a learning-rate schedule as its own
    ``{"class_name": ..., "config": ...}``."""
    name, config = spec.get("class_name"), spec.get("config", {})
    if isinstance(name, str) and name.lower() in _BY_NAME:
        name = _BY_NAME[name.lower()].__name__
    if isinstance(config, dict) and isinstance(config.get("learning_rate"), dict):
        rate = _registry.deserialize(config["learning_rate"], "schedule", LearningRateSchedule)
        config = {**config, "learning_rate": rate}
    return _registry.deserialize({**spec, "class_name": name, "config": config}, "optimizer", Optimizer)
