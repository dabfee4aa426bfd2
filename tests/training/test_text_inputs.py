"""fit, evaluate, validation and predict on raw texts, on real fortunes: the
model's leading TextVectorization (or StringLookup) is applied once and the
rest trains exactly as on the indices vectorized by hand; a functional
Input(dtype="string") model trains, saves and loads; the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.datasets import fortunes
from brainnet.layers import (Dense, Embedding, GlobalAveragePooling1D, Hashing, Input, Layer, StringLookup,
                             TextVectorization)
from brainnet.models import Model, Sequential, clone_model, load_model
from brainnet.training import text_inputs
from brainnet.utils import set_random_seed

FILES = ("startrek", "food")


@pytest.fixture(scope="module")
def corpus() -> tuple[np.ndarray, np.ndarray]:
    try:
        found = [fortunes.load_fortunes([name]) for name in FILES]
    except fortunes.DatasetNotFoundError:
        pytest.skip("the fortunes files are missing (apt-get install fortunes)")
    texts = np.array([t for f in found for t in f], dtype=object)
    labels = np.concatenate([np.full(len(f), i) for i, f in enumerate(found)])
    return texts, labels


def _tail(vocabulary: int) -> list:
    return [Embedding(vocabulary, 8, mask_zero=True), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")]


def _weights(layers: list) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for layer in layers for p in layer.parameters()]


@pytest.mark.parametrize("sequence_length", [40, None])
def test_fit_on_texts_equals_fit_on_the_indices_vectorized_by_hand(corpus, sequence_length):
    texts, labels = corpus
    vectorize = TextVectorization(max_tokens=3000, output_sequence_length=sequence_length)
    vectorize.adapt(texts)
    val = (texts[::5], labels[::5])
    set_random_seed(0)
    by_hand = Sequential(_tail(3000))
    by_hand.compile("adam", "binary_crossentropy", metrics=["accuracy"], device="cpu")
    indices = vectorize(texts)  # (N, T): T the longest text's length when sequence_length is None
    expected = by_hand.fit(indices, labels, epochs=3, batch_size=32, verbose=0,
                           validation_data=(indices[::5], val[1]))  # padding is masked: its length does not count
    set_random_seed(0)
    end_to_end = Sequential([vectorize] + _tail(3000))
    end_to_end.compile("adam", "binary_crossentropy", metrics=["accuracy"], device="cpu")
    got = end_to_end.fit(texts, labels, epochs=3, batch_size=32, verbose=0, validation_data=val)
    for a, b in zip(_weights(end_to_end.layers[1:]), _weights(by_hand.layers)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for key, values in expected.history.items():
        np.testing.assert_allclose(got.history[key], values, atol=1e-6)
    assert got.history["accuracy"][-1] > 0.6  # it learns: the larger file is 0.53
    np.testing.assert_allclose(end_to_end.evaluate(texts, labels, verbose=0),
                               by_hand.evaluate(indices, labels, verbose=0), atol=1e-6)
    np.testing.assert_allclose(end_to_end.predict(texts[:20], verbose=0),
                               by_hand.predict(indices[:20], verbose=0), atol=1e-6)


def test_validation_split_and_train_on_batch_take_texts(corpus):
    texts, labels = corpus
    lookup = StringLookup(output_mode="multi_hot")
    words = np.array([t.lower().split()[:3] + [""] * (3 - len(t.split()[:3])) for t in texts], dtype=object)
    lookup.adapt(words)
    bags = lookup(words).numpy()
    set_random_seed(1)
    model = Sequential([lookup, Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", device="cpu")
    history = model.fit(words, labels, validation_split=0.2, epochs=2, verbose=0)
    set_random_seed(1)
    plain = Sequential([Dense(1, activation="sigmoid")])
    plain.compile("adam", "binary_crossentropy", device="cpu")
    reference = plain.fit(bags, labels, validation_split=0.2, epochs=2, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], reference.history["val_loss"], atol=1e-6)
    np.testing.assert_allclose(model.train_on_batch(words[:8], labels[:8]), plain.train_on_batch(bags[:8], labels[:8]),
                               atol=1e-6)


def test_a_functional_string_input_trains_saves_and_loads(corpus, tmp_path):
    texts, labels = corpus
    vectorize = TextVectorization(max_tokens=2000, output_sequence_length=30)
    vectorize.adapt(texts)
    set_random_seed(2)
    inputs = Input(shape=(1,), dtype="string")  # Keras's tutorial pattern
    x = vectorize(inputs)
    for layer in _tail(2000):
        x = layer(x)
    model = Model(inputs, x)
    assert model.takes_text() and model.input_shape == (None, 1)
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(texts, labels, epochs=4, verbose=0, validation_data=(texts[::4, None], labels[::4]))
    assert history.history["accuracy"][-1] > 0.6
    before = model.predict(texts[:10], verbose=0)
    np.testing.assert_allclose(model(texts[:10]).detach().numpy(), before, atol=1e-6)
    model.save(tmp_path / "text.brainnet")
    loaded = load_model(tmp_path / "text.brainnet")
    assert loaded.inputs[0].dtype == "string"
    np.testing.assert_allclose(loaded.predict(texts[:10], verbose=0), before, atol=1e-6)
    np.testing.assert_allclose(loaded.evaluate(texts, labels, verbose=0), model.evaluate(texts, labels, verbose=0),
                               atol=1e-6)
    scalar = Input(shape=(), dtype="string")  # one string per sample, no axis: texts (N,) or (N, 1) both go
    flat = Model(scalar, model.layers[-1](model.layers[-2](model.layers[-3](vectorize(scalar)))))
    np.testing.assert_allclose(flat.predict(texts[:10], verbose=0), before, atol=1e-6)
    np.testing.assert_allclose(flat.predict(texts[:10, None], verbose=0), before, atol=1e-6)


def test_text_models_have_string_inputs_and_clone(corpus):
    texts, _ = corpus
    vectorize = TextVectorization(max_tokens=100, output_sequence_length=5)
    vectorize.adapt(texts)
    sequential = Sequential([vectorize] + _tail(100))
    sequential.build((None,))
    assert sequential.inputs[0].dtype == "string" and sequential.inputs[0].shape == (None,)
    inputs = Input(shape=(1,), dtype="string")
    model = Model(inputs, sequential.layers[-1](sequential.layers[-2](sequential.layers[-3](vectorize(inputs)))))
    copy = clone_model(model)
    copy.set_weights(model.get_weights())
    assert copy.inputs[0].dtype == "string"
    np.testing.assert_allclose(copy.predict(texts[:5], verbose=0), model.predict(texts[:5], verbose=0), atol=1e-6)


def test_a_string_input_beside_a_numeric_one(corpus):
    texts, labels = corpus
    vectorize = TextVectorization(max_tokens=500, output_mode="multi_hot")
    vectorize.adapt(texts)
    text_in, number_in = Input(shape=(), dtype="string", name="text"), Input(shape=(1,), name="length")
    from brainnet.layers import Concatenate
    out = Dense(1, activation="sigmoid")(Concatenate()([vectorize(text_in), number_in]))
    model = Model([text_in, number_in], out)
    model.compile("adam", "binary_crossentropy", device="cpu")
    lengths = np.array([[len(t) / 100] for t in texts], dtype=np.float32)
    set_random_seed(3)
    model.fit({"text": texts, "length": lengths}, labels, epochs=1, verbose=0)
    expected = np.concatenate([vectorize(texts).numpy(), lengths], axis=1) @ model.layers[-1].kernel.detach().numpy() \
        + model.layers[-1].bias.detach().numpy()
    np.testing.assert_allclose(model.predict([texts, lengths], verbose=0), 1 / (1 + np.exp(-expected)), atol=1e-5)



def test_a_hashing_head_whose_output_rank_differs_from_its_input(corpus):
    """Hashing(one_hot) first: (N,) or (N, 1) texts become (N, 16), so the labels are checked
    against the model's output for its string input, not for an input of shape (N, 16)."""
    texts, labels = corpus
    first_words = np.array([t.split()[0] if t.split() else "" for t in texts], dtype=object)
    bins = Hashing(16, output_mode="one_hot")(first_words[:, None]).numpy()  # the same bins: no salt
    assert bins.shape == (len(texts), 16)
    set_random_seed(2)
    inputs = Input(shape=(1,), dtype="string")
    model = Model(inputs, Dense(1, activation="sigmoid")(Hashing(16, output_mode="one_hot")(inputs)))
    model.compile("adam", "binary_crossentropy", device="cpu")
    got = model.fit(first_words, labels, epochs=2, batch_size=64, verbose=0)
    set_random_seed(2)
    plain = Sequential([Input((16,)), Dense(1, activation="sigmoid")])
    plain.compile("adam", "binary_crossentropy", device="cpu")
    expected = plain.fit(bins, labels, epochs=2, batch_size=64, verbose=0)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], atol=1e-6)
    np.testing.assert_allclose(model.predict(first_words[:10], verbose=0), plain.predict(bins[:10], verbose=0),
                               atol=1e-6)
    set_random_seed(2)  # the same as a Sequential model on (N,) texts
    sequential = Sequential([Hashing(16, output_mode="one_hot"), Dense(1, activation="sigmoid")])
    sequential.compile("adam", "binary_crossentropy", device="cpu")
    got = sequential.fit(first_words, labels, epochs=2, batch_size=64, verbose=0)
    np.testing.assert_allclose(got.history["loss"], expected.history["loss"], atol=1e-6)

def test_apply_head_pads_chunks_to_the_longest_text(monkeypatch, corpus):
    texts, _ = corpus
    vectorize = TextVectorization()
    vectorize.adapt(texts)
    monkeypatch.setattr(text_inputs, "CHUNK", 7)
    np.testing.assert_array_equal(text_inputs.apply_head(vectorize, texts).numpy(), vectorize(texts).numpy())


# ------------------------------------------------------------------ errors
def test_numbers_for_a_text_model_are_refused():
    vectorize = TextVectorization(vocabulary=["a", "b"], output_sequence_length=2)
    model = Sequential([vectorize, Embedding(4, 2), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", device="cpu")
    with pytest.raises(ValueError, match=r"x: expected texts \(an array or list of str\), since the model's "
                                         r"'.*' \(TextVectorization\) takes strings, got a tensor of dtype "
                                         r"torch.int64\. Fix: pass the texts themselves"):
        model.fit(torch.tensor([[2, 3], [3, 0]]), np.array([0, 1]), verbose=0)
    with pytest.raises(ValueError, match=r"x: expected at least one sample"):
        model.fit(np.array([], dtype=object), np.array([]), verbose=0)
    text_in, number_in = Input(shape=(), dtype="string"), Input(shape=(1,))
    from brainnet.layers import Concatenate
    two = Model([text_in, number_in], Dense(1)(Concatenate()([StringLookup(vocabulary=["a"], output_mode="multi_hot")(
        text_in), number_in])))
    two.compile("adam", "mse", device="cpu")
    with pytest.raises(ValueError, match=r"x: expected 2 arrays \(one per model input, texts for the string inputs\), "
                                         r"got 1\. Fix: pass one array per Input"):
        two.fit(np.array(["a", "b"], dtype=object), np.array([0.0, 1.0]), verbose=0)


class _WeightedText(Layer):
    """A text layer with a trainable weight: it cannot be applied once for all of training."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(1,), initializer="ones", name="scale")

    def takes_text(self):
        return True

    def forward(self, inputs, training=None, **kwargs):
        return self.scale * torch.tensor([[float(len(t))] for t in np.asarray(inputs).reshape(-1)])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


def test_a_text_layer_with_trainable_weights_runs_at_every_step():
    """As in Keras, its weight trains: fit gives it each batch's strings (tests/training/test_trainable_text_layers.py)."""
    head = _WeightedText()
    model = Sequential([head, Dense(1)])
    model.compile("sgd", "mse", device="cpu")
    model.fit(np.array(["a", "bb"], dtype=object), np.array([1.0, 2.0]), verbose=0)
    assert float(head.scale) != 1.0  # trained with the Dense after it
    head.trainable = False  # frozen, it gives the same numbers all through training: applied once
    before = float(head.scale)
    model.fit(np.array(["a", "bb"], dtype=object), np.array([1.0, 2.0]), verbose=0)
    assert float(head.scale) == before
    np.testing.assert_allclose(model.predict(np.array(["ccc"]), verbose=0),
                               model.layers[1](torch.tensor([[3.0 * before]])).detach().numpy(), atol=1e-6)


def test_string_inputs_that_do_not_feed_one_text_layer_are_refused():
    with pytest.raises(TypeError, match=r"Layer '.*' \(Dense\): expected numbers, got a string Input\. Fix: turn "
                                        r"the strings into numbers first, x = TextVectorization"):
        Dense(2)(Input(shape=(1,), dtype="string"))
    # read by two text layers whose outputs have no fixed size (token sequences as long as the longest text)
    inputs = Input(shape=(1,), dtype="string")
    first, second = TextVectorization(vocabulary=["x"]), TextVectorization(vocabulary=["y"])
    from brainnet.layers import Concatenate
    pooled = [GlobalAveragePooling1D()(Embedding(4, 2)(v(inputs))) for v in (first, second)]
    model = Model(inputs, Dense(1)(Concatenate()(pooled)))
    model.compile("adam", "mse", device="cpu")
    with pytest.raises(ValueError, match=r"Model '.*': expected the string Input '.*' to feed TextVectorization or "
                                         r"StringLookup layers, each called on it alone \(several need outputs of a "
                                         r"fixed size\), got it read by 2 layer call\(s\).*Fix: x = vectorize"):
        model.fit(np.array([["x"], ["y"]], dtype=object), np.array([0.0, 1.0]), verbose=0)


def test_a_string_input_read_by_two_lookups_trains_as_each_lookup_gives():
    """Keras's Wide & Deep reads a column twice: one-hot, and indices into an Embedding. Each
    lookup is applied once; the model's output is Dense(concat(one_hot, E[index])) (NumPy)."""
    torch.manual_seed(0)
    words = Input(shape=(), dtype="string", name="words")
    one_hot = StringLookup(vocabulary=["x", "y", "z"], num_oov_indices=0, output_mode="binary")(words)
    index = StringLookup(vocabulary=["x", "y", "z"], num_oov_indices=0)(words)
    from brainnet.layers import Concatenate
    embedding, dense = Embedding(3, 2), Dense(1)
    model = Model({"words": words}, dense(Concatenate()([one_hot, embedding(index)])))
    model.compile("adam", "mse", device="cpu")
    x = np.array(["x", "y", "z", "y"], dtype=object)
    history = model.fit({"words": x}, np.array([0.0, 1.0, 2.0, 1.0]), epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    ids = [0, 1, 2, 1]
    features = np.concatenate([np.eye(3)[ids], embedding.embeddings.detach().numpy()[ids]], axis=1)
    expected = features @ dense.kernel.detach().numpy() + dense.bias.detach().numpy()
    np.testing.assert_allclose(model.predict({"words": x}, verbose=0), expected, rtol=1e-5, atol=1e-6)
