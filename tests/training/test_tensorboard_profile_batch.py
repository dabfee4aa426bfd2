"""``TensorBoard(profile_batch=...)``: torch's profiler over the training
batches Keras 3 would profile (keras.io's debugging tips, tip 4:
``TensorBoard(log_dir=log_dir, profile_batch=(10, 15))``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers
from brainnet.training.callbacks._profiling import profile_range

pytest.importorskip("tensorboard")


def _fit(log_dir, profile_batch, epochs=2, samples=64, batch_size=8):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).normal(size=(samples, 4)).astype("float32")
    board = keras.callbacks.TensorBoard(log_dir=log_dir, profile_batch=profile_batch)
    model.fit(x, x[:, :1], epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[board])
    return sorted((log_dir / "train" / "plugins" / "profile").glob("*.pt.trace.json"))


def _profiled_batches(trace):
    events = json.loads(trace.read_text())["traceEvents"]
    return sorted(int(e["name"].rsplit("_", 1)[1]) for e in events
                  if e.get("name", "").startswith("train_batch_") and e.get("ph") == "X")


def test_profile_batch_10_to_15_records_those_batches_across_epochs(tmp_path):
    """8 batches an epoch: batches 10 to 15 are the second epoch's 2nd to 7th, counted across epochs as Keras."""
    traces = _fit(tmp_path, (10, 15))
    assert len(traces) == 1
    assert _profiled_batches(traces[0]) == [10, 11, 12, 13, 14, 15]
    events = json.loads(traces[0].read_text())["traceEvents"]
    assert any(e.get("name") == "aten::addmm" for e in events)  # the Dense layers' work inside the spans


def test_profile_batch_n_records_that_batch_and_the_string_form_a_range(tmp_path):
    assert _profiled_batches(_fit(tmp_path / "one", 3)[0]) == [3]
    assert _profiled_batches(_fit(tmp_path / "text", "2,4")[0]) == [2, 3, 4]


def test_training_that_ends_inside_the_range_writes_what_it_profiled(tmp_path):
    assert _profiled_batches(_fit(tmp_path, (14, 40))[0]) == [14, 15, 16]  # 16 batches in all


def test_profile_batch_0_profiles_nothing(tmp_path):
    assert _fit(tmp_path, 0) == []
    assert profile_range(0) is None and profile_range((0, 0)) is None


@pytest.mark.parametrize("bad", [-1, (5, 2), (1, 2, 3), "a,b", 2.5, True])
def test_a_bad_profile_batch_is_refused_with_the_fix(bad):
    with pytest.raises(ValueError, match=r"TensorBoard: expected profile_batch a batch number ≥ 0 .*Fix: "
                                         r"TensorBoard\(log_dir, profile_batch=\(10, 15\)\)"):
        keras.callbacks.TensorBoard(log_dir="logs", profile_batch=bad)
