"""The LSTM workload's training step, layers only: brainnet's three LSTM layers
against PyTorch's, called as one stack and as three layers.

    python benchmarks/lstm_layers.py [--device cpu|cuda] [--rounds 7] [--calls 50]

On an H100 (2026-11-23) brainnet's CUDA-graphed LSTM step ran 0.13 × the
hand-written CUDA-graphed loop, a gap far larger than the CNN's. The two
differ in their layers: the hand-written loop runs ``nn.LSTM(num_layers=3)``,
one cuDNN call for the whole stack, which can overlap the layers' time
steps; brainnet's ``LSTM`` layers are three calls of the same fused kernel
(``torch.lstm``, one layer each), each with its own weight views. This
times one training step (forward, cross-entropy, backward, PyTorch's fused
Adam) of three networks on the same random batch of the workload's shape
(128 sequences of 28 steps of 28 numbers, three LSTM(64), 10 classes):

* ``brainnet``: the workload's model (``brainnet.recipes.lstm_stack``);
* ``torch, 3 calls``: three ``nn.LSTM(num_layers=1)`` and a linear layer;
* ``torch, 1 call``: ``nn.LSTM(num_layers=3)`` and a linear layer (the
  hand-written loop's network).

``brainnet`` against ``torch, 3 calls`` is what brainnet's layer adds;
``torch, 3 calls`` against ``torch, 1 call`` is what calling the stack at
once saves. On CUDA each step is captured as a CUDA graph (after 3 eager
warm-up steps on a side stream) and replayed ``--calls`` times; on the CPU
the steps run eagerly. Rounds alternate the order; printed: milliseconds
per step (median and range over rounds) and each network's speed-up over
brainnet's, round by round.
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

from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, speedup_text, speedups

BATCH, STEPS, FEATURES, UNITS, CLASSES = 128, 28, 28, 64, 10


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


def networks(device: torch.device) -> dict[str, tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor]]]:
    """Each network and the function from a batch to its logits."""
    from brainnet.benchmarks.twins import LSTMStack
    from brainnet.recipes.sequences import lstm_stack

    model = lstm_stack().to(device)
    three, one = ThreeCalls().to(device), LSTMStack().to(device)
    return {
        "brainnet": (model, lambda x: model(x, pre_activation=True)),
        "torch, 3 calls": (three, three),
        "torch, 1 call": (one, one),
    }


class Step:
    """One training step of a network on a fixed batch; ``time(calls)`` is ms per step."""

    def __init__(self, net: nn.Module, logits: Callable, x: torch.Tensor, y: torch.Tensor) -> None:
        self.logits, self.x, self.y = logits, x, y
        params = [p for p in net.parameters() if p.requires_grad]
        cuda = x.is_cuda
        self.optimizer = torch.optim.Adam(params, lr=1e-3, eps=1e-7, fused=True, **({"capturable": True} if cuda else {}))
        self.graph: torch.cuda.CUDAGraph | None = None
        if cuda:
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
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--rounds", type=positive_int, default=7)
    parser.add_argument("--calls", type=positive_int, default=50, help="steps timed per round and network")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("lstm_layers: expected a CUDA device, got --device cuda on a machine without one. "
              "Fix: --device cpu, or run it on a GPU machine.", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    x = torch.randn(BATCH, STEPS, FEATURES, device=device)
    y = torch.randint(0, CLASSES, (BATCH,), device=device)
    steps = {name: Step(net, logits, x, y) for name, (net, logits) in networks(device).items()}
    for step in steps.values():
        step.time(1)  # one untimed call each
    ms = alternating({name: (lambda s=step: s.time(args.calls)) for name, step in steps.items()}, args.rounds)
    where = "CUDA graph replays" if device.type == "cuda" else "eager steps"
    print(f"LSTM workload's step, layers only: batch {BATCH} x {STEPS} steps x {FEATURES}, 3 x LSTM({UNITS}), "
          f"Adam; {device}, {where}, {args.rounds} rounds of {args.calls} steps")
    for name, values in ms.items():
        line = f"  {name:15s} {statistics.median(values):8.3f} ms per step ({min(values):.3f}-{max(values):.3f})"
        if name != "brainnet":
            line += f"; over brainnet: {speedup_text(speedups(ms['brainnet'], values))}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
