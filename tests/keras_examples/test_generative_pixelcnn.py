"""keras.io example "PixelCNN" (https://keras.io/examples/generative/pixelcnn/),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, the rest as the example has it: MNIST
binarized at a third of the range, ``PixelConvLayer`` (a ``Conv2D`` whose
kernel is multiplied by a type-A or type-B mask before each call),
``ResidualBlock`` (``ReLU``, 1×1 ``Conv2D``, masked 3×3, 1×1, and
``keras.layers.add``), the model (a 7×7 type-A layer, residual blocks, two
1×1 type-B layers and a sigmoid 1×1 ``Conv2D``), ``Adam`` with
``binary_crossentropy``, ``fit(x=data, y=data, validation_split=0.1)``, and
the pixel-by-pixel sampling loop with ``save_img``.

The stored copy of the example is the TensorFlow 2 version; its TensorFlow
calls are written in torch: ``kernel.get_shape()`` is
``tuple(kernel.shape)``; ``kernel.assign(kernel * mask)`` is
``kernel.copy_(kernel * mask)`` under ``torch.no_grad()``;
``tfp.distributions.Bernoulli(probs=p).sample()`` is
``np.random.binomial(1, p)``; ``keras.preprocessing.image.save_img`` is
``keras.utils.save_img`` (its Keras 3 name). One line has to change
meaning, not only spelling: brainnet keeps ``Conv2D``'s kernel in PyTorch's
layout ``(filters, in, kh, kw)`` (docs/keras.md), so the mask's spatial axes
are the last two (``mask[..., :kh // 2, :]``), where the example's Keras
layout ``(kh, kw, in, filters)`` has them first (``mask[:kh // 2, ...]``).

Shortened for CI: 3,000 training images (of the example's 70,000), 32
filters instead of 128, 2 residual blocks instead of 5, learning rate 0.001
instead of 0.0001, 2 epochs instead of 50; the sampling loop draws 2 images
instead of 4.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10
input_shape = (28, 28, 1)
n_residual_blocks = 2  # the example: 5
filters = 32  # the example: 128


class PixelConvLayer(layers.Layer):
    def __init__(self, mask_type, **kwargs):
        super().__init__()
        self.mask_type = mask_type
        self.conv = layers.Conv2D(**kwargs)

    def build(self, input_shape):
        # build the Conv2D to make its kernel, then the mask of the kernel's shape
        self.conv.build(input_shape)
        kernel_shape = tuple(self.conv.kernel.shape)  # (filters, in, kh, kw)
        kh, kw = kernel_shape[-2:]
        self.mask = np.zeros(shape=kernel_shape)
        self.mask[..., : kh // 2, :] = 1.0  # the rows above the centre
        self.mask[..., kh // 2, : kw // 2] = 1.0  # the centre row, left of the centre
        if self.mask_type == "B":
            self.mask[..., kh // 2, kw // 2] = 1.0  # and the centre itself

    def call(self, inputs):
        kernel = self.conv.kernel
        with torch.no_grad():
            kernel.copy_(kernel * torch.as_tensor(self.mask, dtype=kernel.dtype, device=kernel.device))
        return self.conv(inputs)


class ResidualBlock(keras.layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.ReLU()
        self.b = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")
        self.c = PixelConvLayer(mask_type="B", filters=filters // 2, kernel_size=3, activation="relu", padding="same")
        self.d = keras.layers.Conv2D(filters=filters, kernel_size=1, activation="relu")

    def call(self, inputs):
        x = self.a(inputs)
        x = self.b(x)
        x = self.c(x)
        x = self.d(x)
        return keras.layers.add([inputs, x])


def create_pixel_cnn():
    inputs = keras.Input(shape=input_shape)
    x = PixelConvLayer(mask_type="A", filters=filters, kernel_size=7, padding="same", activation="relu")(inputs)
    for _ in range(n_residual_blocks):
        x = ResidualBlock(filters=filters)(x)
    for _ in range(2):
        x = PixelConvLayer(mask_type="B", filters=filters, kernel_size=1, strides=1, activation="relu",
                           padding="valid")(x)
    out = keras.layers.Conv2D(filters=1, kernel_size=1, strides=1, activation="sigmoid", padding="valid")(x)
    return keras.Model(inputs, out)


def naive_mask(kh, kw, mask_type):
    """NumPy: 1 where kernel tap (r, c) reads a pixel before the centre in raster order (type B: also the centre)."""
    mask = np.zeros((kh, kw))
    for r in range(kh):
        for c in range(kw):
            offset = (r - kh // 2) * kw + (c - kw // 2)  # raster offset from the centre
            mask[r, c] = offset < 0 or (mask_type == "B" and offset == 0)
    return mask


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("kernel_size", [7, 3, 1])
def test_the_masks_keep_only_earlier_pixels(mask_type, kernel_size):
    """Section "Create two classes for the requisite Layers": the type-A and type-B masks against NumPy,
    and the masked kernel really is the one that convolves."""
    keras.utils.set_random_seed(0)
    layer = PixelConvLayer(mask_type=mask_type, filters=3, kernel_size=kernel_size, padding="same")
    x = np.random.default_rng(0).normal(size=(2, 9, 9, 2)).astype("float32")
    got = layer(x).detach().numpy()
    expected_mask = naive_mask(kernel_size, kernel_size, mask_type)
    assert layer.mask.shape == (3, 2, kernel_size, kernel_size)
    for f in range(3):
        for i in range(2):
            np.testing.assert_array_equal(layer.mask[f, i], expected_mask)
    kernel, bias = layer.conv.get_weights()  # (filters, in, kh, kw), after the call's masking
    np.testing.assert_array_equal(kernel * (1 - expected_mask), 0)
    # a NumPy 'same' convolution with the masked kernel: y[b, h, w, f] = Σ x[b, h+r-k//2, w+c-k//2, i]·K[f, i, r, c]
    k = kernel_size
    padded = np.pad(x.astype("float64"), ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    expected = np.zeros((2, 9, 9, 3))
    for r in range(k):
        for c in range(k):
            expected += np.einsum("bhwi,fi->bhwf", padded[:, r:r + 9, c:c + 9], kernel[:, :, r, c])
    np.testing.assert_allclose(got, expected + bias, rtol=1e-4, atol=1e-5)


def test_output_pixel_depends_only_on_earlier_pixels():
    """The model's causality: output (i, j) has zero gradient with respect to input pixels at or after (i, j)
    in raster order (the first layer's type-A mask), and a non-zero one on some earlier pixels."""
    keras.utils.set_random_seed(0)
    pixel_cnn = create_pixel_cnn()
    x = torch.from_numpy((np.random.default_rng(0).uniform(size=(1, 28, 28, 1)) > 0.5).astype("float32"))
    raster = np.arange(28 * 28).reshape(28, 28)
    for i, j in [(0, 0), (5, 9), (14, 14), (27, 27), (20, 3)]:
        inputs = x.clone().requires_grad_(True)
        pixel_cnn(inputs)[0, i, j, 0].backward()
        gradient = inputs.grad[0, :, :, 0].numpy()
        at_or_after = raster >= raster[i, j]
        np.testing.assert_array_equal(gradient[at_or_after], 0)
        assert (i, j) == (0, 0) or np.abs(gradient[~at_or_after]).max() > 0
    # the same by changing inputs: pixels from (i, j) on change, outputs up to (i, j) do not
    base = pixel_cnn.predict(x.numpy(), verbose=0)
    changed = x.numpy().copy().reshape(-1)
    changed[raster[10, 4]:] = 1 - changed[raster[10, 4]:]
    out = pixel_cnn.predict(changed.reshape(1, 28, 28, 1), verbose=0).reshape(-1)
    np.testing.assert_allclose(out[: raster[10, 4] + 1], base.reshape(-1)[: raster[10, 4] + 1], rtol=1e-5, atol=1e-6)
    assert not np.allclose(out[raster[10, 4] + 1:], base.reshape(-1)[raster[10, 4] + 1:], atol=1e-4)


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Getting the Data": training and test images together, binarized at 0.33 of 256."""
    (x, _), (y, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    x, y = x[:2700], y[:300]  # the example: all 70,000
    data = np.concatenate((x, y), axis=0)
    data = np.where(data < (0.33 * 256), 0, 1)
    data = data.astype(np.float32)
    return data[..., None]  # (N, 28, 28, 1), as the model's input_shape


def test_the_binarized_digits(data):
    assert data.shape == (3000, 28, 28, 1) and set(np.unique(data)) == {0.0, 1.0}
    assert 0.05 < data.mean() < 0.3  # MNIST is mostly background


def test_training_learns_the_pixels_from_their_context_and_samples(data, tmp_path):
    """Sections "Build the model based on the original paper" and "Demonstration"."""
    keras.utils.set_random_seed(0)
    pixel_cnn = create_pixel_cnn()
    adam = keras.optimizers.Adam(learning_rate=0.001)  # the example: 0.0001 over 50 epochs
    pixel_cnn.compile(optimizer=adam, loss="binary_crossentropy")
    assert pixel_cnn.input_shape == (None, 28, 28, 1) and pixel_cnn.output_shape == (None, 28, 28, 1)
    history = pixel_cnn.fit(x=data, y=data, batch_size=64, epochs=2, validation_split=0.1, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    # held-out (the last 10%): well below the best model that ignores the context, each pixel's own rate
    # (about 0.11 against 0.27 nats per pixel)
    train, val = data[:2700], data[2700:]
    rate = np.clip(train.mean(0), 1e-3, 1 - 1e-3)
    independent = -np.mean(val * np.log(rate) + (1 - val) * np.log(1 - rate))
    assert history.history["val_loss"][-1] < 0.6 * independent, (history.history["val_loss"], independent)
    # the masks still hold after training: the optimizer's steps between calls do not leak future pixels
    for layer in [m for m in pixel_cnn.modules() if isinstance(m, PixelConvLayer)]:
        kernel = layer.conv.get_weights()[0]
        np.testing.assert_array_equal(kernel * (1 - layer.mask), 0)

    # Demonstration: generate pixel by pixel
    batch = 2  # the example: 4
    pixels = np.zeros(shape=(batch,) + (pixel_cnn.input_shape)[1:])
    batch, rows, cols, channels = pixels.shape
    np.random.seed(0)
    for row in range(rows):
        for col in range(cols):
            for channel in range(channels):
                probs = pixel_cnn.predict(pixels, verbose=0)[:, row, col, channel]
                pixels[:, row, col, channel] = np.random.binomial(1, probs)
    assert set(np.unique(pixels)) <= {0.0, 1.0}
    assert 0.02 < pixels.mean() < 0.5, pixels.mean()  # ink, but not everywhere, as in the digits

    def deprocess_image(x):
        x = np.stack((x, x, x), 2)  # grey to RGB
        x *= 255.0
        return np.clip(x, 0, 255).astype("uint8")

    for i, pic in enumerate(pixels):
        keras.utils.save_img(str(tmp_path / "generated_image_{}.png".format(i)), deprocess_image(np.squeeze(pic, -1)))
    saved = keras.utils.img_to_array(keras.utils.load_img(str(tmp_path / "generated_image_1.png")))
    np.testing.assert_array_equal(saved[..., 0], pixels[1, :, :, 0] * 255)
