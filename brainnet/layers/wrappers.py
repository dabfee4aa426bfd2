"""Wrappers: layers that apply another layer in a new way (TimeDistributed).

(``Bidirectional``, also a wrapper in Keras, lives with the recurrent family, in
``bidirectional.py``.)
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape, shape_str


class TimeDistributed(Layer):
    """Applies one layer to every time step, with the same weights.

    Equation::

        y[n, t] = layer(x[n, t])   for every t

    Args:
        layer: a brainnet layer (e.g. ``Dense(10)``, or ``Conv2D`` for a
            sequence of images).

    Input shape: ``(batch, time, ...)``.
    Output shape: ``(batch, time, *layer_output[1:])``.

    Raises:
        TypeError: ``layer`` is not a brainnet layer.
    """

    equation = "y[n, t] = layer(x[n, t]) for every t"
    min_rank = 3
    rank_hint = "(batch, time, ...)"
    rank_fix = "give sequences as (N, T, ...)"
    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(
                f"TimeDistributed: expected a brainnet layer instance, got {type(layer).__name__}. "
                "Fix: TimeDistributed(Dense(10))."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from_shape((None,) + tuple(input_shape[2:]))

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        b, t = inputs.shape[:2]
        y = self.layer(inputs.reshape((b * t,) + tuple(inputs.shape[2:])), training=training)  # (B·T, ...)
        return y.reshape((b, t) + tuple(y.shape[1:]))  # (B, T, ...)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        return {
            **super().get_config(),
            "layer": _registry.serialize(self.layer, "layer"),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TimeDistributed":
        from .. import _registry

        config = dict(config)
        return cls(_registry.deserialize(config.pop("layer"), "layer"), **config)

    def extra_repr(self) -> str:
        built = shape_str(self.built_input_shape) if self.built_input_shape else "?"
        return f"name={self.name!r}, input={built}"
