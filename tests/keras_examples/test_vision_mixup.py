"""keras.io example "MixUp augmentation for image classification"
(https://keras.io/examples/vision/mixup/), ported as a learner would:
``import brainnet as keras`` and ``from brainnet import layers`` in place of
the Keras imports, and the TensorFlow calls written as torch:
``tf.random.gamma(shape=[size], alpha=c)`` is
``torch.distributions.Gamma(c, 1.0).sample((size,))``, ``tf.shape(x)[0]`` is
``x.shape[0]``, ``tf.reshape`` is ``torch.reshape`` and ``tf.one_hot(y, 10)``
is ``keras.utils.to_categorical(y, 10)``. The stored copy is the
TensorFlow version; the model starts with ``layers.Input`` as in the Keras 3
one, and its weights file is ``initial_weights.weights.h5`` (brainnet writes
safetensors whatever the name).

The example's ``tf.data`` pipeline (two shuffled copies of the training
set, zipped, batched by 64, mapped through ``mix_up``) is a
``keras.utils.PyDataset`` that draws two new orders of the training set each
epoch and mixes batch i of one with batch i of the other; ``val_ds`` and
``test_ds`` are the arrays themselves (``validation_data=(x_val, y_val)``). The 9-image preview plot is
left out (its labels are checked instead).

Shortened for CI: the first 6,000 Fashion-MNIST training images (1,000 for
validation in place of 2,000, 5,000 to train) and the first 2,000 test
images, 5 epochs in place of 10; the network is the example's.

What the tests check: ``keras.random.gamma`` refused with its torch
spelling (brainnet has no ``keras.random``), the Beta sampler built from two
Gamma draws against NumPy's Beta draws (both orders of the concentrations,
so a swap fails), ``mix_up``'s images and labels against NumPy with the λ
each pair was mixed with, and the two trainings from the same saved initial
weights: identical predictions before training, falling loss, and test
accuracy far above chance with and without mixup.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

BATCH_SIZE = 64
EPOCHS = 5  # 10 in the example


def sample_beta_distribution(size, concentration_0=0.2, concentration_1=0.2):
    gamma_1_sample = torch.distributions.Gamma(concentration_1, 1.0).sample((size,))
    gamma_2_sample = torch.distributions.Gamma(concentration_0, 1.0).sample((size,))
    return gamma_1_sample / (gamma_1_sample + gamma_2_sample)


def mix_up(ds_one, ds_two, alpha=0.2):
    # Unpack two datasets
    images_one, labels_one = ds_one
    images_two, labels_two = ds_two
    batch_size = images_one.shape[0]

    # Sample lambda and reshape it to do the mixup
    l = sample_beta_distribution(batch_size, alpha, alpha)  # noqa: E741 (the example's name)
    x_l = torch.reshape(l, (batch_size, 1, 1, 1))
    y_l = torch.reshape(l, (batch_size, 1))

    # Perform mixup on both images and labels by combining a pair of images/labels
    # (one from each dataset) into one image/label
    images = images_one * x_l + images_two * (1 - x_l)
    labels = labels_one * y_l + labels_two * (1 - y_l)
    return (images, labels)


class MixedUpBatches(keras.utils.PyDataset):
    """``tf.data.Dataset.zip((train_ds_one, train_ds_two)).map(mix_up)``: each
    epoch two new shuffles of the training set, batch i of one mixed with batch i
    of the other."""

    def __init__(self, x, y, alpha=0.2):
        super().__init__()
        self.x, self.y, self.alpha = torch.from_numpy(x), torch.from_numpy(y), alpha
        self.on_epoch_begin()

    def __len__(self):
        return math.ceil(len(self.x) / BATCH_SIZE)

    def on_epoch_begin(self):
        self.order_one = torch.randperm(len(self.x))
        self.order_two = torch.randperm(len(self.x))

    def __getitem__(self, index):
        one = self.order_one[index * BATCH_SIZE:(index + 1) * BATCH_SIZE]
        two = self.order_two[index * BATCH_SIZE:(index + 1) * BATCH_SIZE]
        return mix_up((self.x[one], self.y[one]), (self.x[two], self.y[two]), alpha=self.alpha)


def get_training_model():
    model = keras.Sequential(
        [
            layers.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(32, (5, 5), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Dropout(0.2),
            layers.GlobalAvgPool2D(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    return model


def test_keras_random_gamma_is_refused_with_the_torch_draw_to_write():
    """Section "Define the mixup technique function": the Keras 3 spelling of its ``tf.random.gamma``."""
    with pytest.raises(AttributeError, match=r"keras\.random namespace was expected.*keras\.random\.gamma\(shape, "
                                             r"alpha\) is torch\.distributions\.Gamma\(alpha, 1\.0\)\.sample\(shape\), "
                                             r"keras\.random\.beta\(shape, a, b\) is torch\.distributions\.Beta"):
        keras.random.gamma(shape=[4], alpha=0.2)


def _cdf_gap(a, b):
    """Largest gap between the empirical CDFs of two samples on [0.001, 0.999]
    (the two-sample KS statistic there). The ends are left out: λ within 6e-8
    of 1 rounds to 1.0 in float32, which alone moves the CDF by ~0.02 at 1 − 6e-8."""
    grid = np.linspace(0.001, 0.999, 999)
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return np.max(np.abs(cdf_a - cdf_b))


def test_the_beta_sampler_draws_what_numpy_beta_draws():
    """Section "Define the mixup technique function": λ = G₁ / (G₁ + G₀),
    G₁ ~ Gamma(concentration_1), G₀ ~ Gamma(concentration_0), is Beta(concentration_1, concentration_0)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 20_000
    for c0, c1 in ((0.2, 0.2), (0.5, 2.0), (2.0, 0.5)):
        l = sample_beta_distribution(n, c0, c1).double().numpy()  # noqa: E741
        assert l.shape == (n,) and np.all((l >= 0) & (l <= 1))
        reference = rng.beta(c1, c0, size=n)
        # two samples of 20,000 from one distribution: a gap above 0.02 has p < 0.001
        assert _cdf_gap(l, reference) < 0.02
        assert l.mean() == pytest.approx(c1 / (c0 + c1), abs=0.01)
        # the swapped Beta is far off wherever the concentrations differ
        if c0 != c1:
            assert _cdf_gap(l, rng.beta(c0, c1, size=n)) > 0.2


def test_mix_up_mixes_images_and_labels_with_one_lambda_per_pair_as_numpy_does():
    """Section "Define the mixup technique function": x = λ·x₁ + (1 − λ)·x₂, y = λ·y₁ + (1 − λ)·y₂."""
    rng = np.random.default_rng(1)
    images_one = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
    images_two = rng.uniform(size=(16, 28, 28, 1)).astype("float32")
    classes_one = np.arange(16) % 10
    classes_two = (classes_one + 1 + np.arange(16) % 9) % 10  # never the same class as classes_one
    labels_one = keras.utils.to_categorical(classes_one, 10)
    labels_two = keras.utils.to_categorical(classes_two, 10)

    torch.manual_seed(3)
    images, labels = mix_up((torch.from_numpy(images_one), torch.from_numpy(labels_one)),
                            (torch.from_numpy(images_two), torch.from_numpy(labels_two)), alpha=0.2)
    assert tuple(images.shape) == (16, 28, 28, 1) and tuple(labels.shape) == (16, 10)
    torch.manual_seed(3)
    lam = sample_beta_distribution(16, 0.2, 0.2).double().numpy()

    labels = labels.double().numpy()
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(labels[np.arange(16), classes_one], lam, atol=1e-6)
    np.testing.assert_allclose(labels[np.arange(16), classes_two], 1 - lam, atol=1e-6)
    want = lam[:, None, None, None] * images_one + (1 - lam[:, None, None, None]) * images_two
    np.testing.assert_allclose(images.double().numpy(), want, atol=1e-6)


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Sections "Prepare the dataset" and "Convert the data into TensorFlow Dataset objects",
    on the first 6,000 training and 2,000 test images."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], y_test[:2000]

    x_train = x_train.astype("float32") / 255.0
    x_train = np.reshape(x_train, (-1, 28, 28, 1))
    y_train = keras.utils.to_categorical(y_train, 10)

    x_test = x_test.astype("float32") / 255.0
    x_test = np.reshape(x_test, (-1, 28, 28, 1))
    y_test = keras.utils.to_categorical(y_test, 10)

    # Put aside a few samples to create our validation set
    val_samples = 1000  # 2000 in the example
    x_val, y_val = x_train[:val_samples], y_train[:val_samples]
    new_x_train, new_y_train = x_train[val_samples:], y_train[val_samples:]
    return new_x_train, new_y_train, x_val, y_val, x_test, y_test


def test_the_mixed_up_batches_mix_two_shuffles_of_the_training_set(data):
    """Section "Visualize the new augmented dataset": the first batch of ``train_ds_mu``."""
    new_x_train, new_y_train = data[0], data[1]
    keras.utils.set_random_seed(0)
    train_ds_mu = MixedUpBatches(new_x_train, new_y_train, alpha=0.2)
    assert len(train_ds_mu) == math.ceil(5000 / BATCH_SIZE)
    sample_images, sample_labels = train_ds_mu[0]
    assert tuple(sample_images.shape) == (BATCH_SIZE, 28, 28, 1)
    assert tuple(sample_labels.shape) == (BATCH_SIZE, 10)
    # each label is one class, or two classes sharing λ and 1 − λ: at most two nonzero entries summing to 1
    np.testing.assert_allclose(sample_labels.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    assert int((sample_labels > 0).sum(dim=1).max()) <= 2
    # with α = 0.2 most λ lie near 0 or 1 (Beta(0.2, 0.2) is U-shaped): most labels are nearly one class
    assert float((sample_labels.max(dim=1).values > 0.9).float().mean()) > 0.4
    # the last batch holds what is left over
    assert tuple(train_ds_mu[len(train_ds_mu) - 1][0].shape) == (5000 - 78 * BATCH_SIZE, 28, 28, 1)


def test_training_with_and_without_mixup_from_the_same_initial_weights(data, tmp_path):
    """Sections "Model building", "1. Train the model with the mixed up dataset" and
    "2. Train the model *without* the mixed up dataset"."""
    new_x_train, new_y_train, x_val, y_val, x_test, y_test = data
    keras.utils.set_random_seed(42)
    initial_model = get_training_model()
    initial_model.save_weights(tmp_path / "initial_weights.weights.h5")
    initial_predictions = initial_model.predict(x_test[:64], verbose=0)

    model = get_training_model()
    model.load_weights(tmp_path / "initial_weights.weights.h5")
    np.testing.assert_array_equal(model.predict(x_test[:64], verbose=0), initial_predictions)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    train_ds_mu = MixedUpBatches(new_x_train, new_y_train, alpha=0.2)
    history = model.fit(train_ds_mu, validation_data=(x_val, y_val), epochs=EPOCHS, verbose=0)
    _, mixup_test_acc = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    assert mixup_test_acc > 0.6  # chance is 0.1
    assert mixup_test_acc == pytest.approx(
        np.mean(model.predict(x_test, verbose=0).argmax(axis=1) == y_test.argmax(axis=1)))

    model = get_training_model()
    model.load_weights(tmp_path / "initial_weights.weights.h5")
    np.testing.assert_array_equal(model.predict(x_test[:64], verbose=0), initial_predictions)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    # Notice that we are NOT using the mixed up dataset here
    history = model.fit(new_x_train, new_y_train, batch_size=BATCH_SIZE, validation_data=(x_val, y_val),
                        epochs=EPOCHS, verbose=0)
    _, test_acc = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert test_acc > 0.6
