"""What the generic ``RNN(LSTMCell(64))`` costs against ``LSTM(64)``, on the CPU.

    OMP_NUM_THREADS=1 python benchmarks/rnn_cell_step.py [--rounds 7] [--calls 10]

Both compute the same function with the same weights (``tests/layers/
test_rnn_cells.py`` checks it): ``LSTM`` runs PyTorch's fused kernel,
``RNN(cell)`` a Python loop of cell steps. One training step here is the
forward and backward pass of a batch of 128 row-wise MNIST-shaped sequences
(28 steps of 28 features, random values). Every round times ``--calls``
steps of each, alternating which goes first; it prints the median and range
of the time per step and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from brainnet.layers import LSTM, RNN, LSTMCell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    x = torch.randn(128, 28, 28)
    layer, generic = LSTM(64), RNN(LSTMCell(64))
    layer(x), generic(x)
    generic.set_weights(layer.get_weights())

    def step(module: torch.nn.Module) -> None:
        module.zero_grad()
        module(x, training=True).sum().backward()

    contestants = {"LSTM(64)": layer, "RNN(LSTMCell(64))": generic}
    for module in contestants.values():
        for _ in range(3):
            step(module)
    times: dict[str, list[float]] = {name: [] for name in contestants}
    for r in range(args.rounds):
        order = list(contestants) if r % 2 == 0 else list(reversed(contestants))
        for name in order:
            start = time.perf_counter()
            for _ in range(args.calls):
                step(contestants[name])
            times[name].append((time.perf_counter() - start) / args.calls * 1000)
    for name, ms in times.items():
        print(f"{name}: {statistics.median(ms):.1f} ms per step (range {min(ms):.1f}-{max(ms):.1f})")
    ratio = statistics.median(times["RNN(LSTMCell(64))"]) / statistics.median(times["LSTM(64)"])
    print(f"RNN(LSTMCell(64)) / LSTM(64): {ratio:.2f}")


if __name__ == "__main__":
    main()
