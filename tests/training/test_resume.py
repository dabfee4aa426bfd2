"""Exact resume: a run killed with SIGKILL mid-epoch and restarted with
BackupAndRestore ends bit-identical to a run never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from brainnet.callbacks import BackupAndRestore, LambdaCallback
from brainnet.layers import Dense
from brainnet.models import Sequential

PROGRAM = Path(__file__).with_name("resume_program.py")
REPO = Path(__file__).resolve().parents[2]


def run(*args: object) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "BRAINNET_DEVICE": "cpu"}  # bit-identity: a CPU claim
    return subprocess.run([sys.executable, str(PROGRAM), *map(str, args)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = run(out / "backup", out, "epoch")
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize("save_freq, restored", [("epoch", [2, 0]), (5, [1, 10])])
def test_killed_mid_epoch_and_restarted_ends_bit_identical(tmp_path, uninterrupted, save_freq, restored):
    # 10 batches per epoch; killed after batch 3 (0-based) of epoch 2, i.e. mid-epoch.
    # With save_freq=5 the last backup is after batch 19 overall: the end of epoch 1's
    # batches, so the restart also redoes epoch 1's validation and epoch end.
    backup, out = tmp_path / "backup", tmp_path / "run"
    killed = run(backup, out, save_freq, 2, 3)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (out / "killed").exists() and (backup / "training_backup.brainnet").exists()
    assert not (out / "final.safetensors").exists()

    resumed = run(backup, out, save_freq, 2, 3)
    assert resumed.returncode == 0, resumed.stderr
    went_on_from = json.loads((out / "restored.json").read_text())
    assert went_on_from == restored
    want, got = load_file(uninterrupted / "final.safetensors"), load_file(out / "final.safetensors")
    assert list(want) == list(got)
    assert all(torch.equal(want[k], got[k]) for k in want)  # bit for bit, BatchNorm buffers too
    history = json.loads((out / "history.json").read_text())
    assert history == json.loads((uninterrupted / "history.json").read_text())
    assert history["epoch"] == [0, 1, 2, 3]
    assert not (backup / "training_backup.brainnet").exists()  # deleted after a normal end


def test_backup_of_another_fit_is_refused(tmp_path):
    x, y = np.ones((40, 3), "float32"), np.zeros((40, 1), "float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    model.fit(x, y, epochs=1, batch_size=8, callbacks=[backup], verbose=0)
    assert (tmp_path / "training_backup.brainnet").exists()  # kept: delete_checkpoint=False
    with pytest.raises(ValueError, match=r"BackupAndRestore: .*training_backup\.brainnet: expected a backup of this same fit, got one made with other settings \(batch_size: backup 8, now 10, steps: backup 5, now 4\)\. Fix:"):
        model.fit(x, y, epochs=2, batch_size=10, callbacks=[backup], verbose=0)
    other = Sequential([Dense(2, input_shape=(3,))])
    other.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"training_backup\.brainnet: expected weights for this model's layers, got a file that does not fit"):
        other.fit(x, np.zeros((40, 2)), epochs=2, batch_size=8, callbacks=[backup], verbose=0)


def test_finished_epochs_are_skipped_and_history_continues(tmp_path):
    x, y = np.random.default_rng(0).normal(size=(40, 3)).astype("float32"), np.zeros((40, 1), "float32")
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss="mse")
    backup = BackupAndRestore(tmp_path)

    def crash_after_epoch_1(epoch: int, logs: dict) -> None:
        if epoch == 1:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError, match="crash"):
        model.fit(x, y, epochs=4, callbacks=[backup, LambdaCallback(on_epoch_end=crash_after_epoch_1)], verbose=0)
    assert (tmp_path / "training_backup.brainnet").exists()  # kept: fit did not end normally
    seen: list[int] = []
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[
        backup, LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(epoch))])
    assert backup.restored == (2, 0) and seen == [2, 3]
    assert history.epoch == [0, 1, 2, 3] and len(history.history["loss"]) == 4


def test_bad_save_freq():
    with pytest.raises(ValueError, match=r"BackupAndRestore: expected save_freq 'epoch' or a number of batches ≥ 1, got 0\. Fix"):
        BackupAndRestore("somewhere", save_freq=0)
