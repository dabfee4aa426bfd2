"""Integer and bool inputs to layers that compute with floating-point weights:
as in Keras 3, ``Dense(3)(np.arange(6).reshape(2, 3))``, a Conv2D on uint8
pixels, an LSTM on integer counts give what the same values as float32 give
(the input meets float weights and is promoted), called directly or through
``predict``; layers that take integers on purpose (Embedding, the lookups) and
layers without floating weights (Flatten) keep them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (
    LSTM, RNN, Bidirectional, Conv2D, Dense, Embedding, Flatten, Input, IntegerLookup, Layer, LSTMCell,
    MultiHeadAttention, StringLookup, TimeDistributed, TorchModuleWrapper, TransformerEncoder,
)
from brainnet.models import Model, Sequential

RNG = np.random.default_rng(0)
INT_VALUES = RNG.integers(0, 2, (4, 3))  # 0/1, so the same values hold as int64, uint8 and bool


def _as(values: np.ndarray, dtype: str, tensor: bool):
    a = values.astype(dtype)
    return torch.from_numpy(a) if tensor else a


KINDS = [(d, t) for d in ("int64", "int32", "uint8", "bool") for t in (False, True)]


@pytest.mark.parametrize("dtype,tensor", KINDS)
def test_dense_on_integers_matches_numpy(dtype, tensor):
    """y = x·W + b with x promoted to float: the naive NumPy product, and the float32 input's output."""
    layer = Dense(2)
    expected_float = layer(INT_VALUES.astype("float32"))
    w, b = (p.astype(np.float64) for p in layer.get_weights())
    y = layer(_as(INT_VALUES, dtype, tensor))
    assert y.dtype == torch.float32
    naive = np.array([[sum(INT_VALUES[n, k] * w[k, j] for k in range(3)) + b[j] for j in range(2)]
                      for n in range(4)])
    np.testing.assert_allclose(y.detach().numpy(), naive, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(y, expected_float, rtol=0, atol=0)


def test_dense_first_called_on_integers_keeps_float32_weights():
    layer = Dense(3)
    y = layer(np.arange(6).reshape(2, 3))
    assert y.dtype == torch.float32 and layer.kernel.dtype == torch.float32
    assert tuple(y.shape) == (2, 3)


def test_float64_layer_promotes_integers_to_float64():
    layer = Dense(2)
    layer(np.zeros((1, 3), "float32"))
    layer.double()
    y = layer(torch.arange(6).reshape(2, 3))
    assert y.dtype == torch.float64
    np.testing.assert_allclose(y.detach().numpy(), np.arange(6.0).reshape(2, 3) @ layer.get_weights()[0]
                               + layer.get_weights()[1], rtol=1e-12)


@pytest.mark.parametrize("dtype,tensor", [("uint8", False), ("uint8", True), ("int64", False), ("bool", True)])
def test_conv2d_on_integer_images(dtype, tensor):
    images = RNG.integers(0, 255 if dtype != "bool" else 2, (2, 6, 6, 3))
    layer = Conv2D(4, 3, activation="relu")
    expected = layer(images.astype("float32"))
    torch.testing.assert_close(layer(_as(images, dtype, tensor)), expected, rtol=0, atol=0)


@pytest.mark.parametrize("dtype,tensor", [("int64", False), ("int32", True), ("bool", False)])
def test_lstm_on_integer_sequences(dtype, tensor):
    seq = RNG.integers(0, 2, (2, 5, 3))
    layer = LSTM(4, return_sequences=True)
    expected = layer(seq.astype("float32"))
    torch.testing.assert_close(layer(_as(seq, dtype, tensor)), expected, rtol=0, atol=0)


@pytest.mark.parametrize("tensor", [False, True])
def test_multi_head_attention_on_integer_query_and_value(tensor):
    q, v = RNG.integers(0, 5, (2, 4, 3)), RNG.integers(0, 5, (2, 6, 3))
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    expected = layer(q.astype("float32"), v.astype("float32"))
    got = layer(_as(q, "int64", tensor), _as(v, "uint8", tensor))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def _functional() -> Model:
    inputs = Input(shape=(3,))
    return Model(inputs, Dense(2, activation="softmax")(Dense(5, activation="relu")(inputs)))


def _sequential() -> Sequential:
    return Sequential([Input(shape=(3,)), Dense(5, activation="relu"), Dense(2, activation="softmax")])


@pytest.mark.parametrize("make", [_functional, _sequential])
@pytest.mark.parametrize("dtype,tensor", KINDS)
def test_models_called_and_predicting_on_integers(make, dtype, tensor):
    model = make()
    expected = model(INT_VALUES.astype("float32")).detach().numpy()
    x = _as(INT_VALUES, dtype, tensor)
    np.testing.assert_array_equal(model(x).detach().numpy(), expected)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_evaluate_on_uint8_images():
    images = RNG.integers(0, 255, (8, 4, 4, 1)).astype("uint8")
    model = Sequential([Input(shape=(4, 4, 1)), Conv2D(2, 3), Flatten(), Dense(1)])
    model.compile(loss="mse")
    y = np.zeros((8, 1), "float32")
    assert model.evaluate(images, y, verbose=0) == pytest.approx(model.evaluate(images.astype("float32"), y,
                                                                                verbose=0), rel=1e-6)


def test_embedding_keeps_integers_and_still_refuses_fractions():
    layer = Embedding(10, 2)
    ids = np.array([[1, 2, 9]])
    y = layer(ids)
    np.testing.assert_array_equal(y.detach().numpy()[0], layer.get_weights()[0][[1, 2, 9]])
    with pytest.raises(ValueError, match="expected integer token indices, got non-integer values such as 1.5.*Fix:"):
        layer(np.array([[1.5, 2.0]]))


def test_integer_models_keep_their_ids():
    """A model of an Embedding, a lookup or a wrapped Embedding gets its integers as they are."""
    ids = torch.tensor([[3, 1, 4], [1, 5, 9]])
    inputs = Input(shape=(3,), dtype="int64")
    embed = Embedding(10, 2)
    model = Model(inputs, embed(inputs))
    np.testing.assert_array_equal(model(ids).detach().numpy(), embed.get_weights()[0][ids.numpy()])
    lookup = IntegerLookup(vocabulary=[3, 1, 4])
    assert lookup(ids).dtype == torch.int64
    wrapped = TimeDistributed(Embedding(10, 2))
    assert tuple(wrapped(ids[:, :, None]).shape) == (2, 3, 1, 2)
    module = torch.nn.Embedding(10, 2)
    np.testing.assert_array_equal(TorchModuleWrapper(module)(ids).detach().numpy(),
                                  module.weight.detach().numpy()[ids.numpy()])
    words = StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert words(torch.tensor([1, 3])).tolist() == ["a", "c"]


def test_layers_without_float_weights_keep_integers():
    """Flatten has no weights for an integer to meet: int64 in, int64 out (Keras 3 too)."""
    y = Flatten()(torch.arange(12).reshape(2, 3, 2))
    assert y.dtype == torch.int64 and y.tolist() == [list(range(6)), list(range(6, 12))]


@pytest.mark.parametrize("make", [lambda: RNN(LSTMCell(4)), lambda: Bidirectional(LSTM(2)),
                                  lambda: TransformerEncoder(intermediate_dim=8, num_heads=1)])
def test_layers_made_of_layers_promote_inside(make):
    """RNN's cell, Bidirectional's LSTMs, the Transformer's normalization and attention meet the integers."""
    seq = RNG.integers(0, 3, (2, 5, 3))
    layer = make()
    expected = layer(seq.astype("float32"))
    torch.testing.assert_close(layer(torch.from_numpy(seq)), expected, rtol=0, atol=0)


class TokensAndPositions(Layer):
    """A layer of one's own made of two Embeddings (the miniature GPT's): it has no weights of its
    own, so its integer tokens reach call as they are, as in Keras."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.tokens, self.positions = Embedding(20, 4), Embedding(8, 4)

    def call(self, x):
        self.seen = x.dtype
        return self.tokens(x) + self.positions(torch.arange(x.shape[1]))


def test_a_layer_of_ones_own_made_of_embeddings_gets_its_integers():
    layer = TokensAndPositions()
    y = layer(np.array([[1, 2, 19], [0, 5, 7]]))
    assert layer.seen == torch.int64 and tuple(y.shape) == (2, 3, 4)
