"""What the round-based scripts in benchmarks/ share: a speed-up per round,
summarised as its median and range (this machine's speed drifts, so each
round compares two implementations timed side by side)."""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds per call of ``fn``, over ``calls`` calls in a row."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def alternating(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every measurement once per round, in the given order in even rounds
    and in reverse in odd ones (so that none always goes first); each one's
    results, a list with one entry per round."""
    results: dict[str, list[float]] = {name: [] for name in measures}
    for r in range(rounds):
        for name in list(measures) if r % 2 == 0 else reversed(list(measures)):
            results[name].append(measures[name]())
    return results


def speedups(baseline: Sequence[float], candidate: Sequence[float]) -> dict[str, float]:
    """Per round ``baseline time ÷ candidate time``: median, min and max."""
    ratios = [b / c for b, c in zip(baseline, candidate)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def speedup_text(s: dict[str, float]) -> str:
    """``speed-up 1.84 x (rounds 1.71-1.93)``: the form the scripts print and their tests read."""
    return f"speed-up {s['median']:.2f} x (rounds {s['min']:.2f}-{s['max']:.2f})"
