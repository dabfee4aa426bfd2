"""keras.io example "Gradient Centralization for Better Training Performance"
(https://keras.io/examples/vision/gradient_centralization/), its Keras 3
version, ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports,
``ops.mean(grad, axis=axis, keepdims=True)`` written as
``grad.mean(dim=axis, keepdim=True)``.

Replaced, and why:

- Horses or Humans (a ``tensorflow_datasets`` download, 300x300 colour
  images, two classes) is Fashion-MNIST's sneakers (class 7, label 0) and
  ankle boots (class 9, label 1): two classes, so the example's sigmoid
  head and ``binary_crossentropy`` stay; 28x28 grey images, 2,000 for
  training and 1,000 for testing.
- The ``tf.data`` pipeline (``prepare``: rescale, shuffle, batch, augment
  the training batches) is a ``keras.utils.PyDataset`` that does the same
  per batch of 128.
- The example's optimizer subclass overrides ``get_gradients(loss,
  params)``, the hook of Keras 2's optimizers. Keras 3's optimizers have
  no such method and never call it, so in Keras 3 the example's
  "Gradient Centralization" run trains with plain RMSprop (its body, which
  calls ``super().get_gradients()`` with no arguments, never runs).
  brainnet refuses the class with a ``TypeError`` that says so and shows
  the Keras 3 place for it, ``apply(grads, trainable_variables)``, which
  every step of ``fit`` calls (tested below). The port's ``GCRMSprop``
  overrides ``apply`` with the example's body.
- The centralized axes: Keras's kernels keep their output axis last
  (``Dense``'s ``(in, out)``, ``Conv2D``'s ``(kh, kw, in, filters)``), so
  "every axis but the last" is each output unit's column. brainnet's
  ``Conv2D`` kernel is ``(filters, in, kh, kw)`` (docs/keras.md, "Kernels
  in PyTorch's layout"), so for a 4-D gradient the axes are ``1, 2, 3``.
- Shortened for CI: 28x28 images leave room for three of the example's
  five convolution and pooling blocks (a 3x3 convolution and a 2x2 pool
  take 28 to 13, 5, then 1 pixel); 5 epochs for each run in place of 10.

What the tests check: the example's ``get_gradients`` subclass refused with
the fix; one ``fit`` step with ``GCRMSprop`` against NumPy (the gradients
centralized in Keras's layout, then RMSprop's update); and the example's
two runs on Fashion-MNIST (without, then with GC, the same model), each
with a loss that falls, accuracy far above chance, and ``TimeHistory``
timing every epoch.
"""

from __future__ import annotations

import math
from time import time

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.optimizers import RMSprop

num_classes = 2
input_shape = (28, 28, 1)  # (300, 300, 3) in the example
batch_size = 128
epochs = 5  # 10 in the example

rescale = layers.Rescaling(1.0 / 255)

data_augmentation = [
    layers.RandomFlip("horizontal_and_vertical"),
    layers.RandomRotation(0.3),
    layers.RandomZoom(0.2),
]


# Helper to apply augmentation
def apply_aug(x):
    for aug in data_augmentation:
        x = aug(x)
    return x


class prepare(keras.utils.PyDataset):
    # the example's prepare(ds, shuffle, augment): rescale, shuffle, batch, augment
    def __init__(self, images, labels, shuffle=False, augment=False):
        super().__init__()
        self.images, self.labels = images, labels
        self.shuffle, self.augment = shuffle, augment
        self.order = np.random.permutation(len(images)) if shuffle else np.arange(len(images))

    def __len__(self):
        return math.ceil(len(self.images) / batch_size)

    def __getitem__(self, idx):
        batch = self.order[idx * batch_size : (idx + 1) * batch_size]
        x, y = rescale(self.images[batch]), self.labels[batch]
        if self.augment:
            x = apply_aug(x)
        return x, y

    def on_epoch_end(self):
        if self.shuffle:
            self.order = np.random.permutation(len(self.images))


def make_model():
    return keras.Sequential(
        [
            layers.Input(shape=input_shape),
            layers.Conv2D(16, (3, 3), activation="relu"),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(32, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            layers.Conv2D(64, (3, 3), activation="relu"),
            layers.Dropout(0.5),
            layers.MaxPooling2D(2, 2),
            # the example's two more Conv2D(64) + MaxPooling2D blocks need more than 1x1 pixel
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(512, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


class GCRMSprop(RMSprop):
    # Keras 3's hook for changing the gradients: apply, which every step of fit calls
    def apply(self, grads, trainable_variables=None):
        grads_ = []
        for grad in grads:
            grad_len = len(grad.shape)
            if grad_len > 1:
                # each output unit's gradient: Dense (in, out) over axis 0, Conv2D (filters, in, kh, kw) over 1, 2, 3
                axis = list(range(grad_len - 1)) if grad_len == 2 else list(range(1, grad_len))
                grad = grad - grad.mean(dim=axis, keepdim=True)
            grads_.append(grad)

        return super().apply(grads_, trainable_variables)


class TimeHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs={}):
        self.times = []

    def on_epoch_begin(self, batch, logs={}):
        self.epoch_time_start = time()

    def on_epoch_end(self, batch, logs={}):
        self.times.append(time() - self.epoch_time_start)


def test_the_examples_keras2_get_gradients_subclass_is_refused_with_the_fix():
    """Section "Implement Gradient Centralization", the class as the example writes it."""
    with pytest.raises(TypeError, match=r"GCRMSprop defines get_gradients.*never call get_gradients.*"
                                        r"Fix: def apply\(self, grads, trainable_variables=None\)"):

        class GCRMSprop(RMSprop):
            def get_gradients(self, loss, params):
                grads = []
                gradients = super().get_gradients()
                for grad in gradients:
                    grad_len = len(grad.shape)
                    if grad_len > 1:
                        axis = list(range(grad_len - 1))
                        grad -= grad.mean(dim=axis, keepdim=True)
                    grads.append(grad)
                return grads


def _numpy_centralized(grad):
    """Keras's layout, every axis but the last (the output units) centred."""
    if grad.ndim == 4:  # brainnet's (filters, in, kh, kw) as Keras's (kh, kw, in, filters) and back
        keras_grad = grad.transpose(2, 3, 1, 0)
        return (keras_grad - keras_grad.mean(axis=(0, 1, 2), keepdims=True)).transpose(3, 2, 0, 1)
    if grad.ndim == 2:
        return grad - grad.mean(axis=0, keepdims=True)
    return grad


def test_one_fit_step_of_gcrmsprop_is_rmsprop_on_centralized_gradients_in_numpy():
    """Section "Implement Gradient Centralization": ``GCRMSprop`` inside ``fit``."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Input(shape=(8, 8, 1)), layers.Conv2D(4, (3, 3), activation="relu"),
                              layers.Flatten(), layers.Dense(3, activation="relu"), layers.Dense(1, activation="sigmoid")])
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 2, size=(16, 1)).astype("float32")
    before = [w.detach().double().numpy().copy() for w in model.trainable_weights]
    # the gradients of the step fit will take, by autograd on a copy of the model
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    loss = keras.losses.BinaryCrossentropy()(torch.from_numpy(y), twin(torch.from_numpy(x)))
    grads = [g.double().numpy() for g in torch.autograd.grad(loss, twin.trainable_weights)]

    lr, rho, eps = 0.01, 0.9, 1e-7
    model.compile(loss="binary_crossentropy", optimizer=GCRMSprop(learning_rate=lr))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)

    for w, w0, g in zip(model.trainable_weights, before, grads):
        g = _numpy_centralized(g)
        s = (1 - rho) * g * g  # s ← ρs + (1 − ρ)g² from s = 0
        want = w0 - lr * g / (np.sqrt(s) + eps)  # θ ← θ − ηg/(√s + ε)
        np.testing.assert_allclose(w.detach().double().numpy(), want, rtol=1e-4, atol=1e-6)
    # centralization changed the update: each kernel's columns moved by equal sums
    kernel_step = model.trainable_weights[2].detach().double().numpy() - before[2]
    plain_step = -lr * grads[2] / (np.sqrt((1 - rho) * grads[2] ** 2) + eps)
    assert not np.allclose(kernel_step, plain_step, atol=1e-6)


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Section "Prepare the data": sneakers (0) and ankle boots (1)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()

    def two_classes(x, y, n):
        keep = np.flatnonzero((y == 7) | (y == 9))[:n]
        return x[keep, :, :, None].astype("float32"), (y[keep] == 9).astype("float32")[:, None]

    return two_classes(x_train, y_train, 6000), two_classes(x_test, y_test, 1000)


def test_the_same_model_trains_without_then_with_gradient_centralization(data):
    """Sections "Use Data Augmentation", "Define a model", "Training utilities",
    "Train the model without GC", "Train the model with GC" and "Comparing performance"."""
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(1)
    train_ds = prepare(x_train, y_train, shuffle=True, augment=True)
    test_ds = prepare(x_test, y_test)
    x0, _ = train_ds[0]
    assert tuple(x0.shape) == (batch_size, 28, 28, 1) and float(x0.max()) <= 1.0

    model = make_model()
    optimizer = GCRMSprop(learning_rate=1e-4)

    time_callback_no_gc = TimeHistory()
    model.compile(
        loss="binary_crossentropy",
        optimizer=RMSprop(learning_rate=1e-4),
        metrics=["accuracy"],
    )
    model.summary(print_fn=lambda *_: None)
    history_no_gc = model.fit(train_ds, epochs=epochs, verbose=0, callbacks=[time_callback_no_gc])

    time_callback_gc = TimeHistory()
    model.compile(loss="binary_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    history_gc = model.fit(train_ds, epochs=epochs, verbose=0, callbacks=[time_callback_gc])

    for history, callback in ((history_no_gc, time_callback_no_gc), (history_gc, time_callback_gc)):
        assert len(callback.times) == epochs and all(t > 0 for t in callback.times)
    assert history_no_gc.history["loss"][-1] < history_no_gc.history["loss"][0]
    assert history_gc.history["loss"][-1] < history_no_gc.history["loss"][0]
    assert history_gc.history["accuracy"][-1] > 0.75  # chance is 0.5
    assert optimizer.iterations == epochs * len(train_ds)  # GCRMSprop took every step of the second fit

    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy > 0.7  # chance is 0.5; the test images are not flipped or rotated as the training ones
    probabilities = model.predict(x_test / 255.0, verbose=0)
    assert accuracy == pytest.approx(np.mean((probabilities > 0.5) == (y_test > 0.5)))
