"""How fit stops: a NaN loss (an error that teaches) and Ctrl-C (a clean stop
that keeps the History and leaves the model usable)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from brainnet.callbacks import BackupAndRestore, CSVLogger, LambdaCallback
from brainnet.layers import Dense
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

REPO = Path(__file__).resolve().parents[2]


def data(n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    return (rng.normal(size=(n, 2)) + y[:, None] * 2.0).astype("float32"), y


def model() -> Sequential:
    set_random_seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(2,)), Dense(2, activation="softmax")])
    m.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


# ---------------------------------------------------------------- NaN loss
def test_nan_loss_names_epoch_batch_and_causes():
    m = model()

    def poison(batch, logs):  # what a too-large step does to the weights
        if (epochs_begun[-1], batch) == (1, 2):
            with torch.no_grad():
                m.layers[0].kernel.fill_(float("inf"))

    epochs_begun: list[int] = []
    track = LambdaCallback(on_epoch_begin=lambda e, logs: epochs_begun.append(e), on_train_batch_begin=poison)
    with pytest.raises(FloatingPointError, match=r"fit: expected a finite loss, got nan in epoch 2/3 at batch 3/5; .*Usual causes: a learning rate too high .*inputs that are not scaled .*x = x / 255\.0.*Fix: lower the learning rate or scale the inputs"):
        m.fit(*data(), epochs=3, batch_size=8, verbose=0, callbacks=[track])


def test_unscaled_inputs_with_a_large_learning_rate_blow_up_with_the_teaching_error():
    def train(x: np.ndarray) -> None:
        set_random_seed(0)
        m = Sequential([Dense(1, input_shape=(20,))])
        m.compile(optimizer=SGD(0.1), loss="mse")
        m.fit(x, x.mean(1), epochs=5, verbose=0)

    pixels = np.random.default_rng(0).uniform(0, 255, size=(64, 20)).astype("float32")
    with pytest.raises(FloatingPointError, match=r"got (nan|inf) in epoch \d/5 at batch \d/2.*x = x / 255\.0"):
        train(pixels)
    train(pixels / 255.0)  # the fix the message gives works


# ---------------------------------------------------------------- Ctrl-C
def test_keyboard_interrupt_in_a_batch_keeps_history_and_leaves_the_model_usable(tmp_path):
    x, y = data()
    m = model()

    def interrupt(batch, logs):
        if len(history_so_far) == 2 and batch == 1:
            raise KeyboardInterrupt

    history_so_far: list[int] = []
    callbacks = [
        LambdaCallback(on_epoch_end=lambda e, logs: history_so_far.append(e), on_train_batch_end=interrupt),
        CSVLogger(tmp_path / "log.csv"),
        BackupAndRestore(tmp_path / "backup"),
    ]
    with pytest.warns(UserWarning, match=r"fit: interrupted \(Ctrl-C\) in epoch 3/10 after 2 of 5 batches\. The History holds the 2 finished epoch\(s\); the model keeps its weights and can predict, evaluate, save or fit again"):
        history = m.fit(x, y, epochs=10, batch_size=8, verbose=1, callbacks=callbacks)
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    assert m.trainer.interrupted
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 3  # header + 2 epochs, file closed
    assert (tmp_path / "backup" / "training_backup.brainnet").exists()  # kept for a restart
    assert m.predict(x).shape == (40, 2) and np.isfinite(m.evaluate(x, y, verbose=0)).all()
    again = m.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert again.epoch == [0] and not m.trainer.interrupted


def test_ctrl_c_signal_stops_after_the_current_batch(tmp_path):
    """A real SIGINT, sent from outside while a batch is under way."""
    ready, result = tmp_path / "ready", tmp_path / "result.json"
    code = textwrap.dedent(f"""
        import json, signal, time
        import numpy as np, torch
        from brainnet.callbacks import LambdaCallback
        from brainnet.layers import Dense
        from brainnet.models import Sequential
        # As in an interactive Python, even when pytest was started in the background
        # (where the shell hands its children SIGINT ignored, and fit leaves that alone).
        signal.signal(signal.SIGINT, signal.default_int_handler)
        x = np.random.default_rng(0).normal(size=(40, 2)).astype("float32")
        y = (x[:, 0] > 0).astype(int)
        model = Sequential([Dense(2, activation="softmax", input_shape=(2,))])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        done = []
        def wait_for_ctrl_c(batch, logs):
            if (len(epochs), batch) == (2, 3):
                open({str(ready)!r}, "w").close()
                deadline = time.monotonic() + 30
                # fit's handler gives SIGINT back to Python's after the first press
                while signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                    assert time.monotonic() < deadline
                    time.sleep(0.01)
        epochs = []
        cb = LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e),
                            on_train_batch_begin=wait_for_ctrl_c,
                            on_train_batch_end=lambda b, logs: done.append((len(epochs), b)))
        history = model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[cb])
        usable = model.predict(x).shape == (40, 2)
        json.dump({{"epochs": history.epoch, "last_batch": done[-1], "usable": usable,
                   "iterations": model.optimizer.iterations}}, open({str(result)!r}, "w"))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 0, err
    got = json.loads(result.read_text())
    assert got["epochs"] == [0, 1]
    assert got["last_batch"] == [2, 3]  # the batch under way when Ctrl-C came was finished
    assert got["iterations"] == 2 * 5 + 4 and got["usable"]
    assert "interrupted (Ctrl-C) in epoch 3/10 after 4 of 5 batches" in err
