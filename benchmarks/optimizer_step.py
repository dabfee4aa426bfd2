"""PyTorch's fused optimizer update against its default one, on the CPU.

    python benchmarks/optimizer_step.py [--rounds 9] [--calls 50]

For each benchmark workload's brainnet network (``brainnet.benchmarks.
workloads``) and its optimizer (SGD(0.01, momentum 0.9) for the CNN, Adam
(0.001, ε = 1e-7) for the LSTM and the Transformer), two copies of the
weights get the same random gradients; one is updated by the optimizer as
PyTorch builds it by default (on the CPU: a loop over the weights), the other
with ``fused=True`` (one kernel for all the weights), as brainnet's
``Optimizer.build`` now asks for. Every round times ``--calls`` steps of each,
alternating which goes first; it prints the median time per step of each and
the per-round speed-up (default time ÷ fused time): median and range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, speedup_text, speedups
from brainnet.benchmarks.workloads import WORKLOADS

NETWORKS = ("cnn64", "lstm", "transformer")


def per_step(optimizer: torch.optim.Optimizer, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        optimizer.step()
    return (time.perf_counter() - start) / calls


def compare(name: str, rounds: int, calls: int) -> dict:
    workload = WORKLOADS[name]
    torch.manual_seed(0)
    model = workload.build_brainnet()
    shapes = [p.shape for p in model.parameters() if p.requires_grad]
    optimizers = {}
    for label, fused in (("default", None), ("fused", True)):
        params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
        for p in params:
            p.grad = torch.randn_like(p)
        optimizers[label] = workload.torch_optimizer(params, fused=fused)
    for optimizer in optimizers.values():
        per_step(optimizer, 2)  # warm-up: the state is created at the first step
    times = alternating({label: lambda o=o: per_step(o, calls) for label, o in optimizers.items()}, rounds)
    return {"optimizer": type(optimizers["fused"]).__name__, "weights": len(shapes),
            "default_us": 1e6 * statistics.median(times["default"]), "fused_us": 1e6 * statistics.median(times["fused"]),
            "speedup": speedups(times["default"], times["fused"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=9)
    parser.add_argument("--calls", type=positive_int, default=50)
    args = parser.parse_args(argv)
    print(f"optimizer step on the CPU, {torch.get_num_threads()} threads, {args.rounds} rounds of {args.calls} steps")
    for name in NETWORKS:
        r = compare(name, args.rounds, args.calls)
        print(f"  {name} ({r['optimizer']}, {r['weights']} weight tensors): default {r['default_us']:,.0f} us, "
              f"fused {r['fused_us']:,.0f} us per step; {speedup_text(r['speedup'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
