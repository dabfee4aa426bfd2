"""The ImageNet networks' stand-in for the keras.io interpretability
examples (Grad-CAM, integrated gradients, visualizing what convnets learn),
and ``trained_stand_in``, which also trains Deep Dream's and neural style
transfer's own stand-ins:
a small convnet trained on MNIST digits in the test, since brainnet has no
``keras.applications`` and nothing may be downloaded.

Like Xception and ResNet50V2 it takes RGB pictures of any size (its input is
``(None, None, 3)``; the digits are grey, so the three channels are equal)
and ends in global average pooling and a softmax ``predictions`` layer. Its
layers carry the names the examples' code asks for: ``conv3_block4_out`` (a
convolution in the middle, whose filters "visualizing what convnets learn"
draws; linear, its ReLU a layer of its own, as ResNet50V2's block outputs
are sums before their activation) and ``block14_sepconv2_act`` (the last convolution's activation,
whose maps Grad-CAM weighs). Its preprocessing is ``x / 255`` (Xception's is
``x / 127.5 - 1``).
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers


def preprocess_input(x):
    """What the stand-in was trained on: pixels 0..255 scaled to 0..1."""
    return np.asarray(x, dtype="float32") / 255.0


def mnist_rgb(mnist_dir, train=6000, test=1000):
    """The first ``train`` and ``test`` MNIST digits as uint8 RGB pictures ``(N, 28, 28, 3)``, and their labels."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    rgb = lambda x: np.repeat(x[..., None], 3, axis=-1)  # noqa: E731  grey digits in three equal channels
    return (rgb(x_train[:train]), y_train[:train]), (rgb(x_test[:test]), y_test[:test])


def build_convnet():
    inputs = keras.Input(shape=(None, None, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="block1_conv")(inputs)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", name="conv3_block4_out")(x)  # linear, as ResNet50V2's block output
    x = layers.Activation("relu", name="conv3_block4_act")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, padding="same", name="block14_sepconv2")(x)
    x = layers.Activation("relu", name="block14_sepconv2_act")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mnist_convnet")


def trained_stand_in(build, preprocess, mnist_dir, train=6000, test=1000, epochs=3):
    """A stand-in network (``build()``, from seed 0) trained for ``epochs`` on the first ``train``
    MNIST digits as RGB pictures through ``preprocess`` (Adam 3e-3, batches of 64), its test
    accuracy on ``test`` others, and those test digits (uint8 RGB) and labels."""
    (x_train, y_train), (x_test, y_test) = mnist_rgb(mnist_dir, train, test)
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(3e-3),
                  metrics=["accuracy"])
    model.fit(preprocess(x_train), y_train, batch_size=64, epochs=epochs, verbose=0)
    _, accuracy = model.evaluate(preprocess(x_test), y_test, verbose=0)
    return model, accuracy, x_test, y_test


def pretrained_convnet(mnist_dir, epochs=3):
    """The stand-in, trained for ``epochs`` on 6,000 digits (about 7 s on one core), its test
    accuracy on 1,000 others, and those test digits (uint8 RGB) and labels."""
    return trained_stand_in(build_convnet, preprocess_input, mnist_dir, epochs=epochs)
