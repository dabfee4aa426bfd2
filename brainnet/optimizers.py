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
"""

from __future__ import annotations

import difflib
import inspect
import sys
import warnings
from typing import Any, Iterable

import torch

from . import constraints as constraints_module
from . import schedules
from ._optim_rules import KerasAdagrad, KerasAdamax
from .schedules import LearningRateSchedule

# `from brainnet.optimizers.schedules import CosineDecay` works as in Keras,
# though optimizers is one module and the schedules live in brainnet/schedules.py.
sys.modules[__name__ + ".schedules"] = schedules


class Optimizer:
    """Base class: hyperparameters now, a ``torch.optim`` optimizer at build."""

    torch_class: type[torch.optim.Optimizer] = torch.optim.SGD

    def __init__(self, learning_rate: float | LearningRateSchedule, name: str, lr: float | None = None) -> None:
        if lr is not None:
            # Point the warning at the user's line, however deep the __init__ chain.
            depth = sum(1 for c in type(self).__mro__ if issubclass(c, Optimizer) and "__init__" in vars(c))
            warnings.warn(
                f"{type(self).__name__}(lr=...) is the old Keras spelling; use "
                f"{type(self).__name__}(learning_rate={lr}).",
                DeprecationWarning,
                stacklevel=depth + 1,
            )
            learning_rate = lr
        self.schedule = learning_rate if isinstance(learning_rate, LearningRateSchedule) else None
        if self.schedule is not None:
            learning_rate = self.schedule(0)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate < 0:
            raise ValueError(
                f"{type(self).__name__}: expected learning_rate to be a number ≥ 0, got "
                f"{learning_rate!r}. Fix: {type(self).__name__}(learning_rate=0.001), or a schedule "
                f"from brainnet.optimizers.schedules."
            )
        self._learning_rate = float(learning_rate)
        self.name = name
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self.iterations = 0  # steps taken (Keras's optimizer.iterations)
        self.decoupled_decay: float | None = None  # Keras 3's weight_decay (SGD, RMSprop, Adam)
        self.constraints: list[Any] = []  # (weight, constraint, Keras order) projected after each update

    def torch_kwargs(self) -> dict[str, Any]:
        """Arguments of the ``torch.optim`` class, translated from Keras's."""
        raise NotImplementedError

    def build(self, params: Iterable[torch.nn.Parameter], graph_safe: bool = False,
              constraints: Iterable[Any] = ()) -> torch.optim.Optimizer:
        """Create the ``torch.optim`` optimizer for ``params``; ``constraints``
        (``brainnet.constraints.of_model``) are applied after each update.

        The update is PyTorch's fused kernel where the class has one (SGD,
        Adam, AdamW) and the weights are all on the CPU or all on CUDA: one
        kernel for every weight instead of a chain of ``torch._foreach``
        operations. On the CPU an Adam step measured 3.9 × faster for the
        LSTM workload's weights and 5.0 × for the Transformer's, an SGD step
        1.8 × for the seed CNN's (``benchmarks/optimizer_step.py``); the
        results agree with the unfused update to float32 rounding. PyTorch
        versions without a fused CPU kernel (before 2.4) refuse ``fused=True``
        for CPU weights when the optimizer is made; the update then runs
        unfused. ``graph_safe=True`` (the CUDA-graph step) also keeps the
        learning rate in a device tensor, so that a replayed graph reads the
        current rate.
        """
        params = [p for p in params if p.requires_grad]
        self.constraints = [c for c in constraints if any(c[0] is p for p in params)]
        kwargs = self.torch_kwargs()
        if self.can_fuse(params):
            kwargs["fused"] = True  # one kernel for the whole update
        lr: float | torch.Tensor = self._learning_rate
        if graph_safe and kwargs.get("fused"):
            lr = torch.tensor(self._learning_rate, dtype=torch.float32, device=params[0].device)
            if "capturable" in inspect.signature(self.torch_class).parameters:
                kwargs["capturable"] = True  # its step counter stays on the device too
        try:
            self.torch_optimizer = self.torch_class(params, lr=lr, **kwargs)
        except RuntimeError:
            if not kwargs.get("fused") or params[0].device.type != "cpu":
                raise
            del kwargs["fused"]  # this PyTorch fuses on accelerators only
            self.torch_optimizer = self.torch_class(params, lr=lr, **kwargs)
        if kwargs.get("capturable"):  # the eager warm-up steps before capture are meant: no warning for them
            self.torch_optimizer._warned_capturable_if_run_uncaptured = True
        return self.torch_optimizer

    @property
    def has_fused_update(self) -> bool:
        """Whether PyTorch has a fused update for this class (SGD, Adam, AdamW)."""
        return "fused" in inspect.signature(self.torch_class).parameters

    def can_fuse(self, params: list[torch.nn.Parameter]) -> bool:
        """Whether the fused update applies to these weights: floating point,
        and all on the CPU or all on CUDA (one device type per fused call)."""
        if not (self.has_fused_update and params) or not all(p.is_floating_point() for p in params):
            return False
        return len({p.device.type for p in params}) == 1 and params[0].device.type in ("cpu", "cuda")

    @property
    def graph_safe(self) -> bool:
        """Built with the rate in a device tensor (see ``build``)."""
        return self.torch_optimizer is not None and all(
            torch.is_tensor(g["lr"]) for g in self.torch_optimizer.param_groups
        )

    @property
    def built(self) -> bool:
        return self.torch_optimizer is not None

    @property
    def learning_rate(self) -> float:
        """The rate of the next update (with a schedule: ``schedule(iterations)``)."""
        return self.schedule(self.iterations) if self.schedule is not None else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self.schedule is not None:
            raise TypeError(
                f"{type(self).__name__}.learning_rate: expected a constant learning rate to set, got an "
                f"optimizer driven by {self.schedule!r}, which sets it every step. Fix: build the optimizer "
                "with learning_rate=<number>, or change the schedule."
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(
                f"{type(self).__name__}.learning_rate: expected a number ≥ 0, got {value!r}. "
                "Fix: optimizer.learning_rate = 0.001."
            )
        self._set_lr(float(value))

    def _set_lr(self, value: float) -> None:
        self._learning_rate = value
        if self.torch_optimizer is not None:
            for group in self.torch_optimizer.param_groups:
                if torch.is_tensor(group["lr"]):
                    group["lr"].fill_(value)  # in place: a captured CUDA graph reads it
                else:
                    group["lr"] = value

    def step(self) -> None:
        """One update; with a schedule, at the rate ``schedule(iterations)``."""
        assert self.torch_optimizer is not None, "build() the optimizer first"
        self.set_step_rate()
        self.apply_update()
        self.iterations += 1

    def set_step_rate(self) -> None:
        """With a schedule, set the rate of the coming update (``schedule(iterations)``)."""
        if self.schedule is not None:
            self._set_lr(self.schedule(self.iterations))

    def apply_update(self) -> None:
        """The update itself (decoupled weight decay, the ``torch.optim`` step,
        then the weight constraints, as Keras 3's ``apply``): device work only,
        so that it can be captured in a CUDA graph."""
        if self.decoupled_decay:
            with torch.no_grad():  # θ ← θ − η·λ·θ, then the update (Keras 3)
                for group in self.torch_optimizer.param_groups:
                    params = [p for p in group["params"] if p.grad is not None]
                    if params:
                        lr = group["lr"]
                        factor = 1.0 - lr * self.decoupled_decay
                        torch._foreach_mul_(params, factor)
        if self.torch_optimizer.defaults.get("fused"):
            _gradients_in_weight_layout(self.torch_optimizer.param_groups)
        self.torch_optimizer.step()
        if self.constraints:  # none: no work
            constraints_module.apply(self.constraints)

    def zero_grad(self) -> None:
        assert self.torch_optimizer is not None, "build() the optimizer first"
        self.torch_optimizer.zero_grad(set_to_none=True)

    def apply(self, grads: Iterable[torch.Tensor | None],
              trainable_variables: Iterable[torch.nn.Parameter] | None = None) -> None:
        """One update of ``trainable_variables`` with ``grads`` (one per weight,
        in order), as Keras 3's ``optimizer.apply``, for a custom ``train_step``.
        The first call builds the optimizer for those weights (a GAN gives each
        network its own optimizer); later calls take the same weights or some
        of them. Weights of the optimizer left out of the call are not
        updated; a gradient of None leaves its weight as it is.

        Raises:
            ValueError: grads and weights of different lengths, no weights on
                the first call, or weights the optimizer was not built for.
        """
        grads = list(grads)
        if trainable_variables is None:
            if self.torch_optimizer is None:
                raise ValueError(
                    f"{type(self).__name__}.apply: expected the weights with the first gradients, got "
                    "trainable_variables=None on an optimizer not built yet. Fix: "
                    "optimizer.apply(grads, model.trainable_weights)."
                )
            weights = [p for g in self.torch_optimizer.param_groups for p in g["params"]]
        else:
            weights = list(trainable_variables)
        if len(grads) != len(weights):
            raise ValueError(
                f"{type(self).__name__}.apply: expected one gradient per weight, got {len(grads)} gradients for "
                f"{len(weights)} weights. Fix: grads = [v.grad for v in weights]; optimizer.apply(grads, weights)."
            )
        if self.torch_optimizer is None:
            self.build(weights)
        own = [p for g in self.torch_optimizer.param_groups for p in g["params"]]
        known = {id(p) for p in own}
        if any(id(w) not in known for w in weights):
            raise ValueError(
                f"{type(self).__name__}.apply: expected the weights this optimizer was built for ({len(own)} "
                "weights), got others. Fix: give each set of weights its own optimizer (in a GAN, d_optimizer "
                "for the discriminator and g_optimizer for the generator)."
            )
        given = {id(w) for w in weights}
        left_out = [(p, p.grad) for p in own if id(p) not in given and p.grad is not None]
        for p, _ in left_out:  # not asked for: torch.optim would step them too
            p.grad = None
        with torch.no_grad():
            for w, g in zip(weights, grads):
                if g is not w.grad:
                    w.grad = None if g is None else g.detach()
        try:
            self.step()
        finally:
            for p, g in left_out:
                p.grad = g

    def apply_gradients(self, grads_and_vars: Iterable[tuple[torch.Tensor | None, torch.nn.Parameter]]) -> None:
        """``apply`` from ``(gradient, weight)`` pairs, as Keras's ``apply_gradients(zip(grads, weights))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [w for _, w in pairs])

    def _set_decay(self, weight_decay: float | None) -> None:
        if weight_decay is not None and (
            isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0
        ):
            raise ValueError(
                f"{type(self).__name__}: expected weight_decay to be a number ≥ 0 or None, got "
                f"{weight_decay!r}. Fix: {type(self).__name__}(weight_decay=1e-4)."
            )
        self.decoupled_decay = None if weight_decay is None else float(weight_decay)

    def get_config(self) -> dict[str, Any]:
        if self.schedule is not None:
            rate: Any = {"class_name": type(self.schedule).__name__, "config": self.schedule.get_config()}
        else:
            rate = self._learning_rate
        config = {"name": self.name, "learning_rate": rate}
        if self.decoupled_decay is not None:
            config["weight_decay"] = self.decoupled_decay
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same shape and the same strides on every axis longer than 1 (the
    stride of a length-1 axis never moves through memory)."""
    return a.shape == b.shape and all(
        n == 1 or sa == sb for n, sa, sb in zip(a.shape, a.stride(), b.stride()))


def _in_layout_of(weight: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t`` (the weight's shape, its own dtype and device) laid out
    in memory as ``weight`` is."""
    return torch.empty_strided(weight.shape, weight.stride(), dtype=t.dtype, device=t.device).copy_(t)


def _gradients_in_weight_layout(param_groups: list[dict[str, Any]]) -> None:
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
            if g is not None and g.stride() != p.stride() and not _same_layout(g, p):
                p.grad = _in_layout_of(p, g)


def state_in_weight_layout(optimizer: torch.optim.Optimizer) -> None:
    """Put every per-weight state tensor (momentum, Adam's moments) in its
    weight's memory layout, as the update itself creates them. A loaded state
    comes back contiguous, and the fused update would read a contiguous
    moment of a channels-last kernel in the wrong order (see
    ``_gradients_in_weight_layout``): a resumed run then drifted from the
    uninterrupted one (``tests/training/test_resume.py``)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and not _same_layout(value, p):
                    optimizer.state[p][name] = _in_layout_of(p, value)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Args:
        learning_rate: η, default 0.01. ``lr`` is accepted with a
            DeprecationWarning (the old Keras spelling).
        momentum: μ ≥ 0, default 0.
        nesterov: Nesterov momentum, default False.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).
    """

    torch_class = torch.optim.SGD

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.01, momentum: float = 0.0, nesterov: bool = False,
        name: str = "SGD", lr: float | None = None, weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
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
    """

    torch_class = torch.optim.RMSprop

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, rho: float = 0.9, momentum: float = 0.0,
        epsilon: float = 1e-7, centered: bool = False, name: str = "RMSprop", lr: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
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
    """

    torch_class = torch.optim.Adam

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, amsgrad: bool = False, name: str = "Adam", lr: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
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
        beta_1, beta_2, epsilon, amsgrad: as in Adam.
    """

    torch_class = torch.optim.AdamW

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9,
        beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "AdamW",
        lr: float | None = None,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, lr)
        self.weight_decay = float(weight_decay)

    def torch_kwargs(self) -> dict[str, Any]:
        return {**super().torch_kwargs(), "weight_decay": self.weight_decay}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """Adagrad: each weight's rate shrinks with the sum of its squared gradients.

    Equation (Keras 3's rule)::

        a ← a + g²;  θ ← θ − η·g / √(a + ε),  a starting at initial_accumulator_value

    Args:
        learning_rate: η, default 0.001 (Keras's default; Adagrad often wants more, e.g. 0.01).
        initial_accumulator_value: a₀ ≥ 0, default 0.1.
        epsilon: ε, default 1e-7.
        weight_decay: λ of the decoupled decay θ ← θ − η·λ·θ, or None (default).

    Raises:
        ValueError: a negative ``initial_accumulator_value``.
    """

    torch_class = KerasAdagrad

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7, name: str = "Adagrad", lr: float | None = None, weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
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
    """

    torch_class = KerasAdamax

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, name: str = "Adamax", lr: float | None = None, weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
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
    """

    torch_class = torch.optim.NAdam

    def __init__(
        self, learning_rate: float | LearningRateSchedule = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
        epsilon: float = 1e-7, name: str = "Nadam", lr: float | None = None, weight_decay: float | None = None,
    ) -> None:
        super().__init__(learning_rate, name, lr)
        self._set_decay(weight_decay)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def torch_kwargs(self) -> dict[str, Any]:
        return {"betas": (self.beta_1, self.beta_2), "eps": self.epsilon, "momentum_decay": 1.0}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "adamax": Adamax, "nadam": Nadam}


def get(identifier: str | Optimizer) -> Optimizer:
    """Return an optimizer for a Keras name (``"adam"``, any case) or an instance.

    Raises:
        ValueError: unknown name, or a ``torch.optim`` optimizer passed in.
    """
    if isinstance(identifier, Optimizer):
        return identifier
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
