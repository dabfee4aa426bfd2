"""What each CPU speed-up of brainnet fit() is worth, measured in one sitting.

    python benchmarks/cpu_ablation.py [--rounds 5] [--samples 12800] [--batch 64]

Trains the seed CNN (``teaching_cnn``, SGD(0.01, momentum 0.9)) on MNIST
with ``fit()`` in four variants, each round in a new process per variant,
the order alternating between rounds:

* ``both``: as shipped (pool before ReLU, glibc keeps freed memory);
* ``no-pool-first``: ``Conv2D(relu) → MaxPooling2D`` run as written
  (``brainnet.models._fusion.pool_first`` switched off);
* ``no-keep-memory``: ``BRAINNET_MALLOC=system``;
* ``neither``: both off.

Each process warms up on 10 steps, then times one ``fit`` pass over
``--samples`` images and reports samples/s and page faults per step. The
summary gives each variant's median and range, and its ratio to ``neither``
per round (median and range), so drift between rounds cancels.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from brainnet import optimizers
from brainnet.datasets import mnist
from brainnet.models import _fusion
from brainnet.recipes.images import teaching_cnn
pool_first, samples, batch = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
if not pool_first:
    _fusion.pool_first = lambda producer, consumer: False
(x, y), _ = mnist.load_data()
x = (x[:samples, :, :, None] / 255.0).astype(np.float32)
y = y[:samples]
torch.manual_seed(0)
model = teaching_cnn()
model.compile(optimizer=optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x[:10 * batch], y[:10 * batch], batch_size=batch, epochs=1, verbose=0)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
seconds = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
print(json.dumps({"samples_per_s": samples / seconds, "faults_per_step": faults * batch / samples}))
"""

VARIANTS = {  # name: (pool first, keep freed memory)
    "both": (True, True),
    "no-pool-first": (False, True),
    "no-keep-memory": (True, False),
    "neither": (False, False),
}


def _child(variant: str, samples: int, batch: int) -> dict:
    pool_first, keep = VARIANTS[variant]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["BRAINNET_MALLOC"] = "" if keep else "system"
    done = subprocess.run([sys.executable, "-c", CHILD, "1" if pool_first else "0", str(samples), str(batch)],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=12800)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    names = list(VARIANTS)
    rounds = []
    for r in range(args.rounds):
        order = names if r % 2 == 0 else names[::-1]
        result = {name: _child(name, args.samples, args.batch) for name in order}
        rounds.append(result)
        print(f"round {r + 1}: " + "  ".join(
            f"{n} {result[n]['samples_per_s']:,.0f}/s ({result[n]['faults_per_step']:.0f} faults/step)" for n in names),
            flush=True)
    print(f"\nseed CNN, batch {args.batch}, {args.samples:,} MNIST images per run, {args.rounds} rounds")
    print(f"{'variant':16s} {'samples/s median (min-max)':>28s} {'faults/step':>12s} {'× neither, median (min-max)':>30s}")
    for n in names:
        speed = [r[n]["samples_per_s"] for r in rounds]
        ratio = [r[n]["samples_per_s"] / r["neither"]["samples_per_s"] for r in rounds]
        faults = statistics.median(r[n]["faults_per_step"] for r in rounds)
        print(f"{n:16s} {statistics.median(speed):>12,.0f} ({min(speed):,.0f}-{max(speed):,.0f})"
              f" {faults:>12.0f} {statistics.median(ratio):>12.3f} ({min(ratio):.3f}-{max(ratio):.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "rounds": rounds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
