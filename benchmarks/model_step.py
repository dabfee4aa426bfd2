"""A benchmark workload's training step with the model alone: brainnet's
network against its hand-written PyTorch twin, no ``fit`` around either.

    python benchmarks/model_step.py lstm [--device cpu|cuda] [--rounds 7] [--calls 50]

On an H100 (2026-11-23) brainnet's CUDA-graphed ``fit`` step ran 0.71 × the
hand-written CUDA-graphed loop on the CNN at batch 64 but 0.13 × on the LSTM
and 0.31 × on the Transformer. A step is the network plus what ``fit`` does
around it (the batch, the metrics, the bookkeeping); this takes ``fit``
away. It times one training step (forward, cross-entropy on the logits,
backward, PyTorch's fused optimizer update with the workload's settings,
its kernel called as ``fit`` calls it, by ``brainnet._direct_update``, for
every network alike: brainnet's recurrent matrices lie in torch's memory
order, strided in Keras's shapes, and ``torch.optim``'s own step would run
PyTorch's slower path for strided weights on them) on one random batch of
the workload's shape, for:

* ``brainnet``: the workload's brainnet model (its logits);
* ``handwritten``: the hand-written loop's twin network
  (``Workload.twin("handwritten")``: for the LSTM ``nn.LSTM(num_layers=3)``,
  one cuDNN call for the whole stack, which can overlap the layers' time
  steps; for the Transformer one Q/K/V product and
  ``scaled_dot_product_attention``), with brainnet's weights;
* for the LSTM also ``torch, 3 calls``: three ``nn.LSTM(num_layers=1)``
  calls and a linear layer, as brainnet's three ``LSTM`` layers call the
  fused kernel once each. ``brainnet`` against it is what brainnet's layer
  adds; it against ``handwritten`` is what calling the stack at once saves.

On CUDA (with cuDNN autotuning, as ``fit`` and the hand-written loops) each
step is captured as a CUDA graph (after 3 eager warm-up steps on a side
stream) and replayed ``--calls`` times; on the CPU the steps run
eagerly. Rounds alternate the order; printed: milliseconds per step (median
and range over rounds) and each network's speed-up over brainnet's, round by
round (above 1: faster than brainnet).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from brainnet import _direct_update as direct_update
from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, speedup_text, speedups
from brainnet.benchmarks.workloads import WORKLOADS, Workload

STEPS, FEATURES, UNITS, CLASSES = 28, 28, 64, 10  # rows of MNIST; the LSTM's units


class ThreeCalls(nn.Module):
    """Three one-layer ``nn.LSTM`` calls, then a linear layer on the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.LSTM(FEATURES if k == 0 else UNITS, UNITS, batch_first=True) for k in range(3))
        self.dense = nn.Linear(UNITS, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x, _ = layer(x)
        return self.dense(x[:, -1])


def networks(workload: Workload, device: torch.device) -> dict[str, tuple[nn.Module, Callable]]:
    """Each network and the function from a batch (brainnet's layout) to its logits."""
    from brainnet.benchmarks.twins import copy_from_brainnet

    model = workload.build_brainnet().to(device)
    twin = copy_from_brainnet(model, workload.twin("handwritten")).to(device)
    if workload.images:  # the twin takes (N, 1, 28, 28) views of channels-last memory
        twin_logits = lambda x: twin(x.permute(0, 3, 1, 2))  # noqa: E731
    else:
        twin_logits = twin
    nets = {"brainnet": (model, lambda x: model(x, pre_activation=True)), "handwritten": (twin, twin_logits)}
    if workload.network == "lstm":
        three = ThreeCalls().to(device)
        nets["torch, 3 calls"] = (three, three)
    return nets


class Step:
    """One training step of a network on a fixed batch; ``time(calls)`` is ms per step."""

    def __init__(self, workload: Workload, net: nn.Module, logits: Callable, x: torch.Tensor, y: torch.Tensor) -> None:
        self.logits, self.x, self.y = logits, x, y
        self.optimizer = workload.torch_optimizer(net.parameters(), fused=True)
        if x.is_cuda and workload.optimizer == "adam":
            for group in self.optimizer.param_groups:
                group["capturable"] = True  # its step counter stays on the device, as a graph needs
        self.graph: torch.cuda.CUDAGraph | None = None
        if x.is_cuda:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    self.step()
            torch.cuda.current_stream().wait_stream(side)
            self.optimizer.zero_grad(set_to_none=True)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.step()

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(self.logits(self.x), self.y).backward()
        if not direct_update.step(self.optimizer):  # the CUDA graph's capturable update: torch.optim's step
            self.optimizer.step()

    def time(self, calls: int) -> float:
        if self.graph is not None:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(calls):
            self.graph.replay() if self.graph is not None else self.step()
        if self.graph is not None:
            torch.cuda.synchronize()
        return 1000 * (time.perf_counter() - start) / calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", nargs="?", default="lstm", choices=sorted(WORKLOADS))
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--rounds", type=positive_int, default=7)
    parser.add_argument("--calls", type=positive_int, default=50, help="steps timed per round and network")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("model_step: expected a CUDA device, got --device cuda on a machine without one. "
              "Fix: --device cpu, or run it on a GPU machine.", file=sys.stderr)
        return 2
    workload = WORKLOADS[args.workload]
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as in fit and the hand-written loops: the fastest kernels
    torch.manual_seed(0)
    n = workload.batch_size
    shape = (n, STEPS, FEATURES, 1) if workload.images else (n, STEPS, FEATURES)
    x = torch.randn(shape, device=device)
    y = torch.randint(0, CLASSES, (n,), device=device)
    steps = {name: Step(workload, net, logits, x, y) for name, (net, logits) in networks(workload, device).items()}
    for step in steps.values():
        step.time(5)  # untimed: first calls pay for kernels and memory made on first use
    ms = alternating({name: (lambda s=step: s.time(args.calls)) for name, step in steps.items()}, args.rounds)
    where = "CUDA graph replays" if device.type == "cuda" else "eager steps"
    print(f"{workload.name}: {workload.description}; the model's step alone ({workload.optimizer}), "
          f"{device}, {where}, {args.rounds} rounds of {args.calls} steps")
    for name, values in ms.items():
        line = f"  {name:15s} {statistics.median(values):8.3f} ms per step ({min(values):.3f}-{max(values):.3f})"
        if name != "brainnet":
            line += f"; over brainnet: {speedup_text(speedups(ms['brainnet'], values))}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
