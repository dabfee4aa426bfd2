"""brainnet/training/cpu_threads.py: fit trains on fewer threads while other
programs take cores, keeps the thread count where runs are meant to repeat,
and puts it back when it ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers
from brainnet.callbacks import LambdaCallback
from brainnet.training import cpu_threads


@pytest.fixture
def unseeded(monkeypatch):
    """A process in which set_random_seed was not called, with 2 threads or more and no memory of a last fit."""
    monkeypatch.setattr(cpu_threads, "SEEDED", False)
    monkeypatch.delenv("BRAINNET_ADAPTIVE_THREADS", raising=False)
    monkeypatch.setattr(cpu_threads, "_LAST", [])
    before = torch.get_num_threads()
    if before < 2:
        torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("full,cores,others,want", [
    (2, 2, 0.0, 2), (2, 2, 0.29, 2), (2, 2, 0.31, 1), (2, 2, 1.0, 1), (2, 2, 2.0, 1),
    (8, 8, 1.0, 7), (8, 8, 2.5, 5), (4, 8, 1.0, 4), (4, 8, 5.0, 3), (4, 8, 7.5, 1), (1, 4, 0.0, 1),
])
def test_target_threads_leaves_the_cores_others_use(full, cores, others, want):
    assert cpu_threads.target_threads(full, cores, others) == want


def _stat(path, cpus: dict[int, tuple[int, ...]]) -> None:
    """A /proc/stat with the given per-CPU counters (user nice system idle iowait irq softirq steal)."""
    total = [sum(v[i] for v in cpus.values()) for i in range(8)]
    lines = ["cpu  " + " ".join(map(str, total)) + " 0 0"]
    lines += [f"cpu{n} " + " ".join(map(str, v)) + " 0 0" for n, v in sorted(cpus.items())]
    path.write_text("\n".join(lines + ["intr 1 2 3", "ctxt 5"]) + "\n")


def test_busy_seconds_add_the_busy_fields_of_the_allowed_cpus(tmp_path):
    stat = tmp_path / "stat"
    tick = os.sysconf("SC_CLK_TCK")
    _stat(stat, {0: (100, 1, 20, 500, 7, 2, 3, 4), 1: (50, 0, 10, 900, 0, 0, 0, 6), 2: (999, 0, 0, 0, 0, 0, 0, 0)})
    assert cpu_threads.read_busy_seconds({0, 1}, str(stat)) == pytest.approx((130 + 66) / tick)
    assert cpu_threads.read_busy_seconds({5}, str(stat)) is None
    assert cpu_threads.read_busy_seconds({0}, str(tmp_path / "missing")) is None


def test_the_follower_drops_a_thread_after_two_busy_readings_and_gives_it_back(tmp_path, monkeypatch, unseeded):
    """Simulated readings: in each half second the two CPUs are busy for 1 s of
    CPU time, this process for 0.5 s of it: others use one core, so 2 threads
    become 1 (after two readings that agree); idle again, they become 2;
    restore puts the count back."""
    tick = os.sysconf("SC_CLK_TCK")
    clock = {"t": 100.0, "busy": 0, "own": 0.0}
    stat = tmp_path / "stat"

    def write() -> None:
        _stat(stat, {0: (clock["busy"], 0, 0, 0, 0, 0, 0, 0), 1: (0, 0, 0, 0, 0, 0, 0, 0)})

    def advance(busy_cpu_s: float, own_s: float) -> None:
        clock["t"] += cpu_threads.INTERVAL_S
        clock["busy"] += round(busy_cpu_s * tick)
        clock["own"] += own_s
        write()

    write()
    monkeypatch.setattr(cpu_threads.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(cpu_threads, "_own_cpu_seconds", lambda: clock["own"])
    torch.set_num_threads(2)
    follower = cpu_threads.LoadFollower(2, {0, 1}, str(stat))
    half = cpu_threads.INTERVAL_S
    follower.tick()  # too soon: nothing read
    assert follower._last is None
    advance(busy_cpu_s=half, own_s=half)
    follower.tick()  # the baseline
    assert follower._last is not None and torch.get_num_threads() == 2
    advance(busy_cpu_s=2 * half, own_s=half)  # others: 1 core
    follower.tick()
    assert torch.get_num_threads() == 2  # one reading is not enough
    advance(busy_cpu_s=2 * half, own_s=half)
    follower.tick()
    assert torch.get_num_threads() == 1 and follower.current == 1
    assert follower.changes[-1][1:] == (1, 1.0)
    advance(busy_cpu_s=half, own_s=half)  # others: none
    follower.tick()
    advance(busy_cpu_s=half, own_s=half)
    follower.tick()
    assert torch.get_num_threads() == 2
    advance(busy_cpu_s=2 * half, own_s=half)
    follower.tick()
    advance(busy_cpu_s=2 * half, own_s=half)
    follower.tick()
    assert torch.get_num_threads() == 1
    follower.restore()
    assert torch.get_num_threads() == 2


def test_the_thread_count_stays_where_a_run_should_repeat(monkeypatch, unseeded):
    cpu = torch.device("cpu")
    assert cpu_threads.enabled(cpu) == os.path.exists("/proc/stat")
    assert not cpu_threads.enabled(torch.device("cuda"))
    monkeypatch.setattr(cpu_threads, "SEEDED", True)
    assert not cpu_threads.enabled(cpu)  # after set_random_seed
    monkeypatch.setenv("BRAINNET_ADAPTIVE_THREADS", "1")
    assert cpu_threads.enabled(cpu) == os.path.exists("/proc/stat")  # asked for after a seed too
    monkeypatch.setenv("BRAINNET_ADAPTIVE_THREADS", "0")
    monkeypatch.setattr(cpu_threads, "SEEDED", False)
    assert not cpu_threads.enabled(cpu)
    monkeypatch.delenv("BRAINNET_ADAPTIVE_THREADS")
    monkeypatch.setattr(torch, "are_deterministic_algorithms_enabled", lambda: True)
    assert not cpu_threads.enabled(cpu)
    torch.set_num_threads(1)
    monkeypatch.setenv("BRAINNET_ADAPTIVE_THREADS", "1")
    assert not cpu_threads.enabled(cpu)  # one thread: nothing to take away


def test_set_random_seed_marks_the_process_seeded(monkeypatch):
    monkeypatch.setattr(cpu_threads, "SEEDED", False)
    brainnet.utils.set_random_seed(3)
    assert cpu_threads.SEEDED is True


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc/stat")
def test_fit_on_a_busy_machine_trains_on_fewer_threads_and_puts_them_back(unseeded):
    """A real second process spinning on one core: fit's thread count drops
    within a few seconds (where this machine's cores and torch's threads let
    it: target_threads), and is back to where it was when fit ends."""
    full = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0))
    expected = cpu_threads.target_threads(full, cores, 1.0)
    if expected == full:
        pytest.skip(f"{cores} CPUs for {full} threads: one busy core leaves them all")
    x = np.random.default_rng(0).random((2048, 64), dtype=np.float32)
    y = (x.sum(1) > 32).astype("float32")
    model = brainnet.Sequential([layers.Input((64,)), layers.Dense(256, activation="relu"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    seen: list[int] = []
    start = time.monotonic()

    def on_batch_end(batch, logs):
        seen.append(torch.get_num_threads())
        if seen[-1] < full or time.monotonic() - start > 20:
            model.stop_training = True

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        model.fit(x, y, batch_size=64, epochs=10_000, verbose=0,
                  callbacks=[LambdaCallback(on_train_batch_end=on_batch_end)])
    finally:
        spinner.kill()
        spinner.wait()
    assert min(seen) <= expected < full, (seen[-5:], time.monotonic() - start)
    assert torch.get_num_threads() == full


class _CustomStep(brainnet.Sequential):
    def train_step(self, data):
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        return {"loss": float(loss.detach())}


@pytest.fixture
def recorded(monkeypatch):
    """The ticks and the devices given to follow_load (None: not followed), as calls make them."""
    ticks, followed = [], []
    real_follow = cpu_threads.follow_load

    def follow(device, *args):
        followed.append(None if device is None else device.type)
        return real_follow(device, *args)

    monkeypatch.setattr(cpu_threads, "tick", lambda: ticks.append(1))
    monkeypatch.setattr(cpu_threads, "follow_load", follow)
    return ticks, followed


@pytest.mark.parametrize("path", ["arrays", "data_loader", "custom_train_step"])
def test_every_fit_loop_reads_the_load_each_batch_and_puts_the_threads_back(path, recorded, unseeded):
    """The three loops of fit (arrays, a batch source, a train_step of the
    user's) each follow the load around their epochs and tick once per batch."""
    ticks, followed = recorded
    x = np.random.default_rng(0).random((96, 4), dtype=np.float32)
    y = (x.sum(1) > 2).astype("float32")
    cls = _CustomStep if path == "custom_train_step" else brainnet.Sequential
    model = cls([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", device="cpu")
    full = torch.get_num_threads()
    if path == "data_loader":
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                             batch_size=32)
        model.fit(loader, epochs=2, verbose=0)
    else:
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert followed == ["cpu"] and len(ticks) == 6  # 3 batches, 2 epochs
    assert torch.get_num_threads() == full


@pytest.mark.parametrize("call", ["evaluate", "predict", "evaluate_loader", "predict_loader", "one_batch"])
def test_evaluate_and_predict_follow_the_load_over_several_batches(call, recorded, unseeded):
    """evaluate and predict of several batches (arrays or a batch source) tick
    once per batch; a call of one batch (predict_on_batch's size) does not follow."""
    ticks, followed = recorded
    x = np.random.default_rng(0).random((96, 4), dtype=np.float32)
    y = (x.sum(1) > 2).astype("float32")
    model = brainnet.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", device="cpu")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=32)
    if call == "evaluate":
        model.evaluate(x, y, batch_size=32, verbose=0)
    elif call == "predict":
        model.predict(x, batch_size=32, verbose=0)
    elif call == "evaluate_loader":
        model.evaluate(loader, verbose=0)
    elif call == "predict_loader":
        model.predict(loader, verbose=0)
    else:
        model.predict_on_batch(x)
    if call == "one_batch":
        assert followed == [None]
    else:
        assert followed == ["cpu"] and len(ticks) == 3


@pytest.mark.parametrize("value", ["off", "false", "2"])
def test_a_mistyped_setting_is_refused_with_the_fix(value, monkeypatch, unseeded):
    """BRAINNET_ADAPTIVE_THREADS=off would otherwise leave the load followed
    while its user thinks it is off."""
    monkeypatch.setenv("BRAINNET_ADAPTIVE_THREADS", value)
    x = np.zeros((64, 4), dtype=np.float32)
    model = brainnet.Sequential([layers.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    with pytest.raises(ValueError) as err:
        model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)
    assert str(err.value) == (
        f"BRAINNET_ADAPTIVE_THREADS: expected 0 (keep torch's thread count), 1 (follow the machine's load, "
        f"after set_random_seed too) or nothing (follow it unless a seed is set), got {value!r}. "
        "Fix: export BRAINNET_ADAPTIVE_THREADS=0, or unset BRAINNET_ADAPTIVE_THREADS.")
    monkeypatch.setenv("BRAINNET_ADAPTIVE_THREADS", " 0 ")
    model.fit(x, x[:, :1], batch_size=32, epochs=1, verbose=0)  # spaces around a valid value are taken
