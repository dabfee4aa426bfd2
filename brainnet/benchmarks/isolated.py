"""Measurements that need a process of their own: the first epoch, the time
to a target accuracy, and peak memory.

A process's peak resident set (``ru_maxrss``) is the most memory it ever
held, and its first epoch pays one-time costs (thread pools, kernel
selection, lazy imports) that a second contestant in the same process would
find paid. So each figure here comes from a new child process, started from
nothing, and its peak resident set is read by ``os.wait4`` when it ends
(on CUDA the child also reports ``torch.cuda.max_memory_allocated``).

* ``fresh_run``: one contestant of one workload, in a new process: the
  set-up (compile, data to the device, optimizer) and one epoch over the
  training set, timed together; with ``time_to_accuracy``, more epochs, the
  test set evaluated after each, until the workload's target or the cap;
  then one throughput pass and a test evaluation; then the peak memory.
* ``recipe_peak`` (``brainnet bench --memory``): the goal "peak resident
  memory of ``brainnet run mnist-cnn`` within 1.2 x the hand-written
  loop's". It runs ``python -m brainnet.cli run mnist-cnn --epochs 1`` (the
  ``brainnet`` command) and the hand-written loop doing the same training:
  MNIST loaded by ``brainnet.datasets.mnist.load_data`` and normalised the
  same way, the last 10 % held out, one epoch at batch 64, evaluation of the
  held-out part and of the test set. ``brainnet run`` also writes its model,
  plot and report: that is part of what the goal measures.

Run as a program, this module is the child: ``python -m
brainnet.benchmarks.isolated contestant --workload cnn64 --contestant
handwritten --steps 20`` or ``... hand-epoch``; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

VALIDATION_SPLIT = 0.1  # what `brainnet run` holds out


def run_child(command: list[str], threads: int | None = None) -> tuple[int, float, str]:
    """Runs ``command`` to its end.

    Returns:
        Its exit status, its peak resident set in MiB (``ru_maxrss``) and
        its output (stdout and stderr together).
    """
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        log.seek(0)
        output = log.read().decode("utf-8", errors="replace")
    return process.returncode, usage.ru_maxrss / 1024, output


def _child_failed(what: str, status: int, output: str) -> RuntimeError:
    tail = "\n".join(output.strip().splitlines()[-15:])
    return RuntimeError(f"{what} exited with status {status}; its last lines:\n{tail}")


def _last_json(output: str) -> dict[str, Any]:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])


def _common(settings: Any) -> list[str]:
    args = ["--device", settings.device, "--precision", settings.precision, "--seed", str(settings.seed)]
    if settings.limit is not None:
        args += ["--limit", str(settings.limit)]
    if settings.threads:
        args += ["--threads", str(settings.threads)]
    return args


def fresh_run(workload: str, contestant: str, settings: Any, steps: int) -> dict[str, Any]:
    """One contestant of ``workload`` in a new child process (see the module docstring).

    Returns:
        ``setup_s`` and ``first_epoch_s`` (set-up included), ``time_to_accuracy``
        (None unless ``settings.time_to_accuracy``), ``max_rss_mib`` and
        ``cuda_max_allocated_mib`` (None off CUDA).

    Raises:
        RuntimeError: the child failed (its last lines in the message).
    """
    command = [sys.executable, "-m", "brainnet.benchmarks.isolated", "contestant", "--workload", workload,
               "--contestant", contestant, "--steps", str(steps), *_common(settings)]
    if settings.jit_compile:
        command.append("--jit-compile")
    if settings.time_to_accuracy:
        command += ["--time-to-accuracy", "--max-epochs", str(settings.max_epochs)]
    status, rss, output = run_child(command, settings.threads)
    if status:
        raise _child_failed(f"the child process for {workload}/{contestant}", status, output)
    report = _last_json(output)
    report.pop("self_max_rss_mib")
    return {**report, "max_rss_mib": rss}


def recipe_peak(settings: Any, runs: int = 1) -> dict[str, Any]:
    """``brainnet run mnist-cnn --epochs 1`` against the hand-written epoch,
    ``runs`` times each, alternating.

    Returns:
        Each side's command and peak RSS values (MiB) and medians, and the
        ratio of the medians (brainnet over hand-written).

    Raises:
        RuntimeError: a child failed (its last lines in the message).
    """
    sides: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="brainnet-bench-") as out:
        limit = [] if settings.limit is None else ["--limit", str(settings.limit)]
        commands = {
            "brainnet run": [sys.executable, "-m", "brainnet.cli", "run", "mnist-cnn", "--epochs", "1",
                             "--out", out, "--device", settings.device, "--seed", str(settings.seed), *limit],
            "handwritten": [sys.executable, "-m", "brainnet.benchmarks.isolated", "hand-epoch", *_common(settings)],
        }
        for _ in range(runs):
            for side, command in commands.items():
                status, rss, output = run_child(command, settings.threads)
                if status:
                    raise _child_failed(f"`{' '.join(command[2:])}`", status, output)
                entry = sides.setdefault(side, {"command": " ".join(["python", *command[1:]]), "max_rss_mib": []})
                entry["max_rss_mib"].append(rss)
    for entry in sides.values():
        entry["median_mib"] = statistics.median(entry["max_rss_mib"])
    ratio = sides["brainnet run"]["median_mib"] / sides["handwritten"]["median_mib"]
    return {"runs": runs, "sides": sides, "ratio_brainnet_over_handwritten": ratio, "goal": 1.2}


def format_recipe_peak(result: dict[str, Any]) -> str:
    lines = ["peak resident memory, one MNIST epoch at batch 64 (each in its own process):"]
    for side, entry in result["sides"].items():
        values = ", ".join(f"{v:,.0f}" for v in entry["max_rss_mib"])
        lines.append(f"  {side:14s} median {entry['median_mib']:,.0f} MiB (runs: {values})   {entry['command']}")
    lines.append(f"  ratio brainnet run / handwritten: {result['ratio_brainnet_over_handwritten']:.3f} "
                 f"(goal: at most {result['goal']})")
    return "\n".join(lines)


# ------------------------------------------------------------- the children
def _device_report(device: torch.device) -> dict[str, Any]:
    cuda = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"self_max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cuda_max_allocated_mib": cuda}


def _timed(device: torch.device, fn: Any) -> tuple[float, Any]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, result


def _contestant_child(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    import brainnet

    from .harness import Settings, make_contestant
    from .workloads import WORKLOADS, load_data

    workload = WORKLOADS[args.workload]
    settings = Settings(device=args.device, precision=args.precision, jit_compile=args.jit_compile, seed=args.seed)
    data = load_data(workload, args.limit)
    brainnet.utils.set_random_seed(args.seed)
    model = workload.build_brainnet()
    setup_s, contestant = _timed(device, lambda: make_contestant(args.contestant, workload, data, device, settings,
                                                                  model))
    epoch_s, _ = _timed(device, lambda: contestant.train(None))
    report: dict[str, Any] = {"setup_s": setup_s, "first_epoch_s": setup_s + epoch_s, "time_to_accuracy": None}
    if args.time_to_accuracy:
        seconds, epochs = setup_s + epoch_s, 1
        while True:
            spent, accuracy = _timed(device, contestant.test_accuracy)
            seconds += spent
            if accuracy >= workload.target_accuracy or epochs >= args.max_epochs:
                break
            spent, _ = _timed(device, lambda: contestant.train(None))
            seconds, epochs = seconds + spent, epochs + 1
        report["time_to_accuracy"] = {"target": workload.target_accuracy, "reached": accuracy >= workload.target_accuracy,
                                      "seconds": seconds, "epochs": epochs, "accuracy": accuracy}
    contestant.train(args.steps * workload.batch_size)
    contestant.test_accuracy()
    return {**report, **_device_report(device)}


def _hand_epoch_child(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    from .contestants import Handwritten
    from .twins import ChannelsLastCNN
    from .workloads import WORKLOADS, Data, load_data

    workload = WORKLOADS["cnn64"]
    data = load_data(workload, args.limit)  # brainnet.datasets.mnist.load_data, normalised as the recipe
    n_val = int(len(data.y_train) * VALIDATION_SPLIT)  # the last 10 %, as fit(validation_split=0.1)
    train = Data(data.x_train[:-n_val], data.y_train[:-n_val], data.x_test, data.y_test)
    torch.manual_seed(args.seed)
    loop = Handwritten(workload, train, device, args.precision, ChannelsLastCNN())
    loop.train(None)
    val_accuracy = loop.evaluate(data.x_train[-n_val:], data.y_train[-n_val:])
    return {**_device_report(device), "val_accuracy": val_accuracy, "test_accuracy": loop.test_accuracy()}


def main(argv: list[str] | None = None) -> int:
    """The child process: measures one thing, prints one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m brainnet.benchmarks.isolated")
    parser.add_argument("what", choices=("contestant", "hand-epoch"))
    parser.add_argument("--workload", default="cnn64")
    parser.add_argument("--contestant", default="handwritten")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--time-to-accuracy", action="store_true")
    parser.add_argument("--max-epochs", type=int, default=15)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from brainnet.training.trainer import resolve_device

    device = resolve_device(args.device)
    child = _contestant_child if args.what == "contestant" else _hand_epoch_child
    print(json.dumps(child(args, device)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
