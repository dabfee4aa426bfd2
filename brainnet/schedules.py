"""Learning-rate schedules, as ``keras.optimizers.schedules``.

A schedule maps the optimizer's step count ``t`` (the number of updates
already taken, Keras's ``optimizer.iterations``) to the learning rate of the
next update. Pass one as ``learning_rate``:

    >>> from brainnet.optimizers import Adam
    >>> from brainnet.optimizers.schedules import CosineDecay
    >>> opt = Adam(learning_rate=CosineDecay(0.001, decay_steps=1000))
    >>> round(CosineDecay(0.001, decay_steps=1000)(500), 6)
    0.0005

Also reachable as ``brainnet.optimizers.schedules``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def _positive(schedule: str, arg: str, value: Any, example: str, allow_zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{schedule}: expected {arg} to be a number {bound}, got {value!r}. Fix: {example}.")
    return float(value)


class LearningRateSchedule:
    """Base class: ``schedule(step)`` returns the learning rate for update ``step``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def rate_at(schedule: LearningRateSchedule, step: int) -> float:
    """``schedule(step)`` as a float. A schedule of one's own may return a
    0-d tensor, as Keras's schedules do (keras.io's warm-up cosine builds its
    rate with ``tf.cos`` and ``tf.where``, here ``torch.cos`` and ``torch.where``).

    Raises:
        ValueError: the schedule returned something other than one number.
    """
    value = schedule(step)
    if hasattr(value, "numel") and value.numel() == 1:  # a torch tensor of one number
        value = value.item()
    elif hasattr(value, "size") and hasattr(value, "item") and value.size == 1:  # a NumPy scalar or array
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{type(schedule).__name__}: expected __call__(step) to return the learning rate as one number "
            f"(a float or a tensor of one element), got {value!r} for step {step}. Fix: return a float, "
            "e.g. float(rate), or a 0-d tensor such as torch.where(cond, a, b) on 0-d tensors."
        )
    return float(value)


class ExponentialDecay(LearningRateSchedule):
    """``η(t) = η₀ · r^(t / T)``; with ``staircase=True`` the exponent is ``⌊t / T⌋``.

    Args:
        initial_learning_rate: η₀ > 0.
        decay_steps: T > 0, the steps over which the rate is multiplied by r.
        decay_rate: r > 0 (below 1 to decay).
        staircase: decay in whole steps of T.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False) -> None:
        name = "ExponentialDecay"
        self.initial_learning_rate = _positive(name, "initial_learning_rate", initial_learning_rate,
                                               "ExponentialDecay(0.001, decay_steps=1000, decay_rate=0.9)")
        self.decay_steps = _positive(name, "decay_steps", decay_steps,
                                     "ExponentialDecay(0.001, decay_steps=1000, decay_rate=0.9)")
        self.decay_rate = _positive(name, "decay_rate", decay_rate,
                                    "ExponentialDecay(0.001, decay_steps=1000, decay_rate=0.9)")
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        exponent = step / self.decay_steps
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial_learning_rate * self.decay_rate**exponent

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from η₀ to ``alpha·η₀`` over ``decay_steps``, after an optional linear warm-up.

    Without warm-up: ``η(t) = η₀ · ((1 − α) · ½(1 + cos(π · min(t, T) / T)) + α)``.
    With ``warmup_steps = W`` and ``warmup_target = η₁``: ``η`` rises linearly
    from η₀ to η₁ over the first W steps, then decays as above from η₁, with
    ``t − W`` in place of ``t`` (Keras's semantics).

    Args:
        initial_learning_rate: η₀ ≥ 0.
        decay_steps: T > 0.
        alpha: the final rate as a fraction of the peak, default 0.
        warmup_target: η₁, the peak after warm-up; None: no warm-up.
        warmup_steps: W ≥ 0, default 0.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 warmup_target: float | None = None, warmup_steps: int = 0) -> None:
        name, example = "CosineDecay", "CosineDecay(0.001, decay_steps=1000)"
        self.initial_learning_rate = _positive(name, "initial_learning_rate", initial_learning_rate, example,
                                               allow_zero=True)
        self.decay_steps = _positive(name, "decay_steps", decay_steps, example)
        self.alpha = _positive(name, "alpha", alpha, "CosineDecay(0.001, decay_steps=1000, alpha=0.1)",
                               allow_zero=True)
        self.warmup_target = None if warmup_target is None else _positive(
            name, "warmup_target", warmup_target, "CosineDecay(0.0, 1000, warmup_target=0.001, warmup_steps=100)")
        self.warmup_steps = _positive(name, "warmup_steps", warmup_steps,
                                      "CosineDecay(0.0, 1000, warmup_target=0.001, warmup_steps=100)",
                                      allow_zero=True)

    def __call__(self, step: int) -> float:
        peak = self.initial_learning_rate
        if self.warmup_target is not None:
            if step < self.warmup_steps:
                return peak + (self.warmup_target - peak) * step / self.warmup_steps
            peak, step = self.warmup_target, step - self.warmup_steps
        progress = min(step, self.decay_steps) / self.decay_steps
        return peak * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``η(t) = values[0]`` for ``t ≤ boundaries[0]``, ``values[i]`` for
    ``boundaries[i−1] < t ≤ boundaries[i]``, ``values[-1]`` after the last.

    Args:
        boundaries: increasing step counts, one fewer than ``values``.
        values: the learning rates.
    """

    def __init__(self, boundaries: Sequence[int], values: Sequence[float]) -> None:
        boundaries, values = list(boundaries), [float(v) for v in values]
        if len(values) != len(boundaries) + 1 or sorted(boundaries) != boundaries:
            raise ValueError(
                f"PiecewiseConstantDecay: expected increasing boundaries and one more value than "
                f"boundaries, got {len(boundaries)} boundaries {boundaries} and {len(values)} values. "
                "Fix: PiecewiseConstantDecay(boundaries=[1000, 2000], values=[1e-3, 5e-4, 1e-4])."
            )
        self.boundaries, self.values = boundaries, values

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values}


class PolynomialDecay(LearningRateSchedule):
    """``η(t) = (η₀ − η_end) · (1 − min(t, T) / T)^p + η_end``. With ``cycle=True``
    the decay restarts: T is replaced by ``T · ⌈t / T⌉`` (T itself at t = 0)
    and t is not capped.

    Args:
        initial_learning_rate: η₀ ≥ 0.
        decay_steps: T > 0.
        end_learning_rate: η_end ≥ 0 (default 0.0001, as Keras).
        power: p ≥ 0 (default 1.0: linear).
        cycle: restart the decay after every T steps, from a lower start.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False) -> None:
        name, example = "PolynomialDecay", "PolynomialDecay(0.1, decay_steps=10000, end_learning_rate=0.01)"
        self.initial_learning_rate = _positive(name, "initial_learning_rate", initial_learning_rate, example,
                                               allow_zero=True)
        self.decay_steps = _positive(name, "decay_steps", decay_steps, example)
        self.end_learning_rate = _positive(name, "end_learning_rate", end_learning_rate, example, allow_zero=True)
        self.power = _positive(name, "power", power, "PolynomialDecay(0.1, decay_steps=10000, power=0.5)",
                               allow_zero=True)
        self.cycle = bool(cycle)

    def __call__(self, step: int) -> float:
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= math.ceil(step / decay_steps) if step > 0 else 1.0
        else:
            step = min(step, decay_steps)
        fraction = 1.0 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction**self.power + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle}


class InverseTimeDecay(LearningRateSchedule):
    """``η(t) = η₀ / (1 + r · t / T)``; with ``staircase=True``, ``⌊t / T⌋`` in place of ``t / T``.

    Args:
        initial_learning_rate: η₀ > 0.
        decay_steps: T > 0.
        decay_rate: r ≥ 0.
        staircase: decay in whole steps of T.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False) -> None:
        name, example = "InverseTimeDecay", "InverseTimeDecay(0.1, decay_steps=1.0, decay_rate=0.5)"
        self.initial_learning_rate = _positive(name, "initial_learning_rate", initial_learning_rate, example)
        self.decay_steps = _positive(name, "decay_steps", decay_steps, example)
        self.decay_rate = _positive(name, "decay_rate", decay_rate, example, allow_zero=True)
        self.staircase = bool(staircase)

    def __call__(self, step: int) -> float:
        ratio = step / self.decay_steps
        if self.staircase:
            ratio = math.floor(ratio)
        return self.initial_learning_rate / (1.0 + self.decay_rate * ratio)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase}


__all__ = ["LearningRateSchedule", "ExponentialDecay", "CosineDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay"]
