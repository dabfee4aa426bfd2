"""Hashing against a naive pure-Python loop over its docstring rule (hashlib's
BLAKE2b), the same bins in another process, roughly uniform bins on the words
of a real fortunes file, the output modes, save and load in models, and its
errors."""

from __future__ import annotations

import doctest
import hashlib
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import brainnet.layers.hashing
from brainnet.datasets import fortunes
from brainnet.layers import Dense, Embedding, Flatten, Hashing, Input
from brainnet.models import Model, Sequential, load_model


def naive_bin(value, num_bins: int, mask_value=None, salt=None) -> int:
    """The docstring's rule for one value, written out with hashlib."""
    if mask_value is not None and num_bins > 1 and value == mask_value:
        return 0
    text = value if isinstance(value, str) else str(int(value))
    pair = None if salt is None else ([salt, salt] if isinstance(salt, int) else list(salt))
    key = b"" if pair is None else pair[0].to_bytes(8, "little") + pair[1].to_bytes(8, "little")
    h = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8, key=key).digest(), "little")
    if mask_value is not None and num_bins > 1:
        return 1 + h % (num_bins - 1)
    return h % num_bins


def naive(values: np.ndarray, num_bins: int, **kwargs) -> np.ndarray:
    out = np.zeros(values.shape, dtype=np.int64)
    for pos in np.ndindex(values.shape):
        out[pos] = naive_bin(values[pos], num_bins, **kwargs)
    return out


def naive_encode(ids: np.ndarray, mode: str, depth: int) -> np.ndarray:
    if mode == "one_hot":
        ids = ids[..., 0] if ids.ndim > 1 and ids.shape[-1] == 1 else ids
        out = np.zeros(ids.shape + (depth,))
        for pos in np.ndindex(ids.shape):
            out[pos + (ids[pos],)] = 1
        return out
    out = np.zeros(ids.shape[:-1] + (depth,))
    for pos in np.ndindex(ids.shape):
        out[pos[:-1] + (ids[pos],)] += 1
    return np.minimum(out, 1) if mode == "multi_hot" else out


WORDS = np.array(["cat", "dog", "", "naïve", "the", "cat", "héllo wörld", "42", "zebra", "dog", "x", "ok"],
                 dtype=object)


def test_docstring_example_runs():
    failures, tried = doctest.testmod(brainnet.layers.hashing, extraglobs={"Hashing": Hashing})
    assert tried > 0 and failures == 0


@pytest.mark.parametrize("num_bins", [1, 2, 7, 1000])
@pytest.mark.parametrize("mask_value", [None, "", "dog"])
@pytest.mark.parametrize("salt", [None, 133, (133, 2 ** 64 - 1)])
def test_strings_match_naive(num_bins, mask_value, salt):
    for shape in [(12,), (12, 1), (4, 3), (2, 3, 2)]:
        x = WORDS.reshape(shape)
        got = Hashing(num_bins, mask_value=mask_value, salt=salt)(x)
        assert got.dtype == torch.int64 and tuple(got.shape) == shape
        np.testing.assert_array_equal(got.numpy(), naive(x, num_bins, mask_value=mask_value, salt=salt))
        assert int(got.min()) >= 0 and int(got.max()) < num_bins


@pytest.mark.parametrize("mask_value", [None, 0, -3])
@pytest.mark.parametrize("salt", [None, [1, 2]])
def test_integers_match_naive_and_share_bins_with_their_decimal_text(mask_value, salt):
    x = np.random.default_rng(0).integers(-5, 10 ** 6, size=(6, 4))
    x[0, :2] = [0, -3]
    layer = Hashing(50, mask_value=mask_value, salt=salt)
    want = naive(x, 50, mask_value=mask_value, salt=salt)
    for given in (x, torch.from_numpy(x), x.tolist(), x.astype("float64"), torch.from_numpy(x).int()):
        np.testing.assert_array_equal(layer(given).numpy(), want)
    if mask_value is None:  # as Keras: 12 and "12" go to the same bin
        text = np.array([[str(v) for v in row] for row in x.tolist()], dtype=object)
        np.testing.assert_array_equal(layer(text).numpy(), want)
    assert layer(7).shape == () and int(layer(7)) == naive_bin(7, 50, mask_value=mask_value, salt=salt)


def test_bytes_scalars_and_salt_change_the_bins():
    layer = Hashing(97)
    assert layer([b"caf\xc3\xa9", "café"]).tolist()[0] == layer(["café"]).tolist()[0]
    assert layer("café").shape == () and int(layer("café")) == naive_bin("café", 97)
    words = WORDS.tolist()
    assert Hashing(10 ** 6)(words).tolist() != Hashing(10 ** 6, salt=1)(words).tolist()
    assert Hashing(10 ** 6, salt=5)(words).tolist() == Hashing(10 ** 6, salt=[5, 5])(words).tolist()


def test_bins_are_the_same_in_another_process():
    """Unlike Python's hash(), the bins do not change with PYTHONHASHSEED."""
    code = ("from brainnet.layers import Hashing; "
            "print(Hashing(1000, salt=3)(['cat', 'dog', 'naïve', 'x']).tolist(), Hashing(1000)([12, 13]).tolist())")
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.getcwd()}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        outs.append(run.stdout)
    here = f"{Hashing(1000, salt=3)(['cat', 'dog', 'naïve', 'x']).tolist()} {Hashing(1000)([12, 13]).tolist()}\n"
    assert outs == [here, here]


def _chi_square(bins: np.ndarray, k: int) -> float:
    counts = np.bincount(bins, minlength=k)
    expected = len(bins) / k
    return float(((counts - expected) ** 2 / expected).sum())


def test_bins_are_roughly_uniform_on_real_words():
    """The distinct words of Debian's 'computers' fortunes in 64 bins: Pearson's
    χ² has k − 1 = 63 degrees of freedom (mean 63, sd √126 ≈ 11.2) for a hash
    that spreads them evenly; 63 + 5 sd ≈ 119 is the bound. A hash of the
    word's length or of its first letter fails it by far (checked below)."""
    path = fortunes.SYSTEM_DIR / "computers"
    if not path.is_file():
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    words = sorted(set(re.findall(r"[a-z']+", path.read_text(encoding="utf-8", errors="replace").lower())))
    assert len(words) > 3000
    k, bound = 64, 63 + 5 * 126 ** 0.5
    bins = Hashing(k)(words).numpy()
    assert _chi_square(bins, k) < bound
    assert _chi_square(Hashing(k, salt=[7, 11])(words).numpy(), k) < bound
    masked = Hashing(k + 1, mask_value="the")(words).numpy()
    assert (masked == 0).sum() == 1 and _chi_square(masked[masked > 0] - 1, k) < bound
    broken = [np.array([len(w) % k for w in words]), np.array([ord(w[0]) % k for w in words])]
    assert all(_chi_square(b, k) > 10 * bound for b in broken)


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("shape", [(12,), (12, 1), (4, 3), (2, 3, 2)])
def test_output_modes_encode_the_bins(mode, shape):
    x = WORDS.reshape(shape)
    layer = Hashing(5, mask_value="", output_mode=mode)
    got = layer(x)
    assert got.dtype == torch.float32
    assert tuple(got.shape) == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(got.numpy(), naive_encode(naive(x, 5, mask_value=""), mode, 5))
    ints = np.arange(12).reshape(shape)
    on_ints = Hashing(5, output_mode=mode)
    assert tuple(on_ints(torch.from_numpy(ints)).shape) == on_ints.compute_output_shape(shape)


def test_config_round_trip_and_output_shape():
    layer = Hashing(num_bins=8, mask_value="", salt=5, output_mode="count", name="h")
    config = layer.get_config()
    assert config == {"name": "h", "trainable": True, "num_bins": 8, "mask_value": "", "salt": [5, 5],
                      "output_mode": "count", "sparse": False}
    again = Hashing.from_config(config)
    assert again.get_config() == config
    assert again(WORDS.tolist()).tolist() == layer(WORDS.tolist()).tolist()
    assert Hashing(8).compute_output_shape((None, 3)) == (None, 3)
    assert Hashing(8, output_mode="one_hot").compute_output_shape((None, 1)) == (None, 8)
    assert Hashing(8, output_mode="one_hot").compute_output_shape((None, 3)) == (None, 3, 8)
    assert Hashing(8, output_mode="multi_hot").compute_output_shape((None, 3)) == (None, 8)


def test_in_models_saved_and_loaded_gives_the_same_outputs(tmp_path):
    texts = np.array([["red", "small"], ["blue", "big"], ["red", "big"], ["green", "small"]] * 5, dtype=object)
    y = np.array([[1.0], [0.0], [1.0], [0.0]] * 5, dtype="float32")
    model = Sequential([Hashing(16, salt=9, output_mode="multi_hot"), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    model.fit(texts, y, epochs=2, verbose=0)  # texts straight into fit: the Hashing layer is applied once
    before = model.predict(texts, verbose=0)
    np.testing.assert_allclose(model(texts).detach().numpy(), before, rtol=1e-6)
    model.save(tmp_path / "s.brainnet")
    loaded = load_model(tmp_path / "s.brainnet")
    assert loaded.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_allclose(loaded.predict(texts, verbose=0), before, rtol=1e-6)

    codes = Input(shape=(3,), dtype="int64")
    bins = Hashing(11, mask_value=0, name="bins")(codes)
    assert bins.shape == (None, 3)
    functional = Model(codes, Dense(1)(Flatten()(Embedding(11, 2)(bins))))
    x = np.random.default_rng(1).integers(0, 10 ** 5, size=(8, 3))
    out = functional.predict(x, verbose=0)
    functional.save(tmp_path / "f.brainnet")
    np.testing.assert_allclose(load_model(tmp_path / "f.brainnet").predict(x, verbose=0), out, rtol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({}, r"Hashing '.*': expected num_bins, the number of bins \(an integer ≥ 1\), got None\. "
         r"Fix: Hashing\(num_bins=64\)"),
    ({"num_bins": 0}, r"expected num_bins.*got 0\. Fix: "),
    ({"num_bins": 2.5}, r"expected num_bins.*got 2\.5\. Fix: "),
    ({"num_bins": 3, "output_mode": "tf_idf"},
     r"expected output_mode among 'int', 'one_hot', 'multi_hot', 'count', got 'tf_idf'\. Fix: output_mode='int'"),
    ({"num_bins": 3, "sparse": True}, r"expected sparse=False, got sparse=True; brainnet returns dense tensors\. "
                                      r"Fix: leave sparse out\."),
    ({"num_bins": 3, "mask_value": 1.5}, r"expected mask_value a string, an integer or None, got 1\.5\. "
                                         r"Fix: mask_value=''"),
    ({"num_bins": 3, "salt": -1}, r"expected salt an unsigned 64-bit integer, a pair of them, or None, got -1\. "
                                  r"Fix: salt=133"),
    ({"num_bins": 3, "salt": [1, 2, 3]}, r"expected salt.*got \[1, 2, 3\]\. Fix: "),
    ({"num_bins": 3, "salt": "pepper"}, r"expected salt.*got 'pepper'\. Fix: "),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Hashing(**kwargs)


def test_call_errors():
    with pytest.raises(ValueError, match=r"Hashing '.*': expected strings with mask_value='', got integers\. "
                                         r"Fix: a mask value of the inputs' kind, e\.g\. mask_value=0, or "
                                         r"mask_value=None\."):
        Hashing(3, mask_value="")([1, 2])
    with pytest.raises(ValueError, match=r"expected integers with mask_value=0, got strings\. Fix: a mask value "
                                         r"of the inputs' kind, e\.g\. mask_value=''"):
        Hashing(3, mask_value=0)(["a"])
    with pytest.raises(TypeError, match=r"expected integers, got a non-integer value 0\.5.*Fix: "):
        Hashing(3)(np.array([0.5]))
    with pytest.raises(TypeError, match=r"expected strings \(a list or NumPy array of str\), got int 3 among them"
                                        r".*Fix: "):
        Hashing(3)(["a", 3])
