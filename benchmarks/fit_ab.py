"""Did a change slow ``fit()`` down? The seed CNN's training throughput at two
commits, measured side by side on this machine.

    BRAINNET_DATA_DIR=../shared/datasets python benchmarks/fit_ab.py --base <commit> [--rounds 10] [--workload cnn]

The base commit is checked out into a temporary git worktree; the other
contestant is this working tree. Each round runs one new process per tree
(alternating which goes first), which trains the seed CNN (2 conv + 2
max-pool + 2 dense, 225,034 weights) with ``fit`` on 12,800 MNIST images at
batch 64, SGD(0.01, momentum 0.9), tensors made once, after a short warm-up
fit, and prints the best images per second of 3 epochs. The report gives
each tree's median and range and the per-round ratio (this tree ÷ base):
median and range. On a 2-core machine the rounds swing by 10-20 %, so only a
median ratio well away from 1 across many rounds means something.

``--workload lstm`` or ``transformer`` trains the harness's sequence
workload instead (``brainnet.benchmarks.workloads``: the recipe's network and
optimizer, row-wise MNIST, batch 128, 3,840 rows, the best of 3 epochs), as
each tree builds it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE_RUN = r"""
import time, torch
from brainnet.datasets import mnist
from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed
(x, y), _ = mnist.load_data()
x = torch.from_numpy(x[:12800].astype("float32") / 255.0)[..., None]
y = torch.from_numpy(y[:12800])
set_random_seed(0)
model = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(),
                    Conv2D(64, 3, activation="relu"), MaxPooling2D(), Flatten(),
                    Dense(128, activation="relu"), Dense(10, activation="softmax")])
model.compile(SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
model.fit(x[:640], y[:640], epochs=1, batch_size=64, verbose=0)
best = 0.0
for _ in range(3):
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    best = max(best, 12800 / (time.perf_counter() - start))
print(best)
"""

SEQUENCE_RUN = r"""
import time, torch
from brainnet.benchmarks.workloads import WORKLOADS, load_data
from brainnet.utils import set_random_seed
workload = WORKLOADS[WORKLOAD]
data = load_data(workload, limit=3840)
x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
set_random_seed(0)
model = workload.build_brainnet()
model.compile(workload.brainnet_optimizer(), "sparse_categorical_crossentropy", ["accuracy"], device="cpu")
model.fit(x[:384], y[:384], epochs=1, batch_size=workload.batch_size, verbose=0)
best = 0.0
for _ in range(3):
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=workload.batch_size, verbose=0)
    best = max(best, len(x) / (time.perf_counter() - start))
print(best)
"""


def run(tree: Path, workload: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    code = ONE_RUN if workload == "cnn" else f"WORKLOAD = {workload!r}\n" + SEQUENCE_RUN
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare against")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workload", choices=["cnn", "lstm", "transformer"], default="cnn")
    args = parser.parse_args()
    if not os.environ.get("BRAINNET_DATA_DIR"):
        sys.exit("fit_ab: expected BRAINNET_DATA_DIR (the folder holding mnist/), got it unset. "
                 "Fix: BRAINNET_DATA_DIR=../shared/datasets python benchmarks/fit_ab.py --base HEAD~1")
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(base_tree), args.base], cwd=REPO, check=True,
                       capture_output=True)
        try:
            base, head = [], []
            for r in range(args.rounds):
                order = [("base", base_tree), ("head", REPO)]
                for name, tree in order if r % 2 == 0 else reversed(order):
                    (base if name == "base" else head).append(run(tree, args.workload))
                print(f"round {r + 1}: base {base[-1]:,.0f}, this tree {head[-1]:,.0f} samples/s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=REPO, check=False)
    ratios = [h / b for h, b in zip(head, base)]
    print(f"{args.workload}, base {args.base}: median {statistics.median(base):,.0f} samples/s ({min(base):,.0f}-{max(base):,.0f})")
    print(f"this tree: median {statistics.median(head):,.0f} samples/s ({min(head):,.0f}-{max(head):,.0f})")
    print(f"this tree / base, per round: median {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}-{max(ratios):.3f})")


if __name__ == "__main__":
    main()
