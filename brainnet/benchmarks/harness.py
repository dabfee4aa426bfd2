"""The measurements of ``brainnet bench``: per workload, the contestants side
by side in one process, then each alone in a new process; the report and the
JSON file.

For each workload, in this order:

1. The brainnet model is built from the seed and its weights are copied into
   the PyTorch twins (``twins.copy_from_brainnet``), so every contestant
   starts from the same weights.
2. Throughput, in this process: each contestant is set up, then one
   untimed round and ``--repeats`` timed rounds follow; in each round every
   contestant trains one pass over the first ``steps × batch`` training
   samples. Rounds alternate the order (A B C, C B A, ...), so drift in the
   machine's speed hits all contestants alike. Reported: samples per second,
   median and range.
3. In a new process per contestant (``isolated.fresh_run``; skipped with
   ``--in-process-only``): the first epoch over the whole training set with
   the set-up (compile, data to the device) and every one-time cost,
   optionally the time to the workload's target test accuracy
   (``--time-to-accuracy``), and the process's peak memory.

Ratios are brainnet's median throughput over each other contestant's
(above 1: brainnet is faster) and brainnet's peak memory over theirs (below
1: brainnet holds less).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .contestants import CONTESTANTS, BrainnetFit, Contestant
from .workloads import WORKLOADS, Data, Workload, load_data


@dataclass
class Settings:
    """What one ``brainnet bench`` run measures (the command's options)."""

    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    contestants: list[str] = field(default_factory=lambda: ["brainnet", "dataloader", "handwritten"])
    repeats: int = 5
    steps: int | None = None  # None: each workload's own
    device: str = "cpu"
    threads: int | None = None
    limit: int | None = None
    precision: str = "float32"
    jit_compile: bool = False
    time_to_accuracy: bool = False
    max_epochs: int = 15
    fresh_processes: bool = True
    seed: int = 0


def steps_for(workload: Workload, settings: Settings, train_samples: int) -> int:
    """Training steps per repetition, checked against the training set's size.

    Raises:
        ValueError: ``steps × batch`` is more than the training samples.
    """
    steps = settings.steps or workload.steps
    needed = steps * workload.batch_size
    if needed > train_samples:
        raise ValueError(
            f"bench: workload {workload.name} trains {steps} steps x batch {workload.batch_size} = {needed} "
            f"samples per repetition, but the training set has {train_samples} (--limit {settings.limit}). "
            f"Fix: --steps {max(1, train_samples // workload.batch_size)} or a larger --limit."
        )
    return steps


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn()`` takes, the device waited for at both ends, and its result."""
    _sync(device)
    start = time.perf_counter()
    result = fn()
    _sync(device)
    return time.perf_counter() - start, result


def make_contestant(name: str, workload: Workload, data: Data, device: torch.device, settings: Settings,
                    model: Any) -> Contestant:
    """Contestant ``name`` for ``workload``, starting from the weights of the
    built brainnet ``model`` (which the "brainnet" contestant trains itself)."""
    from .twins import copy_from_brainnet

    if name == "brainnet":
        return BrainnetFit(workload, data, device, settings.precision, model, jit_compile=settings.jit_compile)
    style = "idiomatic" if name == "dataloader" else "handwritten"
    net = copy_from_brainnet(model, workload.twin(style))
    return CONTESTANTS[name](workload, data, device, settings.precision, net)


def _summary(values: list[float]) -> dict[str, Any]:
    return {"samples_per_s": values, "median": statistics.median(values), "min": min(values), "max": max(values)}


def measure_workload(workload: Workload, settings: Settings, device: torch.device) -> dict[str, Any]:
    """Every measurement of one workload (see the module docstring).

    Returns:
        The workload's part of the JSON report.

    Raises:
        ValueError: ``--steps`` asks for more samples than the training set has.
        RuntimeError: a child process failed.
    """
    import brainnet

    data = load_data(workload, settings.limit)
    steps = steps_for(workload, settings, len(data.y_train))
    samples = steps * workload.batch_size
    brainnet.utils.set_random_seed(settings.seed)
    weights = workload.build_brainnet().state_dict()
    results: dict[str, dict[str, Any]] = {}
    live: dict[str, Contestant] = {}
    for name in settings.contestants:  # 1. the same initial weights for all
        model = workload.build_brainnet()
        model.load_state_dict(weights)
        try:
            live[name] = make_contestant(name, workload, data, device, settings, model)
        except Exception as err:  # a contestant that cannot run here is reported; the others go on
            results[name] = {"error": f"{type(err).__name__}: {err}"}
            continue
        results[name] = {"parameters": live[name].parameters()}
    rates: dict[str, list[float]] = {name: [] for name in live}
    for round_ in range(settings.repeats + 1):  # 2. round 0 warms up
        order = list(live) if round_ % 2 == 0 else list(reversed(live))
        for name in order:
            try:
                seconds, _ = _timed(device, lambda: live[name].train(samples))
            except Exception as err:  # e.g. a CUDA graph that cannot be captured: reported, the others go on
                results[name]["error"] = f"{type(err).__name__}: {err}"
                del live[name], rates[name]
                continue
            if round_:
                rates[name].append(samples / seconds)
    for name, values in rates.items():
        results[name].update(_summary(values))
    live.clear()  # free this process's copies before the children run
    if settings.fresh_processes:
        from . import isolated

        for name in rates:  # 3. each alone in a new process
            try:
                results[name]["fresh_process"] = isolated.fresh_run(workload.name, name, settings, steps)
            except RuntimeError as err:
                results[name]["error"] = str(err)
    return {
        "description": workload.description, "batch_size": workload.batch_size, "steps_per_repeat": steps,
        "samples_per_repeat": samples, "repeats": settings.repeats, "train_samples": len(data.y_train),
        "test_samples": len(data.y_test), "target_accuracy": workload.target_accuracy,
        "contestants": results, "ratios": ratios(results),
    }


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """brainnet's median throughput over each other contestant's, the same
    ratio round by round (both ran in the same round, so the drift between
    rounds cancels), and brainnet's peak RSS over theirs."""
    out: dict[str, dict[str, Any]] = {"throughput": {}, "throughput_per_round": {}, "peak_rss": {}}
    mine = results.get("brainnet", {})
    for name, other in results.items():
        if name == "brainnet":
            continue
        if "median" in mine and "median" in other:
            out["throughput"][f"brainnet/{name}"] = mine["median"] / other["median"]
            out["throughput_per_round"][f"brainnet/{name}"] = [
                a / b for a, b in zip(mine["samples_per_s"], other["samples_per_s"])]
        if "fresh_process" in mine and "fresh_process" in other:
            out["peak_rss"][f"brainnet/{name}"] = (mine["fresh_process"]["max_rss_mib"]
                                                   / other["fresh_process"]["max_rss_mib"])
    return out


def environment(device: torch.device) -> dict[str, Any]:
    """The machine, the versions and the load: what a reader needs to compare runs."""
    import brainnet

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    machine = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "system": platform.platform(), "device": str(device)}
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    versions = {"brainnet": brainnet.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version(), **_checkout(Path(brainnet.__file__).parent)}
    return {"machine": machine, "versions": versions}


def _checkout(folder: Path) -> dict[str, Any]:
    """The git commit brainnet runs from and whether files differ from it (nothing outside a checkout)."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        changed = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    if head.returncode:
        return {}
    return {"git_commit": head.stdout.strip(), "git_modified_files": len(changed.stdout.splitlines())}


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def run(settings: Settings, argv: list[str]) -> dict[str, Any]:
    """Measures every workload of ``settings``; returns the JSON report."""
    from brainnet.training.trainer import resolve_device

    device = resolve_device(settings.device)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    if device.type == "cuda":
        torch.zeros(1, device=device)  # the CUDA context, before any timing
    report: dict[str, Any] = {
        "benchmark": "brainnet bench", "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "command": " ".join(["brainnet bench", *argv]), **environment(device), "settings": asdict(settings),
        "load_average": {"start": load_average()}, "workloads": {},
    }
    for name in settings.workloads:
        report["workloads"][name] = measure_workload(WORKLOADS[name], settings, device)
        report["workloads"][name]["load_average_after"] = load_average()
        print(format_workload(name, report["workloads"][name]), flush=True)
    report["load_average"]["end"] = load_average()
    return report


def _cell(value: float | None, fmt: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{fmt}}{unit}"


def format_workload(name: str, result: dict[str, Any]) -> str:
    """The workload's table: one line per contestant, then the ratios."""
    lines = [f"{name}: {result['description']} ({result['samples_per_repeat']:,} samples per repetition, "
             f"{result['repeats']} repetitions, {result['train_samples']:,} training samples)",
             f"  {'contestant':20s} {'samples/s median (min-max)':>30s} {'first epoch':>12s} "
             f"{'to ' + format(result['target_accuracy'], '.0%'):>18s} {'peak RSS':>10s} {'CUDA peak':>10s}"]
    for contestant, r in result["contestants"].items():
        if "error" in r and "median" not in r:
            lines.append(f"  {contestant:20s} failed: {r['error']}")
            continue
        rate = f"{r['median']:,.0f} ({r['min']:,.0f}-{r['max']:,.0f})" if "median" in r else "-"
        fresh = r.get("fresh_process") or {}
        tta = fresh.get("time_to_accuracy")
        to_acc = "-" if tta is None else (
            f"{tta['seconds']:.1f} s ({tta['epochs']} ep)" if tta["reached"]
            else f"not in {tta['epochs']} ep ({tta['accuracy']:.3f})")
        lines.append(f"  {contestant:20s} {rate:>30s} {_cell(fresh.get('first_epoch_s'), '.2f', ' s'):>12s} "
                     f"{to_acc:>18s} {_cell(fresh.get('max_rss_mib'), ',.0f', ' MiB'):>10s} "
                     f"{_cell(fresh.get('cuda_max_allocated_mib'), ',.0f', ' MiB'):>10s}")
        if "error" in r:
            lines.append(f"  {'':20s} its new process failed: {r['error']}")
    per_round = result["ratios"].get("throughput_per_round", {})
    throughput = "   ".join(
        f"{k} {v:.3f}" + (f" (rounds {min(per_round[k]):.2f}-{max(per_round[k]):.2f})" if per_round.get(k) else "")
        for k, v in result["ratios"]["throughput"].items())
    lines.append(f"  throughput ratios: {throughput or '-'}")
    if result["ratios"]["peak_rss"]:
        lines.append("  peak RSS ratios: " + "   ".join(f"{k} {v:.3f}" for k, v in result["ratios"]["peak_rss"].items()))
    return "\n".join(lines)


def write_json(report: dict[str, Any], path: str) -> None:
    """Writes ``report`` to ``path`` (atomically)."""
    from brainnet._atomic import atomic_write

    text = json.dumps(report, indent=2) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def failed(report: dict[str, Any]) -> bool:
    """Whether any contestant of any workload failed."""
    return any("error" in r for w in report.get("workloads", {}).values() for r in w["contestants"].values())
