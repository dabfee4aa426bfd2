"""Wrappers: layers that apply another layer in a new way. ``Wrapper``, their
base class as in Keras 3 (it holds the layer, builds it and saves it in the
config), and ``TimeDistributed``.

(``Bidirectional``, also a wrapper in Keras, lives with the recurrent family, in
``bidirectional.py``; it wraps two layers, so, as in Keras 3, it is a plain Layer.)
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer, Shape, shape_str


class Wrapper(Layer):
    """Base class of the layers that take another layer and apply it in a new
    way (``TimeDistributed``, or your own); not a layer to use by itself.

    Equation (what a subclass's ``call`` makes of the wrapped layer ``f``)::

        y = g(f, x)        e.g. TimeDistributed: y[n, t] = f(x[n, t])

    It keeps the layer as ``self.layer`` (its weights are the wrapper's),
    builds it for the wrapper's input shape unless the subclass's ``build``
    says otherwise, and saves it in ``get_config()`` (``from_config`` rebuilds
    it), so a subclass only writes ``call`` and, when its input differs from
    the layer's, ``build`` and ``compute_output_shape``.

    Args:
        layer: the brainnet layer to wrap.
        **kwargs: ``name``, ``input_shape``, ``trainable``.

    Input shape / Output shape: the subclass's (by default the layer's input,
    and the input's shape).

    Raises:
        TypeError: ``layer`` is not a brainnet layer instance.

    Example:
        >>> import torch
        >>> from brainnet.layers import Dense
        >>> class Residual(Wrapper):  # y = x + f(x)
        ...     def call(self, inputs):
        ...         return inputs + self.layer(inputs)
        >>> Residual(Dense(4))(torch.ones(2, 4)).shape
        torch.Size([2, 4])
    """

    casts_integer_inputs = False  # the wrapped layer decides (TimeDistributed(Embedding) keeps ids)

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            cls = type(self).__name__
            got = f"the class {layer.__name__}" if isinstance(layer, type) else type(layer).__name__
            raise TypeError(
                f"{cls}: expected a brainnet layer instance, got {got}. Fix: {cls}(Dense(10))."
            )
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        from .. import _registry

        return {**super().get_config(), "layer": _registry.serialize(self.layer, "layer")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Wrapper":
        from .. import _registry

        config = dict(config)
        return cls(_registry.deserialize(config.pop("layer"), "layer"), **config)


class TimeDistributed(Wrapper):
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

    def build(self, input_shape: Shape) -> None:
        self.layer.build_from_shape((None,) + tuple(input_shape[2:]))  # one time step

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        b, t = inputs.shape[:2]
        y = self.layer(inputs.reshape((b * t,) + tuple(inputs.shape[2:])), training=training)  # (B·T, ...)
        return y.reshape((b, t) + tuple(y.shape[1:]))  # (B, T, ...)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        inner = self.layer.compute_output_shape((None,) + tuple(input_shape[2:]))
        return tuple(input_shape[:2]) + tuple(inner[1:])

    def extra_repr(self) -> str:
        built = shape_str(self.built_input_shape) if self.built_input_shape else "?"
        return f"name={self.name!r}, input={built}"
