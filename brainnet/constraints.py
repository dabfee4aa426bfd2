"""Weight constraints, as Keras 3 names them.

A constraint projects a weight back into an allowed set after each optimizer
update (Keras 3 applies it, in ``optimizer.apply``, to every trainable weight
that got a gradient, right after the update). With ``‖w‖`` the Euclidean
norm along ``axis`` (Keras's kernel layout) and ε = 1e-7:

* ``MaxNorm(max_value=2, axis=0)``: w ← w · min(‖w‖, max_value) / (ε + ‖w‖),
  the max-norm regularisation of the dropout paper (Srivastava et al. 2014);
* ``NonNeg()``: w ← max(w, 0);
* ``UnitNorm(axis=0)``: w ← w / (ε + ‖w‖);
* ``MinMaxNorm(min_value=0, max_value=1, rate=1, axis=0)``:
  w ← w · (rate · clip(‖w‖, min_value, max_value) + (1 − rate) · ‖w‖) / (ε + ‖w‖).

``axis`` refers to the kernel in *Keras's* layout, whatever the order
brainnet stores it in: a Dense kernel is ``(in, out)``, so ``axis=0`` bounds
the weights into each unit; a Conv2D kernel is ``(kh, kw, in, out)``, so
``axis=[0, 1, 2]`` bounds each filter (brainnet stores ``(out, in, kh, kw)``
and applies the constraint to the Keras-ordered view of it); a Conv1D kernel
is ``(k, in, out)``.

Layers take them as ``kernel_constraint=`` and ``bias_constraint=`` (Dense,
Conv1D, Conv2D, SimpleRNN, LSTM, GRU and the cells, which also take
``recurrent_constraint=``), and Embedding as ``embeddings_constraint=``; by
name (``"max_norm"``, ``"MaxNorm"``: the defaults), as an object, or as a
function ``fn(w) -> w`` (which cannot be saved).

Example:
    >>> from brainnet import constraints, layers
    >>> dense = layers.Dense(128, activation="relu", kernel_constraint=constraints.MaxNorm(3))
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Callable, Iterable

import torch

Tensor = torch.Tensor
EPSILON = 1e-7  # Keras's backend.epsilon()


def _axis(cls: str, axis: Any) -> int | list[int]:
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, (list, tuple)) and axis and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axis):
        return [int(a) for a in axis]
    raise ValueError(
        f"{cls}: expected axis to be an integer or a list of integers (axes of the kernel in Keras's layout), "
        f"got {axis!r}. Fix: {cls}(axis=0) for Dense kernels (in, out), axis=[0, 1, 2] for Conv2D kernels."
    )


def _value(cls: str, arg: str, value: Any, low: float, strict: bool, example: str) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (strict and value == low):
        want = f"a number > {low:g}" if strict else f"a number ≥ {low:g}"
        raise ValueError(f"{cls}: expected {arg} to be {want}, got {value!r}. Fix: {cls}({example}).")
    return float(value)


def _norms(w: Tensor, axis: int | list[int]) -> Tensor:
    return w.square().sum(dim=axis, keepdim=True).sqrt()


class Constraint:
    """Base class: ``c(w)`` returns the projected weight (a new tensor).

    Subclass it and override ``__call__`` (and ``get_config``, with
    ``@brainnet.saving.register_serializable()``, to save it).
    """

    def __call__(self, w: Tensor) -> Tensor:
        return w

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Constraint":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """w ← w · min(‖w‖, max_value) / (ε + ‖w‖), norms along ``axis``.

    Args:
        max_value: the largest norm allowed, > 0 (default 2, as Keras; the
            dropout paper used 3 to 4).
        axis: axis or axes of the norms, in Keras's kernel layout (default 0).
    """

    def __init__(self, max_value: float = 2, axis: int | list[int] = 0) -> None:
        self.max_value = _value("MaxNorm", "max_value", max_value, 0.0, True, "max_value=3")
        self.axis = _axis("MaxNorm", axis)

    def __call__(self, w: Tensor) -> Tensor:
        norms = _norms(w, self.axis)
        return w * (norms.clamp(max=self.max_value) / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """w ← max(w, 0)."""

    def __call__(self, w: Tensor) -> Tensor:
        return w.clamp(min=0)


class UnitNorm(Constraint):
    """w ← w / (ε + ‖w‖), norms along ``axis`` (default 0, Keras's layout)."""

    def __init__(self, axis: int | list[int] = 0) -> None:
        self.axis = _axis("UnitNorm", axis)

    def __call__(self, w: Tensor) -> Tensor:
        return w / (EPSILON + _norms(w, self.axis))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along ``axis`` moved into [min_value, max_value] at ``rate``:
    w ← w · (rate · clip(‖w‖, min_value, max_value) + (1 − rate) · ‖w‖) / (ε + ‖w‖).

    Args:
        min_value: ≥ 0 (default 0.0); max_value: ≥ min_value (default 1.0);
        rate: in (0, 1], 1 enforces at once (default 1.0); axis: default 0.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | list[int] = 0) -> None:
        example = "min_value=0.0, max_value=1.0"
        self.min_value = _value("MinMaxNorm", "min_value", min_value, 0.0, False, example)
        self.max_value = _value("MinMaxNorm", "max_value", max_value, 0.0, True, example)
        if self.max_value < self.min_value:
            raise ValueError(
                f"MinMaxNorm: expected min_value ≤ max_value, got min_value={min_value!r}, "
                f"max_value={max_value!r}. Fix: MinMaxNorm(min_value={max_value!r}, max_value={min_value!r})."
            )
        self.rate = _value("MinMaxNorm", "rate", rate, 0.0, True, "rate=1.0")
        if self.rate > 1:
            raise ValueError(f"MinMaxNorm: expected rate in (0, 1], got {rate!r}. Fix: MinMaxNorm(rate=1.0).")
        self.axis = _axis("MinMaxNorm", axis)

    def __call__(self, w: Tensor) -> Tensor:
        norms = _norms(w, self.axis)
        desired = self.rate * norms.clamp(self.min_value, self.max_value) + (1 - self.rate) * norms
        return w * (desired / (EPSILON + norms))

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


# Keras's lower-case names.
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_BY_NAME: dict[str, type[Constraint]] = {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                                         "min_max_norm": MinMaxNorm}
_CLASSES: dict[str, type[Constraint]] = {c.__name__: c for c in _BY_NAME.values()}


def get(identifier: Any, *, argument: str | None = None, layer: str | None = None) -> Constraint | Callable | None:
    """A constraint from None, a name (``"max_norm"``, ``"MaxNorm"``), a saved
    ``{"class_name": ..., "config": ...}``, an instance, a class or a
    function ``fn(w) -> w``.

    Raises:
        ValueError: an unknown name, or something that is not a constraint.
    """
    from . import _registry

    found = None if identifier is None else _registry.resolve(identifier, Constraint, "constraint", _BY_NAME, _CLASSES)
    if identifier is None or found is not None:
        return found
    close = difflib.get_close_matches(identifier.lower(), list(_BY_NAME), n=1, cutoff=0.5) if isinstance(
        identifier, str) else []
    fix = repr(close[0]) if close else "brainnet.constraints.MaxNorm(3)"
    where = f"{layer}: expected {argument}" if layer and argument else "constraints.get: expected a constraint"
    raise ValueError(
        f"{where} among None, 'max_norm', 'non_neg', 'unit_norm', 'min_max_norm', a "
        f"brainnet.constraints.Constraint or a function fn(w) -> w, got {identifier!r}. "
        f"Fix: {argument or 'kernel_constraint'}={fix}."
    )


def serialize(constraint: Any) -> dict[str, Any] | None:
    """``{"class_name": ..., "config": ...}`` for saving, or None.

    Raises:
        ValueError: a plain function (it has no config to save).
    """
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise ValueError(
            f"save: expected a brainnet.constraints.Constraint, got the function {constraint!r}, which cannot "
            "be written to a file. Fix: subclass brainnet.constraints.Constraint with __call__ and get_config(), "
            "decorated with @brainnet.saving.register_serializable()."
        )
    from . import _registry

    name = _registry.registered_name(type(constraint)) or type(constraint).__name__
    return {"class_name": name, "config": constraint.get_config()}


def config_of(layer: Any, *kinds: str) -> dict[str, Any]:
    """``{"<kind>_constraint": serialize(...)}`` for ``get_config``, for the
    constraints that are set (an absent key means None, the default)."""
    found = {k: getattr(layer, f"{k}_constraint") for k in kinds}
    return {f"{k}_constraint": serialize(c) for k, c in found.items() if c is not None}


# A constrained weight: (the parameter, the constraint, the permutation giving its Keras-ordered view or None).
Constrained = tuple[torch.nn.Parameter, Callable[[Tensor], Tensor], "tuple[int, ...] | None"]


def of_model(model: torch.nn.Module) -> list[Constrained]:
    """Every constrained weight of the layers in ``model`` (each weight once)."""
    from .layers.base import Layer

    found: list[Constrained] = []
    seen: set[int] = set()
    for layer in model.modules():
        if not isinstance(layer, Layer):
            continue
        for name, constraint in layer.weight_constraints().items():
            weight = getattr(layer, name, None)
            if constraint is not None and isinstance(weight, torch.nn.Parameter) and id(weight) not in seen:
                seen.add(id(weight))
                found.append((weight, constraint, layer.keras_order(name)))
    return found


def apply(constrained: Iterable[Constrained]) -> None:
    """Project each trainable weight that has a gradient (Keras 3's rule), in place:
    the constraint sees the weight in Keras's axis order, and its result is
    written back through that view (device work only: a CUDA graph can hold it)."""
    with torch.no_grad():
        for weight, constraint, order in constrained:
            if weight.grad is None or not weight.requires_grad:
                continue
            view = weight if order is None else weight.permute(order)
            view.copy_(constraint(view))
