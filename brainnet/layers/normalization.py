"""Normalization layers: BatchNormalization, LayerNormalization.

GroupNormalization and UnitNormalization (a sample's values alone, no batch
statistics and no learned axis layout) are in ``group_normalization.py`` and
re-exported here, as before."""

from __future__ import annotations

import numbers
from typing import Any

import torch
import torch.nn.functional as F

from .. import initializers, regularizers
from .base import Layer, Shape, shape_str


def _is_number(value: Any) -> bool:
    """A real number, not a bool (``True`` is an int to Python) nor a string."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_BN_WEIGHTS = ("beta", "gamma", "moving_mean", "moving_variance")


def _take_initializers(layer: Layer, args: dict[str, Any], weights: tuple[str, ...]) -> None:
    """Set and check ``<w>_initializer`` of each weight from the constructor's ``args``."""
    for w in weights:
        arg = f"{w}_initializer"
        setattr(layer, arg, initializers.layer_initializer(type(layer).__name__, arg, args[arg]))


class BatchNormalization(Layer):
    """Normalizes each feature (channel) over the batch, then scales and shifts.

    Equations, per feature ``c`` (the last axis)::

        training:  μ_B = mean(x),  σ²_B = var(x)  over all axes but the last
                   y = γ · (x − μ_B) / √(σ²_B + ε) + β
                   moving_mean ← m · moving_mean + (1 − m) · μ_B
                   moving_var  ← m · moving_var  + (1 − m) · σ²_B · n/(n − 1)
        inference: y = γ · (x − moving_mean) / √(moving_var + ε) + β

    with ``n`` the number of values averaged per feature (a training batch
    with one value per feature uses σ²_B = 0 in both). The moving variance
    uses the unbiased batch variance (PyTorch's fused kernel; Keras uses the
    biased one, a difference of n/(n − 1)). Given a time-step mask
    (``(batch, time)`` booleans, e.g. from ``Embedding(mask_zero=True)``),
    training takes μ_B and σ²_B over the real steps only, as Keras does, and
    the mask passes on. A frozen layer (``trainable = False``) always
    computes the inference equation and leaves its statistics alone, as in
    Keras 3: fine-tuning a model keeps the statistics it learned.

    Args:
        axis: the feature axis: ``-1`` (channels last, Keras's default), or
            the last axis's index (``axis=3`` for ``(N, H, W, C)`` images).
        momentum: ``m``, default 0.99 (Keras's convention: the weight of the
            old value; PyTorch's ``momentum`` is ``1 − m``).
        epsilon: ``ε``, default 1e-3.
        center: learn ``β`` (default True); scale: learn ``γ`` (default True).
        beta_initializer, gamma_initializer, moving_mean_initializer,
            moving_variance_initializer: their first values
            (``brainnet.initializers``; defaults ``"zeros"``, ``"ones"``,
            ``"zeros"``, ``"ones"``, as Keras).
        beta_regularizer: penalty on ``β``, e.g. ``"l2"``: adds ``R(β)`` to the
            loss (default None); gamma_regularizer: on ``γ``, adds ``R(γ)``
            (see ``brainnet.regularizers``; in ``model.losses``).

    Input shape: ``(batch, ..., features)``, rank ≥ 2. Output shape: same.

    Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance`` (non-trainable).
    """

    equation = "y = γ·(x − μ_B)/√(σ²_B + ε) + β"
    min_rank = 2
    supports_masking = True
    fixed_axes = (-1,)
    rank_hint = "(batch, ..., features)"

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _take_initializers(self, locals(), _BN_WEIGHTS)
        if axis != -1 and not (isinstance(axis, int) and not isinstance(axis, bool) and axis >= 1):
            raise ValueError(
                f"BatchNormalization: expected axis=-1 (brainnet keeps features/channels "
                f"last), got axis={axis!r}. Fix: BatchNormalization() with inputs shaped "
                "(batch, ..., channels)."
            )
        if not _is_number(momentum) or not 0.0 <= momentum <= 1.0:
            raise ValueError(
                f"BatchNormalization: expected momentum in [0, 1], got {momentum!r}. "
                "Fix: momentum=0.99 (the Keras default)."
            )
        if not _is_number(epsilon) or not epsilon > 0:
            raise ValueError(
                f"BatchNormalization: expected epsilon > 0, got {epsilon!r}. Fix: epsilon=1e-3."
            )
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_regularizer = regularizers.get(beta_regularizer, argument="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, argument="gamma_regularizer")

    def build(self, input_shape: Shape) -> None:
        if self.axis != -1 and self.axis != len(input_shape) - 1:  # axis=3 is -1 for (N, H, W, C), as in Keras
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): expected axis=-1 or the index of the last axis "
                f"({len(input_shape) - 1} for inputs of shape {shape_str(tuple(input_shape))}; brainnet keeps "
                f"features/channels last), got axis={self.axis}. Fix: BatchNormalization() with inputs shaped "
                "(batch, ..., channels)."
            )
        c = (input_shape[-1],)
        self.gamma = self.add_weight("gamma", self.initial_value("gamma", c)) if self.scale else None
        self.beta = self.add_weight("beta", self.initial_value("beta", c)) if self.center else None
        self.add_weight("moving_mean", self.initial_value("moving_mean", c), trainable=False)
        self.add_weight("moving_variance", self.initial_value("moving_variance", c), trainable=False)

    def call(self, inputs: torch.Tensor, training: bool | None = None,
             mask: torch.Tensor | None = None) -> torch.Tensor:
        # Keras 3: a frozen BatchNormalization (trainable=False) runs in inference mode.
        training = bool(training) and self.trainable
        if training and mask is not None:
            return self._masked_batch(inputs, mask)
        if training and inputs.numel() == inputs.shape[-1]:
            return self._one_value_per_feature(inputs)
        x = inputs.movedim(-1, 1)  # (B, C, ...): a view; channels-last memory for images
        y = F.batch_norm(
            x,
            self.moving_mean,
            self.moving_variance,
            self.gamma,
            self.beta,
            training=bool(training),
            momentum=1.0 - self.momentum,
            eps=self.epsilon,
        )
        return y.movedim(1, -1)  # (B, ..., C)

    def _masked_batch(self, inputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Training with a time-step mask: μ_B, σ²_B over the real steps (Keras's rule;
        its 1e-7 keeps an all-masked batch finite), every step normalized with them."""
        mask = torch.as_tensor(mask, device=inputs.device)
        if mask.ndim != inputs.ndim - 1:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization): expected a mask of one axis fewer than the inputs "
                f"{shape_str(tuple(inputs.shape))}, got one of shape {shape_str(tuple(mask.shape))}. "
                "Fix: a (batch, time) mask for (batch, time, features) inputs, e.g. tokens != 0."
            )
        axes = tuple(range(inputs.ndim - 1))
        weight = mask.to(inputs.dtype).unsqueeze(-1)  # (B, ..., 1)
        n = weight.sum(dim=axes)  # real steps (each feature the same)
        mean = (inputs * weight).sum(dim=axes) / (n + 1e-7)  # (C,)
        var = ((inputs - mean) ** 2 * weight).sum(dim=axes) / (n + 1e-7)
        with torch.no_grad():
            unbiased = torch.where(n > 1, var * n / (n - 1).clamp(min=1), var)  # as the fused kernel's
            self.moving_mean.mul_(self.momentum).add_(mean.detach(), alpha=1.0 - self.momentum)
            self.moving_variance.mul_(self.momentum).add_(unbiased.detach(), alpha=1.0 - self.momentum)
        y = (inputs - mean) / torch.sqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y

    def _one_value_per_feature(self, inputs: torch.Tensor) -> torch.Tensor:
        """Training on a batch of one value per feature (e.g. a last batch of 1):
        μ_B = x and σ²_B = 0, as Keras does (PyTorch's kernel refuses it)."""
        x = inputs.reshape(-1)  # (C,)
        with torch.no_grad():
            self.moving_mean.mul_(self.momentum).add_(x.detach(), alpha=1.0 - self.momentum)
            self.moving_variance.mul_(self.momentum)
        y = (x - x) / (self.epsilon ** 0.5)  # zero, but keeps the gradient path to x
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y.reshape(inputs.shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **initializers.config_of(self, *_BN_WEIGHTS),
            **regularizers.config_of(self, "beta", "gamma"),
        }

    def weight_regularizers(self) -> dict[str, Any]:
        return {"gamma": self.gamma_regularizer, "beta": self.beta_regularizer}


class LayerNormalization(Layer):
    """Normalizes each sample over its feature axis, then scales and shifts.

    Equation, for each sample (and each time step) over the normalized axes::

        μ = mean(x),  σ² = mean((x − μ)²)   (biased)
        y = γ · (x − μ) / √(σ² + ε) + β

    Unlike BatchNormalization it uses no batch statistics, so training and
    inference compute the same thing (the Transformer's normalization).

    Args:
        axis: the axis to normalize (default ``-1``), or a list of trailing
            axes (e.g. ``[-2, -1]``), normalized together.
        epsilon: ``ε``, default 1e-3 (Keras's default; keras_hub's
            Transformer layers pass 1e-5).
        center: learn ``β`` (default True); scale: learn ``γ`` (default True).
        beta_initializer, gamma_initializer: first values of ``β`` and ``γ``
            (``brainnet.initializers``; defaults ``"zeros"``, ``"ones"``).
        beta_regularizer: penalty on ``β``, e.g. ``"l2"``: adds ``R(β)`` to the
            loss (default None); gamma_regularizer: on ``γ``, adds ``R(γ)``
            (see ``brainnet.regularizers``; in ``model.losses``).

    Input shape: ``(batch, ..., features)``, rank ≥ 2. Output shape: same.

    Weights: ``gamma`` and ``beta``, shaped like the normalized axes.

    Raises:
        ValueError: epsilon ≤ 0, or axes that are not trailing axes of the input.

    Example:
        >>> import torch
        >>> LayerNormalization()(torch.randn(2, 5, 8)).shape
        torch.Size([2, 5, 8])
    """

    equation = "y = γ·(x − μ)/√(σ² + ε) + β  (μ, σ² over each sample's features)"
    supports_masking = True  # each step is normalised alone: a time-step mask passes on (Keras)
    min_rank = 2
    rank_hint = "(batch, ..., features)"

    def __init__(
        self,
        axis: int | list[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _take_initializers(self, locals(), ("beta", "gamma"))
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError(
                f"LayerNormalization: expected axis to be an int or a list of ints, got {axis!r}. "
                "Fix: LayerNormalization(axis=-1)."
            )
        if not _is_number(epsilon) or not epsilon > 0:
            raise ValueError(
                f"LayerNormalization: expected epsilon > 0, got {epsilon!r}. Fix: epsilon=1e-3."
            )
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else axis
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_regularizer = regularizers.get(beta_regularizer, argument="beta_regularizer")
        self.gamma_regularizer = regularizers.get(gamma_regularizer, argument="gamma_regularizer")

    def build(self, input_shape: Shape) -> None:
        rank = len(input_shape)
        given = self.axis if isinstance(self.axis, list) else [self.axis]
        axes = sorted({a % rank for a in given})
        trailing = axes == list(range(rank - len(axes), rank)) and 0 not in axes
        if not trailing or any(not -rank <= a < rank for a in given):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) normalizes trailing feature axes of the "
                f"input; got axis={self.axis!r} for inputs of shape {shape_str(input_shape)}. "
                "Fix: axis=-1 (or a list of the last axes, e.g. [-2, -1]); move other axes last first."
            )
        self.fixed_axes = tuple(axes)
        self._normalized_shape = tuple(input_shape[a] for a in axes)
        shape = self._normalized_shape
        self.gamma = self.add_weight("gamma", self.initial_value("gamma", shape)) if self.scale else None
        self.beta = self.add_weight("beta", self.initial_value("beta", shape)) if self.center else None

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(inputs, self._normalized_shape, self.gamma, self.beta, self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            **initializers.config_of(self, "beta", "gamma"),
            **regularizers.config_of(self, "beta", "gamma"),
        }

    def weight_regularizers(self) -> dict[str, Any]:
        return {"gamma": self.gamma_regularizer, "beta": self.beta_regularizer}


# Re-exported from their own module (which takes the helpers above), so that
# brainnet.layers.normalization still names every normalization layer.
from .group_normalization import GroupNormalization, UnitNormalization  # noqa: E402

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization"]
