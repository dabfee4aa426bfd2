"""Data-parallel training under torchrun: two CPU processes train as one does.

``distributed_program.py`` runs once in one process and once under
``torchrun --nproc_per_node 2`` (gloo), same seed, same global batch of 32,
on 996 real MNIST images: 897 for training (so each epoch's last global
batch has a single sample: one process computes it, the other contributes a
zero gradient) and 99 for validation (50 and 49 per process).

Tolerance: the two runs differ only in the order of float32 sums (a global
batch's gradient is added up as two halves, then summed across processes),
so the final weights must agree within 1e-5 in absolute value. Measured on
the 2-core development machine (torch 2.13, CPU): 4.5e-7 with one
convolution; 1.3e-6 since the network has a second one, with several input
channels (a channels-last kernel); for scale, the same single-process run
with 2 threads instead of 1 differed from it by 3.6e-7. The History and
evaluate's results agree within 1e-6 plus 1e-6 relative (measured: 4.9e-7
on the training loss, 1.4e-6 on a validation loss of 4.67, i.e. 3.0e-7
relative; the accuracies are equal). A wrong weighting of just the
one-sample batches, their gradient averaged as two halves, moves the weights
by ~1e-2; so does a zero gradient sent to the optimizer in another memory
layout than its channels-last kernel (0.10 measured), which the second
convolution is there to catch.

``distributed_loader_program.py`` does the same with PyTorch's recipe: each
process reads a DataLoader over a DistributedSampler(shuffle=False), against
arrays in one process at the same global batch, same tolerances (measured:
weights 1.8e-7, History 1.4e-8; gradients summed instead of averaged move
the weights by 0.21; counting the sampler's repeated validation sample moves
val_loss by 5.9e-3).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from brainnet import distributed
from brainnet.layers import Dense
from brainnet.models import Sequential

PROGRAM = Path(__file__).with_name("distributed_program.py")
LOADER_PROGRAM = Path(__file__).with_name("distributed_loader_program.py")
CLIP_PROGRAM = Path(__file__).with_name("distributed_clip_program.py")
REPO = Path(__file__).resolve().parents[2]
LIMIT = "996"
WEIGHTS_TOLERANCE = 1e-5
HISTORY_TOLERANCE = 1e-6  # absolute, and as much again relative


def _env(mnist_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "BRAINNET_DATA_DIR": str(mnist_dir.parent)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(out: Path, logs: Path, mnist_dir: Path, *args: str, program: Path = PROGRAM,
             ) -> subprocess.CompletedProcess:
    """The program under torchrun, 2 processes; each one's output in logs/.../<rank>/."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(_free_port()), "--log-dir", str(logs), "--redirects", "3",
               str(program), str(out), *(("--limit", LIMIT) if program == PROGRAM else ()), *args]
    return subprocess.run(command, env=_env(mnist_dir), cwd=REPO, capture_output=True, text=True, timeout=300)


def rank_output(logs: Path, rank: int, stream: str = "stdout") -> str:
    (path,) = logs.glob(f"*/attempt_0/{rank}/{stream}.log")
    return path.read_text()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distributed")
    single = subprocess.run([sys.executable, str(PROGRAM), str(root / "single"), "--limit", LIMIT],
                            env=_env(mnist_dir), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    two = torchrun(root / "two", root / "logs", mnist_dir)
    assert two.returncode == 0, two.stderr + "".join(
        rank_output(root / "logs", r, "stderr") for r in (0, 1))
    return {"single": root / "single" / "rank0", "two": root / "two", "logs": root / "logs"}


def test_two_processes_end_with_the_weights_and_history_of_one(runs):
    one = load_file(runs["single"] / "weights.safetensors")
    two = load_file(runs["two"] / "rank0" / "weights.safetensors")
    assert list(one) == list(two)
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < WEIGHTS_TOLERANCE, f"max |w_1 − w_2| = {worst}"

    a = json.loads((runs["single"] / "history.json").read_text())
    b = json.loads((runs["two"] / "rank0" / "history.json").read_text())
    assert a["epoch"] == b["epoch"] == [0, 1]
    assert a["params"] == b["params"] == {"epochs": 2, "steps": 29, "verbose": 1, "batch_size": 32,
                                          "validation_freq": 1}
    assert sorted(a["history"]) == sorted(b["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in a["history"]:
        np.testing.assert_allclose(b["history"][key], a["history"][key], rtol=HISTORY_TOLERANCE,
                                   atol=HISTORY_TOLERANCE)
    np.testing.assert_allclose([b["test_loss"], b["test_accuracy"]], [a["test_loss"], a["test_accuracy"]],
                               rtol=HISTORY_TOLERANCE, atol=HISTORY_TOLERANCE)
    assert a["history"]["loss"][1] < a["history"]["loss"][0]  # it learned something


def test_two_processes_weigh_samples_as_one_does(runs):
    # Each process's part of a batch carries its own samples' weights: its loss
    # Σ_own w·L / n_r, weighted by n_r / n, sums to the global Σ w·L / n.
    one = load_file(runs["single"] / "weighted.safetensors")
    two = load_file(runs["two"] / "rank0" / "weighted.safetensors")
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < WEIGHTS_TOLERANCE, f"max |w_1 − w_2| = {worst}"
    a = json.loads((runs["single"] / "history.json").read_text())["weighted_history"]
    b = json.loads((runs["two"] / "rank0" / "history.json").read_text())["weighted_history"]
    assert sorted(a) == sorted(b) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=HISTORY_TOLERANCE, atol=HISTORY_TOLERANCE)


@pytest.mark.parametrize("what", ["weights digest:", "batch-norm statistics digest:"])
def test_every_process_holds_the_same_weights_and_statistics(runs, what):
    # Without the epoch-end average, BatchNormalization's moving statistics would
    # differ: each process computes them from its own half of every batch.
    digests = [line for r in (0, 1) for line in rank_output(runs["logs"], r).splitlines() if line.startswith(what)]
    assert len(digests) == 2 and digests[0] == digests[1]


def test_a_stop_asked_by_one_process_stops_all_after_the_same_batch(runs):
    # Rank 1 alone sets stop_training after batch 2 (0-based); the processes agree
    # on it while batch 3 runs, and both end the fit after 4 batches of epoch 1.
    lines = [[line for line in rank_output(runs["logs"], r).splitlines() if line.startswith("stopped:")]
             for r in (0, 1)]
    assert lines[0] == lines[1] == ["stopped: epochs [0], batches 4"]


def test_only_rank_0_writes_files_and_prints(runs):
    written = sorted(p.relative_to(runs["two"]).as_posix() for p in runs["two"].rglob("*") if p.is_file())
    assert written == [
        "rank0/backup/training_backup.brainnet", "rank0/checkpoint-1.brainnet", "rank0/checkpoint-2.brainnet",
        "rank0/history.json", "rank0/log.csv", "rank0/model.brainnet", "rank0/weighted.safetensors",
        "rank0/weights.safetensors",
    ]
    main, other = rank_output(runs["logs"], 0), rank_output(runs["logs"], 1)
    assert "Epoch 1/2" in main and "Epoch 2/2" in main and "evaluate - loss:" in main
    assert [line.split(":")[0] for line in other.splitlines()] == ["weights digest", "batch-norm statistics digest",
                                                                   "stopped"]
    rows = (runs["two"] / "rank0" / "log.csv").read_text().splitlines()
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(rows) == 3


def test_a_backup_only_some_processes_can_read_is_refused(runs, tmp_path, mnist_dir):
    # Rank 0 finds the backup its earlier run kept (in its own folder); rank 1 finds none.
    shutil.copytree(runs["two"] / "rank0" / "backup", tmp_path / "out" / "rank0" / "backup")
    failed = torchrun(tmp_path / "out", tmp_path / "logs", mnist_dir)
    assert failed.returncode != 0
    message = rank_output(tmp_path / "logs", 0, "stderr")
    assert ("fit: expected every process to start at the same epoch and batch, got rank 0: epoch 3 batch 0, "
            "rank 1: epoch 1 batch 0") in message
    assert "Fix: put backup_dir on a file system every machine shares" in message


# ------------------------------------------------------------------ DataLoaders with a DistributedSampler
@pytest.fixture(scope="module")
def loader_runs(tmp_path_factory, mnist_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distributed_loader")
    arrays = subprocess.run([sys.executable, str(LOADER_PROGRAM), str(root / "arrays"), "--arrays"],
                            env=_env(mnist_dir), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert arrays.returncode == 0, arrays.stderr
    two = torchrun(root / "two", root / "logs", mnist_dir, program=LOADER_PROGRAM)
    assert two.returncode == 0, two.stderr + "".join(rank_output(root / "logs", r, "stderr") for r in (0, 1))
    return {"arrays": root / "arrays", "two": root / "two", "logs": root / "logs"}


def test_two_processes_reading_a_distributed_sampler_train_as_one_process_on_arrays(loader_runs):
    # Each process reads 16 of every 32 samples (the sampler interleaves them):
    # together one global batch of the reference, so the same steps, within
    # float32 summation order. The validation and test sets, padded by the
    # sampler (99 -> 100, 101 -> 102), are counted without the repeated samples.
    one = load_file(loader_runs["arrays"] / "weights.safetensors")
    two = load_file(loader_runs["two"] / "weights.safetensors")
    assert list(one) == list(two)
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < WEIGHTS_TOLERANCE, f"max |w_1 − w_2| = {worst}"
    a = json.loads((loader_runs["arrays"] / "history.json").read_text())
    b = json.loads((loader_runs["two"] / "history.json").read_text())
    assert a["params"] == b["params"] == {"epochs": 2, "steps": 13, "verbose": 0, "batch_size": 32,
                                          "validation_freq": 1}
    assert sorted(a["history"]) == sorted(b["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in a["history"]:
        np.testing.assert_allclose(b["history"][key], a["history"][key], rtol=HISTORY_TOLERANCE,
                                   atol=HISTORY_TOLERANCE)
    assert a["test"].keys() == b["test"].keys()
    np.testing.assert_allclose(list(b["test"].values()), list(a["test"].values()), rtol=HISTORY_TOLERANCE,
                               atol=HISTORY_TOLERANCE)
    assert a["history"]["loss"][1] < a["history"]["loss"][0]  # it learned something


def test_loaders_that_give_the_processes_different_batches_are_refused_everywhere(loader_runs):
    # Rank 1's loader has 300 samples (150 for it: 10 batches), rank 0's 400 (13):
    # both processes refuse before the first step, none waits for the other.
    expected = ("refused: fit: expected every process to read as many batches of the same size per epoch (each "
                "step all-reduces the gradients once), got rank 0: 13 batches of 16 from 200 samples, rank 1: 10 "
                "batches of 16 from 150 samples. Fix: give every process the same dataset and the same "
                "DataLoader(batch_size=...)")
    for r in (0, 1):
        assert expected in rank_output(loader_runs["logs"], r)


def test_gradients_are_clipped_after_the_all_reduce_as_in_one_process(tmp_path, mnist_dir):
    # Keras (and DDP) clip the global batch's gradient: two processes clip the
    # all-reduced gradient, so they end with one process's weights (|w| < 1 here).
    # The unclipped run, only to show how far clipping moved them, is not compared
    # across processes: its weights grow to ~32 and the steps' large gradients
    # amplify the float32 summation order (measured 9e-4 apart).
    single = subprocess.run([sys.executable, str(CLIP_PROGRAM), str(tmp_path / "single")], env=_env(mnist_dir),
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    two = torchrun(tmp_path / "two", tmp_path / "logs", mnist_dir, program=CLIP_PROGRAM)
    assert two.returncode == 0, two.stderr + "".join(rank_output(tmp_path / "logs", r, "stderr") for r in (0, 1))
    weights = {(where, name): load_file(tmp_path / where / "rank0" / f"{name}.safetensors")
               for where in ("single", "two") for name in ("none", "clipnorm", "global_clipnorm")}
    for name in ("clipnorm", "global_clipnorm"):
        one, both = weights["single", name], weights["two", name]
        worst = max(float((one[k] - both[k]).abs().max()) for k in one)
        assert worst < WEIGHTS_TOLERANCE, f"{name}: max |w_1 − w_2| = {worst}"
        moved = max(float((one[k] - weights["single", "none"][k]).abs().max()) for k in one)
        assert moved > 1.0, f"{name} changed the weights by only {moved}"


# ------------------------------------------------------------------ in one process
def _small_model() -> Sequential:
    model = Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", device="cpu")
    return model


def test_helpers_in_a_single_process(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.world_size(), distributed.rank(), distributed.is_main_process()) == (1, 0, True)
    distributed.barrier()  # nothing to wait for
    assert distributed.local_device(torch.device("cuda")) == torch.device("cuda")


def test_local_device_under_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.local_device(torch.device("cuda")) == torch.device("cuda", 3)
    assert distributed.local_device(torch.device("cuda", 0)) == torch.device("cuda", 0)  # chosen by the user
    assert distributed.local_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("total, parts", [(32, 2), (5, 2), (1, 2), (0, 3), (10, 4)])
def test_split_cuts_contiguous_parts_as_even_as_they_go(total, parts):
    pieces = [distributed.split(total, parts, i) for i in range(parts)]
    assert pieces[0][0] == 0 and pieces[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    sizes = [stop - start for start, stop in pieces]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_global_batch_not_divisible_by_the_processes(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    with pytest.raises(ValueError, match=r"fit: batch_size is the global batch, split over 2 processes, so "
                                         r"expected a multiple of 2, got batch_size=33\. Fix: batch_size=32 "
                                         r"or 34 \(16 or 17 per process\)\."):
        _small_model().fit(x, y, batch_size=33, verbose=0)


def test_world_size_set_without_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    with pytest.raises(ValueError, match=r"distributed: WORLD_SIZE=2 asks for several processes, expected "
                                         r"torchrun's variables too, got none for RANK, MASTER_ADDR, MASTER_PORT\. "
                                         r"Fix: start the program with torchrun"):
        _small_model().fit(x, y, batch_size=8, verbose=0)


def test_a_nccl_group_with_a_model_on_the_cpu(monkeypatch):
    # As if the program had called init_process_group("nccl") itself under torchrun.
    monkeypatch.setattr(distributed.dist, "is_initialized", lambda: True)
    monkeypatch.setattr(distributed.dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(distributed.dist, "get_rank", lambda group=None: 0)
    monkeypatch.setattr(distributed.dist, "get_backend", lambda group=None: "nccl")
    x, y = np.zeros((8, 4), "float32"), np.zeros(8, "int64")
    with pytest.raises(ValueError, match=r"fit: the process group uses nccl, which reduces CUDA tensors only, "
                                         r"got a model on cpu\. Fix: model.compile\(\.\.\., device='cuda'\)"):
        _small_model().fit(x, y, batch_size=8, verbose=0)
