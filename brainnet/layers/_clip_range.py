"""Say once when images reach a clipping augmentation outside its ``value_range``.

``RandomContrast`` clips its result to ``value_range``, (0, 255) unless given,
as Keras 3 does (silently). Placed after ``Normalization`` (the EANet
example's pipeline), every pixel below the mean becomes 0, in training only:
the model then trains on other images than it is evaluated on. The first
training batch that is not blank is looked at, once per layer; a warning
gives the fix.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch


def warn_once_outside(layer: Any, x: torch.Tensor) -> None:
    """Warn (once per layer) when the first non-blank batch's pixels fall outside ``layer.value_range``."""
    if layer.__dict__.get("_range_looked_at") or (x.is_cuda and torch.cuda.is_current_stream_capturing()):
        return
    low, high = layer.value_range
    seen_low, seen_high = float(x.detach().amin()), float(x.detach().amax())
    if seen_low == seen_high:  # a blank batch (the zeros that find a model's shapes) says nothing: look again
        return
    layer.__dict__["_range_looked_at"] = True
    span = high - low
    if seen_low < low - 1e-5 * span or seen_high > high + 1e-5 * span:  # any pixel the clip would move
        name = type(layer).__name__
        warnings.warn(
            f"Layer '{layer.name}' ({name}): expected pixels within its value_range ({low:g}, {high:g}), got values "
            f"from {seen_low:.3g} to {seen_high:.3g}; its result is clipped to value_range, in training only, so "
            f"the model would train on other pixels than it predicts on. Fix: {name}(..., value_range=(low, high)) "
            "with your pixels' range (after Normalization: (0 - mean) / std to (255 - mean) / std), or place the "
            "layer before Normalization.",
            UserWarning, stacklevel=4,
        )
