"""The callbacks, run through fit the way users run them."""

from __future__ import annotations

import csv
import sys

import numpy as np
import pytest
import torch

import brainnet
from brainnet.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)
from brainnet.layers import Dense
from brainnet.training.callbacks import overrides_batch_hooks
from brainnet.models import Sequential, load_model
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed


def data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    return (rng.normal(size=(n, 2)) + y[:, None] * 2.0).astype("float32"), y


def model(lr: float = 0.1) -> Sequential:
    set_random_seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(2,)), Dense(2, activation="softmax")])
    m.compile(optimizer=SGD(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def scripted(name: str, values: list[float]) -> LambdaCallback:
    """Overwrites logs[name] at each epoch end with the next scripted value
    (callbacks run in order, so the ones after it see the script)."""
    def write(epoch: int, logs: dict) -> None:
        logs[name] = values[epoch]
    return LambdaCallback(on_epoch_end=write)


class Recorder(Callback):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def on_train_begin(self, logs=None): self.calls.append("train_begin")
    def on_train_end(self, logs=None): self.calls.append("train_end")
    def on_epoch_begin(self, epoch, logs=None): self.calls.append(f"epoch_begin {epoch}")
    def on_epoch_end(self, epoch, logs=None): self.calls.append(f"epoch_end {epoch} {sorted(logs)}")
    def on_train_batch_begin(self, batch, logs=None): self.calls.append(f"batch_begin {batch}")
    def on_train_batch_end(self, batch, logs=None): self.calls.append(f"batch_end {batch} {sorted(logs)}")
    def on_test_begin(self, logs=None): self.calls.append("test_begin")
    def on_test_end(self, logs=None): self.calls.append("test_end")


# ---------------------------------------------------------------- the loop
def test_hooks_in_keras_order_with_batch_logs():
    x, y = data(20)
    recorder = Recorder()
    model().fit(x, y, epochs=2, batch_size=8, validation_split=0.2, callbacks=[recorder], verbose=0)
    keys = "['accuracy', 'loss']"
    epoch = lambda e: [f"epoch_begin {e}", *[c for b in range(2) for c in (f"batch_begin {b}", f"batch_end {b} {keys}")],  # noqa: E731
                       "test_begin", "test_end", f"epoch_end {e} ['accuracy', 'loss', 'val_accuracy', 'val_loss']"]
    assert recorder.calls == ["train_begin", *epoch(0), *epoch(1), "train_end"]


def test_keras_2_batch_hook_names_are_called_by_the_default_train_batch_hooks():
    """Keras 3's Callback calls on_batch_begin/on_batch_end from its default
    on_train_batch_begin/on_train_batch_end (the training guide's LossHistory)."""
    class Old(Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_batch_begin(self, batch, logs=None): self.calls.append(f"begin {batch}")
        def on_batch_end(self, batch, logs=None): self.calls.append(f"end {batch} {logs['loss'] > 0}")

    class Both(Old):  # its own on_train_batch_end replaces the default, which called on_batch_end
        def on_train_batch_end(self, batch, logs=None): self.calls.append(f"train_end {batch}")

    x, y = data(20)
    old, both = Old(), Both()
    model().fit(x, y, epochs=1, batch_size=8, callbacks=[old, both], verbose=0)
    assert old.calls == ["begin 0", "end 0 True", "begin 1", "end 1 True", "begin 2", "end 2 True"]
    assert both.calls == ["begin 0", "train_end 0", "begin 1", "train_end 1", "begin 2", "train_end 2"]


def test_model_stop_training_from_epoch_and_batch_hooks():
    x, y = data()

    def stop_at_epoch_1(epoch, logs):
        if epoch == 1:
            m.stop_training = True

    m = model()
    history = m.fit(x, y, epochs=5, batch_size=8, callbacks=[LambdaCallback(on_epoch_end=stop_at_epoch_1)], verbose=0)
    assert history.epoch == [0, 1]
    batches: list[int] = []

    def stop_at_batch_2(batch, logs):
        batches.append(batch)
        if batch == 2:
            m.stop_training = True

    history = m.fit(x, y, epochs=5, batch_size=8, callbacks=[LambdaCallback(on_train_batch_end=stop_at_batch_2)], verbose=0)
    assert batches == [0, 1, 2] and history.epoch == [0]  # the epoch still ends (logs, validation), as Keras
    assert m.stop_training is True and m.trainer.stop_training is True


def test_lambda_callback_hooks_and_errors():
    seen = []
    cb = LambdaCallback(on_train_begin=lambda logs: seen.append("begin"), on_batch_end=lambda b, logs: seen.append(b),
                        on_test_end=lambda logs: seen.append("test"))
    model().fit(*data(16), epochs=1, batch_size=8, validation_split=0.5, callbacks=[cb], verbose=0)
    assert seen == ["begin", 0, "test"]
    with pytest.raises(TypeError, match=r"LambdaCallback: expected hook names .*got 'on_epoch_ends'\. Fix"):
        LambdaCallback(on_epoch_ends=print)


# ---------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience_and_restore_best_weights():
    x, y = data()
    m = model()
    weights = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append({k: v.clone() for k, v in m.state_dict().items()}))
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True, verbose=1)
    history = m.fit(x, y, epochs=10, validation_split=0.25, verbose=0,
                    callbacks=[scripted("val_loss", [1.0, 0.5, 0.6, 0.7, 0.2]), keep, stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert all(torch.equal(v, weights[1][k]) for k, v in m.state_dict().items())


def test_early_stopping_min_delta_baseline_start_and_mode():
    x, y = data()
    stop = EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    h = model().fit(x, y, epochs=10, verbose=0, callbacks=[scripted("loss", [1.0, 0.95, 0.5, 0.45, 0.44]), stop])
    assert h.epoch == [0, 1]  # 0.95 is not 0.1 better than 1.0
    stop = EarlyStopping(monitor="loss", patience=2, baseline=0.1)
    h = model().fit(x, y, epochs=10, verbose=0, callbacks=[scripted("loss", [1.0, 0.9, 0.8, 0.7, 0.6]), stop])
    assert h.epoch == [0, 1]  # improving, but never beating the baseline
    stop = EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    h = model().fit(x, y, epochs=10, verbose=0, callbacks=[scripted("loss", [1.0, 2.0, 3.0, 1.0, 1.5, 9]), stop])
    assert h.epoch == [0, 1, 2, 3, 4]  # epochs 0-2 ignored
    stop = EarlyStopping(monitor="val_accuracy")  # auto → max
    h = model().fit(x, y, epochs=10, verbose=0, validation_split=0.25,
                    callbacks=[scripted("val_accuracy", [0.5, 0.7, 0.6, 0.9]), stop])
    assert stop.mode == "max" and h.epoch == [0, 1, 2]


def test_early_stopping_restores_best_weights_also_at_the_last_epoch():
    x, y = data()
    m = model()
    first = []
    keep = LambdaCallback(on_epoch_end=lambda e, logs: first.append({k: v.clone() for k, v in m.state_dict().items()}) if e == 0 else None)
    m.fit(x, y, epochs=3, verbose=0, callbacks=[scripted("loss", [0.1, 0.5, 0.6]), keep,
                                                 EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)])
    assert all(torch.equal(v, first[0][k]) for k, v in m.state_dict().items())


def test_monitor_errors_and_missing_metric_warning():
    with pytest.raises(ValueError, match=r"EarlyStopping: mode='auto' cannot tell whether 'val_f_score' should go down or up\. Fix: EarlyStopping\(monitor='val_f_score', mode='min'\)"):
        EarlyStopping(monitor="val_f_score")
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: expected mode 'auto', 'min' or 'max', got 'minimum'"):
        ReduceLROnPlateau(mode="minimum")
    with pytest.warns(UserWarning, match=r"EarlyStopping: expected 'val_loss' in the epoch's logs, got only loss, accuracy; skipping this epoch\. Fix: pass validation_data=\(x_val, y_val\) or validation_split=0\.1 to fit"):
        h = model().fit(*data(), epochs=3, verbose=0, callbacks=[EarlyStopping()])
    assert h.epoch == [0, 1, 2]


# ---------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_every_epoch_with_formatted_names(tmp_path):
    x, y = data()
    m = model()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.brainnet")
    m.fit(x, y, epochs=2, validation_split=0.25, verbose=0,
          callbacks=[scripted("val_loss", [0.5, 0.25]), ModelCheckpoint(pattern)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01-0.50.brainnet", "ckpt-02-0.25.brainnet"]
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt-02-0.25.brainnet").predict(x), m.predict(x))


def test_model_checkpoint_save_best_only_weights(tmp_path, capsys):
    x, y = data()
    m = model()
    path = tmp_path / "best.weights.safetensors"
    saved = []
    after = LambdaCallback(on_epoch_end=lambda e, logs: saved.append(path.exists()))
    best = ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True, verbose=1)
    weights = []
    keep = LambdaCallback(on_epoch_end=lambda e, logs: weights.append(m.get_weights()))
    m.fit(x, y, epochs=4, validation_split=0.25, verbose=0, callbacks=[scripted("val_loss", [0.9, 0.4, 0.6, 0.5]), keep, best, after])
    assert saved == [True] * 4  # saved at epoch 0 (the first value is always the best so far)
    out = capsys.readouterr().out
    assert "Epoch 2: val_loss improved from 0.90000 to 0.40000, saving to" in out and "Epoch 3: val_loss did not improve from 0.40000" in out
    other = model()
    other.load_weights(path)  # the weights of epoch 1, the best: epochs 2 and 3 did not save
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), weights[1]))
    assert not all(np.array_equal(a, b) for a, b in zip(weights[1], weights[3]))


def test_model_checkpoint_unknown_name_in_filepath(tmp_path):
    with pytest.raises(ValueError, match=r"ModelCheckpoint: filepath '.*\{val_acc\}.*' cannot be filled in \(KeyError\('val_acc'\)\); the names it may use are epoch, loss, accuracy\. Fix"):
        model().fit(*data(), epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(tmp_path / "m-{val_acc}.brainnet"))])


def test_model_checkpoint_every_n_batches_across_epochs(tmp_path):
    """save_freq=N (Keras 3): a save after every N training batches, counted
    across epochs, named from the running logs and the batch (1-based)."""
    x, y = data(40)  # 5 batches of 8 per epoch: saves after batches 3, 6 (epoch 2's 1st), 9 (its 4th)
    m = model()
    running = []
    record = LambdaCallback(on_train_batch_end=lambda b, logs: running.append(round(logs["loss"], 3)))
    pattern = str(tmp_path / "e{epoch}-b{batch}-loss={loss:.3f}.keras")
    m.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[record, ModelCheckpoint(pattern, save_freq=3)])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"e1-b3-loss={running[2]:.3f}.keras", f"e2-b1-loss={running[5]:.3f}.keras", f"e2-b4-loss={running[8]:.3f}.keras"])
    last = tmp_path / f"e2-b4-loss={running[8]:.3f}.keras"
    assert load_model(last).predict(x, verbose=0).shape == (40, 2)
    assert not overrides_batch_hooks(ModelCheckpoint(pattern))  # per epoch: no batch hook to slow the loop
    for bad in (0, -5, 2.5, True, "batch"):
        with pytest.raises(ValueError, match=r"ModelCheckpoint: expected save_freq 'epoch' or a number of batches "
                                             r"≥ 1, got .*\. Fix: save_freq='epoch' or save_freq=100\."):
            ModelCheckpoint(pattern, save_freq=bad)


# ---------------------------------------------------------------- learning rate
def test_reduce_lr_on_plateau_with_cooldown_and_min_lr():
    x, y = data()
    m = model(lr=0.1)
    lrs = []
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, cooldown=2, min_lr=0.03)
    watch = LambdaCallback(on_epoch_end=lambda e, logs: lrs.append(m.optimizer.torch_optimizer.param_groups[0]["lr"]))
    h = m.fit(x, y, epochs=7, verbose=0, callbacks=[scripted("loss", [1.0] * 7), reduce, watch])
    # epoch 1: no improvement for 1 epoch → 0.05; epoch 2: cooling down (Keras counts the
    # cooldown down before checking, so cooldown=2 pauses one epoch); epoch 3 → 0.03 (min_lr)
    assert lrs == pytest.approx([0.1, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03])
    assert h.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03])  # the rate each epoch used
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: expected 0 < factor < 1.*got 2\.0\. Fix: factor=0\.5"):
        ReduceLROnPlateau(factor=2.0)


def test_learning_rate_scheduler_both_signatures():
    x, y = data()
    m = model(lr=0.1)
    h = m.fit(x, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    assert h.history["learning_rate"] == pytest.approx([0.05, 0.025, 0.0125])
    assert m.optimizer.torch_optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)
    h = m.fit(x, y, epochs=2, verbose=0, callbacks=[LearningRateScheduler(lambda epoch: np.float32(0.25 * (epoch + 1)))])
    assert h.history["learning_rate"] == [0.25, 0.5]
    with pytest.raises(ValueError, match=r"LearningRateScheduler: expected schedule\(0, 0\.5\) to return a learning rate \(a number ≥ 0\), got None"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(lambda epoch, lr: None)])


# ---------------------------------------------------------------- logging
def test_csv_logger_rows_separator_and_append(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model().fit(x, y, epochs=2, validation_split=0.25, verbose=0, callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r["epoch"] for r in rows] == ["0", "1"] and float(rows[1]["loss"]) > 0
    model().fit(x, y, epochs=1, validation_split=0.25, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert [r["epoch"] for r in csv.DictReader(path.open())] == ["0", "1", "0"]  # one header
    model().fit(x, y, epochs=1, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    assert path.read_text().splitlines()[0] == "epoch;accuracy;loss"


def test_terminate_on_nan_stops_without_error():
    x, y = data()
    m = model()

    def poison(batch, logs):
        if batch == 2:
            with torch.no_grad():
                m.layers[0].kernel.fill_(float("nan"))

    with pytest.warns(RuntimeWarning, match=r"TerminateOnNaN: the loss is nan in epoch 1/5 at batch 3/5; training stopped\. Usual causes: a learning rate too high, or inputs that are not scaled"):
        h = m.fit(x, y, epochs=5, batch_size=8, verbose=0, callbacks=[LambdaCallback(on_train_batch_begin=poison), TerminateOnNaN()])
    assert h.epoch == [0] and np.isnan(h.history["loss"][0])


def test_tensorboard_writes_train_and_validation_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    x, y = data()
    model().fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
                callbacks=[TensorBoard(tmp_path, histogram_freq=1, update_freq=2)])
    train = EventAccumulator(str(tmp_path / "train"))
    train.Reload()
    val = EventAccumulator(str(tmp_path / "validation"))
    val.Reload()
    assert {"epoch_loss", "epoch_accuracy", "batch_loss"} <= set(train.Tags()["scalars"])
    assert [e.step for e in train.Scalars("epoch_loss")] == [0, 1, 2]
    assert [e.step for e in val.Scalars("epoch_loss")] == [0, 1, 2]
    assert len(train.Scalars("batch_loss")) == 6  # 4 batches × 3 epochs, every 2nd
    assert train.Tags()["histograms"]


def test_tensorboard_takes_embeddings_freq_0_and_refuses_the_projector(tmp_path):
    """The training guide's TensorBoard(log_dir, histogram_freq=0, embeddings_freq=0, update_freq="epoch")."""
    board = TensorBoard(log_dir=tmp_path, histogram_freq=0, embeddings_freq=0, update_freq="epoch")
    assert board.log_dir == tmp_path
    with pytest.raises(ValueError, match=r"TensorBoard: expected embeddings_freq=0 \(brainnet writes the scalars "
                                         r"and weight histograms, not Keras's embedding projector\), got 1\. Fix: "
                                         r"leave embeddings_freq out"):
        TensorBoard(log_dir=tmp_path, embeddings_freq=1)


def test_tensorboard_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"TensorBoard callback: expected the 'tensorboard' package.*Fix: pip install tensorboard"):
        TensorBoard("logs")


def test_public_callback_names():
    for name in ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
                 "CSVLogger", "TerminateOnNaN", "TensorBoard", "BackupAndRestore", "LambdaCallback"]:
        assert hasattr(brainnet.callbacks, name), name
