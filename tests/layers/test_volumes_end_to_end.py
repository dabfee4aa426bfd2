"""Small 3-D CNNs trained on real data made 3-D: each sample is a short
"volume" of three consecutive MNIST digits stacked along depth, (3, 28, 28, 1),
and its label is the digit in the middle slice. The other two slices are
distractors, so the kernels along depth must learn to pick out the middle one.
"""

from __future__ import annotations

import numpy as np

from brainnet.datasets import mnist
from brainnet.layers import (AveragePooling3D, Conv3D, Cropping3D, Dense, Flatten, MaxPooling3D, UpSampling3D,
                             ZeroPadding3D)
from brainnet.models import Sequential, load_model
from brainnet.utils import set_random_seed


def volumes(images: np.ndarray, labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` volumes of 3 consecutive digits, scaled to [0, 1]; label: the middle digit's."""
    x = images[:count * 3].astype("float32").reshape(count, 3, 28, 28, 1) / 255.0  # (N, D=3, H, W, C=1)
    return x, labels[1:count * 3:3].astype("int64")


def test_a_3d_cnn_learns_the_middle_digit_of_mnist_volumes(mnist_dir, tmp_path):
    """Threshold 0.7 test accuracy on 1,000 unseen volumes: chance is 0.10;
    this run reaches about 0.85 here after 3 epochs on 3,000 volumes, so any
    real regression of the 3-D layers (a wrong depth axis, a wrong kernel
    layout) falls far below it."""
    set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(mnist_dir))
    x_train, y_train = volumes(x_train, y_train, 3000)
    x_test, y_test = volumes(x_test, y_test, 1000)
    model = Sequential([
        Conv3D(8, (1, 3, 3), activation="relu", input_shape=(3, 28, 28, 1)),  # (3, 26, 26, 8): each slice
        MaxPooling3D((1, 2, 2)),                                              # (3, 13, 13, 8)
        Conv3D(16, 3, activation="relu"),                                     # (1, 11, 11, 16): across depth
        MaxPooling3D((1, 2, 2)),                                              # (1, 5, 5, 16)
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.7, accuracy

    model.save(tmp_path / "volumes.brainnet")
    again = load_model(tmp_path / "volumes.brainnet")
    np.testing.assert_array_equal(again.predict(x_test[:64], verbose=0), model.predict(x_test[:64], verbose=0))


def test_the_resizing_layers_train_inside_a_model(mnist_dir):
    """UpSampling3D, ZeroPadding3D and Cropping3D inside a trained model: the
    same task on digits subsampled to 14×14 and grown back, 4 epochs on 1,500
    volumes. Threshold 0.6 on 500 held-out volumes (chance 0.10; about 0.8 here)."""
    set_random_seed(1)
    (x_train, y_train), _ = mnist.load_data(path=str(mnist_dir))
    x, y = volumes(x_train, y_train, 2000)
    x = x[:, :, ::2, ::2, :]  # (N, 3, 14, 14, 1)
    model = Sequential([
        UpSampling3D((1, 2, 2), input_shape=(3, 14, 14, 1)),  # (3, 28, 28, 1)
        ZeroPadding3D((0, 1, 1)),                             # (3, 30, 30, 1)
        Conv3D(8, (1, 3, 3), activation="relu"),              # (3, 28, 28, 8)
        MaxPooling3D((1, 2, 2)),                              # (3, 14, 14, 8)
        Conv3D(16, 3, activation="relu"),                     # (1, 12, 12, 16)
        Cropping3D((0, 2, 2)),                                # (1, 8, 8, 16)
        AveragePooling3D((1, 2, 2)),                          # (1, 4, 4, 16)
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    assert model.output_shape == (None, 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], epochs=4, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[1500:], y[1500:], verbose=0)
    assert accuracy >= 0.6, accuracy
