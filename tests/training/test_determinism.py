"""Determinism on CPU: two runs of the same program with the same
``set_random_seed(s)`` end with bit-identical weights and History.

Each run is a fresh Python process, so no global state (random generators,
layer name counters, torch's thread pools, cached kernels) can leak from one
run into the other or from the test process. The program draws its data
from the seeded generators and trains two small models for 3 epochs with
everything that consumes random numbers: weight initialisation, the
validation split and the shuffling of each epoch, Dropout, an LSTM's input
and recurrent dropout (which runs the step loop), and BatchNormalization's
moving statistics. Both runs use 2 threads (intra-op parallel kernels).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROGRAM = r"""
import hashlib, json, sys

import numpy as np

from brainnet.layers import LSTM, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.utils import set_random_seed

set_random_seed(int(sys.argv[1]))
x = np.random.normal(size=(256, 12, 12, 1)).astype("float32")
y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype("int64") + (x[:, :, :6].mean(axis=(1, 2, 3)) > 0)
models = {
    "cnn": (Sequential([
        Conv2D(8, (3, 3), activation="relu", input_shape=(12, 12, 1)), BatchNormalization(), MaxPooling2D((2, 2)),
        Flatten(), Dropout(0.25), Dense(3, activation="softmax"),
    ]), x),
    "lstm": (Sequential([
        LSTM(8, dropout=0.2, recurrent_dropout=0.2, input_shape=(12, 12)), Dense(3, activation="softmax"),
    ]), x[..., 0]),
}
result = {}
for name, (model, inputs) in models.items():
    model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(inputs, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
    weights = {k: hashlib.sha256(v.cpu().numpy().tobytes()).hexdigest() for k, v in model.state_dict().items()}
    result[name] = {"weights": weights, "history": history.history}
print(json.dumps(result))
"""


def _run(seed: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(REPO), "BRAINNET_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(seed)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def seed_0() -> dict:
    return _run(0)


def test_same_seed_gives_bit_identical_weights_and_history(seed_0):
    again = _run(0)
    for name in ("cnn", "lstm"):
        assert again[name]["weights"] == seed_0[name]["weights"], name  # SHA-256 of every tensor's bytes
        assert again[name]["history"] == seed_0[name]["history"], name  # floats compared exactly (JSON repr)
        assert len(seed_0[name]["history"]["val_loss"]) == 3
    assert "cnn" in seed_0 and "moving_variance" in " ".join(seed_0["cnn"]["weights"])  # buffers compared too


def test_another_seed_gives_other_weights(seed_0):
    # The comparison above can fail: a different seed changes every weight and the losses.
    other = _run(1)
    for name in ("cnn", "lstm"):
        changed = [k for k, v in other[name]["weights"].items() if v != seed_0[name]["weights"][k]]
        assert len(changed) == len(other[name]["weights"]), name
        assert other[name]["history"]["loss"] != seed_0[name]["history"]["loss"]
