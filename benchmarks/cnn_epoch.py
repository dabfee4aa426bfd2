"""Epoch time of the teaching CNN: brainnet ``fit()`` against a hand-written
PyTorch loop of the same network, measured side by side in one process.

The hand-written loop is the fastest honest one a PyTorch user would write:
data in memory as one tensor in channels-last layout, one random permutation
per epoch, batches by ``index_select``, ``F.cross_entropy`` on logits, the
same SGD(0.01, momentum 0.9) and the same batch size. Runs alternate
(brainnet, hand, brainnet, hand, ...) so both see the same machine state;
the report gives medians, ranges and the ratio of medians.

    python benchmarks/cnn_epoch.py --repeats 3          # full MNIST epochs
    python benchmarks/cnn_epoch.py --limit 6000         # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import brainnet
from brainnet.datasets import mnist
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.recipes import teaching_cnn


def brainnet_model() -> Sequential:
    model = teaching_cnn()
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    return model


def brainnet_epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    model = brainnet_model()
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    return time.perf_counter() - start


def hand_epoch(x: np.ndarray, y: np.ndarray, batch_size: int) -> float:
    """The same network and step written directly in PyTorch."""
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10),
    ).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)  # (N, 1, 28, 28), channels-last view
    yt = torch.from_numpy(y).long()
    n = xt.shape[0]
    order = torch.randperm(n)
    correct = torch.zeros((), dtype=torch.long)
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        logits = net(xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        opt.step()
        correct += (logits.detach().argmax(1) == yb).sum()
    float(correct)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    (x, y), _ = mnist.load_data()
    x = ((x[: args.limit].astype("float32") - 127.5) / 127.5)[..., None]
    y = y[: args.limit]
    brainnet.utils.set_random_seed(0)
    hand_epoch(x[:2000], y[:2000], args.batch_size)  # warm-up: thread pools, allocator
    brainnet_epoch(x[:2000], y[:2000], args.batch_size)
    times: dict[str, list[float]] = {"brainnet": [], "hand": []}
    for _ in range(args.repeats):
        times["brainnet"].append(brainnet_epoch(x, y, args.batch_size))
        times["hand"].append(hand_epoch(x, y, args.batch_size))
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "images_per_epoch": len(x),
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "seconds": times,
        "median_seconds": med,
        "ratio_brainnet_over_hand": med["brainnet"] / med["hand"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "date": time.strftime("%Y-%m-%d"),
    }
    for name, values in times.items():
        print(f"{name:9s} epoch of {len(x)} images: median {med[name]:.2f} s "
              f"(range {min(values):.2f}-{max(values):.2f}), {len(x) / med[name]:,.0f} images/s")
    print(f"ratio brainnet / hand-written (epoch time, medians): {result['ratio_brainnet_over_hand']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
