"""Saving and loading, by Keras name: ``load_model``, ``save_model`` and the
decorator that lets files name your own classes.

    @brainnet.saving.register_serializable()
    class Scale(brainnet.layers.Layer): ...

    model.save("model.brainnet")
    model = brainnet.saving.load_model("model.brainnet")

The file format is described in ``brainnet.models._archive``. Keras 3's
serialization utilities (``custom_object_scope``, ``get_custom_objects``,
``get_registered_object``, ``get_registered_name``, ``serialize_keras_object``,
``deserialize_keras_object``) live in ``brainnet._serialization``.
"""

from ._registry import register_keras_serializable, register_serializable
from ._serialization import (CustomObjectScope, custom_object_scope, deserialize_keras_object, get_custom_objects,
                             get_registered_name, get_registered_object, serialize_keras_object)
from .models.saving import load_model, save_model

__all__ = ["load_model", "save_model", "register_serializable", "register_keras_serializable", "custom_object_scope",
           "CustomObjectScope", "get_custom_objects", "get_registered_object", "get_registered_name",
           "serialize_keras_object", "deserialize_keras_object"]
