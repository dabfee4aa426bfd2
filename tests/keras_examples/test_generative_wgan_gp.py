"""keras.io example "WGAN-GP overriding Model.train_step"
(https://keras.io/examples/generative/wgan_gp/), ported the way a learner
ports it: ``import brainnet as keras`` / ``from brainnet import layers``,
``tf.*`` calls written as torch calls, and the gradient penalty's nested
``GradientTape`` written as ``torch.autograd.grad(..., create_graph=True)``
(the penalty's own gradient then reaches the critic's weights, as the outer
tape's does). Everything else is the example's: the zero-padded critic and
the upsampling generator cropped back to 28 × 28, the ``WGAN`` model with
its own ``compile`` (two optimizers, two loss functions) and ``train_step``
(3 critic steps per generator step), the loss functions, and the
``GANMonitor`` callback saving images with
``keras.preprocessing.image.array_to_img``.

Where the port writes torch: ``tf.random.normal`` is ``torch.randn``;
``gp_tape.watch(interpolated)`` is ``interpolated.requires_grad_(True)``, the
fakes entering the critic's steps detached (the critic's tape differentiates
its own weights only).

Shortened: 1,024 Fashion-MNIST images (the example: 60,000), one epoch (the
example: 20) in batches of 64 (the example: 512), and every convolution with
a quarter of the example's filters (at full width a step costs about 2 billion
multiply-adds an image, the penalty's double backward included).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import brainnet as keras
from brainnet import layers

IMG_SHAPE = (28, 28, 1)
BATCH_SIZE = 64  # the example's: 512
noise_dim = 128


def conv_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1), padding="same", use_bias=True,
               use_bn=False, use_dropout=False, drop_value=0.5):
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias)(x)
    if use_bn:
        x = layers.BatchNormalization()(x)
    x = activation(x)
    if use_dropout:
        x = layers.Dropout(drop_value)(x)
    return x


def get_discriminator_model(filters=(64, 128, 256, 512)):
    img_input = layers.Input(shape=IMG_SHAPE)
    # Zero-pad to (32, 32, 1) so that four stride-2 convolutions halve evenly.
    x = layers.ZeroPadding2D((2, 2))(img_input)
    x = conv_block(x, filters[0], kernel_size=(5, 5), strides=(2, 2), use_bn=False, use_bias=True,
                   activation=layers.LeakyReLU(0.2), use_dropout=False, drop_value=0.3)
    x = conv_block(x, filters[1], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                   activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=True, drop_value=0.3)
    x = conv_block(x, filters[2], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                   activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=True, drop_value=0.3)
    x = conv_block(x, filters[3], kernel_size=(5, 5), strides=(2, 2), use_bn=False,
                   activation=layers.LeakyReLU(0.2), use_bias=True, use_dropout=False, drop_value=0.3)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(1)(x)
    return keras.models.Model(img_input, x, name="discriminator")


def upsample_block(x, filters, activation, kernel_size=(3, 3), strides=(1, 1), up_size=(2, 2), padding="same",
                   use_bn=False, use_bias=True, use_dropout=False, drop_value=0.3):
    x = layers.UpSampling2D(up_size)(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias)(x)
    if use_bn:
        x = layers.BatchNormalization()(x)
    if activation:
        x = activation(x)
    if use_dropout:
        x = layers.Dropout(drop_value)(x)
    return x


def get_generator_model(filters=(256, 128, 64)):
    noise = layers.Input(shape=(noise_dim,))
    x = layers.Dense(4 * 4 * filters[0], use_bias=False)(noise)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.Reshape((4, 4, filters[0]))(x)
    x = upsample_block(x, filters[1], layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False, use_bn=True,
                       padding="same", use_dropout=False)
    x = upsample_block(x, filters[2], layers.LeakyReLU(0.2), strides=(1, 1), use_bias=False, use_bn=True,
                       padding="same", use_dropout=False)
    x = upsample_block(x, 1, layers.Activation("tanh"), strides=(1, 1), use_bias=False, use_bn=True)
    # (32, 32, 1) cropped back to the images' (28, 28, 1).
    x = layers.Cropping2D((2, 2))(x)
    return keras.models.Model(noise, x, name="generator")


class WGAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim, discriminator_extra_steps=3, gp_weight=10.0):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_steps = discriminator_extra_steps
        self.gp_weight = gp_weight

    def compile(self, d_optimizer, g_optimizer, d_loss_fn, g_loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.d_loss_fn = d_loss_fn
        self.g_loss_fn = g_loss_fn

    def gradient_penalty(self, batch_size, real_images, fake_images):
        """mean over the batch of (‖∂D(x̂)/∂x̂‖₂ − 1)², x̂ = real + α (fake − real), α ~ N(0, 1)."""
        alpha = torch.randn([batch_size, 1, 1, 1], device=real_images.device)
        diff = fake_images - real_images
        interpolated = real_images + alpha * diff
        interpolated.requires_grad_(True)  # gp_tape.watch(interpolated)
        pred = self.discriminator(interpolated, training=True)
        # The gradient of the critic's outputs (summed, as tape.gradient does) w.r.t. its input,
        # kept in the graph so the penalty itself can be differentiated.
        grads = torch.autograd.grad(pred, [interpolated], grad_outputs=torch.ones_like(pred), create_graph=True)[0]
        norm = torch.sqrt(torch.sum(torch.square(grads), dim=[1, 2, 3]))
        gp = torch.mean((norm - 1.0) ** 2)
        return gp

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        batch_size = real_images.shape[0]

        # The critic first, d_steps times per generator step.
        for i in range(self.d_steps):
            random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)
            self.zero_grad()
            fake_images = self.generator(random_latent_vectors, training=True).detach()
            fake_logits = self.discriminator(fake_images, training=True)
            real_logits = self.discriminator(real_images, training=True)
            d_cost = self.d_loss_fn(real_img=real_logits, fake_img=fake_logits)
            gp = self.gradient_penalty(batch_size, real_images, fake_images)
            d_loss = d_cost + gp * self.gp_weight
            d_loss.backward()
            d_gradient = [v.grad for v in self.discriminator.trainable_variables]
            self.d_optimizer.apply_gradients(zip(d_gradient, self.discriminator.trainable_variables))

        # Then the generator.
        random_latent_vectors = torch.randn(batch_size, self.latent_dim, device=real_images.device)
        self.zero_grad()
        generated_images = self.generator(random_latent_vectors, training=True)
        gen_img_logits = self.discriminator(generated_images, training=True)
        g_loss = self.g_loss_fn(gen_img_logits)
        g_loss.backward()
        gen_gradient = [v.grad for v in self.generator.trainable_variables]
        self.g_optimizer.apply_gradients(zip(gen_gradient, self.generator.trainable_variables))
        return {"d_loss": d_loss, "g_loss": g_loss}


class GANMonitor(keras.callbacks.Callback):
    def __init__(self, num_img=6, latent_dim=128):
        self.num_img = num_img
        self.latent_dim = latent_dim

    def on_epoch_end(self, epoch, logs=None):
        random_latent_vectors = torch.randn(self.num_img, self.latent_dim)
        generated_images = self.model.generator(random_latent_vectors)
        generated_images = (generated_images * 127.5) + 127.5

        for i in range(self.num_img):
            img = generated_images[i].detach().numpy()
            img = keras.preprocessing.image.array_to_img(img)
            img.save("generated_img_{i}_{epoch}.png".format(i=i, epoch=epoch))


def discriminator_loss(real_img, fake_img):
    """fake − real: the critic's estimate of the Wasserstein distance, negated."""
    real_loss = torch.mean(real_img)
    fake_loss = torch.mean(fake_img)
    return fake_loss - real_loss


def generator_loss(fake_img):
    return -torch.mean(fake_img)


# --------------------------------------------------------------------------- tests
class RngAtEpochEnd(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.state = torch.get_rng_state()


def _linear_critic(w: np.ndarray, b: float = 0.3):
    """D(x) = Σ w·x + b as a brainnet model on (28, 28, 1) images."""
    inputs = layers.Input(shape=IMG_SHAPE)
    dense = layers.Dense(1)
    critic = keras.models.Model(inputs, dense(layers.Flatten()(inputs)))
    dense.set_weights([w.reshape(784, 1).astype("float32"), np.array([b], dtype="float32")])
    return critic


def test_the_gradient_penalty_of_a_linear_critic_is_its_analytic_value_and_trains_its_weights():
    """For D(x) = w·x + b, ∂D/∂x = w for every x̂, so gp = (‖w‖₂ − 1)² whatever α,
    and ∂gp/∂w = 2 (‖w‖ − 1) w / ‖w‖: create_graph=True lets the penalty's
    gradient reach the weights, which a first-order gradient would not."""
    rng = np.random.default_rng(0)
    w = rng.normal(scale=0.08, size=784)
    critic = _linear_critic(w)
    wgan = WGAN(discriminator=critic, generator=get_generator_model((8, 4, 4)), latent_dim=noise_dim)
    real = torch.from_numpy(rng.random((5, 28, 28, 1)).astype("float32"))
    fake = torch.from_numpy(rng.random((5, 28, 28, 1)).astype("float32"))
    gp = wgan.gradient_penalty(5, real, fake)
    norm = np.linalg.norm(w)
    assert float(gp.detach()) == pytest.approx((norm - 1.0) ** 2, rel=1e-5)
    gp.backward()
    kernel = critic.layers[-1].kernel
    expected = 2 * (norm - 1.0) * w / norm
    np.testing.assert_allclose(kernel.grad.numpy().reshape(-1), expected, rtol=1e-4, atol=1e-7)


def test_the_gradient_penalty_of_a_quadratic_critic_against_numpy_and_finite_differences():
    """For D(x) = ½ (w·x)², ∂D/∂x̂ = (w·x̂) w: the penalty against NumPy on the same
    α draws, and the norm's gradient against central finite differences."""
    rng = np.random.default_rng(1)
    w = rng.normal(scale=0.05, size=784)
    inputs = layers.Input(shape=IMG_SHAPE)
    dense = layers.Dense(1, use_bias=False)
    square = layers.Lambda(lambda t: 0.5 * torch.square(t))
    critic = keras.models.Model(inputs, square(dense(layers.Flatten()(inputs))))
    dense.set_weights([w.reshape(784, 1).astype("float32")])
    wgan = WGAN(discriminator=critic, generator=get_generator_model((8, 4, 4)), latent_dim=noise_dim)

    real = rng.random((4, 28, 28, 1))
    fake = rng.random((4, 28, 28, 1))
    torch.manual_seed(7)
    gp = wgan.gradient_penalty(4, torch.from_numpy(real.astype("float32")), torch.from_numpy(fake.astype("float32")))
    torch.manual_seed(7)
    alpha = torch.randn([4, 1, 1, 1]).numpy().astype("float64")  # the same draws
    x_hat = (real + alpha * (fake - real)).reshape(4, 784)
    norms = np.abs(x_hat @ w) * np.linalg.norm(w)
    assert float(gp.detach()) == pytest.approx(np.mean((norms - 1.0) ** 2), rel=1e-4)

    # ‖∂D/∂x̂‖ by finite differences of D itself, for the first sample.
    d = lambda x: 0.5 * (x @ w) ** 2  # noqa: E731
    eps = 1e-4
    numeric = np.array([(d(x_hat[0] + eps * e) - d(x_hat[0] - eps * e)) / (2 * eps) for e in np.eye(784)])
    assert np.linalg.norm(numeric) == pytest.approx(norms[0], rel=1e-6)


def test_the_models_have_the_example_shapes():
    """Sections "Create the discriminator" and "Create the generator" (full widths)."""
    d_model, g_model = get_discriminator_model(), get_generator_model()
    assert d_model.output_shape == (None, 1) and g_model.output_shape == (None, 28, 28, 1)
    # The summaries' totals: 4,305,409 and 910,660 parameters.
    assert d_model.count_params() == 4305409
    assert g_model.count_params() == 910660


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    """Section "Prepare Fashion-MNIST data": images scaled to [-1, 1]."""
    fashion_mnist = keras.datasets.fashion_mnist
    (train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()
    assert train_images.shape[1:] == (28, 28)
    train_images = train_images[:1024].reshape(1024, *IMG_SHAPE).astype("float32")
    train_images = (train_images - 127.5) / 127.5
    test_images = (test_images[:256].reshape(256, *IMG_SHAPE).astype("float32") - 127.5) / 127.5
    return train_images, test_images


def test_the_wgan_trains_and_the_monitor_saves_images(fashion, tmp_path, monkeypatch):
    """Section "Train the end-to-end model": one epoch over 1,024 images, with the
    GANMonitor writing its PNGs. The critic learns to score held-out real images
    above new fakes (a positive Wasserstein estimate), and the PNGs are the
    generator's images stretched to 0-255 as array_to_img does.

    Measured 2026-12-05 (OMP_NUM_THREADS=1, seed 0): d_loss −11.5, g_loss −3.4;
    the critic's mean score on 256 held-out images minus that on 256 fakes −0.004
    before training, 12.9 after."""
    train_images, test_images = fashion
    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(0)
    d_model = get_discriminator_model(filters=(16, 32, 64, 128))
    g_model = get_generator_model(filters=(64, 32, 16))

    generator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)
    discriminator_optimizer = keras.optimizers.Adam(learning_rate=0.0002, beta_1=0.5, beta_2=0.9)
    cbk = GANMonitor(num_img=3, latent_dim=noise_dim)
    wgan = WGAN(discriminator=d_model, generator=g_model, latent_dim=noise_dim, discriminator_extra_steps=3)
    wgan.compile(d_optimizer=discriminator_optimizer, g_optimizer=generator_optimizer,
                 g_loss_fn=generator_loss, d_loss_fn=discriminator_loss)
    def wasserstein_estimate():
        with torch.no_grad():
            fakes = g_model(torch.randn(256, noise_dim))
            return float(d_model(torch.from_numpy(test_images)).mean() - d_model(fakes).mean())

    before = wasserstein_estimate()
    rng = RngAtEpochEnd()  # runs just before the monitor: the noise it will draw
    history = wgan.fit(train_images, batch_size=BATCH_SIZE, epochs=1, callbacks=[rng, cbk], verbose=0).history
    assert set(history) == {"d_loss", "g_loss"}
    assert all(type(v[0]) is float and np.isfinite(v[0]) for v in history.values())
    assert history["d_loss"][0] < 0  # fake − real + 10·gp: the critic scores real images higher
    after = wasserstein_estimate()
    assert after > before + 1.0

    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["generated_img_0_0.png", "generated_img_1_0.png", "generated_img_2_0.png"]
    # The monitor's images: the generator in inference (BatchNormalization's moving
    # statistics, as Keras runs callbacks outside training) on the noise it drew,
    # stretched to 0-255 by array_to_img: 255 · (x − min) / (max − min), truncated.
    torch.set_rng_state(rng.state)
    with torch.no_grad():
        images = g_model(torch.randn(3, noise_dim), training=False).numpy().astype("float64") * 127.5 + 127.5
    for i in range(3):
        with Image.open(tmp_path / f"generated_img_{i}_0.png") as img:
            assert img.size == (28, 28) and img.mode == "L"
            pixels = np.asarray(img).astype("int64")
        x = images[i, ..., 0]
        expected = np.floor(255 * (x - x.min()) / (x.max() - x.min()))
        assert np.abs(pixels - expected).max() <= 1  # float32 against float64 at the truncation
