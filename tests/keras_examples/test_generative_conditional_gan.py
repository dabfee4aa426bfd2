"""keras.io example "Conditional GAN"
(https://keras.io/examples/generative/conditional_gan/), ported the way a
learner ports it: ``import brainnet as keras`` / ``from brainnet import
layers``, ``tf.*`` calls written as torch calls (``tf.repeat(x, repeats=[n])``
is ``torch.repeat_interleave(x, n)``, ``tf.concat`` is ``torch.cat``,
``tf.random.normal`` is ``torch.randn``), the ``tf.data`` pipeline a torch
``DataLoader``, and each ``GradientTape`` block ``zero_grad`` / ``backward``
/ ``apply_gradients`` (the discriminator's on detached fakes, so the backward
pass stops at them, as the tape's gradient for the discriminator's weights
does). ``LeakyReLU(alpha=0.2)`` is written with Keras 3's name,
``negative_slope=0.2`` (``alpha`` works, with Keras 3's deprecation
warning). Everything else is the example's: the one-hot labels
joined to the generator's noise and, as label maps, to the discriminator's
images; the ``ConditionalGAN`` model whose ``compile`` takes two optimizers
and a loss; its ``train_step``; the interpolation between two classes. Two
of the example's reshapes do what TensorFlow does, not what its comments say
(the tests show both): the label maps spread each class's copies over the
cells rather than one class per channel, and the interpolation noise differs
from row to row.

Shortened: 2,048 digits (the example: all 70,000), one epoch (the example:
20), and the generator's two transposed convolutions with 32 filters instead
of 128 (the generator's forward pass: 71 million multiply-adds a digit at 128,
9 million at 32); the GIF is not written.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

batch_size = 64
num_channels = 1
num_classes = 10
image_size = 28
latent_dim = 128

generator_in_channels = latent_dim + num_classes
discriminator_in_channels = num_channels + num_classes


def build_discriminator():
    return keras.Sequential(
        [
            keras.layers.InputLayer((28, 28, discriminator_in_channels)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def build_generator(filters=128):
    return keras.Sequential(
        [
            keras.layers.InputLayer((generator_in_channels,)),
            # 128 + num_classes coefficients for each cell of a 7x7 map.
            layers.Dense(7 * 7 * generator_in_channels),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, generator_in_channels)),
            layers.Conv2DTranspose(filters, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(filters, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )


def label_maps(one_hot_labels):
    """The example's label maps for the discriminator, written as it writes them."""
    image_one_hot_labels = one_hot_labels[:, :, None, None]
    image_one_hot_labels = torch.repeat_interleave(image_one_hot_labels, image_size * image_size)
    return torch.reshape(image_one_hot_labels, (-1, image_size, image_size, num_classes))


class ConditionalGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.gen_loss_tracker = keras.metrics.Mean(name="generator_loss")
        self.disc_loss_tracker = keras.metrics.Mean(name="discriminator_loss")

    @property
    def metrics(self):
        return [self.gen_loss_tracker, self.disc_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, data):
        real_images, one_hot_labels = data

        # Labels as extra image channels, for the discriminator.
        image_one_hot_labels = label_maps(one_hot_labels)

        # Noise joined with the labels, for the generator.
        batch_size = real_images.shape[0]
        random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)
        random_vector_labels = torch.cat([random_latent_vectors, one_hot_labels], dim=1)
        generated_images = self.generator(random_vector_labels)

        fake_image_and_labels = torch.cat([generated_images, image_one_hot_labels], -1)
        real_image_and_labels = torch.cat([real_images, image_one_hot_labels], -1)
        combined_images = torch.cat([fake_image_and_labels, real_image_and_labels], dim=0)

        # 1 for fake, 0 for real.
        labels = torch.cat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))], dim=0).to(real_images.device)

        # Train the discriminator (the fakes held fixed).
        self.zero_grad()
        predictions = self.discriminator(combined_images.detach())
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.grad for v in self.discriminator.trainable_weights]
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)
        random_vector_labels = torch.cat([random_latent_vectors, one_hot_labels], dim=1)

        # "All real", to train the generator; only its weights move.
        misleading_labels = torch.zeros((batch_size, 1), device=real_images.device)
        self.zero_grad()
        fake_images = self.generator(random_vector_labels)
        fake_image_and_labels = torch.cat([fake_images, image_one_hot_labels], -1)
        predictions = self.discriminator(fake_image_and_labels)
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.grad for v in self.generator.trainable_weights]
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.gen_loss_tracker.update_state(g_loss)
        self.disc_loss_tracker.update_state(d_loss)
        return {
            "g_loss": self.gen_loss_tracker.result(),
            "d_loss": self.disc_loss_tracker.result(),
        }


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """Section "Loading the MNIST dataset and preprocessing it", on a slice."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    all_digits = np.concatenate([x_train[:1536], x_test[:512]])
    all_labels = np.concatenate([y_train[:1536], y_test[:512]])
    all_digits = all_digits.astype("float32") / 255.0
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    all_labels = keras.utils.to_categorical(all_labels, 10)
    held_out = (x_train[-512:].astype("float32").reshape(-1, 28, 28, 1) / 255.0,
                keras.utils.to_categorical(y_train[-512:], 10))
    return all_digits, all_labels, held_out


def test_the_data_and_the_channel_counts_are_the_example_ones(mnist):
    all_digits, all_labels, _ = mnist
    assert all_digits.shape == (2048, 28, 28, 1) and all_labels.shape == (2048, 10)  # the example's (70000, ...)
    assert (generator_in_channels, discriminator_in_channels) == (138, 11)
    assert build_discriminator().output_shape == (None, 1)
    assert build_generator().output_shape == (None, 28, 28, 1)
    assert [type(layer).__name__ for layer in build_generator().layers][0] == "Dense"  # no InputLayer in layers


def test_the_label_maps_are_tf_repeat_then_reshape():
    """``torch.repeat_interleave`` without ``dim`` flattens and repeats each value, as
    ``tf.repeat`` does: so the maps are the example's, which spread each class's
    784 copies over consecutive cells in (row, column, channel) order."""
    labels = np.eye(10, dtype="float32")[[3, 7]]
    got = label_maps(torch.from_numpy(labels)).numpy()
    expected = np.repeat(labels.reshape(-1), 784).reshape(-1, 28, 28, 10)
    np.testing.assert_array_equal(got, expected)
    assert got.shape == (2, 28, 28, 10) and got[0].sum() == 784 and got[1].sum() == 784
    # The flattened map of sample b is its one-hot label, each entry 784 times.
    np.testing.assert_array_equal(got[1].reshape(10, 784), np.repeat(labels[1][:, None], 784, axis=1))


@pytest.fixture(scope="module")
def trained(mnist):
    """Section "Training the Conditional GAN": one epoch over 2,048 digits."""
    all_digits, all_labels, _ = mnist
    keras.utils.set_random_seed(0)
    dataset = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(all_digits), torch.from_numpy(all_labels)),
        batch_size=batch_size, shuffle=True)
    discriminator, generator = build_discriminator(), build_generator(filters=32)
    cond_gan = ConditionalGAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    cond_gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    with torch.no_grad():
        untrained = generator(torch.cat([torch.randn(64, latent_dim), torch.from_numpy(all_labels[:64])], 1))
    untrained_mean = float(untrained.mean())
    history = cond_gan.fit(dataset, epochs=1, verbose=0).history
    return cond_gan, history, untrained_mean


def test_the_conditional_gan_trains_its_two_players(trained, mnist):
    """The two trackers are logged, and each player learned: the discriminator tells
    held-out real digits (with their labels) from new fakes, and the generator's
    images moved from the untrained sigmoid's grey toward MNIST's dark background.
    Measured 2026-12-05 (OMP_NUM_THREADS=1, seed 0): g_loss 0.85, d_loss 0.58;
    the discriminator right on 99 % of held-out reals and new fakes; the fakes'
    mean pixel 0.50 → 0.03 (MNIST's: 0.13)."""
    cond_gan, history, untrained_mean = trained
    _, _, (real, real_labels) = mnist
    assert set(history) == {"g_loss", "d_loss"}
    assert all(np.isfinite(v[0]) for v in history.values())

    with torch.no_grad():
        labels = torch.from_numpy(real_labels)
        fakes = cond_gan.generator(torch.cat([torch.randn(len(labels), latent_dim), labels], 1))
        maps = label_maps(labels)
        on_fake = cond_gan.discriminator(torch.cat([fakes, maps], -1))
        on_real = cond_gan.discriminator(torch.cat([torch.from_numpy(real), maps], -1))
    # Labels: 1 fake, 0 real; logits above 0 say "fake".
    accuracy = 0.5 * (float((on_fake > 0).float().mean()) + float((on_real < 0).float().mean()))
    assert accuracy > 0.6
    assert abs(float(fakes.mean()) - real.mean()) < 0.5 * abs(untrained_mean - real.mean())


def test_interpolating_between_classes(trained):
    """Section "Interpolating between classes with the trained generator": 9 images
    from class 1 to class 5 with one noise vector, computed as the example does."""
    cond_gan, _, _ = trained
    trained_gen = cond_gan.generator
    num_interpolation = 9

    interpolation_noise = torch.randn(1, latent_dim)
    noise = interpolation_noise.numpy().copy()
    interpolation_noise = torch.repeat_interleave(interpolation_noise, num_interpolation)
    interpolation_noise = torch.reshape(interpolation_noise, (num_interpolation, latent_dim))
    # As tf.repeat without an axis: each value 9 times in a row, then cut into rows of
    # 128; so the rows are not one noise vector repeated (what the example means), in
    # TensorFlow as here.
    np.testing.assert_array_equal(interpolation_noise.numpy(),
                                  np.repeat(noise.reshape(-1), num_interpolation).reshape(9, latent_dim))
    assert not torch.equal(interpolation_noise[0], interpolation_noise[1])

    def interpolate_class(first_number, second_number):
        first_label = keras.utils.to_categorical([first_number], num_classes)
        second_label = keras.utils.to_categorical([second_number], num_classes)
        first_label = torch.as_tensor(first_label, dtype=torch.float32)
        second_label = torch.as_tensor(second_label, dtype=torch.float32)

        percent_second_label = torch.linspace(0, 1, num_interpolation)[:, None]
        interpolation_labels = first_label * (1 - percent_second_label) + second_label * percent_second_label

        noise_and_labels = torch.cat([interpolation_noise, interpolation_labels], 1)
        return trained_gen.predict(noise_and_labels.numpy(), verbose=0), interpolation_labels.numpy()

    fake_images, interpolation_labels = interpolate_class(1, 5)
    assert fake_images.shape == (9, 28, 28, 1) and 0 <= fake_images.min() and fake_images.max() <= 1
    np.testing.assert_allclose(interpolation_labels[:, 1] + interpolation_labels[:, 5], 1.0, rtol=1e-6)
    np.testing.assert_allclose(interpolation_labels[4, [1, 5]], [0.5, 0.5], rtol=1e-6)
    # The label is an input of the generator: the same noise with class 1 and with
    # class 5 gives two images (after one short epoch they differ little: 0.004 a pixel).
    with torch.no_grad():
        one, five = (trained_gen(torch.cat([interpolation_noise[:1], torch.eye(10)[[k]]], 1)) for k in (1, 5))
    assert float((one - five).abs().mean()) > 1e-4

    fake_images *= 255.0
    converted_images = fake_images.astype(np.uint8)
    assert converted_images.dtype == np.uint8 and converted_images.shape == (9, 28, 28, 1)
