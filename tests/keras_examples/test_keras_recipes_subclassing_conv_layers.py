"""keras.io example "Customizing the convolution operation of a Conv2D layer"
(https://keras.io/examples/keras_recipes/subclassing_conv_layers/). The stored
copy is the tf.keras version; it is ported as a learner would, with ``import
brainnet as keras`` and ``from brainnet import layers`` and the tf calls
written as torch: ``tf.nn.moments(kernel, axes=[0, 1, 2], keepdims=True)``
is ``torch.mean``/``torch.var(..., unbiased=False)`` over ``dim=(1, 2, 3)``
(brainnet's kernel is ``(filters, in, kh, kw)``, PyTorch's layout, where
Keras's is ``(kh, kw, in, filters)``: docs/keras.md), and ``tf.nn.conv2d`` on
``(B, H, W, C)`` images is ``torch.nn.functional.conv2d`` between two
permutes. ``InputLayer(input_shape=...)`` is kept (brainnet, as Keras 3,
warns that it is now ``shape=``). Shortened for CI: 6,000 training images
(of which ``validation_split=0.1`` holds out 600) and 2,000 test images; the
example's 5 epochs (its fit is in a comment; it is run here). The
tests check both layers against a NumPy standardized convolution, the
summary, and test accuracy far above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class StandardizedConv2DWithOverride(layers.Conv2D):
    def convolution_op(self, inputs, kernel):
        # each filter's mean and variance (brainnet's kernel: (filters, in, kh, kw))
        mean = torch.mean(kernel, dim=(1, 2, 3), keepdim=True)
        var = torch.var(kernel, dim=(1, 2, 3), unbiased=False, keepdim=True)
        return torch.nn.functional.conv2d(
            inputs.permute(0, 3, 1, 2),  # (B, C, H, W)
            (kernel - mean) / torch.sqrt(var + 1e-10),
            padding="valid",
            stride=list(self.strides),
        ).permute(0, 2, 3, 1)  # (B, H', W', filters)


class StandardizedConv2DWithCall(layers.Conv2D):
    def call(self, inputs):
        # the same standardized kernel, handed to the layer's own convolution_op
        mean = torch.mean(self.kernel, dim=(1, 2, 3), keepdim=True)
        var = torch.var(self.kernel, dim=(1, 2, 3), unbiased=False, keepdim=True)
        result = self.convolution_op(
            inputs, (self.kernel - mean) / torch.sqrt(var + 1e-10)
        )
        if self.use_bias:
            result = result + self.bias
        return result


num_classes = 10
input_shape = (28, 28, 1)


def _numpy_standardized_conv(x, kernel, bias):
    # ŵ_j = (w_j − mean(w_j)) / √(var(w_j) + 1e-10) per filter j;  y[n, p, q, j] = Σ_{u,v,c} x[n, p+u, q+v, c] ŵ[j, c, u, v] + b_j
    w = kernel.reshape(kernel.shape[0], -1)
    w = ((w - w.mean(1, keepdims=True)) / np.sqrt(w.var(1, keepdims=True) + 1e-10)).reshape(kernel.shape)
    f, c, kh, kw = w.shape
    n, h, wd, _ = x.shape
    y = np.zeros((n, h - kh + 1, wd - kw + 1, f))
    for p in range(h - kh + 1):
        for q in range(wd - kw + 1):
            patch = x[:, p:p + kh, q:q + kw, :]  # (n, kh, kw, c)
            y[:, p, q, :] = np.einsum("nuvc,jcuv->nj", patch, w)
    return y + bias


@pytest.mark.parametrize("cls", [StandardizedConv2DWithOverride, StandardizedConv2DWithCall])
def test_both_standardized_convolutions_match_numpy(cls):
    """Section "A Simple StandardizedConv2D implementation"."""
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype("float32")
    layer = cls(4, kernel_size=(3, 3), activation="relu")
    y = layer(torch.from_numpy(x))
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.5, -0.5, 1.0, -1.0]))
        y = layer(torch.from_numpy(x)).numpy()
    want = _numpy_standardized_conv(x.astype("float64"), layer.kernel.detach().double().numpy(),
                                    layer.bias.detach().double().numpy())
    if cls is StandardizedConv2DWithOverride:
        want = np.maximum(want, 0)  # Conv2D's call applies the activation to convolution_op + bias
    else:
        assert y.min() < 0  # the overridden call leaves the activation out, as in Keras
    assert y.shape == (2, 5, 4, 4)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
    # a standardized kernel: the output does not change when the kernel is scaled and shifted
    with torch.no_grad():
        layer.kernel.mul_(3.0).add_(0.25)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), y, rtol=1e-4, atol=1e-4)


def _model():
    return keras.Sequential(
        [
            keras.layers.InputLayer(input_shape=input_shape),
            StandardizedConv2DWithCall(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            StandardizedConv2DWithOverride(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Example Usage": the data."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]


def test_the_standardized_convnet_summary_and_training_on_mnist(data):
    """Section "Example Usage": the model, its summary and the (commented-out) fit."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(1)
    with pytest.warns(UserWarning, match=r"InputLayer: argument `input_shape` is deprecated\. Use `shape` instead"):
        model = _model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    shapes = ["(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)",
              "(None, 1600)", "(None, 10)"]
    positions = [text.index(shape) for shape in shapes]
    assert positions == sorted(positions)
    assert "Total params: 34,826" in lines  # the plain convnet's: standardizing adds no weight

    batch_size = 128
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=5, validation_split=0.1, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9  # chance is 0.1
    p = model.predict(x_test, verbose=0).astype("float64")
    assert loss == pytest.approx(-np.mean(np.sum(y_test * np.log(p), axis=1)), rel=1e-4)
