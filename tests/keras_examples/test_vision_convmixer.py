"""keras.io example "Image classification with ConvMixer"
(https://keras.io/examples/vision/convmixer/; the stored copy is the
tf.keras version), ported as a learner would: ``import brainnet as keras``
and ``from brainnet import layers`` in place of the Keras imports, and
TensorFlow Addons' ``tfa.optimizers.AdamW`` as ``keras.optimizers.AdamW``
(the same arguments).

Replaced, and why:

- CIFAR-10 (a download) is Fashion-MNIST: 28x28 grey images
  (``image_size=28``, one channel) in place of 32x32 colour ones; the
  first 6,000 training images (600 of them the validation split, as the
  example's ``val_split = 0.1``) and 2,000 test images.
- The ``tf.data`` pipelines are a ``keras.utils.PyDataset``: batches of
  128, shuffled each epoch for training, with ``data_augmentation`` applied
  to each training batch as the example's ``dataset.map`` does. The uint8
  images are cast to float32 first: brainnet's augmentation layers refuse
  integer images with that fix (Keras 3 casts them itself); the pixels stay
  in 0..255 for the model's ``Rescaling``.
- The checkpoint file is ``checkpoint.weights.h5`` in a temporary folder in
  place of ``/tmp/checkpoint``: with ``save_weights_only=True`` Keras 3 and
  brainnet both ask for a name ending in ``.weights.h5``.
- The filter visualisation reads ``layer.get_config()["kernel_size"]`` as
  a list (brainnet's configs hold sizes as lists, Keras 3's as tuples); its
  layer indices are Keras's (the list starts with the ``InputLayer``); the
  plots themselves are left out.
- ``BatchNormalization(momentum=0.9)`` in place of the default 0.99: the
  moving variance starts at 1 and forgets it as 0.99ⁿ after n steps, while
  the variance it must reach here is about 0.003 (grey pixels scaled to
  0..1 through a 2x2 patch convolution). The example's 3,520 steps get
  there; this port's 129 would leave the moving variance near 0.3, and the
  network in inference mode (evaluate, predict) then predicts one class
  whatever the image, at chance, while its training accuracy is 70%.
- Shortened for CI: ConvMixer-64/2 (64 filters, depth 2) in place of
  256/8, 3 epochs in place of 10; the full ConvMixer-256/8 is built on
  CIFAR-10's shape to count its parameters.

What the tests check: a ConvMixer block against a NumPy computation of
its equation (depthwise convolution, GELU, batch normalization, the
residual, pointwise convolution), ConvMixer-256/8's parameter count
against its formula, and, trained on Fashion-MNIST, loss that falls,
test accuracy far above chance, and the checkpoint that ``load_weights``
restores giving the best validation accuracy the History recorded, and
the trained model, saved and loaded, predicting the same.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

learning_rate = 0.001
weight_decay = 0.0001
batch_size = 128
num_epochs = 3  # 10 in the example

image_size = 28  # 32 for CIFAR-10

data_augmentation = keras.Sequential(
    [layers.RandomCrop(image_size, image_size), layers.RandomFlip("horizontal")],
    name="data_augmentation",
)


class make_datasets(keras.utils.PyDataset):
    # tf.data's from_tensor_slices, shuffle (training), batch, map(augmentation) (training)
    def __init__(self, images, labels, is_train=False):
        super().__init__()
        self.images, self.labels, self.is_train = images, labels, is_train
        self.order = np.arange(len(images))

    def __len__(self):
        return math.ceil(len(self.images) / batch_size)

    def __getitem__(self, idx):
        batch = self.order[idx * batch_size : (idx + 1) * batch_size]
        x, y = self.images[batch], self.labels[batch]
        if self.is_train:
            x = data_augmentation(x.astype("float32"))
        return x, y

    def on_epoch_end(self):
        if self.is_train:
            self.order = np.random.permutation(len(self.images))


def activation_block(x):
    x = layers.Activation("gelu")(x)
    return layers.BatchNormalization(momentum=0.9)(x)  # BatchNormalization() in the example: see the docstring


def conv_stem(x, filters: int, patch_size: int):
    x = layers.Conv2D(filters, kernel_size=patch_size, strides=patch_size)(x)
    return activation_block(x)


def conv_mixer_block(x, filters: int, kernel_size: int):
    # Depthwise convolution.
    x0 = x
    x = layers.Conv2D(filters, kernel_size=kernel_size, groups=filters, padding="same")(x)
    x = layers.Add()([activation_block(x), x0])  # Residual.

    # Pointwise convolution.
    x = layers.Conv2D(filters, kernel_size=1)(x)
    x = activation_block(x)

    return x


def get_conv_mixer_256_8(image_size=32, filters=256, depth=8, kernel_size=5, patch_size=2, num_classes=10,
                         channels=3):
    """ConvMixer-256/8: https://openreview.net/pdf?id=TVHS5Y4dNvM.

    The hyperparameter values are taken from the paper. (``channels``: 3 in
    the example, 1 for Fashion-MNIST.)
    """
    inputs = keras.Input((image_size, image_size, channels))
    x = layers.Rescaling(scale=1.0 / 255)(inputs)

    # Extract patch embeddings.
    x = conv_stem(x, filters, patch_size)

    # ConvMixer blocks.
    for _ in range(depth):
        x = conv_mixer_block(x, filters, kernel_size)

    # Classification block.
    x = layers.GlobalAvgPool2D()(x)
    outputs = layers.Dense(num_classes, activation="softmax")(x)

    return keras.Model(inputs, outputs)


def run_experiment(model, train_dataset, val_dataset, test_dataset, checkpoint_filepath):
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)

    model.compile(
        optimizer=optimizer,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    checkpoint_callback = keras.callbacks.ModelCheckpoint(
        checkpoint_filepath,
        monitor="val_accuracy",
        save_best_only=True,
        save_weights_only=True,
    )

    history = model.fit(
        train_dataset,
        validation_data=val_dataset,
        epochs=num_epochs,
        callbacks=[checkpoint_callback],
        verbose=0,
    )

    model.load_weights(checkpoint_filepath)
    _, accuracy = model.evaluate(test_dataset, verbose=0)
    return history, model, accuracy


# ------------------------------------------------------------ NumPy reference of one block
def _gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _batch_norm(x, gamma, beta, mean, var, eps=1e-3):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _numpy_block(x, weights, kernel_size):
    # weights in get_weights' order: depthwise kernel (C, 1, k, k) and bias, BN (γ, β, μ, σ²),
    # pointwise kernel (C, C, 1, 1) and bias, BN (γ, β, μ, σ²)
    dw_kernel, dw_bias, g1, b1, m1, v1, pw_kernel, pw_bias, g2, b2, m2, v2 = (w.astype("float64") for w in weights)
    n, h, w_, c = x.shape
    pad = kernel_size // 2
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    # depthwise: z[n, p, q, c] = Σ_{u,v} x[n, p+u−pad, q+v−pad, c] · w[c, 0, u, v] + b[c]
    z = np.zeros_like(x)
    for u in range(kernel_size):
        for v in range(kernel_size):
            z += xp[:, u : u + h, v : v + w_, :] * dw_kernel[:, 0, u, v]
    z += dw_bias
    r = _batch_norm(_gelu(z), g1, b1, m1, v1) + x  # the residual
    # pointwise: y[n, p, q, j] = Σ_c r[n, p, q, c] · w[j, c, 0, 0] + b[j]
    y = np.einsum("npqc,jc->npqj", r, pw_kernel[:, :, 0, 0]) + pw_bias
    return _batch_norm(_gelu(y), g2, b2, m2, v2)


def test_a_conv_mixer_block_is_its_equation_in_numpy():
    """Section "ConvMixer utilities": ``conv_mixer_block`` with random weights
    and batch-normalization statistics, in inference mode."""
    keras.utils.set_random_seed(0)
    filters, kernel_size = 4, 5
    inputs = keras.Input((7, 7, filters))
    block = keras.Model(inputs, conv_mixer_block(inputs, filters, kernel_size))
    assert [tuple(w.shape) for w in block.get_weights()][:2] == [(filters, 1, kernel_size, kernel_size), (filters,)]
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype("float32") * 0.5 for w in block.get_weights()]
    weights[5] = rng.uniform(0.5, 2.0, size=filters).astype("float32")  # moving variances are positive
    weights[11] = rng.uniform(0.5, 2.0, size=filters).astype("float32")
    block.set_weights(weights)
    x = rng.normal(size=(3, 7, 7, filters)).astype("float32")
    got = block.predict(x, verbose=0)
    want = _numpy_block(x.astype("float64"), weights, kernel_size)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_conv_mixer_256_8_parameter_count_is_its_formula():
    """Section "ConvMixer utilities": ``get_conv_mixer_256_8()`` on CIFAR-10's
    32x32x3 images, and the filter visualisation's layer lookup."""
    model = get_conv_mixer_256_8()
    f, k, p, depth = 256, 5, 2, 8
    stem = p * p * 3 * f + f + 4 * f  # patch embedding and its batch norm (γ, β, μ, σ²)
    block = (k * k * f + f + 4 * f) + (f * f + f + 4 * f)  # depthwise, pointwise, each with batch norm
    assert model.count_params() == stem + depth * block + f * 10 + 10 == 602_890
    assert model.output_shape == (None, 10)
    # "print the indices of the convolution layers that are not pointwise convolutions"
    depthwise = [i for i, layer in enumerate(model.layers)
                 if isinstance(layer, layers.Conv2D) and layer.get_config()["kernel_size"] == [5, 5]]
    assert len(depthwise) == depth
    patch_embeddings = model.layers[2].get_weights()[0]  # as in Keras: the InputLayer, Rescaling, the stem
    assert patch_embeddings.shape == (f, 3, p, p)  # (filters, channels, kh, kw); Keras: (kh, kw, channels, filters)


@pytest.fixture(scope="module")
def data(fashion_dir):
    """Section "Load the CIFAR-10 dataset", on Fashion-MNIST."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train = x_train[:6000, :, :, None], y_train[:6000]
    x_test, y_test = x_test[:2000, :, :, None], y_test[:2000]
    val_split = 0.1

    val_indices = int(len(x_train) * val_split)
    new_x_train, new_y_train = x_train[val_indices:], y_train[val_indices:]
    x_val, y_val = x_train[:val_indices], y_train[:val_indices]
    return new_x_train, new_y_train, x_val, y_val, x_test, y_test


def test_convmixer_trains_and_the_best_checkpoint_is_restored(data, tmp_path):
    """Sections "Prepare tf.data.Dataset objects", "Model training and
    evaluation utility" and "Train and evaluate model"."""
    new_x_train, new_y_train, x_val, y_val, x_test, y_test = data
    keras.utils.set_random_seed(0)
    train_dataset = make_datasets(new_x_train, new_y_train, is_train=True)
    val_dataset = make_datasets(x_val, y_val)
    test_dataset = make_datasets(x_test, y_test)
    assert len(train_dataset) == 43 and len(val_dataset) == 5 and len(test_dataset) == 16

    conv_mixer_model = get_conv_mixer_256_8(image_size=image_size, filters=64, depth=2, channels=1)
    checkpoint_filepath = str(tmp_path / "checkpoint.weights.h5")  # "/tmp/checkpoint" in the example
    history, conv_mixer_model, accuracy = run_experiment(
        conv_mixer_model, train_dataset, val_dataset, test_dataset, checkpoint_filepath
    )
    loss = history.history["loss"]
    assert len(loss) == num_epochs and loss[-1] < loss[0]
    print(f"Test accuracy: {round(accuracy * 100, 2)}%")
    assert accuracy > 0.6  # chance is 0.1
    # the restored weights are the epoch with the best validation accuracy
    _, val_accuracy = conv_mixer_model.evaluate(val_dataset, verbose=0)
    assert val_accuracy == pytest.approx(max(history.history["val_accuracy"]), abs=1e-6)
    predictions = conv_mixer_model.predict(x_test, verbose=0)
    assert accuracy == pytest.approx(np.mean(predictions.argmax(axis=1) == y_test), abs=1e-6)
    # saved whole and loaded, the model (its grouped convolutions included) predicts the same
    conv_mixer_model.save(tmp_path / "convmixer.keras")
    loaded = keras.models.load_model(tmp_path / "convmixer.keras")
    np.testing.assert_allclose(loaded.predict(x_test[:256], verbose=0), predictions[:256], rtol=1e-5, atol=1e-6)
