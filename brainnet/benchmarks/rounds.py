"""What the round-based scripts in benchmarks/ share: a speed-up per round,
summarised as its median and range (this machine's speed drifts, so each
round compares two implementations timed side by side)."""

from __future__ import annotations

import statistics
from typing import Sequence


def speedups(baseline: Sequence[float], candidate: Sequence[float]) -> dict[str, float]:
    """Per round ``baseline time ÷ candidate time``: median, min and max."""
    ratios = [b / c for b, c in zip(baseline, candidate)]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def speedup_text(s: dict[str, float]) -> str:
    """``speed-up 1.84 x (rounds 1.71-1.93)``: the form the scripts print and their tests read."""
    return f"speed-up {s['median']:.2f} x (rounds {s['min']:.2f}-{s['max']:.2f})"
