"""Embedding against its docstring equation y[n, t] = W[x[n, t]] (a naive
NumPy row lookup, float64, exact: a lookup does no arithmetic), its mask, and
the errors that keep non-indices out."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
import torch

from brainnet.layers import LSTM, Embedding
from brainnet.models import Sequential


def naive_lookup(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """y[idx] = W[x[idx]], one index at a time."""
    y = np.zeros(x.shape + (w.shape[1],))
    for idx in np.ndindex(*x.shape):
        y[idx] = w[int(x[idx])]
    return y


@pytest.mark.parametrize("shape", [(5,), (3, 7), (2, 3, 4)])
def test_embedding_matches_naive_lookup(shape):
    layer = Embedding(10, 4)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 10, shape))
    layer(x)
    layer.double()
    w = np.random.default_rng(1).normal(size=(10, 4))
    layer.set_weights([w])
    y = layer(x)
    assert y.dtype == torch.float64 and tuple(y.shape) == shape + (4,)
    np.testing.assert_array_equal(y.detach().numpy(), naive_lookup(x.numpy(), w))


def test_whole_number_floats_are_indices():
    """fit() hands the model float inputs: whole-number floats look up the same rows."""
    layer = Embedding(6, 3)
    x = torch.tensor([[0, 5, 2], [1, 1, 4]])
    expected = layer(x)
    torch.testing.assert_close(layer(x.float()), expected, rtol=0, atol=0)
    assert layer(x.double()).dtype == torch.float32  # the weights keep their dtype


def test_weights_name_shape_and_keras_initialisation():
    layer = Embedding(50, 6)
    layer(torch.zeros(2, 3, dtype=torch.long))
    assert [(n, tuple(p.shape)) for n, p in layer.named_parameters()] == [("embeddings", (50, 6))]
    w = layer.embeddings.detach()
    assert float(w.abs().max()) <= 0.05 and float(w.std()) > 0.01  # uniform(−0.05, 0.05)
    assert layer.count_params() == 300


def test_gradient_reaches_only_the_rows_used():
    layer = Embedding(5, 2)
    layer(torch.tensor([[1, 3, 3]])).sum().backward()
    grad = layer.embeddings.grad
    assert grad[[0, 2, 4]].abs().sum() == 0
    torch.testing.assert_close(grad[1], torch.ones(2))
    torch.testing.assert_close(grad[3], torch.full((2,), 2.0))  # index 3 used twice


def test_mask_zero():
    x = torch.tensor([[4, 2, 0, 0], [1, 0, 3, 0]])
    masked = Embedding(5, 2, mask_zero=True)
    assert torch.equal(masked.compute_mask(x, None), x != 0)
    assert Embedding(5, 2).compute_mask(x, None) is None
    y = masked(x)  # index 0 still has a vector (Keras); the mask tells the next layers
    assert tuple(y.shape) == (2, 4, 2)


def test_mask_zero_reaches_lstm_through_sequential():
    model = Sequential([Embedding(9, 3, mask_zero=True, input_shape=(5,)), LSTM(4)])
    padded = model(torch.tensor([[7, 8, 0, 0, 0]]))
    alone = model(torch.tensor([[7, 8]]))
    torch.testing.assert_close(padded, alone, rtol=0, atol=1e-6)
    unmasked = Sequential([Embedding(9, 3, input_shape=(5,)), LSTM(4)])
    unmasked.load_state_dict(model.state_dict())
    assert not torch.allclose(unmasked(torch.tensor([[7, 8, 0, 0, 0]])), alone)


@pytest.mark.parametrize("shape", [(None,), (None, 7), (4, 2, 3)])
def test_compute_output_shape(shape):
    layer = Embedding(10, 4)
    assert layer.compute_output_shape(shape) == shape + (4,)
    real = tuple(1 if d is None else d for d in shape)
    assert tuple(layer(torch.zeros(real, dtype=torch.long)).shape) == real + (4,)


def test_get_config_round_trip():
    layer = Embedding(100, 8, mask_zero=True, input_shape=(20,), name="tokens")
    config = layer.get_config()
    assert config == {
        "name": "tokens", "trainable": True, "input_shape": [20],
        "input_dim": 100, "output_dim": 8, "mask_zero": True, "embeddings_initializer": "random_uniform",
    }
    assert Embedding.from_config(json.loads(json.dumps(config))).get_config() == config


def test_input_length_is_accepted_with_a_warning_and_ignored():
    with pytest.warns(UserWarning, match=r"Embedding: the argument input_length is deprecated and ignored"):
        layer = Embedding(10, 2, input_length=5)
    assert "input_length" not in layer.get_config()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Embedding(10, 2, input_length=None)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("arg", ["input_dim", "output_dim"])
@pytest.mark.parametrize("value", [0, -2, 1.5, None])
def test_size_validation(arg, value):
    kwargs = {"input_dim": 10, "output_dim": 4, arg: value}
    with pytest.raises(
        ValueError,
        match=rf"Embedding: expected {arg} to be a positive integer, got {re.escape(repr(value))}\. Fix:",
    ):
        Embedding(**kwargs)


def test_mask_zero_needs_room_for_the_padding_index():
    with pytest.raises(
        ValueError,
        match=r"Embedding: with mask_zero=True index 0 is reserved for padding, so input_dim must be at "
        r"least 2 \(vocabulary size \+ 1\), got 1\. Fix: Embedding\(input_dim=vocab_size \+ 1",
    ):
        Embedding(1, 4, mask_zero=True)
    Embedding(1, 4)  # without a mask, one row is fine


@pytest.mark.parametrize("bad, shown", [(2.5, "2.5"), (float("nan"), "nan"), (float("inf"), "inf")])
def test_non_integer_floats_are_refused(bad, shown):
    with pytest.raises(
        ValueError,
        match=rf"Layer 'emb_float' \(Embedding\): expected integer token indices, got non-integer values "
        rf"such as {shown}\. Fix:",
    ):
        Embedding(10, 2, name="emb_float")(torch.tensor([[1.0, bad]]))


def test_bool_indices_are_refused():
    with pytest.raises(
        ValueError,
        match=r"Layer 'emb_bool' \(Embedding\): expected integer token indices, got a tensor of dtype "
        r"torch\.bool\. Fix: x = x\.astype\('int64'\)",
    ):
        Embedding(10, 2, name="emb_bool")(torch.tensor([[True, False]]))


def test_out_of_range_indices_are_refused():
    layer = Embedding(10, 2, name="emb_range")
    with pytest.raises(
        ValueError,
        match=r"Layer 'emb_range' \(Embedding\): expected indices in \[0, 10\) \(input_dim=10\), got 12\. "
        r"Fix: Embedding\(input_dim=13, \.\.\.\) to cover every index\.",
    ):
        layer(torch.tensor([[1, 12, 3]]))
    with pytest.raises(
        ValueError,
        match=r"expected indices in \[0, 10\) \(input_dim=10\), got -1\. Fix: map tokens to indices 0, 1, 2",
    ):
        layer(torch.tensor([[1, -1, 3]]))
    with pytest.raises(ValueError, match=r"got 10\. Fix: Embedding\(input_dim=11"):
        layer(torch.tensor([[10.0]]))
