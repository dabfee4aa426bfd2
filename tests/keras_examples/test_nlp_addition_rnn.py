"""keras.io example "Sequence to sequence learning for performing number
addition" (https://keras.io/examples/nlp/addition_rnn/), ported as a learner
would: ``import brainnet as keras``, ``from brainnet import layers``, the
rest of the program as the example has it (its character table, its question
generator with reversed queries, the LSTM encoder, ``RepeatVector``, the LSTM
decoder and the per-step softmax ``Dense``, ``categorical_crossentropy`` with
``accuracy``).

Shortened for CI: 6,000 questions instead of 50,000 and 2 epochs instead of
30, which cannot reach the example's 99% but must already raise the
per-character validation accuracy well above the untrained model's.
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

TRAINING_SIZE = 6000  # the example: 50,000
DIGITS = 3
REVERSE = True
MAXLEN = DIGITS + 1 + DIGITS  # 'int+int', e.g. '345+678'


class CharacterTable:
    """One-hot encodes strings over a fixed character set and decodes them back."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = {c: i for i, c in enumerate(self.chars)}
        self.indices_char = {i: c for i, c in enumerate(self.chars)}

    def encode(self, C, num_rows):
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(C):
            x[i, self.char_indices[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:  # one-hot rows or probabilities -> indices
            x = x.argmax(axis=-1)
        return "".join(self.indices_char[i] for i in x)


chars = "0123456789+ "  # digits, the plus sign and the padding space
ctable = CharacterTable(chars)


def generate_questions(size, seed=0):
    """The example's data loop: distinct a+b pairs (a+b and b+a count once),
    queries padded to MAXLEN and reversed, answers padded to DIGITS + 1."""
    np.random.seed(seed)
    questions, expected, seen = [], [], set()
    while len(questions) < size:
        def f():
            return int("".join(np.random.choice(list("0123456789"))
                               for _ in range(np.random.randint(1, DIGITS + 1))))
        a, b = f(), f()
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}"
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        ans += " " * (DIGITS + 1 - len(ans))
        if REVERSE:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)
    return questions, expected


def vectorize(questions, expected, seed=0):
    """The example's "Vectorize the data": bool one-hot arrays, shuffled, 10% held out."""
    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    indices = np.arange(len(y))
    np.random.seed(seed)
    np.random.shuffle(indices)
    x, y = x[indices], y[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def build_model(num_layers=1):
    """The example's "Build the model"."""
    model = keras.Sequential()
    model.add(layers.LSTM(128, input_shape=(MAXLEN, len(chars))))  # encoder: the last output
    model.add(layers.RepeatVector(DIGITS + 1))  # the encoding fed to every decoder step
    for _ in range(num_layers):
        model.add(layers.LSTM(128, return_sequences=True))
    model.add(layers.Dense(len(chars), activation="softmax"))  # one character per step
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_the_character_table_encodes_and_decodes_back():
    """Section "Generate the data": CharacterTable."""
    assert ctable.chars == [" ", "+", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    query = " 543+21"  # '12+345 ' reversed
    one_hot = ctable.encode(query, MAXLEN)
    assert one_hot.shape == (MAXLEN, 12)
    np.testing.assert_array_equal(one_hot.sum(axis=1), np.ones(MAXLEN))
    assert [ctable.chars[i] for i in one_hot.argmax(axis=1)] == list(query)
    assert ctable.decode(one_hot) == query
    # shorter strings leave zero rows at the end; decoding those rows gives index 0, the space
    short = ctable.encode("12", DIGITS + 1)
    np.testing.assert_array_equal(short[2:], 0)
    assert ctable.decode(short) == "12  "
    # probabilities decode by their argmax, indices with calc_argmax=False
    probs = np.full((3, 12), 0.05)
    probs[[0, 1, 2], [ctable.char_indices[c] for c in "9+1"]] = 0.45
    assert ctable.decode(probs) == "9+1"
    assert ctable.decode(np.array([3, 1, 0]), calc_argmax=False) == "1+ "
    for question in generate_questions(50, seed=3)[0]:
        assert ctable.decode(ctable.encode(question, MAXLEN)) == question


def test_the_generated_questions_are_distinct_reversed_sums():
    """Section "Generate the data": the question loop."""
    questions, expected = generate_questions(500, seed=1)
    assert len(questions) == len(expected) == 500
    pairs = set()
    for query, ans in zip(questions, expected):
        assert len(query) == MAXLEN and len(ans) == DIGITS + 1
        a, b = (int(t) for t in query[::-1].strip().split("+"))
        assert 0 <= a < 10**DIGITS and 0 <= b < 10**DIGITS
        assert int(ans) == a + b and ans == ans.strip().ljust(DIGITS + 1)
        pairs.add(tuple(sorted((a, b))))
    assert len(pairs) == 500  # a+b and b+a never both


def test_the_model_has_the_example_shapes_and_sizes():
    """Section "Build the model": the summary's shapes and parameter counts."""
    model = build_model()
    printed = []
    model.summary(print_fn=printed.append)  # the example calls model.summary()
    text = "\n".join(printed)
    for shape, params in [("(None, 128)", "72,192"), ("(None, 4, 128)", "131,584"), ("(None, 4, 12)", "1,548")]:
        assert shape in text and params in text
    assert "Total params: 205,324" in text
    shapes = [tuple(layer.output.shape) for layer in model.layers]
    assert shapes == [(None, 128), (None, DIGITS + 1, 128), (None, DIGITS + 1, 128), (None, DIGITS + 1, 12)]
    # Keras's counts: LSTM 4·(u·(in + u) + u), Dense 128·12 + 12
    assert [layer.count_params() for layer in model.layers] == [4 * (128 * (12 + 128) + 128), 0,
                                                                4 * (128 * (128 + 128) + 128), 128 * 12 + 12]
    x = ctable.encode(" 543+21", MAXLEN)[None].astype(bool)
    probs = model.predict(x, verbose=0)
    assert probs.shape == (1, DIGITS + 1, 12)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.fixture(scope="module")
def data():
    return vectorize(*generate_questions(TRAINING_SIZE))


def test_training_raises_the_per_character_validation_accuracy(data):
    """Section "Train the model": fit with validation data, then decode guesses."""
    (x_train, y_train), (x_val, y_val) = data
    assert x_train.shape == (5400, MAXLEN, 12) and y_train.shape == (5400, DIGITS + 1, 12)
    assert x_val.shape == (600, MAXLEN, 12) and y_val.shape == (600, DIGITS + 1, 12)
    keras.utils.set_random_seed(0)
    model = build_model()
    _, start_accuracy = model.evaluate(x_val, y_val, verbose=0)
    for epoch in range(1, 3):  # the example's loop: one epoch per iteration
        history = model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val), verbose=0)
    val_accuracy = history.history["val_accuracy"][-1]
    # per-character accuracy: the share of the 4 output steps whose argmax is right
    preds = np.argmax(model.predict(x_val, verbose=0), axis=-1)
    by_hand = np.mean(preds == np.argmax(y_val, axis=-1))
    np.testing.assert_allclose(val_accuracy, by_hand, atol=1e-6)
    assert val_accuracy > start_accuracy + 0.15, (start_accuracy, val_accuracy)
    assert history.history["val_loss"][-1] < np.log(12)  # better than guessing among 12 characters
    # the example's printout: question, target and guess decode to the table's characters
    for ind in range(10):
        rowx, rowy = x_val[np.array([ind])], y_val[np.array([ind])]
        guess = ctable.decode(np.argmax(model.predict(rowx, verbose=0), axis=-1)[0], calc_argmax=False)
        q, correct = ctable.decode(rowx[0]), ctable.decode(rowy[0])
        assert "+" in q[::-1] and len(correct) == len(guess) == DIGITS + 1
        assert set(guess) <= set(chars)
