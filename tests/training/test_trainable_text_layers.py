"""Strings into layers with trainable weights, as Keras 3 takes them: a layer of
yours that holds a StringLookup takes strings (by hand and on a string Input
of a functional graph), and fit, validation and predict run such a layer (or a
``Sequential([StringLookup, Embedding])``) on each batch's strings. Checked
against the same network trained on the indices looked up by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.training import text_inputs

WORDS = [f"w{i}" for i in range(12)]


class LookedUpEmbedding(layers.Layer):
    """A layer of one's own that looks its strings up, then embeds the indices."""

    def __init__(self, vocabulary, dim, **kwargs):
        super().__init__(**kwargs)
        self.lookup = layers.StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
        self.embedding = layers.Embedding(len(vocabulary), dim)

    def call(self, inputs):
        return self.embedding(self.lookup(inputs))


class NoLookup(layers.Layer):
    def call(self, inputs):
        return inputs


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(WORDS), n)
    return np.array(WORDS, dtype=object)[idx], idx, (idx % 3 == 0).astype("float32")


def test_a_layer_of_yours_holding_a_string_lookup_takes_strings():
    layer = LookedUpEmbedding(WORDS, 4)
    out = layer(np.array(["w3", "w0"]))
    np.testing.assert_array_equal(out.detach().numpy(), layer.embedding.embeddings.detach().numpy()[[3, 0]])
    # on a string Input: tried on a token of its vocabulary (num_oov_indices=0 refuses others)
    symbolic = layer(keras.Input(shape=(), dtype="string"))
    assert tuple(symbolic.shape) == (None, 4)
    # a layer of yours without a text layer inside keeps the refusal and its fix
    with pytest.raises(TypeError, match=r"Layer '.*' \(NoLookup\): expected numbers, got a string Input\. Fix: turn "
                                        r"the strings into numbers first"):
        NoLookup()(keras.Input(shape=(), dtype="string"))
    with pytest.raises(TypeError, match=r"\(NoLookup\): expected numbers, got strings \(dtype <U2\)\. Fix: turn "
                                        r"texts into indices first"):
        NoLookup()(np.array(["w1"]))


@pytest.mark.parametrize("kind", ["own_layer", "sequential"])
def test_fit_on_strings_equals_fit_on_the_indices_looked_up_by_hand(kind):
    texts, idx, y = _data()
    val_texts, val_idx, val_y = _data(32, seed=1)

    def network(head):
        inputs = keras.Input(shape=(), dtype="string" if head is not None else "int64")
        x = head(inputs) if head is not None else layers.Embedding(len(WORDS), 4)(inputs)
        return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(x))

    keras.utils.set_random_seed(0)
    head = LookedUpEmbedding(WORDS, 4) if kind == "own_layer" else keras.Sequential(
        [layers.StringLookup(vocabulary=WORDS, mask_token=None, num_oov_indices=0), layers.Embedding(len(WORDS), 4)])
    on_strings = network(head)
    by_hand = network(None)
    by_hand.set_weights(on_strings.get_weights())
    histories = []
    for model, x, vx in ((on_strings, texts, val_texts), (by_hand, idx, val_idx)):
        model.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", device="cpu")
        histories.append(model.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=(vx, val_y),
                                   verbose=0).history)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    np.testing.assert_allclose(histories[0]["val_loss"], histories[1]["val_loss"], rtol=1e-5)
    for a, b in zip(on_strings.get_weights(), by_hand.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert histories[0]["loss"][-1] < histories[0]["loss"][0]  # it trained
    np.testing.assert_allclose(on_strings.predict(val_texts, verbose=0), by_hand.predict(val_idx, verbose=0),
                               atol=1e-6)


def test_string_ids_index_one_table_of_the_strings_seen():
    head = LookedUpEmbedding(WORDS, 2)
    first = text_inputs.string_ids(head, np.array(["w2", "w5", "w2"], dtype=object))
    second = text_inputs.string_ids(head, np.array([["w5"], ["w7"]], dtype=object))
    assert first.tolist() == [0, 1, 0] and second.tolist() == [[1], [2]]  # w5 keeps its id
    assert text_inputs.strings_of(head, torch.tensor([2, 0, 1])).tolist() == ["w7", "w2", "w5"]
    assert not text_inputs.trainable(head)  # no weights before it is built
    head(np.array(["w1"]))
    assert text_inputs.trainable(head)
    head.trainable = False
    assert not text_inputs.trainable(head)
