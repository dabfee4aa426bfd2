"""HashedCrossing against a naive pure-Python loop over its docstring rule
(the values' text joined by "_X_", hashlib's BLAKE2b, mod num_bins), its
one-hot mode, the bins of FeatureSpace's crosses, Keras 3's input shapes,
a functional model saved and loaded, and its errors."""

from __future__ import annotations

import doctest
import hashlib

import numpy as np
import pytest
import torch

import brainnet.layers.hashed_crossing
from brainnet._feature_cross import HashedCross
from brainnet.layers import Dense, Embedding, Flatten, HashedCrossing, Input
from brainnet.models import Model, load_model

CITIES = np.array(["Oslo", "Lima", "Oslo", "Pune", "Lima", "Oslo", "naïve", "Oslo"], dtype=object)
BANDS = np.array([3, 1, 3, 3, 2, 1, 0, 3])
CODES = np.array([7, 7, 7, 7, 8, 8, 9, 7])


def naive_bin(values: list, num_bins: int) -> int:
    """The docstring's rule for one sample, written out with hashlib."""
    text = "_X_".join(v if isinstance(v, str) else str(int(v)) for v in values)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") % num_bins


def naive(features: list[np.ndarray], num_bins: int) -> np.ndarray:
    out = np.zeros(features[0].shape, dtype=np.int64)
    for pos in np.ndindex(out.shape):
        out[pos] = naive_bin([f[pos] for f in features], num_bins)
    return out


def test_docstring_example_runs():
    failures, tried = doctest.testmod(brainnet.layers.hashed_crossing,
                                      extraglobs={"HashedCrossing": HashedCrossing, "np": np})
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("num_bins", [1, 2, 5, 1000])
@pytest.mark.parametrize("shape", [(8,), (8, 1)])
def test_strings_and_integers_match_naive(num_bins, shape):
    features = [CITIES.reshape(shape), BANDS.reshape(shape)]
    layer = HashedCrossing(num_bins)
    y = layer(tuple(features))
    assert y.dtype == torch.int64 and tuple(y.shape) == shape == layer.compute_output_shape([shape, shape])
    np.testing.assert_array_equal(y.numpy(), naive(features, num_bins))
    three = [CITIES.reshape(shape), torch.from_numpy(BANDS.reshape(shape)), CODES.reshape(shape).tolist()]
    np.testing.assert_array_equal(layer(three).numpy(),
                                  naive([CITIES.reshape(shape), BANDS.reshape(shape), CODES.reshape(shape)], num_bins))


def test_samples_that_agree_on_every_feature_share_a_bin():
    y = HashedCrossing(10 ** 6)((CITIES, BANDS)).numpy()
    pairs = list(zip(CITIES, BANDS))
    for i in range(len(pairs)):
        for j in range(len(pairs)):
            assert (y[i] == y[j]) == (pairs[i] == pairs[j])  # 10⁶ bins: no collision among these few


def test_scalars_bytes_and_whole_floats():
    layer = HashedCrossing(97)
    assert layer(("Oslo", 3)).shape == () and int(layer(("Oslo", 3))) == naive_bin(["Oslo", 3], 97)
    np.testing.assert_array_equal(layer(([b"Oslo", b"Lima"], np.array([3.0, 1.0]))).numpy(),
                                  [naive_bin(["Oslo", 3], 97), naive_bin(["Lima", 1], 97)])


@pytest.mark.parametrize("shape", [(8,), (8, 1), ()])
def test_one_hot_encodes_each_sample(shape):
    features = [CITIES[0], BANDS[0]] if shape == () else [CITIES.reshape(shape), BANDS.reshape(shape)]
    layer = HashedCrossing(6, output_mode="one_hot")
    y = layer(features)
    ids = naive([np.asarray(f, dtype=object) for f in features], 6).reshape(-1)
    expected = np.eye(6)[ids].reshape(layer.compute_output_shape([shape, shape]))
    assert y.dtype == torch.float32 and tuple(y.shape) == ((6,) if shape == () else (8, 6))
    np.testing.assert_array_equal(y.numpy(), expected)


def test_same_bins_as_feature_space_crosses():
    shape = (8, 1)
    ours = HashedCrossing(32)([BANDS.reshape(shape), CODES.reshape(shape)])
    theirs = HashedCross(32)([torch.from_numpy(BANDS.reshape(shape)), torch.from_numpy(CODES.reshape(shape))])
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_config_round_trip():
    layer = HashedCrossing(num_bins=16, output_mode="one_hot", name="cross")
    config = layer.get_config()
    assert config == {"name": "cross", "trainable": True, "num_bins": 16, "output_mode": "one_hot", "sparse": False}
    again = HashedCrossing.from_config(config)
    np.testing.assert_array_equal(again((CITIES, BANDS)).numpy(), layer((CITIES, BANDS)).numpy())


def test_in_a_functional_model_saved_and_loaded(tmp_path):
    band, code = Input(shape=(1,), dtype="int64", name="band"), Input(shape=(1,), dtype="int64", name="code")
    crossed = HashedCrossing(11, name="cross")([band, code])
    assert crossed.shape == (None, 1)
    model = Model([band, code], Dense(1, name="out")(Flatten()(Embedding(11, 2, name="embed")(crossed))))
    x = [BANDS.reshape(-1, 1), CODES.reshape(-1, 1)]
    out = model.predict(x, verbose=0)
    embeddings = model.get_layer("embed").get_weights()[0]
    w, b = model.get_layer("out").get_weights()
    np.testing.assert_allclose(out, embeddings[naive(x, 11)[:, 0]] @ w + b, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "cross.keras")
    np.testing.assert_allclose(load_model(tmp_path / "cross.keras").predict(x, verbose=0), out, rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_bins": 0}, r"HashedCrossing '.*': expected num_bins, the number of bins \(an integer ≥ 1\), got 0\. "
                      r"Fix: HashedCrossing\(num_bins=32\)"),
    ({"num_bins": 2.5}, r"expected num_bins.*got 2\.5\. Fix: "),
    ({"num_bins": 4, "output_mode": "multi_hot"},
     r"expected output_mode 'int' or 'one_hot', got 'multi_hot'\. Fix: output_mode='int'"),
    ({"num_bins": 4, "sparse": True}, r"HashedCrossing '.*': expected sparse=False, got sparse=True; brainnet "
                                      r"returns dense tensors\. Fix: leave sparse out\."),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HashedCrossing(**kwargs)


def test_call_errors():
    layer = HashedCrossing(4, name="hc")
    with pytest.raises(ValueError, match=r"HashedCrossing 'hc': expected a list or tuple of at least two features to "
                                         r"cross, got 1 feature\(s\)\. Fix: layer\(\(feature_a, feature_b\)\)"):
        layer([CITIES])
    with pytest.raises(ValueError, match=r"expected a list or tuple of at least two features to cross, got ndarray\. "
                                         r"Fix: "):
        layer(CITIES)
    with pytest.raises(ValueError, match=r"HashedCrossing 'hc': expected each feature of shape \(batch, 1\), "
                                         r"\(batch,\) or \(\), one value per sample, got \(4, 2\)\. Fix: cross one "
                                         r"column per feature"):
        layer((BANDS.reshape(4, 2), CODES.reshape(4, 2)))
    with pytest.raises(ValueError, match=r"HashedCrossing 'hc': expected features of one shape, got shapes "
                                         r"\(8,\), \(8, 1\)\. Fix: give every feature the same number of samples"):
        layer((BANDS, CODES.reshape(8, 1)))
    with pytest.raises(TypeError, match=r"HashedCrossing 'hc': expected integers, got a non-integer value 3\.5\. "
                                        r"Fix: "):
        layer((CITIES, BANDS + 0.5))
