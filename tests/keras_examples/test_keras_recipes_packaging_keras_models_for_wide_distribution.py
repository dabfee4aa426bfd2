"""keras.io example "Packaging Keras models for wide distribution using
Functional Subclassing"
(https://keras.io/examples/keras_recipes/packaging_keras_models_for_wide_distribution/),
its Keras 3 version, ported as a learner would: ``import brainnet as keras``
in place of ``import keras``; the example's ``tf.data`` pipelines (it
imports TensorFlow for them only) are the NumPy arrays they stream, given to
``fit`` with ``batch_size=BATCH_SIZE`` (``expand_dims`` for the channel,
``(y == 0).astype("uint8")`` for the binary labels, ``{"image": x}`` for the
dictionary model), so ``steps_per_epoch`` and ``repeat`` go. A functional
model's ``layers`` start with its ``InputLayer``, as in Keras 3, so
``walk_layers`` prints it first. Shortened for CI: 4,000 training and
2,000 test images; the example's 5 epochs for the 10-class model, 2 for the
binary one, 1 for the dictionary model (trained beside the plain model on
2,000 images to compare them). The tests check what each section shows: a
model that is a functional model built by its constructor and learns MNIST
above chance, unconstrained image sizes, the summary and the walk of its
layers, a model made by surgery that shares the layers and trains as a
binary classifier (the accuracy fit reports checked in NumPy), and a
dictionary-input model training as the plain one does.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras

BATCH_SIZE = 256
EPOCHS = 5


class MnistModel(keras.Model):
    def __init__(self, **kwargs):
        # a functional model: build the graph, then hand inputs and outputs to Model
        inputs = keras.layers.Input(shape=(None, None, 1), dtype="uint8")
        y = keras.layers.Rescaling(1 / 255.0)(inputs)
        y = keras.layers.Conv2D(
            filters=16, kernel_size=3, padding="same", activation="relu"
        )(y)
        y = keras.layers.Conv2D(
            filters=32, kernel_size=6, padding="same", activation="relu", strides=2
        )(y)
        y = keras.layers.Conv2D(
            filters=48, kernel_size=6, padding="same", activation="relu", strides=2
        )(y)
        y = keras.layers.GlobalAveragePooling2D()(y)
        y = keras.layers.Dense(48, activation="relu")(y)
        y = keras.layers.Dropout(0.4)(y)
        outputs = keras.layers.Dense(
            10, activation="softmax", name="classification_head"
        )(y)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)


class MnistDictModel(keras.Model):
    def __init__(self, **kwargs):
        # the same network, its input given as a dictionary
        inputs = {
            "image": keras.layers.Input(
                shape=(None, None, 1),
                dtype="uint8",
                name="image",
            )
        }
        y = keras.layers.Rescaling(1 / 255.0)(inputs["image"])
        y = keras.layers.Conv2D(
            filters=16, kernel_size=3, padding="same", activation="relu"
        )(y)
        y = keras.layers.Conv2D(
            filters=32, kernel_size=6, padding="same", activation="relu", strides=2
        )(y)
        y = keras.layers.Conv2D(
            filters=48, kernel_size=6, padding="same", activation="relu", strides=2
        )(y)
        y = keras.layers.GlobalAveragePooling2D()(y)
        y = keras.layers.Dense(48, activation="relu")(y)
        y = keras.layers.Dropout(0.4)(y)
        outputs = keras.layers.Dense(
            10, activation="softmax", name="classification_head"
        )(y)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Dataset": uint8 images with a channel axis, integer labels."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, train_labels), (x_test, test_labels) = keras.datasets.mnist.load_data()
    x_train = np.expand_dims(x_train, axis=-1)  # 1-channel monochrome
    x_test = np.expand_dims(x_test, axis=-1)
    assert x_train.dtype == np.uint8 and x_train.shape == (60000, 28, 28, 1)
    return x_train[:4000], train_labels[:4000], x_test[:2000], test_labels[:2000]


def test_the_functional_subclass_trains_and_takes_any_image_size(data):
    """Sections "Initialization", "Functional Subclassing Model" and "Unconstrained inputs"."""
    x_train, train_labels, x_test, test_labels = data
    assert keras.version() == keras.__version__ and keras.config.backend() == "torch"
    keras.utils.set_random_seed(0)
    model = MnistModel()
    assert isinstance(model, keras.Model) and type(model).__name__ == "MnistModel"
    assert model.input.dtype == torch.uint8 and tuple(model.input.shape) == (None, None, None, 1)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    history = model.fit(
        x_train, train_labels, batch_size=BATCH_SIZE, epochs=EPOCHS,
        validation_data=(x_test, test_labels), verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_sparse_categorical_accuracy"][-1] > 0.4  # chance is 0.1; 0.61 here
    # the same weights classify images of other sizes: the pooling averages whatever the convolutions give
    for size in ((20, 20), (40, 36)):
        p = model.predict(np.zeros((2, *size, 1), "uint8"), verbose=0)
        assert p.shape == (2, 10)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_the_summary_and_a_walk_of_the_layers(capsys):
    """Section "Model introspection"."""
    model = MnistModel()
    model.summary()

    def walk_layers(layer):
        if hasattr(layer, "layers"):
            for layer in layer.layers:
                walk_layers(layer)
        else:
            print(layer.name)

    print("\nWalking model layers:\n")
    walk_layers(model)
    out = capsys.readouterr().out
    assert "Total params: 76,810" in out  # 160 + 18,464 + 55,344 + 2,352 + 490
    walked = out.split("Walking model layers:")[1].split()
    assert walked == [layer.name for layer in model.layers]
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Rescaling", "Conv2D", "Conv2D", "Conv2D", "GlobalAveragePooling2D", "Dense", "Dropout", "Dense"]
    assert walked[-1] == "classification_head"


def test_model_surgery_makes_a_binary_classifier_on_the_same_layers(data):
    """Section "Model surgery"."""
    x_train, train_labels, x_test, test_labels = data
    keras.utils.set_random_seed(1)
    model = MnistModel()

    input = model.input
    y = model.get_layer("classification_head").input
    output = keras.layers.Dense(
        1,
        activation="sigmoid",
        name="binary_classification_head",
    )(y)
    binary_model = keras.Model(input, output)
    assert binary_model.layers[:-1] == model.layers[:-1]  # the same layer objects, not copies
    assert binary_model.count_params() == 76810 - 490 + 49

    # 1 = the digit 0, 0 = any other digit
    bin_train_labels = (train_labels == 0).astype("uint8")
    bin_test_labels = (test_labels == 0).astype("uint8")
    binary_model.compile(
        optimizer="adam", loss="binary_crossentropy", metrics=["binary_accuracy"]
    )
    history = binary_model.fit(
        x_train, bin_train_labels, batch_size=BATCH_SIZE, epochs=2,
        validation_data=(x_test, bin_test_labels), verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    p = binary_model.predict(x_test, verbose=0)
    assert p.shape == (2000, 1) and 0 < p.min() and p.max() < 1
    accuracy = np.mean((p[:, 0] > 0.5) == bin_test_labels)
    assert history.history["val_binary_accuracy"][-1] == pytest.approx(accuracy)
    # the surgery trained the shared convolutions: the 10-class model's are the binary model's
    np.testing.assert_array_equal(model.get_layer(index=2).get_weights()[0],  # InputLayer, Rescaling, Conv2D
                                  binary_model.get_layer(index=2).get_weights()[0])


def test_the_dictionary_input_model_trains_as_the_plain_one(data):
    """Section "Model with dictionary inputs"."""
    x_train, train_labels, x_test, test_labels = data
    histories = []
    for cls, wrap in ((MnistModel, lambda x: x), (MnistDictModel, lambda x: {"image": x})):
        keras.utils.set_random_seed(2)
        model = cls()
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["sparse_categorical_accuracy"],
        )
        history = model.fit(
            wrap(x_train[:2000]), train_labels[:2000], batch_size=BATCH_SIZE, epochs=1,
            validation_data=(wrap(x_test[:500]), test_labels[:500]), verbose=0,
        )
        histories.append(history.history)
    assert sorted(histories[1]) == ["loss", "sparse_categorical_accuracy", "val_loss",
                                    "val_sparse_categorical_accuracy"]
    for key, values in histories[0].items():  # same seed, same weights and batches: the same numbers
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-5)
