"""Keras 3's ``keras.layers.serialize`` and ``keras.layers.deserialize``:
a layer as the JSON-safe spec that model files hold, and back.

They are ``brainnet.saving.serialize_keras_object`` and
``deserialize_keras_object`` for layers; ``deserialize`` also checks that
what it rebuilt is a layer, as Keras's does.
"""

from __future__ import annotations

from typing import Any

from .base import Layer


def serialize(layer: Layer) -> dict[str, Any]:
    """The layer's spec, ``{"module", "class_name", "config"}``: its class
    (a registered class under its ``"package>Name"``) and ``get_config()``,
    with any layer, regularizer, initializer or function inside the config
    serialized in turn (Keras 3's ``keras.layers.serialize``).

    Raises:
        TypeError: ``layer`` is not a layer.

    Example:
        >>> from brainnet.layers import Dense
        >>> spec = serialize(Dense(3, name="d"))
        >>> spec["module"], spec["class_name"], spec["config"]["units"]
        ('brainnet.layers', 'Dense', 3)
    """
    from .._serialization import serialize_keras_object

    if not isinstance(layer, Layer):
        raise TypeError(
            f"layers.serialize: expected a brainnet layer, got {type(layer).__name__}. Fix: pass a layer "
            "(layers.serialize(Dense(3))), or brainnet.saving.serialize_keras_object(obj) for other objects."
        )
    return serialize_keras_object(layer)


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Layer:
    """The layer ``serialize`` described, rebuilt from its config (Keras 3's
    ``keras.layers.deserialize``); your own classes are found through
    ``custom_objects``, a ``custom_object_scope`` or the registry.

    Raises:
        ValueError: the spec names no layer (another object, or an unknown class).

    Example:
        >>> from brainnet.layers import Dense
        >>> deserialize(serialize(Dense(3, name="d"))).units
        3
    """
    from .._serialization import deserialize_keras_object

    layer = deserialize_keras_object(config, custom_objects)
    if not isinstance(layer, Layer):
        raise ValueError(
            f"layers.deserialize: expected the spec of a layer, got one that gives {type(layer).__name__} "
            f"({config!r:.100}). Fix: pass what layers.serialize(layer) returned, or use "
            "brainnet.saving.deserialize_keras_object for other objects."
        )
    return layer
