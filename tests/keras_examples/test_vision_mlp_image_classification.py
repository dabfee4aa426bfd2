"""keras.io example "Image classification with modern MLP models"
(https://keras.io/examples/vision/mlp_image_classification/), ported as a
learner would: ``import brainnet as keras``, ``from brainnet import layers``,
``keras.ops`` calls in their torch spellings (docs/keras.md:
``ops.image.extract_patches`` is two ``unfold``s, ``ops.fft2((re, im))[0]``
is ``torch.fft.fft2(x).real``, ``ops.split(x, 2, axis=2)`` is
``torch.chunk(x, 2, dim=2)``), the rest as the example has it: the
augmentation ``Sequential`` (``Normalization`` adapted to the training
images, ``Resizing``, ``RandomFlip``, ``RandomZoom``), the ``Patches`` and
``PositionEmbedding`` layers, ``build_classifier``, ``run_experiment``
(``AdamW``, accuracy and top-5 accuracy, ``ReduceLROnPlateau`` and
``EarlyStopping`` on ``val_loss``, ``validation_split=0.1``), and the three
blocks: ``MLPMixerLayer``, ``FNetLayer`` and ``gMLPLayer``.

The stored copy of the example is the TensorFlow 2 version
(``tensorflow_addons``' ``AdamW`` and ``GELU``, ``tf.image.extract_patches``,
``tf.signal.fft2d``, an ``Embedding`` of ``tf.range`` for positions); this
port follows the Keras 3 revision of the same code (``keras.optimizers.AdamW``,
``Dense(..., activation="gelu")``, ``keras.ops``, a ``PositionEmbedding``
layer), whose blocks compute the same equations.

Shortened for CI: MNIST (28×28×1, 10 classes; 4,000 training and 1,000 test
images) in place of CIFAR-100 (32×32×3, 100 classes), resized to 32×32
instead of 64×64 with the example's 8×8 patches (16 patches instead of 64);
embedding_dim 64 instead of 256, 2 blocks instead of 4, 5 epochs instead
of 50 (so ReduceLROnPlateau and EarlyStopping, with patience 5 and 10,
do not act). The blocks' equations are checked against NumPy on tiny inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10  # the example: 100 (CIFAR-100)
input_shape = (28, 28, 1)  # the example: (32, 32, 3)

weight_decay = 0.0001
batch_size = 128
num_epochs = 5  # the example: 50
dropout_rate = 0.2
image_size = 32  # the example: 64
patch_size = 8  # Size of the patches to be extracted from the input images.
num_patches = (image_size // patch_size) ** 2  # Size of the data array.
embedding_dim = 64  # the example: 256
num_blocks = 2  # the example: 4


def make_data_augmentation():
    return keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal"),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )


class Patches(layers.Layer):
    def __init__(self, patch_size, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size

    def call(self, x):
        p = self.patch_size
        patches = x.unfold(1, p, p).unfold(2, p, p).permute(0, 1, 2, 4, 5, 3)  # (B, nh, nw, p, p, C)
        batch_size, nh, nw = tuple(patches.shape)[:3]
        return torch.reshape(patches, (batch_size, nh * nw, -1))  # (B, num_patches, p·p·C)


class PositionEmbedding(layers.Layer):
    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if sequence_length is None:
            raise ValueError("`sequence_length` must be an Integer, received `None`.")
        self.sequence_length = int(sequence_length)
        self.initializer = keras.initializers.get(initializer)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config

    def build(self, input_shape):
        feature_size = input_shape[-1]
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=[self.sequence_length, feature_size],
            initializer=self.initializer,
            trainable=True,
        )
        super().build(input_shape)

    def call(self, inputs, start_index=0):
        shape = tuple(inputs.shape)
        feature_length, sequence_length = shape[-1], shape[-2]
        # the first rows of the table when the input is shorter than sequence_length
        position_embeddings = self.position_embeddings[start_index:start_index + sequence_length, :feature_length]
        return torch.broadcast_to(position_embeddings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape


def build_classifier(blocks, data_augmentation, positional_encoding=False):
    inputs = layers.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    patches = Patches(patch_size)(augmented)
    # (B, num_patches, embedding_dim)
    x = layers.Dense(units=embedding_dim)(patches)
    if positional_encoding:
        x = x + PositionEmbedding(sequence_length=num_patches)(x)
    x = blocks(x)
    representation = layers.GlobalAveragePooling1D()(x)
    representation = layers.Dropout(rate=dropout_rate)(representation)
    logits = layers.Dense(num_classes)(representation)
    return keras.Model(inputs=inputs, outputs=logits)


class MLPMixerLayer(layers.Layer):
    def __init__(self, num_patches, hidden_units, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.mlp1 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=num_patches),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.mlp2 = keras.Sequential(
            [
                layers.Dense(units=num_patches, activation="gelu"),
                layers.Dense(units=hidden_units),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.normalize = layers.LayerNormalization(epsilon=1e-6)

    def build(self, input_shape):
        return super().build(input_shape)

    def call(self, inputs):
        x = self.normalize(inputs)
        # (B, num_patches, hidden_units) -> (B, hidden_units, num_patches): mlp1 mixes the patches
        x_channels = torch.permute(x, (0, 2, 1))
        mlp1_outputs = self.mlp1(x_channels)
        mlp1_outputs = torch.permute(mlp1_outputs, (0, 2, 1))
        x = mlp1_outputs + inputs
        # the same LayerNormalization again, then mlp2 mixes each patch's channels
        x_patches = self.normalize(x)
        mlp2_outputs = self.mlp2(x_patches)
        return x + mlp2_outputs


class FNetLayer(layers.Layer):
    def __init__(self, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ffn = keras.Sequential(
            [
                layers.Dense(units=embedding_dim, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
                layers.Dense(units=embedding_dim),
            ]
        )
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def call(self, inputs):
        # real part of the 2-D Fourier transform over (patches, channels)
        x = torch.fft.fft2(inputs.to(torch.complex64)).real
        x = x + inputs
        x = self.normalize1(x)
        x_ffn = self.ffn(x)
        x = x + x_ffn
        return self.normalize2(x)


class gMLPLayer(layers.Layer):
    def __init__(self, num_patches, embedding_dim, dropout_rate, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.channel_projection1 = keras.Sequential(
            [
                layers.Dense(units=embedding_dim * 2, activation="gelu"),
                layers.Dropout(rate=dropout_rate),
            ]
        )
        self.channel_projection2 = layers.Dense(units=embedding_dim)
        self.spatial_projection = layers.Dense(units=num_patches, bias_initializer="Ones")
        self.normalize1 = layers.LayerNormalization(epsilon=1e-6)
        self.normalize2 = layers.LayerNormalization(epsilon=1e-6)

    def spatial_gating_unit(self, x):
        # u, v: (B, num_patches, embedding_dim) each
        u, v = torch.chunk(x, 2, dim=2)
        v = self.normalize2(v)
        # project across the patches
        v_channels = torch.permute(v, (0, 2, 1))
        v_projected = self.spatial_projection(v_channels)
        v_projected = torch.permute(v_projected, (0, 2, 1))
        return u * v_projected

    def call(self, inputs):
        x = self.normalize1(inputs)
        x_projected = self.channel_projection1(x)  # (B, num_patches, 2·embedding_dim)
        x_spatial = self.spatial_gating_unit(x_projected)  # (B, num_patches, embedding_dim)
        x_projected = self.channel_projection2(x_spatial)
        return x + x_projected


# ---------------------------------------------------------------- NumPy references (float64)
_erf = np.vectorize(math.erf)


def _gelu(x):
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def _layer_norm(x, layer):
    gamma, beta = [w.astype("float64") for w in layer.get_weights()]
    return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6) * gamma + beta


def _dense(x, layer, activation=None):
    kernel, bias = [w.astype("float64") for w in layer.get_weights()]
    y = x @ kernel + bias
    return _gelu(y) if activation == "gelu" else y


def _tiny(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_the_mlp_mixer_block_mixes_patches_then_channels():
    """Section "Implement the MLP-Mixer module":
    U = X + (W₂ GELU(W₁ LN(X)ᵀ))ᵀ (across patches), Y = U + W₄ GELU(W₃ LN(U)) (across channels)."""
    keras.utils.set_random_seed(0)
    block = MLPMixerLayer(num_patches=5, hidden_units=6, dropout_rate=0.2)
    x = _tiny((2, 5, 6))
    got = block(x).detach().numpy()
    assert got.shape == (2, 5, 6)
    x64 = x.astype("float64")
    d1, d2 = block.mlp1.layers[:2]
    d3, d4 = block.mlp2.layers[:2]
    u = x64 + _dense(_dense(_layer_norm(x64, block.normalize).transpose(0, 2, 1), d1, "gelu"), d2).transpose(0, 2, 1)
    expected = u + _dense(_dense(_layer_norm(u, block.normalize), d3, "gelu"), d4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert d1.get_weights()[0].shape == (5, 5) and d4.get_weights()[0].shape == (5, 6)


def test_the_fnet_block_is_the_real_part_of_a_2d_fft():
    """Section "Implement the FNet module":
    U = LN(Re(FFT2(X)) + X) with FFT2 over (patches, channels), Y = LN(U + W₂ GELU(W₁ U))."""
    keras.utils.set_random_seed(0)
    block = FNetLayer(embedding_dim=6, dropout_rate=0.2)
    x = _tiny((2, 5, 6))
    got = block(x).detach().numpy()
    assert got.shape == (2, 5, 6)
    x64 = x.astype("float64")
    # the 2-D DFT written out: Σ_{p,c} x[p, c]·exp(−2πi(kp/P + lc/C))
    p, c = np.arange(5), np.arange(6)
    dft_p, dft_c = np.exp(-2j * np.pi * np.outer(p, p) / 5), np.exp(-2j * np.pi * np.outer(c, c) / 6)
    fourier = np.einsum("kp,bpc,cl->bkl", dft_p, x64, dft_c).real
    np.testing.assert_allclose(fourier, np.fft.fft2(x64).real, atol=1e-9)
    u = _layer_norm(fourier + x64, block.normalize1)
    d1, _, d2 = block.ffn.layers
    expected = _layer_norm(u + _dense(_dense(u, d1, "gelu"), d2), block.normalize2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_the_gmlp_block_gates_with_a_spatial_projection():
    """Section "Implement the gMLP module": Z = GELU(W₁ LN(X)) split into U, V;
    s(Z) = U ⊙ (W_s LN(V) + b_s) across patches (b_s starts at 1); Y = LN(X) + W₂ s(Z)."""
    keras.utils.set_random_seed(0)
    block = gMLPLayer(num_patches=5, embedding_dim=6, dropout_rate=0.2)
    x = _tiny((2, 5, 6))
    got = block(x).detach().numpy()
    assert got.shape == (2, 5, 6)
    np.testing.assert_array_equal(block.spatial_projection.get_weights()[1], np.ones(5))
    x64 = x.astype("float64")
    normalized = _layer_norm(x64, block.normalize1)
    z = _dense(normalized, block.channel_projection1.layers[0], "gelu")  # (2, 5, 12)
    u, v = z[..., :6], z[..., 6:]
    v_projected = _dense(_layer_norm(v, block.normalize2).transpose(0, 2, 1), block.spatial_projection)
    gated = u * v_projected.transpose(0, 2, 1)
    # the gating unit alone, on Z as the block computes it
    projected = block.channel_projection1(torch.from_numpy(normalized.astype("float32")))
    np.testing.assert_allclose(projected.detach().numpy(), z, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(block.spatial_gating_unit(projected).detach().numpy(), gated, rtol=1e-4, atol=1e-5)
    expected = normalized + _dense(gated, block.channel_projection2)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_position_embedding_is_the_first_rows_of_its_table():
    """The Keras 3 revision's PositionEmbedding: y[b, t] = E[start_index + t] for every b."""
    layer = PositionEmbedding(sequence_length=6)
    x = _tiny((3, 6, 4))
    got = layer(x).detach().numpy()
    table = layer.get_weights()[0]
    assert table.shape == (6, 4)
    np.testing.assert_array_equal(got, np.broadcast_to(table, (3, 6, 4)))
    np.testing.assert_array_equal(layer(x[:, :4]).detach().numpy(), np.broadcast_to(table[:4], (3, 4, 4)))
    np.testing.assert_array_equal(layer(x[:, :4], start_index=2).detach().numpy()[0], table[2:6])
    config = layer.get_config()
    assert config["sequence_length"] == 6
    assert PositionEmbedding.from_config(config).sequence_length == 6
    with pytest.raises(ValueError, match="sequence_length"):
        PositionEmbedding(sequence_length=None)


def test_patches_are_numpys_reshaped_blocks():
    """Section "Implement patch extraction as a layer"."""
    images = _tiny((2, image_size, image_size, 3))
    got = Patches(patch_size)(torch.from_numpy(images)).numpy()
    assert got.shape == (2, num_patches, patch_size * patch_size * 3)  # the example prints 64 patches of 192
    blocks = images.reshape(2, 4, patch_size, 4, patch_size, 3).transpose(0, 1, 3, 2, 4, 5)
    np.testing.assert_array_equal(got, blocks.reshape(2, num_patches, -1))
    np.testing.assert_array_equal(got[1, 2 * 4 + 3].reshape(patch_size, patch_size, 3), images[1, 16:24, 24:32])


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The example's "Prepare the data" on MNIST: (N, 28, 28, 1) uint8 images, (N, 1) labels as Keras's CIFAR."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = x_train[:4000, :, :, None], x_test[:1000, :, :, None]
    return (x_train, y_train[:4000, None]), (x_test, y_test[:1000, None])


def run_experiment(model, learning_rate, data):
    """Section "Define an experiment": returns the history and the test accuracy and top-5 accuracy."""
    (x_train, y_train), (x_test, y_test) = data
    optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="acc"),
            keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5-acc"),
        ],
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=5)
    early_stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    history = model.fit(
        x=x_train,
        y=y_train,
        batch_size=batch_size,
        epochs=num_epochs,
        validation_split=0.1,
        callbacks=[early_stopping, reduce_lr],
        verbose=0,
    )
    _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history, accuracy, top_5_accuracy


def _check_training(model, history, accuracy, top_5_accuracy, data):
    (_, _), (x_test, y_test) = data
    losses = history.history["loss"]
    assert len(losses) == num_epochs and losses[-1] < losses[0], losses
    assert {"acc", "top5-acc", "val_loss", "val_acc", "val_top5-acc"} <= set(history.history)
    logits = model.predict(x_test, verbose=0)
    labels = y_test[:, 0]
    np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == labels), atol=1e-6)
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    np.testing.assert_allclose(top_5_accuracy, np.mean((top5 == labels[:, None]).any(-1)), atol=1e-6)
    # chance: 10% and 50%; after 5 epochs MLP-Mixer and gMLP reach about 80%, FNet about 50%
    assert accuracy > 0.35 and top_5_accuracy > max(accuracy, 0.75), (accuracy, top_5_accuracy)


@pytest.mark.parametrize("name", ["mlpmixer", "fnet", "gmlp"])
def test_each_classifier_trains_above_chance(name, mnist):
    """Sections "Build, train, and evaluate the MLP-Mixer / FNet / gMLP model", each at the example's
    learning rate; FNet with positional encoding, as the example builds it."""
    keras.utils.set_random_seed(0)
    (x_train, _), _ = mnist
    data_augmentation = make_data_augmentation()
    # Compute the mean and the variance of the training data for normalization.
    data_augmentation.layers[0].adapt(x_train)
    if name == "mlpmixer":
        blocks = keras.Sequential([MLPMixerLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)])
        learning_rate = 0.005
        classifier = build_classifier(blocks, data_augmentation)
    elif name == "fnet":
        blocks = keras.Sequential([FNetLayer(embedding_dim, dropout_rate) for _ in range(num_blocks)])
        learning_rate = 0.001
        classifier = build_classifier(blocks, data_augmentation, positional_encoding=True)
    else:
        blocks = keras.Sequential([gMLPLayer(num_patches, embedding_dim, dropout_rate) for _ in range(num_blocks)])
        learning_rate = 0.003
        classifier = build_classifier(blocks, data_augmentation)
    assert tuple(classifier.output_shape) == (None, num_classes)
    history, accuracy, top_5_accuracy = run_experiment(classifier, learning_rate, mnist)
    _check_training(classifier, history, accuracy, top_5_accuracy, mnist)
