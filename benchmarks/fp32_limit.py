"""This machine's FP32 limit for the seed CNN, in training images per second.

    python benchmarks/fp32_limit.py [--size 2048] [--repeats 9]

The limit is the machine's measured single-precision matrix-multiply rate
(``torch.mm`` of two ``size × size`` float32 matrices, all torch threads,
median of ``--repeats`` timings) divided by the floating-point operations
one training image costs in the seed CNN (``teaching_cnn``). Those are
counted from the model's layers: a Conv2D's forward pass costs
``2·H'·W'·filters·kh·kw·channels``, a Dense's ``2·inputs·units``; the
backward pass costs twice the forward (the gradient of the weights and of
the input) except for the first layer, whose input needs no gradient. The
pooling, activation and loss operations are left out (they are not
multiply-adds), so the limit is generous to the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def flops_per_training_image() -> tuple[int, list[tuple[str, int]]]:
    from brainnet.layers import Conv2D, Dense
    from brainnet.recipes.images import teaching_cnn

    model = teaching_cnn()
    shape, rows, total = model.input_shape, [], 0
    for index, layer in enumerate(model.layers):
        out = layer.compute_output_shape(shape)
        if isinstance(layer, Conv2D):
            kh, kw = layer.kernel_size
            forward = 2 * out[1] * out[2] * out[3] * kh * kw * shape[-1]
        elif isinstance(layer, Dense):
            forward = 2 * shape[-1] * out[-1]
        else:
            forward = 0
        if forward:
            cost = forward * (2 if index == 0 else 3)  # forward + weight gradient (+ input gradient)
            rows.append((layer.name, cost))
            total += cost
        shape = out
    return total, rows


def sgemm_rate(size: int, repeats: int) -> list[float]:
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start))
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    total, rows = flops_per_training_image()
    for name, cost in rows:
        print(f"  {name:12s} {cost / 1e6:8.3f} MFLOP per training image")
    print(f"seed CNN: {total / 1e6:.2f} MFLOP per training image")
    rates = sgemm_rate(args.size, args.repeats)
    median = statistics.median(rates)
    print(f"sgemm {args.size}x{args.size}, {torch.get_num_threads()} threads: median {median / 1e9:.1f} GFLOP/s "
          f"(range {min(rates) / 1e9:.1f}-{max(rates) / 1e9:.1f})")
    print(f"FP32 limit: {median / total:,.0f} training images/s (range {min(rates) / total:,.0f}-"
          f"{max(rates) / total:,.0f}); 75 % of it: {0.75 * median / total:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
