"""TextVectorization and StringLookup against a naive pure-Python version of
their docstring rule (standardize, split, count, rank, map), on hand-made
text and on real fortunes; their errors; save and load."""

from __future__ import annotations

import math
import re
import string

import numpy as np
import pytest
import torch

from brainnet.datasets import fortunes
from brainnet.layers import (Concatenate, Dense, Embedding, GlobalAveragePooling1D, Input, StringLookup,
                             TextVectorization)
from brainnet.models import Model, Sequential, load_model
from brainnet.saving import register_serializable

ASCII_SPACE = " \t\n\r\f\v"


# ------------------------------------------------------------------ the naive rule
def naive_tokens(text: str, ngrams: int | None = None) -> list[str]:
    """Lowercase, drop ASCII punctuation, split on ASCII whitespace, add n-grams."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    words, word = [], ""
    for c in text + " ":
        if c in ASCII_SPACE:
            if word:
                words.append(word)
            word = ""
        else:
            word += c
    grams = list(words)
    for n in range(2, (ngrams or 1) + 1):
        grams += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    return grams


def naive_vocabulary(texts: list[str], max_tokens: int | None, reserved: int) -> list[str]:
    counts: dict[str, int] = {}
    for text in texts:
        for token in naive_tokens(text):
            counts[token] = counts.get(token, 0) + 1
    ranked = sorted(counts, reverse=True)  # ties: reverse token order ...
    ranked.sort(key=lambda t: -counts[t])  # ... under count, most frequent first (a stable sort)
    return ranked if max_tokens is None else ranked[: max_tokens - reserved]


def naive_int(texts: list[str], vocabulary: list[str], length: int) -> np.ndarray:
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(texts), length), dtype=np.int64)
    for n, text in enumerate(texts):
        for t, token in enumerate(naive_tokens(text)[:length]):
            out[n, t] = index.get(token, 1)
    return out


def naive_bags(texts: list[str], vocabulary: list[str], mode: str, idf: list[float] | None = None) -> np.ndarray:
    index = {t: i for i, t in enumerate(vocabulary)}
    out = np.zeros((len(texts), len(vocabulary)))
    for n, text in enumerate(texts):
        for token in naive_tokens(text):
            out[n, index.get(token, 0)] += 1
    if mode == "multi_hot":
        return np.minimum(out, 1)
    return out * np.array(idf) if mode == "tf_idf" else out


def naive_idf(texts: list[str], tokens: list[str]) -> list[float]:
    documents = [set(naive_tokens(t)) for t in texts]
    weights = [math.log(1 + len(documents) / (1 + sum(token in d for d in documents))) for token in tokens]
    return [sum(weights) / len(weights)] + weights  # the OOV index takes the mean


TEXTS = ["The cat sat.", "The dog sat!", "a cat", "Dogs? A DOG; the end"]


def test_hand_made_vocabulary_and_indices():
    # Counted by hand: the 3, dog 2, cat 2, sat 2, a 2, dogs 1, end 1 (punctuation gone, lowercase).
    # Ties in reverse order: sat > dog > cat > a; end > dogs.
    layer = TextVectorization()
    layer.adapt(TEXTS)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "sat", "dog", "cat", "a", "end", "dogs"]
    assert layer.get_vocabulary(include_special_tokens=False)[0] == "the"
    assert layer.vocabulary_size() == 9
    y = layer(["the cat, the DOG", "zebra"])
    assert y.dtype == torch.int64
    assert y.tolist() == [[2, 5, 2, 4], [1, 0, 0, 0]]  # padded with 0 to the longest, zebra unknown: 1


def test_keras_docstring_example():
    layer = TextVectorization(max_tokens=5000, output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert layer.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    assert layer(np.array([["foo qux bar"], ["qux baz"]])).tolist() == [[4, 1, 3, 0], [1, 2, 0, 0]]
    assert layer("foo").tolist() == [4, 0, 0, 0]  # one string: one sample, no batch axis


@pytest.mark.parametrize("length", [None, 2, 9])
def test_int_mode_matches_naive(length):
    layer = TextVectorization(max_tokens=6, output_sequence_length=length)
    layer.adapt(TEXTS)
    vocabulary = ["", "[UNK]"] + naive_vocabulary(TEXTS, 6, 2)
    assert layer.get_vocabulary() == vocabulary
    want = naive_int(TEXTS, vocabulary, length or max(len(naive_tokens(t)) for t in TEXTS))
    got = layer(TEXTS)
    assert layer.compute_output_shape((None, 1)) == (None, length)
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_bag_modes_match_naive(mode):
    layer = TextVectorization(output_mode=mode)
    layer.adapt(TEXTS)
    vocabulary = ["[UNK]"] + naive_vocabulary(TEXTS, None, 1)
    assert layer.get_vocabulary() == vocabulary
    queries = ["the the cat zebra", "A dog, a DOG, a dog.", ""]
    idf = naive_idf(TEXTS, vocabulary[1:]) if mode == "tf_idf" else None
    got = layer(queries)
    assert got.dtype == torch.float32 and tuple(got.shape) == (3, len(vocabulary))
    np.testing.assert_allclose(got.numpy(), naive_bags(queries, vocabulary, mode, idf), rtol=1e-6)


def test_pad_to_max_tokens_widens_the_vectors():
    layer = TextVectorization(max_tokens=20, output_mode="count", pad_to_max_tokens=True)
    layer.adapt(TEXTS)
    out = layer(["the cat"])
    assert tuple(out.shape) == (1, 20) and layer.compute_output_shape((None, 1)) == (None, 20)
    # [UNK] 0, the 1, sat 2, dog 3, cat 4, ...: 8 indices in use, the 12 others stay 0
    assert out[0, 1] == 1 and out[0, 4] == 1 and out.sum() == 2


def test_ngrams_character_and_no_split():
    layer = TextVectorization(ngrams=2)
    layer.adapt(["a b c", "a b"])
    # unigrams a 2, b 2, c 1; bigrams "a b" 2, "b c" 1 → count, then reverse order
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a b", "a", "c", "b c"]
    assert layer(["a b c"]).tolist() == [[4, 2, 5, 3, 6]]  # unigrams first, then bigrams (Keras's order)
    assert TextVectorization(ngrams=(2,), vocabulary=["b c"])(["a b c"]).tolist() == [[1, 2]]
    chars = TextVectorization(split="character", standardize=None, vocabulary=["a", "B", " "])
    assert chars(["aB b"]).tolist() == [[2, 3, 4, 1]]
    whole = TextVectorization(split=None, vocabulary=["new york"])
    assert whole(["New York!", "Paris"]).tolist() == [[2], [1]]
    assert TextVectorization(standardize="lower", vocabulary=["a."])(["A. a"]).tolist() == [[2, 1]]
    assert TextVectorization(standardize="strip_punctuation", vocabulary=["A"])(["A. a"]).tolist() == [[2, 1]]


def test_split_on_ascii_whitespace_only():
    layer = TextVectorization(vocabulary=["a\u00a0b", "c"])
    assert layer(["a\u00a0b\tc\n\nc"]).tolist() == [[2, 3, 3]]  # a no-break space joins (TensorFlow's rule)


@register_serializable(package="test_text")
def _keep_digits(text: str) -> str:
    return re.sub(r"[^0-9 ]", "", text)


def test_callable_standardize_and_split_survive_save(tmp_path):
    layer = TextVectorization(standardize=_keep_digits, split=lambda s: s.split(" "), vocabulary=["12"])
    assert layer(["a12 b3"]).tolist() == [[2, 1]]
    with pytest.raises(ValueError, match=r"save: expected TextVectorization '.*'s split function to be registered.*"
                                         r"got the unregistered '<lambda>'.*Fix: decorate it with"):
        layer.get_config()
    keep = TextVectorization(standardize=_keep_digits, vocabulary=["12"])
    again = TextVectorization.from_config(keep.get_config())
    assert again(["a12 b3"]).tolist() == [[2, 1]]


def test_vocabulary_given_as_list_file_or_with_special_tokens(tmp_path):
    path = tmp_path / "vocabulary.txt"
    path.write_text("earth\nwind\nand\nfire\n", encoding="utf-8")
    for vocabulary in (["earth", "wind", "and", "fire"], str(path), ["", "[UNK]", "earth", "wind", "and", "fire"]):
        layer = TextVectorization(vocabulary=vocabulary, output_sequence_length=4)
        assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
        assert layer(["Wind and fire, water"]).tolist() == [[3, 4, 5, 1]]
    layer.set_vocabulary(["water"])
    assert layer(["water"]).tolist() == [[2, 0, 0, 0]]


def test_given_idf_weights_oov_takes_their_mean():
    layer = TextVectorization(output_mode="tf_idf", vocabulary=["a", "b"], idf_weights=[1.0, 3.0])
    assert layer(["a b b c"]).tolist() == [[2.0, 1.0, 6.0]]  # [UNK] count 1 · mean(1, 3) = 2


def _fortunes(names: list[str]) -> list[str]:
    try:
        return fortunes.load_fortunes(names)
    except fortunes.DatasetNotFoundError:
        pytest.skip("the fortunes files are missing (apt-get install fortunes puts them in /usr/share/games/fortunes)")


@pytest.mark.parametrize("mode", ["int", "count", "tf_idf"])
def test_real_fortunes_match_naive(mode):
    texts = _fortunes(["startrek", "food"])
    train, queries = texts[:300], texts[300:]
    reserved = 2 if mode == "int" else 1
    layer = TextVectorization(max_tokens=500, output_mode=mode)
    layer.adapt(train)
    vocabulary = [""] * (reserved - 1) + ["[UNK]"] + naive_vocabulary(train, 500, reserved)
    assert layer.get_vocabulary() == vocabulary and len(vocabulary) == 500
    got = layer(queries).numpy()
    if mode == "int":
        want = naive_int(queries, vocabulary, max(len(naive_tokens(t)) for t in queries))
        np.testing.assert_array_equal(got, want)
    else:
        idf = naive_idf(train, vocabulary[1:]) if mode == "tf_idf" else None
        np.testing.assert_allclose(got, naive_bags(queries, vocabulary, mode, idf), rtol=1e-5)


# ------------------------------------------------------------------ StringLookup
def test_string_lookup_indices_mask_invert_and_modes():
    lookup = StringLookup(vocabulary=["a", "b", "c"])
    assert lookup([["a", "c"], ["d", "b"]]).tolist() == [[1, 3], [0, 2]]
    assert lookup.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    masked = StringLookup(vocabulary=["a", "b"], mask_token="")
    assert masked(np.array(["", "b", "z"])).tolist() == [0, 3, 1]  # "" 0, [UNK] 1, a 2, b 3
    inverse = StringLookup(vocabulary=["a", "b", "c"], invert=True)
    assert inverse(torch.tensor([[1, 3], [0, 9]])).tolist() == [["a", "c"], ["[UNK]", "[UNK]"]]
    counts = StringLookup(vocabulary=["a", "b"], output_mode="count")
    assert counts([["a", "a", "z"], ["b", "b", "b"]]).tolist() == [[1, 2, 0], [0, 0, 3]]
    learned = StringLookup()
    learned.adapt(np.array(["x", "y", "y", "z", "x", "y"]))
    assert learned.get_vocabulary() == ["[UNK]", "y", "x", "z"]  # y 3, then x 2, then z 1
    strict = StringLookup(vocabulary=["a"], num_oov_indices=0)
    assert strict(["a"]).tolist() == [0]
    with pytest.raises(ValueError, match=r"expected only vocabulary tokens with num_oov_indices=0, got \['q'\].*"
                                         r"Fix: num_oov_indices=1"):
        strict(["q"])


def naive_one_hot(values: np.ndarray, vocabulary: list[str], mask: str | None = None) -> np.ndarray:
    """y[..., i] = 1 where the value's index is i (unknown: 0, the OOV index; the mask: no 1), each
    value its own row; a last axis of size 1 is replaced by the indices (Keras's rule)."""
    index = {t: i + 1 for i, t in enumerate(vocabulary)}
    flat = values.reshape(-1)
    out = np.zeros((len(flat), len(vocabulary) + 1))
    for n, value in enumerate(flat):
        if value != mask:
            out[n, index.get(value, 0)] = 1.0
    shape = values.shape[:-1] if values.ndim > 1 and values.shape[-1] == 1 else values.shape
    return out.reshape(shape + (len(vocabulary) + 1,))


@pytest.mark.parametrize("shape", [(6,), (6, 1), (3, 2), ()])
def test_string_lookup_one_hot_matches_naive(shape):
    rng = np.random.default_rng(len(shape))
    values = rng.choice(["red", "green", "blue", "grey", ""], size=shape).astype(object)
    vocabulary = ["red", "green", "blue"]
    lookup = StringLookup(vocabulary=vocabulary, output_mode="one_hot")
    out = lookup(values)
    assert out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), naive_one_hot(np.asarray(values), vocabulary))
    assert tuple(out.shape) == lookup.compute_output_shape(np.asarray(values).shape)
    masked = StringLookup(vocabulary=vocabulary, output_mode="one_hot", mask_token="")
    assert masked.get_vocabulary() == ["[UNK]"] + vocabulary  # the mask token is left out, as Keras
    np.testing.assert_array_equal(masked(values).numpy(), naive_one_hot(np.asarray(values), vocabulary, mask=""))


def test_string_lookup_one_hot_adapts_trains_and_saves_in_a_structured_model(tmp_path):
    # Keras's structured-data tutorial: a string column, one-hot encoded, beside a numeric one.
    rng = np.random.default_rng(0)
    thal_values = rng.choice(["fixed", "normal", "reversible"], size=(64, 1))
    age_values = rng.normal(size=(64, 1)).astype("float32")
    target = (thal_values[:, 0] == "normal").astype("float32")
    lookup = StringLookup(output_mode="one_hot")
    lookup.adapt(thal_values)
    assert sorted(lookup.get_vocabulary()) == ["[UNK]", "fixed", "normal", "reversible"]
    thal, age = Input(shape=(1,), name="thal", dtype="string"), Input(shape=(1,), name="age")
    output = Dense(1, activation="sigmoid")(Concatenate()([lookup(thal), age]))
    model = Model([thal, age], output)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit({"thal": thal_values, "age": age_values}, target, epochs=2, batch_size=16, verbose=0)
    # the model is the Dense applied to the naive one-hot columns beside the ages
    w, b = (p.detach().numpy() for p in model.layers[-1].parameters())
    features = np.concatenate([naive_one_hot(thal_values, lookup.get_vocabulary()[1:]), age_values], axis=1)
    expected = 1 / (1 + np.exp(-(features @ w.reshape(len(features[0]), -1) + b)))
    got = model.predict({"thal": thal_values, "age": age_values}, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    np.testing.assert_allclose(loaded.predict({"thal": thal_values, "age": age_values}, verbose=0), got, rtol=1e-6)


# ------------------------------------------------------------------ in models, saved and loaded
def test_in_a_model_saved_and_loaded_gives_the_same_outputs(tmp_path):
    texts = np.array(["good food here", "bad food", "good good", "bad"])
    vectorize = TextVectorization(max_tokens=10, output_sequence_length=3)
    vectorize.adapt(texts)
    model = Sequential([vectorize, Embedding(10, 4), GlobalAveragePooling1D(), Dense(2, activation="softmax")])
    before = model(texts).detach().numpy()
    np.testing.assert_allclose(model.predict(texts, verbose=0), before, rtol=1e-6)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.layers[0].get_vocabulary() == vectorize.get_vocabulary()
    np.testing.assert_allclose(loaded(texts).detach().numpy(), before, rtol=1e-6)
    tfidf = TextVectorization(output_mode="tf_idf")
    tfidf.adapt(texts)
    bag = Sequential([tfidf, Dense(1)])
    out = bag(texts).detach().numpy()
    bag.save(tmp_path / "b.brainnet")
    np.testing.assert_allclose(load_model(tmp_path / "b.brainnet")(texts).detach().numpy(), out, rtol=1e-6)


def test_fit_on_texts_without_a_text_layer_says_to_put_one_first():
    model = Sequential([Embedding(3, 2), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"x: expected numbers, got text such as 'a b', for a model that does not "
                                         r"take strings.*Fix: put the text layer first.*vectorize.adapt\(texts\); "
                                         r"model = Sequential\(\[vectorize, .*x = vectorize\(texts\)"):
        model.fit(np.array(["a b", "b"]), np.array([0, 1]), verbose=0)
    with pytest.raises(TypeError, match=r"Layer '.*' \(Dense\): expected numbers, got strings.*Fix: turn texts "
                                        r"into indices first with brainnet.layers.TextVectorization"):
        Dense(2)(np.array(["a"]))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, message", [
    ({"output_mode": "binary_bag"}, r"expected output_mode among 'int', 'multi_hot'.*got 'binary_bag'.*Fix: "),
    ({"output_mode": "count", "output_sequence_length": 5},
     r"expected output_sequence_length only with output_mode='int'.*Fix: drop output_sequence_length"),
    ({"output_sequence_length": 0}, r"expected output_sequence_length None or a positive integer, got 0.*Fix: "),
    ({"standardize": "upper"}, r"expected standardize among 'lower_and_strip_punctuation'.*got 'upper'.*Fix: "),
    ({"split": "words"}, r"expected split among 'whitespace', 'character'.*got 'words'.*Fix: split='whitespace'"),
    ({"ngrams": 0}, r"expected ngrams None, a positive integer.*got 0.*Fix: ngrams=2"),
    ({"max_tokens": 2}, r"expected max_tokens None or an integer above 2.*got 2.*Fix: max_tokens=20000"),
    ({"pad_to_max_tokens": True}, r"expected max_tokens with pad_to_max_tokens=True.*Fix: max_tokens=20000"),
    ({"output_mode": "tf_idf", "vocabulary": ["a"]}, r"expected idf_weights with a vocabulary for output_mode="
                                                     r"'tf_idf'.*Fix: pass idf_weights"),
    ({"vocabulary": ["a"], "idf_weights": [1.0]}, r"expected idf_weights only with output_mode='tf_idf', got them "
                                                  r"with output_mode='int'.*Fix: drop idf_weights"),
    ({"output_mode": "tf_idf", "vocabulary": ["a", "b"], "idf_weights": [1.0]},
     r"expected one idf weight per vocabulary token, 2, got 1.*Fix: "),
    ({"vocabulary": []}, r"expected a non-empty list of str tokens as vocabulary, got \[\].*Fix: vocabulary="),
    ({"vocabulary": ["a", "b", "a"]}, r"expected each vocabulary token once.*got repeated \['a'\].*Fix: "),
    ({"vocabulary": ["a", "[UNK]"]}, r"got special tokens further on: \['\[UNK\]'\].*Fix: "),
    ({"vocabulary": ["a", "b"], "max_tokens": 3}, r"expected at most max_tokens=3 indices, got a vocabulary of 4.*"
                                                  r"Fix: max_tokens=4 or more"),
])
def test_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextVectorization(**kwargs)


def test_call_errors():
    layer = TextVectorization()
    with pytest.raises(ValueError, match=r"expected a vocabulary, got a layer that was neither adapted nor given one"
                                         r".*Fix: layer.adapt\(texts\) first"):
        layer(["some text"])
    layer.adapt(["some text"])
    with pytest.raises(TypeError, match=r"expected strings .*got numbers \(ndarray of dtype int64\).*Fix: pass the "
                                        r"texts themselves"):
        layer(np.array([[3, 4]]))
    with pytest.raises(TypeError, match=r"got numbers \(Tensor of dtype torch.int64\)"):
        layer(torch.tensor([1]))
    with pytest.raises(TypeError, match=r"expected strings .*got float 1.5 among them.*Fix: pass the texts"):
        layer(["a", 1.5])
    with pytest.raises(ValueError, match=r"expected texts of shape \(batch,\) or \(batch, 1\).*got shape \(2, 2\).*"
                                         r"Fix: texts.reshape\(-1\)"):
        layer(np.array([["a", "b"], ["c", "d"]]))


def test_string_lookup_errors():
    with pytest.raises(ValueError, match=r"expected num_oov_indices 0 or 1, got 2.*Fix: num_oov_indices=1"):
        StringLookup(num_oov_indices=2)
    with pytest.raises(ValueError, match=r"expected output_mode='int' with invert=True.*Fix: StringLookup\("):
        StringLookup(vocabulary=["a"], invert=True, output_mode="count")
    with pytest.raises(ValueError, match=r"expected output_mode='int' with invert=True.*got output_mode='one_hot'"):
        StringLookup(vocabulary=["a"], invert=True, output_mode="one_hot")
    with pytest.raises(ValueError, match=r"expected output_mode among 'int', 'one_hot', 'multi_hot', 'count', "
                                         r"'tf_idf', got 'onehot'.*Fix: "):
        StringLookup(output_mode="onehot")
    with pytest.raises(TypeError, match=r"\(invert=True\): expected integer indices, got dtype float64.*Fix: "):
        StringLookup(vocabulary=["a"], invert=True)(np.array([0.5]))
