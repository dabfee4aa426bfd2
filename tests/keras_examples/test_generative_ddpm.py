"""keras.io example "Denoising Diffusion Probabilistic Model"
(https://keras.io/examples/generative/ddpm/), ported as a learner would. The
stored copy is the tf.keras version: ``import brainnet as keras`` / ``from
brainnet import layers`` in place of the TensorFlow imports, the ``tf.*``
calls written as torch calls (``tf.constant(a, dtype=tf.float32)`` is
``torch.tensor(a, dtype=torch.float32)``, ``tf.gather(a, t)`` is ``a[t]``,
``tf.random.uniform(minval=0, maxval=T, dtype=tf.int64)`` is
``torch.randint(0, T, ...)``, ``tf.einsum`` is ``torch.einsum``), the
``tf.GradientTape`` step written as ``zero_grad`` / ``backward`` /
``optimizer.apply_gradients`` and ``ema_weight.assign(v)`` as
``ema_weight.copy_(v)`` under ``torch.no_grad()``. The ``GaussianDiffusion``
utilities, the U-Net (``TimeEmbedding``, ``TimeMLP``, ``ResidualBlock``
with ``GroupNormalization`` and the time embedding added through
``layers.Dense(width)(temb)[:, None, None, :]``, ``AttentionBlock``,
``DownSample``, ``UpSample``, ``VarianceScaling`` kernels), the
``DiffusionModel`` with its own ``train_step`` and EMA network, and the
sampling loop that calls ``ema_network.predict`` at every step are the
example's. Two things the U-Net is written with were added to brainnet for
this port, with Keras 3's semantics: an activation function called on a
graph's symbolic tensor (``keras.activations.swish(x)``, recorded as an
``Activation`` layer) and a symbolic tensor indexed (``x[:, None, None, :]``,
recorded as a ``GetItem`` layer).

Replaced, because nothing may be downloaded here: Oxford Flowers 102 (64×64
RGB, centre-cropped) by MNIST digits at 28×28 with one channel, scaled to
[-1, 1] as the example scales its pixels (so the network's input and last
convolution have 1 channel, not 3, and the plots show ``image[..., 0]``:
matplotlib does not draw an (H, W, 1) array); the random left/right flip is
left out (a mirrored digit is not a digit); the pretrained checkpoint of the
"Results" section by the weights this test trains and saves. Shortened for
CI: 1,024 training digits, one epoch of batches of 32 (as the example's
``num_epochs = 1``); a narrow U-Net (``first_conv_channels`` 8 and multipliers
``[1, 2, 4]`` in place of 64 and ``[1, 2, 4, 8]``, one residual block per
level in place of 2, attention at 7×7 and in the middle); 50 diffusion steps
with ``beta_end=0.4`` in place of 1,000 with 0.02 (the same Σβ ≈ 10, so
x_T is noise, ᾱ_T < 10⁻⁴, as in the example); an EMA decay of 0.9 in place
of 0.999 (with 32 steps, 0.999 would leave the EMA network at its
initialisation, whose zero-scale last convolution predicts no noise); a
learning rate of 2e-3 in place of 2e-4; 16 images in the "Results" plot in
place of 32. The U-Net's ``GroupNormalization`` runs on torch's group-norm
kernel (6 times the written-out form's speed on CPU), which this port asked
of the library.

Each test names the section it runs. They check: the beta schedule,
``q_mean_variance``, ``q_sample``, ``predict_start_from_noise``, the
posterior ``q_posterior`` (against the product of the two Gaussians it
comes from) and ``p_sample`` against NumPy in float64, with the example's
own 1,000-step schedule; the time embedding and the attention block against
NumPy; the U-Net's shapes and layers; that training lowers the noise loss
from the untrained network's (E[ε²] = 1) to under a third of it, that the
EMA network moves toward the trained one and predicts the noise in held-out
noisy digits with under 0.4 of that loss; that sampling gives finite images
of the data's shape in [-1, 1]; and that the EMA network's saved weights
load into a fresh U-Net that predicts the same noise.
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

# Hyperparameters
batch_size = 32
num_epochs = 1  # Just for the sake of demonstration
num_train = 1024  # training digits (the example: Oxford Flowers' 1,020 training images)
total_timesteps = 50  # 1000 in the example
beta_end = 0.4  # 0.02 in the example, for 1000 steps
norm_groups = 8  # Number of groups used in GroupNormalization layer
learning_rate = 2e-3  # 2e-4 in the example

img_size = 28  # 64 in the example
img_channels = 1  # 3 in the example
clip_min = -1.0
clip_max = 1.0

first_conv_channels = 8  # 64 in the example
channel_multiplier = [1, 2, 4]  # [1, 2, 4, 8] in the example
widths = [first_conv_channels * mult for mult in channel_multiplier]
has_attention = [False, False, True]  # [False, False, True, True]
num_res_blocks = 1  # Number of residual blocks (2 in the example)


# ---------------------------------------------------------------- Gaussian diffusion utilities


class GaussianDiffusion:
    """Gaussian diffusion utility.

    Args:
        beta_start: Start value of the scheduled variance
        beta_end: End value of the scheduled variance
        timesteps: Number of time steps in the forward process
    """

    def __init__(
        self,
        beta_start=1e-4,
        beta_end=0.02,
        timesteps=1000,
        clip_min=-1.0,
        clip_max=1.0,
    ):
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.timesteps = timesteps
        self.clip_min = clip_min
        self.clip_max = clip_max

        # Define the linear variance schedule
        self.betas = betas = np.linspace(
            beta_start,
            beta_end,
            timesteps,
            dtype=np.float64,  # Using float64 for better precision
        )
        self.num_timesteps = int(timesteps)

        alphas = 1.0 - betas
        alphas_cumprod = np.cumprod(alphas, axis=0)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])

        self.betas = torch.tensor(betas, dtype=torch.float32)
        self.alphas_cumprod = torch.tensor(alphas_cumprod, dtype=torch.float32)
        self.alphas_cumprod_prev = torch.tensor(alphas_cumprod_prev, dtype=torch.float32)

        # Calculations for diffusion q(x_t | x_{t-1}) and others
        self.sqrt_alphas_cumprod = torch.tensor(np.sqrt(alphas_cumprod), dtype=torch.float32)

        self.sqrt_one_minus_alphas_cumprod = torch.tensor(np.sqrt(1.0 - alphas_cumprod), dtype=torch.float32)

        self.log_one_minus_alphas_cumprod = torch.tensor(np.log(1.0 - alphas_cumprod), dtype=torch.float32)

        self.sqrt_recip_alphas_cumprod = torch.tensor(np.sqrt(1.0 / alphas_cumprod), dtype=torch.float32)
        self.sqrt_recipm1_alphas_cumprod = torch.tensor(np.sqrt(1.0 / alphas_cumprod - 1), dtype=torch.float32)

        # Calculations for posterior q(x_{t-1} | x_t, x_0)
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        self.posterior_variance = torch.tensor(posterior_variance, dtype=torch.float32)

        # Log calculation clipped because the posterior variance is 0 at the beginning
        # of the diffusion chain
        self.posterior_log_variance_clipped = torch.tensor(
            np.log(np.maximum(posterior_variance, 1e-20)), dtype=torch.float32
        )

        self.posterior_mean_coef1 = torch.tensor(
            betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            dtype=torch.float32,
        )

        self.posterior_mean_coef2 = torch.tensor(
            (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - alphas_cumprod),
            dtype=torch.float32,
        )

    def _extract(self, a, t, x_shape):
        """Extract some coefficients at specified timesteps,
        then reshape to [batch_size, 1, 1, 1, 1, ...] for broadcasting purposes.

        Args:
            a: Tensor to extract from
            t: Timestep for which the coefficients are to be extracted
            x_shape: Shape of the current batched samples
        """
        batch_size = x_shape[0]
        out = a[t]
        return torch.reshape(out, [batch_size, 1, 1, 1])

    def q_mean_variance(self, x_start, t):
        """Extracts the mean, and the variance at current timestep.

        Args:
            x_start: Initial sample (before the first diffusion step)
            t: Current timestep
        """
        x_start_shape = x_start.shape
        mean = self._extract(self.sqrt_alphas_cumprod, t, x_start_shape) * x_start
        variance = self._extract(1.0 - self.alphas_cumprod, t, x_start_shape)
        log_variance = self._extract(self.log_one_minus_alphas_cumprod, t, x_start_shape)
        return mean, variance, log_variance

    def q_sample(self, x_start, t, noise):
        """Diffuse the data.

        Args:
            x_start: Initial sample (before the first diffusion step)
            t: Current timestep
            noise: Gaussian noise to be added at the current timestep
        Returns:
            Diffused samples at timestep `t`
        """
        x_start_shape = x_start.shape
        return (
            self._extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
            + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x_start_shape) * noise
        )

    def predict_start_from_noise(self, x_t, t, noise):
        x_t_shape = x_t.shape
        return (
            self._extract(self.sqrt_recip_alphas_cumprod, t, x_t_shape) * x_t
            - self._extract(self.sqrt_recipm1_alphas_cumprod, t, x_t_shape) * noise
        )

    def q_posterior(self, x_start, x_t, t):
        """Compute the mean and variance of the diffusion
        posterior q(x_{t-1} | x_t, x_0).

        Args:
            x_start: Stating point(sample) for the posterior computation
            x_t: Sample at timestep `t`
            t: Current timestep
        Returns:
            Posterior mean and variance at current timestep
        """

        x_t_shape = x_t.shape
        posterior_mean = (
            self._extract(self.posterior_mean_coef1, t, x_t_shape) * x_start
            + self._extract(self.posterior_mean_coef2, t, x_t_shape) * x_t
        )
        posterior_variance = self._extract(self.posterior_variance, t, x_t_shape)
        posterior_log_variance_clipped = self._extract(self.posterior_log_variance_clipped, t, x_t_shape)
        return posterior_mean, posterior_variance, posterior_log_variance_clipped

    def p_mean_variance(self, pred_noise, x, t, clip_denoised=True):
        x_recon = self.predict_start_from_noise(x, t=t, noise=pred_noise)
        if clip_denoised:
            x_recon = torch.clip(x_recon, self.clip_min, self.clip_max)

        model_mean, posterior_variance, posterior_log_variance = self.q_posterior(x_start=x_recon, x_t=x, t=t)
        return model_mean, posterior_variance, posterior_log_variance

    def p_sample(self, pred_noise, x, t, clip_denoised=True):
        """Sample from the diffusion model.

        Args:
            pred_noise: Noise predicted by the diffusion model
            x: Samples at a given timestep for which the noise was predicted
            t: Current timestep
            clip_denoised (bool): Whether to clip the predicted noise
                within the specified range or not.
        """
        model_mean, _, model_log_variance = self.p_mean_variance(pred_noise, x=x, t=t, clip_denoised=clip_denoised)
        noise = torch.randn(x.shape, dtype=x.dtype)
        # No noise when t == 0
        nonzero_mask = torch.reshape(1 - (t == 0).to(torch.float32), [x.shape[0], 1, 1, 1])
        return model_mean + nonzero_mask * torch.exp(0.5 * model_log_variance) * noise


# ---------------------------------------------------------------- Network architecture


# Kernel initializer to use
def kernel_init(scale):
    scale = max(scale, 1e-10)
    return keras.initializers.VarianceScaling(scale, mode="fan_avg", distribution="uniform")


class AttentionBlock(layers.Layer):
    """Applies self-attention.

    Args:
        units: Number of units in the dense layers
        groups: Number of groups to be used for GroupNormalization layer
    """

    def __init__(self, units, groups=8, **kwargs):
        self.units = units
        self.groups = groups
        super().__init__(**kwargs)

        self.norm = layers.GroupNormalization(groups=groups)
        self.query = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.key = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.value = layers.Dense(units, kernel_initializer=kernel_init(1.0))
        self.proj = layers.Dense(units, kernel_initializer=kernel_init(0.0))

    def call(self, inputs):
        batch_size = inputs.shape[0]
        height = inputs.shape[1]
        width = inputs.shape[2]
        scale = float(self.units) ** (-0.5)

        inputs = self.norm(inputs)
        q = self.query(inputs)
        k = self.key(inputs)
        v = self.value(inputs)

        attn_score = torch.einsum("bhwc, bHWc->bhwHW", q, k) * scale
        attn_score = torch.reshape(attn_score, [batch_size, height, width, height * width])

        attn_score = torch.softmax(attn_score, -1)
        attn_score = torch.reshape(attn_score, [batch_size, height, width, height, width])

        proj = torch.einsum("bhwHW,bHWc->bhwc", attn_score, v)
        proj = self.proj(proj)
        return inputs + proj


class TimeEmbedding(layers.Layer):
    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.half_dim = dim // 2
        self.emb = math.log(10000) / (self.half_dim - 1)
        self.emb = torch.exp(torch.arange(self.half_dim, dtype=torch.float32) * -self.emb)

    def call(self, inputs):
        inputs = inputs.to(torch.float32)
        emb = inputs[:, None] * self.emb[None, :]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
        return emb


def ResidualBlock(width, groups=8, activation_fn=keras.activations.swish):
    def apply(inputs):
        x, t = inputs
        input_width = x.shape[3]

        if input_width == width:
            residual = x
        else:
            residual = layers.Conv2D(width, kernel_size=1, kernel_initializer=kernel_init(1.0))(x)

        temb = activation_fn(t)
        temb = layers.Dense(width, kernel_initializer=kernel_init(1.0))(temb)[:, None, None, :]

        x = layers.GroupNormalization(groups=groups)(x)
        x = activation_fn(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", kernel_initializer=kernel_init(1.0))(x)

        x = layers.Add()([x, temb])
        x = layers.GroupNormalization(groups=groups)(x)
        x = activation_fn(x)

        x = layers.Conv2D(width, kernel_size=3, padding="same", kernel_initializer=kernel_init(0.0))(x)
        x = layers.Add()([x, residual])
        return x

    return apply


def DownSample(width):
    def apply(x):
        x = layers.Conv2D(
            width,
            kernel_size=3,
            strides=2,
            padding="same",
            kernel_initializer=kernel_init(1.0),
        )(x)
        return x

    return apply


def UpSample(width, interpolation="nearest"):
    def apply(x):
        x = layers.UpSampling2D(size=2, interpolation=interpolation)(x)
        x = layers.Conv2D(width, kernel_size=3, padding="same", kernel_initializer=kernel_init(1.0))(x)
        return x

    return apply


def TimeMLP(units, activation_fn=keras.activations.swish):
    def apply(inputs):
        temb = layers.Dense(units, activation=activation_fn, kernel_initializer=kernel_init(1.0))(inputs)
        temb = layers.Dense(units, kernel_initializer=kernel_init(1.0))(temb)
        return temb

    return apply


def build_model(
    img_size,
    img_channels,
    widths,
    has_attention,
    num_res_blocks=2,
    norm_groups=8,
    interpolation="nearest",
    activation_fn=keras.activations.swish,
):
    image_input = layers.Input(shape=(img_size, img_size, img_channels), name="image_input")
    time_input = keras.Input(shape=(), dtype="int64", name="time_input")

    x = layers.Conv2D(
        first_conv_channels,
        kernel_size=(3, 3),
        padding="same",
        kernel_initializer=kernel_init(1.0),
    )(image_input)

    temb = TimeEmbedding(dim=first_conv_channels * 4)(time_input)
    temb = TimeMLP(units=first_conv_channels * 4, activation_fn=activation_fn)(temb)

    skips = [x]

    # DownBlock
    for i in range(len(widths)):
        for _ in range(num_res_blocks):
            x = ResidualBlock(widths[i], groups=norm_groups, activation_fn=activation_fn)([x, temb])
            if has_attention[i]:
                x = AttentionBlock(widths[i], groups=norm_groups)(x)
            skips.append(x)

        if widths[i] != widths[-1]:
            x = DownSample(widths[i])(x)
            skips.append(x)

    # MiddleBlock
    x = ResidualBlock(widths[-1], groups=norm_groups, activation_fn=activation_fn)([x, temb])
    x = AttentionBlock(widths[-1], groups=norm_groups)(x)
    x = ResidualBlock(widths[-1], groups=norm_groups, activation_fn=activation_fn)([x, temb])

    # UpBlock
    for i in reversed(range(len(widths))):
        for _ in range(num_res_blocks + 1):
            x = layers.Concatenate(axis=-1)([x, skips.pop()])
            x = ResidualBlock(widths[i], groups=norm_groups, activation_fn=activation_fn)([x, temb])
            if has_attention[i]:
                x = AttentionBlock(widths[i], groups=norm_groups)(x)

        if i != 0:
            x = UpSample(widths[i], interpolation=interpolation)(x)

    # End block
    x = layers.GroupNormalization(groups=norm_groups)(x)
    x = activation_fn(x)
    x = layers.Conv2D(img_channels, (3, 3), padding="same", kernel_initializer=kernel_init(0.0))(x)  # 3 in the example
    return keras.Model([image_input, time_input], x, name="unet")


# ---------------------------------------------------------------- Training


class DiffusionModel(keras.Model):
    def __init__(self, network, ema_network, timesteps, gdf_util, ema=0.999):
        super().__init__()
        self.network = network
        self.ema_network = ema_network
        self.timesteps = timesteps
        self.gdf_util = gdf_util
        self.ema = ema

    def train_step(self, images):
        # 1. Get the batch size
        batch_size = images.shape[0]

        # 2. Sample timesteps uniformly
        t = torch.randint(0, self.timesteps, (batch_size,), dtype=torch.int64)

        self.network.zero_grad()
        # 3. Sample random noise to be added to the images in the batch
        noise = torch.randn(images.shape, dtype=images.dtype)

        # 4. Diffuse the images with noise
        images_t = self.gdf_util.q_sample(images, t, noise)

        # 5. Pass the diffused images and time steps to the network
        pred_noise = self.network([images_t, t], training=True)

        # 6. Calculate the loss
        loss = self.loss(noise, pred_noise)

        # 7. Get the gradients
        loss.backward()
        gradients = [w.grad for w in self.network.trainable_weights]

        # 8. Update the weights of the network
        self.optimizer.apply_gradients(zip(gradients, self.network.trainable_weights))

        # 9. Updates the weight values for the network with EMA weights
        with torch.no_grad():
            for weight, ema_weight in zip(self.network.weights, self.ema_network.weights):
                ema_weight.copy_(self.ema * ema_weight + (1 - self.ema) * weight)

        # 10. Return loss values
        return {"loss": loss}

    def generate_images(self, num_images=16):
        # 1. Randomly sample noise (starting point for reverse process)
        samples = torch.randn((num_images, img_size, img_size, img_channels), dtype=torch.float32)
        # 2. Sample from the model iteratively
        for t in reversed(range(0, self.timesteps)):
            tt = torch.full((num_images,), t, dtype=torch.int64)
            pred_noise = self.ema_network.predict([samples, tt], verbose=0, batch_size=num_images)
            samples = self.gdf_util.p_sample(torch.from_numpy(pred_noise), samples, tt, clip_denoised=True)
        # 3. Return generated samples
        return samples

    def plot_images(self, epoch=None, logs=None, num_rows=2, num_cols=8, figsize=(12, 5)):
        """Utility to plot images using the diffusion model during training."""
        generated_samples = self.generate_images(num_images=num_rows * num_cols)
        self.last_samples = generated_samples  # kept for the test
        generated_samples = torch.clip(generated_samples * 127.5 + 127.5, 0.0, 255.0).numpy().astype(np.uint8)

        _, ax = plt.subplots(num_rows, num_cols, figsize=figsize)
        for i, image in enumerate(generated_samples):
            if num_rows == 1:
                ax[i].imshow(image[..., 0], cmap="gray")  # one channel: imshow(image) in the example
                ax[i].axis("off")
            else:
                ax[i // num_cols, i % num_cols].imshow(image[..., 0], cmap="gray")
                ax[i // num_cols, i % num_cols].axis("off")

        plt.tight_layout()
        plt.show()  # Agg: nothing shown
        plt.close()


def _unet():
    return build_model(
        img_size=img_size,
        img_channels=img_channels,
        widths=widths,
        has_attention=has_attention,
        num_res_blocks=num_res_blocks,
        norm_groups=norm_groups,
        activation_fn=keras.activations.swish,
    )


# ---------------------------------------------------------------- NumPy references


def _numpy_schedule(timesteps, beta_start=1e-4, beta_end=0.02):
    """β_t linear; ᾱ_t = Π_{s≤t} (1 − β_s) by a loop (not cumprod), ᾱ_{-1} = 1."""
    betas = np.array([beta_start + (beta_end - beta_start) * i / (timesteps - 1) for i in range(timesteps)])
    alpha_bar, prod = [], 1.0
    for b in betas:
        prod *= 1.0 - b
        alpha_bar.append(prod)
    alpha_bar = np.array(alpha_bar)
    return betas, alpha_bar, np.concatenate([[1.0], alpha_bar[:-1]])


def _numpy_posterior(x0, xt, t, betas, alpha_bar, alpha_bar_prev):
    """q(x_{t-1} | x_t, x_0) ∝ N(x_t; √α_t x_{t-1}, β_t) · N(x_{t-1}; √ᾱ_{t-1} x_0, 1 − ᾱ_{t-1}):
    the product of the two Gaussians in x_{t-1}, precision and mean (t ≥ 1)."""
    a, b, ab_prev = 1.0 - betas[t], betas[t], alpha_bar_prev[t]
    precision = a / b + 1.0 / (1.0 - ab_prev)
    mean = (np.sqrt(a) * xt / b + np.sqrt(ab_prev) * x0 / (1.0 - ab_prev)) / precision
    return mean, 1.0 / precision


def _numpy_time_embedding(t, dim):
    half = dim // 2
    freqs = np.exp(-math.log(10000) * np.arange(half) / (half - 1))
    angles = t.astype("float64")[:, None] * freqs[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)


def _numpy_group_norm(x, groups, eps=1e-3):
    n, h, w, c = x.shape
    g = x.reshape(n, h, w, groups, c // groups)
    mean = g.mean(axis=(1, 2, 4), keepdims=True)
    var = g.var(axis=(1, 2, 4), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(n, h, w, c)


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """Section "Dataset", on MNIST: 1,024 training digits, pixels rescaled to [-1, 1] as
    resize_and_rescale does (img / 127.5 - 1, clipped), one channel; and 256 test digits
    held out, the same way."""
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)

    def resize_and_rescale(img):
        img = img[..., None].astype("float32")  # (N, 28, 28, 1): no resizing
        img = img / 127.5 - 1.0
        return np.clip(img, clip_min, clip_max)

    return resize_and_rescale(x_train[:num_train]), resize_and_rescale(x_test[:256])


def test_gaussian_diffusion_utilities_are_the_equations_in_numpy():
    """Section "Gaussian diffusion utilities", with the example's own schedule (1,000
    steps, β from 1e-4 to 0.02): the schedule, q_mean_variance, q_sample,
    predict_start_from_noise, q_posterior (against the product of the Gaussians
    q(x_t | x_{t-1}) and q(x_{t-1} | x_0)) and p_sample, in float64."""
    gdf = GaussianDiffusion()
    betas, alpha_bar, alpha_bar_prev = _numpy_schedule(1000)
    np.testing.assert_allclose(gdf.betas.numpy(), betas, rtol=1e-6)
    np.testing.assert_allclose(gdf.alphas_cumprod.numpy(), alpha_bar, rtol=1e-5)
    np.testing.assert_allclose(gdf.alphas_cumprod_prev.numpy(), alpha_bar_prev, rtol=1e-5)
    assert gdf.alphas_cumprod[-1].item() < 1e-4  # x_T is (almost) pure noise
    # the port's 100-step schedule ends as near to noise as the example's 1,000 steps
    short = GaussianDiffusion(beta_end=beta_end, timesteps=total_timesteps)
    assert short.alphas_cumprod[-1].item() < 1e-4

    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, size=(5, 4, 4, 1))
    eps = rng.normal(size=x0.shape)
    t = np.array([0, 1, 10, 500, 999])
    tt = torch.from_numpy(t)
    c = lambda v: v.reshape(-1, 1, 1, 1)  # noqa: E731  a coefficient per sample

    mean, var, log_var = gdf.q_mean_variance(torch.from_numpy(x0).float(), tt)
    np.testing.assert_allclose(mean.numpy(), np.sqrt(c(alpha_bar[t])) * x0, rtol=1e-5, atol=1e-6)
    # 1 − ᾱ_t taken in float32, as the example does: up to float32's spacing near 1 (6e-8) off
    np.testing.assert_allclose(var.numpy(), c(1 - alpha_bar[t]), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(log_var.numpy(), np.log(c(1 - alpha_bar[t])), rtol=1e-4)

    # x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε, and x̂_0 = x_t / √ᾱ_t − √(1/ᾱ_t − 1) ε recovers x_0
    xt = gdf.q_sample(torch.from_numpy(x0).float(), tt, torch.from_numpy(eps).float())
    want_xt = np.sqrt(c(alpha_bar[t])) * x0 + np.sqrt(1 - c(alpha_bar[t])) * eps
    np.testing.assert_allclose(xt.numpy(), want_xt, rtol=1e-4, atol=1e-5)
    x0_back = gdf.predict_start_from_noise(xt, tt, torch.from_numpy(eps).float())
    np.testing.assert_allclose(x0_back.numpy()[:4], x0[:4], atol=1e-3)  # t = 999: 1/√ᾱ ≈ 160 amplifies float32

    # the posterior: the formula's coefficients equal the product of the two Gaussians (t ≥ 1);
    # at t = 0 the posterior is x_0 itself (variance 0, its log clipped at log 1e-20)
    post_mean, post_var, post_log_var = gdf.q_posterior(torch.from_numpy(x0).float(), xt, tt)
    for i, ti in enumerate(t[1:], start=1):
        m, v = _numpy_posterior(x0[i], xt.numpy()[i].astype("float64"), ti, betas, alpha_bar, alpha_bar_prev)
        np.testing.assert_allclose(post_mean.numpy()[i], m, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(post_var.numpy()[i].ravel(), v, rtol=1e-4)
    np.testing.assert_allclose(post_mean.numpy()[0], x0[0], atol=1e-6)
    assert post_var[0].item() == 0.0 and post_log_var[0].item() == pytest.approx(math.log(1e-20), rel=1e-6)

    # p_sample: the posterior mean at the clipped x̂_0, plus σ_t·z except at t = 0
    pred = rng.normal(size=x0.shape)
    torch.manual_seed(3)
    got = gdf.p_sample(torch.from_numpy(pred).float(), xt, tt).numpy()
    torch.manual_seed(3)
    z = torch.randn(xt.shape).numpy().astype("float64")
    xt64 = xt.numpy().astype("float64")
    x_recon = np.clip(xt64 / np.sqrt(c(alpha_bar[t])) - np.sqrt(1 / c(alpha_bar[t]) - 1) * pred, -1, 1)
    for i, ti in enumerate(t):
        if ti == 0:
            want = x_recon[0]  # coef1 = 1, coef2 = 0, no noise
        else:
            m, v = _numpy_posterior(x_recon[i], xt64[i], ti, betas, alpha_bar, alpha_bar_prev)
            want = m + np.sqrt(v) * z[i]
        np.testing.assert_allclose(got[i], want, rtol=1e-4, atol=1e-4)


def test_time_embedding_and_attention_block_are_the_equations_in_numpy():
    """Section "Network architecture": TimeEmbedding's sinusoids and AttentionBlock's
    softmax(QKᵀ/√d)V over the h·w positions, added to the group-normalized input."""
    t = np.array([0, 1, 37, 999])
    got = TimeEmbedding(dim=16)(torch.from_numpy(t)).numpy()
    assert got.shape == (4, 16)
    np.testing.assert_allclose(got, _numpy_time_embedding(t, 16), atol=2e-4)  # float32 angles up to 999

    keras.utils.set_random_seed(0)
    block = AttentionBlock(8, groups=4)
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 8)).astype("float32")
    with torch.no_grad():
        block(torch.from_numpy(x))
        block.proj.kernel.normal_(0, 0.3)  # its zero-scale initialisation would hide the attention
        got = block(torch.from_numpy(x)).numpy()
    w = {n: (getattr(block, n).kernel.detach().numpy().astype("float64"),
             getattr(block, n).bias.detach().numpy().astype("float64")) for n in ("query", "key", "value", "proj")}
    xn = _numpy_group_norm(x.astype("float64"), 4)
    q, k, v = ((xn @ w[n][0] + w[n][1]).reshape(2, 15, 8) for n in ("query", "key", "value"))
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(8)
    attn = np.exp(scores - scores.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)
    want = xn + ((attn @ v) @ w["proj"][0] + w["proj"][1]).reshape(2, 3, 5, 8)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_unet_takes_images_and_time_steps_and_predicts_noise_of_their_shape():
    """Section "Network architecture": build_model's U-Net on (images, int64 time
    steps); the time embedding enters each residual block through
    Dense(width)(temb)[:, None, None, :]; the zero-scale last convolution predicts
    almost no noise at first; the EMA network starts as a copy (set_weights)."""
    keras.utils.set_random_seed(0)
    network, ema_network = _unet(), _unet()
    ema_network.set_weights(network.get_weights())  # Initially the weights are the same
    x = torch.randn(3, img_size, img_size, img_channels)
    t = torch.tensor([0, 50, 99])
    with torch.no_grad():
        out = network([x, t])
        torch.testing.assert_close(ema_network([x, t]), out)
    assert tuple(out.shape) == (3, img_size, img_size, img_channels)
    assert float(out.abs().max()) < 1e-3  # kernel_init(0.0): weights within ±√(3·1e-10 / fan_avg)
    assert [tuple(i.shape) for i in network.inputs] == [(None, img_size, img_size, img_channels), (None,)]
    assert network.inputs[1].dtype == torch.int64
    kinds = [type(layer).__name__ for layer in network.layers]
    # the middle block's, and the 7×7 level's: num_res_blocks down and num_res_blocks + 1 up
    assert kinds.count("AttentionBlock") == 1 + (2 * num_res_blocks + 1) * has_attention.count(True)
    assert kinds.count("GetItem") == kinds.count("Add") // 2  # one [:, None, None, :] per residual block


def test_training_lowers_the_loss_and_sampling_gives_images_of_the_data(digits, tmp_path):
    """Section "Training" (the U-Net and its EMA copy, GaussianDiffusion, compile with
    MeanSquaredError and Adam, fit with the plotting LambdaCallback) and section
    "Results" (the EMA network's weights loaded, then plot_images)."""
    train_images, held_out_images = digits
    keras.utils.set_random_seed(0)
    # Build the unet model
    network = _unet()
    ema_network = _unet()
    ema_network.set_weights(network.get_weights())  # Initially the weights are the same

    # Get an instance of the Gaussian Diffusion utilities
    gdf_util = GaussianDiffusion(beta_end=beta_end, timesteps=total_timesteps)

    # Get the model
    model = DiffusionModel(
        network=network,
        ema_network=ema_network,
        gdf_util=gdf_util,
        timesteps=total_timesteps,
        ema=0.9,  # 0.999 in the example
    )

    # Compile the model
    model.compile(
        loss=keras.losses.MeanSquaredError(),
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
    )

    start = [w.detach().clone() for w in ema_network.weights]
    batch_losses = []  # the loss train_step returns at each step
    keep_loss = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batch_losses.append(logs["loss"]))
    # Train the model
    history = model.fit(
        train_images,
        epochs=num_epochs,
        batch_size=batch_size,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=model.plot_images), keep_loss],
        verbose=0,
    ).history
    assert len(batch_losses) == num_epochs * len(train_images) // batch_size
    assert history["loss"][-1] == pytest.approx(batch_losses[-1])  # an epoch's logs: its last step's dict
    # the untrained network predicts almost no noise: its loss is E[ε²] = 1; the last ten steps' far below
    assert np.mean(batch_losses[:3]) > 0.8 and np.mean(batch_losses[-10:]) < 0.35, batch_losses

    # the EMA weights moved from their start toward the trained network's
    trained = [w.detach() for w in network.weights]
    ema_now = [w.detach() for w in ema_network.weights]
    gap = lambda a, b: sum(float((x - y).abs().sum()) for x, y in zip(a, b))  # noqa: E731
    assert 0 < gap(ema_now, trained) < gap(start, trained)

    # the EMA network separates held-out noisy digits into digit and noise: its noise loss is far below
    # the untrained network's 1, at every step of the chain but the last few (where x_t is almost all noise)
    held_out = torch.from_numpy(held_out_images)
    torch.manual_seed(2)
    t = torch.randint(0, total_timesteps - 5, (len(held_out),))
    noise = torch.randn(held_out.shape)
    pred = ema_network.predict([gdf_util.q_sample(held_out, t, noise), t], verbose=0)
    held_out_loss = float(torch.mean((torch.from_numpy(pred) - noise) ** 2))
    assert held_out_loss < 0.4, held_out_loss

    # the samples plotted after the last epoch: finite, the data's shape, in [-1, 1] (x̂_0 is clipped at t = 0)
    samples = model.last_samples.numpy()
    assert samples.shape == (16, img_size, img_size, img_channels)
    assert np.all(np.isfinite(samples)) and samples.min() >= -1.0 and samples.max() <= 1.0

    # Section "Results": the EMA network's weights saved, then loaded into a fresh U-Net
    path = str(tmp_path / "diffusion_model_checkpoint.weights.h5")
    model.ema_network.save_weights(path)
    fresh = _unet()
    fresh.load_weights(path)
    x = torch.from_numpy(held_out_images[:4])
    t = torch.tensor([0, 10, 50, 99])
    np.testing.assert_array_equal(fresh.predict([x, t], verbose=0), ema_network.predict([x, t], verbose=0))
    model.ema_network = fresh
    # Generate and plot some samples
    model.plot_images(num_rows=2, num_cols=8)  # 4 rows in the example
    assert model.last_samples.shape == (16, img_size, img_size, img_channels)
    assert torch.isfinite(model.last_samples).all()
