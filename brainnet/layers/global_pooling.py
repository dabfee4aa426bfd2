"""Global pooling over sequences and images: GlobalAveragePooling1D,
GlobalMaxPooling1D, GlobalAveragePooling2D, GlobalMaxPooling2D, Keras's short
names for them (GlobalAvgPool1D, GlobalMaxPool1D, GlobalAvgPool2D,
GlobalMaxPool2D), and ``GlobalPooling``, the arguments and shapes they share
with the volume ones of ``pooling3d.py``."""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape, shape_str
from .pooling import SEQUENCE_FIX


class GlobalPooling(Layer):
    """Shared ``data_format``, ``keepdims``, shapes and config of the global
    poolings: they reduce every axis between the batch and the channels
    (``dims`` of them: 1 for sequences, 2 for images, 3 for volumes in
    ``pooling3d.py``). ``data_format`` is Keras 3's argument, channels last
    only: ``"channels_last"`` or None (the default, the same)."""

    dims = 2
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = _channels_last(type(self).__name__, data_format, self.dims)
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, channels = input_shape[0], input_shape[self.dims + 1]
        return (batch, *(1,) * self.dims, channels) if self.keepdims else (batch, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


def _channels_last(layer: str, data_format: Any, dims: int) -> str:
    """Keras 3's ``data_format``: brainnet's layers are channels last, so that one (or None)."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    if data_format == "channels_first":
        axes = ", ".join(str(i) for i in range(2, dims + 2))
        fix = (f"leave data_format out and put the channels last first: layers.Permute(({axes}, 1)) before "
               f"{layer} (brainnet's layers are channels last)")
    else:
        fix = "data_format='channels_last', or leave it out"
    raise ValueError(f"{layer}: expected data_format 'channels_last' or None, got {data_format!r}. Fix: {fix}.")


class GlobalAveragePooling2D(GlobalPooling):
    """Averages each channel over all positions.

    Equation::

        y[n, c] = (1/(H·W)) Σ_{i,j} x[n, i, j, c]

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the height and width axes, of size 1 (default False).

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalAveragePooling2D(keepdims=True)(torch.ones(2, 5, 5, 8)).shape
        torch.Size([2, 1, 1, 8])
    """

    equation = "y[n, c] = (1/(H·W)) Σ_{i,j} x[n, i, j, c]"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.mean(dim=(1, 2), keepdim=self.keepdims)


class GlobalMaxPooling2D(GlobalPooling):
    """Keeps the largest value of each channel over all positions.

    Equation::

        y[n, c] = max_{i,j} x[n, i, j, c]

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the height and width axes, of size 1 (default False).

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalMaxPooling2D()(torch.ones(2, 5, 5, 8)).shape
        torch.Size([2, 8])
    """

    equation = "y[n, c] = max_{i,j} x[n, i, j, c]"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=(1, 2), keepdim=self.keepdims)


class GlobalAveragePooling1D(GlobalPooling):
    """Averages each feature over the time steps (only the real ones under a mask).

    Equation::

        y[n, c] = Σ_t m[n, t] · x[n, t, c] / Σ_t m[n, t]

    with ``m`` the mask (all ones without one; a sequence whose steps are all
    masked gives zeros).

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the time axis, of size 1 (default False).

    Input shape: ``(batch, time, features)``, and an optional mask ``(batch, time)``.
    Output shape: ``(batch, features)``, or ``(batch, 1, features)`` with ``keepdims=True``.

    Raises:
        ValueError: input of rank other than 3, no time steps, or a mask of another shape.

    Example:
        >>> import torch
        >>> GlobalAveragePooling1D(keepdims=True)(torch.ones(2, 10, 4)).shape
        torch.Size([2, 1, 4])
    """

    equation = "y[n, c] = Σ_t m_t·x[n, t, c] / Σ_t m_t"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)
    dims = 1
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = SEQUENCE_FIX
    supports_masking = True

    def call(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return inputs.mean(dim=1, keepdim=self.keepdims)
        if tuple(mask.shape) != tuple(inputs.shape[:2]):
            raise ValueError(
                f"Layer '{self.name}' (GlobalAveragePooling1D): expected a mask of shape (batch, time) = "
                f"{shape_str(inputs.shape[:2])} (True = real step), got {shape_str(mask.shape)}. "
                "Fix: mask = tokens != 0 for the same batch, or let Embedding(mask_zero=True) make it."
            )
        m = mask.to(inputs.dtype).unsqueeze(-1)  # (B, T, 1)
        total = (inputs * m).sum(1, keepdim=self.keepdims)  # (B, C) or (B, 1, C)
        return total / m.sum(1, keepdim=self.keepdims).clamp_min(1.0)

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> None:
        return None


class GlobalMaxPooling1D(GlobalPooling):
    """Keeps the largest value of each feature over the time steps.

    Equation::

        y[n, c] = max_t x[n, t, c]

    Args:
        data_format: ``"channels_last"`` or None (the same; channels first is refused).
        keepdims: keep the time axis, of size 1 (default False).

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, features)``, or ``(batch, 1, features)`` with ``keepdims=True``.

    Example:
        >>> import torch
        >>> GlobalMaxPooling1D()(torch.ones(2, 10, 4)).shape
        torch.Size([2, 4])
    """

    equation = "y[n, c] = max_t x[n, t, c]"
    dims = 1
    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = SEQUENCE_FIX

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.amax(dim=1, keepdim=self.keepdims)


# Keras's shorter names for the same classes (a saved file names the long one).
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
