"""keras.io example "GAN overriding Model.train_step"
(https://keras.io/examples/generative/dcgan_overriding_train_step/).

The stored copy of the example (keras-io ``examples/generative/
dcgan_overriding_train_step.py``, last modified 2020/04/29) is the older
TensorFlow version, on MNIST digits of 28 × 28 (the page today trains on
CelebA faces of 64 × 64, which are not here); it is ported as stored, the way
a learner ports it: ``import brainnet as keras`` / ``from brainnet import
layers``, ``tf.*`` calls written as torch calls (``tf.random.normal`` is
``torch.randn``, ``tf.concat`` is ``torch.cat``, ``tf.random.uniform`` is
``torch.rand``), the ``tf.data`` pipeline a torch ``DataLoader`` over the
images, and each ``GradientTape`` block ``zero_grad`` / ``backward`` /
``apply_gradients`` (the discriminator's on detached fakes: the tape there
differentiates the discriminator's weights only). ``LeakyReLU(alpha=0.2)``
is written with Keras 3's name, ``negative_slope=0.2``. Everything else is
the example's: the two ``Sequential`` players, the ``GAN`` model whose
``compile`` takes two optimizers and a loss, its ``train_step`` with noisy
labels (1 fake, 0 real), and the ``GANMonitor`` callback saving PNGs with
``keras.preprocessing.image.array_to_img``.

Shortened: 2,048 digits (the example: all 70,000), one epoch (the example:
30), and the generator's two transposed convolutions with 32 filters instead
of 128 (at 128 the generator alone costs about 260 million multiply-adds a
digit, 27 million at 32); the last images are not displayed.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brainnet as keras
from brainnet import layers

batch_size = 64
latent_dim = 128


def make_discriminator():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(64, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(128, (3, 3), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


def make_generator(filters=128):
    """The example's generator; ``filters`` is 128 there (the transposed convolutions' width)."""
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            # 128 coefficients per cell of a 7 × 7 map
            layers.Dense(7 * 7 * 128),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Reshape((7, 7, 128)),
            layers.Conv2DTranspose(filters, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2DTranspose(filters, (4, 4), strides=(2, 2), padding="same"),
            layers.LeakyReLU(negative_slope=0.2),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super(GAN, self).__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super(GAN, self).compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        batch_size = real_images.shape[0]
        random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)

        # Fakes, then fakes and reals in one batch
        generated_images = self.generator(random_latent_vectors)
        combined_images = torch.cat([generated_images, real_images], dim=0)

        # 1 for fake, 0 for real, plus a little noise on the labels
        labels = torch.cat([torch.ones((batch_size, 1)), torch.zeros((batch_size, 1))], dim=0)
        labels = labels.to(real_images.device)
        labels = labels + 0.05 * torch.rand(labels.shape, device=labels.device)

        # The discriminator's step (the fakes held fixed)
        self.zero_grad()
        predictions = self.discriminator(combined_images.detach())
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.grad for v in self.discriminator.trainable_weights]
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))

        random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)

        # "All real", so that the generator learns to fool the discriminator; only its weights move
        misleading_labels = torch.zeros((batch_size, 1), device=real_images.device)
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.grad for v in self.generator.trainable_weights]
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return {"d_loss": d_loss, "g_loss": g_loss}


class GANMonitor(keras.callbacks.Callback):
    def __init__(self, num_img=3, latent_dim=128):
        self.num_img = num_img
        self.latent_dim = latent_dim

    def on_epoch_end(self, epoch, logs=None):
        random_latent_vectors = torch.randn(self.num_img, self.latent_dim)
        generated_images = self.model.generator(random_latent_vectors)
        generated_images = generated_images * 255  # not `*=`: torch would change the tensor in place
        generated_images = generated_images.detach().numpy()
        for i in range(self.num_img):
            img = keras.preprocessing.image.array_to_img(generated_images[i])
            img.save("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))


class RngAtEpochEnd(keras.callbacks.Callback):
    """Records torch's generator just before the monitor draws its noise."""

    def on_epoch_end(self, epoch, logs=None):
        self.state = torch.get_rng_state()


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """Section "Prepare MNIST data", on a slice of the training and test digits."""
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)
    all_digits = np.concatenate([x_train[:1536], x_test[:512]])
    all_digits = all_digits.astype("float32") / 255
    all_digits = np.reshape(all_digits, (-1, 28, 28, 1))
    held_out = x_train[-512:].astype("float32").reshape(-1, 28, 28, 1) / 255
    return all_digits, held_out


def test_the_players_have_the_summarys_shapes_and_parameter_counts():
    """Sections "Create the discriminator" and "Create the generator", at the example's widths."""
    discriminator, generator = make_discriminator(), make_generator()
    assert discriminator.output_shape == (None, 1) and generator.output_shape == (None, 28, 28, 1)
    # the counts discriminator.summary() and generator.summary() print
    assert discriminator.count_params() == (9 * 64 + 64) + (9 * 64 * 128 + 128) + (128 + 1) == 74_625
    assert generator.count_params() == (128 * 6272 + 6272) + 2 * (16 * 128 * 128 + 128) + (49 * 128 + 1) == 1_339_905
    x, shapes = torch.randn(4, latent_dim), []
    for layer in generator.layers:  # the shapes the summary prints, layer by layer
        x = layer(x)
        shapes.append(tuple(x.shape[1:]))
    assert shapes == [(6272,), (6272,), (7, 7, 128), (14, 14, 128), (14, 14, 128), (28, 28, 128), (28, 28, 128),
                      (28, 28, 1)]
    images = generator(torch.randn(4, latent_dim)).detach().numpy()
    assert images.min() >= 0.0 and images.max() <= 1.0  # sigmoid: pixels as the data's [0, 1]


def test_each_tape_moves_only_its_players_weights(mnist):
    """Section "Override train_step": the discriminator's step changes only the
    discriminator, the generator's step only the generator (seen by giving the
    other optimizer a learning rate of 0), and d_loss is the binary
    cross-entropy of the discriminator on the batch with labels 1 + noise for
    the fakes, 0 + noise for the reals (noise in [0, 0.05))."""
    all_digits, _ = mnist
    batch = torch.from_numpy(all_digits[:batch_size])
    for frozen in ("generator", "discriminator"):
        keras.utils.set_random_seed(1)
        gan = GAN(discriminator=make_discriminator(), generator=make_generator(filters=8), latent_dim=latent_dim)
        rates = {"generator": 0.0, "discriminator": 0.0003} if frozen == "generator" else {
            "generator": 0.0003, "discriminator": 0.0}
        gan.compile(d_optimizer=keras.optimizers.Adam(learning_rate=rates["discriminator"]),
                    g_optimizer=keras.optimizers.Adam(learning_rate=rates["generator"]),
                    loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
        before = {name: [w.detach().clone() for w in getattr(gan, name).weights]
                  for name in ("generator", "discriminator")}
        state = torch.get_rng_state()
        logs = gan.train_step(batch)
        for name in ("generator", "discriminator"):
            moved = [not torch.equal(a, b) for a, b in zip(before[name], getattr(gan, name).weights)]
            assert (not any(moved)) if name == frozen else all(moved), (frozen, name, moved)

    # d_loss against NumPy, on the same draws: the step before any update
    torch.set_rng_state(state)
    gan2 = GAN(discriminator=make_discriminator(), generator=make_generator(filters=8), latent_dim=latent_dim)
    gan2.discriminator.set_weights([w.numpy() for w in before["discriminator"]])
    gan2.generator.set_weights([w.numpy() for w in before["generator"]])
    torch.set_rng_state(state)
    with torch.no_grad():
        fakes = gan2.generator(torch.randn(batch_size, latent_dim))
        noise = 0.05 * torch.rand(2 * batch_size, 1)
        z = gan2.discriminator(torch.cat([fakes, batch])).numpy().astype("float64")[:, 0]
    y = np.concatenate([np.ones(batch_size), np.zeros(batch_size)]) + noise.numpy()[:, 0]
    expected = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))  # BCE on logits
    np.testing.assert_allclose(float(logs["d_loss"].detach()), expected, rtol=1e-5)
    assert noise.min() >= 0 and noise.max() < 0.05


def test_the_gan_trains_and_the_monitor_saves_images(mnist, tmp_path, monkeypatch):
    """Section "Train the end-to-end model": one epoch over 2,048 digits with the
    GANMonitor. The discriminator learns to tell held-out real digits from new
    fakes, the fakes' mean pixel moves toward MNIST's, and the PNGs are the
    generator's images stretched to 0-255 as array_to_img does.
    Measured 2026-12-05 (OMP_NUM_THREADS=1, seed 0): d_loss 0.49, g_loss 0.85
    (the last batch's, as train_step returns them); the discriminator right on
    100 % of 512 held-out reals and 512 new fakes; the fakes' mean pixel
    0.51 → 0.20 (MNIST's: 0.13)."""
    all_digits, held_out = mnist
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    dataset = torch.utils.data.DataLoader(torch.from_numpy(all_digits), batch_size=batch_size, shuffle=True)
    discriminator, generator = make_discriminator(), make_generator(filters=32)
    with torch.no_grad():
        untrained_mean = float(generator(torch.randn(256, latent_dim)).mean())

    epochs = 1  # the example: 30
    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    rng = RngAtEpochEnd()
    history = gan.fit(dataset, epochs=epochs, callbacks=[rng, GANMonitor(num_img=3, latent_dim=latent_dim)],
                      verbose=0).history
    assert set(history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(v[0]) for v in history.values())

    with torch.no_grad():
        fakes = generator(torch.randn(len(held_out), latent_dim))
        on_fake = discriminator(fakes).numpy()[:, 0]
        on_real = discriminator(torch.from_numpy(held_out)).numpy()[:, 0]
    # logits above 0 say "fake" (label 1)
    accuracy = 0.5 * (np.mean(on_fake > 0) + np.mean(on_real < 0))
    assert accuracy > 0.6, accuracy
    assert abs(float(fakes.mean()) - held_out.mean()) < 0.5 * abs(untrained_mean - held_out.mean())

    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["generated_img_0_0.png", "generated_img_1_0.png", "generated_img_2_0.png"]
    torch.set_rng_state(rng.state)
    with torch.no_grad():
        images = generator(torch.randn(3, latent_dim)).numpy().astype("float64") * 255
    for i in range(3):
        with Image.open(tmp_path / f"generated_img_{i}_0.png") as img:
            assert img.size == (28, 28) and img.mode == "L"
            pixels = np.asarray(img).astype("int64")
        x = images[i, ..., 0]
        expected = np.floor(255 * (x - x.min()) / (x.max() - x.min()))  # array_to_img's stretch
        assert np.abs(pixels - expected).max() <= 1
