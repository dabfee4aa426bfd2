"""keras.io example "A Quasi-SVM in Keras"
(https://keras.io/examples/keras_recipes/quasi_svm/), ported as a learner
would: ``import brainnet as keras`` / ``from brainnet import layers`` in place
of the Keras imports.

The example imports ``RandomFourierFeatures`` from
``tensorflow.keras.layers.experimental``. Keras 3 dropped that layer (it is in
TensorFlow's Keras 2 only; the keras.io page is still the tf.keras version),
so the test writes it as a learner would, a ``layers.Layer`` with Keras 2's
semantics, and brainnet does not add it to its library:
``z(x) = √(2/D) · cos(x · W / s + b)``, ``W`` (d, D) drawn from N(0, 1)
(``"gaussian"``) or a standard Cauchy (``"laplacian"``), ``b`` uniform in
[0, 2π), ``s`` the kernel scale (default √(d/2) for the Gaussian kernel, 1 for
the Laplacian), all three non-trainable by default (``trainable=False``, as
Keras 2's layer). Then ``z(x) · z(y)`` approximates the kernel
``exp(-‖x - y‖² / (2 s²))`` (Gaussian), and a linear layer with the hinge loss
on top of it is a kernel SVM, approximately.

Shortened for CI: 12,000 MNIST training digits in place of 60,000, 4 epochs
in place of 20 (``validation_split=0.2``, the example's, holds 2,400 of them
out), 2,000 test digits; the model's ``output_dim=4096`` and ``scale=10.0``
are the example's. Each test names the section it runs and checks: the layer
against NumPy and its kernel approximation, the hinge loss against NumPy, and
a trained quasi-SVM far above chance whose random features stayed fixed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class RandomFourierFeatures(layers.Layer):
    """Keras 2's layer, written here: z(x) = √(2/D) · cos(x W / s + b)."""

    def __init__(self, output_dim, kernel_initializer="gaussian", scale=None, trainable=False, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        if kernel_initializer not in ("gaussian", "laplacian"):
            raise ValueError(f"RandomFourierFeatures: expected kernel_initializer 'gaussian' or 'laplacian', "
                             f"got {kernel_initializer!r}. Fix: kernel_initializer='gaussian'.")
        self.output_dim = output_dim
        self.kernel_initializer = kernel_initializer
        self.scale = scale

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if self.kernel_initializer == "gaussian":
            kernel = torch.randn(input_dim, self.output_dim)
        else:
            kernel = torch.distributions.Cauchy(0.0, 1.0).sample((input_dim, self.output_dim))
        self.unscaled_kernel = self.add_weight(name="unscaled_kernel", value=kernel, trainable=False)
        self.bias = self.add_weight(
            name="bias", value=torch.rand(self.output_dim) * 2 * math.pi, trainable=False)
        if self.scale is None:
            self.scale = math.sqrt(input_dim / 2.0) if self.kernel_initializer == "gaussian" else 1.0
        self.kernel_scale = self.add_weight(
            name="kernel_scale", value=torch.full((1,), float(self.scale)), trainable=True, constraint="non_neg")

    def call(self, inputs):
        kernel = self.unscaled_kernel / self.kernel_scale
        outputs = inputs @ kernel + self.bias
        return math.sqrt(2.0 / self.output_dim) * torch.cos(outputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim,
                "kernel_initializer": self.kernel_initializer, "scale": self.scale}


def build_model():
    """Section "Build the model", as the example writes it."""
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            RandomFourierFeatures(output_dim=4096, scale=10.0, kernel_initializer="gaussian"),
            layers.Dense(units=10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.hinge,
        metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
    )
    return model


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Prepare the data", on the first 12,000 training and 2,000 test digits."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, y_train, x_test, y_test = x_train[:12000], y_train[:12000], x_test[:2000], y_test[:2000]

    # Preprocess the data by flattening & scaling it
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255

    # Categorical (one hot) encoding of the labels
    y_train = keras.utils.to_categorical(y_train)
    y_test = keras.utils.to_categorical(y_test)
    return x_train, y_train, x_test, y_test


def test_random_fourier_features_are_the_equation_in_numpy():
    """Section "Build the model": the layer against z(x) = √(2/D) cos(x W / s + b) in float64."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(5, 7)).astype("float32")
    for init, scale, want_scale in (("gaussian", None, math.sqrt(7 / 2)), ("gaussian", 10.0, 10.0),
                                    ("laplacian", None, 1.0)):
        layer = RandomFourierFeatures(output_dim=16, kernel_initializer=init, scale=scale)
        z = layer(torch.from_numpy(x)).detach().numpy()
        assert z.shape == (5, 16) == layer.compute_output_shape((5, 7))
        w = layer.unscaled_kernel.detach().double().numpy()
        b = layer.bias.detach().double().numpy()
        assert float(layer.kernel_scale) == pytest.approx(want_scale)
        assert np.all((b >= 0) & (b < 2 * np.pi))
        want = np.sqrt(2 / 16) * np.cos(x.astype("float64") @ w / want_scale + b)
        np.testing.assert_allclose(z, want, atol=1e-5)
    # trainable=False (the default): nothing of it is trained; trainable=True trains the scale only
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 3
    trainable = RandomFourierFeatures(output_dim=4, trainable=True)
    trainable.build((None, 3))
    assert [w.shape for w in trainable.trainable_weights] == [(1,)]
    with pytest.raises(ValueError, match=r"expected kernel_initializer 'gaussian' or 'laplacian', got 'rbf'"):
        RandomFourierFeatures(output_dim=4, kernel_initializer="rbf")


def test_the_features_approximate_the_gaussian_kernel():
    """The "Introduction"'s claim: z(x)·z(y) ≈ exp(-‖x - y‖² / (2 s²)) as D grows."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 6)).astype("float32")
    layer = RandomFourierFeatures(output_dim=20000, scale=2.0)
    z = layer(torch.from_numpy(x)).double().numpy()
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).astype("float64")
    exact = np.exp(-sq / (2 * 2.0**2))
    # Monte Carlo with 20,000 features: standard error about 1/√D ≈ 0.007 per entry
    assert np.max(np.abs(z @ z.T - exact)) < 0.05
    assert np.mean(np.abs(z @ z.T - exact)) < 0.01


def test_the_hinge_loss_on_one_hot_labels_is_the_svm_loss_in_numpy():
    """Section "Build the model": keras.losses.hinge with the example's one-hot labels:
    mean over classes of max(0, 1 - t·ŷ), t = 2y - 1 ∈ {-1, 1}."""
    rng = np.random.default_rng(2)
    y = keras.utils.to_categorical(rng.integers(0, 10, size=8), num_classes=10)
    y_pred = rng.normal(size=(8, 10)).astype("float32")
    got = keras.losses.hinge(torch.from_numpy(y), torch.from_numpy(y_pred)).numpy()
    want = np.mean(np.maximum(0.0, 1.0 - (2 * y - 1) * y_pred.astype("float64")), axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_the_quasi_svm_classifies_digits_far_above_chance(data):
    """Sections "Build the model" and "Train the model" (validation_split=0.2), then the test digits."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(0)
    model = build_model()
    features = model.layers[0]
    fixed = [w.detach().clone() for w in features.weights]
    history = model.fit(x_train, y_train, epochs=4, batch_size=128, validation_split=0.2, verbose=0).history
    assert sorted(history) == ["acc", "loss", "val_acc", "val_loss"]
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_acc"][-1] > 0.75  # chance is 0.1; about 0.82 after these 4 short epochs
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.75
    # only the linear layer learned: the random features are what they were
    for before, after in zip(fixed, features.weights):
        torch.testing.assert_close(after.detach(), before, rtol=0, atol=0)
    # evaluate's accuracy is the argmax agreement with the labels
    scores = model.predict(x_test, verbose=0)
    assert acc == pytest.approx(np.mean(scores.argmax(1) == y_test.argmax(1)))
