"""keras.io example "Simple custom layer example: Antirectifier"
(https://keras.io/examples/keras_recipes/antirectifier/), ported as a learner
would: ``import brainnet as keras`` and ``from brainnet import layers`` in
place of the Keras imports, the ``ops`` calls of ``call`` written as torch
calls. One line changes: the example's ``inputs -= <mean>`` is written
``inputs = inputs - torch.mean(...)``, as torch's ``-=`` would subtract in
place and change the caller's tensor (docs/keras.md). The class is registered
with ``keras.saving.register_keras_serializable()`` so that the model saves
and loads, which the example leaves out. Shortened for CI: 6,000 training
images (``validation_split=0.15`` holds out 900) and 2,000 test images,
3 epochs in place of 20. The tests check the layer against a NumPy version of
its equation, its config, a saved-and-reloaded model's predictions, and test
accuracy far above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


@keras.saving.register_keras_serializable(package="keras_io_antirectifier")
class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim),
            initializer=self.initializer,
            name="kernel",
            trainable=True,
        )

    def call(self, inputs):
        # centre each sample, split into positive and negative parts, mix back to d features
        inputs = inputs - torch.mean(inputs, dim=-1, keepdim=True)
        pos = torch.relu(inputs)
        neg = torch.relu(-inputs)
        concatenated = torch.cat([pos, neg], dim=-1)
        mixed = torch.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        # the constructor's arguments, so that the layer can be saved and rebuilt
        base_config = super().get_config()
        config = {"initializer": keras.initializers.serialize(self.initializer)}
        return dict(list(base_config.items()) + list(config.items()))


def _numpy_antirectifier(x, kernel):
    # x̃ = x − mean_k x_k;  y = [max(x̃, 0), max(−x̃, 0)] · K
    centred = x - x.mean(axis=-1, keepdims=True)
    return np.concatenate([np.maximum(centred, 0), np.maximum(-centred, 0)], axis=-1) @ kernel


def _model():
    return keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(256),
            Antirectifier(),
            layers.Dense(256),
            Antirectifier(),
            layers.Dropout(0.5),
            layers.Dense(10),
        ]
    )


def test_the_layer_computes_its_equation_and_leaves_its_input_alone():
    """Section "The Antirectifier layer"."""
    keras.utils.set_random_seed(0)
    layer = Antirectifier()
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 3, 8)).astype("float32"))
    before = x.clone()
    y = layer(x)
    assert tuple(layer.kernel.shape) == (16, 8) and tuple(y.shape) == (5, 3, 8)
    assert torch.equal(x, before)
    kernel = layer.kernel.detach().numpy().astype("float64")
    np.testing.assert_allclose(y.detach().numpy(), _numpy_antirectifier(x.numpy().astype("float64"), kernel),
                               rtol=1e-5, atol=1e-5)
    # he_normal: a truncated normal of standard deviation sqrt(2 / fan_in), fan_in = 16
    big = Antirectifier()
    big.build((None, 400))
    assert np.std(big.kernel.detach().numpy()) == pytest.approx(np.sqrt(2 / 800), rel=0.05)


def test_the_config_rebuilds_the_layer():
    """Section "The Antirectifier layer": get_config."""
    layer = Antirectifier(initializer="glorot_uniform", name="anti")
    config = layer.get_config()
    assert config["name"] == "anti"
    assert type(keras.initializers.get(config["initializer"])).__name__ == "GlorotUniform"
    twin = Antirectifier.from_config(config)
    assert twin.name == "anti" and twin.get_config() == config


def test_the_model_trains_on_mnist_and_reloads_with_the_same_predictions(mnist_dir, tmp_path):
    """Section "Let's test-drive it on MNIST", then save and load."""
    batch_size = 128
    epochs = 3
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.reshape(-1, 784)
    x_test = x_test.reshape(-1, 784)
    x_train = x_train.astype("float32")
    x_test = x_test.astype("float32")
    x_train /= 255
    x_test /= 255
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]

    keras.utils.set_random_seed(7)
    model = _model()
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.8  # chance is 0.1; 0.89 to 0.91 over three seeds

    # the model's logits are the NumPy layers' (Dropout is off at inference)
    weights = [w.astype("float64") for w in model.get_weights()]
    h = x_test[:64].astype("float64") @ weights[0] + weights[1]
    h = _numpy_antirectifier(h, weights[2])
    h = _numpy_antirectifier(h @ weights[3] + weights[4], weights[5])
    logits = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(logits[:64], h @ weights[6] + weights[7], rtol=1e-4, atol=1e-4)

    path = tmp_path / "antirectifier.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert [type(layer).__name__ for layer in reloaded.layers].count("Antirectifier") == 2
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), logits, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(reloaded.evaluate(x_test, y_test, verbose=0), [loss, accuracy], rtol=1e-5)
