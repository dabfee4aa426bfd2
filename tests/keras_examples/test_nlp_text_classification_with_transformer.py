"""keras.io example "Text classification with Transformer"
(https://keras.io/examples/nlp/text_classification_with_transformer/),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, ``ops.shape`` / ``ops.arange`` in their
torch spellings (docs/keras.md), the rest as the example has it: the
``TransformerBlock`` layer (``MultiHeadAttention``, a ``Sequential``
feed-forward network, two ``LayerNormalization`` and two ``Dropout``), the
``TokenAndPositionEmbedding`` layer, integer sequences padded by
``keras.utils.pad_sequences``, ``GlobalAveragePooling1D``, the Dense head
with a 2-way softmax, ``adam`` and ``sparse_categorical_crossentropy``,
``fit`` with ``validation_data``.

Shortened for CI: IMDB is not here, so the two classes are two of Debian's
fortune files (``computers``: 1,051 fortunes, label 0; ``politics``: 703,
label 1) in place of negative and positive reviews; a ``TextVectorization``
adapted on the training fortunes gives the integer encoding in place of
``imdb.load_data``'s word indices (index 1 is the out-of-vocabulary word as
``imdb``'s 2 is; there is no start token). 1,404 training and 350 held-out
fortunes instead of 25,000 and 25,000, so 4 epochs instead of 2; maxlen 64
instead of 200 (a median fortune has 19 words, a review 230: 200 positions
of mostly padding, averaged by ``GlobalAveragePooling1D``, learned nothing
in 2 epochs). The rest keeps the example's sizes (vocabulary 20,000,
embed_dim 32, 2 heads, ff_dim 32).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from . import _fortune_classes as fortune_classes

vocab_size = 20000  # Only consider the top 20k words
maxlen = 64  # the last 64 words of each fortune (the example: 200 words of a review)
embed_dim = 32  # Embedding size for each token
num_heads = 2  # Number of attention heads
ff_dim = 32  # Hidden layer size in feed forward network inside transformer


class TransformerBlock(layers.Layer):
    def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
        super().__init__()
        self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
        self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
        self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
        self.dropout1 = layers.Dropout(rate)
        self.dropout2 = layers.Dropout(rate)

    def call(self, inputs):
        attn_output = self.att(inputs, inputs)
        attn_output = self.dropout1(attn_output)
        out1 = self.layernorm1(inputs + attn_output)
        ffn_output = self.ffn(out1)
        ffn_output = self.dropout2(ffn_output)
        return self.layernorm2(out1 + ffn_output)


class TokenAndPositionEmbedding(layers.Layer):
    def __init__(self, maxlen, vocab_size, embed_dim):
        super().__init__()
        self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

    def call(self, x):
        maxlen = tuple(x.shape)[-1]
        positions = torch.arange(0, maxlen, 1, device=x.device)
        positions = self.pos_emb(positions)
        x = self.token_emb(x)
        return x + positions


def create_classifier():
    inputs = layers.Input(shape=(maxlen,))
    embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
    x = embedding_layer(inputs)
    transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = transformer_block(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def _layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _naive_block(block, x):
    """The TransformerBlock in NumPy (float64), from its layers' weights, dropout off."""
    wq, bq, wk, bk, wv, bv, wo, bo = [w.astype("float64") for w in block.att.get_weights()]
    heads = []
    for h in range(num_heads):
        q = x @ wq[:, h] + bq[h]  # (B, T, key_dim)
        k = x @ wk[:, h] + bk[h]
        v = x @ wv[:, h] + bv[h]
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(embed_dim)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        heads.append((scores / scores.sum(-1, keepdims=True)) @ v)
    attn = sum(heads[h] @ wo[h] for h in range(num_heads)) + bo
    g1, b1 = [w.astype("float64") for w in block.layernorm1.get_weights()]
    g2, b2 = [w.astype("float64") for w in block.layernorm2.get_weights()]
    w1, c1, w2, c2 = [w.astype("float64") for w in block.ffn.get_weights()]
    out1 = _layer_norm(x + attn, g1, b1)
    ffn = np.maximum(out1 @ w1 + c1, 0) @ w2 + c2
    return _layer_norm(out1 + ffn, g2, b2)


def test_the_transformer_block_is_attention_then_a_feed_forward_network():
    """Section "Implement a Transformer block as a layer", against NumPy."""
    keras.utils.set_random_seed(0)
    block = TransformerBlock(embed_dim, num_heads, ff_dim)
    x = np.random.default_rng(0).normal(size=(2, 7, embed_dim)).astype("float32")
    got = block(x).detach().numpy()
    assert got.shape == (2, 7, embed_dim)
    assert [w.shape for w in block.att.get_weights()[:2]] == [(embed_dim, num_heads, embed_dim), (num_heads, embed_dim)]
    np.testing.assert_allclose(got, _naive_block(block, x.astype("float64")), rtol=1e-4, atol=1e-4)
    # in train() mode (as fit runs it) the block's two Dropout layers act; a call's training=True
    # is not handed on to layers called inside call() (docs/keras.md, "training left out")
    block.train()
    assert not np.allclose(block(x).detach().numpy(), got, atol=1e-3)
    block.eval()
    np.testing.assert_allclose(block(x).detach().numpy(), got, rtol=1e-6)


def test_the_token_and_position_embedding_is_a_sum_of_two_lookups():
    """Section "Implement embedding layer"."""
    layer = TokenAndPositionEmbedding(maxlen=6, vocab_size=11, embed_dim=4)
    tokens = np.random.default_rng(0).integers(0, 11, size=(3, 6))
    got = layer(tokens).detach().numpy()
    token_table = layer.token_emb.get_weights()[0]
    position_table = layer.pos_emb.get_weights()[0]
    np.testing.assert_allclose(got, token_table[tokens] + position_table[None], rtol=1e-6)


def test_the_classifier_has_the_examples_shapes_and_sizes():
    """Section "Create classifier model using transformer layer": one softmax pair per text."""
    model = create_classifier()
    assert model.output_shape == (None, 2)
    embedding, block = model.layers[1:3]  # after the InputLayer, as in Keras 3
    assert isinstance(embedding, TokenAndPositionEmbedding) and isinstance(block, TransformerBlock)
    # Keras's counts: embeddings 20,000·32 + 64·32; attention 4·(32·2·32) + 3·(2·32) + 32;
    # FFN 32·32+32 twice; two LayerNorms 2·32 each; head 32·20+20 and 20·2+2
    assert embedding.count_params() == vocab_size * embed_dim + maxlen * embed_dim
    assert block.count_params() == 4 * embed_dim * num_heads * embed_dim + 3 * num_heads * embed_dim + embed_dim \
        + 2 * (embed_dim * ff_dim + ff_dim) + 4 * embed_dim
    assert model.count_params() == 642048 + 10656 + 32 * 20 + 20 + 20 * 2 + 2
    probabilities = model.predict(np.zeros((3, maxlen), "int32"), verbose=0)
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(1), 1, rtol=1e-5)


@pytest.fixture(scope="module")
def data():
    """Section "Download and prepare dataset", with the fortune files in place of imdb.load_data."""
    (x_train, y_train), (x_val, y_val), vocab = fortune_classes.load_data(num_words=vocab_size)
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.utils.pad_sequences(x_val, maxlen=maxlen)
    return (x_train, y_train), (x_val, y_val), vocab


def test_the_fortunes_are_padded_in_front_and_cut_to_maxlen(data):
    """Section "Download and prepare dataset": pad_sequences pads and truncates at the front ("pre")."""
    (x_train, y_train), (x_val, y_val), vocab = data
    assert x_train.shape == (1404, maxlen) and x_val.shape == (350, maxlen)
    assert x_train.max() < vocab_size and set(np.unique(y_train)) == {0, 1}
    texts, labels = fortune_classes.texts_and_labels()
    held_out, _ = fortune_classes.split(len(texts))
    np.testing.assert_array_equal(labels[held_out], y_val)
    index = {w: i for i, w in enumerate(vocab)}
    strip = str.maketrans("", "", "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'")
    for row, text in zip(x_val[:20], texts[held_out[:20]]):
        words = [index.get(w, 1) for w in text.lower().translate(strip).split()][-maxlen:]  # the last maxlen words stay
        np.testing.assert_array_equal(row[maxlen - len(words):], words)
        assert not row[: maxlen - len(words)].any()


def test_training_classifies_held_out_fortunes_above_chance(data):
    """Section "Train and Evaluate"."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val), _ = data
    model = create_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.evaluate(x_val, y_val, verbose=0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=4, validation_data=(x_val, y_val), verbose=2)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.history["loss"][1] < history.history["loss"][0]
    predicted = model.predict(x_val, verbose=0).argmax(1)
    accuracy = np.mean(predicted == y_val)
    np.testing.assert_allclose(history.history["val_accuracy"][-1], accuracy, rtol=1e-6)
    majority = max(np.mean(y_val), 1 - np.mean(y_val))  # always answering the larger file
    assert accuracy > majority + 0.1, (accuracy, majority)
    assert history.history["val_loss"][-1] < before[0]
