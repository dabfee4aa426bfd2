"""Where a `fit()` step of a benchmark workload spends its time.

    python benchmarks/profile_fit.py lstm [--steps 10] [--rows 12] [--timer profiler|ops]
                                          [--device cpu|cuda] [--jit-compile] [--precision bfloat16]

The workload is one of the harness's, or ``mnist-fast`` (the speed recipe's
network, SGD with Nesterov momentum, batch 128) or ``mnist-fast-teaching``
(the same in its earlier layer order, from ``fast_order.py``).

Builds the workload's brainnet model with the harness's optimizer settings,
warms up on 5 steps of random inputs, then runs ``--steps`` steps of
``fit()`` (under ``mixed_bfloat16`` with ``--precision bfloat16``) and prints the operators that took the most time of their own,
each as a share of the total.

``--timer profiler`` (the default) uses ``torch.profiler``, which on this
CPU distorts some operators (it tripled the seed CNN's first convolution).
``--timer ops`` instead times every ATen operator call with
``time.perf_counter`` around it (a ``TorchDispatchMode``; on the CPU an
operator has finished when it returns) and groups the calls by operator and
the shape of their first tensor argument, so that, say, the two
convolutions' backward passes are listed apart, in milliseconds per step.
The timing adds a few microseconds of Python to each call: the wall time per
step is printed next to the operators' sum, and the difference is that
overhead plus the Python between operators.

On a GPU (``--device cuda``, with ``--jit-compile`` for the CUDA-graph
step), the profiler's rows are sorted by time on the device, and the line
before them gives the wall time per step and, for the graphed step, how
many steps were replayed, run eagerly or captured, and whether the metrics
were summed inside the graph: what is needed to see why a workload's
graphed step falls short of the hand-written one.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

import numpy as np
import torch
from torch.profiler import profile
from torch.utils._python_dispatch import TorchDispatchMode

from brainnet.benchmarks.workloads import WORKLOADS

FAST = ("mnist-fast", "mnist-fast-teaching")


class FastRecipe:
    """mnist-fast's network and optimizer, shaped like a harness workload."""

    images, batch_size = True, 128

    def __init__(self, name: str) -> None:
        self.name = name

    def build_brainnet(self):
        if self.name == "mnist-fast-teaching":
            from fast_order import teaching_order

            return teaching_order()
        from brainnet.recipes.fast import fast_cnn

        return fast_cnn()

    def brainnet_optimizer(self):
        from brainnet.optimizers import SGD

        return SGD(0.05, momentum=0.9, nesterov=True)


class OperatorTimer(TorchDispatchMode):
    """Seconds spent in each (operator, shape of its first tensor argument)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - start
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        key = f"{func} {tuple(first.shape) if first is not None else ''}"
        self.seconds[key] += elapsed
        self.calls[key] += 1
        return out


def time_operators(model, x, y, batch: int, steps: int, rows: int, name: str) -> None:
    timer = OperatorTimer()
    with timer:
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        wall = time.perf_counter() - start
    total = sum(timer.seconds.values())
    print(f"{name}: {steps} steps of fit(); per step {1e3 * wall / steps:.3f} ms of wall time, "
          f"{1e3 * total / steps:.3f} ms in operators")
    for key, seconds in sorted(timer.seconds.items(), key=lambda kv: -kv[1])[:rows]:
        print(f"  {100 * seconds / total:5.1f} %  {1e3 * seconds / steps:7.3f} ms/step  "
              f"{timer.calls[key] / steps:4.1f} calls/step  {key}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS) + list(FAST))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=12)
    parser.add_argument("--timer", choices=["profiler", "ops"], default="profiler",
                        help="torch.profiler (default), or perf_counter around each operator (CPU)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--jit-compile", action="store_true", help="compile(jit_compile=True)")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="float32 (default), or the mixed_bfloat16 policy")
    args = parser.parse_args()
    workload = FastRecipe(args.workload) if args.workload in FAST else WORKLOADS[args.workload]
    torch.manual_seed(0)
    if args.precision == "bfloat16":
        from brainnet import mixed_precision

        mixed_precision.set_global_policy("mixed_bfloat16")  # read by compile, as the harness sets it
    model = workload.build_brainnet()
    model.compile(optimizer=workload.brainnet_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  device=args.device, jit_compile=True if args.jit_compile else "auto")
    batch = workload.batch_size
    shape = (28, 28, 1) if workload.images else (28, 28)
    rng = np.random.default_rng(0)
    device = model.trainer.device
    # On the device once, and the same tensors for the warm-up and the timed fits: with
    # jit_compile on CUDA the timed fits then replay the graph the warm-up captured.
    x = torch.from_numpy(rng.random((args.steps * batch, *shape), dtype=np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, 10, args.steps * batch)).to(device)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    if args.timer == "ops":
        time_operators(model, x, y, batch, args.steps, args.rows, args.workload)
        return 0
    cuda = model.trainer.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    sync()
    print(f"{args.workload} on {model.trainer.device}: {1e3 * (time.perf_counter() - start) / args.steps:.3f} ms "
          f"per step of fit() (not profiled){graph_facts(model.trainer.graph_step)}")
    with profile() as prof:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        sync()

    def own(e) -> float:  # time of its own on the device (CUDA) or on the CPU
        return getattr(e, "self_device_time_total", getattr(e, "self_cuda_time_total", 0)) if cuda \
            else e.self_cpu_time_total

    events = [e for e in prof.key_averages() if own(e) > 0]
    total = sum(own(e) for e in events)
    where = "device" if cuda else "operator"
    print(f"{args.workload}: {args.steps} steps of fit(), {total / 1e3:.1f} ms of {where} time in all")
    for e in sorted(events, key=lambda e: -own(e))[:args.rows]:
        print(f"  {100 * own(e) / total:5.1f} %  {e.key}")
    return 0


def graph_facts(step) -> str:
    """The CUDA-graph step's counts, or nothing when fit ran without one."""
    if step is None:
        return ""
    return (f"; CUDA graph: {step.replays} replays, {step.eager_steps} eager steps, {step.captures} capture(s), "
            f"metrics summed {'inside' if step.record_in_graph else 'outside'} the graph")


if __name__ == "__main__":
    sys.exit(main())
