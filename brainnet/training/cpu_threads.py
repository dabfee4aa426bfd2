"""Fewer CPU threads while other programs take cores, so that ``fit`` keeps
its speed on a busy machine.

PyTorch's CPU kernels split each operation over its threads (one per core
by default) and wait at the end for the last of them. When another program
keeps a core busy, the thread on that core runs only part of the time, and
every operation waits for it: on 2 cores with one other busy process, the
seed CNN trained at 2,318 images/s on 2 threads and 5,057 on 1, and on 2
threads 1.7 × faster following the load than held fixed
(``benchmarks/busy_machine.py``, 2026-12-06; BENCHMARKS.md).

So during ``fit`` on the CPU (and ``evaluate`` and ``predict`` of more than
one batch), twice a second from 0.2 s on, brainnet reads how much
CPU time the machine's other processes used on the cores this process may
run on (Linux's ``/proc/stat``: user, nice, system, interrupt and steal time
of those cores, less this process's own CPU time), in cores:

    others = (Δ busy time of the cores − Δ this process's CPU time) / Δ wall time

and trains on ``threads = min(T, max(1, cores − ⌈others − 0.3⌉))`` threads,
T the thread count ``fit`` started with: an idle machine keeps all T, one
other busy program on 2 cores leaves 1. A change takes two readings in a
row that agree (a moment's load does not flip it), and ``fit`` puts T back
when it ends; a call that starts within 10 s of the last one's end starts
on the count that one ended with.

A different thread count can change the last bits of a result (the kernels
add in another order). So the thread count stays as it is where a run is
meant to repeat bit for bit: after ``brainnet.utils.set_random_seed`` (a run
without it does not repeat anyway: its initial weights are random) and under
``torch.use_deterministic_algorithms(True)``; and with one thread, on
another device, or without Linux's ``/proc/stat``. The environment variable
``BRAINNET_ADAPTIVE_THREADS=0`` keeps it as it is everywhere,
``BRAINNET_ADAPTIVE_THREADS=1`` follows the load after a seed too.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from typing import Iterator

import torch

INTERVAL_S = 0.5  # how often the load is read
REMEMBER_S = 10.0  # a fit starting this soon after another starts on its last thread count
FIRST_S = 0.2  # the first reading, after this long
SLACK = 0.3  # cores others may use without taking a thread away


def target_threads(full: int, cores: int, others: float) -> int:
    """Threads to train on: ``min(full, max(1, cores − ⌈others − SLACK⌉))``."""
    return min(full, max(1, cores - max(0, math.ceil(others - SLACK))))


def _allowed_cpus() -> set[int] | None:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def read_busy_seconds(cpus: set[int], path: str = "/proc/stat") -> float | None:
    """Seconds the given CPUs spent busy since boot (user, nice, system,
    irq, softirq and steal in ``path``'s ``cpuN`` lines), or None if unreadable."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        with open(path) as f:
            lines = f.readlines()
    except OSError:
        return None
    busy, seen = 0, 0
    for line in lines:
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        fields = line.split()
        try:
            cpu = int(fields[0][3:])
        except ValueError:
            continue
        if cpu not in cpus:
            continue
        values = [int(v) for v in fields[1:9]] + [0] * (8 - len(fields[1:9]))
        user, nice, system, _idle, _iowait, irq, softirq, steal = values
        busy += user + nice + system + irq + softirq + steal
        seen += 1
    return busy / tick if seen else None


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


class LoadFollower:
    """The thread count of one ``fit``: ``tick()`` each batch reads the load
    once ``INTERVAL_S`` has passed and sets ``torch.set_num_threads``."""

    def __init__(self, full: int, cpus: set[int], stat_path: str = "/proc/stat") -> None:
        self.full, self.cpus, self.stat_path = full, cpus, stat_path
        self.current = full
        if _LAST and _LAST[1] == full and time.monotonic() - _LAST[0] < REMEMBER_S and _LAST[2] != full:
            self.current = _LAST[2]  # the load of a moment ago: the last fit's count
            torch.set_num_threads(self.current)
        self.changes: list[tuple[float, int, float]] = []  # (time since start, threads, others' cores)
        self._pending: int | None = None
        self._start = time.monotonic()
        self._last: tuple[float, float, float] | None = None  # the first due tick reads the baseline
        self._next = self._start + FIRST_S  # a call shorter than this never reads /proc/stat

    def _reading(self) -> tuple[float, float, float] | None:
        busy = read_busy_seconds(self.cpus, self.stat_path)
        return None if busy is None else (time.monotonic(), busy, _own_cpu_seconds())

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + INTERVAL_S
        reading = self._reading()
        last, self._last = self._last, reading
        if reading is None or last is None or reading[0] <= last[0]:
            return
        others = max(0.0, (reading[1] - last[1]) - (reading[2] - last[2])) / (reading[0] - last[0])
        want = target_threads(self.full, len(self.cpus), others)
        if want == self.current:
            self._pending = None
            return
        if self._pending != want:  # the first reading that asks for it: wait for a second
            self._pending = want
            return
        self._pending = None
        self.current = want
        torch.set_num_threads(want)
        self.changes.append((round(now - self._start, 2), want, round(others, 2)))

    def restore(self) -> None:
        _LAST[:] = [time.monotonic(), self.full, self.current]
        if torch.get_num_threads() != self.full:
            torch.set_num_threads(self.full)


_ACTIVE: list[LoadFollower] = []
SEEDED = False  # brainnet.utils.set_random_seed was called: runs are meant to repeat
_LAST: list = []  # [when the last fit ended, its T, its last thread count]
_CPUS: list = []  # [the CPUs this process may run on, or None]: _cpus()


def checked_setting() -> str:
    """``BRAINNET_ADAPTIVE_THREADS``: "0", "1" or "" (unset).

    Raises:
        ValueError: any other value.
    """
    setting = os.environ.get("BRAINNET_ADAPTIVE_THREADS", "").strip()
    if setting not in ("", "0", "1"):
        raise ValueError(
            f"BRAINNET_ADAPTIVE_THREADS: expected 0 (keep torch's thread count), 1 (follow the machine's load, "
            f"after set_random_seed too) or nothing (follow it unless a seed is set), got {setting!r}. "
            "Fix: export BRAINNET_ADAPTIVE_THREADS=0, or unset BRAINNET_ADAPTIVE_THREADS."
        )
    return setting


def enabled(device: torch.device | None) -> bool:
    """Whether fit follows the load here (see the module's text); None: no.

    Raises:
        ValueError: ``BRAINNET_ADAPTIVE_THREADS`` other than 0, 1 or unset.
    """
    setting = checked_setting()
    if setting == "0" or device is None or device.type != "cpu" or torch.get_num_threads() < 2:
        return False
    if setting != "1" and (SEEDED or torch.are_deterministic_algorithms_enabled()):
        return False
    return bool(_cpus())


def _cpus() -> set[int]:
    """The CPUs this process may run on, if Linux's /proc/stat can tell their load
    (looked up once: a system call each fit would tell the same)."""
    if not _CPUS:
        _CPUS.append(_allowed_cpus() if os.path.exists("/proc/stat") else None)
    return _CPUS[0] or set()


@contextlib.contextmanager
def follow_load(device: torch.device | None, stat_path: str = "/proc/stat") -> Iterator[LoadFollower | None]:
    """Around fit's epochs (and evaluate's and predict's batches): train on
    fewer threads while other programs take cores (``tick`` per batch); the
    thread count is put back at the end."""
    if not enabled(device):
        yield None
        return
    follower = LoadFollower(torch.get_num_threads(), _cpus(), stat_path)
    _ACTIVE.append(follower)
    try:
        yield follower
    finally:
        _ACTIVE.remove(follower)
        follower.restore()


def tick() -> None:
    """Per batch: the innermost ``follow_load``'s reading, if one is due."""
    if _ACTIVE:
        _ACTIVE[-1].tick()
