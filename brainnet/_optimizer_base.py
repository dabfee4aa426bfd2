"""The optimizer base class and the update machinery every optimizer shares.

``Optimizer`` holds the hyperparameters until the model's weights exist,
then ``build`` makes the ``torch.optim`` optimizer (PyTorch's fused kernel
where there is one); ``step`` / ``apply_update`` run one update (decoupled
weight decay, the ``torch.optim`` step, the weight constraints), and
``apply`` is Keras 3's ``optimizer.apply`` for a custom ``train_step``
(its body in ``_optimizer_apply.py``). Gradient
clipping is in ``_gradient_clipping.py``, the memory-layout helpers for the
fused kernels in ``_weight_layout.py``. The optimizer classes (SGD, Adam, ...) and ``get`` are in
``brainnet/optimizers.py``, which re-exports everything public here.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Iterable

import torch

from . import _direct_update as direct_update
from . import _optimizer_apply
from . import _ema_accumulation as averaging
from ._keras2_optimizer_hooks import refuse_keras2_hooks
from ._gradient_clipping import check_clipping, clip_gradients
from ._weight_layout import gradients_in_weight_layout
from . import constraints as constraints_module
from .schedules import LearningRateSchedule, rate_at


class Optimizer:
    """Base class: hyperparameters now, a ``torch.optim`` optimizer at build.

    Every optimizer takes Keras 3's gradient clipping, applied to the
    gradients before each update (after the all-reduce of data-parallel
    training), at most one of:

    * ``clipnorm=c``: each weight's gradient on its own, g ← g·c / max(‖g‖₂, c);
    * ``global_clipnorm=c``: all gradients together, g ← g·c / max(N, c) with
      N = √(Σ_w ‖g_w‖₂²) (a NaN or infinite N makes every gradient NaN, as in Keras);
    * ``clipvalue=v``: each entry, g ← min(max(g, −v), v).

    None (the default) or 0 leaves the gradients as they are.

    And Keras 3's weight averaging and gradient accumulation
    (``brainnet/_ema_accumulation.py`` has the equations):

    * ``use_ema=True``: keep θ̄ ← m·θ̄ + (1 − m)·θ after every step, m =
      ``ema_momentum`` (default 0.99); fit writes θ̄ into the weights when it
      ends (``finalize_variable_values``), and every ``ema_overwrite_frequency``
      updates too if that is set (default None);
    * ``gradient_accumulation_steps=N``: update once every N batches, on the
      mean of their N gradients (``iterations`` counts the updates).

    Example (an LSTM's exploding gradients held to a global norm of 1):
        >>> from brainnet.optimizers import Adam
        >>> Adam(learning_rate=1e-3, global_clipnorm=1.0).get_config()["global_clipnorm"]
        1.0

    Example (the average of the weights, updated on the mean gradient of 4 batches):
        >>> opt = Adam(learning_rate=1e-3, use_ema=True, gradient_accumulation_steps=4)
        >>> opt.get_config()["ema_momentum"], opt.get_config()["gradient_accumulation_steps"]
        (0.99, 4)
    """

    torch_class: type[torch.optim.Optimizer] = torch.optim.SGD

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        refuse_keras2_hooks(cls)  # get_gradients: Keras 2's, never called

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
            learning_rate = rate_at(self.schedule, 0)
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate < 0:
            raise ValueError(
                f"{type(self).__name__}: expected learning_rate to be a number ≥ 0, got "
                f"{learning_rate!r}. Fix: {type(self).__name__}(learning_rate=0.001), or a schedule "
                f"from brainnet.optimizers.schedules."
            )
        self._learning_rate = float(learning_rate)
        self.name = name
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self.steps = 0  # calls of the optimizer, one per batch (Keras's optimizer._iterations)
        self.decoupled_decay: float | None = None  # Keras 3's weight_decay (SGD, RMSprop, Adam)
        self.constraints: list[Any] = []  # (weight, constraint, Keras order) projected after each update
        self.clipnorm: float | None = None  # Keras 3's gradient clipping (see the class docstring)
        self.clipvalue: float | None = None
        self.global_clipnorm: float | None = None
        self.use_ema, self.ema_momentum, self.ema_overwrite_frequency = False, 0.99, None
        self.gradient_accumulation_steps: int | None = None
        self.averages: list[torch.Tensor] | None = None  # θ̄ per weight (use_ema), made by build
        self.accumulators: list[torch.Tensor] | None = None  # a per weight (gradient_accumulation_steps)
        self.step_counter: torch.Tensor | None = None  # ``steps`` on the device, for the CUDA-graph step

    @property
    def iterations(self) -> int:
        """Updates taken (Keras's ``optimizer.iterations``): the steps, or with
        ``gradient_accumulation_steps=N`` the steps // N."""
        n = self.gradient_accumulation_steps
        return self.steps // n if n else self.steps

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.steps = int(value) * (self.gradient_accumulation_steps or 1)

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
            self.torch_optimizer = direct_update.constructed(self.torch_class, params, lr=lr, **kwargs)
        except RuntimeError:
            if not kwargs.get("fused") or params[0].device.type != "cpu":
                raise
            del kwargs["fused"]  # this PyTorch fuses on accelerators only
            self.torch_optimizer = direct_update.constructed(self.torch_class, params, lr=lr, **kwargs)
        if kwargs.get("capturable"):  # the eager warm-up steps before capture are meant: no warning for them
            self.torch_optimizer._warned_capturable_if_run_uncaptured = True
        if self.use_ema:
            self.averages, self.step_counter = averaging.make(params, count=torch.is_tensor(lr))
        if self.gradient_accumulation_steps:
            self.accumulators, _ = averaging.make(params, count=False)
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
        """The rate of the next update (with a schedule: ``schedule(steps)``)."""
        return rate_at(self.schedule, self.steps) if self.schedule is not None else self._learning_rate

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
        """One update; with a schedule, at the rate ``schedule(steps)`` (with
        gradient accumulation, the rate of the batch that completes the group,
        as Keras's schedules read the steps, not the updates)."""
        assert self.torch_optimizer is not None, "build() the optimizer first"
        self.set_step_rate()
        self.apply_update()
        self.steps += 1

    def set_step_rate(self) -> None:
        """Before each step: with a schedule, set the rate of the coming update
        (``schedule(steps)``); with ``use_ema`` on the CUDA-graph step, copy
        ``steps`` into the device counter the captured averaging reads."""
        if self.schedule is not None:
            self._set_lr(rate_at(self.schedule, self.steps))
        if self.step_counter is not None:
            self.step_counter.fill_(self.steps)

    def apply_update(self) -> None:
        """The update itself (gradient clipping, decoupled weight decay, the
        ``torch.optim`` step, then the weight constraints, as Keras 3's
        ``apply``): device work only, so that it can be captured in a CUDA graph.
        With ``gradient_accumulation_steps`` (eager steps only) the update runs on
        one call in N; with ``use_ema`` the averages follow every call."""
        if self.accumulators is not None:
            params = [p for g in self.torch_optimizer.param_groups for p in g["params"]]
            if averaging.accumulate(params, self.accumulators, self.gradient_accumulation_steps, self.steps):
                self._update()
        else:
            self._update()
        if self.averages is not None:
            params = [p for g in self.torch_optimizer.param_groups for p in g["params"]]
            averaging.average(params, self.averages, self.ema_momentum, self.iterations,
                              self.ema_overwrite_frequency, self.step_counter)

    def _update(self) -> None:
        if self.clipnorm or self.global_clipnorm or self.clipvalue:  # none: no work
            grads = [p.grad for g in self.torch_optimizer.param_groups for p in g["params"] if p.grad is not None]
            clip_gradients(grads, self.clipnorm, self.global_clipnorm, self.clipvalue)
        if self.decoupled_decay:
            with torch.no_grad():  # θ ← θ − η·λ·θ, then the update (Keras 3)
                for group in self.torch_optimizer.param_groups:
                    params = [p for p in group["params"] if p.grad is not None]
                    if params:
                        lr = group["lr"]
                        factor = 1.0 - lr * self.decoupled_decay
                        torch._foreach_mul_(params, factor)
        if self.torch_optimizer.defaults.get("fused"):
            gradients_in_weight_layout(self.torch_optimizer.param_groups)
        if not direct_update.step(self.torch_optimizer):  # the fused kernel called here where it can be
            self.torch_optimizer.step()
        if self.constraints:  # none: no work
            constraints_module.apply(self.constraints)

    def finalize_variable_values(self, var_list: Iterable[torch.nn.Parameter] | None = None) -> None:
        """With ``use_ema``, write the moving averages into the weights (fit
        does it when it ends, as Keras); otherwise nothing. ``var_list``: the
        optimizer's weights, in order (default: those it was built for).

        Raises:
            ValueError: ``var_list`` of another length than the optimizer's weights.
        """
        if self.averages is None or self.steps == 0:  # no average taken yet: the weights stay
            return
        own = [p for g in self.torch_optimizer.param_groups for p in g["params"]]
        weights = own if var_list is None else list(var_list)
        if len(weights) != len(own):
            raise ValueError(
                f"{type(self).__name__}.finalize_variable_values: expected the {len(own)} weights the optimizer "
                f"was built for, got {len(weights)}. Fix: optimizer.finalize_variable_values() (its own "
                "weights) or finalize_variable_values(model.trainable_weights)."
            )
        averaging.finalize(weights, self.averages)

    def zero_grad(self) -> None:
        assert self.torch_optimizer is not None, "build() the optimizer first"
        direct_update.zero_grad(self.torch_optimizer)

    def apply(self, grads: Iterable[torch.Tensor | None],
              trainable_variables: Iterable[torch.nn.Parameter] | None = None) -> None:
        """Keras 3's ``optimizer.apply`` for a custom ``train_step``: one
        update of ``trainable_variables`` with ``grads``, the first call
        building the optimizer for them (``brainnet/_optimizer_apply.py``).

        Raises:
            ValueError: grads and weights of different lengths, no weights on
                the first call, or weights the optimizer was not built for.
        """
        _optimizer_apply.apply(self, grads, trainable_variables)

    def apply_gradients(self, grads_and_vars: Iterable[tuple[torch.Tensor | None, torch.nn.Parameter]]) -> None:
        """``apply`` from ``(gradient, weight)`` pairs, as Keras's ``apply_gradients(zip(grads, weights))``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [w for _, w in pairs])

    def _set_clipping(self, clipnorm: float | None, clipvalue: float | None,
                      global_clipnorm: float | None) -> None:
        self.clipnorm, self.clipvalue, self.global_clipnorm = check_clipping(
            type(self).__name__, clipnorm, clipvalue, global_clipnorm)

    def _set_averaging(self, use_ema: bool, ema_momentum: float, ema_overwrite_frequency: int | None,
                       gradient_accumulation_steps: int | None) -> None:
        averaging.validate(type(self).__name__, use_ema, ema_momentum, ema_overwrite_frequency,
                           gradient_accumulation_steps)
        self.use_ema, self.ema_momentum = use_ema, float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = gradient_accumulation_steps

    def _set_decay(self, weight_decay: float | None) -> None:
        if weight_decay is not None and (
            isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) or weight_decay < 0
        ):
            raise ValueError(
                f"{type(self).__name__}: expected weight_decay to be a number ≥ 0 or None, got "
                f"{weight_decay!r}. Fix: {type(self).__name__}(weight_decay=1e-4)."
            )
        self.decoupled_decay = None if weight_decay is None else float(weight_decay)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Optimizer":
        """``cls(**config)``, a schedule saved as ``{"class_name", "config"}`` rebuilt first (Keras 3)."""
        from .optimizers import rate_from_config

        return cls(**rate_from_config(config, custom_objects))

    def get_config(self) -> dict[str, Any]:
        if self.schedule is not None:
            rate: Any = {"class_name": type(self.schedule).__name__, "config": self.schedule.get_config()}
        else:
            rate = self._learning_rate
        config = {"name": self.name, "learning_rate": rate}
        if self.decoupled_decay is not None:
            config["weight_decay"] = self.decoupled_decay
        for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, arg) is not None:
                config[arg] = getattr(self, arg)
        if self.use_ema:
            config.update(use_ema=True, ema_momentum=self.ema_momentum,
                          ema_overwrite_frequency=self.ema_overwrite_frequency)
        if self.gradient_accumulation_steps:
            config["gradient_accumulation_steps"] = self.gradient_accumulation_steps
        return config

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"
