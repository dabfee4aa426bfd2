"""Keras 3's other spellings of brainnet's classes: the top-level base classes
(``class MyLayer(keras.Layer)``, ``keras.Loss``, ``keras.Metric``, ...) and the
long convolution names (Keras 1's ``Convolution2D``, kept by Keras 3). Each is
the same class, so a subclass or a model made with it behaves, saves and
loads as one made with the short name."""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers


@pytest.mark.parametrize("name, cls", [
    ("Layer", layers.Layer), ("Loss", keras.losses.Loss), ("Metric", keras.metrics.Metric),
    ("Optimizer", keras.optimizers.Optimizer), ("Initializer", keras.initializers.Initializer),
    ("Regularizer", keras.regularizers.Regularizer), ("KerasTensor", type(keras.Input((2,)))),
])
def test_top_level_base_classes_are_brainnets(name, cls):
    assert getattr(keras, name) is cls and name in keras.__all__


@pytest.mark.parametrize("long, short", [
    ("Convolution1D", "Conv1D"), ("Convolution2D", "Conv2D"), ("Convolution3D", "Conv3D"),
    ("Convolution1DTranspose", "Conv1DTranspose"), ("Convolution2DTranspose", "Conv2DTranspose"),
    ("Convolution3DTranspose", "Conv3DTranspose"), ("SeparableConvolution1D", "SeparableConv1D"),
    ("SeparableConvolution2D", "SeparableConv2D"),
])
def test_long_convolution_names_are_the_same_classes(long, short):
    assert getattr(layers, long) is getattr(layers, short) and long in layers.__all__


def test_a_layer_subclassing_keras_layer_trains_and_saves(tmp_path):
    """Keras 3's ``class Linear(keras.Layer)`` in a model made with
    ``Convolution2D``: the custom layer computes x·w + b (checked against
    NumPy), trains, and a saved model loads with the same predictions."""

    @keras.saving.register_keras_serializable(package="test_keras_names")
    class Linear(keras.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros")

        def call(self, inputs):
            return inputs @ self.w + self.b

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Convolution2D(2, 3, activation="relu"), layers.Flatten(),
                              Linear(3)])
    x = np.random.default_rng(0).random((16, 6, 6, 1)).astype("float32")
    y = np.random.default_rng(1).random((16, 3)).astype("float32")
    linear = model.layers[-1]
    features = keras.Model(model.inputs, model.layers[-2].output).predict(x, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               features @ linear.w.detach().numpy() + linear.b.detach().numpy(), rtol=1e-5, atol=1e-6)
    model.compile("adam", "mse")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.layers[0]) is layers.Conv2D
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
