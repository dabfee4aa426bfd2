"""Where a `fit()` step of a benchmark workload spends its time.

    python benchmarks/profile_fit.py lstm [--steps 10] [--rows 12]

Builds the workload's brainnet model with the harness's optimizer settings,
warms up on 5 steps of random inputs, then runs ``--steps`` steps of
``fit()`` under ``torch.profiler`` and prints the operators that took the
most time of their own, each as a share of the total.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from torch.profiler import profile

from brainnet.benchmarks.workloads import WORKLOADS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    workload = WORKLOADS[args.workload]
    torch.manual_seed(0)
    model = workload.build_brainnet()
    model.compile(optimizer=workload.brainnet_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    batch = workload.batch_size
    shape = (28, 28, 1) if workload.images else (28, 28)
    rng = np.random.default_rng(0)
    x = rng.random((args.steps * batch, *shape), dtype=np.float32)
    y = rng.integers(0, 10, args.steps * batch)
    model.fit(x[:5 * batch], y[:5 * batch], batch_size=batch, epochs=1, verbose=0)
    with profile() as prof:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    print(f"{args.workload}: {args.steps} steps of fit(), {total / 1e3:.1f} ms of operator time in all")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:args.rows]:
        print(f"  {100 * e.self_cpu_time_total / total:5.1f} %  {e.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
