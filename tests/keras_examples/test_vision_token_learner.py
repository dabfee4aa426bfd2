"""keras.io example "Learning to tokenize in Vision Transformers"
(https://keras.io/examples/vision/token_learner/), its Keras 3 version,
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, ``ops.gelu`` as torch's GELU with the tanh
approximation (Keras's ``ops.gelu`` default), ``ops.arange`` and
``ops.expand_dims`` in ``PatchEncoder`` as ``torch.arange`` (on the patches'
device) and ``torch.unsqueeze``. On the symbolic tensors of the functional
``token_learner``, where brainnet's torch calls need a layer (the error says
so, docs/keras.md), ``ops.expand_dims(attention_maps, axis=-1)`` is
``attention_maps[..., None]`` and ``ops.mean(x, axis=2)`` a ``layers.Lambda``
of ``torch.mean``. The ``tf.data`` pipelines are NumPy arrays given to
``fit`` with ``batch_size`` (shuffled each epoch, as ``shuffle`` did). The
rest is the example's: the augmentation ``Sequential`` (``Rescaling``,
``Resizing``, ``RandomCrop``, ``RandomFlip``), the patches cut and projected
by a strided ``Conv2D``, ``PatchEncoder``, the Transformer blocks, the
TokenLearner in the middle of the network, AdamW, and ``ModelCheckpoint`` of
the best weights reloaded before ``evaluate``.

Shortened for CI: MNIST (28×28×1, 10 classes; 3,000 training, 500
validation and 1,000 test images) in place of CIFAR-10 (32×32×3; 40,000,
10,000 and 10,000), resized to 28×28 and cropped to 24×24 instead of
resized to 52×52 and cropped to 48×48, so the 6×6 patches make 16 tokens
instead of 64; 3 Transformer blocks instead of 4 (the TokenLearner after
the second, as in the example's ``i == NUM_LAYERS // 2``), PROJECTION_DIM 32
instead of 128, batch size 64 instead of 256, 5 epochs instead of 20. The
tests check the TokenLearner's tokens against NumPy (the spatial attention
maps in [0, 1], each token the mean of the inputs weighted by its map), the
model's token count, accuracy well above chance (10%), and the reloaded best
checkpoint.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

# DATA
BATCH_SIZE = 64  # the example: 256
INPUT_SHAPE = (28, 28, 1)  # the example: (32, 32, 3)
NUM_CLASSES = 10

# OPTIMIZER
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-4

# TRAINING
EPOCHS = 5  # the example: 20

# AUGMENTATION
IMAGE_SIZE = 24  # We will resize input images to this size. (the example: 48)
PATCH_SIZE = 6  # Size of the patches to be extracted from the input images.
NUM_PATCHES = (IMAGE_SIZE // PATCH_SIZE) ** 2

# ViT ARCHITECTURE
LAYER_NORM_EPS = 1e-6
PROJECTION_DIM = 32  # the example: 128
NUM_HEADS = 4
NUM_LAYERS = 3  # the example: 4
MLP_UNITS = [
    PROJECTION_DIM * 2,
    PROJECTION_DIM,
]

# TOKENLEARNER
NUM_TOKENS = 4


def gelu(x):
    """``ops.gelu``: Keras's default is the tanh approximation."""
    return torch.nn.functional.gelu(x, approximate="tanh")


def make_data_augmentation():
    return keras.Sequential(
        [
            layers.Rescaling(1 / 255.0),
            layers.Resizing(IMAGE_SIZE + 4, IMAGE_SIZE + 4),  # the example: INPUT_SHAPE[0] + 20 for its 48 crop
            layers.RandomCrop(IMAGE_SIZE, IMAGE_SIZE),
            layers.RandomFlip("horizontal"),
        ],
        name="data_augmentation",
    )


class PatchEncoder(layers.Layer):
    def __init__(self, num_patches, projection_dim):
        super().__init__()
        self.num_patches = num_patches
        self.position_embedding = layers.Embedding(input_dim=num_patches, output_dim=projection_dim)

    def call(self, patch):
        positions = torch.unsqueeze(torch.arange(start=0, end=self.num_patches, step=1, device=patch.device), 0)
        encoded = patch + self.position_embedding(positions)
        return encoded

    def get_config(self):
        config = super().get_config()
        config.update({"num_patches": self.num_patches})
        return config


def mlp(x, dropout_rate, hidden_units):
    # Iterate over the hidden units and
    # add Dense => Dropout.
    for units in hidden_units:
        x = layers.Dense(units, activation=gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def token_learner(inputs, number_of_tokens=NUM_TOKENS):
    # Layer normalize the inputs.
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(inputs)  # (B, H, W, C)

    # Applying Conv2D => Reshape => Permute
    # The reshape and permute is done to help with the next steps of
    # multiplication and Global Average Pooling.
    attention_maps = keras.Sequential(
        [
            # 3 layers of conv with gelu activation as suggested
            # in the paper.
            layers.Conv2D(filters=number_of_tokens, kernel_size=(3, 3), activation=gelu, padding="same",
                          use_bias=False),
            layers.Conv2D(filters=number_of_tokens, kernel_size=(3, 3), activation=gelu, padding="same",
                          use_bias=False),
            layers.Conv2D(filters=number_of_tokens, kernel_size=(3, 3), activation=gelu, padding="same",
                          use_bias=False),
            # This conv layer will generate the attention maps
            layers.Conv2D(
                filters=number_of_tokens,
                kernel_size=(3, 3),
                activation="sigmoid",  # Note sigmoid for [0, 1] output
                padding="same",
                use_bias=False,
            ),
            # Reshape and Permute
            layers.Reshape((-1, number_of_tokens)),  # (B, H*W, num_of_tokens)
            layers.Permute((2, 1)),
        ],
        name="attention_maps",
    )(x)  # (B, num_of_tokens, H*W)

    # Reshape the input to align it with the output of the conv block.
    num_filters = inputs.shape[-1]
    inputs = layers.Reshape((1, -1, num_filters))(inputs)  # inputs == (B, 1, H*W, C)

    # Element-Wise multiplication of the attention maps and the inputs
    attended_inputs = attention_maps[..., None] * inputs  # (B, num_tokens, H*W, C)

    # Global average pooling the element wise multiplication result.
    outputs = layers.Lambda(lambda t: torch.mean(t, dim=2))(attended_inputs)  # (B, num_tokens, C)
    return outputs


def transformer(encoded_patches):
    # Layer normalization 1.
    x1 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(encoded_patches)

    # Multi Head Self Attention layer 1.
    attention_output = layers.MultiHeadAttention(num_heads=NUM_HEADS, key_dim=PROJECTION_DIM, dropout=0.1)(x1, x1)

    # Skip connection 1.
    x2 = layers.Add()([attention_output, encoded_patches])

    # Layer normalization 2.
    x3 = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(x2)

    # MLP layer 1.
    x4 = mlp(x3, hidden_units=MLP_UNITS, dropout_rate=0.1)

    # Skip connection 2.
    encoded_patches = layers.Add()([x4, x2])
    return encoded_patches


def create_vit_classifier(data_augmentation, use_token_learner=True, token_learner_units=NUM_TOKENS):
    inputs = layers.Input(shape=INPUT_SHAPE)  # (B, H, W, C)

    # Augment data.
    augmented = data_augmentation(inputs)

    # Create patches and project the pathces.
    projected_patches = layers.Conv2D(
        filters=PROJECTION_DIM,
        kernel_size=(PATCH_SIZE, PATCH_SIZE),
        strides=(PATCH_SIZE, PATCH_SIZE),
        padding="VALID",
    )(augmented)
    _, h, w, c = projected_patches.shape
    projected_patches = layers.Reshape((h * w, c))(projected_patches)  # (B, number_patches, projection_dim)

    # Add positional embeddings to the projected patches.
    encoded_patches = PatchEncoder(num_patches=NUM_PATCHES, projection_dim=PROJECTION_DIM)(
        projected_patches
    )  # (B, number_patches, projection_dim)
    encoded_patches = layers.Dropout(0.1)(encoded_patches)

    # Iterate over the number of layers and stack up blocks of
    # Transformer.
    for i in range(NUM_LAYERS):
        # Add a Transformer block.
        encoded_patches = transformer(encoded_patches)

        # Add TokenLearner layer in the middle of the
        # architecture. The paper suggests that anywhere
        # between 1/2 or 3/4 will work well.
        if use_token_learner and i == NUM_LAYERS // 2:
            _, hh, c = encoded_patches.shape
            h = int(math.sqrt(hh))
            encoded_patches = layers.Reshape((h, h, c))(encoded_patches)  # (B, h, h, projection_dim)
            encoded_patches = token_learner(encoded_patches, token_learner_units)  # (B, num_tokens, c)

    # Layer normalization and Global average pooling.
    representation = layers.LayerNormalization(epsilon=LAYER_NORM_EPS)(encoded_patches)
    representation = layers.GlobalAvgPool1D()(representation)

    # Classify outputs.
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(representation)

    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    """The example's "Load and prepare the CIFAR-10 dataset" on MNIST: train, validation and test slices."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train, x_test = x_train[..., None], x_test[..., None]
    (x_train, y_train), (x_val, y_val) = (
        (x_train[:3000], y_train[:3000, None]),
        (x_train[3000:3500], y_train[3000:3500, None]),
    )
    return (x_train, y_train), (x_val, y_val), (x_test[:1000], y_test[:1000, None])


def naive_layer_norm(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(x.var(-1, keepdims=True) + eps) * gamma + beta


def test_the_token_learner_pools_the_inputs_with_its_spatial_attention_maps():
    """Section "TokenLearner module": token t = mean over positions p of α_t(p)·x_p, α = σ(convs(LN(x)))."""
    keras.utils.set_random_seed(0)
    grid = keras.Input(shape=(4, 4, 8))
    tokens = token_learner(grid, number_of_tokens=3)
    learner = keras.Model(grid, tokens)
    assert tuple(learner.output_shape) == (None, 3, 8)
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 8)).astype("float32")
    got = learner.predict(x, verbose=0)

    # the attention maps, read from the model: the Sequential named "attention_maps" after the LayerNormalization
    norm = next(layer for layer in learner.layers if isinstance(layer, layers.LayerNormalization))
    maps_model = learner.get_layer("attention_maps")
    gamma, beta = norm.get_weights()
    normalized = naive_layer_norm(x.astype("float64"), gamma, beta, LAYER_NORM_EPS)
    np.testing.assert_allclose(norm(torch.from_numpy(x)).detach().numpy(), normalized, rtol=1e-4, atol=1e-5)
    maps = maps_model.predict(normalized.astype("float32"), verbose=0)  # (B, tokens, H·W)
    assert maps.shape == (2, 3, 16) and np.all((maps > 0) & (maps < 1))
    # the last convolution's sigmoid: its maps are σ of its pre-activations, permuted to (B, tokens, H·W)
    hidden = keras.Sequential(maps_model.layers[:3]).predict(normalized.astype("float32"), verbose=0)
    last = maps_model.layers[3]
    (kernel,) = last.get_weights()  # brainnet's (PyTorch's) layout (out, in, 3, 3)
    padded = np.pad(hidden.astype("float64"), ((0, 0), (1, 1), (1, 1), (0, 0)))
    pre = np.zeros((2, 4, 4, 3))
    for i in range(4):
        for j in range(4):
            pre[:, i, j] = np.einsum("bhwc,ochw->bo", padded[:, i: i + 3, j: j + 3], kernel)
    expected_maps = (1 / (1 + np.exp(-pre))).reshape(2, 16, 3).transpose(0, 2, 1)
    np.testing.assert_allclose(maps, expected_maps, rtol=1e-4, atol=1e-5)
    # each token: the mean over the 16 positions of the inputs weighted by its map
    flat = x.reshape(2, 16, 8).astype("float64")
    expected = np.einsum("btp,bpc->btc", maps.astype("float64"), flat) / 16
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_vit_with_a_token_learner_trains_and_reloads_its_best_weights(mnist, tmp_path):
    """Sections "ViT model with the TokenLearner module", "Training utility" and "Train and evaluate"."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist
    keras.utils.set_random_seed(0)
    vit_token_learner = create_vit_classifier(make_data_augmentation())
    assert tuple(vit_token_learner.output_shape) == (None, NUM_CLASSES)
    # after the TokenLearner, the blocks see NUM_TOKENS tokens in place of NUM_PATCHES
    lambdas = [layer for layer in vit_token_learner.layers if isinstance(layer, layers.Lambda)]
    assert len(lambdas) == 1 and tuple(lambdas[0].output.shape) == (None, NUM_TOKENS, PROJECTION_DIM)
    attention = [layer for layer in vit_token_learner.layers if isinstance(layer, layers.MultiHeadAttention)]
    assert [tuple(layer.input[0].shape)[1] for layer in attention] == [NUM_PATCHES, NUM_PATCHES, NUM_TOKENS]

    def run_experiment(model):
        # Initialize the AdamW optimizer.
        optimizer = keras.optimizers.AdamW(learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY)

        # Compile the model with the optimizer, loss function
        # and the metrics.
        model.compile(
            optimizer=optimizer,
            loss="sparse_categorical_crossentropy",
            metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras.metrics.SparseTopKCategoricalAccuracy(5, name="top-5-accuracy"),
            ],
        )

        # Define callbacks
        checkpoint_filepath = str(tmp_path / "checkpoint.weights.h5")
        checkpoint_callback = keras.callbacks.ModelCheckpoint(
            checkpoint_filepath,
            monitor="val_accuracy",
            save_best_only=True,
            save_weights_only=True,
        )

        # Train the model.
        history = model.fit(
            x_train,
            y_train,
            batch_size=BATCH_SIZE,
            epochs=EPOCHS,
            validation_data=(x_val, y_val),
            callbacks=[checkpoint_callback],
            verbose=0,
        )

        model.load_weights(checkpoint_filepath)
        _, accuracy, top_5_accuracy = model.evaluate(x_test, y_test, batch_size=BATCH_SIZE, verbose=0)
        return history, accuracy, top_5_accuracy

    history, accuracy, top_5_accuracy = run_experiment(vit_token_learner)
    losses = history.history["loss"]
    assert len(losses) == EPOCHS and losses[-1] < losses[0], losses
    # the reloaded weights are the best epoch's
    _, best_val_accuracy, _ = vit_token_learner.evaluate(x_val, y_val, verbose=0)
    np.testing.assert_allclose(best_val_accuracy, max(history.history["val_accuracy"]), atol=1e-6)
    probabilities = vit_token_learner.predict(x_test, verbose=0)
    np.testing.assert_allclose(accuracy, np.mean(probabilities.argmax(-1) == y_test[:, 0]), atol=1e-6)
    assert accuracy > 0.35 and top_5_accuracy >= accuracy, (accuracy, top_5_accuracy)
