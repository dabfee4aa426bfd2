"""The seed CNN's ``fit`` on a machine where another program keeps a core
busy: brainnet following the load (``brainnet/training/cpu_threads.py``)
against the thread count held fixed, and the same on the idle machine.

    PYTHONPATH=$PWD python benchmarks/busy_machine.py [--rounds 3] [--images 6400] [--two-trainings]

Each round trains the seed CNN (SGD 0.01, momentum 0.9, batch 64) for two
epochs on ``--images`` random 28×28 images three times: following the load
(``BRAINNET_ADAPTIVE_THREADS=1``), on torch's default thread count held fixed
(``=0``), and on one thread held fixed (what following the load should come
near on a 2-core machine with one core busy), in an order that turns each
round; first while a second process spins in a Python loop (one core
busy, started before the round and killed after it), then with the machine
idle. It prints images per second, the thread counts the adaptive fits
ended on, and the medians and ratios. torch's default thread count (one per
core); the weights are not seeded with ``set_random_seed``, which would keep
the thread count fixed.

``--two-trainings`` measures instead two trainings at once, as a user
running two experiments side by side: each round starts two fresh
processes together, each training the seed CNN for two epochs on
``--images`` images, once both following the load and once both on fixed
threads (alternating which setting goes first), and prints each process's
images per second and the round's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from brainnet.callbacks import LambdaCallback
from brainnet.optimizers import SGD
from brainnet.recipes.images import teaching_cnn
from brainnet.training import cpu_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--two-trainings", action="store_true")
    args = parser.parse_args()
    if args.two_trainings:
        two_trainings(args.rounds, args.images)
        return
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((args.images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, args.images)
    model = teaching_cnn()
    model.compile(optimizer=SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:640], y[:640], batch_size=64, epochs=1, verbose=0)  # warm-up
    print(f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; images/s of fit, 2 epochs of {args.images}")

    full = torch.get_num_threads()
    names = {"follow": "following the load", "fixed": "fixed threads", "one": "one thread"}

    def fit(how: str) -> tuple[float, int]:
        os.environ["BRAINNET_ADAPTIVE_THREADS"] = "1" if how == "follow" else "0"
        cpu_threads._LAST.clear()  # every fit starts on the full thread count
        torch.set_num_threads(1 if how == "one" else full)
        ended_on = []
        start = time.perf_counter()
        seen = LambdaCallback(on_epoch_end=lambda epoch, logs: ended_on.append(torch.get_num_threads()))
        model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[seen])
        speed = 2 * args.images / (time.perf_counter() - start)
        torch.set_num_threads(full)
        return speed, ended_on[-1]

    found: dict[tuple[str, str], list[float]] = {}
    for load in ("busy", "idle"):
        for r in range(args.rounds):
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if load == "busy" else None
            time.sleep(0.5 if spinner else 0)
            try:
                order = list(names)
                for how in order[r % 3:] + order[:r % 3]:
                    speed, threads = fit(how)
                    found.setdefault((load, how), []).append(speed)
                    print(f"{load:4s} round {r}  {names[how]:18s} {speed:8,.0f} images/s, ended on {threads} thread(s)")
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()
    os.environ.pop("BRAINNET_ADAPTIVE_THREADS", None)
    for load in ("busy", "idle"):
        speeds = {how: found[(load, how)] for how in names}
        text = ", ".join(f"{names[how]} {statistics.median(v):,.0f} images/s ({min(v):,.0f}–{max(v):,.0f})"
                         for how, v in speeds.items())
        ratios = [a / b for a, b in zip(speeds["follow"], speeds["fixed"])]
        print(f"{load}: {text}; following ÷ fixed per round: median {statistics.median(ratios):.2f} "
              f"({min(ratios):.2f}–{max(ratios):.2f})")


ONE_TRAINING = """
import json, sys, time
import numpy as np, torch
from brainnet.optimizers import SGD
from brainnet.recipes.images import teaching_cnn
n = int(sys.argv[1])
torch.manual_seed(0)
rng = np.random.default_rng(0)
x, y = rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)
model = teaching_cnn()
model.compile(optimizer=SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
model.fit(x[:640], y[:640], batch_size=64, epochs=1, verbose=0)
start = time.perf_counter()
model.fit(x, y, batch_size=64, epochs=2, verbose=0)
print(json.dumps({"speed": 2 * n / (time.perf_counter() - start)}))
"""


def two_trainings(rounds: int, images: int) -> None:
    print(f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs; two processes at once, "
          f"each fit 2 epochs of {images} images")
    walls: dict[str, list[float]] = {"1": [], "0": []}
    for r in range(rounds):
        for setting in ("1", "0") if r % 2 == 0 else ("0", "1"):
            env = dict(os.environ, BRAINNET_ADAPTIVE_THREADS=setting)
            start = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", ONE_TRAINING, str(images)], env=env,
                                      stdout=subprocess.PIPE, text=True) for _ in range(2)]
            speeds = [json.loads(p.communicate()[0].strip().splitlines()[-1])["speed"] for p in procs]
            walls[setting].append(time.perf_counter() - start)
            print(f"round {r}  {'following the load' if setting == '1' else 'fixed threads':18s} "
                  f"{speeds[0]:8,.0f} and {speeds[1]:8,.0f} images/s, both done in {walls[setting][-1]:.1f} s")
    ratios = [b / a for a, b in zip(walls["1"], walls["0"])]
    print(f"wall time, fixed ÷ following the load, per round: median {statistics.median(ratios):.2f} "
          f"({min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
