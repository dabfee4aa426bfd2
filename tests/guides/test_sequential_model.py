"""Keras 3's guide "The Sequential model" (keras.io guides/sequential_model.py),
ported as a learner would: the imports become ``import brainnet as keras`` and
``from brainnet import layers``, ``ops.ones(shape)`` is ``torch.ones(shape)``,
and the transfer-learning blueprints (which the guide leaves as sketches with
``...``) run on real MNIST with a base trained here in place of pretrained
weights. Each test names the guide section it runs and checks its results:
the shapes the guide states, values against NumPy, weights that train or stay.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout

import numpy as np
import torch

import brainnet as keras
from brainnet import layers
from brainnet.utils import set_random_seed


def _np(t):
    return t.detach().numpy().astype("float64") if isinstance(t, torch.Tensor) else np.asarray(t, dtype="float64")


def _dense(x, layer, relu):
    y = x @ _np(layer.kernel) + _np(layer.bias)  # y = x·W + b
    return np.maximum(y, 0) if relu else y


def test_a_sequential_model_is_its_layers_called_in_turn():
    """Section "When to use a Sequential model"."""
    set_random_seed(0)
    model = keras.Sequential([
        layers.Dense(2, activation="relu", name="layer1"),
        layers.Dense(3, activation="relu", name="layer2"),
        layers.Dense(4, name="layer3"),
    ])
    x = torch.ones((3, 3))  # ops.ones
    y = model(x)
    assert y.shape == (3, 4)
    # "is equivalent to this function"
    layer1 = layers.Dense(2, activation="relu", name="layer1")
    layer2 = layers.Dense(3, activation="relu", name="layer2")
    layer3 = layers.Dense(4, name="layer3")
    layer3(layer2(layer1(x)))
    for mine, theirs in zip((layer1, layer2, layer3), model.layers):
        mine.set_weights(theirs.get_weights())
    data = torch.from_numpy(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    with torch.no_grad():
        np.testing.assert_allclose(_np(layer3(layer2(layer1(data)))), _np(model(data)), rtol=1e-6)
    want = _dense(_dense(_dense(_np(data), model.layers[0], True), model.layers[1], True), model.layers[2], False)
    np.testing.assert_allclose(model.predict(data.numpy(), verbose=0), want, rtol=1e-5, atol=1e-6)


def test_layers_add_pop_and_names():
    """Section "Creating a Sequential model"."""
    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)])
    assert [layer.units for layer in model.layers] == [2, 3, 4]
    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2 and model.layers[-1].units == 3
    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential"
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_weights_appear_at_the_first_call_or_with_an_input_in_advance():
    """Section "Specifying the input shape in advance"."""
    layer = layers.Dense(3)
    assert layer.weights == []  # Empty
    layer(torch.ones((1, 4)))
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)])
    assert model.weights == []  # No weights at this stage (Keras 3 gives [] too)
    model(torch.ones((1, 4)))
    assert len(model.weights) == 6  # "Number of weights after calling the model: 6"
    assert model.count_params() == (4 * 2 + 2) + (2 * 3 + 3) + (3 * 4 + 4)

    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    assert "(None, 2)" in out.getvalue() and "Total params: 10" in out.getvalue()
    assert len(model.layers) == 1  # the Input is not a layer
    assert len(model.weights) == 2  # built before seeing any data


class Project(layers.Layer):
    """A layer of one's own without compute_output_shape: y = x·w."""

    def __init__(self, units: int):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

    def call(self, inputs):
        return inputs @ self.w


def test_a_layer_of_ones_own_after_an_input_gives_its_real_output_shape_to_the_next():
    """Section "Specifying the input shape in advance", with a layer of one's own (the
    functional guide's custom layer): its output shape comes from running it, so the
    layers after it are built for that shape and summary() shows it, as in Keras."""
    set_random_seed(1)
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(Project(5))
    assert model.output_shape == (None, 5)
    model.add(layers.Dense(3))
    assert model.output_shape == (None, 3)
    assert [tuple(w.shape) for w in model.weights] == [(4, 5), (5, 3), (3,)]
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    assert "(None, 5)" in out.getvalue()
    x = np.random.default_rng(1).normal(size=(2, 4))
    want = _dense(x @ _np(model.layers[0].w), model.layers[1], False)
    np.testing.assert_allclose(model.predict(x.astype("float32"), verbose=0), want, rtol=1e-5, atol=1e-6)


def test_the_add_and_summary_debugging_workflow_shows_the_downsampling():
    """Section "A common debugging workflow: add() + summary()"."""
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    out = io.StringIO()
    with redirect_stdout(out):
        model.summary()
    assert "(None, 40, 40, 32)" in out.getvalue()  # "The answer was: (40, 40, 32)"
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    assert model.output_shape == (None, 4, 4, 32)  # "Now that we have 4x4 feature maps"
    model.add(layers.GlobalMaxPooling2D())
    model.add(layers.Dense(10))
    assert model.output_shape == (None, 10)
    assert model(torch.zeros((1, 250, 250, 3))).shape == (1, 10)


def test_feature_extraction_with_the_guides_250x250_model():
    """Section "Feature extraction with a Sequential model" (the guide's shapes;
    the extractor's values are checked in tests/models/test_layer_outputs.py)."""
    set_random_seed(2)
    initial_model = keras.Sequential([
        keras.Input(shape=(250, 250, 3)),
        layers.Conv2D(32, 5, strides=2, activation="relu"),
        layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
        layers.Conv2D(32, 3, activation="relu"),
    ])
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    x = torch.ones((1, 250, 250, 3))
    features = feature_extractor(x)
    assert [tuple(f.shape) for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]
    one = keras.Model(inputs=initial_model.inputs,
                      outputs=initial_model.get_layer(name="my_intermediate_layer").output)
    with torch.no_grad():
        np.testing.assert_array_equal(_np(one(x)), _np(features[1]))
        np.testing.assert_array_equal(_np(initial_model(x)), _np(features[2]))


def _mnist(mnist_dir, n):
    (x_train, y_train), _ = keras.datasets.mnist.load_data(path=mnist_dir)
    return x_train[:n].reshape(n, 784).astype("float32") / 255, y_train[:n]


def test_transfer_learning_freezing_all_layers_but_the_last(mnist_dir, tmp_path):
    """Section "Transfer learning with a Sequential model" (first blueprint: load
    weights, freeze all layers but the last, recompile, train)."""
    set_random_seed(3)
    x, y = _mnist(mnist_dir, 3000)

    def make():
        return keras.Sequential([
            keras.Input(shape=(784)),  # the guide's int shape
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(10),
        ])

    pretrained = make()  # the "pre-trained weights": a model trained on the first 2,000 images
    pretrained.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    pretrained.fit(x[:2000], y[:2000], epochs=3, verbose=0)
    pretrained.save_weights(str(tmp_path / "base.weights.h5"))

    model = make()
    model.load_weights(str(tmp_path / "base.weights.h5"))
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    frozen = [w.copy() for w in model.get_weights()]
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    before = model.evaluate(x[2000:], y[2000:], verbose=0)
    model.fit(x[2000:2500], y[2000:2500], epochs=2, verbose=0)
    after = model.get_weights()  # layer by layer, frozen or not (Keras 3's order)
    assert [w.shape for w in after] == [w.shape for w in pretrained.get_weights()]
    copy = make()  # nothing frozen: the arrays line up all the same
    copy.set_weights(after)
    np.testing.assert_array_equal(copy.predict(x[:50], verbose=0), model.predict(x[:50], verbose=0))
    for i in range(6):  # this will only update the weights of the last layer
        np.testing.assert_array_equal(after[i], frozen[i])
    assert not np.allclose(after[6], frozen[6])
    assert before[1] > 0.8  # the loaded weights were the trained ones
    assert model.evaluate(x[2000:], y[2000:], verbose=0)[0] < before[0] + 0.05


def test_transfer_learning_a_frozen_base_model_under_a_new_head(mnist_dir):
    """Section "Transfer learning with a Sequential model" (second blueprint: a frozen
    base model, with its pooled features, stacked under a new Dense in a Sequential;
    a small convolutional base trained here stands in for Xception's ImageNet weights)."""
    set_random_seed(4)
    x, y = _mnist(mnist_dir, 1200)
    images = x.reshape(-1, 28, 28, 1)
    base_model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(8, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(16, 3, activation="relu"),
        layers.GlobalAveragePooling2D(),  # pooling="avg"
    ])
    pretrain = keras.Sequential([base_model, layers.Dense(10)])
    pretrain.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pretrain.fit(images[:800], y[:800], epochs=2, verbose=0)

    base_model.trainable = False  # Freeze the base model
    model = keras.Sequential([base_model, layers.Dense(10)])
    model(images[:1])  # built by its first call, as Keras 3 builds it
    assert len(model.trainable_weights) == 2 and len(model.weights) == 6
    base_before = [w.copy() for w in base_model.get_weights()]
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(images[800:], y[800:], epochs=3, verbose=0)
    for got, want in zip(base_model.get_weights(), base_before):
        np.testing.assert_array_equal(got, want)
    assert history.history["loss"][-1] < history.history["loss"][0]
