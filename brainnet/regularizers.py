"""Weight and activity regularizers, as Keras names them.

A regularizer turns a tensor into a penalty (a scalar) that training adds to
the loss, pulling weights (or activations) toward zero:

* ``L1(l1)``:        R(w) = l1 · Σ |w|
* ``L2(l2)``:        R(w) = l2 · Σ w²
* ``L1L2(l1, l2)``:  R(w) = l1 · Σ |w| + l2 · Σ w²

Layers with weights take them as ``kernel_regularizer=`` and
``bias_regularizer=`` (penalty on the weight) and ``activity_regularizer=``
(penalty on the layer's output); SimpleRNN, LSTM and GRU also take
``recurrent_regularizer=``, Embedding ``embeddings_regularizer=``, and
BatchNormalization and LayerNormalization ``gamma_regularizer=`` and
``beta_regularizer=`` (Keras's names). As in Keras 3:

* a weight penalty is computed from the current weight each time it is
  asked for, and only for trainable weights (a frozen layer adds none);
* an activity penalty is ``R(y)`` of the layer's output ``y`` (after its
  activation) on the whole batch, summed over every axis, batch included,
  and *not* divided by the batch size (Keras 2 divided by it; Keras 3 does
  not), and of each output tensor for a layer with several (``return_state``);
  it is recorded at each call, in training and in inference;
* ``model.losses`` lists the penalties, and ``fit`` and ``evaluate`` both
  report and (for fit) minimise ``loss = data loss + Σ model.losses``.

Strings work too, as in Keras 3: ``"l1"`` is ``L1()`` and ``"l2"`` is
``L2()`` (factor 0.01), ``"l1_l2"`` is ``L1L2()`` (both factors 0.0, Keras's
defaults, so it penalises nothing until you give factors); any
``fn(tensor) -> scalar`` works too (but cannot be saved).

Example:
    >>> from brainnet import layers, regularizers
    >>> dense = layers.Dense(4, kernel_regularizer=regularizers.L2(1e-4))
"""

from __future__ import annotations

import difflib
import inspect
import math
from typing import Any, Callable

import torch

Tensor = torch.Tensor


class Regularizer:
    """Base class: ``reg(x)`` returns the scalar penalty of tensor ``x``."""

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _factor(cls: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(
            f"{cls}: expected {arg} to be a number ≥ 0, got {value!r}. Fix: {cls}({arg}=0.01)."
        )
    return float(value)


class L1(Regularizer):
    """L1 penalty: R(w) = l1 · Σ |w| (drives weights to exactly zero).

    Args:
        l1: the factor, ≥ 0 (default 0.01, as Keras).
    """

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("L1", "l1", l1)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l1 * x.abs().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """L2 penalty ("weight decay" in the loss): R(w) = l2 · Σ w².

    Its gradient is ``2 · l2 · w``, so one SGD step shrinks each weight by
    ``η · 2 · l2 · w`` on top of the data gradient.

    Args:
        l2: the factor, ≥ 0 (default 0.01, as Keras).
    """

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("L2", "l2", l2)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2 * x.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """Both penalties: R(w) = l1 · Σ |w| + l2 · Σ w².

    Args:
        l1: L1 factor, default 0.0; l2: L2 factor, default 0.0 (Keras's defaults).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, x: Tensor) -> Tensor:
        return self.l1 * x.abs().sum() + self.l2 * x.square().sum()

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


# Keras's lower-case aliases.
l1, l2, l1_l2 = L1, L2, L1L2

_CLASSES = {c.__name__: c for c in (L1, L2, L1L2)}
_BY_NAME: dict[str, type[Regularizer]] = {"l1": L1, "l2": L2, "l1_l2": L1L2}


def get(identifier: Any, *, argument: str | None = None) -> Regularizer | Callable[[Tensor], Tensor] | None:
    """A regularizer from ``None``, a name (``"l1"``, ``"l2"``, ``"l1_l2"``),
    a saved ``{"class_name": ..., "config": ...}``, an instance or a function.

    Args:
        identifier: what the user gave.
        argument: the layer argument it was given as (``"recurrent_regularizer"``),
            named in the error messages and their fix.

    Raises:
        ValueError: unknown name or malformed saved entry.
    """
    from . import _registry

    found = None if identifier is None else _registry.resolve(identifier, Regularizer, "regularizer", _BY_NAME,
                                                               _CLASSES)
    if identifier is None or found is not None:
        return found
    if isinstance(identifier, str):
        close = difflib.get_close_matches(identifier.lower(), list(_BY_NAME), n=1)
        fix = f"{close[0]!r}" if close else "brainnet.regularizers.L2(1e-4)"
        raise ValueError(
            f"Unknown regularizer {identifier!r}{f' for {argument}' if argument else ''}. Expected "
            "'l1', 'l2', 'l1_l2', a brainnet.regularizers.Regularizer or a function fn(weight) -> "
            f"scalar. Fix: {f'{argument}={fix}' if argument else fix}."
        )
    raise ValueError(
        f"{argument or 'regularizer'}: expected None, 'l1', 'l2', 'l1_l2', a Regularizer or a function, "
        f"got {identifier!r}. Fix: {argument or 'kernel_regularizer'}=brainnet.regularizers.L2(1e-4)."
    )


def serialize(regularizer: Any) -> dict[str, Any] | None:
    """``{"class_name": ..., "config": ...}`` for saving, or None.

    Raises:
        ValueError: a plain function (it has no config to save), or a
            ``Regularizer`` subclass whose ``__init__`` takes arguments but
            which has no ``get_config`` of its own (as Keras 3 refuses it).
    """
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise ValueError(
            f"save: expected a brainnet.regularizers.Regularizer, got the function {regularizer!r}, "
            "which cannot be written to a file. Fix: subclass Regularizer with get_config() and "
            "decorate it with @brainnet.saving.register_serializable()."
        )
    cls = type(regularizer)
    if cls.get_config is Regularizer.get_config and cls.__init__ is not object.__init__:
        args = [n for n in inspect.signature(cls.__init__).parameters if n != "self"]
        config = "{" + ", ".join(f"{n!r}: self.{n}" for n in args) + "}"
        raise ValueError(  # Keras 3's base get_config refuses too: {} could not make this regularizer again
            f"save: expected the regularizer {cls.__name__} to define get_config() returning its constructor "
            f"arguments, got a subclass that keeps the base class's, which knows none of them. Fix: def "
            f"get_config(self): return {config}, with @brainnet.saving.register_serializable() on the class."
        )
    from . import _registry

    name = _registry.registered_name(cls) or cls.__name__
    return {"class_name": name, "config": regularizer.get_config()}


def weight_penalties(layer: Any, regularized: dict[str, Any]) -> list[Tensor]:
    """``R(w)`` for each ``weight name → regularizer`` of ``layer`` whose
    weight exists (built) and is trainable (Keras 3 skips frozen weights)."""
    out = []
    for name, reg in regularized.items():
        weight = getattr(layer, name, None)
        if reg is not None and isinstance(weight, torch.nn.Parameter) and weight.requires_grad:
            out.append(reg(weight))
    return out


def config_of(layer: Any, *kinds: str) -> dict[str, Any]:
    """``{"<kind>_regularizer": serialize(...)}`` for ``get_config`` (kinds such
    as ``"kernel"``, ``"bias"``, ``"activity"``), for the regularizers that are
    set (an absent key means None, the default, so configs without
    regularization stay as they were)."""
    regs = {k: getattr(layer, f"{k}_regularizer") for k in kinds}
    return {f"{k}_regularizer": serialize(r) for k, r in regs.items() if r is not None}
