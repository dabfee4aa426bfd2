"""Window pooling layers: MaxPooling2D, AveragePooling2D, MaxPooling1D,
AveragePooling1D, and Keras's short names for them (MaxPool2D, AvgPool2D,
MaxPool1D, AvgPool1D). The global poolings are in ``global_pooling.py``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from . import _spatial
from .base import Layer, Shape


def max_pool(x: torch.Tensor, pool_size: tuple[int, ...], strides: tuple[int, ...], padding: str) -> torch.Tensor:
    """The max over each window of a (B, *spatial, C) image or volume; "same" pads with −∞."""
    x = _spatial.channels_first(x)  # (B, C, *spatial)
    if padding == "same":
        x = _spatial.pad_same(x, pool_size, strides, float("-inf"))
    pool = F.max_pool2d if len(pool_size) == 2 else F.max_pool3d
    return _spatial.channels_last(pool(x, pool_size, strides))  # (B, *spatial', C)


def average_pool(x: torch.Tensor, pool_size: tuple[int, ...], strides: tuple[int, ...], padding: str) -> torch.Tensor:
    """The mean over each window's real cells of a (B, *spatial, C) image or volume (Keras: padding not counted)."""
    x = _spatial.channels_first(x)  # (B, C, *spatial)
    pool = F.avg_pool2d if len(pool_size) == 2 else F.avg_pool3d
    if padding == "valid":
        y = pool(x, pool_size, strides)
    else:
        total = pool(_spatial.pad_same(x, pool_size, strides), pool_size, strides)
        ones = torch.ones_like(x[:1, :1])  # (1, 1, *spatial): which positions are real
        y = total / pool(_spatial.pad_same(ones, pool_size, strides), pool_size, strides)
    # (B, *spatial', C); contiguous: torch's CPU avg_pool3d returns NCDHW memory, and a Conv3D
    # after it runs about 1.4 times slower on that view (8×4×16×16×16 into Conv3D(32, 3), 1 thread)
    return _spatial.channels_last(y).contiguous()


class WindowPooling(Layer):
    """Shared arguments and shapes of the window poolings over images
    (``dims = 2``) and volumes (``dims = 3``, ``pooling3d.py``)."""

    dims = 2
    input_rank = 4
    rank_hint = "(batch, height, width, channels)"

    def __init__(
        self,
        pool_size: int | tuple[int, ...] = 2,
        strides: int | tuple[int, ...] | None = None,
        padding: str = "valid",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = _spatial.sizes(kind, "pool_size", pool_size, self.dims)
        self.strides = self.pool_size if strides is None else _spatial.sizes(kind, "strides", strides, self.dims)
        self.padding = _spatial.check_padding(kind, padding)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the image is too small

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return _spatial.spatial_output_shape(
            self.name, tuple(input_shape), None, self.pool_size, self.strides, self.padding
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class MaxPooling2D(WindowPooling):
    """Keeps the largest value of each window, channel by channel.

    Equation::

        y[n, p, q, c] = max_{0≤u<ph, 0≤v<pw} x[n, p·s_h + u, q·s_w + v, c]

    ("same" padding pads with −∞, so padding never wins the max.)

    After a layer with ``activation="relu"`` a model pools that layer's
    pre-activation and applies the ReLU to the pooled map: the same numbers
    and gradients, with a quarter of the ReLU work for 2×2 windows
    (``brainnet/models/_fusion.py``).

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int or pair; default ``pool_size``.
        padding: "valid" or "same".

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, channels)``, new sizes as in Conv2D.

    Example:
        >>> import torch
        >>> MaxPooling2D((2, 2))(torch.ones(1, 26, 26, 32)).shape
        torch.Size([1, 13, 13, 32])
    """

    equation = "y[p, q, c] = max_{u,v} x[p·s + u, q·s + v, c]"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return max_pool(inputs, self.pool_size, self.strides, self.padding)  # (B, H', W', C)


class AveragePooling2D(WindowPooling):
    """Averages each window, channel by channel.

    Equation::

        y[n, p, q, c] = (1/|W_pq|) Σ_{(u,v) ∈ W_pq} x[n, p·s_h + u, q·s_w + v, c]

    where ``W_pq`` is the window without padded positions (Keras excludes
    padding from the average).

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int or pair; default ``pool_size``.
        padding: "valid" or "same".

    Input shape: ``(batch, height, width, channels)``.
    Output shape: ``(batch, new_height, new_width, channels)``.
    """

    equation = "y[p, q, c] = mean_{u,v} x[p·s + u, q·s + v, c]"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return average_pool(inputs, self.pool_size, self.strides, self.padding)  # (B, H', W', C)


SEQUENCE_FIX = ("give sequences as (N, T, F) (one feature per step: x[..., None] gives (N, T, 1); after "
                 "an LSTM, GRU or SimpleRNN, give that layer return_sequences=True)")


class _Pooling1D(Layer):
    """Shared arguments and shapes of the 1-D window poolings over time."""

    input_rank = 3
    rank_hint = "(batch, time, features)"
    rank_fix = SEQUENCE_FIX

    def __init__(self, pool_size: int = 2, strides: int | None = None, padding: str = "valid",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.pool_size = _positive(kind, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else _positive(kind, "strides", strides)
        self.padding = _spatial.check_padding(kind, padding)

    def build(self, input_shape: Shape) -> None:
        self.compute_output_shape(input_shape)  # raises if the sequence is too short

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        batch, steps, features = input_shape
        length = _spatial.output_length(steps, self.pool_size, self.strides, self.padding)
        if length is not None and length <= 0:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected at least {self.pool_size} time steps "
                f"for its window of {self.pool_size} with padding='valid', got {steps}. Fix: "
                "padding='same', a smaller pool_size, or longer sequences."
            )
        return (batch, length, features)

    def _padded(self, x: torch.Tensor, value: float) -> torch.Tensor:
        """``x`` as (N, C, T), padded as Keras's 'same' (the odd extra step after)."""
        x = x.transpose(1, 2)
        if self.padding == "same":
            x = F.pad(x, _spatial.same_pads(x.shape[2], self.pool_size, self.strides), value=value)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding}


def _positive(layer: str, arg: str, value: Any) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]  # Keras accepts pool_size=(2,) for the 1-D poolings
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{layer}: expected {arg} to be a positive int, got {value!r}. Fix: {arg}=2.")
    return int(value)


class MaxPooling1D(_Pooling1D):
    """Keeps the largest value of each window of time steps, feature by feature.

    Equation::

        y[n, t, c] = max_{0≤u<p} x[n, t·s + u, c]

    ("same" padding pads with −∞, so padding never wins the max.)

    Args:
        pool_size: window length, default 2.
        strides: step between windows; default ``pool_size``.
        padding: "valid" (⌊(T − p)/s⌋ + 1 outputs) or "same" (⌈T/s⌉ outputs).

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, new_time, features)``.

    Example:
        >>> import torch
        >>> MaxPooling1D(2)(torch.ones(1, 10, 4)).shape
        torch.Size([1, 5, 4])
    """

    equation = "y[t, c] = max_u x[t·s + u, c]"

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        if not inputs.is_floating_point():  # integers stay integers (as Keras); torch's max_pool1d takes floats
            low = torch.iinfo(inputs.dtype).min if inputs.dtype != torch.bool else False
            windows = self._padded(inputs, low).unfold(2, self.pool_size, self.strides)  # (B, C, T', pool)
            return windows.amax(-1).transpose(1, 2)
        return F.max_pool1d(self._padded(inputs, float("-inf")), self.pool_size, self.strides).transpose(1, 2)


class AveragePooling1D(_Pooling1D):
    """Averages each window of time steps, feature by feature.

    Equation::

        y[n, t, c] = (1/|W_t|) Σ_{u ∈ W_t} x[n, t·s + u, c]

    where ``W_t`` is the window without padded steps (Keras excludes padding
    from the average).

    Args:
        pool_size: window length, default 2.
        strides: step between windows; default ``pool_size``.
        padding: "valid" or "same".

    Input shape: ``(batch, time, features)``.
    Output shape: ``(batch, new_time, features)``.
    """

    equation = "y[t, c] = mean_u x[t·s + u, c]"
    float_math = True  # integer/bool inputs: float32 (an average is a fraction; Keras's mean promotes so)

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool1d(self._padded(inputs, 0.0), self.pool_size, self.strides)
        if self.padding == "same":
            ones = torch.ones_like(inputs[:1, :, :1])  # (1, T, 1): which steps are real
            total = total / F.avg_pool1d(self._padded(ones, 0.0), self.pool_size, self.strides)
        return total.transpose(1, 2)


# Keras's shorter names for the same classes (a saved file names the long one).
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
MaxPool1D = MaxPooling1D
AvgPool1D = AveragePooling1D
