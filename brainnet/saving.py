"""Saving and loading, by Keras name: ``load_model``, ``save_model`` and the
decorator that lets files name your own classes.

    @brainnet.saving.register_serializable()
    class Scale(brainnet.layers.Layer): ...

    model.save("model.brainnet")
    model = brainnet.saving.load_model("model.brainnet")

The file format is described in ``brainnet.models._archive``.
"""

from ._registry import register_keras_serializable, register_serializable
from .models.saving import load_model, save_model

__all__ = ["load_model", "save_model", "register_serializable", "register_keras_serializable"]
