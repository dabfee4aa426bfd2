"""keras.io example "Character-level text generation with LSTM"
(https://keras.io/examples/generative/lstm_character_level_text_generation/),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, the rest as the example has it (lower-cased
corpus, semi-redundant 40-character windows one-hot encoded as bool arrays,
``LSTM(128)`` then a softmax ``Dense``, ``RMSprop(learning_rate=0.01)``, the
temperature ``sample`` helper and the generation loop at four diversities).

Shortened for CI: the corpus is the first 20,000 characters of Debian's
``wisdom`` fortunes file (/usr/share/games/fortunes/wisdom) read from disk in
place of the Nietzsche download (600,000 characters); the first 90% is
trained on, the rest held out to check that the model learned; 2 epochs
instead of 40, and 60 generated characters per diversity instead of 400.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

CORPUS = Path("/usr/share/games/fortunes/wisdom")
maxlen = 40
step = 3


def sample(preds, temperature=1.0):
    """The example's helper: one index drawn from preds re-weighted by temperature."""
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = np.random.multinomial(1, preds, 1)
    return np.argmax(probas)


def windows(text):
    """The example's cut: maxlen-character sentences every `step` characters, and the character after each."""
    sentences, next_chars = [], []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i: i + maxlen])
        next_chars.append(text[i + maxlen])
    return sentences, next_chars


def vectorize(sentences, next_chars, char_indices):
    x = np.zeros((len(sentences), maxlen, len(char_indices)), dtype=bool)
    y = np.zeros((len(sentences), len(char_indices)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1
    return x, y


@pytest.fixture(scope="module")
def corpus():
    """The example's "Prepare the data", on the fortunes file."""
    if not CORPUS.is_file():
        pytest.skip(f"{CORPUS} not found: apt-get install fortunes")
    with io.open(CORPUS, encoding="utf-8") as f:
        text = f.read().lower()[:20000]  # the example: the whole file
    chars = sorted(list(set(text)))
    char_indices = {c: i for i, c in enumerate(chars)}
    indices_char = {i: c for i, c in enumerate(chars)}
    split = int(len(text) * 0.9)
    train_text, held_out_text = text[:split], text[split:]
    x, y = vectorize(*windows(train_text), char_indices)
    x_held, y_held = vectorize(*windows(held_out_text), char_indices)
    return text, chars, char_indices, indices_char, (x, y), (x_held, y_held)


def test_the_windows_and_their_one_hot_arrays(corpus):
    """Section "Prepare the data": sentences, next characters, vectorization."""
    text, chars, char_indices, indices_char, (x, y), _ = corpus
    train_text = text[: int(len(text) * 0.9)]
    assert len(chars) == len(set(text)) and chars == sorted(chars)
    n = len(range(0, len(train_text) - maxlen, step))
    assert x.shape == (n, maxlen, len(chars)) and y.shape == (n, len(chars))
    assert x.dtype == bool and y.dtype == bool
    np.testing.assert_array_equal(x.sum(axis=-1), 1)  # one character per step
    np.testing.assert_array_equal(y.sum(axis=-1), 1)
    for i in (0, 1, n // 2, n - 1):  # decoding gives back the text at i·step
        decoded = "".join(indices_char[j] for j in x[i].argmax(axis=-1))
        assert decoded == train_text[i * step: i * step + maxlen]
        assert indices_char[int(y[i].argmax())] == train_text[i * step + maxlen]


def test_sample_draws_from_the_temperature_scaled_distribution():
    """Section "Prepare the text sampling function": p_i^(1/T) / Σ_j p_j^(1/T)."""
    preds = np.array([0.5, 0.25, 0.15, 0.07, 0.03], dtype="float32")
    draws = 20000
    for temperature in (0.2, 0.5, 1.0, 1.2):
        expected = preds.astype("float64") ** (1 / temperature)
        expected /= expected.sum()
        np.random.seed(int(temperature * 10))
        counts = np.bincount([sample(preds, temperature) for _ in range(draws)], minlength=len(preds))
        # each frequency within 4 standard errors of its probability
        tolerance = 4 * np.sqrt(expected * (1 - expected) / draws) + 1e-3
        np.testing.assert_array_less(np.abs(counts / draws - expected), tolerance)
    np.random.seed(0)  # a low temperature all but always picks the most likely index
    assert [sample(preds, 0.01) for _ in range(50)] == [0] * 50


def test_the_model_learns_and_generates_text_from_the_corpus(corpus):
    """Sections "Build the model", "Train the model" (fit, then generation at 4 diversities)."""
    text, chars, char_indices, indices_char, (x, y), (x_held, y_held) = corpus
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(maxlen, len(chars))),
            layers.LSTM(128),
            layers.Dense(len(chars), activation="softmax"),
        ]
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    assert tuple(model.output_shape) == (None, len(chars))
    untrained = model.evaluate(x_held, y_held, verbose=0)
    # what predicting each character's corpus frequency would score on the held-out windows
    frequencies = y.mean(axis=0)
    unigram = -np.mean(np.log(np.maximum(frequencies[y_held.argmax(axis=-1)], 1e-12)))

    epochs, batch_size = 2, 128
    losses = []
    random.seed(0)
    for epoch in range(epochs):
        losses += model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0).history["loss"]
        start_index = random.randint(0, len(text) - maxlen - 1)
        for diversity in [0.2, 0.5, 1.0, 1.2]:
            generated = ""
            sentence = text[start_index: start_index + maxlen]
            generated += sentence
            for i in range(60):  # the example: 400
                x_pred = np.zeros((1, maxlen, len(chars)))
                for t, char in enumerate(sentence):
                    x_pred[0, t, char_indices[char]] = 1.0
                preds = model.predict(x_pred, verbose=0)[0]
                assert preds.shape == (len(chars),) and abs(float(preds.sum()) - 1) < 1e-4
                next_index = sample(preds, diversity)
                next_char = indices_char[next_index]
                sentence = sentence[1:] + next_char
                generated += next_char
            assert len(generated) == maxlen + 60
            assert set(generated) <= set(chars)  # only the corpus's characters

    held_out = model.evaluate(x_held, y_held, verbose=0)
    assert losses[1] < losses[0], losses
    assert held_out < untrained - 0.5, (untrained, held_out)
    assert held_out < unigram, (unigram, held_out)  # it uses the context, not only frequencies
