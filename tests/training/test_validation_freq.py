"""fit(..., validation_freq=N) validates after every N-th epoch (or after the
epochs of a list), as Keras 3's fit: the epochs whose number, counted from 1,
is a multiple of N (``_should_eval``: ``(epoch + 1) % N == 0``, ``epoch + 1
in the list``).

The reference is the same fit with ``validation_freq=1``: validation does
not change training, so the weights and training logs are identical and
the validated epochs' ``val_`` values are those of the every-epoch run, in
all three loops (arrays, batch sources, a custom ``train_step``).
Callbacks that monitor ``val_loss`` warn and skip the epochs without it,
as Keras's EarlyStopping, ReduceLROnPlateau and ModelCheckpoint do.
"""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from brainnet.callbacks import Callback, CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from brainnet.layers import Dense
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

EPOCHS = 6


class CustomStep(Sequential):
    """A train_step of the user's (the custom-step loop); the built-in test_step validates."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred)
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def data(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")


def model(cls: type = Sequential, lr: float = 0.1) -> Sequential:
    set_random_seed(0)
    m = cls([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    m.compile(SGD(lr, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    return m


def loader(x: np.ndarray, y: np.ndarray) -> DataLoader:
    return DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=16)


class EpochLogs(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.keys: list[list[str]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.keys.append(sorted(logs))


def run(loop: str, validation_freq, **fit):
    (x, y), (x_val, y_val) = data(), data(32, seed=1)
    m = model(CustomStep if loop == "custom step" else Sequential)
    seen = EpochLogs()
    if loop == "batch source":
        history = m.fit(loader(x, y), epochs=EPOCHS, validation_data=loader(x_val, y_val),
                        validation_freq=validation_freq, verbose=0, callbacks=[seen], **fit)
    else:
        history = m.fit(x, y, batch_size=16, epochs=EPOCHS, validation_data=(x_val, y_val), shuffle=False,
                        validation_freq=validation_freq, verbose=0, callbacks=[seen], **fit)
    return m, history, seen


@pytest.mark.parametrize("loop", ["arrays", "batch source", "custom step"])
@pytest.mark.parametrize("validation_freq, validated", [(2, [1, 3, 5]), (4, [3]), ([1, 5, 6], [0, 4, 5]),
                                                        (7, [])])
def test_validation_runs_after_the_epochs_keras_names_only(loop, validation_freq, validated):
    every, history_every, _ = run(loop, 1)
    some, history, seen = run(loop, validation_freq)
    for a, b in zip(every.get_weights(), some.get_weights()):
        np.testing.assert_array_equal(b, a)  # validation changes nothing in training
    val_keys = [k for k in history_every.history if k.startswith("val_")]
    assert val_keys and history.epoch == list(range(EPOCHS))
    for key, values in history_every.history.items():
        expected = [values[e] for e in validated] if key.startswith("val_") else values
        assert history.history.get(key, []) == expected, key  # Keras's History: val_ lists only as long
    train_keys = sorted(k for k in history_every.history if not k.startswith("val_"))
    assert seen.keys == [sorted(train_keys + val_keys) if e in validated else train_keys for e in range(EPOCHS)]


def test_early_stopping_counts_the_validated_epochs_and_warns_on_the_others():
    x, y = data()
    val = data(32, seed=1)
    results = {}
    for freq in (1, 2):
        m = model(lr=0.0)  # nothing learns: val_loss never improves after its first value
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = m.fit(x, y, epochs=EPOCHS, validation_data=val, validation_freq=freq, verbose=0,
                            callbacks=[EarlyStopping(monitor="val_loss", patience=1)])
        results[freq] = history.epoch, [str(w.message) for w in caught]
    # Keras: the first validated epoch sets the best, the next one without improvement stops (patience=1).
    assert results[1] == ([0, 1], [])
    epochs, messages = results[2]
    assert epochs == [0, 1, 2, 3]  # validated after epochs 2 and 4 (1-based)
    assert len(messages) == 2  # epochs 1 and 3 (1-based): skipped with a warning
    assert all(m.startswith("EarlyStopping: expected 'val_loss' in the epoch's logs, got only loss, accuracy: fit "
                            "validates after some epochs only (validation_freq=2); skipping this epoch. Fix: "
                            "validation_freq=1 to validate after every epoch") for m in messages)


def test_reduce_lr_on_plateau_and_model_checkpoint_act_on_validated_epochs_only(tmp_path):
    x, y = data()
    val = data(32, seed=1)
    rates = {}
    for freq in (1, 3):
        m = model()
        reduce = ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_delta=10.0)  # never improves
        with pytest.warns(UserWarning, match="ReduceLROnPlateau: expected 'val_loss'") if freq > 1 else \
                warnings.catch_warnings():
            history = m.fit(x, y, epochs=EPOCHS, validation_data=val, validation_freq=freq, verbose=0,
                            callbacks=[reduce])
        rates[freq] = history.history["learning_rate"]
    np.testing.assert_allclose(rates[1], [0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625])
    np.testing.assert_allclose(rates[3], [0.1] * 6)  # validated after epochs 3 and 6: reduced after the 6th
    assert m.optimizer.learning_rate == pytest.approx(0.05)

    m = model()
    path = str(tmp_path / "ckpt-{epoch:02d}.brainnet")
    with pytest.warns(UserWarning, match="ModelCheckpoint: expected 'val_loss'"):
        m.fit(x, y, epochs=EPOCHS, validation_data=val, validation_freq=[2, 5], verbose=0,
              callbacks=[ModelCheckpoint(path, save_best_only=True)])
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved[0] == "ckpt-02.brainnet" and set(saved) <= {"ckpt-02.brainnet", "ckpt-05.brainnet"}


def test_csv_logger_has_the_validation_columns_from_the_first_row(tmp_path):
    x, y = data()
    m = model()
    m.fit(x, y, epochs=4, validation_data=data(32, seed=1), validation_freq=2, verbose=0,
          callbacks=[CSVLogger(tmp_path / "log.csv")])
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [r["val_loss"] == "NA" for r in rows] == [True, False, True, False]
    assert [r["val_accuracy"] == "NA" for r in rows] == [True, False, True, False]


def test_validation_freq_errors_say_what_was_expected_and_the_fix():
    x, y = data()
    val = data(32, seed=1)
    for bad in (0, -1, 2.0, True, "2", [0, 2], (2, 4)):
        with pytest.raises(ValueError, match=r"^fit: expected validation_freq to be a whole number >= 1 \(validate "
                                             r"after every N-th epoch\) or a list of epoch numbers counted from 1, "
                                             rf"got validation_freq={re_repr(bad)}\. Fix: validation_freq=2"):
            model().fit(x, y, validation_data=val, validation_freq=bad, verbose=0)
    for m, source in ((model(), (x, y)), (model(CustomStep), (x, y)), (model(), (loader(x, y),))):
        with pytest.raises(ValueError, match=r"^fit: expected validation_data or validation_split with "
                                             r"validation_freq=2, got neither, so there is nothing to validate\. "
                                             r"Fix: pass validation_data=\(x_val, y_val\)"):
            m.fit(*source, validation_freq=2, verbose=0)
    with pytest.raises(ValueError, match=r"^fit: expected validation_freq to be a whole number"):
        model(CustomStep).fit(x, y, validation_data=val, validation_freq=0, verbose=0)
    history = model().fit(x, y, epochs=2, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(history.history["val_loss"]) == 1


def re_repr(value) -> str:
    import re

    return re.escape(repr(value))
