"""fit's ``steps_per_epoch`` and ``validation_steps`` with arrays, as Keras 3's
epoch iterator reads them: an epoch of ``steps_per_epoch`` batches goes on in
the pass over the arrays where the last epoch stopped; an epoch that meets the
pass's end stops there with a warning, and the next one starts a new pass (a
new permutation). ``validation_steps`` evaluates the first batches of fit's
``batch_size``, from the start each time.

References: the samples each step trains on (recorded by a layer), a
DataLoader read for the same batches (``test_streaming.py``'s reference, equal
to float32 rounding), and evaluate on the first samples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import brainnet
from brainnet import layers
from brainnet.callbacks import BackupAndRestore, Callback
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

N, BATCH = 10, 3  # a pass is 4 batches: 3, 3, 3 and 1 samples


class Seen(layers.Layer):
    """Passes its inputs on; in training, records the sample ids (column 0) of each batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches: list[list[int]] = []

    def call(self, inputs, training=None):
        if training:
            self.batches.append([int(v) for v in inputs[:, 0].tolist()])
        return inputs


class Steps(Callback):
    """The number of batches of each epoch."""

    def __init__(self):
        super().__init__()
        self.per_epoch: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        assert batch == self.per_epoch[-1]  # numbered from 0 within the epoch
        self.per_epoch[-1] += 1


def data(n: int = N) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([np.arange(n), np.linspace(-1, 1, n)], axis=1).astype("float32")  # column 0: the sample's id
    return x, (2 * x[:, 1:] + 0.5).astype("float32")


def recording_model() -> tuple[brainnet.Sequential, Seen]:
    set_random_seed(0)
    seen = Seen()
    model = brainnet.Sequential([layers.Input(shape=(2,)), seen, layers.Dense(1)])
    model.compile(SGD(0.01), "mse", device="cpu")
    return model, seen


@pytest.mark.parametrize("steps_per_epoch, per_epoch, order", [
    (2, [2, 2, 2, 2], [0, 1, 2, 3, 0, 1, 2, 3]),  # two epochs per pass
    (3, [3, 1, 3, 1], [0, 1, 2, 3, 0, 1, 2, 3]),  # the pass ends in epoch 2: it ends early (Keras warns)
    (6, [4, 4, 4, 4], [0, 1, 2, 3] * 4),  # more than a pass: every epoch is one pass (Keras warns)
])
def test_an_epoch_goes_on_in_the_pass_where_the_last_stopped(steps_per_epoch, per_epoch, order):
    x, y = data()
    model, seen = recording_model()
    steps = Steps()
    batches = [list(range(i * BATCH, min(N, (i + 1) * BATCH))) for i in range(4)]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = model.fit(x, y, batch_size=BATCH, epochs=4, steps_per_epoch=steps_per_epoch, shuffle=False,
                            callbacks=[steps], verbose=0)
    assert steps.per_epoch == per_epoch and history.params["steps"] == steps_per_epoch
    assert seen.batches == [batches[i] for i in order]
    assert len(history.history["loss"]) == 4
    said = [str(w.message) for w in record if "steps_per_epoch" in str(w.message)]
    if steps_per_epoch == 2:
        assert said == []  # the epochs fit the pass: nothing to warn about
    else:
        assert said and said[0] == (
            f"fit: steps_per_epoch={steps_per_epoch} expected {steps_per_epoch} batches per epoch, got an epoch of "
            f"{per_epoch[1]}: the pass over the 10 samples (4 batches of 3) ended in it, so it ends early and the "
            "next epoch starts a new pass (Keras 3: the input ran out of data). Fix: a steps_per_epoch that divides "
            "4, or leave it out for epochs of one whole pass.")


def test_a_shuffled_pass_is_one_permutation_across_its_epochs():
    x, y = data(40)
    model, seen = recording_model()
    model.fit(x, y, batch_size=5, epochs=4, steps_per_epoch=4, shuffle=True, verbose=0)  # 8 batches a pass
    first_pass = sorted(i for b in seen.batches[:8] for i in b)
    second_pass = sorted(i for b in seen.batches[8:] for i in b)
    assert first_pass == second_pass == list(range(40))  # each sample once per pass
    assert [i for b in seen.batches[:8] for i in b] != [i for b in seen.batches[8:] for i in b]  # a new permutation


def test_steps_per_epoch_trains_as_a_loader_read_for_the_same_batches():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")

    def model():
        set_random_seed(0)
        m = brainnet.Sequential([layers.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
        m.compile(SGD(0.05, momentum=0.9), "mse", metrics=["mae"], device="cpu")
        return m

    arrays, loaded = model(), model()
    with pytest.warns(UserWarning, match="got an epoch of 1"):
        h_arrays = arrays.fit(x, y, batch_size=8, epochs=5, steps_per_epoch=2, shuffle=False, verbose=0)
    loader = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=8)
    h_loaded = loaded.fit(loader, epochs=5, steps_per_epoch=2, verbose=0)  # 5 batches a pass: 2, 2, 1 | 2, ...
    # The loader's epoch 3 reads batch 5 and then batch 1 of a new pass; the arrays' epoch 3 stops after batch 5.
    np.testing.assert_allclose(h_arrays.history["loss"][:2], h_loaded.history["loss"][:2], rtol=1e-6, atol=1e-6)
    four = model()
    h_four = four.fit(x[:32], y[:32], batch_size=8, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0)
    h_four_loaded = model().fit(DataLoader(TensorDataset(torch.from_numpy(x[:32]), torch.from_numpy(y[:32])),
                                           batch_size=8), epochs=4, steps_per_epoch=2, verbose=0)
    for key in ("loss", "mae"):  # 4 batches a pass: the two read the same batches in every epoch
        np.testing.assert_allclose(h_four.history[key], h_four_loaded.history[key], rtol=1e-6, atol=1e-6)


def test_validation_steps_evaluates_the_first_batches_of_fit_batch_size():
    x, y = data()
    xv, yv = np.random.default_rng(1).normal(size=(20, 2)).astype("float32"), np.ones((20, 1), "float32")
    model, _ = recording_model()
    history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(xv, yv), validation_steps=2, verbose=0)
    w, b = (a.astype(np.float64) for a in model.layers[-1].get_weights())
    expected = np.mean((xv[:8].astype(np.float64) @ w + b - 1.0) ** 2)  # 2 batches of 4: the first 8 samples
    assert history.history["val_loss"] == [pytest.approx(expected, rel=1e-5)]
    with pytest.warns(UserWarning, match=r"fit: validation_steps=9 asks for 9 batches of 4, got validation arrays "
                                         r"of 20 samples \(5 batches\): all of them are evaluated \(Keras: its input "
                                         r"ran out of data\)\. Fix: validation_steps=5 or less, or leave it out\."):
        history = model.fit(x, y, batch_size=4, epochs=1, validation_data=(xv, yv), validation_steps=9, verbose=0)
    w, b = (a.astype(np.float64) for a in model.layers[-1].get_weights())
    assert history.history["val_loss"] == [pytest.approx(np.mean((xv @ w + b - 1.0) ** 2), rel=1e-5)]


def test_steps_arguments_are_checked():
    x, y = data()
    model, _ = recording_model()
    with pytest.raises(ValueError, match=r"steps_per_epoch: expected a positive number of batches or None, got 0\. "
                                         r"Fix: steps_per_epoch=100"):
        model.fit(x, y, steps_per_epoch=0, verbose=0)
    with pytest.raises(ValueError, match=r"validation_steps: expected a positive number of batches or None, got "
                                         r"2\.5\. Fix: validation_steps=100"):
        model.fit(x, y, validation_data=(x, y), validation_steps=2.5, verbose=0)
    with pytest.raises(ValueError, match=r"fit: expected validation_data with validation_steps=2 \(it counts the "
                                         r"batches of validation_data evaluated after each epoch\), got no "
                                         r"validation_data\. Fix: pass validation_data=\(x_val, y_val\)"):
        model.fit(x, y, validation_steps=2, verbose=0)


def test_a_backup_resumes_in_the_middle_of_a_pass(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 2)).astype("float32"), rng.normal(size=(40, 1)).astype("float32")

    def model():
        set_random_seed(0)
        m = brainnet.Sequential([layers.Input(shape=(2,)), layers.Dense(4, activation="tanh"), layers.Dense(1)])
        m.compile(SGD(0.05, momentum=0.9), "mse", device="cpu")
        return m

    set_random_seed(5)
    whole = model()
    set_random_seed(5)
    with pytest.warns(UserWarning, match="got an epoch of 2"):  # 8 batches a pass: 3, 3, 2 | 3, 3
        h_whole = whole.fit(x, y, batch_size=5, epochs=5, steps_per_epoch=3, verbose=0)
    parts = model()
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    set_random_seed(5)
    parts.fit(x, y, batch_size=5, epochs=2, steps_per_epoch=3, callbacks=[backup], verbose=0)  # stops mid-pass
    set_random_seed(99)  # the backup brings back the generators and the pass's permutation
    with pytest.warns(UserWarning, match="got an epoch of 2"):
        h_parts = parts.fit(x, y, batch_size=5, epochs=5, steps_per_epoch=3, callbacks=[backup], verbose=0)
    assert h_parts.history["loss"] == h_whole.history["loss"]
    for a, b in zip(parts.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(a, b)


class OwnStep(brainnet.Model):
    """A model with its own train_step, recording the labels of each batch."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)
        self.labels: list[list[float]] = []

    def call(self, inputs):
        return self.dense(inputs)

    def train_step(self, data):
        x, y = data
        self.labels.append(y[:, 0].tolist())
        return {"n": float(len(y))}


def test_a_model_with_its_own_train_step_takes_steps_per_epoch_too():
    x, y = data()
    model = OwnStep()
    model.compile(SGD(0.01), "mse")
    steps = Steps()
    with pytest.warns(UserWarning, match=r"steps_per_epoch=3 expected 3 batches per epoch, got an epoch of 1"):
        model.fit(x, x[:, :1], batch_size=BATCH, epochs=3, steps_per_epoch=3, shuffle=False, callbacks=[steps],
                  verbose=0)
    assert steps.per_epoch == [3, 1, 3]
    assert model.labels == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [0, 1, 2], [3, 4, 5], [6, 7, 8]]


# ------------------------------------------------------------------ evaluate(steps=) and predict(steps=)
class Batches(Callback):
    """The size of each batch evaluate and predict run."""

    def __init__(self):
        super().__init__()
        self.sizes: list[int] = []
        self.test_batches = 0

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches += 1

    def on_predict_batch_end(self, batch, logs=None):
        self.sizes.append(len(logs["outputs"]))


def test_evaluate_and_predict_take_the_first_steps_batches_of_arrays():
    x, y = data()  # 10 samples
    model, _ = recording_model()
    count = Batches()
    loss = model.evaluate(x, y, batch_size=3, steps=2, callbacks=[count], verbose=0)
    assert count.test_batches == 2
    assert loss == pytest.approx(model.evaluate(x[:6], y[:6], verbose=0), rel=1e-6)  # the first 2 batches of 3
    weights = model.get_weights()
    expected = x[:6] @ weights[0] + weights[1]  # the Dense after the pass-through layer
    assert loss == pytest.approx(float(np.mean((expected - y[:6]) ** 2)), rel=1e-5)
    preds = model.predict(x, batch_size=3, steps=2, callbacks=[count], verbose=0)
    assert count.sizes == [3, 3]
    np.testing.assert_allclose(preds, expected, rtol=1e-5, atol=1e-6)


def test_steps_without_batch_size_cut_the_arrays_into_that_many_batches_as_keras():
    x, y = data()
    model, _ = recording_model()
    count = Batches()
    preds = model.predict(x, steps=4, callbacks=[count], verbose=0)  # Keras 3: batches of ceil(10 / 4) = 3
    assert count.sizes == [3, 3, 3, 1]
    np.testing.assert_allclose(preds, model.predict(x, verbose=0), rtol=1e-6)
    assert model.evaluate(x, y, steps=4, callbacks=[count], verbose=0) == pytest.approx(
        model.evaluate(x, y, verbose=0), rel=1e-6)
    assert count.test_batches == 4


def test_steps_beyond_the_arrays_take_them_all_with_keras_warning():
    x, y = data()
    model, _ = recording_model()
    with pytest.warns(UserWarning, match=r"evaluate: steps=9 asks for 9 batches of 3, got arrays of 10 samples "
                                         r"\(4 batches\): all of them are evaluated \(Keras: its input ran out of "
                                         r"data\)\. Fix: steps=4 or less, or leave it out\."):
        loss = model.evaluate(x, y, batch_size=3, steps=9, verbose=0)
    assert loss == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    with pytest.warns(UserWarning, match=r"predict: steps=6 asks for 6 batches of 2, got arrays of 10 samples "
                                         r"\(5 batches\): all of them are predicted"):
        assert model.predict(x, steps=6, verbose=0).shape == (10, 1)  # batches of ceil(10 / 6) = 2: only 5
    with pytest.raises(ValueError, match=r"steps: expected a positive number of batches or None, got 0\. "
                                         r"Fix: steps=100"):
        model.evaluate(x, y, steps=0, verbose=0)
    with pytest.raises(ValueError, match=r"steps: expected a positive number of batches or None, got 1\.5\. "):
        model.predict(x, steps=1.5, verbose=0)


def test_a_model_with_its_own_test_and_predict_steps_takes_steps_too():
    class Own(brainnet.Sequential):
        def test_step(self, data):
            return super().test_step(data)

        def predict_step(self, data):
            return super().predict_step(data)

    set_random_seed(0)
    x, y = data()
    model = Own([layers.Input(shape=(2,)), layers.Dense(1)])
    model.compile(SGD(0.01), "mse")
    count = Batches()
    logs = model.evaluate(x, y, batch_size=4, steps=2, callbacks=[count], verbose=0, return_dict=True)
    assert count.test_batches == 2
    assert logs["loss"] == pytest.approx(model.evaluate(x[:8], y[:8], verbose=0), rel=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=4, steps=2, verbose=0), model.predict(x[:8], verbose=0),
                               rtol=1e-6)


# ------------------------------------------------------------------ steps_per_epoch without batch_size
def test_steps_per_epoch_without_batch_size_cuts_a_pass_into_that_many_batches_as_keras():
    """Keras 3's array adapter: batch_size left out with steps_per_epoch=k is
    ceil(samples / k), so each epoch is one pass of k batches (not batches of 32)."""
    x, y = data(10)
    model, seen = recording_model()
    steps = Steps()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every epoch is a whole pass: no warning that a pass ended early
        history = model.fit(x, y, epochs=2, steps_per_epoch=3, shuffle=False, callbacks=[steps], verbose=0)
    assert history.params["batch_size"] == 4 and history.params["steps"] == 3
    assert steps.per_epoch == [3, 3]
    assert seen.batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    model, seen = recording_model()
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)  # neither: batches of 32, as before
    assert seen.batches == [list(range(10))]


def test_validation_steps_without_batch_size_evaluates_every_validation_sample():
    """batch_size left out: validation_steps=k cuts the validation arrays into k
    batches (Keras 3 gives its validation iterator fit's batch_size, None), so all
    of them are evaluated; before, it took the first k batches of 32."""
    x, y = data(10)
    xv, yv = data(100)
    model, _ = recording_model()
    history = model.fit(x, y, epochs=1, validation_data=(xv, yv), validation_steps=3, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(model.evaluate(xv, yv, verbose=0), rel=1e-6)
    assert history.history["val_loss"][0] != pytest.approx(model.evaluate(xv[:96], yv[:96], verbose=0), rel=1e-6)


def test_a_model_with_its_own_train_step_takes_the_batch_size_from_steps_per_epoch_too():
    x, y = data()
    model = OwnStep()
    model.compile(SGD(0.01), "mse")
    history = model.fit(x, x[:, :1], epochs=2, steps_per_epoch=2, shuffle=False, verbose=0)
    assert history.params["batch_size"] == 5
    assert model.labels == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] * 2
