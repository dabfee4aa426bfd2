"""keras.io example "Convolutional autoencoder for image denoising"
(https://keras.io/examples/vision/autoencoder/), ported as a learner would:
``from brainnet import layers``, ``from brainnet.datasets import mnist`` and
``from brainnet.models import Model`` in place of the TensorFlow imports, the
rest as written (``display`` draws with matplotlib's Agg backend, nothing is
shown). Shortened for CI: 4,000 training and 500 test images, 3 epochs for the
reconstruction fit (in place of 50) and 3 for the denoising fit (in place of
100). Each test names the section it runs and checks what it computes: the
noise the example adds, the summary's shapes and count, binary cross-entropy
against NumPy, reconstructions better than the mean image, and denoised
outputs closer to the clean digits than the noisy inputs are.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from brainnet import layers  # noqa: E402
from brainnet.datasets import mnist  # noqa: E402
from brainnet.models import Model  # noqa: E402
from brainnet.utils import set_random_seed  # noqa: E402


def preprocess(array):
    # to [0, 1] floats of shape (N, 28, 28, 1)
    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array):
    # Gaussian noise of scale 0.4, clipped back to [0, 1]
    noise_factor = 0.4
    noisy_array = array + noise_factor * np.random.normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy_array, 0.0, 1.0)


def display(array1, array2):
    # ten random images of each array, one row each
    n = 10
    indices = np.random.randint(len(array1), size=n)
    images1 = array1[indices, :]
    images2 = array2[indices, :]
    plt.figure(figsize=(20, 4))
    for i, (image1, image2) in enumerate(zip(images1, images2)):
        ax = plt.subplot(2, n, i + 1)
        plt.imshow(image1.reshape(28, 28))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
        ax = plt.subplot(2, n, i + 1 + n)
        plt.imshow(image2.reshape(28, 28))
        plt.gray()
        ax.get_xaxis().set_visible(False)
        ax.get_yaxis().set_visible(False)
    plt.show()


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Prepare the data", on the first 4,000 training and 500 test images."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        (train_data, _), (test_data, _) = mnist.load_data()
    train_data = preprocess(train_data[:4000])
    test_data = preprocess(test_data[:500])
    np.random.seed(0)
    noisy_train_data = noise(train_data)
    noisy_test_data = noise(test_data)
    return train_data, test_data, noisy_train_data, noisy_test_data


def _autoencoder():
    """Section "Build the autoencoder", as written."""
    input = layers.Input(shape=(28, 28, 1))
    # Encoder
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    # Decoder
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def _bce(y, p):
    p = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def test_the_noise_is_clipped_gaussian_and_display_draws_two_rows(data):
    """Section "Prepare the data": what noise() adds, and display()."""
    train_data, _, noisy_train_data, _ = data
    assert train_data.shape == noisy_train_data.shape == (4000, 28, 28, 1)
    assert train_data.dtype == np.float32 and train_data.max() == 1.0 and train_data.min() == 0.0
    assert noisy_train_data.min() >= 0.0 and noisy_train_data.max() <= 1.0
    # on the black background a pixel becomes min(max(0.4 z, 0), 1) with z ~ N(0, 1): half stay 0,
    # and the mean is 0.4 (φ(0) - φ(2.5)) + P(z > 2.5) = 0.1588
    background = noisy_train_data[train_data == 0]
    assert np.mean(background == 0) == pytest.approx(0.5, abs=0.005)
    assert np.mean(background) == pytest.approx(0.1588, abs=0.002)
    display(train_data, noisy_train_data)
    figure = plt.gcf()
    assert len(figure.axes) == 20
    plt.close(figure)


def test_the_summary_shows_the_examples_shapes_and_parameter_count():
    """Section "Build the autoencoder": autoencoder.summary()."""
    autoencoder = _autoencoder()
    lines = []
    autoencoder.summary(print_fn=lines.append)
    text = "\n".join(lines)
    shapes = ["(None, 28, 28, 32)", "(None, 14, 14, 32)", "(None, 7, 7, 32)", "(None, 14, 14, 32)",
              "(None, 28, 28, 32)", "(None, 28, 28, 1)"]
    start = 0
    for shape in shapes:  # each layer's output shape, in order (index raises if one is missing)
        start = text.index(shape, start + 1)
    assert "Total params: 28,353" in lines  # 320 + 3 × 9,248 + 289, as keras.io shows


def test_the_autoencoder_reconstructs_then_learns_to_denoise(data):
    """The two fits: clean -> clean, then noisy -> clean, with predict after each."""
    train_data, test_data, noisy_train_data, noisy_test_data = data
    set_random_seed(0)
    autoencoder = _autoencoder()
    history = autoencoder.fit(
        x=train_data,
        y=train_data,
        epochs=3,
        batch_size=128,
        shuffle=True,
        validation_data=(test_data, test_data),
        verbose=0,
    )
    assert history.history["loss"][-1] < history.history["loss"][0]
    predictions = autoencoder.predict(test_data, verbose=0)
    assert predictions.shape == (500, 28, 28, 1)
    assert predictions.min() >= 0.0 and predictions.max() <= 1.0  # sigmoid
    # the reported val_loss is binary cross-entropy of these predictions
    assert history.history["val_loss"][-1] == pytest.approx(_bce(test_data, predictions), rel=1e-4)
    # better than the best constant guess, the mean training image
    mean_image = np.broadcast_to(train_data.mean(axis=0), test_data.shape)
    assert np.mean((predictions - test_data) ** 2) < 0.5 * np.mean((mean_image - test_data) ** 2)
    display(test_data, predictions)
    plt.close("all")

    history = autoencoder.fit(
        x=noisy_train_data,
        y=train_data,
        epochs=3,
        batch_size=128,
        shuffle=True,
        validation_data=(noisy_test_data, test_data),
        verbose=0,
    )
    assert history.history["val_loss"][-1] < history.history["val_loss"][0]
    predictions = autoencoder.predict(noisy_test_data, verbose=0)
    # the outputs are closer to the clean digits than the noisy inputs were
    denoised_error = np.mean((predictions - test_data) ** 2)
    noisy_error = np.mean((noisy_test_data - test_data) ** 2)
    assert denoised_error < 0.5 * noisy_error
    display(noisy_test_data, predictions)
    plt.close("all")
