"""brainnet's CPU dropout against PyTorch's, on the seed Transformer's shapes.

    python benchmarks/dropout_mask.py [--rounds 9] [--calls 20]

For each shape, every round times ``--calls`` forward calls of
``torch.nn.functional.dropout(x, 0.1, training=True)`` (``bernoulli_``) and
of brainnet's ``dropout(x, 0.1)`` (the mask cut from 16-bit uniforms,
``brainnet/layers/_dropout.py``), alternating which goes first; it prints the
median time per call of each and the per-round speed-up (PyTorch's time ÷
brainnet's): median and range. The shapes are the Transformer workload's at
batch 128: the attention weights (128, 4, 28, 28) and a block's output
(128, 28, 64). Like ``fit()``, it first asks glibc to keep freed memory
(``brainnet/_malloc.py``), for both contestants: without that, every call
also page-faults its fresh 1.6 MB tensors, which is not what a training
step sees.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from brainnet._malloc import keep_freed_memory
from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, speedup_text, speedups
from brainnet.layers._dropout import dropout

SHAPES = {"attention weights": (128, 4, 28, 28), "block output": (128, 28, 64)}
RATE = 0.1


def per_call(fn, x: torch.Tensor, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn(x)
    return (time.perf_counter() - start) / calls


def compare(shape: tuple[int, ...], rounds: int, calls: int) -> dict:
    x = torch.randn(shape)
    contestants = {"torch": lambda t: F.dropout(t, RATE, training=True), "brainnet": lambda t: dropout(t, RATE)}
    for fn in contestants.values():
        per_call(fn, x, 2)  # warm-up
    times = alternating({name: lambda fn=fn: per_call(fn, x, calls) for name, fn in contestants.items()}, rounds)
    return {"torch_us": 1e6 * statistics.median(times["torch"]),
            "brainnet_us": 1e6 * statistics.median(times["brainnet"]),
            "speedup": speedups(times["torch"], times["brainnet"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=9)
    parser.add_argument("--calls", type=positive_int, default=20)
    args = parser.parse_args(argv)
    keep_freed_memory()
    print(f"dropout {RATE} on the CPU, {torch.get_num_threads()} threads, {args.rounds} rounds of {args.calls} calls")
    for label, shape in SHAPES.items():
        r = compare(shape, args.rounds, args.calls)
        print(f"  {label} {shape}: torch {r['torch_us']:,.0f} us, brainnet {r['brainnet_us']:,.0f} us per call; "
              f"{speedup_text(r['speedup'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
