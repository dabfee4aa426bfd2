"""keras.io example "Bidirectional LSTM on IMDB"
(https://keras.io/examples/nlp/bidirectional_lstm_imdb/), ported as a
learner would: ``import brainnet as keras``, ``from brainnet import layers``,
the rest as the example has it: an ``Input`` of variable-length integer
sequences, ``Embedding(max_features, 128)``, two ``Bidirectional(LSTM(64))``
(the first with ``return_sequences=True``), a sigmoid ``Dense(1)``,
``model.summary()``, ``pad_sequences`` (``keras.preprocessing.sequence``'s
in the stored example, ``keras.utils``'s in Keras 3: the same function), and
``adam`` with ``binary_crossentropy`` and accuracy, ``fit`` with
``validation_data``. The stored copy of the example is the older
``tensorflow.keras`` version; its code has no TensorFlow call besides the
imports.

Shortened for CI: IMDB is not here, so the two classes are two of Debian's
fortune files (``computers``, label 0, and ``politics``, label 1; see
``_fortune_classes.py``) in place of negative and positive reviews: 1,404
training and 350 held-out fortunes instead of 25,000 and 25,000, and maxlen
64 instead of 200 (a median fortune has 19 words). The model, the batch size
and the 2 epochs are the example's (a third epoch overfits: the training
loss falls to 0.05 and the held-out loss rises).
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers

from . import _fortune_classes as fortune_classes

max_features = 20000  # Only consider the top 20k words
maxlen = 64  # the last 64 words of each fortune (the example: 200)


def create_model():
    # Variable-length sequences of word indices
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(max_features, 128)(inputs)
    # two bidirectional LSTMs, the first returning every step
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(64))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def _naive_lstm(x, kernel, recurrent_kernel, bias):
    """Keras's LSTM in NumPy: gates i, f, c, o from x_t W + h_{t-1} U + b; returns every h_t."""
    units = recurrent_kernel.shape[0]
    h, c, hs = np.zeros((x.shape[0], units)), np.zeros((x.shape[0], units)), []
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = (z[:, k * units:(k + 1) * units] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs, 1)


def test_the_model_has_the_examples_summary():
    """Section "Build the model": model.summary() as the example prints it."""
    model = create_model()
    printed = []
    model.summary(print_fn=printed.append)
    summary = "\n".join(printed)
    # Keras's counts: 20,000·128; 2·4·(128·64 + 64·64 + 64); 2·4·(128·64 + 64·64 + 64); 128 + 1
    # each layer's row: its type, output shape and parameter count (names depend on the layers made before)
    rows = [line.split()[1:-1] for line in summary.splitlines()
            if line.split() and line.split()[0].startswith(("embedding", "bidirectional", "dense"))]
    assert rows == [
        ["(Embedding)", "(None,", "None,", "128)", "2,560,000"],
        ["(Bidirectional)", "(None,", "None,", "128)", "98,816"],
        ["(Bidirectional)", "(None,", "128)", "98,816"],
        ["(Dense)", "(None,", "1)", "129"],
    ], summary
    assert model.count_params() == 2_560_000 + 2 * 98_816 + 129
    assert "Total params: 2,757,761" in summary


def test_a_bidirectional_lstm_is_two_lstms_reading_both_ways():
    """The layers' equations: forward LSTM on x, backward LSTM on x reversed (its outputs put back in order),
    concatenated, against NumPy in float64."""
    keras.utils.set_random_seed(0)
    layer = layers.Bidirectional(layers.LSTM(5, return_sequences=True))
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    got = layer(x).detach().numpy()
    assert got.shape == (3, 6, 10)
    fw, bw = layer.forward_layer.get_weights(), layer.backward_layer.get_weights()
    x64 = x.astype("float64")
    expected_fw = _naive_lstm(x64, *[w.astype("float64") for w in fw])
    expected_bw = _naive_lstm(x64[:, ::-1], *[w.astype("float64") for w in bw])[:, ::-1]
    np.testing.assert_allclose(got, np.concatenate([expected_fw, expected_bw], -1), rtol=1e-5, atol=1e-6)
    # without return_sequences: the forward layer's last step and the backward layer's (which read x_0 last)
    last = layers.Bidirectional(layers.LSTM(5))
    last(x)
    last.set_weights(layer.get_weights())
    np.testing.assert_allclose(last(x).detach().numpy(),
                               np.concatenate([expected_fw[:, -1], expected_bw[:, 0]], -1), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def data():
    """Section "Load the IMDB movie review sentiment data", with fortunes in place of reviews."""
    (x_train, y_train), (x_val, y_val), _ = fortune_classes.load_data(num_words=max_features)
    # pad_sequences cuts longer fortunes and zero-pads shorter ones, both at the front
    x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x_val = keras.preprocessing.sequence.pad_sequences(x_val, maxlen=maxlen)
    return (x_train, y_train), (x_val, y_val)


def test_the_sequences_take_any_length(data):
    """The Input's shape (None,): the same model reads 64 or 7 words."""
    (x_train, _), _ = data
    assert x_train.shape == (1404, maxlen) and x_train.dtype == np.int32
    model = create_model()
    long = model.predict(x_train[:4], verbose=0)
    short = model.predict(x_train[:4, -7:], verbose=0)
    assert long.shape == short.shape == (4, 1)
    assert ((0 < long) & (long < 1)).all()


def test_training_classifies_held_out_fortunes_above_chance(data):
    """Section "Train and evaluate the model"."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_val, y_val) = data
    model = create_model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    before = model.evaluate(x_val, y_val, verbose=0)
    history = model.fit(x_train, y_train, batch_size=32, epochs=2, validation_data=(x_val, y_val), verbose=2)
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = model.predict(x_val, verbose=0)[:, 0].astype("float64")
    accuracy = np.mean((probabilities > 0.5) == y_val)
    np.testing.assert_allclose(history.history["val_accuracy"][-1], accuracy, rtol=1e-6)
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    cross_entropy = -np.mean(y_val * np.log(p) + (1 - y_val) * np.log(1 - p))
    np.testing.assert_allclose(history.history["val_loss"][-1], cross_entropy, rtol=1e-4)
    majority = max(np.mean(y_val), 1 - np.mean(y_val))  # always answering the larger file
    assert accuracy > majority + 0.1, (accuracy, majority)
    # held-out loss falls below the untrained model's (log 2) after an epoch; the second one starts to overfit
    assert min(history.history["val_loss"]) < before[0] - 0.05, (before, history.history["val_loss"])
