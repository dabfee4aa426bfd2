"""brainnet.backend.clear_session: names start over, memory is released,
and existing models keep working."""

from __future__ import annotations

import numpy as np
import torch

import brainnet
from brainnet import backend, mixed_precision
from brainnet.layers import Dense, Input, LSTM
from brainnet.models import Model, Sequential, load_model
from brainnet.utils import set_random_seed


def test_names_start_over_for_layers_inputs_and_models():
    [Dense(2) for _ in range(3)], LSTM(2), Input((3,)), Sequential()
    assert Dense(2).name != "dense"
    backend.clear_session()
    assert Dense(2).name == "dense" and Dense(2).name == "dense_1"
    assert LSTM(2).name == "lstm"
    assert Input((3,)).name == "input_layer"
    assert Sequential().name == "sequential"
    inputs = Input((3,))
    assert Model(inputs, Dense(1)(inputs)).name == "functional"


def test_it_is_keras_backend_and_utils_clear_session():
    assert brainnet.backend.clear_session is backend.clear_session is brainnet.utils.clear_session
    assert "backend" in dir(brainnet)


def test_existing_models_keep_their_names_weights_and_training(tmp_path):
    set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x.sum(1) > 0).astype("int64")
    old = Sequential([Dense(5, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    old.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    old.fit(x, y, epochs=1, verbose=0)
    names, before = [layer.name for layer in old.layers], old.predict(x)
    backend.clear_session()
    new = Sequential([Dense(5, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    assert [layer.name for layer in old.layers] == names
    np.testing.assert_array_equal(old.predict(x), before)
    old.fit(x, y, epochs=1, verbose=0)  # still trains
    assert not np.array_equal(old.predict(x), before)
    old.save(tmp_path / "old.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "old.brainnet").predict(x), old.predict(x))
    new.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    assert new.fit(x, y, epochs=1, verbose=0).history["loss"][0] > 0


def test_the_policy_goes_back_to_float32_as_in_keras():
    mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        backend.clear_session(free_memory=False)
        assert mixed_precision.global_policy().name == "float32"
    finally:
        mixed_precision.set_global_policy("float32")


def test_free_memory_collects_garbage_and_empties_the_cuda_cache(monkeypatch):
    calls = []
    monkeypatch.setattr(backend.gc, "collect", lambda: calls.append("gc") or 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cuda"))
    backend.clear_session(free_memory=False)
    assert calls == []
    backend.clear_session()
    assert calls == ["gc", "cuda"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    backend.clear_session()
    assert calls == ["gc", "cuda", "gc"]


def test_torch_compile_caches_are_reset_once_something_was_compiled(monkeypatch):
    resets = []

    class Dynamo:
        @staticmethod
        def reset():
            resets.append(True)

    monkeypatch.delitem(backend.sys.modules, "torch._dynamo", raising=False)
    backend.clear_session(free_memory=False)  # nothing compiled: torch._dynamo is not even imported for it
    assert "torch._dynamo" not in backend.sys.modules
    monkeypatch.setitem(backend.sys.modules, "torch._dynamo", Dynamo)
    backend.clear_session(free_memory=False)
    assert resets == [True]
