"""Layers that pass their input on: Masking (marks padded time steps),
Identity, ActivityRegularization (adds a penalty on the values)."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from .. import regularizers
from .base import Layer


class Masking(Layer):
    """Marks the time steps whose features all equal ``mask_value`` as padding,
    so the recurrent layers after it skip them (as after
    ``Embedding(mask_zero=True)``).

    Equation (per sample n and time step t; Keras 3 also zeroes the masked steps)::

        m[n, t] = any_f (x[n, t, f] ≠ mask_value)
        y[n, t, f] = x[n, t, f] · m[n, t]

    The mask ``m`` (True = a real step) goes to the next layers that take
    ``mask`` (LSTM, GRU, SimpleRNN, Bidirectional, GlobalAveragePooling1D,
    attention), in Sequential and functional models alike.

    Args:
        mask_value: the padding value (default 0.0).

    Input shape: ``(batch, time, features)`` (or more axes: the mask is over
    all but the last). Output shape: same.

    Example:
        >>> import torch
        >>> x = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])
        >>> Masking().compute_mask(x, None).tolist()
        [[True, False]]
    """

    equation = "m[n, t] = any_f(x[n, t, f] ≠ mask_value), y = x·m"
    supports_masking = True
    min_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = "give sequences as (N, T, F) (one feature per step: x[..., None])"

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(
                f"Masking: expected mask_value to be a number, got {mask_value!r}. "
                "Fix: Masking(mask_value=0.0), the value your padding uses (pad_sequences pads with 0)."
            )
        self.mask_value = float(mask_value)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        keep = (inputs != self.mask_value).any(dim=-1, keepdim=True)  # (B, T, 1)
        return inputs * keep.to(inputs.dtype)

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> torch.Tensor:
        x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return (x != self.mask_value).any(dim=-1)  # (B, T)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


class Identity(Layer):
    """Returns its input unchanged (a placeholder, e.g. an optional block switched off).

    Equation::

        y = x

    Input shape: any. Output shape: same.

    Example:
        >>> import torch
        >>> Identity()(torch.ones(2, 3)).shape
        torch.Size([2, 3])
    """

    equation = "y = x"
    supports_masking = True

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs


class ActivityRegularization(Layer):
    """Passes its input on and adds a penalty on it to the training loss
    (``model.losses``), as ``activity_regularizer=`` does on other layers.

    Equation (the penalty is over the whole batch, not divided by its size, as Keras 3)::

        y = x
        R = l1 · Σ |x| + l2 · Σ x²

    Args:
        l1: L1 factor ≥ 0 (default 0.0); l2: L2 factor ≥ 0 (default 0.0).

    Input shape: any. Output shape: same.

    Example:
        >>> import torch
        >>> layer = ActivityRegularization(l1=0.5)
        >>> _ = layer(torch.tensor([[1.0, -2.0]]))
        >>> layer.losses[0].item()
        1.5
    """

    equation = "y = x; R = l1·Σ|x| + l2·Σx²"
    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.l1 = regularizers._factor("ActivityRegularization", "l1", l1)
        self.l2 = regularizers._factor("ActivityRegularization", "l2", l2)
        self.activity_regularizer = regularizers.L1L2(l1=self.l1, l2=self.l2)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "l1": self.l1, "l2": self.l2}
