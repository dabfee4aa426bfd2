"""keras.io example "Data-efficient GANs with Adaptive Discriminator Augmentation"
(https://keras.io/examples/generative/gan_ada/).

The stored copy (keras-io ``examples/generative/gan_ada.py``, the tf.keras
version, target accuracy 0.85) is ported the way a learner ports it:
``import brainnet as keras`` / ``from brainnet import layers``, ``tf.*``
calls written as torch calls (``tf.random.normal`` is ``torch.randn``,
``tf.sign`` is ``torch.sign``, ``tf.where`` is ``torch.where``,
``tf.clip_by_value`` is ``torch.clamp``), ``tf.Variable(0.0)`` a
non-trainable ``add_weight`` whose ``assign`` is ``copy_``, the persistent
``GradientTape`` two ``torch.autograd.grad`` calls on one graph
(``retain_graph=True`` on the first), and ``ema_weight.assign(...)``
``ema_weight.copy_(...)`` under ``torch.no_grad()``. ``LeakyReLU(alpha=)``
is written with Keras 3's name ``negative_slope=``, the checkpoint file ends
in ``.weights.h5`` as Keras 3 requires of ``save_weights_only``, and the
``tf.data`` pipelines are ``DataLoader``s with ``drop_last=True`` (the
example's ``drop_remainder=True``: its augmenter draws ``batch_size``
probabilities a batch). Everything else is the example's: the
``AdaptiveAugmenter`` model whose augmentation probability follows the
discriminator's accuracy on reals by integral control, the ``KID`` metric
(polynomial-kernel MMD² averaged over batches), the DCGAN generator and
discriminator with ``BatchNormalization(scale=False)`` and no biases, the
``GAN_ADA`` model with its own ``compile``, ``metrics``, ``train_step``
(non-saturating loss, EMA generator) and ``test_step`` (KID only),
``ModelCheckpoint`` on ``val_kid`` and ``load_weights``.

Replaced: the Caltech birds (64 × 64 colour crops) by MNIST digits resized
to 16 × 16 by area averaging (the example's own resize method), one
channel; the KID encoder's ImageNet-trained InceptionV3 (no pretrained
networks here) by a small random convolutional encoder behind the example's
``Rescaling``/``Resizing``/``preprocess_input`` (Inception's "tf" scaling,
``x / 127.5 - 1``, written as a ``Lambda``), so the KID values measure a
random feature space, not Inception's.

Shortened: 1,024 training and 256 validation digits (the example: about
6,000 and 5,800 birds), 6 epochs (the example: 10, 400 for good images),
batches of 32 (128), depth 2 and width 16 (4 and 128: 4 × 4 → 16 × 16
instead of 64 × 64), noise of 16 (64), and ``integration_steps`` of 100
(1000) so that the probability moves visibly in 192 steps; the images are
plotted on a non-interactive backend.

The tests check: the augmenter's probability update against the example's
formula in NumPy, its choice between original and augmented images; KID
against a NumPy polynomial-kernel MMD² on the encoder's features; one
train step's losses against NumPy binary cross-entropy and its EMA update;
and that training runs with finite losses, the probability moves, and the
checkpoint reloads into a new model that generates the same images.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import brainnet as keras  # noqa: E402
from brainnet import layers  # noqa: E402

# data
num_epochs = 6  # the example: 10
image_size = 16  # the example: 64
kid_image_size = 20  # the example: 75 (Inception's smallest input)

# adaptive discriminator augmentation
max_translation = 0.125
max_rotation = 0.125
max_zoom = 0.25
target_accuracy = 0.85
integration_steps = 100  # the example: 1000

# architecture
noise_size = 16  # the example: 64
depth = 2  # the example: 4
width = 16  # the example: 128
leaky_relu_slope = 0.2
dropout_rate = 0.4

# optimization
batch_size = 32  # the example: 128
learning_rate = 2e-4
beta_1 = 0.5  # not using the default value of 0.9 is important
ema = 0.99


class KID(keras.metrics.Metric):
    def __init__(self, name="kid", **kwargs):
        super().__init__(name=name, **kwargs)

        # KID is estimated per batch and is averaged across batches
        self.kid_tracker = keras.metrics.Mean()

        # the example: a pretrained InceptionV3 without its classification layer; here a small random encoder
        self.encoder = keras.Sequential(
            [
                layers.InputLayer(input_shape=(image_size, image_size, 1)),
                layers.Rescaling(255.0),
                layers.Resizing(height=kid_image_size, width=kid_image_size),
                layers.Lambda(lambda x: x / 127.5 - 1.0),  # inception_v3.preprocess_input
                layers.Conv2D(32, kernel_size=3, strides=2, activation="relu"),
                layers.Conv2D(64, kernel_size=3, strides=2, activation="relu"),
                layers.GlobalAveragePooling2D(),
            ],
            name="inception_encoder",
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


# "hard sigmoid", useful for binary accuracy calculation from logits
def step(values):
    # negative values -> 0.0, positive values -> 1.0
    return 0.5 * (1.0 + torch.sign(values))


# augments images with a probability that is dynamically updated during training
class AdaptiveAugmenter(keras.Model):
    def __init__(self):
        super().__init__()

        # stores the current probability of an image being augmented (the example: tf.Variable(0.0))
        self.probability = self.add_weight("probability", torch.tensor(0.0), trainable=False)

        self.augmenter = keras.Sequential(
            [
                layers.InputLayer(input_shape=(image_size, image_size, 1)),
                # blitting/x-flip:
                layers.RandomFlip("horizontal"),
                # blitting/integer translation:
                layers.RandomTranslation(
                    height_factor=max_translation,
                    width_factor=max_translation,
                    interpolation="nearest",
                ),
                # geometric/rotation:
                layers.RandomRotation(factor=max_rotation),
                # geometric/isotropic and anisotropic scaling:
                layers.RandomZoom(height_factor=(-max_zoom, 0.0), width_factor=(-max_zoom, 0.0)),
            ],
            name="adaptive_augmenter",
        )

    def call(self, images, training):
        if training:
            augmented_images = self.augmenter(images, training)

            # during training either the original or the augmented images are selected
            # based on self.probability
            augmentation_values = torch.rand((batch_size, 1, 1, 1))
            augmentation_bools = torch.less(augmentation_values, self.probability)

            images = torch.where(augmentation_bools, augmented_images, images)
        return images

    def update(self, real_logits):
        current_accuracy = torch.mean(step(real_logits))

        # the augmentation probability is updated based on the dicriminator's
        # accuracy on real images
        accuracy_error = current_accuracy - target_accuracy
        with torch.no_grad():
            self.probability.copy_(torch.clamp(self.probability + accuracy_error / integration_steps, 0.0, 1.0))


# DCGAN generator
def get_generator():
    noise_input = keras.Input(shape=(noise_size,))
    x = layers.Dense(4 * 4 * width, use_bias=False)(noise_input)
    x = layers.BatchNormalization(scale=False)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape(target_shape=(4, 4, width))(x)
    for _ in range(depth - 1):
        x = layers.Conv2DTranspose(width, kernel_size=4, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(scale=False)(x)
        x = layers.ReLU()(x)
    image_output = layers.Conv2DTranspose(1, kernel_size=4, strides=2, padding="same", activation="sigmoid")(x)

    return keras.Model(noise_input, image_output, name="generator")


# DCGAN discriminator
def get_discriminator():
    image_input = keras.Input(shape=(image_size, image_size, 1))
    x = image_input
    for _ in range(depth):
        x = layers.Conv2D(width, kernel_size=4, strides=2, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(scale=False)(x)
        x = layers.LeakyReLU(negative_slope=leaky_relu_slope)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout_rate)(x)
    output_score = layers.Dense(1)(x)

    return keras.Model(image_input, output_score, name="discriminator")


class GAN_ADA(keras.Model):
    def __init__(self):
        super().__init__()

        self.augmenter = AdaptiveAugmenter()
        self.generator = get_generator()
        self.ema_generator = keras.models.clone_model(self.generator)
        self.discriminator = get_discriminator()

        self.generator.summary()
        self.discriminator.summary()

    def compile(self, generator_optimizer, discriminator_optimizer, **kwargs):
        super().compile(**kwargs)

        # separate optimizers for the two networks
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer

        self.generator_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.discriminator_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.real_accuracy = keras.metrics.BinaryAccuracy(name="real_acc")
        self.generated_accuracy = keras.metrics.BinaryAccuracy(name="gen_acc")
        self.augmentation_probability_tracker = keras.metrics.Mean(name="aug_p")
        self.kid = KID()

    @property
    def metrics(self):
        return [
            self.generator_loss_tracker,
            self.discriminator_loss_tracker,
            self.real_accuracy,
            self.generated_accuracy,
            self.augmentation_probability_tracker,
            self.kid,
        ]

    def generate(self, batch_size, training):
        latent_samples = torch.randn((batch_size, noise_size))
        # use ema_generator during inference
        if training:
            generated_images = self.generator(latent_samples, training)
        else:
            generated_images = self.ema_generator(latent_samples, training)
        return generated_images

    def adversarial_loss(self, real_logits, generated_logits):
        # this is usually called the non-saturating GAN loss

        real_labels = torch.ones((batch_size, 1))
        generated_labels = torch.zeros((batch_size, 1))

        # the generator tries to produce images that the discriminator considers as real
        generator_loss = keras.losses.binary_crossentropy(real_labels, generated_logits, from_logits=True)
        # the discriminator tries to determine if images are real or generated
        discriminator_loss = keras.losses.binary_crossentropy(
            torch.cat([real_labels, generated_labels], dim=0),
            torch.cat([real_logits, generated_logits], dim=0),
            from_logits=True,
        )

        return torch.mean(generator_loss), torch.mean(discriminator_loss)

    def train_step(self, real_images):
        real_images = self.augmenter(real_images, training=True)

        # the example's persistent tape: one graph, differentiated twice
        generated_images = self.generate(batch_size, training=True)
        # gradient is calculated through the image augmentation
        generated_images = self.augmenter(generated_images, training=True)

        # separate forward passes for the real and generated images, meaning
        # that batch normalization is applied separately
        real_logits = self.discriminator(real_images, training=True)
        generated_logits = self.discriminator(generated_images, training=True)

        generator_loss, discriminator_loss = self.adversarial_loss(real_logits, generated_logits)

        # calculate gradients and update weights
        generator_gradients = torch.autograd.grad(generator_loss, self.generator.trainable_weights,
                                                  retain_graph=True)
        discriminator_gradients = torch.autograd.grad(discriminator_loss, self.discriminator.trainable_weights)
        self.generator_optimizer.apply_gradients(zip(generator_gradients, self.generator.trainable_weights))
        self.discriminator_optimizer.apply_gradients(
            zip(discriminator_gradients, self.discriminator.trainable_weights)
        )

        # update the augmentation probability based on the discriminator's performance
        self.augmenter.update(real_logits)

        self.generator_loss_tracker.update_state(generator_loss)
        self.discriminator_loss_tracker.update_state(discriminator_loss)
        self.real_accuracy.update_state(1.0, step(real_logits))
        self.generated_accuracy.update_state(0.0, step(generated_logits))
        self.augmentation_probability_tracker.update_state(self.augmenter.probability)

        # track the exponential moving average of the generator's weights to decrease
        # variance in the generation quality
        with torch.no_grad():
            for weight, ema_weight in zip(self.generator.weights, self.ema_generator.weights):
                ema_weight.copy_(ema * ema_weight + (1 - ema) * weight)

        # KID is not measured during the training phase for computational efficiency
        return {m.name: m.result() for m in self.metrics[:-1]}

    def test_step(self, real_images):
        generated_images = self.generate(batch_size, training=False)

        self.kid.update_state(real_images, generated_images)

        # only KID is measured during the evaluation phase for computational efficiency
        return {self.kid.name: self.kid.result()}

    def plot_images(self, epoch=None, logs=None, num_rows=3, num_cols=6, interval=5):
        # plot random generated images for visual evaluation of generation quality
        if epoch is None or (epoch + 1) % interval == 0:
            num_images = num_rows * num_cols
            generated_images = self.generate(num_images, training=False)

            plt.figure(figsize=(num_cols * 2.0, num_rows * 2.0))
            for row in range(num_rows):
                for col in range(num_cols):
                    index = row * num_cols + col
                    plt.subplot(num_rows, num_cols, index + 1)
                    plt.imshow(generated_images[index].detach().numpy())
                    plt.axis("off")
            plt.tight_layout()
            plt.show()
            plt.close()


@pytest.fixture(scope="module")
def digits(mnist_dir):
    """Section "Data pipeline": MNIST digits in [0, 1], resized to 16 × 16 by area averaging."""
    (x_train, _), (x_test, _) = keras.datasets.mnist.load_data(path=mnist_dir)

    def preprocess(x):
        x = torch.from_numpy(x[:, None].astype("float32") / 255.0)  # (N, 1, 28, 28) for interpolate
        x = F.interpolate(x, size=(image_size, image_size), mode="area")
        return torch.clamp(x, 0.0, 1.0).permute(0, 2, 3, 1).contiguous()  # (N, 16, 16, 1)

    return preprocess(x_train[:1024]), preprocess(x_test[:256])


class Snapshots(keras.callbacks.Callback):
    """The EMA generator's images of fixed noise and the augmentation probability at each epoch's end."""

    def __init__(self):
        super().__init__()
        self.noise, self.images, self.probability = torch.randn(8, noise_size), [], []

    def on_epoch_end(self, epoch, logs=None):
        with torch.no_grad():
            self.images.append(self.model.ema_generator(self.noise, training=False).numpy())
        self.probability.append(float(self.model.augmenter.probability))


def prepare_dataset(images):
    return torch.utils.data.DataLoader(images, batch_size=batch_size, shuffle=True, drop_last=True)


def test_the_augmentation_probability_follows_the_example_formula():
    """Section "Adaptive discriminator augmentation": ``update`` moves the
    probability by (accuracy on reals − target) / integration_steps, clipped
    to [0, 1], the accuracy being the mean of the logits' hard sigmoid."""
    augmenter = AdaptiveAugmenter()
    rng = np.random.default_rng(0)
    p = 0.0
    for shift in (3.0, 3.0, -3.0, 0.5, -0.5, 2.0):  # mostly right, then mostly wrong on reals
        logits = rng.normal(shift, 1.0, size=(batch_size, 1)).astype("float32")
        augmenter.update(torch.from_numpy(logits))
        accuracy = np.mean(0.5 * (1.0 + np.sign(logits)))
        p = float(np.clip(p + (accuracy - target_accuracy) / integration_steps, 0.0, 1.0))
        np.testing.assert_allclose(float(augmenter.probability), p, atol=1e-6)
    assert p > 0  # the sequence crossed the target at least once
    assert augmenter.probability.requires_grad is False and len(augmenter.trainable_weights) == 0
    # the lower clip: an all-wrong discriminator for many steps ends at 0
    for _ in range(50):
        augmenter.update(-torch.ones(batch_size, 1))
    assert float(augmenter.probability) == 0.0


def test_the_augmenter_chooses_between_original_and_augmented_images(digits):
    """Section "Adaptive discriminator augmentation": probability 0 (and
    inference) keeps every image, probability 1 augments every image, and in
    between about that fraction of images is changed."""
    real, _ = digits
    images = real[:batch_size]
    augmenter = AdaptiveAugmenter()
    assert torch.equal(augmenter(images, training=False), images)
    assert torch.equal(augmenter(images, training=True), images)  # probability 0.0 at first
    augmenter.probability.copy_(torch.tensor(1.0))
    changed = (augmenter(images, training=True) != images).flatten(1).any(1)
    assert changed.float().mean() > 0.9  # a flip, shift, rotation and zoom all near identity is rare
    augmenter.probability.copy_(torch.tensor(0.5))
    fractions = [float((augmenter(images, training=True) != images).flatten(1).any(1).float().mean())
                 for _ in range(8)]
    assert 0.3 < np.mean(fractions) < 0.7, fractions


def test_kid_is_the_polynomial_kernel_mmd_of_the_encoder_features(digits):
    """Section "Kernel inception distance": per batch, the unbiased MMD² with
    k(a, b) = (a·b / d + 1)³ on the encoder's features, averaged over batches;
    digits against noise lie far apart, digits against other digits close;
    reset_state starts over."""
    real, val = digits
    kid = KID()
    noise = torch.rand(batch_size, image_size, image_size, 1)  # not digits at all
    batches = [(real[:batch_size], val[:batch_size]), (real[batch_size:2 * batch_size], noise)]
    expected = []
    for a, b in batches:
        kid.update_state(a, b)
        with torch.no_grad():
            x = kid.encoder(a, training=False).numpy().astype("float64")
            y = kid.encoder(b, training=False).numpy().astype("float64")
        d, n = x.shape[1], x.shape[0]
        k = lambda u, v: (u @ v.T / d + 1.0) ** 3  # noqa: E731
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        mmd = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
               - 2.0 * kxy.mean())
        expected.append(mmd)
    np.testing.assert_allclose(float(kid.result()), np.mean(expected), rtol=1e-4, atol=1e-6)
    print("KID digits/digits, digits/noise:", expected)
    assert expected[1] > 10 * abs(expected[0])  # digits against digits: near 0; against noise: far
    kid.reset_state()
    kid.update_state(val[:batch_size], val[:batch_size])
    # a batch against itself: the off-diagonal means cancel the cross mean less its diagonal
    assert float(kid.result()) < 0


def test_one_train_step_losses_and_ema(digits):
    """Section "GAN model": one ``train_step`` with the probability at 0 (no
    augmentation): the generator and discriminator losses are the
    non-saturating losses of the logits (NumPy binary cross-entropy on the
    same draws), each optimizer moves its own network only, and every EMA
    weight is 0.99 · old EMA + 0.01 · the updated generator weight."""
    real, _ = digits
    batch = real[:batch_size]
    keras.utils.set_random_seed(3)
    model = GAN_ADA()
    model.compile(generator_optimizer=keras.optimizers.Adam(learning_rate, beta_1),
                  discriminator_optimizer=keras.optimizers.Adam(learning_rate, beta_1))
    # same-shaped networks, EMA weights copies of the generator's at the start (clone_model draws its own)
    ema_before = [w.detach().clone() for w in model.ema_generator.weights]
    g_before = [w.detach().clone() for w in model.generator.weights]
    d_before = [w.detach().clone() for w in model.discriminator.weights]
    state = torch.get_rng_state()
    logs = model.train_step(batch)
    assert set(logs) == {"g_loss", "d_loss", "real_acc", "gen_acc", "aug_p"}

    # replay the forward pass on the weights before the step, with the same draws
    replay = GAN_ADA()
    replay.generator.set_weights([w.numpy() for w in g_before])
    replay.discriminator.set_weights([w.numpy() for w in d_before])
    torch.set_rng_state(state)
    with torch.no_grad():
        replay.augmenter(batch, training=True)  # the augmenter's draws, as in the step
        fakes = replay.augmenter(replay.generator(torch.randn(batch_size, noise_size), training=True), training=True)
        real_z = replay.discriminator(batch, training=True).numpy().astype("float64")
        fake_z = replay.discriminator(fakes, training=True).numpy().astype("float64")

    def bce(y, z):
        return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))

    np.testing.assert_allclose(float(logs["g_loss"]), bce(1.0, fake_z), rtol=1e-4)
    d_expected = bce(np.concatenate([np.ones_like(real_z), np.zeros_like(fake_z)]), np.concatenate([real_z, fake_z]))
    np.testing.assert_allclose(float(logs["d_loss"]), d_expected, rtol=1e-4)
    np.testing.assert_allclose(float(logs["real_acc"]), np.mean(real_z > 0), atol=1e-6)
    np.testing.assert_allclose(float(logs["gen_acc"]), np.mean(fake_z < 0), atol=1e-6)
    p = float(np.clip((np.mean(real_z > 0) - target_accuracy) / integration_steps, 0, 1))
    np.testing.assert_allclose(float(logs["aug_p"]), p, atol=1e-7)

    trainable_g = {id(w) for w in model.generator.trainable_weights}
    for old, new in zip(g_before, model.generator.weights):
        if id(new) in trainable_g:
            assert not torch.equal(old, new)
    for old, new in zip(d_before, model.discriminator.trainable_weights):
        assert not torch.equal(old, new)
    for old_ema, new_ema, weight in zip(ema_before, model.ema_generator.weights, model.generator.weights):
        expected = ema * old_ema.numpy().astype("float64") + (1 - ema) * weight.detach().numpy().astype("float64")
        np.testing.assert_allclose(new_ema.detach().numpy(), expected, rtol=1e-5, atol=1e-7)


def test_training_runs_the_probability_moves_and_the_checkpoint_reloads(digits, tmp_path, monkeypatch):
    """Section "Training" and "Inference": 6 epochs with validation KID, the
    LambdaCallback plotting and ModelCheckpoint keeping the best ``val_kid``;
    the losses stay finite, the discriminator beats the target accuracy on
    reals so the augmentation probability climbs from 0, the validation KID
    falls, and the checkpoint loaded into a new GAN_ADA generates the images
    the EMA generator gave at the best epoch.
    Measured 2026-12-06 (OMP_NUM_THREADS=1, seed 0): real_acc 0.36 → 0.98,
    aug_p (epoch means) 0 → 0.157, val_kid 0.01365 → 0.01247 (digits against
    uniform noise: 0.0139 in this encoder), d_loss 0.69 → 0.09, g_loss 1.9 → 3.2;
    about 5 s."""
    monkeypatch.chdir(tmp_path)
    real, val = digits
    train_dataset, val_dataset = prepare_dataset(real), prepare_dataset(val)
    keras.utils.set_random_seed(0)

    # create and compile the model
    model = GAN_ADA()
    model.compile(
        generator_optimizer=keras.optimizers.Adam(learning_rate, beta_1),
        discriminator_optimizer=keras.optimizers.Adam(learning_rate, beta_1),
    )

    # save the best model based on the validation KID metric
    checkpoint_path = "gan_model.weights.h5"  # the example: "gan_model" (Keras 3 asks for the ending)
    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        filepath=checkpoint_path,
        save_weights_only=True,
        monitor="val_kid",
        mode="min",
        save_best_only=True,
    )

    snapshots = Snapshots()  # not the example's: what the checkpoint should hold, epoch by epoch

    # run training and plot generated images periodically
    history = model.fit(
        train_dataset,
        epochs=num_epochs,
        validation_data=val_dataset,
        callbacks=[
            keras.callbacks.LambdaCallback(on_epoch_end=model.plot_images),
            checkpoint_callback,
            snapshots,
        ],
        verbose=0,
    ).history
    print({k: [round(float(v), 6) for v in vs] for k, vs in history.items()})
    assert {"g_loss", "d_loss", "real_acc", "gen_acc", "aug_p", "val_kid"} <= set(history)
    for name in ("g_loss", "d_loss", "val_kid"):
        assert np.all(np.isfinite(history[name])), (name, history[name])
    # the discriminator beats the target on reals, so the controller raises the probability from 0
    assert history["real_acc"][-1] > target_accuracy and history["gen_acc"][-1] > 0.5
    assert float(model.augmenter.probability) > 0.05
    assert history["aug_p"][-1] > history["aug_p"][1] > history["aug_p"][0] == 0.0
    assert history["val_kid"][-1] < history["val_kid"][0]  # the EMA generator's images come closer to digits

    # load the best model and generate images
    best_epoch = int(np.argmin(history["val_kid"]))
    reloaded = GAN_ADA()
    reloaded.load_weights(checkpoint_path)
    reloaded.plot_images()
    with torch.no_grad():
        images = reloaded.ema_generator(snapshots.noise, training=False).numpy()
    np.testing.assert_allclose(images, snapshots.images[best_epoch], atol=1e-6)
    assert float(reloaded.augmenter.probability) == snapshots.probability[best_epoch]
