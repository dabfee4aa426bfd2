"""keras.io example "Barlow Twins for Contrastive SSL"
(https://keras.io/examples/vision/barlow_twins/).

The stored copy is the tf.keras version (``from tensorflow import keras``,
TensorFlow Addons for the LAMB optimizer and the Gaussian blur); keras.io has
no Keras 3 version of it. It is ported as a learner would: ``import brainnet
as keras``, ``from brainnet import layers``, TensorFlow Addons' ``LAMB`` as
Keras 3's ``keras.optimizers.Lamb`` (added to brainnet for this port), and
the TensorFlow calls as torch calls: ``tf.random.uniform([])`` is
``torch.rand(())``, ``tf.image.rgb_to_grayscale`` the weighted sum of the
channels with TensorFlow's weights, ``tf.tile`` ``torch.tile``,
``tf.image.random_brightness`` / ``random_contrast`` / ``random_flip_left_right``
/ ``random_crop`` / ``resize`` their few torch lines (the resize is
``F.interpolate``'s bilinear with half-pixel centres, as TensorFlow's),
``tf.image.random_saturation`` and ``random_hue`` go through HSV with
``keras.utils.rgb_to_hsv`` / ``hsv_to_rgb`` (Keras 3's
``keras.ops.image.rgb_to_hsv`` / ``hsv_to_rgb``, added to brainnet for this
port), ``tfa.image.gaussian_filter2d`` (a 3 × 3 kernel, reflected borders)
a depthwise ``F.conv2d``, ``tf.where`` ``torch.where``, ``tf.linalg.set_diag``
/ ``diag_part`` ``torch.diagonal``, ``tf.math.reduce_std`` ``torch.std(...,
unbiased=False)``, and the ``GradientTape`` block ``self.zero_grad()``,
``backward`` and ``apply_gradients``. ``tf.data``'s pipeline (a seeded
shuffle, the augmentor mapped on each image, batches with the remainder
dropped, two such versions zipped) is a small ``IterableDataset`` read by a
``DataLoader``; as in ``tf.data``, both versions draw the same order from the
same seed, so each pair of batches holds two augmentations of the same
images. The example's solarization, ``tf.where(x < 10, x, 255 - x)`` on
pixels already scaled to [0, 1], never changes a pixel; it is kept as
written and a test shows it.

CIFAR-10 is not here: Fashion-MNIST stands in, padded to 32 × 32 and turned
into colour images by tinting each with a random colour (the test makes
this data), so that the example's colour jitter, grayscale and crop work on
it as written. Shortened for CI: 512 training images for the pretraining in
place of 50,000, batches of 64 in place of 512, ResNet-34's stages of 3, 4,
6 and 3 blocks cut to one block each and its 64 first filters to 8, the
projector's three layers of 5,000 units to 64, 4 epochs of pretraining in
place of 160 (32 steps in place of 15,000, so LAMB's learning rate is 0.01
in place of its default 0.001, with which each step moves a weight by only
0.1% of its norm, and the batch normalizations' momentum 0.9 in place of
0.99, so that their moving statistics, which the frozen model uses in the
linear evaluation, settle in these steps), and the linear evaluation on
1,024 images (test: 1,024) for 5 epochs in place of 35, its LAMB at 0.02.
The plots are left out. Calling ``RandomAugmentor`` (a subclassed
``keras.Model``) on one unbatched image and ``BatchNormalization(axis=3)``
needed brainnet changes (see README).

The tests check each augmentation (the grayscale against NumPy, the flip's
and the grayscale's rates, the crop's shape, the jitter, the blur against
NumPy, solarization's no-op, the chain's [0, 1] range), the Barlow loss
against a NumPy version of its cross-correlation (embeddings normalized
over the batch; the on-diagonal term Σ(1 − c_ii)² plus λ times the
off-diagonal Σ c_ij²), that the two dataset versions pair the same images,
that the custom ``train_step`` lowers that loss over the epochs and leaves
a model whose embeddings of new pairs have a far lower loss than an
untrained twin's, and the linear evaluation: the frozen model stays
unchanged (its BatchNorm statistics too) while the softmax layer on top
learns, far above chance. Whether the learned features beat a randomly
initialised encoder's was measured, not asserted: in this budget they did
not (linear probes of about 0.37 on both, measured on 2,048 images, the random encoder given BatchNorm
statistics from the images; with Keras's initial statistics it stayed at
chance, 0.11).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import brainnet as keras
from brainnet import layers

# Batch size of dataset
BATCH_SIZE = 64  # 512 in the example
# Width and height of image
IMAGE_SIZE = 32

TRAIN_IMAGES = 512  # CIFAR-10's 50,000 in the example
PROBE_IMAGES = 1024  # the same 50,000 for the linear evaluation, and 10,000 test images
N_DENSE_NEURONS = 64  # 5000 in the example
PRETRAIN_EPOCHS = 4  # 160 in the example
PROBE_EPOCHS = 5  # 35 in the example
LEARNING_RATE = 0.01  # LAMB's default 0.001 in the example (each step then moves a weight by 0.1% of its norm)
PROBE_LEARNING_RATE = 0.02  # the same default in the example
BN_MOMENTUM = 0.9  # Keras's default 0.99 in the example: its moving statistics would not settle in these few steps


def _tinted(images, rng):
    """Fashion-MNIST as CIFAR-like colour images in [0, 1]: padded to 32 × 32, each tinted by a random colour."""
    gray = np.pad(images, ((0, 0), (2, 2), (2, 2))).astype("float32") / 255.0
    colours = rng.uniform(0.2, 1.0, size=(len(images), 1, 1, 3)).astype("float32")
    return gray[..., None] * colours


@pytest.fixture(scope="module")
def cifar_like(fashion_dir):
    """Section "Load the CIFAR-10 dataset" (``/ 255.0`` is done by ``_tinted``)."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    rng = np.random.default_rng(0)
    train_features = _tinted(x_train[:PROBE_IMAGES], rng)
    test_features = _tinted(x_test[:PROBE_IMAGES], rng)
    return (train_features, y_train[:PROBE_IMAGES]), (test_features, y_test[:PROBE_IMAGES])


# Section "Augmentation Utilities"
class Augmentation(layers.Layer):
    """Base augmentation class. Contains the random_execute method."""

    def __init__(self):
        super(Augmentation, self).__init__()

    def random_execute(self, prob: float) -> bool:
        return torch.rand(()) < prob  # tf.random.uniform([], minval=0, maxval=1) < prob


class RandomToGrayscale(Augmentation):
    """Randomly makes an image grayscaled (20% of the time)."""

    def call(self, x):
        if self.random_execute(0.2):
            x = (x * torch.tensor([0.2989, 0.5870, 0.1140])).sum(-1, keepdim=True)  # tf.image.rgb_to_grayscale
            x = torch.tile(x, [1, 1, 3])
        return x


class RandomColorJitter(Augmentation):
    """Randomly adds color jitter to an image (80% of the time): brightness, contrast,
    saturation and hue."""

    def call(self, x):
        if self.random_execute(0.8):
            x = x + torch.empty(()).uniform_(-0.8, 0.8)  # tf.image.random_brightness(x, 0.8)
            mean = x.mean(dim=(0, 1), keepdim=True)  # tf.image.random_contrast(x, 0.4, 1.6)
            x = (x - mean) * torch.empty(()).uniform_(0.4, 1.6) + mean
            h, s, v = keras.utils.rgb_to_hsv(x).unbind(-1)  # tf.image.random_saturation(x, 0.4, 1.6)
            s = torch.clip(s * torch.empty(()).uniform_(0.4, 1.6), 0, 1)
            h = torch.remainder(h + torch.empty(()).uniform_(-0.2, 0.2), 1.0)  # tf.image.random_hue(x, 0.2)
            x = keras.utils.hsv_to_rgb(torch.stack([h, s, v], dim=-1))
        return x


class RandomFlip(Augmentation):
    """Randomly flips image horizontally."""

    def call(self, x):
        if self.random_execute(0.5):
            if torch.rand(()) < 0.5:  # tf.image.random_flip_left_right(x)
                x = torch.flip(x, dims=[1])
        return x


class RandomResizedCrop(Augmentation):
    """Randomly crop an image to a random size, then resize the image back to the original size."""

    def __init__(self, image_size):
        super(Augmentation, self).__init__()
        self.image_size = image_size

    def call(self, x):
        rand_size = int(torch.randint(int(0.75 * self.image_size), 1 * self.image_size, ()))

        # tf.image.random_crop(x, (rand_size, rand_size, 3))
        top = int(torch.randint(0, x.shape[0] - rand_size + 1, ()))
        left = int(torch.randint(0, x.shape[1] - rand_size + 1, ()))
        crop = x[top:top + rand_size, left:left + rand_size]
        # tf.image.resize(crop, (self.image_size, self.image_size))
        crop_resize = F.interpolate(crop.permute(2, 0, 1)[None], size=(self.image_size, self.image_size),
                                    mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
        return crop_resize


class RandomSolarize(Augmentation):
    """Randomly solarizes an image."""

    def call(self, x):
        if self.random_execute(0.2):
            # flips abnormally low pixels to abnormally high pixels
            x = torch.where(x < 10, x, 255 - x)
        return x


def gaussian_filter2d(image, sigma, filter_shape=(3, 3)):
    """``tfa.image.gaussian_filter2d``: each channel convolved with a normalised
    Gaussian kernel, the borders reflected (TensorFlow's "REFLECT")."""
    kernels = []
    for size in filter_shape:
        k = torch.arange(size, dtype=image.dtype) - (size - 1) / 2
        k = torch.exp(-(k**2) / (2 * sigma**2))
        kernels.append(k / k.sum())
    kernel = torch.outer(*kernels)  # (kh, kw)
    channels = image.shape[-1]
    x = image.permute(2, 0, 1)[None]  # (1, C, H, W)
    ph, pw = filter_shape[0] // 2, filter_shape[1] // 2
    x = F.pad(x, (pw, pw, ph, ph), mode="reflect")
    x = F.conv2d(x, kernel.expand(channels, 1, *kernel.shape), groups=channels)
    return x[0].permute(1, 2, 0)


class RandomBlur(Augmentation):
    """Randomly blurs an image."""

    def call(self, x):
        if self.random_execute(0.2):
            s = np.random.random()
            return gaussian_filter2d(image=x, sigma=s)
        return x


class RandomAugmentor(keras.Model):
    """Chains all the augmentations into one pipeline."""

    def __init__(self, image_size: int):
        super(RandomAugmentor, self).__init__()

        self.image_size = image_size
        self.random_resized_crop = RandomResizedCrop(image_size)
        self.random_flip = RandomFlip()
        self.random_color_jitter = RandomColorJitter()
        self.random_blur = RandomBlur()
        self.random_to_grayscale = RandomToGrayscale()
        self.random_solarize = RandomSolarize()

    def call(self, x):
        x = self.random_resized_crop(x)
        x = self.random_flip(x)
        x = self.random_color_jitter(x)
        x = self.random_blur(x)
        x = self.random_to_grayscale(x)
        x = self.random_solarize(x)

        x = torch.clip(x, 0, 1)
        return x


# Section "Data Loading"
class _AugmentedBatches(torch.utils.data.IterableDataset):
    """tf.data's ``from_tensor_slices(ds).shuffle(..., seed=seed).map(augmentor)
    .batch(BATCH_SIZE, drop_remainder=True)``: the order drawn from ``seed`` pass
    after pass, the augmentor mapped on each image."""

    def __init__(self, ds, augmentor, seed):
        self.ds, self.augmentor = torch.as_tensor(ds), augmentor
        self.order = torch.Generator().manual_seed(seed)

    def __iter__(self):
        order = torch.randperm(len(self.ds), generator=self.order)
        for start in range(0, len(order) - BATCH_SIZE + 1, BATCH_SIZE):
            with torch.no_grad():  # (not around the yield: the step that reads the batch needs its gradients)
                batch = torch.stack([self.augmentor(self.ds[i]) for i in order[start:start + BATCH_SIZE]])
            yield batch


class _Zipped(torch.utils.data.IterableDataset):
    """``tf.data.Dataset.zip((a1, a2))``."""

    def __init__(self, *datasets):
        self.datasets = datasets

    def __iter__(self):
        return zip(*self.datasets)


class BTDatasetCreator:
    """Barlow twins dataset creator class."""

    def __init__(self, augmentor: RandomAugmentor, seed: int = 1024):
        self.seed = seed
        self.augmentor = augmentor

    def augmented_version(self, ds):
        return _AugmentedBatches(ds, self.augmentor, self.seed)

    def __call__(self, ds):
        a1 = self.augmented_version(ds)
        a2 = self.augmented_version(ds)

        return torch.utils.data.DataLoader(_Zipped(a1, a2), batch_size=None)


# Section "BarlowLoss: barlow twins model's loss function"
class BarlowLoss(keras.losses.Loss):
    """Creates a loss function based on the cross-correlation matrix."""

    def __init__(self, batch_size: int):
        super(BarlowLoss, self).__init__()
        self.lambda_amt = 5e-3
        self.batch_size = batch_size

    def get_off_diag(self, c):
        """Makes the diagonals of the cross correlation matrix zeros."""
        c = c.clone()  # tf.linalg.set_diag(c, zero_diag) returns a new tensor
        torch.diagonal(c).zero_()
        return c

    def cross_corr_matrix_loss(self, c):
        # subtracts diagonals by one and squares them(first part)
        c_diff = torch.pow(torch.diagonal(c) - 1, 2)

        # takes off diagonal, squares it, multiplies with lambda(second part)
        off_diag = torch.pow(self.get_off_diag(c), 2) * self.lambda_amt

        # sum first and second parts together
        loss = torch.sum(c_diff) + torch.sum(off_diag)

        return loss

    def normalize(self, output):
        return (output - torch.mean(output, dim=0)) / torch.std(output, dim=0, unbiased=False)

    def cross_corr_matrix(self, z_a_norm, z_b_norm):
        return (z_a_norm.T @ z_b_norm) / self.batch_size

    def call(self, z_a, z_b):
        z_a_norm, z_b_norm = self.normalize(z_a), self.normalize(z_b)
        c = self.cross_corr_matrix(z_a_norm, z_b_norm)
        loss = self.cross_corr_matrix_loss(c)
        return loss


# Section "Barlow Twins' Model Architecture"
class ResNet34:
    """Resnet34 class (shortened for CI: one block per stage, 8 first filters)."""

    def identity_block(self, x, filter):
        # copy tensor to variable called x_skip
        x_skip = x
        # Layer 1
        x = layers.Conv2D(filter, (3, 3), padding="same")(x)
        x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        # Layer 2
        x = layers.Conv2D(filter, (3, 3), padding="same")(x)
        x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM)(x)
        # Add Residue
        x = layers.Add()([x, x_skip])
        x = layers.Activation("relu")(x)
        return x

    def convolutional_block(self, x, filter):
        # copy tensor to variable called x_skip
        x_skip = x
        # Layer 1
        x = layers.Conv2D(filter, (3, 3), padding="same", strides=(2, 2))(x)
        x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        # Layer 2
        x = layers.Conv2D(filter, (3, 3), padding="same")(x)
        x = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM)(x)
        # Processing Residue with conv(1,1)
        x_skip = layers.Conv2D(filter, (1, 1), strides=(2, 2))(x_skip)
        # Add Residue
        x = layers.Add()([x, x_skip])
        x = layers.Activation("relu")(x)
        return x

    def __call__(self, shape=(32, 32, 3)):
        # Step 1 (Setup Input Layer)
        x_input = layers.Input(shape)
        x = layers.ZeroPadding2D((3, 3))(x_input)
        # Step 2 (Initial Conv layer along with maxPool)
        x = layers.Conv2D(8, kernel_size=7, strides=2, padding="same")(x)  # 64 filters in the example
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPool2D(pool_size=3, strides=2, padding="same")(x)
        # Define size of sub-blocks and initial filter size
        block_layers = [1, 1, 1, 1]  # [3, 4, 6, 3] in the example
        filter_size = 8  # 64 in the example
        # Step 3 Add the Resnet Blocks
        for i in range(4):
            if i == 0:
                # For sub-block 1 Residual/Convolutional block not needed
                for j in range(block_layers[i]):
                    x = self.identity_block(x, filter_size)
            else:
                # One Residual/Convolutional Block followed by Identity blocks
                # The filter size will go on increasing by a factor of 2
                filter_size = filter_size * 2
                x = self.convolutional_block(x, filter_size)
                for j in range(block_layers[i] - 1):
                    x = self.identity_block(x, filter_size)
        # Step 4 End Dense Network
        x = layers.AveragePooling2D((2, 2), padding="same")(x)
        x = layers.Flatten()(x)
        model = keras.models.Model(inputs=x_input, outputs=x, name="ResNet34")
        return model


def build_twin() -> keras.Model:
    """Builds a barlow twins model consisting of an encoder(resnet-34) and a projector."""

    # number of dense neurons in the projector
    n_dense_neurons = N_DENSE_NEURONS  # 5000 in the example

    # encoder network
    resnet = ResNet34()()
    last_layer = resnet.layers[-1].output

    # intermediate layers of the projector network
    n_layers = 2
    for i in range(n_layers):
        dense = layers.Dense(n_dense_neurons, name=f"projector_dense_{i}")
        if i == 0:
            x = dense(last_layer)
        else:
            x = dense(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"projector_bn_{i}")(x)
        x = layers.ReLU(name=f"projector_relu_{i}")(x)

    x = layers.Dense(n_dense_neurons, name=f"projector_dense_{n_layers}")(x)

    model = keras.Model(resnet.input, x)
    return model


# Section "Training Loop Model"
class BarlowModel(keras.Model):
    """Responsible for making predictions and handling gradient descent with the optimizer."""

    def __init__(self):
        super(BarlowModel, self).__init__()
        self.model = build_twin()
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, batch):
        # get the two augmentations from the batch
        y_a, y_b = batch

        self.zero_grad()
        # get two versions of predictions
        z_a, z_b = self.model(y_a, training=True), self.model(y_b, training=True)
        loss = self.loss(z_a, z_b)
        loss.backward()

        self.optimizer.apply_gradients(
            zip([w.grad for w in self.model.trainable_variables], self.model.trainable_variables)
        )
        self.loss_tracker.update_state(loss)

        return {"loss": self.loss_tracker.result()}


def _numpy_barlow_loss(z_a, z_b, lambda_amt=5e-3):
    # z_norm = (z − mean_batch) / std_batch;  c_ij = Σ_n z_a,ni · z_b,nj / N
    # L = Σ_i (1 − c_ii)² + λ Σ_{i≠j} c_ij²
    n, d = z_a.shape
    za = (z_a - z_a.mean(0)) / np.sqrt(((z_a - z_a.mean(0)) ** 2).mean(0))
    zb = (z_b - z_b.mean(0)) / np.sqrt(((z_b - z_b.mean(0)) ** 2).mean(0))
    c = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            c[i, j] = sum(za[k, i] * zb[k, j] for k in range(n)) / n
    on_diagonal = sum((1 - c[i, i]) ** 2 for i in range(d))
    off_diagonal = sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    return on_diagonal + lambda_amt * off_diagonal, c


def test_barlow_loss_matches_numpy_cross_correlation():
    """Section "BarlowLoss": normalization, cross-correlation, on- and off-diagonal terms."""
    rng = np.random.default_rng(0)
    z_a = rng.normal(size=(16, 6)) * rng.uniform(0.5, 3, size=6) + rng.normal(size=6)
    z_b = z_a @ rng.normal(scale=0.5, size=(6, 6)) + rng.normal(size=(16, 6))
    loss = BarlowLoss(16)
    got = loss.call(torch.from_numpy(z_a), torch.from_numpy(z_b))
    want, c = _numpy_barlow_loss(z_a, z_b)
    assert got.shape == ()
    assert float(got) == pytest.approx(want, rel=1e-10)
    # the matrix is a correlation: the same embedding twice has c = its correlation matrix, c_ii = 1
    same, c_same = _numpy_barlow_loss(z_a, z_a)
    np.testing.assert_allclose(np.diag(c_same), 1.0)
    assert float(loss.call(torch.from_numpy(z_a), torch.from_numpy(z_a))) == pytest.approx(same, rel=1e-10)
    assert float(loss(torch.from_numpy(z_a), torch.from_numpy(z_b))) == pytest.approx(want, rel=1e-10)  # via __call__
    np.testing.assert_allclose(
        loss.cross_corr_matrix(loss.normalize(torch.from_numpy(z_a)), loss.normalize(torch.from_numpy(z_b))).numpy(),
        c, atol=1e-12)
    # set_diag leaves c itself as it was
    c_t = torch.from_numpy(c)
    off = loss.get_off_diag(c_t)
    assert np.all(np.diag(off.numpy()) == 0) and np.all(np.diag(c_t.numpy()) != 0)


def test_the_augmentations_do_what_their_docstrings_say(cifar_like):
    """Section "Augmentation Utilities": each augmentation alone, then the chain."""
    (train_features, _), _ = cifar_like
    x = torch.from_numpy(train_features[3])  # (32, 32, 3) in [0, 1]
    torch.manual_seed(0)
    gray = RandomToGrayscale()
    outs = [gray(x) for _ in range(200)]
    grayed = [o for o in outs if not torch.equal(o, x)]
    assert 20 < len(grayed) < 60  # 20% of 200
    want = x.numpy().astype("float64") @ np.array([0.2989, 0.5870, 0.1140])
    np.testing.assert_allclose(grayed[0].numpy(), np.repeat(want[..., None], 3, axis=-1), atol=1e-6)

    flips = [RandomFlip()(x) for _ in range(200)]
    flipped = sum(torch.equal(f, torch.flip(x, dims=[1])) for f in flips)
    assert 25 < flipped < 75  # one in four: 50% times tf.image.random_flip_left_right's 50%

    crop = RandomResizedCrop(IMAGE_SIZE)
    for _ in range(5):
        assert crop(x).shape == (32, 32, 3)
    assert not torch.equal(crop(x), x)  # a crop of 24 to 31 pixels is always resized

    jitter = RandomColorJitter()
    jittered = [jitter(x) for _ in range(20)]
    assert any(torch.equal(j, x) for j in jittered) and not all(torch.equal(j, x) for j in jittered)

    assert torch.equal(RandomSolarize()(x), x)  # pixels in [0, 1] are all < 10: the example's solarization is a no-op

    augmentor = RandomAugmentor(IMAGE_SIZE)
    out = augmentor(x)
    assert out.shape == (32, 32, 3) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_gaussian_blur_matches_numpy():
    """Section "Augmentation Utilities": ``RandomBlur``'s ``gaussian_filter2d``."""
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, size=(5, 6, 3))
    sigma = 0.7
    got = gaussian_filter2d(torch.from_numpy(image), sigma).numpy()
    # y[i, j, c] = Σ_{a,b ∈ −1..1} w_a w_b x[r(i + a), r(j + b), c], w ∝ exp(−k²/2σ²), r reflects (−1 → 1)
    w = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * sigma**2))
    w /= w.sum()

    def reflect(i, n):
        return -i if i < 0 else 2 * (n - 1) - i if i >= n else i

    want = np.zeros_like(image)
    for i in range(5):
        for j in range(6):
            for a in (-1, 0, 1):
                for b in (-1, 0, 1):
                    want[i, j] += w[a + 1] * w[b + 1] * image[reflect(i + a, 5), reflect(j + b, 6)]
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.fixture(scope="module")
def pretrained(cifar_like):
    """Sections "Data Loading" and "Model Training"."""
    (train_features, _), _ = cifar_like
    keras.utils.set_random_seed(0)
    bt_augmentor = RandomAugmentor(IMAGE_SIZE)
    augment_versions = BTDatasetCreator(bt_augmentor)(train_features[:TRAIN_IMAGES])

    # sets up model, optimizer, loss
    bm = BarlowModel()
    # chose the LAMB optimizer due to high batch sizes
    optimizer = keras.optimizers.Lamb(learning_rate=LEARNING_RATE)
    loss = BarlowLoss(BATCH_SIZE)

    bm.compile(optimizer=optimizer, loss=loss)
    history = bm.fit(augment_versions, epochs=PRETRAIN_EPOCHS, verbose=0)
    return bm, history, augment_versions


def test_the_dataset_pairs_two_augmentations_of_the_same_images(cifar_like):
    """Section "Data Loading": both versions draw the same order from the seed, pass after pass."""
    (train_features, _), _ = cifar_like
    keras.utils.set_random_seed(0)
    pairs = BTDatasetCreator(lambda image: image)(train_features[:200])  # the identity in place of the augmentor
    for _ in range(2):  # two passes: a new order each, the same in both versions
        batches = list(pairs)
        assert len(batches) == 200 // BATCH_SIZE  # the remainder dropped
        assert all(torch.equal(a1, a2) for a1, a2 in batches)
    assert not torch.equal(torch.cat([a for a, _ in batches]), torch.from_numpy(train_features[:192]))  # shuffled
    a1, a2 = next(iter(BTDatasetCreator(RandomAugmentor(IMAGE_SIZE))(train_features[:200])))
    assert a1.shape == a2.shape == (BATCH_SIZE, 32, 32, 3) and not torch.equal(a1, a2)
    assert 0 <= float(a1.min()) and float(a1.max()) <= 1


def test_barlow_pretraining_lowers_the_loss(cifar_like, pretrained):
    """Section "Model Training": the custom ``train_step`` with LAMB."""
    (train_features, _), _ = cifar_like
    bm, history, augment_versions = pretrained
    losses = history.history["loss"]
    print("Barlow loss per epoch:", [round(v, 2) for v in losses])
    assert len(losses) == PRETRAIN_EPOCHS
    assert losses[-1] < 0.75 * losses[0]
    assert int(bm.optimizer.iterations) == PRETRAIN_EPOCHS * (TRAIN_IMAGES // BATCH_SIZE)
    assert bm.model.output_shape == (None, N_DENSE_NEURONS)

    # on pairs of images it never saw, its embeddings agree better than those of an untrained twin
    keras.utils.set_random_seed(3)
    a1, a2 = next(iter(BTDatasetCreator(RandomAugmentor(IMAGE_SIZE))(train_features[TRAIN_IMAGES:])))
    fresh = build_twin()
    with torch.no_grad():
        for start in range(TRAIN_IMAGES, len(train_features), BATCH_SIZE):  # its BatchNorm statistics, from the images
            fresh(torch.from_numpy(train_features[start:start + BATCH_SIZE]), training=True)
        trained_loss = BarlowLoss(BATCH_SIZE)(bm.model(a1), bm.model(a2))
        fresh_loss = BarlowLoss(BATCH_SIZE)(fresh(a1), fresh(a2))
    print(f"Barlow loss on new pairs: trained {float(trained_loss):.1f}, untrained {float(fresh_loss):.1f}")
    assert float(trained_loss) < 0.75 * float(fresh_loss)


def test_linear_evaluation_on_the_frozen_model(cifar_like, pretrained):
    """Section "Evaluation": a softmax layer trained on the frozen Barlow Twins model."""
    (train_features, train_labels), (test_features, test_labels) = cifar_like
    bm, _, _ = pretrained
    DataLoader, TensorDataset = torch.utils.data.DataLoader, torch.utils.data.TensorDataset
    xy_ds = DataLoader(TensorDataset(torch.from_numpy(train_features[:PROBE_IMAGES]),
                                     torch.from_numpy(train_labels[:PROBE_IMAGES]).long()),
                       batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
    test_ds = DataLoader(TensorDataset(torch.from_numpy(test_features), torch.from_numpy(test_labels).long()),
                         batch_size=BATCH_SIZE, shuffle=True, drop_last=True)

    model = keras.models.Sequential(
        [
            bm.model,
            keras.layers.Dense(10, activation="softmax", kernel_regularizer=keras.regularizers.l2(0.02)),
        ]
    )

    model.layers[0].trainable = False
    frozen = [w.detach().clone() for w in bm.model.weights]

    linear_optimizer = keras.optimizers.Lamb(learning_rate=PROBE_LEARNING_RATE)
    model.compile(
        optimizer=linear_optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    keras.utils.set_random_seed(1)
    history = model.fit(xy_ds, epochs=PROBE_EPOCHS, validation_data=test_ds, verbose=0)
    print({k: [round(v, 3) for v in vs] for k, vs in history.history.items()})
    assert all(torch.equal(a, b) for a, b in zip(frozen, bm.model.weights))  # BatchNorm statistics included
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert max(history.history["val_accuracy"]) > 0.25  # chance is 0.1
