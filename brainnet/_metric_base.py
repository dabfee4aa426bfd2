"""The base of every metric, ``Metric`` (re-exported by ``brainnet.metrics``):
a weighted mean of per-sample values kept as a running total on the device,
or, written the Keras 3 way, state in ``Variable``s from ``add_variable``.

The total is a float64 scalar tensor changed in place (``add_``, ``zero_``),
so updating never waits for the GPU and a training step captured as a CUDA
graph keeps adding to the same tensor; the count is a Python number, or
Σ w (a tensor) with sample weights. ``result_number`` reads a result for the
logs. Beside them: ``_weights`` (sample weights as a tensor) and ``_whole``
(the integer argument check that the top-k, confusion and AUC metrics share).
"""

from __future__ import annotations

from typing import Any

import torch

from ._loss_base import _as_tensors, _snake_case, _tensor
from ._metric_variable import Variable

Tensor = torch.Tensor


def _weights(sample_weight: Tensor, device: torch.device) -> Tensor:
    """Sample weights as a tensor on ``device`` (a user may pass an array or a list)."""
    return sample_weight if isinstance(sample_weight, Tensor) else _tensor(sample_weight, device)


class Metric:
    """Base class: a weighted mean of per-sample values ``values(y_true, y_pred)``.

    A metric of your own may instead, as in Keras 3, keep its state in
    variables from ``add_variable`` and override ``update_state``,
    ``result`` (a number, tensor or ``Variable``) and, if need be,
    ``reset_state``. ``name`` defaults to the class's name in snake_case;
    ``dtype`` is taken for Keras's signature and unused.

    ``argmax_invariant`` marks metrics that give the same result on logits
    as on softmax probabilities (so training can skip the softmax).
    """

    argmax_invariant = False

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or _snake_case(type(self).__name__)
        self.total: Tensor | float = 0.0
        self.count: Tensor | float = 0.0
        self.variables: list[Variable] = []

    def add_variable(self, shape: tuple[int, ...] = (), initializer: Any = "zeros", dtype: Any = None,
                     aggregation: str = "sum", name: str | None = None) -> Variable:
        """A state variable for a subclass's own ``update_state`` / ``result``
        (Keras 3's way of writing a metric); ``reset_state`` zeroes it.

        Args:
            shape: its shape (default a scalar).
            initializer: ``"zeros"``, ``"ones"``, another initializer name or
                a ``brainnet.initializers`` object.
            dtype: a torch dtype or its name (default float32).
            aggregation: kept for Keras's signature (one process sums nothing).
            name: its name.

        Example:
            >>> class Count(Metric):
            ...     def __init__(self, name="count"):
            ...         super().__init__(name=name)
            ...         self.n = self.add_variable(shape=(), initializer="zeros", name="n")
            ...     def update_state(self, y_true, y_pred, sample_weight=None):
            ...         self.n.assign_add(len(y_true))
            ...     def result(self):
            ...         return self.n
        """
        from . import initializers

        torch_dtype = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype or torch.float32
        if not isinstance(torch_dtype, torch.dtype):
            raise ValueError(
                f"{type(self).__name__}.add_variable: expected dtype None, a torch dtype or its name, got {dtype!r}. "
                "Fix: dtype='float32' (or 'int64', torch.float64, ...)."
            )
        init = initializers.get(initializer)
        value = init(tuple(shape), dtype=torch_dtype) if init is not None else torch.zeros(tuple(shape))
        variable = Variable(value.to(torch_dtype), name or f"variable_{len(self.variables)}")
        self.variables.append(variable)
        return variable

    def add_weight(self, shape: tuple[int, ...] = (), initializer: Any = "zeros", dtype: Any = None,
                   name: str | None = None) -> Variable:
        """``add_variable`` under its other Keras name."""
        return self.add_variable(shape, initializer, dtype, name=name)

    def values(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def update_state(self, y_true: Tensor, y_pred: Tensor, sample_weight: Tensor | None = None) -> None:
        """Add a batch: its values, or (``sample_weight``, one per sample)
        Σ_i w_i · mean(values of sample i) to the total and Σ_i w_i to the count
        (a weight per value, shape (N, T): Σ w·v and Σ w).
        Each argument may be a tensor, a NumPy array or a list (as in Keras)."""
        y_true, y_pred = _as_tensors(y_true, y_pred)
        v = self.values(y_true, y_pred).detach()
        if sample_weight is None:
            self._add(v.sum(dtype=torch.float64), v.numel())
            return
        w = _weights(sample_weight, v.device).detach().to(torch.float64)
        if w.dim() > 1 and w.numel() == v.numel() and w.numel() != v.shape[0]:  # a weight per value (N, T)
            w = w.reshape(v.shape)
            self._add((v.to(torch.float64) * w).sum(), w.sum())
            return
        per_sample = v.reshape(v.shape[0], -1).to(torch.float64).mean(1)  # (N,)
        w = w.reshape(-1)
        self._add((per_sample * w).sum(), w.sum())

    def _add(self, total: Tensor, count: float) -> None:
        """``total += total``, in place once the total is a float64 tensor on
        ``total``'s device (the first update makes it one); ``count += count``."""
        own = self._updatable_total()
        if own is not None and own.device == total.device:
            own.add_(total)
        else:  # a number (0 after a reset), or a total set from elsewhere: a new tensor of our own
            self.total = total.to(torch.float64).reshape(()) + self.total
        self.count = self.count + count

    def _updatable_total(self) -> Tensor | None:
        """The total, if it is a float64 scalar tensor that may be changed in
        place here (not one made under ``torch.inference_mode`` while outside it)."""
        own = self.total
        if not isinstance(own, Tensor) or own.dtype != torch.float64 or own.dim() != 0:
            return None
        if own.is_inference() and not torch.is_inference_mode_enabled():
            return None
        return own

    def result(self) -> float:
        if not isinstance(self.count, Tensor) and self.count == 0:  # nothing seen since a reset
            return 0.0
        count = float(self.count)  # a tensor with sample weights: Σ w, which may be 0
        return float(self.total) / count if count else 0.0

    def reset_state(self) -> None:
        """Start over: the total is zeroed in place (it keeps its tensor), the
        count is 0, and so is each variable of ``add_variable``."""
        for variable in self.variables:
            variable.assign(0)
        own = self._updatable_total()
        if own is not None:
            own.zero_()
        else:
            self.total = 0.0
        self.count = 0.0

    def get_config(self) -> dict:
        """Constructor arguments (for saving a compiled model)."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def result_number(metric: Metric) -> float:
    """``metric.result()`` as a Python float for the logs (a subclass's
    ``result`` may return a tensor or a ``Variable``)."""
    value = metric.result()
    return value if isinstance(value, float) else float(value)


def _whole(cls: str, arg: str, value: object, minimum: int, optional: bool = False) -> object:
    """``value`` checked to be an integer ≥ ``minimum`` (or None when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"{cls}: expected {arg} to be an integer ≥ {minimum}{' or None' if optional else ''}, got {value!r}. "
            f"Fix: {cls}({arg}={max(minimum, 1)})."
        )
    return value
