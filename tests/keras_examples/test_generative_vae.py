"""keras.io example "Variational AutoEncoder"
(https://keras.io/examples/generative/vae/), ported the way a learner ports
it: ``import brainnet as keras`` / ``from brainnet import layers``, the
``keras.ops`` / ``keras.random`` calls written as torch calls
(docs/keras.md), and the TensorFlow ``GradientTape`` step written as
PyTorch's ``zero_grad`` / ``backward`` / ``optimizer.apply``. Everything else
(Sampling, the convolutional encoder and decoder, the VAE with its own
``train_step`` and three loss trackers, ``fit`` without labels) is the
example's.

Shortened: 4,096 MNIST digits instead of all 70,000, 3 epochs instead of 30,
in batches of 32 instead of 128 (more steps for the same time: with 128, 3
short epochs leave the decoder at the mean image); the latent grid (5×5, the
example's is 30×30) and the cluster scatter are computed but not plotted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

LATENT_DIM = 2  # the example's


class Sampling(layers.Layer):
    """The example's reparameterisation: z = z_mean + exp(0.5 · z_log_var) · ε, ε ~ N(0, I)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = torch.Generator().manual_seed(1337)  # keras.random.SeedGenerator(1337)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = z_mean.shape[0]
        dim = z_mean.shape[1]
        epsilon = torch.randn(batch, dim, generator=self.seed_generator).to(z_mean.device)
        return z_mean + torch.exp(0.5 * z_log_var) * epsilon


def build_encoder():
    encoder_inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(LATENT_DIM, name="z_mean")(x)
    z_log_var = layers.Dense(LATENT_DIM, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")


def build_decoder():
    latent_inputs = keras.Input(shape=(LATENT_DIM,))
    x = layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 64))(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, decoder_outputs, name="decoder")


class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="total_loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def train_step(self, data):
        self.zero_grad()  # tf.GradientTape becomes autograd
        z_mean, z_log_var, z = self.encoder(data)
        reconstruction = self.decoder(z)
        reconstruction_loss = torch.mean(
            torch.sum(keras.losses.binary_crossentropy(data, reconstruction), dim=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - torch.square(z_mean) - torch.exp(z_log_var))
        kl_loss = torch.mean(torch.sum(kl_loss, dim=1))
        total_loss = reconstruction_loss + kl_loss
        total_loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(reconstruction_loss)
        self.kl_loss_tracker.update_state(kl_loss)
        return {
            "loss": self.total_loss_tracker.result(),
            "reconstruction_loss": self.reconstruction_loss_tracker.result(),
            "kl_loss": self.kl_loss_tracker.result(),
        }


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    (x_train, y_train), (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    return x_train, y_train, x_test


@pytest.fixture(scope="module")
def trained(mnist):
    """Section "Train the VAE" on 4,096 digits (training and test images, as the
    example joins them), 3 epochs of batches of 32; the model and its History."""
    x_train, _, x_test = mnist
    mnist_digits = np.concatenate([x_train[:3072], x_test[:1024]], axis=0)
    mnist_digits = np.expand_dims(mnist_digits, -1).astype("float32") / 255

    keras.utils.set_random_seed(0)
    vae = VAE(build_encoder(), build_decoder())
    vae.compile(optimizer=keras.optimizers.Adam())
    history = vae.fit(mnist_digits, epochs=3, batch_size=32, verbose=0).history
    return vae, history, mnist_digits


def test_the_sampling_layer_is_the_reparameterisation_equation():
    """Section "Create a sampling layer": z = μ + exp(½ log σ²) · ε against NumPy,
    with ε the draws of a generator seeded as the layer's."""
    rng = np.random.default_rng(0)
    z_mean = rng.normal(size=(5, 3)).astype("float32")
    z_log_var = rng.normal(size=(5, 3)).astype("float32")
    sampling = Sampling()
    z = sampling([torch.from_numpy(z_mean), torch.from_numpy(z_log_var)]).numpy()
    epsilon = torch.randn(5, 3, generator=torch.Generator().manual_seed(1337)).numpy().astype("float64")
    expected = z_mean.astype("float64") + np.exp(0.5 * z_log_var.astype("float64")) * epsilon
    np.testing.assert_allclose(z, expected, rtol=1e-6, atol=1e-6)
    # The generator moves on: a second call draws new noise.
    again = sampling([torch.from_numpy(z_mean), torch.from_numpy(z_log_var)]).numpy()
    assert not np.allclose(again, z)


def test_the_encoder_and_decoder_have_the_example_shapes_and_sizes():
    """Sections "Build the encoder" / "Build the decoder": the summaries' shapes and parameter counts."""
    keras.utils.set_random_seed(0)
    encoder, decoder = build_encoder(), build_decoder()
    # Conv 1·9·32+32, Conv 32·9·64+64, Dense 3136·16+16, two Dense 16·2+2 (the example's summary: 69,076).
    assert encoder.count_params() == 69076
    # Dense 2·3136+3136, ConvT 64·9·64+64, ConvT 64·9·32+32, ConvT 32·9·1+1 (summary: 65,089).
    assert decoder.count_params() == 65089
    z_mean, z_log_var, z = encoder(torch.zeros(4, 28, 28, 1))
    assert [tuple(t.shape) for t in (z_mean, z_log_var, z)] == [(4, 2)] * 3
    assert tuple(decoder(torch.zeros(4, 2)).shape) == (4, 28, 28, 1)
    assert "Sampling" in [type(layer).__name__ for layer in encoder.layers]


def test_the_vae_trains_and_its_losses_fall(trained):
    """Section "Train the VAE": the three tracked losses fall and are the
    example's formulas: total = reconstruction + KL, and ``binary_crossentropy``
    on (B, 28, 28, 1) images is the per-pixel cross-entropy (Keras reduces the
    channel axis), summed over the pixels, checked with NumPy on a batch.
    Measured 2026-12-05 (OMP_NUM_THREADS=1, seed 0): total 272.5 → 201.8 → 196.0
    nats per digit, KL 0.8 → 2.7 → 3.2; outputs near 0.5 score 784 · ln 2 ≈ 543."""
    vae, history, mnist_digits = trained
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    total, rec, kl = history["loss"], history["reconstruction_loss"], history["kl_loss"]
    assert total[2] < total[1] < total[0]
    assert rec[2] < rec[0]
    np.testing.assert_allclose(np.add(rec, kl), total, rtol=1e-5)
    assert total[2] < 230 and all(k > 0 for k in kl)

    # The losses written out in NumPy on a batch, with the sampled z the encoder gave.
    batch = mnist_digits[:64]
    with torch.no_grad():
        z_mean, z_log_var, z = (t.numpy().astype("float64") for t in vae.encoder(torch.from_numpy(batch)))
        reconstruction = vae.decoder(torch.from_numpy(z.astype("float32"))).numpy().astype("float64")
    p = np.clip(reconstruction, 1e-7, 1 - 1e-7)
    bce = -(batch * np.log(p) + (1 - batch) * np.log(1 - p)).mean(-1)  # per pixel, over the channel axis
    expected_rec = bce.sum(axis=(1, 2)).mean()
    expected_kl = (-0.5 * (1 + z_log_var - z_mean**2 - np.exp(z_log_var))).sum(1).mean()
    data = torch.from_numpy(batch)
    with torch.no_grad():
        got_rec = torch.mean(torch.sum(keras.losses.binary_crossentropy(
            data, torch.from_numpy(reconstruction.astype("float32"))), dim=(1, 2)))
    assert float(got_rec) == pytest.approx(expected_rec, rel=1e-4)
    assert expected_rec < 230 and 0 < expected_kl < 20


def test_the_latent_grid_decodes_digits_and_the_encoder_spreads_the_classes(mnist, trained):
    """Sections "Display a grid of sampled digits" and "Display how the latent space
    clusters different digit classes": the decoder's and encoder's predict calls,
    on a 5×5 grid and on 2,000 digits not trained on (no plots)."""
    x_train, y_train, _ = mnist
    vae = trained[0]
    n, digit_size, scale = 5, 28, 1.0
    figure = np.zeros((digit_size * n, digit_size * n))
    grid_x = np.linspace(-scale, scale, n)
    grid_y = np.linspace(-scale, scale, n)[::-1]
    for i, yi in enumerate(grid_y):
        for j, xi in enumerate(grid_x):
            z_sample = np.array([[xi, yi]])
            x_decoded = vae.decoder.predict(z_sample, verbose=0)
            assert x_decoded.shape == (1, 28, 28, 1)
            digit = x_decoded[0].reshape(digit_size, digit_size)
            figure[i * digit_size: (i + 1) * digit_size, j * digit_size: (j + 1) * digit_size] = digit
    assert 0.0 <= figure.min() and figure.max() <= 1.0
    # Different points of the latent plane decode to different images.
    assert np.abs(figure[:28, :28] - figure[-28:, -28:]).mean() > 0.02  # measured 0.042

    held_out = np.expand_dims(x_train[-2000:], -1).astype("float32") / 255
    labels = y_train[-2000:]
    z_mean, _, _ = vae.encoder.predict(held_out, verbose=0)
    assert z_mean.shape == (2000, 2) and np.isfinite(z_mean).all()

    # The classes start to cluster: a nearest-class-mean rule in the latent plane
    # scores more than the same rule on an untrained encoder's plane (measured
    # 0.32 against 0.26; chance is 0.10, and random convolutions already sort a little).
    def nearest_class_mean_accuracy(z):
        centres = np.stack([z[labels == c].mean(0) for c in range(10)])
        return (np.argmin(((z[:, None, :] - centres[None]) ** 2).sum(-1), axis=1) == labels).mean()

    keras.utils.set_random_seed(0)
    untrained, _, _ = build_encoder().predict(held_out, verbose=0)
    assert nearest_class_mean_accuracy(z_mean) > nearest_class_mean_accuracy(untrained) + 0.03

    # Digits never trained on, decoded from their z_mean, score better than the
    # training set's mean image does (measured 192 against 207 nats per digit).
    def bce(images, reconstruction):
        p = np.clip(reconstruction.astype("float64"), 1e-7, 1 - 1e-7)
        return -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum(axis=(1, 2, 3)).mean()

    mean_image = trained[2].mean(0, keepdims=True)
    assert bce(held_out, vae.decoder.predict(z_mean, verbose=0)) < bce(held_out, mean_image) - 8
