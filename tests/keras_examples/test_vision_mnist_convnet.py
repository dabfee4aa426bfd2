"""keras.io example "Simple MNIST convnet"
(https://keras.io/examples/vision/mnist_convnet/), ported as a learner would:
``import brainnet as keras`` and ``from brainnet import layers`` in place of
the TensorFlow imports, the rest as written. Shortened for CI: 6,000 training
images (of which ``validation_split=0.1`` holds out 600), 3 epochs in place of
15, and 2,000 test images. Each test names the section it runs and checks what
it computes: the shapes and the summary the example prints, a validation split
taken from the end of the arrays, and test accuracy far above chance.
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

num_classes = 10
input_shape = (28, 28, 1)


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Prepare the data", as written (load_data() finds the files
    through BRAINNET_DATA_DIR)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)  # as the example prints
    assert 0.0 <= x_train.min() and x_train.max() == 1.0
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    assert y_train.shape == (60000, 10) and np.all(y_train.sum(axis=1) == 1)
    return x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]


def _build_model():
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


def test_the_model_summary_shows_the_examples_shapes_and_parameter_count():
    """Section "Build the model": the summary the example prints."""
    model = _build_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    shapes = ["(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)",
              "(None, 1600)", "(None, 10)"]
    positions = [text.index(shape) for shape in shapes]
    assert positions == sorted(positions)
    assert "Total params: 34,826" in lines  # 320 + 18,496 + 16,010, as keras.io shows
    assert "Trainable params: 34,826" in lines
    assert model.count_params() == (3 * 3 * 1 + 1) * 32 + (3 * 3 * 32 + 1) * 64 + (1600 + 1) * 10


def test_training_and_evaluation_reach_an_accuracy_far_above_chance(data):
    """Sections "Train the model" and "Evaluate the trained model"."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(1337)
    model = _build_model()
    batch_size = 128
    epochs = 3
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    # validation_split holds out the last 10% of the arrays, as in Keras
    val = model.evaluate(x_train[5400:], y_train[5400:], verbose=0)
    np.testing.assert_allclose(val, [history.history["val_loss"][-1], history.history["val_accuracy"][-1]],
                               rtol=1e-5)

    score = model.evaluate(x_test, y_test, verbose=0)
    # the score is categorical cross-entropy and accuracy of the predictions, in NumPy
    p = model.predict(x_test, verbose=0).astype("float64")
    np.testing.assert_allclose(score[0], -np.mean(np.sum(y_test * np.log(p), axis=1)), rtol=1e-4)
    assert score[1] == pytest.approx(np.mean(p.argmax(axis=1) == y_test.argmax(axis=1)))
    assert score[1] > 0.85  # chance is 0.1
