"""The recurrent layers' matrices in torch's memory order against Keras's row order.

    python benchmarks/rnn_weight_layout.py [--batches 2 32 128] [--rounds 9] [--calls 30]

brainnet's ``SimpleRNN``, ``LSTM`` and ``GRU`` keep Keras's shapes (``kernel``
``(in, gates·units)``) but store the two matrices in memory as their
transposes (``_rnn_cells.build_weights``), so that ``kernel.t()``, the
``(gates·units, in)`` matrix PyTorch's fused kernel takes, is contiguous.
This times one training step (forward, cross-entropy on the logits,
backward, fused Adam) of the benchmark's LSTM stack (3 × LSTM(64) + Dense
on row-wise MNIST shapes, random data) with its matrices as built, against
a copy of the same model whose matrices are laid out in Keras's row order
(``contiguous()``), as they were before: then oneDNN's LSTM copies each
matrix into its own order at every call and autograd copies each gradient
back into the weight's layout.

Printed per batch size: milliseconds per step (median and range over
rounds, which alternate the order) and the speed-up of torch's order over
Keras's, round by round (above 1: torch's order is faster).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import torch

from brainnet.benchmarks.command import positive_int
from brainnet.benchmarks.rounds import alternating, speedup_text, speedups
from brainnet.benchmarks.workloads import WORKLOADS

from model_step import CLASSES, FEATURES, STEPS, Step


def keras_row_order(model) -> int:
    """Lay every recurrent matrix out in Keras's row order; how many were moved."""
    moved = 0
    for layer in model.layers:
        for name in ("kernel", "recurrent_kernel"):
            weight = getattr(layer, name, None)
            if weight is not None and weight.dim() == 2 and not weight.is_contiguous():
                weight.data = weight.data.contiguous()
                moved += 1
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=positive_int, nargs="+", default=[2, 32, 128])
    parser.add_argument("--rounds", type=positive_int, default=9)
    parser.add_argument("--calls", type=positive_int, default=30, help="steps timed per round and layout")
    args = parser.parse_args(argv)
    workload = WORKLOADS["lstm"]
    torch.manual_seed(0)
    torch_order = workload.build_brainnet()
    keras_order = workload.build_brainnet()
    keras_order.set_weights(torch_order.get_weights())
    moved = keras_row_order(keras_order)
    print(f"lstm: 3 x LSTM(64) + Dense on row-wise MNIST shapes; one training step ({workload.optimizer}), cpu, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds of {args.calls} steps; "
          f"{moved} matrices moved to Keras's row order in the baseline")
    for batch in args.batches:
        x = torch.randn(batch, STEPS, FEATURES)
        y = torch.randint(0, CLASSES, (batch,))
        steps = {
            "Keras's row order": Step(workload, keras_order, lambda t: keras_order(t, pre_activation=True), x, y),
            "torch's order": Step(workload, torch_order, lambda t: torch_order(t, pre_activation=True), x, y),
        }
        for step in steps.values():
            step.time(5)  # untimed: memory and kernels made on first use
        ms = alternating({name: (lambda s=step: s.time(args.calls)) for name, step in steps.items()}, args.rounds)
        print(f"batch {batch}:")
        for name, values in ms.items():
            print(f"  {name:18s} {statistics.median(values):8.3f} ms per step ({min(values):.3f}-{max(values):.3f})")
        gain = speedups(ms["Keras's row order"], ms["torch's order"])
        print(f"  torch's order over Keras's: {speedup_text(gain)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
