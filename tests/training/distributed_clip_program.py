"""Gradient clipping under torchrun, run by test_distributed.py in one process
and under ``torchrun --nproc_per_node 2``, unchanged:

    python distributed_clip_program.py OUT
    python -m torch.distributed.run --nproc_per_node 2 distributed_clip_program.py OUT

A small dense regression whose targets are far from the start (every step's
gradient is beyond the clip), trained three times, same seed: SGD with
momentum without clipping, with ``clipnorm`` and with ``global_clipnorm``;
global batch 32 of 200 samples (the last batch has 8), ``shuffle=True``.
Each run's final weights go to ``OUT/rank<r>/<name>.safetensors`` through
``save_weights`` (rank 0 writes). Clipping each process's half of the
gradient before the all-reduce, instead of the global batch's gradient
after it, would make the two-process weights differ from the one-process ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from brainnet.distributed import rank
from brainnet.layers import Dense
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

RUNS = {"none": {}, "clipnorm": {"clipnorm": 1.0}, "global_clipnorm": {"global_clipnorm": 1.0}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    out = args.out / f"rank{rank()}"

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (50.0 * x[:, :1] ** 2 + 20.0 * x[:, 1:2] + 30.0).astype("float32")
    for name, clip in RUNS.items():
        set_random_seed(0)
        model = Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(1)])
        model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9, **clip), loss="mse", device="cpu")
        model.fit(x, y, batch_size=32, epochs=2, shuffle=True, verbose=0)
        model.save_weights(str(out / f"{name}.safetensors"))


if __name__ == "__main__":
    main()
