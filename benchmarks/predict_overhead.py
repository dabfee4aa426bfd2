"""What ``predict`` costs beyond the model's own forward pass, for a model of
many modules: the DDPM port's U-Net (``tests/keras_examples/test_generative_ddpm.py``,
177 modules), whose sampling loop calls ``predict`` once per diffusion step.

    PYTHONPATH=$PWD python benchmarks/predict_overhead.py [--rounds 5]

Prints, for each round, the median over 50 calls of the bare call
(``model([x, t], training=False)`` under ``torch.no_grad``) and of
``model.predict([x, t], batch_size=4)``, in ms, one thread, then the medians of
the rounds and of the overhead (predict − call). Run it in two checkouts to
compare commits.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "keras_examples"))
import test_generative_ddpm as ddpm  # noqa: E402


def _median_ms(fn, calls: int = 50) -> float:
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    net = ddpm._unet()
    x = np.random.default_rng(0).normal(size=(4, 28, 28, 1)).astype("float32")
    t = np.full((4,), 10, dtype="int64")
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    net.predict([x, t], verbose=0, batch_size=4)  # warm-up

    def call():
        with torch.no_grad():
            net([xt, tt], training=False)

    calls, predicts = [], []
    for r in range(args.rounds):
        calls.append(_median_ms(call))
        predicts.append(_median_ms(lambda: net.predict([x, t], verbose=0, batch_size=4)))
        print(f"round {r + 1}: call {calls[-1]:.2f} ms, predict {predicts[-1]:.2f} ms", flush=True)
    overheads = [p - c for p, c in zip(predicts, calls)]
    print(f"modules {sum(1 for _ in net.modules())}; median call {statistics.median(calls):.2f} ms, "
          f"predict {statistics.median(predicts):.2f} ms, overhead {statistics.median(overheads):.2f} ms "
          f"({min(overheads):.2f}-{max(overheads):.2f})")


if __name__ == "__main__":
    main()
