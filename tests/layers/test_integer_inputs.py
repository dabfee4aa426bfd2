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


# ------------------------------------------------------------ layers without weights
def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


COUNTS = RNG.integers(0, 5, (2, 4, 4, 3))  # small counts: exact in every integer dtype and float32


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_float_math_layers_take_integers_as_float32(dtype):
    """Keras 3's ops promote an integer input of exp, mean, ... to float32: the
    layers whose result is a fraction give what the float32 values give, and
    their NumPy equation; torch alone has no integer kernel for most of them."""
    from brainnet.layers import (ELU, Activation, Average, AveragePooling1D, AveragePooling2D,
                                 GlobalAveragePooling1D, GlobalAveragePooling2D, LeakyReLU, Softmax,
                                 UpSampling2D)

    x = (COUNTS > 2 if dtype == "bool" else COUNTS).astype(dtype)
    f = x.astype(np.float64)
    seq = x[:, 0]  # (2, 4, 3)
    naive = {  # the docstring equations, in float64
        "softmax": _softmax(f), "mean_pool": f.reshape(2, 2, 2, 2, 2, 3).mean(axis=(2, 4)),
        "global_mean": f.mean(axis=(1, 2)), "average": (f + 2 * f) / 2,
    }
    cases = [
        (Softmax(), x, naive["softmax"]), (Activation("softmax"), x, naive["softmax"]),
        (AveragePooling2D(2), x, naive["mean_pool"]), (GlobalAveragePooling2D(), x, naive["global_mean"]),
        (Average(), [x, (2 * x.astype("int64")).astype(x.dtype) if dtype != "bool" else x],
         naive["average"] if dtype != "bool" else f),
        (AveragePooling1D(2), seq, f[:, 0].reshape(2, 2, 2, 3).mean(axis=2)),
        (GlobalAveragePooling1D(), seq, f[:, 0].mean(axis=1)),
        (ELU(), x, f), (LeakyReLU(), x, f),  # non-negative counts: both are the identity
        (Activation("sigmoid"), x, 1 / (1 + np.exp(-f))),
        (UpSampling2D(2, interpolation="bilinear"), x, None),
    ]
    for layer, inputs, expected in cases:
        as_float = [a.astype("float32") for a in inputs] if isinstance(inputs, list) else inputs.astype("float32")
        tensors = [torch.from_numpy(a) for a in inputs] if isinstance(inputs, list) else torch.from_numpy(inputs)
        y = layer(tensors)
        assert y.dtype == torch.float32, type(layer).__name__
        torch.testing.assert_close(y, layer(as_float), rtol=0, atol=0)
        if expected is not None:
            np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-6, err_msg=type(layer).__name__)


def test_integer_closed_layers_keep_integers_as_keras():
    """ReLU, max pooling, nearest upsampling: integers in, the same integers out (Keras 3 keeps
    integer inputs; these ops need no fraction), where torch alone refuses some of them."""
    from brainnet.layers import (Activation, GlobalMaxPooling2D, MaxPooling1D, MaxPooling2D, ReLU, UpSampling2D,
                                 UpSampling3D)

    x = torch.from_numpy(COUNTS - 2)  # int64, some negative
    n = x.numpy()
    assert ReLU()(x).dtype == torch.int64 and ReLU()(x).tolist() == np.maximum(n, 0).tolist()
    assert Activation("relu")(x).tolist() == np.maximum(n, 0).tolist()
    assert MaxPooling2D(2)(x).tolist() == n.reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)).tolist()
    assert GlobalMaxPooling2D()(x).tolist() == n.max(axis=(1, 2)).tolist()
    seq = x[:, 0]  # (2, 4, 3)
    pooled = MaxPooling1D(3, strides=2, padding="same")(seq)  # windows [0..2], [2..3] (padded after)
    assert pooled.dtype == torch.int64
    assert pooled.tolist() == np.stack([seq.numpy()[:, 0:3].max(1), seq.numpy()[:, 2:4].max(1)], axis=1).tolist()
    torch.testing.assert_close(pooled.float(), MaxPooling1D(3, strides=2, padding="same")(seq.float()))
    up = UpSampling2D((2, 3))(x)
    assert up.dtype == torch.int64 and up.tolist() == n.repeat(2, axis=1).repeat(3, axis=2).tolist()
    vol = x[:1].reshape(1, 2, 2, 4, 3)
    up3 = UpSampling3D(2)(vol)
    assert up3.dtype == torch.int64
    assert up3.tolist() == vol.numpy().repeat(2, 1).repeat(2, 2).repeat(2, 3).tolist()


def test_dropout_keeps_integers_at_inference_and_refuses_them_in_training():
    from brainnet.layers import Dropout, GaussianNoise, SpatialDropout1D

    x = torch.from_numpy(COUNTS[:, 0])  # (2, 4, 3) int64
    for layer in (Dropout(0.5, name="drop"), SpatialDropout1D(0.5, name="drop"), GaussianNoise(0.1, name="drop")):
        assert torch.equal(layer(x), x)  # inference: the identity
        with pytest.raises(TypeError, match=rf"Layer 'drop' \({type(layer).__name__}\): expected floating-point "
                                            r"inputs, got torch\.int64\. Fix: x = x\.astype\('float32'\), or put "
                                            r"the layer after one that makes floats"):
            layer(x, training=True)


def test_a_model_of_weightless_layers_predicts_on_uint8_images():
    from brainnet.layers import AveragePooling2D, GlobalAveragePooling2D, Softmax

    inputs = Input(shape=(4, 4, 3), dtype="uint8")
    model = Model(inputs, Softmax()(GlobalAveragePooling2D()(AveragePooling2D(2)(inputs))))
    images = COUNTS.astype("uint8")
    out = model.predict(images, verbose=0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, _softmax(images.astype(np.float64).mean(axis=(1, 2))), rtol=1e-6, atol=1e-6)
