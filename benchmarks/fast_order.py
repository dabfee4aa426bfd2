"""`brainnet run mnist-fast` with its layer order and precision varied, side by side.

    python benchmarks/fast_order.py [--seeds 0 1 2 3 4] [--orders pool-first teaching]
                                    [--precisions float32 bfloat16] [--data-dir DIR] [--limit N]

Each (seed, order, precision) is one whole run of the recipe in its own
process, on the CPU, the runs of one seed interleaved so that a slow spell of
the machine touches every configuration alike. ``pool-first`` is the recipe's
network (convolution → 2×2 max-pooling → batch normalization → ReLU);
``teaching`` is the order it had until the ninth session (2026-12-05) (convolution → batch
normalization → ReLU → pooling), the same weights in number. For each
configuration it prints every seed's test accuracy and training time, the
mean accuracy and the median time with its range, and each configuration's
median time as a ratio to the first one's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[6])
from fast_order import teaching_order
from brainnet.recipes import fast
from brainnet.recipes._common import RunConfig

order, precision, seed, out, data_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
limit = int(sys.argv[7]) or None
if order == "teaching":
    fast.fast_cnn = teaching_order
config = RunConfig(out=out, device="cpu", seed=seed, precision=precision, limit=limit,
                   data_dir=Path(data_dir) if data_dir else None)
summary = fast.run_mnist_fast(config)
print("RESULT " + json.dumps({k: summary[k] for k in ("train_seconds", "test_accuracy", "policy")}))
"""


def teaching_order():
    """mnist-fast's network in its earlier order: convolution → batch
    normalization → ReLU → pooling, twice; the same 18,522 weights."""
    from brainnet.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
    from brainnet.models import Sequential

    model = Sequential()
    model.add(Conv2D(16, (5, 5), use_bias=False, input_shape=(28, 28, 1)))
    model.add(BatchNormalization())
    model.add(Activation("relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(32, (5, 5), use_bias=False))
    model.add(BatchNormalization())
    model.add(Activation("relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(10, activation="softmax"))
    return model


def run(order: str, precision: str, seed: int, data_dir: str, limit: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", CHILD, order, precision, str(seed), out, data_dir,
                               str(Path(__file__).resolve().parent), str(limit)],
                              capture_output=True, text=True, check=True)
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--orders", nargs="+", choices=("pool-first", "teaching"), default=["pool-first", "teaching"])
    parser.add_argument("--precisions", nargs="+", choices=("float32", "bfloat16"), default=["float32", "bfloat16"])
    parser.add_argument("--data-dir", default="", help="folder holding mnist/ (default: $BRAINNET_DATA_DIR)")
    parser.add_argument("--limit", type=int, default=0, help="train on the first N images (default: all 60,000)")
    args = parser.parse_args()
    configs = [(order, precision) for precision in args.precisions for order in args.orders]
    results: dict[tuple[str, str], list[dict]] = {c: [] for c in configs}
    for seed in args.seeds:
        for order, precision in configs:
            r = run(order, precision, seed, args.data_dir, args.limit)
            results[(order, precision)].append(r)
            print(f"seed {seed} {order:10s} {precision:8s}: {r['test_accuracy']:.4f}, {r['train_seconds']:.2f} s",
                  flush=True)
    first = statistics.median(r["train_seconds"] for r in results[configs[0]])
    print()
    for (order, precision), runs in results.items():
        seconds = [r["train_seconds"] for r in runs]
        accuracy = [r["test_accuracy"] for r in runs]
        median = statistics.median(seconds)
        print(f"{order:10s} {precision:8s}: accuracy mean {statistics.mean(accuracy):.4f} "
              f"({min(accuracy):.4f}-{max(accuracy):.4f}); training median {median:.2f} s "
              f"({min(seconds):.2f}-{max(seconds):.2f}); median ÷ {configs[0][0]} {configs[0][1]}'s: "
              f"{median / first:.3f}")


if __name__ == "__main__":
    main()
