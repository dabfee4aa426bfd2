"""keras.io example "English-to-Spanish translation with a sequence-to-sequence
Transformer" (https://keras.io/examples/nlp/neural_machine_translation_with_transformer/),
ported as a learner would. The stored copy is the tf.keras version (last
modified 2022/02/25): ``import brainnet as keras``, ``from brainnet import
layers`` and ``brainnet.layers.TextVectorization`` in place of the TensorFlow
imports, the rest as the example writes it (two ``TextVectorization`` layers,
the Spanish one with its ``custom_standardization`` that keeps ``[start]`` and
``[end]``; ``PositionalEmbedding`` with its ``compute_mask``;
``TransformerEncoder`` with the padding mask; ``TransformerDecoder`` with
``get_causal_attention_mask`` and the padding mask ``minimum``-ed with it; the
encoder and decoder models chained into ``transformer``; ``rmsprop`` with
``sparse_categorical_crossentropy``; greedy ``decode_sequence``).

TensorFlow calls in their torch spellings (docs/keras.md):
``tf.strings.lower``/``regex_replace`` on one ``str`` as ``s.lower()`` and
``re.sub``; ``tf.shape(x)`` as ``x.shape``; ``tf.range`` as
``torch.arange(..., device=inputs.device)``; ``tf.math.not_equal(x, 0)`` as
``torch.not_equal(x, 0)``; ``tf.cast(m, "int32")`` as ``m.to(torch.int32)``;
``tf.minimum`` as ``torch.minimum``; ``tf.tile(mask, mult)`` as
``torch.tile(mask, (batch_size, 1, 1))`` (reps a tuple of ints); and the
``tf.data`` pipeline (``batch``, ``map(format_dataset)``, ``shuffle(2048)``
of the batches, ``cache``) as a ``keras.utils.PyDataset`` of the formatted
batches whose order is shuffled each epoch. In ``decode_sequence``,
``np.argmax(predictions[0, i, :])`` is ``torch.argmax(...).item()`` (the
Keras 3 version's ``ops.convert_to_numpy(ops.argmax(...)).item(0)``).
``TransformerDecoder(...)(x, encoded_seq_inputs)`` passes
``encoded_seq_inputs`` positionally, as the example does: brainnet hands a
layer call's further positional arguments to ``call``'s next parameters, as
Keras 3 does (here ``encoder_outputs``). The nested
``decoder`` model takes the masks of the tensors it is called on into its
graph, as Keras 3 does; the example's own ``attention_mask`` arguments are
what mask its attention, so the test checks those.

Replaced: Anki's spa-eng pairs are a download; here the pairs are made from
Debian's fortunes: lines of 3-8 words, all among the 300 most common words,
as a capitalized English sentence with a full stop, and their "translation"
into pig Latin word by word ("[start] ellway ooklay intoway itway [end]" for
"Well look into it."), 554 pairs. Shortened for CI: ``vocab_size`` 300 (in
place of 15,000; the pairs have about 260 words), ``sequence_length`` 10 (in
place of 20), ``embed_dim`` 64, ``latent_dim`` 256 and ``num_heads`` 2 (in
place of 256, 2048 and 8), 15 epochs (the example's text asks for at least 30
at full size; it runs 1).

The tests check the split and the vectorized batches (targets one token ahead
of the decoder inputs), the causal and padding masks against NumPy, that the
encoder's outputs at real tokens do not depend on the padding after them and
the decoder's predictions do not depend on later target tokens, the
parameter counts of the example's layers, that training lowers the loss and
beats always predicting padding, and that greedy decoding of held-out
sentences gives most words of their pig Latin.
"""

from __future__ import annotations

import collections
import random
import re
import string

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.datasets import fortunes
from brainnet.layers import TextVectorization

strip_chars = string.punctuation + "¿"
strip_chars = strip_chars.replace("[", "")
strip_chars = strip_chars.replace("]", "")

vocab_size = 300  # the example: 15,000
sequence_length = 10  # the example: 20
batch_size = 64

embed_dim = 64  # the example: 256
latent_dim = 256  # the example: 2048
num_heads = 2  # the example: 8
epochs = 15  # the example: 1 (and "at least 30 for convergence")
max_decoded_sentence_length = sequence_length  # the example: 20


def pig_latin(word):
    """The made "Spanish": the letters before the first vowel moved to the end, then "ay" ("way" after a vowel)."""
    for i, ch in enumerate(word):
        if ch in "aeiou":
            return word[i:] + word[:i] + "ay" if i else word + "way"
    return word + "ay"


def make_text_pairs():
    """Stand-in for spa.txt's lines: (English sentence, "[start] " + its pig Latin + " [end]")."""
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in fortunes.ENGLISH):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes fortunes-min")
    lines = []
    for text in fortunes.load_fortunes("english"):
        for line in text.split("\n"):
            words = re.sub(r"[^a-z ]", "", line.lower()).split()
            if 3 <= len(words) <= 8:
                lines.append(words)
    common = {w for w, _ in collections.Counter(w for words in lines for w in words).most_common(300)}
    seen, text_pairs = set(), []
    for words in lines:
        eng = " ".join(words)
        if all(w in common for w in words) and eng not in seen:
            seen.add(eng)
            spa = "[start] " + " ".join(pig_latin(w) for w in words) + " [end]"
            text_pairs.append((eng.capitalize() + ".", spa))
    return text_pairs


def split_pairs(text_pairs):
    """The example's split: 70% training, 15% validation, 15% test (seeded here)."""
    random.seed(0)
    random.shuffle(text_pairs)
    num_val_samples = int(0.15 * len(text_pairs))
    num_train_samples = len(text_pairs) - 2 * num_val_samples
    train_pairs = text_pairs[:num_train_samples]
    val_pairs = text_pairs[num_train_samples : num_train_samples + num_val_samples]
    test_pairs = text_pairs[num_train_samples + num_val_samples :]
    return train_pairs, val_pairs, test_pairs


def custom_standardization(input_string):
    lowercase = input_string.lower()
    return re.sub("[%s]" % re.escape(strip_chars), "", lowercase)


def vectorizations(train_pairs):
    """The example's "Vectorizing the text data"."""
    eng_vectorization = TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length,
    )
    spa_vectorization = TextVectorization(
        max_tokens=vocab_size,
        output_mode="int",
        output_sequence_length=sequence_length + 1,
        standardize=custom_standardization,
    )
    train_eng_texts = [pair[0] for pair in train_pairs]
    train_spa_texts = [pair[1] for pair in train_pairs]
    eng_vectorization.adapt(train_eng_texts)
    spa_vectorization.adapt(train_spa_texts)
    return eng_vectorization, spa_vectorization


class FormattedBatches(keras.utils.PyDataset):
    """``from_tensor_slices(...).batch(batch_size).map(format_dataset).shuffle(2048).cache()``:
    the batches formatted once, their order shuffled each epoch."""

    def __init__(self, batches, seed=0):
        super().__init__()
        self.batches = batches
        self.rng = np.random.default_rng(seed)
        self.order = np.arange(len(batches))

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[self.order[index]]

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.batches))


def make_dataset(pairs, format_dataset):
    eng_texts, spa_texts = zip(*pairs)
    eng_texts = np.array(eng_texts)
    spa_texts = np.array(spa_texts)
    starts = range(0, len(eng_texts), batch_size)
    return FormattedBatches([format_dataset(eng_texts[i : i + batch_size], spa_texts[i : i + batch_size])
                             for i in starts])


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.dense_dim = dense_dim
        self.num_heads = num_heads
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [
                layers.Dense(dense_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            padding_mask = mask[:, None, :].to(torch.int32)
        attention_output = self.attention(query=inputs, value=inputs, key=inputs, attention_mask=padding_mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embed_dim": self.embed_dim,
                "dense_dim": self.dense_dim,
                "num_heads": self.num_heads,
            }
        )
        return config


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
        self.position_embeddings = layers.Embedding(input_dim=sequence_length, output_dim=embed_dim)
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim

    def call(self, inputs):
        length = inputs.shape[-1]
        positions = torch.arange(start=0, end=length, step=1, device=inputs.device)
        embedded_tokens = self.token_embeddings(inputs)
        embedded_positions = self.position_embeddings(positions)
        return embedded_tokens + embedded_positions

    def compute_mask(self, inputs, mask=None):
        return torch.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "vocab_size": self.vocab_size,
                "embed_dim": self.embed_dim,
            }
        )
        return config


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, latent_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim = embed_dim
        self.latent_dim = latent_dim
        self.num_heads = num_heads
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential(
            [
                layers.Dense(latent_dim, activation="relu"),
                layers.Dense(embed_dim),
            ]
        )
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, encoder_outputs, mask=None):
        causal_mask = self.get_causal_attention_mask(inputs)
        if mask is not None:
            padding_mask = mask[:, None, :].to(torch.int32)
            padding_mask = torch.minimum(padding_mask, causal_mask)

        attention_output_1 = self.attention_1(query=inputs, value=inputs, key=inputs, attention_mask=causal_mask)
        out_1 = self.layernorm_1(inputs + attention_output_1)

        attention_output_2 = self.attention_2(
            query=out_1,
            value=encoder_outputs,
            key=encoder_outputs,
            attention_mask=padding_mask,
        )
        out_2 = self.layernorm_2(out_1 + attention_output_2)

        proj_output = self.dense_proj(out_2)
        return self.layernorm_3(out_2 + proj_output)

    def get_causal_attention_mask(self, inputs):
        input_shape = inputs.shape
        batch_size, sequence_length = input_shape[0], input_shape[1]
        i = torch.arange(sequence_length, device=inputs.device)[:, None]
        j = torch.arange(sequence_length, device=inputs.device)
        mask = (i >= j).to(torch.int32)
        mask = torch.reshape(mask, (1, input_shape[1], input_shape[1]))
        return torch.tile(mask, (batch_size, 1, 1))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embed_dim": self.embed_dim,
                "latent_dim": self.latent_dim,
                "num_heads": self.num_heads,
            }
        )
        return config


def build_the_model():
    """The example's "Building the model": (encoder, decoder, transformer)."""
    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="encoder_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(encoder_inputs)
    encoder_outputs = TransformerEncoder(embed_dim, latent_dim, num_heads)(x)
    encoder = keras.Model(encoder_inputs, encoder_outputs)

    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="decoder_inputs")
    encoded_seq_inputs = keras.Input(shape=(None, embed_dim), name="decoder_state_inputs")
    x = PositionalEmbedding(sequence_length, vocab_size, embed_dim)(decoder_inputs)
    x = TransformerDecoder(embed_dim, latent_dim, num_heads)(x, encoded_seq_inputs)
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(vocab_size, activation="softmax")(x)
    decoder = keras.Model([decoder_inputs, encoded_seq_inputs], decoder_outputs)

    decoder_outputs = decoder([decoder_inputs, encoder_outputs])  # the masks go into the decoder's graph
    transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs, name="transformer")
    return encoder, decoder, transformer


@pytest.fixture(scope="module")
def data():
    text_pairs = make_text_pairs()
    train_pairs, val_pairs, test_pairs = split_pairs(text_pairs)
    eng_vectorization, spa_vectorization = vectorizations(train_pairs)

    def format_dataset(eng, spa):
        eng = eng_vectorization(eng)
        spa = spa_vectorization(spa)
        return (
            {
                "encoder_inputs": eng,
                "decoder_inputs": spa[:, :-1],
            },
            spa[:, 1:],
        )

    return dict(
        text_pairs=text_pairs, train_pairs=train_pairs, val_pairs=val_pairs, test_pairs=test_pairs,
        eng_vectorization=eng_vectorization, spa_vectorization=spa_vectorization,
        train_ds=make_dataset(train_pairs, format_dataset), val_ds=make_dataset(val_pairs, format_dataset),
    )  # fmt: skip


def test_parsing_the_data_makes_and_splits_the_pairs(data):
    """Section "Parsing the data": the pairs and the 70/15/15 split."""
    text_pairs = data["text_pairs"]
    assert len(text_pairs) == 554 and len(set(text_pairs)) == 554
    assert [len(data[k]) for k in ("train_pairs", "val_pairs", "test_pairs")] == [388, 83, 83]
    assert sorted(data["train_pairs"] + data["val_pairs"] + data["test_pairs"]) == sorted(text_pairs)
    for eng, spa in text_pairs:
        words = eng.rstrip(".").lower().split()
        assert spa.split() == ["[start]"] + [pig_latin(w) for w in words] + ["[end]"]
    assert pig_latin("look") == "ooklay" and pig_latin("into") == "intoway" and pig_latin("thy") == "thyay"


def test_vectorizing_keeps_start_and_end_and_shifts_the_targets(data):
    """Section "Vectorizing the text data": the two layers and format_dataset's batches."""
    assert custom_standardization("¿Qué? [start] Hola, Tom! [end]") == "qué [start] hola tom [end]"
    eng_vocab = data["eng_vectorization"].get_vocabulary()
    spa_vocab = data["spa_vectorization"].get_vocabulary()
    assert eng_vocab[:2] == spa_vocab[:2] == ["", "[UNK]"]
    assert {"[start]", "[end]"} <= set(spa_vocab) and "[start]" not in eng_vocab
    assert 200 < len(eng_vocab) <= vocab_size and 200 < len(spa_vocab) <= vocab_size
    train_ds = data["train_ds"]
    assert len(train_ds) == 7  # 388 pairs in batches of 64
    inputs, targets = train_ds[0]
    assert tuple(inputs["encoder_inputs"].shape) == (64, sequence_length)
    assert tuple(inputs["decoder_inputs"].shape) == tuple(targets.shape) == (64, sequence_length)
    # the target is the decoder input one token ahead; every decoder input starts with [start]
    np.testing.assert_array_equal(np.asarray(targets[:, :-1]), np.asarray(inputs["decoder_inputs"][:, 1:]))
    assert set(np.asarray(inputs["decoder_inputs"][:, 0]).tolist()) == {spa_vocab.index("[start]")}
    eng, spa = data["train_pairs"][0]
    row = np.asarray(data["spa_vectorization"]([spa]))[0]
    assert [spa_vocab[i] for i in row if i] == spa.split()
    assert row.shape == (sequence_length + 1,)
    train_ds.on_epoch_end()  # .shuffle(2048) of the batches: another order, the same batches
    assert sorted(train_ds.order.tolist()) == list(range(7)) and train_ds.order.tolist() != list(range(7))


def test_the_masks_are_causal_and_hide_padding(data):
    """Section "Building the model": get_causal_attention_mask, the padding masks, their effect."""
    keras.utils.set_random_seed(1)
    encoder, decoder, transformer = build_the_model()
    dec_layer = [layer for layer in decoder.layers if isinstance(layer, TransformerDecoder)][0]
    x = torch.zeros(3, 5, embed_dim)
    causal = dec_layer.get_causal_attention_mask(x)
    np.testing.assert_array_equal(causal.numpy(), np.broadcast_to(np.tril(np.ones((5, 5), np.int32)), (3, 5, 5)))
    tokens = torch.tensor([[5, 7, 9, 0, 0], [4, 0, 0, 0, 0], [3, 3, 3, 3, 3]])
    pos = [layer for layer in encoder.layers if isinstance(layer, PositionalEmbedding)][0]
    mask = pos.compute_mask(tokens)
    np.testing.assert_array_equal(mask.numpy(), tokens.numpy() != 0)
    combined = torch.minimum(mask[:, None, :].to(torch.int32), causal)  # the decoder's padding_mask
    np.testing.assert_array_equal(combined.numpy(), np.minimum((tokens.numpy() != 0)[:, None, :], np.tril(np.ones((5, 5)))))

    eng, spa = data["test_pairs"][0], data["test_pairs"][1]
    enc_tokens = data["eng_vectorization"]([eng[0]])
    n = int((np.asarray(enc_tokens) != 0).sum())
    assert 3 <= n < sequence_length
    # the encoder's padding mask: its outputs at real tokens do not see the padding after them
    full = encoder(enc_tokens)
    trimmed = encoder(enc_tokens[:, :n])
    np.testing.assert_allclose(trimmed.detach().numpy(), full[:, :n].detach().numpy(), atol=1e-5)
    # the decoder's causal mask: predictions up to step k do not see target tokens after k
    dec_tokens = data["spa_vectorization"]([spa[1]])[:, :-1]
    changed = dec_tokens.clone()
    changed[0, 4:] = torch.tensor(np.arange(4, sequence_length) * 7)  # other words from step 4 on
    before, after = transformer([enc_tokens, dec_tokens]), transformer([enc_tokens, changed])
    np.testing.assert_allclose(after[0, :4].detach().numpy(), before[0, :4].detach().numpy(), atol=1e-5)
    assert (after[0, 4:] - before[0, 4:]).abs().max() > 1e-3


def test_the_layers_have_the_examples_sizes():
    """Section "Building the model": parameter counts, and the end-to-end model's outputs."""
    encoder, decoder, transformer = build_the_model()
    E, H = embed_dim, num_heads
    mha = 3 * (E * H * E + H * E) + (H * E * E + E)  # query/key/value projections to H heads of key_dim E, output back
    ffn = lambda d: E * d + d + d * E + E  # noqa: E731
    counts = {type(layer).__name__: layer.count_params() for layer in encoder.layers + decoder.layers}
    assert counts["PositionalEmbedding"] == (vocab_size + sequence_length) * E
    assert counts["TransformerEncoder"] == mha + ffn(latent_dim) + 2 * 2 * E
    assert counts["TransformerDecoder"] == 2 * mha + ffn(latent_dim) + 3 * 2 * E
    assert counts["Dense"] == E * vocab_size + vocab_size
    assert transformer.count_params() == encoder.count_params() + decoder.count_params()
    assert [t.name for t in transformer.inputs] == ["encoder_inputs", "decoder_inputs"]
    tokens = torch.randint(1, vocab_size, (2, sequence_length))
    probs = transformer([tokens, tokens])
    assert tuple(probs.shape) == (2, sequence_length, vocab_size)
    np.testing.assert_allclose(probs.sum(-1).detach().numpy(), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(transformer([tokens, tokens]).detach().numpy(), probs.detach().numpy())  # no dropout


@pytest.fixture(scope="module")
def trained(data):
    keras.utils.set_random_seed(0)
    _, _, transformer = build_the_model()
    transformer.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = transformer.fit(data["train_ds"], epochs=epochs, validation_data=data["val_ds"], verbose=0)
    return transformer, history


def test_training_lowers_the_loss_and_beats_predicting_padding(data, trained):
    """Section "Training our model"."""
    transformer, history = trained
    loss, val_loss = history.history["loss"], history.history["val_loss"]
    assert len(loss) == epochs and loss[-1] < 0.4 * loss[0] and val_loss[-1] < 0.4 * val_loss[0], (loss, val_loss)
    # accuracy counts the padding targets too, as in the example: always answering 0 scores their share
    targets = np.concatenate([np.asarray(y) for _, y in data["val_ds"].batches])
    padding = np.mean(targets == 0)  # 0.40 here; the trained model scores 0.96
    assert history.history["val_accuracy"][-1] > padding + 0.3, (history.history["val_accuracy"], padding)


def test_decoding_test_sentences_translates_most_words(data, trained):
    """Section "Decoding test sentences": greedy decode_sequence on held-out sentences."""
    transformer, _ = trained
    eng_vectorization, spa_vectorization = data["eng_vectorization"], data["spa_vectorization"]
    spa_vocab = spa_vectorization.get_vocabulary()
    spa_index_lookup = dict(zip(range(len(spa_vocab)), spa_vocab))

    def decode_sequence(input_sentence):
        tokenized_input_sentence = eng_vectorization([input_sentence])
        decoded_sentence = "[start]"
        for i in range(max_decoded_sentence_length):
            tokenized_target_sentence = spa_vectorization([decoded_sentence])[:, :-1]
            predictions = transformer([tokenized_input_sentence, tokenized_target_sentence])

            sampled_token_index = torch.argmax(predictions[0, i, :]).item()
            sampled_token = spa_index_lookup[sampled_token_index]
            decoded_sentence += " " + sampled_token

            if sampled_token == "[end]":
                break
        return decoded_sentence

    right = total = 0
    for input_sentence, expected in data["test_pairs"][:30]:
        translated = decode_sequence(input_sentence)
        words = translated.split()
        assert words[0] == "[start]" and "[start]" not in words[1:]
        assert words[-1] == "[end]" or len(words) == max_decoded_sentence_length + 1
        want = expected.split()[1:-1]
        got = [w for w in words[1:] if w != "[end]"]
        right += sum(a == b for a, b in zip(got, want))
        total += len(want)
    # untrained, a word is right by chance about once in 300; the held-out sentences' words were all seen in training
    assert right / total > 0.75, (right, total)  # 0.92 here
