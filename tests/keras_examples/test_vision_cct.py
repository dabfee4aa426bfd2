"""keras.io example "Compact Convolutional Transformers"
(https://keras.io/examples/vision/cct/; the stored copy is the tf.keras
version), ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports, TensorFlow
Addons' ``tfa.optimizers.AdamW`` as ``keras.optimizers.AdamW`` (the same
arguments), the example's ``CCTTokenizer`` and ``StochasticDepth`` layers
and ``create_cct_model`` as it writes them, with its TensorFlow calls in
torch: ``tf.reshape`` is ``torch.reshape``, ``tf.shape(x)[i]`` is
``x.shape[i]``, ``tf.ones``/``tf.range`` are ``torch.ones``/``torch.arange``,
``tf.random.uniform(shape, 0, 1)`` is ``torch.rand(shape)``, ``tf.floor``
is ``torch.floor`` and ``tf.nn.gelu`` is ``keras.activations.gelu``.

Where brainnet differs (docs/keras.md): a torch function is not recorded on
a functional model's symbolic tensors, and brainnet refuses it with the fix
(the test shows the example's line refused). So the sequence pooling's
``tf.nn.softmax(…, axis=1)``, ``tf.matmul(…, transpose_a=True)`` and
``tf.squeeze(…, -2)`` are ``layers.Lambda`` layers, and
``encoded_patches += position_embeddings`` is a ``Lambda`` that adds the
table. That table keeps the example's tf.keras semantics: its
``Embedding`` is called on a constant ``tf.range`` outside the graph, so
its values enter the model as a constant, trained by nobody (the test
checks that the model neither holds nor changes it). In torch that
constant is ``pos_embed(positions).detach()``: without ``.detach()`` the
table carries the graph that made it, and brainnet refuses the ``Lambda``
with that fix (the second training step would fail in autograd). The tokenizer's
``positional_embedding`` probes it with ``(1, image_size, image_size, 1)``
ones in place of ``(…, 3)`` (the example's 3 is CIFAR's channel count).

Replaced, and why:

- CIFAR-10 (a download) is Fashion-MNIST: 28×28 grey images
  (``image_size=28``, one channel; ``RandomCrop(28, 28)`` then keeps the
  whole picture); the first 4,000 training images (400 of them the
  validation split) and 1,000 test images.
- Shortened for CI: the tokenizer's two convolutions have 16 and 32
  filters in place of 64 and 128, so ``projection_dim`` is 32 (it must
  equal the tokenizer's last filter count), and 4 epochs in place of 30.
- The checkpoint file is ``checkpoint.weights.h5`` in a temporary folder in
  place of ``/tmp/checkpoint`` (Keras 3 and brainnet ask for that ending
  with ``save_weights_only=True``); the plot is left out.

What the tests check: the tokenizer's sequence (its convolution stack's
feature map read row by row) and its position table's size; stochastic
depth against its equation (each sample kept whole and scaled by
``1 / keep_prob``, or dropped, at about the drop rate; the identity in
inference); the sequence pooling against NumPy
(``softmax_t(r_t · w + b)``-weighted sum of the tokens); and the CCT
trained on Fashion-MNIST: loss that falls, the best checkpoint reloaded
(its validation accuracy is the best the History recorded), test accuracy
and top-5 accuracy as NumPy counts them, well above chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

positional_emb = True
conv_layers = 2
projection_dim = 32  # the example: 128 (its tokenizer's 64 and 128 filters are 16 and 32 here)

num_heads = 2
transformer_units = [
    projection_dim,
    projection_dim,
]
transformer_layers = 2
stochastic_depth_rate = 0.1

learning_rate = 0.001
weight_decay = 0.0001
batch_size = 128
num_epochs = 4  # the example: 30
image_size = 28  # the example: 32 (CIFAR-10)

num_classes = 10
input_shape = (28, 28, 1)  # the example: (32, 32, 3)


class CCTTokenizer(layers.Layer):
    def __init__(
        self,
        kernel_size=3,
        stride=1,
        padding=1,
        pooling_kernel_size=3,
        pooling_stride=2,
        num_conv_layers=conv_layers,
        num_output_channels=[16, 32],  # the example: [64, 128]
        positional_emb=positional_emb,
        **kwargs,
    ):
        super(CCTTokenizer, self).__init__(**kwargs)

        # This is our tokenizer.
        self.conv_model = keras.Sequential()
        for i in range(num_conv_layers):
            self.conv_model.add(
                layers.Conv2D(
                    num_output_channels[i],
                    kernel_size,
                    stride,
                    padding="valid",
                    use_bias=False,
                    activation="relu",
                    kernel_initializer="he_normal",
                )
            )
            self.conv_model.add(layers.ZeroPadding2D(padding))
            self.conv_model.add(layers.MaxPool2D(pooling_kernel_size, pooling_stride, "same"))

        self.positional_emb = positional_emb

    def call(self, images):
        outputs = self.conv_model(images)
        # After passing the images through our mini-network the spatial dimensions
        # are flattened to form sequences.
        reshaped = torch.reshape(
            outputs,
            (-1, outputs.shape[1] * outputs.shape[2], outputs.shape[-1]),
        )
        return reshaped

    def positional_embedding(self, image_size):
        # Positional embeddings are optional in CCT. Here, we calculate
        # the number of sequences and initialize an `Embedding` layer to
        # compute the positional embeddings later.
        if self.positional_emb:
            dummy_inputs = torch.ones((1, image_size, image_size, 1))  # the example: 3 channels
            dummy_outputs = self.call(dummy_inputs)
            sequence_length = dummy_outputs.shape[1]
            projection_dim = dummy_outputs.shape[-1]

            embed_layer = layers.Embedding(input_dim=sequence_length, output_dim=projection_dim)
            return embed_layer, sequence_length
        else:
            return None


# Referred from: github.com:rwightman/pytorch-image-models.
class StochasticDepth(layers.Layer):
    def __init__(self, drop_prop, **kwargs):
        super(StochasticDepth, self).__init__(**kwargs)
        self.drop_prob = drop_prop

    def call(self, x, training=None):
        if training:
            keep_prob = 1 - self.drop_prob
            shape = (x.shape[0],) + (1,) * (x.dim() - 1)
            random_tensor = keep_prob + torch.rand(shape, device=x.device)
            random_tensor = torch.floor(random_tensor)
            return (x / keep_prob) * random_tensor
        return x


def mlp(x, hidden_units, dropout_rate):
    for units in hidden_units:
        x = layers.Dense(units, activation=keras.activations.gelu)(x)
        x = layers.Dropout(dropout_rate)(x)
    return x


def make_data_augmentation():
    # Note the rescaling layer. These layers have pre-defined inference behavior.
    return keras.Sequential(
        [
            layers.Rescaling(scale=1.0 / 255),
            layers.RandomCrop(image_size, image_size),
            layers.RandomFlip("horizontal"),
        ],
        name="data_augmentation",
    )


def create_cct_model(
    image_size=image_size,
    input_shape=input_shape,
    num_heads=num_heads,
    projection_dim=projection_dim,
    transformer_units=transformer_units,
):

    inputs = layers.Input(input_shape)

    # Augment data.
    augmented = make_data_augmentation()(inputs)

    # Encode patches.
    cct_tokenizer = CCTTokenizer()
    encoded_patches = cct_tokenizer(augmented)

    # Apply positional embedding.
    if positional_emb:
        pos_embed, seq_length = cct_tokenizer.positional_embedding(image_size)
        positions = torch.arange(start=0, end=seq_length, step=1)
        position_embeddings = pos_embed(positions).detach()  # a constant, as in the example (brainnet's fix)
        encoded_patches = layers.Lambda(lambda t: t + position_embeddings, name="add_positions")(encoded_patches)

    # Calculate Stochastic Depth probabilities.
    dpr = [x for x in np.linspace(0, stochastic_depth_rate, transformer_layers)]

    # Create multiple layers of the Transformer block.
    for i in range(transformer_layers):
        # Layer normalization 1.
        x1 = layers.LayerNormalization(epsilon=1e-5)(encoded_patches)

        # Create a multi-head attention layer.
        attention_output = layers.MultiHeadAttention(num_heads=num_heads, key_dim=projection_dim, dropout=0.1)(x1, x1)

        # Skip connection 1.
        attention_output = StochasticDepth(dpr[i])(attention_output)
        x2 = layers.Add()([attention_output, encoded_patches])

        # Layer normalization 2.
        x3 = layers.LayerNormalization(epsilon=1e-5)(x2)

        # MLP.
        x3 = mlp(x3, hidden_units=transformer_units, dropout_rate=0.1)

        # Skip connection 2.
        x3 = StochasticDepth(dpr[i])(x3)
        encoded_patches = layers.Add()([x3, x2])

    # Apply sequence pooling.
    representation = layers.LayerNormalization(epsilon=1e-5)(encoded_patches)
    attention_weights = layers.Lambda(lambda t: torch.softmax(t, dim=1))(layers.Dense(1)(representation))
    weighted_representation = layers.Lambda(lambda ar: torch.matmul(ar[0].transpose(1, 2), ar[1]))(
        [attention_weights, representation]
    )
    weighted_representation = layers.Lambda(lambda t: torch.squeeze(t, -2))(weighted_representation)

    # Classify outputs.
    logits = layers.Dense(num_classes)(weighted_representation)
    # Create the Keras model.
    model = keras.Model(inputs=inputs, outputs=logits)
    return model, position_embeddings


# ---------------------------------------------------------------- the pieces

def test_the_tokenizer_reads_its_feature_map_row_by_row():
    """Section "The CCT tokenizer"."""
    keras.utils.set_random_seed(0)
    tokenizer = CCTTokenizer()
    images = torch.rand(2, image_size, image_size, 1)
    sequence = tokenizer(images)
    feature_map = tokenizer.conv_model(images)  # 28 -> conv 26 -> pad 28 -> pool 14 -> conv 12 -> pad 14 -> pool 7
    assert tuple(feature_map.shape) == (2, 7, 7, 32)
    assert tuple(sequence.shape) == (2, 49, 32)
    np.testing.assert_array_equal(sequence[1, 3 * 7 + 5].detach().numpy(), feature_map[1, 3, 5].detach().numpy())
    pos_embed, seq_length = tokenizer.positional_embedding(image_size)
    assert seq_length == 49 and pos_embed.output_dim == 32 and pos_embed.input_dim == 49
    assert CCTTokenizer(positional_emb=False).positional_embedding(image_size) is None
    # the example's table as it comes from the Embedding still carries autograd's graph: refused in a Lambda
    position_embeddings = pos_embed(torch.arange(start=0, end=seq_length, step=1))
    with pytest.raises(ValueError, match=r"position_embeddings = position_embeddings\.detach\(\)"):
        layers.Lambda(lambda t: t + position_embeddings)


def test_the_examples_torch_call_on_a_symbolic_tensor_is_refused_with_the_fix():
    """The example's ``tf.nn.softmax(layers.Dense(1)(representation), axis=1)`` written with torch."""
    representation = layers.Input((49, projection_dim))
    with pytest.raises(TypeError, match="Lambda"):
        torch.softmax(layers.Dense(1)(representation), dim=1)


def test_stochastic_depth_keeps_or_drops_whole_samples():
    """Section "Stochastic depth for regularization": y = x · floor(keep + u) / keep, u ~ U[0, 1) per sample."""
    layer = StochasticDepth(0.25)
    x = torch.rand(4000, 3, 5) + 0.5
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # inference: the identity
    torch.manual_seed(0)
    y = layer(x, training=True).numpy()
    ratio = y / x.numpy()
    per_sample = ratio.reshape(4000, -1)
    np.testing.assert_allclose(per_sample, np.repeat(per_sample[:, :1], 15, axis=1), rtol=1e-6)  # one draw a sample
    kept = per_sample[:, 0] > 0
    np.testing.assert_allclose(per_sample[kept], 1 / 0.75, rtol=1e-6)  # kept samples scaled by 1 / keep_prob
    assert np.all(per_sample[~kept] == 0)
    dropped = np.mean(~kept)
    assert abs(dropped - 0.25) < 0.03, dropped
    torch.manual_seed(0)  # the same draw as NumPy computes it from torch's uniforms
    u = torch.rand(4000, 1, 1).numpy()
    np.testing.assert_allclose(y, x.numpy() / 0.75 * np.floor(0.75 + u), rtol=1e-6)


# ---------------------------------------------------------------- training

@pytest.fixture(scope="module")
def fashion(fashion_dir):
    """Section "Load CIFAR-10 dataset", on Fashion-MNIST: uint8 images with a channel axis, one-hot labels."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train = x_train[:4000, ..., None], y_train[:4000, None]
    x_test, y_test = x_test[:1000, ..., None], y_test[:1000, None]
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    return (x_train, y_train), (x_test, y_test)


@pytest.fixture(scope="module")
def trained(fashion, tmp_path_factory):
    """Section "Model training and evaluation"."""
    (x_train, y_train), (x_test, y_test) = fashion

    def run_experiment(model):
        optimizer = keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001)

        model.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
            metrics=[
                keras.metrics.CategoricalAccuracy(name="accuracy"),
                keras.metrics.TopKCategoricalAccuracy(5, name="top-5-accuracy"),
            ],
        )

        checkpoint_filepath = str(tmp_path_factory.mktemp("cct") / "checkpoint.weights.h5")
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
        return history, accuracy, top_5_accuracy

    keras.utils.set_random_seed(0)
    cct_model, position_embeddings = create_cct_model()
    table = position_embeddings.detach().clone()
    history, accuracy, top_5_accuracy = run_experiment(cct_model)
    return cct_model, position_embeddings, table, history, accuracy, top_5_accuracy


def test_the_sequence_pooling_is_a_softmax_weighted_sum_of_the_tokens(fashion, trained):
    """Section "The final CCT model": sequence pooling, against NumPy on the trained model's tokens."""
    _, (x_test, _) = fashion
    cct_model = trained[0]
    scorer = next(layer for layer in cct_model.layers if isinstance(layer, layers.Dense) and layer.units == 1)
    head = cct_model.layers[-1]
    probe = keras.Model(cct_model.input, [scorer.input, head.input])
    representation, pooled = probe.predict(x_test[:8], verbose=0)
    assert representation.shape == (8, 49, projection_dim) and pooled.shape == (8, projection_dim)
    w, b = (np.asarray(v, "float64") for v in scorer.get_weights())
    scores = representation.astype("float64") @ w + b  # (8, 49, 1)
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)  # softmax over the 49 tokens
    np.testing.assert_allclose(pooled, (weights * representation).sum(axis=1), rtol=1e-4, atol=1e-5)


def test_the_cct_learns_fashion_mnist_and_reloads_its_best_checkpoint(fashion, trained):
    """Section "Model training and evaluation" and the loss plot's History."""
    (x_train, y_train), (x_test, y_test) = fashion
    cct_model, position_embeddings, table, history, accuracy, top_5_accuracy = trained
    losses = history.history["loss"]
    assert len(losses) == num_epochs and losses[-1] < losses[0], losses
    assert set(history.history) >= {"accuracy", "top-5-accuracy", "val_loss", "val_accuracy", "val_top-5-accuracy"}
    # the reloaded weights are the best epoch's: the validation slice (the last 10%) scores its best
    _, best_val_accuracy, _ = cct_model.evaluate(x_train[-400:], y_train[-400:], verbose=0)
    np.testing.assert_allclose(best_val_accuracy, max(history.history["val_accuracy"]), atol=1e-6)
    logits = cct_model.predict(x_test, verbose=0)
    labels = y_test.argmax(-1)
    np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == labels), atol=1e-6)
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    np.testing.assert_allclose(top_5_accuracy, np.mean((top5 == labels[:, None]).any(-1)), atol=1e-6)
    assert accuracy > 0.5 and top_5_accuracy >= accuracy, (accuracy, top_5_accuracy)  # chance: 0.1
    # tf.keras semantics: the position table is a constant of the graph, not a weight of the model
    np.testing.assert_array_equal(position_embeddings.detach().numpy(), table.numpy())
    assert all(p is not position_embeddings for p in cct_model.parameters())
    weights = sum(int(np.prod(w.shape)) for w in cct_model.trainable_weights)
    assert weights == cct_model.count_params() - sum(int(np.prod(w.shape)) for w in cct_model.non_trainable_weights)
