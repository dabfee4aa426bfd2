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

Then the fused Adam update alone (``torch._fused_adam_`` on the stack's
eleven weights, six of them strided in torch's order, with random
gradients and zero moments), called with the strided tensors as they are
and as the 1-D views in memory order that ``brainnet._direct_update`` makes
of them: microseconds per call, the same rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from brainnet import _direct_update as direct_update
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
    update_alone(torch_order, args.rounds, 20 * args.calls)
    return 0


def update_alone(model, rounds: int, calls: int) -> None:
    """The fused Adam kernel on ``model``'s weights: strided, and as views in memory order."""
    params = [p.detach() for p in model.parameters()]
    lists = [params] + [[torch.randn_like(p) if k == 0 else torch.zeros_like(p) for p in params] for k in range(3)]
    steps = [torch.ones(()) for _ in params]
    forms = {"strided": lists, "views": direct_update._in_memory_order(lists)}

    def time_form(form: list) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            torch._fused_adam_(*form, [], steps, lr=0.0, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-7,
                               amsgrad=False, maximize=False)
        return 1e6 * (time.perf_counter() - start) / calls

    strided = sum(not p.is_contiguous() for p in params)
    print(f"the fused Adam kernel alone, {len(params)} weights ({strided} strided), {rounds} rounds of {calls} calls:")
    us = alternating({name: (lambda f=form: time_form(f)) for name, form in forms.items()}, rounds)
    for name, values in us.items():
        print(f"  {name:18s} {statistics.median(values):8.1f} us per call ({min(values):.1f}-{max(values):.1f})")
    print(f"  views over strided: {speedup_text(speedups(us['strided'], us['views']))}")


if __name__ == "__main__":
    sys.exit(main())
