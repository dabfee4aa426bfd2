"""FeatureSpace (Keras 3's keras.utils.FeatureSpace): each feature kind
against a naive NumPy (and hashlib) version of its rule, the layout of the
concatenated vector, adapt on batches, the functional model built on the
encoded features, save and load, a tabular classifier trained end to end,
and the errors."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from brainnet._feature_cross import HashedCross
from brainnet.layers import Dense, Identity, IntegerLookup, TextVectorization
from brainnet.models import Model, load_model
from brainnet.utils import FeatureSpace


def blake_bin(text: str, bins: int) -> int:
    """The documented hash: BLAKE2b, 8-byte digest, little-endian, mod bins."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % bins


def one_hot(indices, width: int) -> np.ndarray:
    return np.eye(width)[np.asarray(indices).reshape(-1)]


def ranked(values) -> list:
    """Keras's vocabulary order: most frequent first, ties by the value, larger first."""
    tokens, counts = np.unique(np.asarray(values), return_counts=True)
    return [tokens[i].item() for i in np.lexsort((tokens, counts))[::-1]]


def encode(fs: FeatureSpace, data: dict) -> np.ndarray:
    return fs(data).numpy().astype(np.float64)


RNG = np.random.default_rng(0)
X = RNG.normal(3.0, 2.0, 200)
CODES = RNG.choice([7, 11, 13, 42], 200, p=[0.4, 0.3, 0.2, 0.1])
WORDS = RNG.choice(["red", "green", "blue"], 200, p=[0.5, 0.3, 0.2])


# ------------------------------------------------------------------ kinds against NumPy
def test_float_and_float_rescaled_are_the_values_and_the_affine_map():
    fs = FeatureSpace({"a": "float", "b": FeatureSpace.float_rescaled(scale=0.5, offset=-1.0)})
    fs.adapt({"a": X, "b": X})  # nothing to learn, allowed
    out = encode(fs, {"a": X, "b": X})
    np.testing.assert_allclose(out, np.stack([X, 0.5 * X - 1.0], axis=1), rtol=1e-6, atol=1e-5)
    assert fs({"a": X, "b": X}).dtype == torch.float32


def test_float_normalized_is_standardised_with_the_training_mean_and_std():
    fs = FeatureSpace({"x": "float_normalized"})
    fs.adapt({"x": X})
    new = np.array([-1.0, 3.0, 10.0])
    np.testing.assert_allclose(encode(fs, {"x": new})[:, 0], (new - X.mean()) / X.std(), rtol=1e-5, atol=1e-5)


def test_float_discretized_one_hot_of_the_quantile_bins():
    fs = FeatureSpace({"x": "float_discretized"}, num_discretization_bins=4)
    fs.adapt({"x": X})
    v = np.sort(X.astype(np.float32)).astype(np.float64)  # the boundaries: the k/4 points of the empirical CDF
    boundaries = np.interp(np.arange(1, 4) / 4, np.arange(1, len(v) + 1) / len(v), v)
    new = np.array([-5.0, 2.0, 3.1, 9.0])
    np.testing.assert_allclose(encode(fs, {"x": new}), one_hot(np.digitize(new, boundaries), 4), atol=0)
    given = FeatureSpace({"x": FeatureSpace.float_discretized(num_bins=3, bin_boundaries=[0.0, 1.0])})
    np.testing.assert_array_equal(encode(given, {"x": [-1.0, 0.0, 0.5, 2.0]}), one_hot([0, 1, 1, 2], 3))


@pytest.mark.parametrize("kind, column", [("integer_categorical", CODES), ("string_categorical", WORDS)])
def test_categorical_one_hot_of_the_vocabulary_index_with_oov_first(kind, column):
    fs = FeatureSpace({"c": kind})
    fs.adapt({"c": column})
    vocabulary = ranked(column)
    unknown = 99 if kind.startswith("integer") else "purple"
    new = [vocabulary[1], unknown, vocabulary[0]]
    index = [1 + vocabulary.index(t) if t in vocabulary else 0 for t in new]  # OOV index 0
    np.testing.assert_array_equal(encode(fs, {"c": new}), one_hot(index, 1 + len(vocabulary)))
    assert fs.preprocessors["c"].get_vocabulary()[1:] == vocabulary


def test_categorical_max_tokens_and_int_output_mode_in_dict_mode():
    fs = FeatureSpace({"c": FeatureSpace.integer_categorical(max_tokens=3, output_mode="int")}, output_mode="dict")
    fs.adapt({"c": CODES})
    out = fs({"c": [7, 11, 13, 42]})
    assert set(out) == {"c"} and out["c"].dtype == torch.int64
    np.testing.assert_array_equal(out["c"].numpy()[:, 0], [1, 2, 0, 0])  # the two most frequent, then OOV


@pytest.mark.parametrize("kind, column", [("integer_hashed", CODES), ("string_hashed", WORDS)])
def test_hashed_one_hot_of_the_blake2b_bin(kind, column):
    fs = FeatureSpace({"h": kind}, hashing_dim=16)
    fs.adapt({"h": column})
    bins = [blake_bin(str(v), 16) for v in column.tolist()]
    np.testing.assert_array_equal(encode(fs, {"h": column}), one_hot(bins, 16))


def test_cross_hashes_the_joined_indices_and_follows_the_features():
    fs = FeatureSpace({"w": "string_categorical", "n": "integer_categorical", "x": "float"},
                      crosses=[("w", "n")], crossing_dim=8)
    fs.adapt({"w": WORDS, "n": CODES, "x": X})
    out = encode(fs, {"w": WORDS, "n": CODES, "x": X})
    w_index = [1 + ranked(WORDS).index(t) for t in WORDS]
    n_index = [1 + ranked(CODES).index(t) for t in CODES]
    cross = [blake_bin(f"{a}_X_{b}", 8) for a, b in zip(w_index, n_index)]
    expected = np.concatenate([one_hot(n_index, 5), one_hot(w_index, 4), X[:, None], one_hot(cross, 8)], axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)  # sorted names n, w, x, then w_X_n
    assert list(fs.crossers) == ["w_X_n"] and fs.crossers["w_X_n"].num_bins == 8


def test_a_custom_feature_with_its_own_layer_is_adapted_and_used_as_it_is():
    texts = np.array(["the cat sat", "the dog sat", "a cat ran", "the cat"], dtype=object)
    fs = FeatureSpace({"text": FeatureSpace.feature(preprocessor=TextVectorization(output_mode="tf_idf"),
                                                    dtype="string", output_mode="float"), "x": "float"})
    fs.adapt({"text": texts, "x": X[:4]})
    by_hand = TextVectorization(output_mode="tf_idf")
    by_hand.adapt(texts[:, None])
    expected = np.concatenate([by_hand(texts[:, None]).numpy(), X[:4, None]], axis=1)
    np.testing.assert_allclose(encode(fs, {"text": texts, "x": X[:4]}), expected, rtol=1e-6, atol=1e-6)


def test_dict_mode_and_one_sample_given_as_scalars():
    spec = {"w": "string_categorical", "x": "float_normalized"}
    fs, as_dict = FeatureSpace(spec), FeatureSpace(spec, output_mode="dict")
    for space in (fs, as_dict):
        space.adapt({"w": WORDS, "x": X})
    out = as_dict({"w": WORDS[:5], "x": X[:5]})
    assert set(out) == {"w", "x"} and out["w"].shape == (5, 4) and out["x"].shape == (5, 1)
    np.testing.assert_allclose(torch.cat([out["w"], out["x"]], 1), fs({"w": WORDS[:5], "x": X[:5]}))
    one = fs({"w": "green", "x": 3.0})
    assert one.shape == (5,)
    np.testing.assert_allclose(one, fs({"w": ["green"], "x": [3.0]})[0])


def test_adapt_on_batches_and_a_dataloader_equals_adapt_on_the_whole_columns():
    whole = FeatureSpace({"w": "string_categorical", "x": "float_normalized", "n": "integer_categorical"})
    whole.adapt({"w": WORDS, "x": X, "n": CODES})
    rows = [{"w": w, "x": np.float32(x), "n": int(n)} for w, x, n in zip(WORDS, X, CODES)]
    batched = FeatureSpace({"w": "string_categorical", "x": "float_normalized", "n": "integer_categorical"})
    batched.adapt(DataLoader(rows, batch_size=32))  # batches of {"w": [str], "x": tensor, "n": tensor}
    listed = FeatureSpace({"w": "string_categorical", "x": "float_normalized", "n": "integer_categorical"})
    listed.adapt([{"w": WORDS[i:i + 50], "x": X[i:i + 50], "n": CODES[i:i + 50]} for i in range(0, 200, 50)])
    data = {"w": WORDS, "x": X, "n": CODES}
    for other in (batched, listed):
        np.testing.assert_allclose(encode(other, data), encode(whole, data), rtol=1e-5, atol=1e-5)


def test_hashed_cross_layer_against_hashlib_and_its_errors():
    a, b, c = (RNG.integers(0, 5, (40, 1)) for _ in range(3))
    y = HashedCross(num_bins=7)([torch.tensor(a), torch.tensor(b), torch.tensor(c)])
    expected = [blake_bin(f"{p}_X_{q}_X_{r}", 7) for p, q, r in zip(a[:, 0], b[:, 0], c[:, 0])]
    assert y.dtype == torch.int64 and y.shape == (40, 1)
    np.testing.assert_array_equal(y.numpy()[:, 0], expected)
    with pytest.raises(ValueError, match="expected num_bins.*got 0.*Fix:"):
        HashedCross(num_bins=0)
    with pytest.raises(ValueError, match=r"at least two integer tensors of one shape, got \[\(40, 1\)\].*Fix:"):
        HashedCross(num_bins=7)([torch.tensor(a)])


# ------------------------------------------------------------------ models, saving
def test_functional_models_on_the_encoded_features_take_the_raw_columns():
    fs = FeatureSpace({"w": "string_categorical", "x": "float_normalized", "n": "integer_hashed"},
                      crosses=[("w", "n")], hashing_dim=4, crossing_dim=4)
    data = {"w": WORDS, "x": X, "n": CODES}
    fs.adapt(data)
    inputs, encoded = fs.get_inputs(), fs.get_encoded_features()
    assert set(inputs) == {"w", "x", "n"} and encoded.shape == (None, 4 + 1 + 4 + 4)
    outputs = Dense(1, activation="sigmoid")(encoded)
    training_model = Model(encoded, outputs)  # on fs(x), computed once (the tutorial's first model)
    inference_model = Model(list(inputs.values()), outputs)  # on the raw columns, keyed by feature name
    np.testing.assert_allclose(inference_model.predict(data, verbose=0),
                               training_model.predict(fs(data), verbose=0), rtol=1e-5, atol=1e-6)
    inference_model.compile("adam", "binary_crossentropy")
    inference_model.fit(data, (X > 3).astype(np.float32), epochs=1, verbose=0)


def test_save_and_load_model_give_back_the_adapted_feature_space(tmp_path):
    fs = FeatureSpace({"w": "string_categorical", "x": "float_normalized", "d": "float_discretized",
                       "n": "integer_categorical", "h": "string_hashed", "r": "float_rescaled"},
                      crosses=[FeatureSpace.cross(("w", "n"), crossing_dim=16)], num_discretization_bins=5)
    data = {"w": WORDS, "x": X, "d": X, "n": CODES, "h": WORDS, "r": X}
    fs.adapt(data)
    fs.save(tmp_path / "features.brainnet")
    loaded = load_model(tmp_path / "features.brainnet")
    assert isinstance(loaded, FeatureSpace) and loaded.get_config() == fs.get_config()
    np.testing.assert_array_equal(loaded(data).numpy(), fs(data).numpy())
    with zipfile.ZipFile(tmp_path / "features.brainnet") as archive:
        assert sorted(archive.namelist()) == ["config.json", "feature_space.safetensors", "metadata.json"]


# ------------------------------------------------------------------ end to end
def clinic(n: int, seed: int) -> tuple[dict, np.ndarray]:
    """A clinic's table: the diagnosis drawn from a stated logistic rule of its columns."""
    rng = np.random.default_rng(seed)
    age = rng.normal(54, 9, n).round().clip(29, 77)
    sex = rng.integers(0, 2, n)
    cp = rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.3, 0.4])
    thal = rng.choice(["normal", "fixed", "reversible"], n, p=[0.55, 0.1, 0.35])
    chol = rng.normal(245, 50, n).round()
    logit = (-2.4 + 2.4 * (cp == 4) + 1.8 * (thal == "reversible") + 1.0 * (thal == "fixed") + 0.7 * sex
             + 0.09 * (age - 54) + 0.005 * (chol - 245))
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    return {"age": age, "sex": sex, "cp": cp, "thal": thal, "chol": chol}, target[:, None], logit


def test_a_tabular_classifier_on_the_feature_space_learns_the_rule(tmp_path):
    torch.manual_seed(0)
    train, y_train, _ = clinic(3000, seed=0)
    test, y_test, rule = clinic(1000, seed=1)
    fs = FeatureSpace({"age": "float_discretized", "sex": "integer_categorical", "cp": "integer_categorical",
                       "thal": "string_categorical", "chol": "float_normalized"},
                      crosses=[("sex", "thal")], crossing_dim=16, num_discretization_bins=8)
    fs.adapt(train)
    x = Dense(16, activation="relu")(fs.get_encoded_features())
    model = Model(fs.get_inputs(), Dense(1, activation="sigmoid")(x))  # the dict of Inputs, as the tutorial
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(train, y_train, epochs=5, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(test, y_test, verbose=0)
    majority = max(y_test.mean(), 1 - y_test.mean())  # what a model that learned nothing reaches: 0.598
    best = np.mean((rule > 0) == (y_test[:, 0] > 0.5))  # what the true rule itself reaches: 0.793
    assert accuracy > majority + 0.12 and accuracy > best - 0.05, (accuracy, majority, best)  # 0.792 measured
    model.save(tmp_path / "clinic.brainnet")  # its cross (HashedCross) and lookups come back with it
    np.testing.assert_allclose(load_model(tmp_path / "clinic.brainnet").predict(test, verbose=0),
                               model.predict(test, verbose=0), rtol=1e-5, atol=1e-6)


def test_docstring_examples_run():
    import doctest

    import brainnet._feature_cross
    import brainnet._feature_space

    for module in (brainnet._feature_space, brainnet._feature_cross):
        failures, tried = doctest.testmod(module, extraglobs={"torch": torch})
        assert tried > 0 and failures == 0, module.__name__


# ------------------------------------------------------------------ errors
def test_construction_errors_say_what_and_the_fix():
    cases = [
        (dict(features={}), "non-empty dict"),
        (dict(features={"a": "float"}, output_mode="list"), "'concat' or 'dict'"),
        (dict(features={"a": "floaty"}), "expected feature 'a' to be one of float"),
        (dict(features={"a": "float", "b": "string_categorical"}, crosses=[("a", "b")]), "features with float"),
        (dict(features={"b": "string_categorical"}, crosses=[("b", "zz")]), "unknown features"),
        (dict(features={"b": FeatureSpace.string_categorical(output_mode="int")}), "output_mode='int'"),
    ]
    for kwargs, text in cases:
        with pytest.raises(ValueError, match="Fix:") as err:
            FeatureSpace(**kwargs)
        assert text in str(err.value), (text, str(err.value))
    for make, text in [(lambda: FeatureSpace.cross(("a",), 4), "two or more features"),
                       (lambda: FeatureSpace.cross(("a", "b"), 4, output_mode="float"), "'int' or 'one_hot'"),
                       (lambda: FeatureSpace.feature("float32", None, "bits"), "expected output_mode among"),
                       (lambda: FeatureSpace.feature("int8", None, "float"), "expected dtype 'float32'"),
                       (lambda: FeatureSpace.float_discretized(4, bin_boundaries=[0.0]), "num_bins = len")]:
        with pytest.raises(ValueError, match="Fix:") as err:
            make()
        assert text in str(err.value)


def test_use_errors_say_what_and_the_fix(tmp_path):
    fs = FeatureSpace({"x": "float_normalized", "n": "integer_categorical"})
    for call, text in [(lambda: fs({"x": X, "n": CODES}), "expected adapt() before use"),
                       (lambda: fs.get_encoded_features(), "expected adapt() before use"),
                       (lambda: fs.save(tmp_path / "f.brainnet"), "expected an adapted feature space"),
                       (lambda: fs.adapt(X), "expected a dict of columns or an iterable"),
                       (lambda: fs.adapt([({"x": X, "n": CODES}, X)]), "(batches of (features, labels)?)"),
                       (lambda: fs.adapt([]), "at least one batch"),
                       (lambda: fs.adapt({"x": X}), "missing ['n']")]:
        with pytest.raises(ValueError, match="Fix:") as err:
            call()
        assert text in str(err.value), (text, str(err.value))
    fs.adapt({"x": X, "n": CODES})
    for call, text in [(lambda: fs([X, CODES]), "expected a dict of columns"),
                       (lambda: fs({"x": X, "n": CODES, "y": X}), "extra columns ['y']"),
                       (lambda: fs({"x": X.reshape(-1, 2), "n": CODES[:100]}), "one value per sample"),
                       (lambda: fs({"x": ["a", "b"], "n": [7, 7]}), "expected numbers in float feature 'x'"),
                       (lambda: fs({"x": [1.0, 2.0], "n": ["7", "b"]}), "expected integers in integer feature")]:
        with pytest.raises(ValueError, match="Fix:") as err:
            call()
        assert text in str(err.value), (text, str(err.value))
    custom = FeatureSpace({"n": FeatureSpace.feature("int32", IntegerLookup(vocabulary=[7, 11]), "one_hot")})
    assert custom.features["n"].dtype == "int64"  # Keras's int32, brainnet's int64; nothing to adapt here
    np.testing.assert_array_equal(custom({"n": [11, 5]}).numpy(), [[0, 0, 1], [1, 0, 0]])
    one_hot_of_floats = FeatureSpace({"x": FeatureSpace.feature("float32", Identity(), "one_hot")})
    with pytest.raises(ValueError, match="whose number of indices is known.*Fix:"):
        one_hot_of_floats({"x": X})
