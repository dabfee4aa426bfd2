"""model.save / load_model: round trips, safety against crafted files,
atomic writes, and errors that name the file."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Layer,
    MaxPooling2D,
    TimeDistributed,
    TransformerEncoder,
)
from brainnet.models import Model, Sequential, load_model
from brainnet.saving import register_keras_serializable, register_serializable
from brainnet.utils import set_random_seed

REPO = Path(__file__).resolve().parents[2]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def images(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8, 8, 1)).astype("float32"), np.arange(n) % 3


def trained_cnn() -> Sequential:
    set_random_seed(0)
    model = Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)), BatchNormalization(),
        MaxPooling2D((2, 2)), Flatten(), Dropout(0.2), Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=brainnet.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(*images(), epochs=2, batch_size=16, verbose=0)
    return model


# ---------------------------------------------------------------- round trips
def test_sequential_round_trip_predicts_evaluates_and_continues_fit_identically(tmp_path):
    x, y = images()
    model = trained_cnn()
    path = tmp_path / "model.brainnet"
    model.save(path)
    loaded = load_model(path)
    assert type(loaded) is Sequential and [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert same_weights(model, loaded)  # BatchNormalization's moving statistics too
    np.testing.assert_array_equal(model.predict(x), loaded.predict(x))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    # the optimizer state came along: both continue to the same weights, bit for bit
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    set_random_seed(7)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    set_random_seed(7)
    loaded.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert same_weights(model, loaded)


@pytest.mark.parametrize("name, cls", [("adagrad", "Adagrad"), ("adamax", "Adamax"), ("nadam", "Nadam")])
def test_adagrad_adamax_nadam_by_name_save_their_state_and_resume_identically(tmp_path, name, cls):
    x, y = images()
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(5, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer=name, loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "o.brainnet")
    loaded = load_model(tmp_path / "o.brainnet")
    assert type(loaded.optimizer) is getattr(brainnet.optimizers, cls)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6
    saved_state = model.optimizer.torch_optimizer.state_dict()["state"]
    loaded_state = loaded.optimizer.torch_optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys()
    for index, values in saved_state.items():
        assert values.keys() == loaded_state[index].keys()
        for key, value in values.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded_state[index][key])), key
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    assert same_weights(model, loaded)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_without_optimizer_state_the_moments_start_over(tmp_path):
    model = trained_cnn()
    model.save(tmp_path / "m.brainnet", include_optimizer=False)
    assert "optimizer.safetensors" not in zipfile.ZipFile(tmp_path / "m.brainnet").namelist()
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.optimizer.get_config() == model.optimizer.get_config() and not loaded.optimizer.built
    assert load_model(tmp_path / "m.brainnet", compile=False).trainer is None


def test_learning_rate_schedule_and_its_step_count_come_back(tmp_path):
    from brainnet.optimizers.schedules import CosineDecay

    x, y = images()
    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(8, 8, 1)), Dense(3, activation="softmax")])
    model.compile(optimizer=brainnet.optimizers.SGD(CosineDecay(0.1, decay_steps=20), momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "s.brainnet")
    loaded = load_model(tmp_path / "s.brainnet")
    assert isinstance(loaded.optimizer.schedule, CosineDecay)
    assert loaded.optimizer.iterations == 6 and loaded.optimizer.learning_rate == model.optimizer.learning_rate
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    loaded.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    assert same_weights(model, loaded)


def test_same_model_gives_the_same_bytes(tmp_path):
    model = trained_cnn()
    model.save(tmp_path / "a.brainnet")
    model.save(tmp_path / "b.brainnet")
    assert (tmp_path / "a.brainnet").read_bytes() == (tmp_path / "b.brainnet").read_bytes()


def test_functional_graph_with_shared_layer_and_two_outputs(tmp_path):
    set_random_seed(0)
    a, b = Input(shape=(4,), name="a"), Input(shape=(3,), name="b")
    shared = Dense(4, activation="relu", name="shared")
    joined = Concatenate()([shared(a), b])
    cls = Dense(2, activation="softmax", name="cls")(joined)
    reg = Dense(1, name="reg")(shared(a))
    model = Model(inputs=[a, b], outputs=[cls, reg])
    model.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"]})
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(32, 4)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")
    ys = {"cls": np.arange(32) % 2, "reg": xa.sum(1, keepdims=True)}
    model.fit([xa, xb], ys, epochs=1, verbose=0)
    model.save(tmp_path / "f.brainnet")
    loaded = load_model(tmp_path / "f.brainnet")
    assert type(loaded).__name__ == "Functional" and loaded.output_names == ["cls", "reg"]
    assert len(loaded.layers) == len(model.layers)  # the shared layer is still one layer
    for got, want in zip(loaded.predict([xa, xb]), model.predict([xa, xb])):
        np.testing.assert_array_equal(got, want)
    assert loaded.evaluate([xa, xb], ys, verbose=0, return_dict=True) == model.evaluate([xa, xb], ys, verbose=0, return_dict=True)


def test_sequence_layers_round_trip(tmp_path):
    set_random_seed(0)
    tokens = Input(shape=(6,), dtype="int64")
    h = Embedding(20, 8, mask_zero=True)(tokens)
    h = Bidirectional(LSTM(4, return_sequences=True))(h)
    h = TimeDistributed(Dense(8))(h)
    h = TransformerEncoder(intermediate_dim=16, num_heads=2)(h)
    h = GRU(5)(h)
    model = Model(tokens, Dense(2, activation="softmax")(h))
    x = np.random.default_rng(0).integers(0, 20, size=(4, 6))
    model.save(tmp_path / "seq.brainnet")  # never compiled: architecture and weights only
    loaded = load_model(tmp_path / "seq.brainnet")
    assert loaded.trainer is None
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_lazily_built_sequential_is_rebuilt_from_its_input_shape(tmp_path):
    model = Sequential([Dense(3), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x = np.ones((4, 5), "float32")
    model.fit(x, np.zeros((4, 2)), verbose=0)
    model.save(tmp_path / "lazy.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "lazy.brainnet").predict(x), model.predict(x))


@register_serializable(package="tests")
class Scale(Layer):
    """y = x · w (one learned weight per feature)."""

    def __init__(self, start: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.start = start

    def build(self, input_shape):
        self.w = self.add_weight("w", torch.full((input_shape[-1],), self.start))

    def call(self, inputs):
        return inputs * self.w

    def get_config(self):
        return {**super().get_config(), "start": self.start}


@register_keras_serializable(package="tests")
class Classifier(Model):
    def __init__(self, units: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.scale = Scale(2.0)
        self.hidden = Dense(units, activation="relu")
        self.out = Dense(2, activation="softmax")

    def call(self, inputs):
        return self.out(self.hidden(self.scale(inputs)))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@register_serializable(package="tests")
def double_error(y_true, y_pred):
    return 2 * (y_true.reshape(y_pred.shape) - y_pred).square().mean(-1)


def test_registered_subclassed_layer_model_and_loss(tmp_path):
    set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    model = Classifier(units=5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.arange(16) % 2, verbose=0)
    model.save(tmp_path / "sub.brainnet")
    config = json.loads(zipfile.ZipFile(tmp_path / "sub.brainnet").read("config.json"))
    assert config["class_name"] == "tests>Classifier"
    loaded = load_model(tmp_path / "sub.brainnet")
    assert type(loaded) is Classifier and loaded.units == 5
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

    inputs = Input(shape=(3,))
    functional = Model(inputs, Dense(1)(Scale(0.5)(inputs)))
    functional.compile(optimizer="sgd", loss=double_error)
    functional.save(tmp_path / "fn.brainnet")
    again = load_model(tmp_path / "fn.brainnet")
    assert again.trainer.loss.fn is double_error
    np.testing.assert_array_equal(again.predict(x), functional.predict(x))


@register_serializable
def squash(x):
    return x / (1 + x.abs())


def test_registered_activation_and_decorator_errors(tmp_path):
    model = Sequential([Dense(3, activation=squash, input_shape=(2,))])
    model.save(tmp_path / "act.brainnet")
    config = json.loads(zipfile.ZipFile(tmp_path / "act.brainnet").read("config.json"))
    assert config["config"]["layers"][0]["config"]["activation"] == "Custom>squash"
    assert load_model(tmp_path / "act.brainnet").layers[0].activation is squash
    with pytest.raises(ValueError, match=r"register_serializable: expected package to be a string without '>', got 'a>b'"):
        register_serializable("a>b")
    with pytest.raises(TypeError, match=r"register_serializable: expected a class or a function, got int"):
        register_serializable()(3)


def test_unregistered_class_loads_through_custom_objects_or_fails_with_the_fix(tmp_path):
    class Shift(Layer):
        def call(self, inputs):
            return inputs + 1.0

    model = Sequential([Dense(2, input_shape=(3,)), Shift()])
    model.save(tmp_path / "u.brainnet")
    with pytest.raises(ValueError, match=r"u\.brainnet.*unknown layer class or function 'Shift'.*Fix: decorate the class with @brainnet\.saving\.register_serializable\(\) and import it before loading"):
        load_model(tmp_path / "u.brainnet")
    loaded = load_model(tmp_path / "u.brainnet", custom_objects={"Shift": Shift})
    assert isinstance(loaded.layers[1], Shift)


def test_unregistered_class_with_a_brainnet_name_is_refused_at_save(tmp_path):
    class Dense(Layer):  # noqa: F811 - the clash is the point
        def call(self, inputs):
            return inputs

    with pytest.raises(ValueError, match=r"same name as brainnet's own Dense.*Fix: decorate it"):
        Sequential([Dense(input_shape=(2,))]).save(tmp_path / "x.brainnet")


# ---------------------------------------------------------------- crafted files
def write_archive(path: Path, entries: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def entries_of(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


class Marker:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "good.brainnet"
    Sequential([Dense(2, input_shape=(3,))]).save(path)
    return path


@pytest.mark.parametrize("class_name", ["os.system", "subprocess.Popen", "builtins.exec", "posix.system"])
def test_config_naming_a_python_callable_is_refused_and_nothing_runs(tmp_path, saved, class_name):
    marker = tmp_path / "pwned"
    entries = entries_of(saved)
    config = json.loads(entries["config.json"])
    config["config"]["layers"][0] = {
        "class_name": class_name, "module": class_name.split(".")[0],
        "config": {"command": f"touch {marker}", "args": ["touch", str(marker)]},
    }
    entries["config.json"] = json.dumps(config).encode()
    write_archive(tmp_path / "evil.brainnet", entries)
    with pytest.raises(ValueError, match=rf"evil\.brainnet.*unknown layer class or function '{class_name}'.*never import"):
        load_model(tmp_path / "evil.brainnet")
    # the same name at the top, and as an activation, a loss and an optimizer
    config = json.loads(entries_of(saved)["config.json"])
    for place in ("top", "activation", "loss", "optimizer"):
        bad = json.loads(json.dumps(config))
        if place == "top":
            bad["class_name"] = class_name
        elif place == "activation":
            bad["config"]["layers"][0]["config"]["activation"] = class_name
        else:
            bad["compile_config"] = {
                "optimizer": {"class_name": class_name, "config": {"command": "id"}} if place == "optimizer"
                else {"class_name": "SGD", "config": {}},
                "loss": {"output": {"function": class_name} if place == "loss"
                         else {"class_name": "MeanSquaredError", "config": {}}},
                "loss_weights": {}, "metrics": {},
            }
        entries = {**entries_of(saved), "config.json": json.dumps(bad).encode()}
        write_archive(tmp_path / "evil2.brainnet", entries)
        with pytest.raises(ValueError, match=rf"evil2\.brainnet.*(Unknown activation|unknown \w+ class or function) '{class_name}'"):
            load_model(tmp_path / "evil2.brainnet")
    assert not marker.exists()


def test_planted_pickle_is_never_unpickled(tmp_path, saved):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(Marker(marker))
    good = entries_of(saved)

    write_archive(tmp_path / "extra.brainnet", {**good, "data.pkl": payload})
    with pytest.raises(ValueError, match=r"extra\.brainnet holds unexpected entries \['data\.pkl'\].*not read"):
        load_model(tmp_path / "extra.brainnet")

    write_archive(tmp_path / "weights.brainnet", {**good, "model.weights.safetensors": payload})
    with pytest.raises(ValueError, match=r"weights\.brainnet is corrupted: model\.weights\.safetensors is not a valid safetensors block"):
        load_model(tmp_path / "weights.brainnet")

    write_archive(tmp_path / "optim.brainnet", {**good, "optimizer.json": b"{}", "optimizer.safetensors": payload})
    model = Sequential([Dense(2, input_shape=(3,))])
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "compiled.brainnet")
    write_archive(tmp_path / "optim.brainnet", {**entries_of(tmp_path / "compiled.brainnet"),
                                               "optimizer.json": b"{}", "optimizer.safetensors": payload})
    with pytest.raises(ValueError, match=r"optim\.brainnet is corrupted: optimizer\.safetensors"):
        load_model(tmp_path / "optim.brainnet")

    (tmp_path / "plain.pkl").write_bytes(payload)
    with pytest.raises(ValueError, match=r"plain\.pkl is not a brainnet file: it is a Python pickle, which brainnet never loads"):
        load_model(tmp_path / "plain.pkl")

    torch.save({"model": Marker(marker)}, tmp_path / "torch.pt")  # a zip holding data.pkl
    with pytest.raises(ValueError, match=r"torch\.pt.*unexpected entries"):
        load_model(tmp_path / "torch.pt")
    assert not marker.exists()


# ---------------------------------------------------------------- damaged files
def test_truncated_file(tmp_path, saved):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 5):
        (tmp_path / "cut.brainnet").write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"cut\.brainnet is (truncated or corrupted|not a brainnet file: it is empty or truncated)"):
            load_model(tmp_path / "cut.brainnet")


def test_corrupted_byte_fails_the_checksum(tmp_path, saved):
    data = bytearray(saved.read_bytes())
    info = zipfile.ZipFile(saved).getinfo("model.weights.safetensors")
    at = info.header_offset + 30 + len(info.filename) + info.file_size - 3  # inside the tensor bytes
    data[at] ^= 0xFF
    (tmp_path / "bad.brainnet").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"bad\.brainnet is truncated or corrupted \(entry 'model\.weights\.safetensors' fails its CRC-32 check\)"):
        load_model(tmp_path / "bad.brainnet")


def test_newer_format_version(tmp_path, saved):
    entries = entries_of(saved)
    meta = json.loads(entries["metadata.json"])
    meta["format_version"] = 99
    write_archive(tmp_path / "new.brainnet", {**entries, "metadata.json": json.dumps(meta).encode()})
    with pytest.raises(ValueError, match=r"new\.brainnet has format version 99.*reads version 1\. Fix: pip install --upgrade brainnet"):
        load_model(tmp_path / "new.brainnet")


def test_other_files_get_errors_that_say_what_they_are(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match=r"load_model: expected a file, got nothing at .*missing\.brainnet"):
        load_model(tmp_path / "missing.brainnet")
    model = Sequential([Dense(2, input_shape=(3,))])
    model.save_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match=r"w\.safetensors is not a brainnet file: it looks like a weights file.*model\.load_weights\(path\)"):
        load_model(tmp_path / "w.safetensors")
    model.load_weights(saved)  # an archive's weights are read, as Keras 3 reads a .keras file
    assert torch.equal(model.layers[0].kernel, load_model(saved).layers[0].kernel)
    write_archive(tmp_path / "other.zip", {"readme.txt": b"hi"})
    with pytest.raises(ValueError, match=r"other\.zip holds unexpected entries"):
        load_model(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "deflated.brainnet", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries_of(saved).items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"deflated\.brainnet was altered: brainnet stores its entries uncompressed"):
        load_model(tmp_path / "deflated.brainnet")


def test_weights_that_do_not_fit_name_the_file(tmp_path, saved):
    entries = entries_of(saved)
    config = json.loads(entries["config.json"])
    config["config"]["layers"][0]["config"]["units"] = 5
    write_archive(tmp_path / "misfit.brainnet", {**entries, "config.json": json.dumps(config).encode()})
    with pytest.raises(ValueError, match=r"misfit\.brainnet: expected weights for this model's layers, got a file that does not fit"):
        load_model(tmp_path / "misfit.brainnet")


# ---------------------------------------------------------------- atomic writes
@pytest.mark.parametrize("fail_at", ["writestr", "fsync"])
def test_full_disk_keeps_the_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "model.brainnet"
    trained_cnn().save(path)
    before = path.read_bytes()
    bigger = Sequential([Dense(64, input_shape=(32,)), Dense(2)])
    calls = []

    def no_space(*args, **kwargs):
        calls.append(1)
        if fail_at == "fsync" or len(calls) == 2:  # the second entry: mid-way through the file
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    if fail_at == "writestr":
        real = zipfile.ZipFile.writestr
        monkeypatch.setattr(zipfile.ZipFile, "writestr", no_space)
    else:
        real = os.fsync
        monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match=r"model\.save: could not write .*model\.brainnet \(No space left on device\); the previous file, if any, is unchanged\. Fix: free some disk space") as info:
        bigger.save(path)
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.brainnet"]
    assert load_model(path).count_params() == trained_cnn().count_params()


def run_python(code: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"child ended early: {process.communicate()}")
        assert time.monotonic() < deadline, "child never got there"
        time.sleep(0.02)


def test_save_killed_mid_write_leaves_the_previous_file_loadable(tmp_path):
    path, halfway = tmp_path / "model.brainnet", tmp_path / "halfway"
    child = run_python(f"""
        import time, zipfile
        import torch
        from brainnet.layers import Dense
        from brainnet.models import Sequential
        model = Sequential([Dense(256, input_shape=(256,)), Dense(4)])
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(1.0)
        model.save({str(path)!r})                   # the previous file: all ones
        real = zipfile.ZipFile.writestr
        def slow(self, *args, **kwargs):
            real(self, *args, **kwargs)
            open({str(halfway)!r}, "w").close()    # part of the new file is written...
            time.sleep(60)                          # ...and the process is killed here
        zipfile.ZipFile.writestr = slow
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(2.0)
        model.save({str(path)!r})
    """)
    try:
        wait_for(halfway, child)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    assert child.returncode == -signal.SIGKILL
    assert any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # the save was under way
    loaded = load_model(path)
    assert all(torch.equal(w, torch.ones_like(w)) for w in loaded.state_dict().values())


def test_saves_killed_at_a_random_moment_always_leave_a_whole_file(tmp_path):
    path, started = tmp_path / "model.brainnet", tmp_path / "started"
    child = run_python(f"""
        import torch
        from brainnet.layers import Dense
        from brainnet.models import Sequential
        model = Sequential([Dense(512, input_shape=(512,)), Dense(4)])
        version = 0
        while True:
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(float(version))
            model.save({str(path)!r})
            if version == 0:
                open({str(started)!r}, "w").close()
            version += 1
    """)
    try:
        wait_for(started, child)
        time.sleep(0.7)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    weights = list(load_model(path).state_dict().values())
    version = float(weights[0].flatten()[0])
    assert all(torch.equal(w, torch.full_like(w, version)) for w in weights)  # one whole version
