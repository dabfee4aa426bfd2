"""Soak test: 200 epochs of ``fit`` do not grow the process's memory.

A small CNN (convolution, batch normalization, pooling, dropout, softmax)
trains for 200 epochs on 64 images of 8 x 8 with a validation split (two
training steps and one validation pass per epoch: 600 loop iterations, the
per-epoch machinery — shuffling, History, callbacks, metrics — 200 times),
5 to 8 s on one thread (two threads are slower for batches this small when
the machine is busy). The resident set size (``/proc/self/statm``) is
read at the end of every epoch in a fresh process, so nothing else the test
session allocates counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EPOCHS, WARM_UP = 200, 20
MiB = 2**20
# The bound, and why: over the 180 epochs after warm-up (the first epochs
# allocate the optimizer state, the kernels' workspaces and the allocator's
# arenas) RSS grew 0.07 MiB when measured (History's lists and the list of
# samples). 4 MiB leaves room for the allocator taking one more arena or
# heap chunk, and still catches a leak of 23 KiB per epoch: keeping one
# batch's activations, gradients or input slice per step (37 KiB for the
# convolution's output alone, two steps per epoch) or the epoch's
# permutation would pass it within the run.
BOUND = 4 * MiB

PROGRAM = r"""
import json, os, sys

import numpy as np

from brainnet.callbacks import LambdaCallback
from brainnet.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.utils import set_random_seed

PAGE = os.sysconf("SC_PAGE_SIZE")
epochs, leak_bytes = int(sys.argv[1]), int(sys.argv[2])


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE  # resident pages


set_random_seed(0)
x = np.random.normal(size=(64, 8, 8, 1)).astype("float32")
y = (x.mean(axis=(1, 2, 3)) > 0).astype("int64")
model = Sequential([Conv2D(8, (3, 3), activation="relu", input_shape=(8, 8, 1)), BatchNormalization(),
                    MaxPooling2D((2, 2)), Flatten(), Dropout(0.2), Dense(2, activation="softmax")])
model.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
samples, kept = [], []


def on_epoch_end(epoch, logs):
    if leak_bytes:  # the control run: a deliberate leak, kept alive
        kept.append(np.ones(leak_bytes // 8))
    samples.append(rss())


history = model.fit(x, y, epochs=epochs, batch_size=32, validation_split=0.25, verbose=0,
                    callbacks=[LambdaCallback(on_epoch_end=on_epoch_end)])
print(json.dumps({"rss": samples, "epochs": len(history.history["loss"])}))
"""


def _soak(epochs: int, leak_bytes: int = 0) -> list[int]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "BRAINNET_DEVICE": "cpu"}
    done = subprocess.run([sys.executable, "-c", PROGRAM, str(epochs), str(leak_bytes)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["epochs"] == epochs == len(result["rss"])
    return result["rss"]


def _growth(rss: list[int]) -> int:
    """The most RSS grew above its level at the end of warm-up."""
    return max(rss[WARM_UP:]) - rss[WARM_UP - 1]


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc (Linux)")
def test_200_epochs_do_not_grow_resident_memory():
    rss = _soak(EPOCHS)
    assert _growth(rss) <= BOUND, (
        f"RSS grew {_growth(rss) / MiB:.2f} MiB after warm-up (bound {BOUND / MiB:.0f} MiB); "
        f"every 20th epoch (MiB): {[round(r / MiB, 2) for r in rss[::20]]}"
    )


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads RSS from /proc (Linux)")
def test_the_soak_measure_catches_a_leak():
    # The control: 256 KiB kept per epoch over 60 epochs, 40 after warm-up,
    # is 10 MiB, well over the bound; the measure sees it.
    rss = _soak(60, leak_bytes=256 * 1024)
    assert _growth(rss) > BOUND, f"a 10 MiB leak read as {_growth(rss) / MiB:.2f} MiB"
