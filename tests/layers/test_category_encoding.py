"""CategoryEncoding against a naive NumPy loop over its docstring rule,
Keras's documented examples, save and load, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import CategoryEncoding, Dense, Input
from brainnet.models import Model, load_model


def naive(x: np.ndarray, mode: str, n: int, w: np.ndarray | None = None) -> np.ndarray:
    """The docstring's rule, one value at a time (float64)."""
    if mode == "one_hot":
        x = x[..., 0] if x.ndim > 1 and x.shape[-1] == 1 else x
        out = np.zeros(x.shape + (n,))
        for pos in np.ndindex(x.shape):
            out[pos + (x[pos],)] = 1.0
        return out
    w = np.ones(x.shape) if w is None else w
    out = np.zeros(x.shape[:-1] + (n,))
    for pos in np.ndindex(x.shape):
        out[pos[:-1] + (x[pos],)] += w[pos]
    return np.minimum(out, 1.0) if mode == "multi_hot" else out


def test_keras_examples():
    one_hot = CategoryEncoding(num_tokens=4, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot([3, 2, 0, 1]).numpy(), np.eye(4)[[3, 2, 0, 1]])
    multi = CategoryEncoding(num_tokens=4, output_mode="multi_hot")
    assert multi([[0, 1], [0, 0], [1, 2], [3, 1]]).tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0],
                                                                [0, 1, 0, 1]]
    count = CategoryEncoding(num_tokens=4, output_mode="count")
    weights = np.array([[.1, .2], [.1, .1], [.2, .3], [.4, .2]])
    np.testing.assert_allclose(count([[0, 1], [0, 0], [1, 2], [3, 1]], count_weights=weights).numpy(),
                               [[.1, .2, 0, 0], [.2, 0, 0, 0], [0, .2, .3, 0], [0, .2, 0, .4]], rtol=1e-6)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(7,), (7, 1), (7, 3), (2, 4, 3)])
def test_matches_naive(mode, shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, size=shape)
    layer = CategoryEncoding(num_tokens=5, output_mode=mode)
    got = layer(torch.from_numpy(x))
    assert got.dtype == torch.float32
    assert tuple(got.shape) == layer.compute_output_shape(x.shape)
    np.testing.assert_array_equal(got.numpy(), naive(x, mode, 5))
    if mode == "count":
        w = rng.random(shape)
        np.testing.assert_allclose(layer(x, count_weights=w).numpy(), naive(x, mode, 5, w), rtol=1e-6)


def test_scalar_and_whole_floats():
    assert CategoryEncoding(num_tokens=3)(2).tolist() == [0, 0, 1]
    assert CategoryEncoding(num_tokens=3, output_mode="count")(np.array([[2.0, 2.0]])).tolist() == [[0, 0, 2]]


def test_in_a_model_saved_and_loaded(tmp_path):
    inputs = Input(shape=(2,), dtype="int64")
    encoded = CategoryEncoding(num_tokens=6, output_mode="count")(inputs)
    model = Model(inputs, Dense(1)(encoded))
    x = np.random.default_rng(2).integers(0, 6, size=(20, 2))
    model.compile("adam", "mse")
    model.fit(x, x.sum(1, keepdims=True).astype("float32"), epochs=2, verbose=0)
    model.summary()
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6)
    layer = CategoryEncoding(num_tokens=3, output_mode="one_hot")
    assert CategoryEncoding.from_config(layer.get_config()).get_config() == layer.get_config()


@pytest.mark.parametrize("kwargs, message", [
    ({}, r"expected num_tokens, the number of categories \(an integer ≥ 1\), got None.*Fix: CategoryEncoding\("
         r"num_tokens=int\(x.max\(\)\) \+ 1\).*IntegerLookup"),
    ({"num_tokens": 0}, r"expected num_tokens.*got 0.*Fix: "),
    ({"num_tokens": 3, "output_mode": "int"}, r"expected output_mode among 'one_hot', 'multi_hot', 'count', got "
                                              r"'int'.*Fix: output_mode='one_hot'"),
    ({"num_tokens": 3, "sparse": True}, r"expected sparse=False, got sparse=True.*Fix: leave sparse out"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CategoryEncoding(**kwargs)


def test_call_errors():
    layer = CategoryEncoding(num_tokens=3)
    with pytest.raises(ValueError, match=r"expected values in \[0, num_tokens=3\), got values from 0 to 5.*"
                                         r"Fix: num_tokens=6 if these are category indices, or IntegerLookup"):
        layer([[0, 5]])
    with pytest.raises(ValueError, match=r"got values from -1 to 1.*Fix: num_tokens=3 "):
        layer([[-1, 1]])
    with pytest.raises(ValueError, match=r"expected count_weights only with output_mode='count', got them with "
                                         r"output_mode='multi_hot'.*Fix: drop count_weights"):
        layer([[0, 1]], count_weights=[[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"expected count_weights of the inputs' shape \(1, 2\).*got \(2,\).*Fix: "):
        CategoryEncoding(num_tokens=3, output_mode="count")([[0, 1]], count_weights=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"expected integers, got a non-integer value 0.5.*Fix: "):
        layer(np.array([0.5]))
