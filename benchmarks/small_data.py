"""`brainnet run mnist-small-data` over several seeds: plain vs augmented + regularized.

Each seed is one full `brainnet run mnist-small-data --seed S` in its own
process (a different draw of the 600 training images and different initial
weights, the same for both models of one seed). Prints each seed's test
accuracies, their gain, and the mean, min and max of the three, with each
run's wall time.

    OMP_NUM_THREADS=1 python benchmarks/small_data.py --seeds 0 1 2 3 4

Options after the known ones go to `brainnet run` (e.g. `--epochs 50`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = (("plain", "plain_test_accuracy"), ("augmented", "augmented_test_accuracy"), ("gain", "gain"))


def run_seed(seed: int, out: Path, extra: list[str]) -> tuple[dict, float]:
    """One `brainnet run` for ``seed``; returns its history.json and wall seconds."""
    folder = out / f"seed{seed}"
    cmd = [sys.executable, "-m", "brainnet.cli", "run", "mnist-small-data", "--seed", str(seed),
           "--out", str(folder), *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads((folder / "history.json").read_text()), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, default=Path("runs/small-data"))
    parser.add_argument("--json", type=Path, help="write the summary here")
    args, extra = parser.parse_known_args()
    rows = []
    for seed in args.seeds:
        run, seconds = run_seed(seed, args.out, extra)
        rows.append({"seed": seed, **{name: run[key] for name, key in COLUMNS}, "wall_seconds": seconds,
                     "fit_seconds": {"plain": run["plain"]["fit_seconds"], "augmented": run["fit_seconds"]}})
        print(f"seed {seed}: plain {run['plain_test_accuracy']:.4f}, augmented {run['augmented_test_accuracy']:.4f}, "
              f"gain {100 * run['gain']:+.2f} points ({seconds:.0f} s: fit {run['plain']['fit_seconds']:.0f} s "
              f"plain, {run['fit_seconds']:.0f} s augmented)", flush=True)
    summary = {"seeds": args.seeds, "runs": rows, "epochs": run["epochs"], "test_images": run["test_images"]}
    for name, _ in COLUMNS:
        values = [row[name] for row in rows]
        summary[name] = {"mean": statistics.mean(values), "min": min(values), "max": max(values)}
        show = (lambda v: f"{100 * v:+.2f} points") if name == "gain" else (lambda v: f"{v:.4f}")
        print(f"{name}: mean {show(statistics.mean(values))}, min {show(min(values))}, max {show(max(values))}")
    wall = [row["wall_seconds"] for row in rows]
    print(f"wall time per seed: mean {statistics.mean(wall):.0f} s, min {min(wall):.0f} s, max {max(wall):.0f} s")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
