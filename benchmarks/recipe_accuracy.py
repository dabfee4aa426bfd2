"""Test accuracy and epoch time of `brainnet run RECIPE` over several seeds.

Each seed is one full `brainnet run` in its own process (default 10 epochs);
the summary gives each seed's test accuracy, the mean, the range, and the
median seconds per epoch (training plus validation) with its range.

    python benchmarks/recipe_accuracy.py mnist-cnn fashion-cnn --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def run_seed(recipe: str, seed: int, out: Path, extra: list[str]) -> dict:
    folder = out / f"{recipe}-seed{seed}"
    cmd = [sys.executable, "-m", "brainnet.cli", "run", recipe, "--seed", str(seed), "--out", str(folder), *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((folder / "history.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("runs/recipe-accuracy"))
    parser.add_argument("--json", type=Path, help="write the summary here")
    args, extra = parser.parse_known_args()
    summary = {}
    for recipe in args.recipes:
        runs = [run_seed(recipe, seed, args.out, extra) for seed in args.seeds]
        accuracy = [r["test_accuracy"] for r in runs]
        epoch_seconds = [s for r in runs for s in r["seconds_per_epoch"]]
        summary[recipe] = {
            "seeds": args.seeds,
            "test_accuracy": accuracy,
            "mean": statistics.mean(accuracy),
            "min": min(accuracy),
            "max": max(accuracy),
            "epochs": runs[0]["epochs"],
            "epoch_seconds_median": statistics.median(epoch_seconds),
            "epoch_seconds_range": [min(epoch_seconds), max(epoch_seconds)],
        }
        s = summary[recipe]
        print(f"{recipe}: test accuracy {', '.join(f'{a:.4f}' for a in accuracy)} "
              f"(mean {s['mean']:.4f}, range {s['min']:.4f}-{s['max']:.4f}); seconds per epoch "
              f"median {s['epoch_seconds_median']:.1f} (range {s['epoch_seconds_range'][0]:.1f}-"
              f"{s['epoch_seconds_range'][1]:.1f})", flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
