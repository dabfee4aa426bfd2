"""GetItem: ``x[key]`` on a symbolic tensor (Keras 3's ``ops.GetItem``), the
layer a functional graph records for it; checked against NumPy's indexing of
the same arrays, with its shapes, dtype, saving and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.layers import GetItem

S = slice(None)
KEYS = [
    (S, None, None, S),  # the DDPM example's time embedding, broadcast over (H, W)
    (Ellipsis, 0),
    (S, slice(1, 3)),
    (S, slice(None, None, 2), -1),
    (S, 0),
    (Ellipsis, None),
    (S,),
    Ellipsis,
    (S, Ellipsis, slice(-2, None)),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
@pytest.mark.parametrize("shape", [(4, 6), (3, 4, 5)])
def test_indexing_a_symbolic_tensor_replays_numpy_indexing(key, shape):
    inputs = keras.Input(shape=shape)
    out = inputs[key]
    x = np.random.default_rng(0).normal(size=(5,) + shape)
    want = x[key]
    assert out.shape == (None,) + want.shape[1:]
    model = keras.Model(inputs, out)
    assert isinstance(model.layers[-1], GetItem)
    got = model(torch.from_numpy(x).float()).numpy()
    np.testing.assert_array_equal(got, want.astype("float32"))
    assert model.compute_output_shape((None,) + shape) == (None,) + want.shape[1:]


def test_the_layer_keeps_the_dtype_and_feeds_the_next_layer():
    """An int64 Input sliced stays int64 (Embedding takes it); a sliced Dense output is float."""
    tokens = keras.Input(shape=(6,), dtype="int64")
    first = tokens[:, :3]
    assert first.dtype == torch.int64 and first.shape == (None, 3)
    model = keras.Model(tokens, layers.Embedding(10, 4)(first))
    x = torch.randint(0, 10, (2, 6))
    emb = model.layers[-1].embeddings.detach()
    torch.testing.assert_close(model(x), emb[x[:, :3]])


def test_get_config_round_trips_and_a_saved_model_predicts_the_same(tmp_path):
    key = (S, slice(1, None, 2), None, Ellipsis, -1)
    layer = GetItem(key)
    config = layer.get_config()
    assert config["key"] == [{"slice": [None, None, None]}, {"slice": [1, None, 2]}, None, "...", -1]
    assert GetItem.from_config(config).key == key

    inputs = keras.Input(shape=(5, 3))
    x = layers.Dense(4)(inputs)[:, 1:, None, :]
    outputs = layers.Conv2D(2, 1)(x)
    model = keras.Model(inputs, outputs)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    data = np.random.default_rng(1).normal(size=(3, 5, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    assert loaded.predict(data, verbose=0).shape == (3, 4, 1, 2)


@pytest.mark.parametrize("key, shown", [(0, "0"), ((None, S), "None"), ((slice(None, None, 2),), "::2"),
                                        ((slice(0, 3), 1), "0:3")])
def test_a_key_that_indexes_the_batch_axis_is_refused(key, shown):
    inputs = keras.Input(shape=(4,))
    with pytest.raises(ValueError, match=r"GetItem: expected the key to keep the batch axis \(the first\) whole, "
                                         rf"with : or \.\.\., got \[.*\], whose first part {shown} indexes the batch\. "
                                         r"Fix: put : first"):
        inputs[key]


@pytest.mark.parametrize("key", [(S, torch.tensor([0, 2])), (S, np.array([0, 2])), (S, 1.5), (S, [0, 1]), (S, True)],
                         ids=["tensor", "array", "float", "list", "bool"])
def test_a_key_part_that_is_not_basic_indexing_is_refused(key):
    inputs = keras.Input(shape=(4,))
    with pytest.raises(TypeError, match=r"GetItem: expected a key made of ints, slices, None and \.\.\., got the part "
                                        r".*Fix: index with ints, slices, None .* layers\.Lambda\(lambda t: t\[:, idx\]\)"):
        inputs[key]


def test_the_docstring_example_runs():
    import doctest

    from brainnet.layers import get_item

    assert doctest.testmod(get_item).failed == 0


def test_a_symbolic_tensor_is_not_iterated_over_its_batch():
    inputs = keras.Input(shape=(2, 3))
    with pytest.raises(TypeError, match=r"A symbolic tensor of shape \(None, 2, 3\) cannot be iterated or unpacked: "
                                        r"expected a list or tuple of tensors, got one tensor whose first axis is the "
                                        r"batch\. Fix: index the axis you mean, a, b = x\[:, 0\], x\[:, 1\]"):
        a, b = inputs
    first, second = inputs[:, 0], inputs[:, 1]
    assert first.shape == second.shape == (None, 3)
