"""ModelCheckpoint's filepath rule, as Keras 3: a weights checkpoint ends in
``.weights.h5`` and a whole model's in ``.keras`` (brainnet also takes its own
``.safetensors`` and ``.brainnet``), checked when the callback is made, before
any training. The files are brainnet's formats whatever their names, read back
by load_model and load_weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from brainnet.callbacks import ModelCheckpoint
from brainnet.layers import Dense
from brainnet.models import Sequential, load_model
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed


def data(n: int = 32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, n)
    return (rng.normal(size=(n, 3)) + y[:, None]).astype("float32"), y


def model() -> Sequential:
    set_random_seed(0)
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(2, activation="softmax")])
    m.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def test_a_keras_model_checkpoint_saves_and_loads(tmp_path: Path):
    x, y = data()
    m = model()
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "ckpt-{epoch:02d}.keras")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-01.keras", "ckpt-02.keras"]
    np.testing.assert_array_equal(load_model(tmp_path / "ckpt-02.keras").predict(x, verbose=0),
                                  m.predict(x, verbose=0))


def test_a_keras_weights_checkpoint_holds_safetensors_that_load_weights_reads(tmp_path: Path):
    x, y = data()
    m = model()
    path = tmp_path / "best.weights.h5"
    m.fit(x, y, epochs=2, verbose=0, callbacks=[ModelCheckpoint(str(path), monitor="loss", save_best_only=True,
                                                                save_weights_only=True)])
    with safe_open(str(path), framework="pt") as f:  # brainnet's weights format under Keras's name
        assert len(list(f.keys())) == 4
    other = model()
    assert not all(np.array_equal(a, b) for a, b in zip(other.get_weights(), m.get_weights()))
    other.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), m.get_weights()))


@pytest.mark.parametrize("name, weights_only", [
    ("m.brainnet", False), ("m-{epoch}.keras", False), ("w.weights.safetensors", True), ("w.safetensors", True),
    ("w-{epoch:02d}-{val_loss:.2f}.weights.h5", True),
])
def test_names_that_say_what_they_hold_are_taken(name: str, weights_only: bool):
    assert ModelCheckpoint(name, save_weights_only=weights_only).filepath == name


def test_weights_only_needs_a_weights_name():
    with pytest.raises(ValueError, match=r"ModelCheckpoint: expected a filepath ending in \.weights\.h5 \(Keras's "
                                         r"name\) or \.safetensors with save_weights_only=True \(the file holds the "
                                         r"weights alone, as safetensors\), got 'best\.keras'\. Fix: "
                                         r"filepath='best\.weights\.h5', or save_weights_only=False to save whole "
                                         r"models\."):
        ModelCheckpoint("best.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"got 'ckpt-\{epoch:02d\}-\{val_loss:\.2f\}'\. Fix: "
                                         r"filepath='ckpt-\{epoch:02d\}-\{val_loss:\.2f\}\.weights\.h5'"):
        ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.2f}", save_weights_only=True)


def test_a_whole_model_needs_a_model_name():
    with pytest.raises(ValueError, match=r"ModelCheckpoint: expected a filepath ending in \.keras \(Keras's name\) "
                                         r"or \.brainnet for whole models \(model\.save\), got 'best\.weights\.h5', "
                                         r"a weights file's name\. Fix: filepath='best\.keras', or "
                                         r"save_weights_only=True to save the weights alone\."):
        ModelCheckpoint("best.weights.h5")
    with pytest.raises(ValueError, match=r"got 'model\.h5', an HDF5 name \(brainnet writes no HDF5\)\. Fix: "
                                         r"filepath='model\.keras'\.$"):
        ModelCheckpoint("model.h5", monitor="val_accuracy", save_best_only=True)
    with pytest.raises(ValueError, match=r"got 'runs/ckpt', another ending\. Fix: filepath='runs/ckpt\.keras'\.$"):
        ModelCheckpoint(Path("runs/ckpt"))


def test_the_name_is_checked_before_training(tmp_path: Path):
    x, y = data()
    m = model()
    before = m.get_weights()
    with pytest.raises(ValueError, match="save_weights_only=True"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(tmp_path / "w.pt", save_weights_only=True)])
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights())) and not any(tmp_path.iterdir())
