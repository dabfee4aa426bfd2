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

    python benchmarks/fp32_limit.py --fit [--rounds 9] [--samples 12800]

also measures brainnet against that limit in the same process (MNIST from
``BRAINNET_DATA_DIR``): every round times the sgemm 3 times, trains the seed
CNN with ``fit()`` at batch 64 over ``--samples`` training images (the
benchmark harness's "brainnet" contestant, SGD(0.01, momentum 0.9)), and
times the sgemm 3 times again (``--precision bfloat16``: ``fit()`` under
``mixed_bfloat16``, the limit still the float32 sgemm's, so the fraction
says how far bfloat16 units, such as AMX, take ``fit()`` past float32's
reach). The round's limit is the mean of the two
sgemm medians divided by the FLOPs per image, and its fraction is ``fit()``'s
images per second over that limit. Since the machine's speed drifts from
minute to minute, a fraction taken within one round is steadier than a
throughput and a limit measured at different times. It prints the median
and range of the fractions over ``--rounds`` rounds, after one untimed round.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from brainnet.benchmarks.command import positive_int


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


def sgemm_rate(size: int, repeats: int, matrices: tuple[torch.Tensor, torch.Tensor] | None = None) -> list[float]:
    a, b = matrices if matrices is not None else (torch.randn(size, size), torch.randn(size, size))
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        rates.append(2 * size**3 / (time.perf_counter() - start))
    return rates


def fit_fractions(total: int, size: int, rounds: int, samples: int, limit: int | None = None,
                  precision: str = "float32") -> list[dict]:
    """Per round: the sgemm rate around a ``fit()`` pass, and the pass's
    share of the FP32 limit (see the module docstring)."""
    from brainnet.benchmarks.harness import Settings, make_contestant
    from brainnet.benchmarks.workloads import WORKLOADS, load_data
    from brainnet.utils import set_random_seed

    workload = WORKLOADS["cnn64"]
    data = load_data(workload, limit)
    if samples > len(data.y_train):
        raise SystemExit(f"fp32_limit: expected --samples at most {len(data.y_train)} (the training images), "
                         f"got {samples}. Fix: --samples {len(data.y_train)}.")
    set_random_seed(0)
    settings = Settings(precision=precision)
    contestant = make_contestant("brainnet", workload, data, torch.device("cpu"), settings, workload.build_brainnet())
    a, b = torch.randn(size, size), torch.randn(size, size)
    results = []
    for round_ in range(rounds + 1):  # round 0 warms up
        before = statistics.median(sgemm_rate(size, 3, (a, b)))
        start = time.perf_counter()
        contestant.train(samples)
        images_per_s = samples / (time.perf_counter() - start)
        after = statistics.median(sgemm_rate(size, 3, (a, b)))
        limit_images = (before + after) / 2 / total
        if round_:
            results.append({"images_per_s": images_per_s, "sgemm_before": before, "sgemm_after": after,
                            "limit": limit_images, "fraction": images_per_s / limit_images})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=positive_int, default=2048)
    parser.add_argument("--repeats", type=positive_int, default=9)
    parser.add_argument("--fit", action="store_true", help="also measure brainnet fit() against the limit, per round")
    parser.add_argument("--rounds", type=positive_int, default=9, help="rounds of --fit (default 9)")
    parser.add_argument("--samples", type=positive_int, default=12800, help="training images per --fit round (default 12800)")
    parser.add_argument("--limit", type=positive_int, default=None, help="use the first N training images (tests)")
    parser.add_argument("--precision", choices=["float32", "bfloat16"], default="float32",
                        help="fit() in float32 (default) or under mixed_bfloat16 (--fit)")
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
    if args.fit:
        results = fit_fractions(total, args.size, args.rounds, args.samples, args.limit, args.precision)
        for i, r in enumerate(results, start=1):
            print(f"  round {i}: sgemm {r['sgemm_before'] / 1e9:.1f} / {r['sgemm_after'] / 1e9:.1f} GFLOP/s, "
                  f"limit {r['limit']:,.0f} images/s; fit() {r['images_per_s']:,.0f} images/s = "
                  f"{100 * r['fraction']:.1f} %")
        fractions = [r["fraction"] for r in results]
        print(f"brainnet fit(), seed CNN, batch 64, {args.precision}: median {100 * statistics.median(fractions):.1f} % of the FP32 "
              f"limit (rounds {100 * min(fractions):.1f}-{100 * max(fractions):.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
