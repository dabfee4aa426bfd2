"""Keras 3's guide "Understanding masking & padding" (keras-io
guides/keras_core/understanding_masking_and_padding.py), ported as a learner
would: ``import brainnet as keras``, ``from brainnet import layers``, and the
``ops.*`` calls in their torch spellings (docs/keras.md). Each test runs one
section of the guide and checks what it computes against NumPy, or against
the same network run on the sequences without their padding.

The guide needed three fixes: masks carried on tensors (``x._keras_mask``,
from eager calls and on symbolic tensors), the mask handed to a custom
layer's ``call(mask=)`` while a functional graph is built, and
``add_weight(dtype=)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

RAW_INPUTS = [[711, 632, 71], [73, 8, 3215, 55, 927], [83, 91, 1, 645, 1253, 927]]


def _padded() -> np.ndarray:
    return keras.utils.pad_sequences(RAW_INPUTS, padding="post")


def _unpadded_outputs(model, padded: np.ndarray) -> torch.Tensor:
    """The model run on each sequence alone, without its padding."""
    return torch.cat([model(row[row != 0][None]) for row in padded])


def test_padding_and_the_masks_that_embedding_and_masking_attach():
    """Sections "Padding sequence data" and "Mask-generating layers: Embedding and Masking"."""
    padded_inputs = _padded()
    np.testing.assert_array_equal(
        padded_inputs, [[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0], [83, 91, 1, 645, 1253, 927]]
    )

    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    assert masked_output._keras_mask.dtype == torch.bool
    np.testing.assert_array_equal(masked_output._keras_mask.numpy(), padded_inputs != 0)

    masking_layer = layers.Masking()
    # ops.cast(ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), dtype="float32")
    unmasked_embedding = torch.tile(torch.unsqueeze(torch.as_tensor(padded_inputs), -1), (1, 1, 10)).to(torch.float32)
    masked_embedding = masking_layer(unmasked_embedding)
    expected = (unmasked_embedding.numpy() != 0.0).any(axis=-1)
    np.testing.assert_array_equal(masked_embedding._keras_mask.numpy(), expected)
    # a layer without a mask attaches none
    assert getattr(layers.Embedding(5000, 16)(padded_inputs), "_keras_mask", None) is None


def test_sequential_and_functional_models_hand_the_mask_to_the_lstm():
    """Section "Mask propagation in the Functional API and Sequential API"."""
    torch.manual_seed(0)
    padded_inputs = _padded()
    sequential = keras.Sequential([layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True), layers.LSTM(32)])
    out = sequential(padded_inputs)
    torch.testing.assert_close(out, _unpadded_outputs(sequential, padded_inputs), rtol=0, atol=1e-6)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)
    model = keras.Model(inputs, outputs)
    assert x._keras_mask.shape == (None, None) and x._keras_mask.dtype == torch.bool
    torch.testing.assert_close(model(padded_inputs), _unpadded_outputs(model, padded_inputs), rtol=0, atol=1e-6)


class MyLayer(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
        self.lstm = layers.LSTM(32)

    def call(self, inputs):
        x = self.embedding(inputs)
        mask = self.embedding.compute_mask(inputs)
        output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
        return output


def test_a_mask_passed_by_hand_and_a_mask_carried_by_the_tensor_give_the_same_lstm_output():
    """Section "Passing mask tensors directly to layers"."""
    torch.manual_seed(1)
    layer = MyLayer()
    x = np.random.default_rng(0).random((32, 10)) * 100
    x = x.astype("int32")
    x[:, 6:] = 0  # padding, so that the mask matters
    out = layer(x)
    assert tuple(out.shape) == (32, 32)
    alone = torch.cat([layer.lstm(layer.embedding(row[row != 0][None])) for row in x])
    torch.testing.assert_close(out, alone, rtol=0, atol=1e-6)
    # Keras 3 also hands a tensor's own mask to the next layer called by hand.
    carried = layer.lstm(layer.embedding(x))
    torch.testing.assert_close(carried, out, rtol=0, atol=0)


class TemporalSplit(keras.layers.Layer):
    """Split the input tensor into 2 tensors along the time dimension."""

    def call(self, inputs):
        return torch.chunk(inputs, 2, dim=1)  # ops.split(inputs, 2, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return torch.chunk(mask, 2, dim=1)


def test_a_layer_that_splits_time_splits_the_mask_eagerly_and_in_a_graph():
    """Section "Supporting masking in your custom layers" (TemporalSplit)."""
    padded_inputs = _padded()
    masked_embedding = layers.Masking()(torch.as_tensor(padded_inputs, dtype=torch.float32)[..., None])
    first_half, second_half = TemporalSplit()(masked_embedding)
    mask = padded_inputs != 0
    np.testing.assert_array_equal(first_half._keras_mask.numpy(), mask[:, :3])
    np.testing.assert_array_equal(second_half._keras_mask.numpy(), mask[:, 3:])

    inputs = keras.Input(shape=(6,), dtype="int32")
    first, second = TemporalSplit()(layers.Embedding(5000, 4, mask_zero=True)(inputs))
    assert first._keras_mask.shape == (None, 3) and second._keras_mask.shape == (None, 3)
    model = keras.Model(inputs, [layers.LSTM(5)(first), layers.LSTM(5)(second)])
    outputs = model(padded_inputs)
    # the second half of the first sequence is all padding: its LSTM output stays zero
    torch.testing.assert_close(outputs[1][0], torch.zeros(5))
    assert outputs[1][1].abs().sum() > 0


class CustomEmbedding(keras.layers.Layer):
    def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.mask_zero = mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer="random_normal",
            dtype="float32",
        )

    def call(self, inputs):
        inputs = inputs.to(torch.int32)  # ops.cast(inputs, "int32")
        return self.embeddings[inputs]  # ops.take(self.embeddings, inputs)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return torch.ne(torch.as_tensor(inputs), 0)  # ops.not_equal(inputs, 0)


def test_a_custom_embedding_with_add_weight_dtype_looks_up_rows_and_makes_a_mask():
    """Section "Supporting masking in your custom layers" (CustomEmbedding)."""
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.default_rng(2).random((3, 10)) * 9
    x = x.astype("int32")
    y = layer(x)
    mask = layer.compute_mask(x)
    assert layer.embeddings.dtype == torch.float32 and tuple(layer.embeddings.shape) == (10, 32)
    np.testing.assert_allclose(y.detach().numpy(), layer.embeddings.detach().numpy()[x])
    np.testing.assert_array_equal(mask.numpy(), x != 0)
    # its own compute_mask makes it a mask-making layer, as in Keras
    np.testing.assert_array_equal(y._keras_mask.numpy(), x != 0)


class MyActivation(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Signal that the layer is safe for mask propagation
        self.supports_masking = True

    def call(self, inputs):
        return torch.relu(inputs)  # ops.relu(inputs)


class PlainActivation(keras.layers.Layer):
    def call(self, inputs):
        return torch.relu(inputs)


def test_a_layer_that_opts_in_passes_the_mask_on_and_one_that_does_not_ends_it():
    """Section "Opting-in to mask propagation on compatible layers"."""
    torch.manual_seed(3)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    assert x._keras_mask is not None and x._keras_mask.shape == (None, None)
    outputs = layers.LSTM(32)(x)  # Will receive the mask
    model = keras.Model(inputs, outputs)
    data = np.random.default_rng(3).integers(0, 5000, size=(32, 100))
    data[:, 60:] = 0
    y = model(data)
    assert tuple(y.shape) == (32, 32)
    torch.testing.assert_close(y[:4], _unpadded_outputs(model, data[:4]), rtol=0, atol=1e-6)

    dropped = r"\(PlainActivation\) was given inputs that carry a time-step mask, but it does not support masking.*Fix: "
    with pytest.warns(UserWarning, match=dropped) as caught:  # Keras 3 warns so too
        cut = PlainActivation()(layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs))
    assert cut._keras_mask is None and len(caught) == 1 and caught[0].filename == __file__
    with pytest.warns(UserWarning, match=dropped):
        eager = PlainActivation()(layers.Embedding(50, 4, mask_zero=True)(np.array([[3, 0]])))
    assert getattr(eager, "_keras_mask", None) is None


class TemporalSoftmax(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        assert mask is not None
        broadcast_float_mask = torch.unsqueeze(mask.to(torch.float32), -1)
        inputs_exp = torch.exp(inputs) * broadcast_float_mask
        inputs_sum = torch.sum(inputs_exp * broadcast_float_mask, dim=-1, keepdim=True)
        return inputs_exp / inputs_sum


def test_a_layer_that_reads_the_mask_gets_it_while_the_graph_is_built_and_when_it_runs():
    """Section "Writing layers that need mask information"."""
    torch.manual_seed(4)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    dense = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(dense)
    model = keras.Model(inputs, outputs)
    tokens = np.random.default_rng(4).integers(0, 10, size=(32, 100))
    y = model(tokens).detach().numpy()
    # NumPy of the guide's formula (its sum runs over the last axis, of size 1)
    logits = keras.Model(inputs, dense)(tokens).detach().numpy()
    m = (tokens != 0).astype("float32")[..., None]
    with np.errstate(invalid="ignore"):
        expected = np.exp(logits) * m / (np.exp(logits) * m * m).sum(axis=-1, keepdims=True)
    assert tuple(y.shape) == (32, 100, 1)
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert np.isnan(y[tokens == 0]).all() and np.allclose(y[tokens != 0], 1.0)


def test_add_weight_refuses_an_unknown_dtype_and_an_integer_trainable_weight():
    """Section "Supporting masking in your custom layers": add_weight(dtype=) errors."""
    layer = layers.Layer()
    with pytest.raises(ValueError, match=r"expected dtype to be a dtype name .* got 'float33'.*Fix: "):
        layer.add_weight(shape=(2,), initializer="zeros", dtype="float33")
    with pytest.raises(ValueError, match=r"expected a floating dtype for a trainable weight.*Fix: .*trainable=False"):
        layer.add_weight(shape=(2,), initializer="zeros", dtype="int64")
    counts = layer.add_weight(shape=(2,), initializer="zeros", dtype="int64", trainable=False, name="counts")
    assert counts.dtype == torch.int64 and layer.non_trainable_weights[0] is counts


@pytest.mark.parametrize("make", [lambda: layers.LayerNormalization(), lambda: layers.UnitNormalization(),
                                  lambda: layers.GroupNormalization(groups=4)],
                         ids=["LayerNormalization", "UnitNormalization", "GroupNormalization"])
def test_normalization_layers_pass_the_mask_on_to_the_lstm_as_keras(make):
    """Section "Mask propagation in the Functional API and Sequential API", through the
    normalization layers that Keras 3 marks as supporting masks."""
    torch.manual_seed(5)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = make()(layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs))
    assert x._keras_mask is not None
    lstm = layers.LSTM(8)
    model = keras.Model(inputs, lstm(x))
    padded_inputs = _padded()
    features = keras.Model(inputs, x)(padded_inputs).clone()  # a clone carries no mask
    masked = lstm(features, mask=torch.as_tensor(padded_inputs != 0))
    torch.testing.assert_close(model(padded_inputs), masked, rtol=0, atol=1e-6)
    assert not torch.allclose(lstm(features), masked)


def test_merging_layers_join_the_masks_as_keras():
    """Section "Supporting masking in your custom layers": layers that change the mask
    (Add: real where every input is; Concatenate on time: the masks one after the other;
    on the features: real where any input is)."""
    a = np.array([[4, 5, 0, 0], [1, 2, 3, 0]])
    b = np.array([[7, 0, 0, 0], [1, 2, 3, 4]])
    emb_a, emb_b = layers.Embedding(10, 3, mask_zero=True), layers.Embedding(10, 3, mask_zero=True)
    xa, xb = emb_a(a), emb_b(b)
    np.testing.assert_array_equal(layers.Add()([xa, xb])._keras_mask.numpy(), (a != 0) & (b != 0))
    np.testing.assert_array_equal(layers.Concatenate(axis=1)([xa, xb])._keras_mask.numpy(),
                                  np.concatenate([a != 0, b != 0], axis=1))
    np.testing.assert_array_equal(layers.Concatenate()([xa, xb])._keras_mask.numpy(), (a != 0) | (b != 0))
    np.testing.assert_array_equal(layers.Concatenate()([xa, torch.zeros(2, 4, 2)])._keras_mask.numpy(),
                                  np.ones((2, 4), bool))
    assert getattr(layers.Dot(axes=2)([xa, xb]), "_keras_mask", None) is None

    torch.manual_seed(6)
    ia, ib = keras.Input(shape=(4,), dtype="int64"), keras.Input(shape=(4,), dtype="int64")
    summed = layers.Add()([layers.Embedding(10, 3, mask_zero=True)(ia), layers.Embedding(10, 3, mask_zero=True)(ib)])
    assert summed._keras_mask.shape == (None, 4)
    lstm = layers.LSTM(5)
    model = keras.Model([ia, ib], lstm(summed))
    features = keras.Model([ia, ib], summed)([a, b])
    both = (a != 0) & (b != 0)
    alone = torch.cat([lstm(features[i : i + 1, both[i]]) for i in range(2)])
    torch.testing.assert_close(model([a, b]), alone, rtol=0, atol=1e-6)


def test_batch_normalization_learns_its_statistics_from_the_real_steps_only():
    """Section "Mask propagation in the Functional API and Sequential API", through
    BatchNormalization (Keras 3 takes the batch's moments over the unmasked steps)."""
    rng = np.random.default_rng(7)
    x = rng.normal(2.0, 3.0, size=(4, 6, 3)).astype("float32")
    mask = np.ones((4, 6), bool)
    mask[0, 3:] = mask[2, 1:] = False
    x[~mask] = 100.0  # padding far from the data: it must not move the statistics
    bn = layers.BatchNormalization(momentum=0.9)
    y = bn(torch.as_tensor(x), training=True, mask=torch.as_tensor(mask)).detach().numpy()
    real = x[mask]  # (n, 3)
    mean, var = real.mean(axis=0), real.var(axis=0)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-4)
    n = len(real)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5)
    with pytest.raises(ValueError, match=r"expected a mask of one axis fewer than the inputs \(4, 6, 3\), got one "
                                         r"of shape \(4, 6, 3\)\. Fix: "):
        bn(torch.as_tensor(x), training=True, mask=torch.ones(4, 6, 3, dtype=torch.bool))
    # Frozen (trainable = False), it infers even when told to train with a mask, as Keras 3.
    bn.trainable = False
    before = bn.moving_mean.clone(), bn.moving_variance.clone()
    y = bn(torch.as_tensor(x), training=True, mask=torch.as_tensor(mask)).detach().numpy()
    np.testing.assert_allclose(y, (x - before[0].numpy()) / np.sqrt(before[1].numpy() + 1e-3), rtol=1e-5, atol=1e-5)
    assert torch.equal(bn.moving_mean, before[0]) and torch.equal(bn.moving_variance, before[1])

    torch.manual_seed(7)
    inputs = keras.Input(shape=(None,), dtype="int32")
    normed = layers.BatchNormalization()(layers.Embedding(5000, 4, mask_zero=True)(inputs))
    assert normed._keras_mask is not None
    model = keras.Model(inputs, layers.LSTM(3)(normed))
    model.eval()
    padded_inputs = _padded()
    torch.testing.assert_close(model(padded_inputs), _unpadded_outputs(model, padded_inputs), rtol=0, atol=1e-6)


def test_a_mask_on_integer_inputs_survives_their_cast_to_the_weights_dtype():
    """A layer with float weights computes integer inputs as floats (a new tensor):
    the mask those inputs carry still reaches its call(mask=) and its output, as in Keras."""

    class Scale(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True
            self.seen = None

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs, mask=None):
            self.seen = mask
            return inputs * self.w

    tokens = torch.as_tensor(_padded())[..., None]  # (3, 6, 1) int64
    tokens._keras_mask = tokens[..., 0] != 0
    layer = Scale()
    y = layer(tokens)
    assert y.dtype == torch.float32
    np.testing.assert_array_equal(y.detach().numpy(), _padded()[..., None].astype("float32"))
    np.testing.assert_array_equal(layer.seen.numpy(), _padded() != 0)
    np.testing.assert_array_equal(y._keras_mask.numpy(), _padded() != 0)
