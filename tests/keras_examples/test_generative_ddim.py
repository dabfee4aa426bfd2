"""keras.io example "Denoising Diffusion Implicit Models"
(https://keras.io/examples/generative/ddim/), its Keras 3 version, ported as a
learner would: ``import brainnet as keras`` / ``from brainnet import layers``
in place of the Keras imports, the ``keras.ops`` / ``keras.random`` calls
written as torch calls (``ops.arccos`` is ``math.acos`` on the Python float,
``keras.random.normal(shape=s)`` is ``torch.randn(s)``), the
``tf.GradientTape`` step written as ``zero_grad`` / ``backward`` /
``optimizer.apply_gradients``, and ``ema_weight.assign(v)`` as
``ema_weight.copy_(v)`` under ``torch.no_grad()``. The U-Net (sinusoidal
embedding in a ``Lambda``, residual, down and up blocks with skip
connections), the ``DiffusionModel`` with its own ``train_step`` /
``test_step``, the cosine diffusion schedule, the deterministic (eta = 0)
reverse diffusion, the EMA network, ``Normalization.adapt``, ``AdamW`` with
mean absolute error, a ``ModelCheckpoint`` on ``val_kid`` and a
``LambdaCallback`` that plots are the example's.

Replaced, because nothing may be downloaded here: Oxford Flowers 102 (64×64
RGB) by MNIST digits padded to 32×32 with one channel (so the network's input
and last convolution have 1 channel, not 3); the KID metric's pretrained
InceptionV3 encoder by the raw pixels (``Flatten``), so KID is the
polynomial-kernel MMD between pixel vectors, the example's formula on other
features. Shortened for CI: 1,024 training and 64 validation digits, not
repeated, 3 epochs (64 validation digits: one batch, because ``test_step``
draws noise for ``batch_size`` images and brainnet validates arrays in
batches of 256 unless given ``validation_batch_size``, Keras in fit's
``batch_size``); a much smaller U-Net (widths ``[16, 32, 48]``, block depth
1, in place of ``[32, 64, 96, 128]`` and 2), an EMA momentum of 0.9 in place
of 0.999 (with a few dozen steps 0.999 would leave the EMA network at its
initialisation, whose zero last kernel predicts no noise), and 18 plotted
images drawn with matplotlib's Agg backend and not shown. The loss is
``keras.losses.mean_absolute_error``, whose values per pixel are averaged
(``torch.mean``) before ``backward``, which needs one number; TensorFlow's
tape takes their sum, and Adam's steps hardly depend on that scale.

Each test names the sections it runs. They check: the schedule, the
embedding, the forward diffusion and a DDIM step against NumPy; the KID
against NumPy; the U-Net's shapes and its zero output at initialisation;
that training lowers the noise loss below the untrained network's
(E|ε| = √(2/π) ≈ 0.80), keeps the EMA network between its start and the
trained one, and that the checkpoint reloads to the same generated images.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# data
num_epochs = 3  # 1 in the example ("train for at least 50 epochs for good results")
image_size = 32  # MNIST padded from 28 (the example: 64x64 flowers)
kid_diffusion_steps = 5
plot_diffusion_steps = 20

# sampling
min_signal_rate = 0.02
max_signal_rate = 0.95

# architecture
embedding_dims = 16  # 32 in the example
embedding_max_frequency = 1000.0
widths = [8, 16, 24]  # [32, 64, 96, 128] in the example
block_depth = 1  # 2 in the example

# optimization
batch_size = 64
ema = 0.9  # 0.999 in the example
learning_rate = 1e-3
weight_decay = 1e-4


class KID(keras.metrics.Metric):
    def __init__(self, name, **kwargs):
        super().__init__(name=name, **kwargs)

        # KID is estimated per batch and is averaged across batches
        self.kid_tracker = keras.metrics.Mean(name="kid_tracker")

        # the pixels stand in for the pretrained InceptionV3's features
        self.encoder = keras.Sequential(
            [
                keras.Input(shape=(image_size, image_size, 1)),
                layers.Flatten(),
            ],
            name="pixel_encoder",
        )

    def polynomial_kernel(self, features_1, features_2):
        feature_dimensions = float(features_1.shape[1])
        return (features_1 @ features_2.T / feature_dimensions + 1.0) ** 3.0

    def update_state(self, real_images, generated_images, sample_weight=None):
        real_features = self.encoder(real_images, training=False)
        generated_features = self.encoder(generated_images, training=False)

        # compute polynomial kernels using the two sets of features
        kernel_real = self.polynomial_kernel(real_features, real_features)
        kernel_generated = self.polynomial_kernel(generated_features, generated_features)
        kernel_cross = self.polynomial_kernel(real_features, generated_features)

        # estimate the squared maximum mean discrepancy using the average kernel values
        batch_size = real_features.shape[0]
        batch_size_f = float(batch_size)
        mean_kernel_real = torch.sum(kernel_real * (1.0 - torch.eye(batch_size))) / (
            batch_size_f * (batch_size_f - 1.0)
        )
        mean_kernel_generated = torch.sum(kernel_generated * (1.0 - torch.eye(batch_size))) / (
            batch_size_f * (batch_size_f - 1.0)
        )
        mean_kernel_cross = torch.mean(kernel_cross)
        kid = mean_kernel_real + mean_kernel_generated - 2.0 * mean_kernel_cross

        # update the average KID estimate
        self.kid_tracker.update_state(kid)

    def result(self):
        return self.kid_tracker.result()

    def reset_state(self):
        self.kid_tracker.reset_state()


def sinusoidal_embedding(x):
    embedding_min_frequency = 1.0
    frequencies = torch.exp(
        torch.linspace(
            math.log(embedding_min_frequency),
            math.log(embedding_max_frequency),
            embedding_dims // 2,
        )
    )
    angular_speeds = (2.0 * math.pi * frequencies).to(torch.float32)
    embeddings = torch.cat([torch.sin(angular_speeds * x), torch.cos(angular_speeds * x)], dim=3)
    return embeddings


def ResidualBlock(width):
    def apply(x):
        input_width = x.shape[3]
        if input_width == width:
            residual = x
        else:
            residual = layers.Conv2D(width, kernel_size=1)(x)
        x = layers.BatchNormalization(center=False, scale=False)(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", activation="swish")(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same")(x)
        x = layers.Add()([x, residual])
        return x

    return apply


def DownBlock(width, block_depth):
    def apply(x):
        x, skips = x
        for _ in range(block_depth):
            x = ResidualBlock(width)(x)
            skips.append(x)
        x = layers.AveragePooling2D(pool_size=2)(x)
        return x

    return apply


def UpBlock(width, block_depth):
    def apply(x):
        x, skips = x
        x = layers.UpSampling2D(size=2, interpolation="bilinear")(x)
        for _ in range(block_depth):
            x = layers.Concatenate()([x, skips.pop()])
            x = ResidualBlock(width)(x)
        return x

    return apply


def get_network(image_size, widths, block_depth):
    noisy_images = keras.Input(shape=(image_size, image_size, 1))  # 3 channels in the example
    noise_variances = keras.Input(shape=(1, 1, 1))

    e = layers.Lambda(sinusoidal_embedding, output_shape=(1, 1, embedding_dims))(noise_variances)
    e = layers.UpSampling2D(size=image_size, interpolation="nearest")(e)

    x = layers.Conv2D(widths[0], kernel_size=1)(noisy_images)
    x = layers.Concatenate()([x, e])

    skips = []
    for width in widths[:-1]:
        x = DownBlock(width, block_depth)([x, skips])

    for _ in range(block_depth):
        x = ResidualBlock(widths[-1])(x)

    for width in reversed(widths[:-1]):
        x = UpBlock(width, block_depth)([x, skips])

    x = layers.Conv2D(1, kernel_size=1, kernel_initializer="zeros")(x)

    return keras.Model([noisy_images, noise_variances], x, name="residual_unet")


class DiffusionModel(keras.Model):
    def __init__(self, image_size, widths, block_depth):
        super().__init__()

        self.normalizer = layers.Normalization()
        self.network = get_network(image_size, widths, block_depth)
        self.ema_network = keras.models.clone_model(self.network)

    def compile(self, **kwargs):
        super().compile(**kwargs)

        self.noise_loss_tracker = keras.metrics.Mean(name="n_loss")
        self.image_loss_tracker = keras.metrics.Mean(name="i_loss")
        self.kid = KID(name="kid")

    @property
    def metrics(self):
        return [self.noise_loss_tracker, self.image_loss_tracker, self.kid]

    def denormalize(self, images):
        # convert the pixel values back to 0-1 range
        images = self.normalizer.mean + images * self.normalizer.variance**0.5
        return torch.clip(images, 0.0, 1.0)

    def diffusion_schedule(self, diffusion_times):
        # diffusion times -> angles
        start_angle = math.acos(max_signal_rate)
        end_angle = math.acos(min_signal_rate)

        diffusion_angles = start_angle + diffusion_times * (end_angle - start_angle)

        # angles -> signal and noise rates
        signal_rates = torch.cos(diffusion_angles)
        noise_rates = torch.sin(diffusion_angles)
        # note that their squared sum is always: sin^2(x) + cos^2(x) = 1

        return noise_rates, signal_rates

    def denoise(self, noisy_images, noise_rates, signal_rates, training):
        # the exponential moving average weights are used at evaluation
        if training:
            network = self.network
        else:
            network = self.ema_network

        # predict noise component and calculate the image component using it
        pred_noises = network([noisy_images, noise_rates**2], training=training)
        pred_images = (noisy_images - noise_rates * pred_noises) / signal_rates

        return pred_noises, pred_images

    def reverse_diffusion(self, initial_noise, diffusion_steps):
        # reverse diffusion = sampling
        num_images = initial_noise.shape[0]
        step_size = 1.0 / diffusion_steps

        # important line:
        # at the first sampling step, the "noisy image" is pure noise
        # but its signal rate is assumed to be nonzero (min_signal_rate)
        next_noisy_images = initial_noise
        for step in range(diffusion_steps):
            noisy_images = next_noisy_images

            # separate the current noisy image to its components
            diffusion_times = torch.ones((num_images, 1, 1, 1)) - step * step_size
            noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
            pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates, training=False)
            # network used in eval mode

            # remix the predicted components using the next signal and noise rates
            next_diffusion_times = diffusion_times - step_size
            next_noise_rates, next_signal_rates = self.diffusion_schedule(next_diffusion_times)
            next_noisy_images = next_signal_rates * pred_images + next_noise_rates * pred_noises
            # this new noisy image will be used in the next step

        return pred_images

    def generate(self, num_images, diffusion_steps):
        # noise -> images -> denormalized images
        initial_noise = torch.randn((num_images, image_size, image_size, 1))
        generated_images = self.reverse_diffusion(initial_noise, diffusion_steps)
        generated_images = self.denormalize(generated_images)
        return generated_images

    def train_step(self, images):
        # normalize images to have standard deviation of 1, like the noises
        images = self.normalizer(images, training=True)
        noises = torch.randn((batch_size, image_size, image_size, 1))

        # sample uniform random diffusion times
        diffusion_times = torch.rand((batch_size, 1, 1, 1))  # uniform in [0, 1)
        noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
        # mix the images with noises accordingly
        noisy_images = signal_rates * images + noise_rates * noises

        # train the network to separate noisy images to their components
        self.zero_grad()
        pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates, training=True)

        noise_loss = torch.mean(self.loss(noises, pred_noises))  # used for training
        image_loss = torch.mean(self.loss(images, pred_images))  # only used as metric

        noise_loss.backward()
        gradients = [w.grad for w in self.network.trainable_weights]
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))

        self.noise_loss_tracker.update_state(noise_loss.detach())
        self.image_loss_tracker.update_state(image_loss.detach())

        # track the exponential moving averages of weights
        with torch.no_grad():
            for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
                ema_weight.copy_(ema * ema_weight + (1 - ema) * weight)

        # KID is not measured during the training phase for computational efficiency
        return {m.name: m.result() for m in self.metrics[:-1]}

    def test_step(self, images):
        # normalize images to have standard deviation of 1, like the noises
        images = self.normalizer(images, training=False)
        noises = torch.randn((batch_size, image_size, image_size, 1))

        # sample uniform random diffusion times
        diffusion_times = torch.rand((batch_size, 1, 1, 1))
        noise_rates, signal_rates = self.diffusion_schedule(diffusion_times)
        # mix the images with noises accordingly
        noisy_images = signal_rates * images + noise_rates * noises

        # use the network to separate noisy images to their components
        pred_noises, pred_images = self.denoise(noisy_images, noise_rates, signal_rates, training=False)

        noise_loss = torch.mean(self.loss(noises, pred_noises))
        image_loss = torch.mean(self.loss(images, pred_images))

        self.image_loss_tracker.update_state(image_loss)
        self.noise_loss_tracker.update_state(noise_loss)

        # measure KID between real and generated images
        # this is computationally demanding, kid_diffusion_steps has to be small
        images = self.denormalize(images)
        generated_images = self.generate(num_images=batch_size, diffusion_steps=kid_diffusion_steps)
        self.kid.update_state(images, generated_images)

        return {m.name: m.result() for m in self.metrics}

    def plot_images(self, epoch=None, logs=None, num_rows=3, num_cols=6):
        # plot random generated images for visual evaluation of generation quality
        with torch.no_grad():
            generated_images = self.generate(num_images=num_rows * num_cols, diffusion_steps=plot_diffusion_steps)

        plt.figure(figsize=(num_cols * 2.0, num_rows * 2.0))
        for row in range(num_rows):
            for col in range(num_cols):
                index = row * num_cols + col
                plt.subplot(num_rows, num_cols, index + 1)
                plt.imshow(generated_images[index, :, :, 0].numpy(), cmap="gray")
                plt.axis("off")
        plt.tight_layout()
        plt.show()  # Agg: nothing shown
        self.plotted = getattr(self, "plotted", 0) + 1
        plt.close()


# ---------------------------------------------------------------- NumPy references


def _numpy_schedule(t):
    angle = np.arccos(max_signal_rate) + t * (np.arccos(min_signal_rate) - np.arccos(max_signal_rate))
    return np.sin(angle), np.cos(angle)  # noise rate, signal rate


def _numpy_embedding(v):
    # e(v) = [sin(2π f_k v), cos(2π f_k v)], f_k geometric from 1 to 1000 over embedding_dims / 2 frequencies
    f = np.exp(np.linspace(np.log(1.0), np.log(embedding_max_frequency), embedding_dims // 2))
    return np.concatenate([np.sin(2 * np.pi * f * v), np.cos(2 * np.pi * f * v)], axis=-1)


def _numpy_kid(real, generated):
    # KID = mean_{i≠j} k(r_i, r_j) + mean_{i≠j} k(g_i, g_j) - 2 mean_{i,j} k(r_i, g_j), k(a, b) = (aᵀb / d + 1)³
    def kernel(a, b):
        return (a @ b.T / a.shape[1] + 1.0) ** 3

    n = len(real)
    off = 1.0 - np.eye(n)
    return (np.sum(kernel(real, real) * off) / (n * (n - 1)) + np.sum(kernel(generated, generated) * off) / (n * (n - 1))
            - 2 * np.mean(kernel(real, generated)))


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """Section "Data pipeline", on MNIST: 1,024 training and 64 validation digits
    scaled to [0, 1] and padded from 28×28 to 32×32 (the example center-crops and resizes flowers)."""
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)

    def preprocess_image(images):
        images = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None]
        return np.clip(images.astype("float32") / 255.0, 0.0, 1.0)

    return preprocess_image(x_train[:1024]), preprocess_image(x_test[:batch_size])


def test_the_schedule_embedding_and_ddim_step_are_the_equations_in_numpy():
    """Sections "Network architecture" (sinusoidal_embedding) and "Diffusion model"
    (diffusion_schedule, the noisy-image mix of train_step, denoise and one step of
    reverse_diffusion) against NumPy in float64."""
    keras.utils.set_random_seed(0)
    model = DiffusionModel(image_size, widths, block_depth)
    t = np.linspace(0.0, 1.0, 11).reshape(-1, 1, 1, 1)
    noise_rates, signal_rates = model.diffusion_schedule(torch.from_numpy(t))
    want_noise, want_signal = _numpy_schedule(t)
    np.testing.assert_allclose(noise_rates.numpy(), want_noise, rtol=1e-12)
    np.testing.assert_allclose(signal_rates.numpy(), want_signal, rtol=1e-12)
    np.testing.assert_allclose(noise_rates.numpy() ** 2 + signal_rates.numpy() ** 2, 1.0, rtol=1e-12)
    # the ends: signal rate 0.95 at t = 0, 0.02 at t = 1, and falling in between
    assert signal_rates[0].item() == pytest.approx(max_signal_rate) and signal_rates[-1].item() == pytest.approx(min_signal_rate)
    assert np.all(np.diff(signal_rates.numpy().ravel()) < 0)

    v = np.array([0.0, 0.1, 0.5, 0.97], dtype="float32").reshape(-1, 1, 1, 1)
    got = sinusoidal_embedding(torch.from_numpy(v)).numpy()
    assert got.shape == (4, 1, 1, embedding_dims)
    np.testing.assert_allclose(got, _numpy_embedding(v.astype("float64")), atol=2e-3)  # float32 phases up to 2π·1000

    # forward diffusion and the denoiser's split: x_t = s·x_0 + n·ε, x̂_0 = (x_t - n·ε̂) / s
    rng = np.random.default_rng(1)
    images = rng.normal(size=(4, image_size, image_size, 1)).astype("float32")
    noises = rng.normal(size=images.shape).astype("float32")
    times = rng.uniform(size=(4, 1, 1, 1)).astype("float32")
    n, s = model.diffusion_schedule(torch.from_numpy(times))
    noisy = s * torch.from_numpy(images) + n * torch.from_numpy(noises)
    with torch.no_grad():
        pred_noises, pred_images = model.denoise(noisy, n, s, training=False)
        ema_out = model.ema_network([noisy, n**2]).numpy()
    np.testing.assert_allclose(pred_noises.numpy(), ema_out, rtol=1e-6)
    nn_, ss = _numpy_schedule(times.astype("float64"))
    noisy64 = ss * images + nn_ * noises
    np.testing.assert_allclose(noisy.numpy(), noisy64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pred_images.numpy(), (noisy64 - nn_ * pred_noises.numpy()) / ss, rtol=1e-4, atol=1e-4)

    # one DDIM step (eta = 0): x_{t-Δ} = s(t-Δ)·x̂_0 + n(t-Δ)·ε̂; with one step, reverse_diffusion returns x̂_0
    initial = torch.from_numpy(rng.normal(size=(3, image_size, image_size, 1)).astype("float32"))
    with torch.no_grad():
        model.ema_network.layers[-1].kernel.normal_(0, 0.1)  # so that the network predicts some noise
        out = model.reverse_diffusion(initial, diffusion_steps=1).numpy()
        eps = model.ema_network([initial, torch.full((3, 1, 1, 1), float(_numpy_schedule(1.0)[0] ** 2))]).numpy()
    n1, s1 = _numpy_schedule(1.0)
    np.testing.assert_allclose(out, (initial.numpy() - n1 * eps) / s1, rtol=1e-4, atol=1e-4)
    # and two steps remix with the schedule at t = 0.5 before the second split
    with torch.no_grad():
        two = model.reverse_diffusion(initial, diffusion_steps=2).numpy()
        x0 = (initial.numpy() - n1 * eps) / s1
        nh, sh = _numpy_schedule(0.5)
        x_half = sh * x0 + nh * eps
        eps2 = model.ema_network([torch.from_numpy(x_half.astype("float32")), torch.full((3, 1, 1, 1), float(nh**2))]).numpy()
    np.testing.assert_allclose(two, (x_half - nh * eps2) / sh, rtol=1e-3, atol=1e-3)


def test_kid_is_the_polynomial_kernel_mmd_in_numpy():
    """Section "Kernel inception distance": KID.update_state on two batches, pixels as features."""
    rng = np.random.default_rng(2)
    real = rng.uniform(size=(2, 8, image_size, image_size, 1)).astype("float32")
    fake = (rng.uniform(size=real.shape) ** 2).astype("float32")
    kid = KID(name="kid")
    for r, g in zip(real, fake):
        kid.update_state(torch.from_numpy(r), torch.from_numpy(g))
    want = np.mean([_numpy_kid(r.reshape(8, -1).astype("float64"), g.reshape(8, -1).astype("float64"))
                    for r, g in zip(real, fake)])
    assert float(kid.result()) == pytest.approx(want, rel=1e-4)
    kid.reset_state()
    kid.update_state(torch.from_numpy(real[0]), torch.from_numpy(real[0]))
    # the same images on both sides: the unbiased estimate is 2(mean_{i≠j} k - mean_{i,j} k), the diagonal's share
    feats = real[0].reshape(8, -1).astype("float64")
    assert float(kid.result()) == pytest.approx(_numpy_kid(feats, feats), rel=1e-4, abs=1e-6)


def test_the_unet_has_the_input_shape_and_predicts_zero_noise_at_first():
    """Section "Network architecture": get_network's shapes; the zero-initialised last
    convolution makes the untrained network predict no noise; the EMA network is a clone."""
    keras.utils.set_random_seed(0)
    network = get_network(image_size, widths, block_depth)
    clone = keras.models.clone_model(network)
    x = torch.randn(2, image_size, image_size, 1)
    v = torch.rand(2, 1, 1, 1)
    with torch.no_grad():
        out = network([x, v])
    assert tuple(out.shape) == (2, image_size, image_size, 1)
    assert torch.count_nonzero(out) == 0
    assert clone.count_params() == network.count_params()
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in network.weights]
    assert clone.layers[-1] is not network.layers[-1]


def test_training_lowers_the_noise_loss_and_the_checkpoint_reloads(digits, tmp_path):
    """Section "Training" (normalizer.adapt, AdamW on mean absolute error, fit with
    validation KID, the plotting LambdaCallback and the val_kid checkpoint) and section
    "Inference" (load_weights, then generate)."""
    x_train, x_val = digits
    keras.utils.set_random_seed(0)
    model = DiffusionModel(image_size, widths, block_depth)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=keras.losses.mean_absolute_error,
    )
    # pixelwise mean absolute error is used as loss

    checkpoint_path = str(tmp_path / "diffusion_model.weights.h5")
    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_path,
        save_weights_only=True,
        monitor="val_kid",
        mode="min",
        save_best_only=True,
    )

    # calculate mean and variance of training dataset for normalization
    model.normalizer.adapt(x_train)
    assert float(model.normalizer.mean.reshape(-1)[0]) == pytest.approx(x_train.mean(), rel=1e-4)
    assert float(model.normalizer.variance.reshape(-1)[0]) == pytest.approx(x_train.var(), rel=1e-3)

    start = [w.detach().clone() for w in model.ema_network.weights]
    states = []  # the weights after each epoch, to tell which one the checkpoint kept
    keep_state = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: states.append({k: v.clone() for k, v in model.state_dict().items()}))
    history = model.fit(
        x_train,
        epochs=num_epochs,
        batch_size=batch_size,
        validation_data=x_val,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=model.plot_images), checkpoint_callback, keep_state],
        verbose=0,
    ).history
    assert model.plotted == num_epochs
    assert sorted(history) == ["i_loss", "n_loss", "val_i_loss", "val_kid", "val_n_loss"]
    untrained = math.sqrt(2 / math.pi)  # E|ε| for ε ~ N(0, 1): the loss of a network that predicts zero
    n_loss = history["n_loss"]
    assert n_loss[-1] < n_loss[0] and n_loss[-1] < 0.8 * untrained, n_loss
    assert history["val_n_loss"][-1] < 0.85 * untrained, history["val_n_loss"]
    assert all(np.isfinite(history["val_kid"]))

    # the EMA weights moved from their start toward the trained network's
    trained = [w.detach() for w in model.network.weights]
    ema_now = [w.detach() for w in model.ema_network.weights]
    assert sum(float((e - s).abs().sum()) for e, s in zip(ema_now, start)) > 0
    assert sum(float((e - t).abs().sum()) for e, t in zip(ema_now, trained)) < sum(
        float((s - t).abs().sum()) for s, t in zip(start, trained))

    # load the best model and generate images
    model.load_weights(checkpoint_path)
    best = states[int(np.argmin(history["val_kid"]))]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, best[name], rtol=0, atol=0, msg=name)
    model.plot_images()
    assert model.plotted == num_epochs + 1
    torch.manual_seed(7)
    with torch.no_grad():
        images = model.generate(num_images=4, diffusion_steps=plot_diffusion_steps)
    assert tuple(images.shape) == (4, image_size, image_size, 1)
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    torch.manual_seed(7)
    with torch.no_grad():  # deterministic sampling: the same initial noise gives the same images
        torch.testing.assert_close(model.generate(num_images=4, diffusion_steps=plot_diffusion_steps), images)
