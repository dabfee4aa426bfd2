"""keras.io example "Image classification with Vision Transformer"
(https://keras.io/examples/vision/image_classification_with_vision_transformer/),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, ``keras.ops`` calls in their torch
spellings (docs/keras.md: ``ops.image.extract_patches`` is two ``unfold``s,
``ops.image.resize`` is the ``Resizing`` layer's bilinear resize), the rest
as the example has it: the augmentation ``Sequential`` (``Normalization``
adapted to the training images, ``Resizing``, ``RandomFlip``,
``RandomRotation``, ``RandomZoom``), the ``Patches`` and ``PatchEncoder``
layers, Transformer blocks of ``LayerNormalization``,
``MultiHeadAttention``, ``Add`` and a GELU ``mlp``, the flattened
representation and the MLP head, ``AdamW``, the accuracy and top-5 metrics,
and ``ModelCheckpoint`` of the best weights reloaded before ``evaluate``.

Shortened for CI: MNIST (28×28×1, 10 classes; 4,000 training and 1,000 test
images) in place of CIFAR-100 (32×32×3, 100 classes), resized to 24×24
instead of 72×72 with the example's 6×6 patches (16 patches instead of 144);
2 Transformer blocks instead of 8, projection_dim 16 instead of 64, an MLP
head of 128 and 64 units instead of 2,048 and 1,024, batch size 64 instead
of 256, and 3 epochs instead of 10. The patch-display section is checked at
the example's own sizes (a 32×32 image resized to 72×72: 144 patches of 108
values).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

num_classes = 10  # the example: 100 (CIFAR-100)
input_shape = (28, 28, 1)  # the example: (32, 32, 3)

learning_rate = 0.001
weight_decay = 0.0001
batch_size = 64  # the example: 256
num_epochs = 3  # the example: 10
image_size = 24  # the example: 72
patch_size = 6
num_patches = (image_size // patch_size) ** 2
projection_dim = 16  # the example: 64
num_heads = 4
hidden_dim = projection_dim * num_heads
transformer_units = [hidden_dim * 2, hidden_dim]
transformer_layers = 2  # the example: 8
mlp_head_units = [128, 64]  # the example: [2048, 1024]


def make_data_augmentation(image_size):
    return keras.Sequential(
        [
            layers.Normalization(),
            layers.Resizing(image_size, image_size),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(factor=0.02),
            layers.RandomZoom(height_factor=0.2, width_factor=0.2),
        ],
        name="data_augmentation",
    )


def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


class Patches(layers.Layer):
    def __init__(self, patch_size):
        super().__init__()
        self.patch_size = patch_size

    def call(self, images):
        batch_size, height, width, channels = tuple(images.shape)
        num_patches_h = height // self.patch_size
        num_patches_w = width // self.patch_size
        p = self.patch_size
        patches = images.unfold(1, p, p).unfold(2, p, p).permute(0, 1, 2, 4, 5, 3)  # (B, nh, nw, p, p, C)
        patches = torch.reshape(patches, (batch_size, num_patches_h * num_patches_w, p * p * channels))
        return patches

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size})
        return config


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.projection = layers.Dense(units=projection_dim)
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch):
        positions = torch.unsqueeze(torch.arange(start=0, end=self.num_patches, step=1, device=patch.device), 0)
        projected_patches = self.projection(patch)
        encoded = projected_patches + self.position_embedding(positions)
        return encoded

    def get_config(self):
        config = super().get_config()
        config.update({"num_patches": self.num_patches})
        return config


def create_vit_classifier(data_augmentation):
    inputs = keras.Input(shape=input_shape)
    augmented = data_augmentation(inputs)
    patches = Patches(patch_size)(augmented)
    encoded_patches = PatchEncoder(num_patches, hidden_dim)(patches)
    for _ in range(transformer_layers):
        x1 = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim, dropout=0.1)(x1, x1)
        x2 = layers.Add()([attention_output, encoded_patches])  # skip connection 1
        x3 = layers.LayerNormalization(epsilon=1e-6)(x2)
        x3 = mlp(x3, hidden_units=transformer_units, dropout_rate=0.1)
        encoded_patches = layers.Add()([x3, x2])  # skip connection 2
    representation = layers.LayerNormalization(epsilon=1e-6)(encoded_patches)
    representation = layers.Flatten()(representation)  # (B, num_patches · hidden_dim)
    representation = layers.Dropout(0.5)(representation)
    features = mlp(representation, hidden_units=mlp_head_units, dropout_rate=0.5)
    logits = layers.Dense(num_classes)(features)
    model = keras.Model(inputs=inputs, outputs=logits)
    return model


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The example's "Prepare the data" on MNIST: (N, 28, 28, 1) uint8 images, (N, 1) labels as Keras's CIFAR."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = x_train[:4000, :, :, None], x_test[:1000, :, :, None]
    return (x_train, y_train[:4000, None]), (x_test, y_test[:1000, None])


def naive_patches(images, p):
    """NumPy: (B, H, W, C) cut into (B, (H//p)·(W//p), p·p·C), patches row-major, each one (row, col, channel)."""
    b, h, w, c = images.shape
    blocks = images[:, : h // p * p, : w // p * p].reshape(b, h // p, p, w // p, p, c)
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(b, (h // p) * (w // p), p * p * c)


def test_patches_are_numpys_reshaped_blocks(mnist):
    """Section "Implement patch creation as a layer"."""
    (x_train, _), _ = mnist
    images = x_train[:3].astype("float32")
    got = Patches(7)(torch.from_numpy(images)).numpy()
    assert got.shape == (3, 16, 49)
    np.testing.assert_array_equal(got, naive_patches(images, 7))
    # patch i·4 + j is the block at rows 7i.., columns 7j..
    np.testing.assert_array_equal(got[1, 2 * 4 + 3].reshape(7, 7, 1), images[1, 14:21, 21:28])
    # an edge that is not a whole patch is left out, as extract_patches does
    colour = np.random.default_rng(0).uniform(size=(2, 13, 11, 3)).astype("float32")
    np.testing.assert_array_equal(Patches(3)(torch.from_numpy(colour)).numpy(), naive_patches(colour, 3))
    assert Patches(3).get_config()["patch_size"] == 3


def test_the_patch_display_at_the_examples_sizes(mnist):
    """The example's patch display: a 32×32×3 image resized to 72×72, cut into 6×6 patches."""
    (x_train, _), _ = mnist
    image = np.repeat(np.pad(x_train[0], ((2, 2), (2, 2), (0, 0))), 3, axis=-1)  # an MNIST digit on a 32×32×3 canvas
    resized_image = layers.Resizing(72, 72)(torch.as_tensor(np.array([image]), dtype=torch.float32))
    patches = Patches(6)(resized_image)
    assert tuple(patches.shape) == (1, 144, 108)  # "Patches per image: 144", "Elements per patch: 108"
    n = int(np.sqrt(patches.shape[1]))
    for i, patch in enumerate(patches[0]):
        patch_img = torch.reshape(patch, (6, 6, 3))
        row, col = divmod(i, n)
        block = resized_image[0, 6 * row: 6 * row + 6, 6 * col: 6 * col + 6]
        np.testing.assert_array_equal(patch_img.numpy(), block.numpy())


def test_the_patch_encoder_projects_and_adds_a_position_embedding():
    """Section "Implement the patch encoding layer": y_i = x_i·W + b + E[i]."""
    layer = PatchEncoder(num_patches=5, projection_dim=4)
    x = np.random.default_rng(1).normal(size=(2, 5, 12)).astype("float32")
    got = layer(torch.from_numpy(x)).detach().numpy()
    kernel, bias = layer.projection.get_weights()
    table = layer.position_embedding.get_weights()[0]
    expected = x.astype("float64") @ kernel + bias + table[np.arange(5)][None]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert layer.get_config()["num_patches"] == 5


def test_the_augmentation_normalizes_with_the_training_statistics(mnist):
    """Section "Use data augmentation": Normalization adapted to x_train; random layers only in training."""
    (x_train, _), _ = mnist
    data_augmentation = make_data_augmentation(image_size)
    data_augmentation.layers[0].adapt(x_train)
    mean, variance = x_train.astype("float64").mean(), x_train.astype("float64").var()
    normalized = (x_train[:4].astype("float64") - mean) / np.sqrt(variance)
    expected = layers.Resizing(image_size, image_size)(torch.from_numpy(normalized.astype("float32")))
    got = data_augmentation(x_train[:4], training=False)
    assert tuple(got.shape) == (4, image_size, image_size, 1)
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
    keras.utils.set_random_seed(0)
    trained = data_augmentation(x_train[:4], training=True)
    assert tuple(trained.shape) == (4, image_size, image_size, 1)
    assert not np.allclose(trained.numpy(), expected.numpy(), atol=1e-3)  # flips, rotations and zooms


def test_the_vit_trains_checkpoints_and_reloads_its_best_weights(mnist, tmp_path):
    """Sections "Build the ViT model" and "Compile, train, and evaluate the mode"."""
    (x_train, y_train), (x_test, y_test) = mnist
    keras.utils.set_random_seed(0)
    data_augmentation = make_data_augmentation(image_size)
    data_augmentation.layers[0].adapt(x_train)
    vit_classifier = create_vit_classifier(data_augmentation)
    assert tuple(vit_classifier.output_shape) == (None, num_classes)

    def run_experiment(model):
        optimizer = keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
            ],
        )
        checkpoint_filepath = str(tmp_path / "checkpoint.weights.h5")
        checkpoint_callback = keras.callbacks.ModelCheckpoint(
            checkpoint_filepath,
            monitor="val_accuracy",
            save_best_only=True,
            save_weights_only=True,
        )
        history = model.fit(
            x=x_train,
            y=y_train,
            batch_size=batch_size,
            epochs=num_epochs,
            validation_split=0.1,
            callbacks=[checkpoint_callback],
            verbose=0,
        )
        model.load_weights(checkpoint_filepath)
        _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, verbose=0)
        return history, checkpoint_filepath, accuracy, top_5_accuracy

    history, checkpoint_filepath, accuracy, top_5_accuracy = run_experiment(vit_classifier)
    losses = history.history["loss"]
    assert len(losses) == num_epochs and losses[-1] < losses[0]
    assert set(history.history) >= {"accuracy", "top-5-accuracy", "val_loss", "val_accuracy", "val_top-5-accuracy"}
    # the reloaded weights are the best epoch's: evaluating them on the validation slice gives its best score
    x_val, y_val = x_train[-400:], y_train[-400:]
    _, best_val_accuracy, _ = vit_classifier.evaluate(x_val, y_val, verbose=0)
    np.testing.assert_allclose(best_val_accuracy, max(history.history["val_accuracy"]), atol=1e-6)
    # held-out test images: well above chance (10%), top-5 at least top-1, both as NumPy counts them
    logits = vit_classifier.predict(x_test, verbose=0)
    assert logits.shape == (1000, num_classes)
    labels = y_test[:, 0]
    np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == labels), atol=1e-6)
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    np.testing.assert_allclose(top_5_accuracy, np.mean((top5 == labels[:, None]).any(-1)), atol=1e-6)
    assert accuracy > 0.4 and top_5_accuracy >= accuracy, (accuracy, top_5_accuracy)
    # a fresh model of the same code loads the checkpoint and predicts the same
    twin = create_vit_classifier(make_data_augmentation(image_size))
    twin.load_weights(checkpoint_filepath)
    np.testing.assert_allclose(twin.predict(x_test[:50], verbose=0), logits[:50], rtol=1e-5, atol=1e-5)
