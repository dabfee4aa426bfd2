"""A script's start: how long a fresh Python process takes to import the
library and train its first epoch, brainnet ``fit`` against the hand-written
PyTorch loop of the same math.

    PYTHONPATH=$PWD python benchmarks/cold_start.py [--rounds 7]

A learner runs a tutorial script many times, and every run pays the
imports and whatever the first training step sets up. Each round starts
two fresh processes, in alternating order: one imports brainnet, builds the
2-8-1 MLP of ``small_model_overhead.py`` (tanh, then sigmoid; 100 samples,
binary cross-entropy, Adam, batch 32, accuracy tracked) and runs
``fit(epochs=1)``; the other imports torch and runs one epoch of the
hand-written loop (``torch.optim.Adam(fused=True)``, ``BCEWithLogitsLoss``).
Each process reports, by ``time.perf_counter``, its import time and the time
from building the model to the end of the first epoch; the script prints
each round and the medians and ranges, and whether each process imported
``torch._dynamo``. One thread per process. The processes start in the
temporary folder, so ``PYTHONPATH`` picks the checkout whose brainnet is
timed (``PYTHONPATH=<other checkout>`` times another commit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

BRAINNET = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    import brainnet
    from brainnet import layers
    imported = time.perf_counter()
    import torch
    torch.set_num_threads(1)
    x = np.random.default_rng(0).random((100, 2), dtype="float32")
    y = (x.sum(1) > 1).astype("float32")
    model = brainnet.Sequential([layers.Input((2,)), layers.Dense(8, activation="tanh"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    trained = time.perf_counter()
""")

HAND = textwrap.dedent("""
    import time
    start = time.perf_counter()
    import numpy as np
    import torch
    imported = time.perf_counter()
    torch.set_num_threads(1)
    x = np.random.default_rng(0).random((100, 2), dtype="float32")
    y = (x.sum(1) > 1).astype("float32")
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)[:, None]
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), fused=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    correct = torch.zeros(()); total = torch.zeros(())
    for idx in torch.randperm(100).split(32):
        xb, yb = xt.index_select(0, idx), yt.index_select(0, idx)
        opt.zero_grad(set_to_none=True)
        out = net(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        with torch.no_grad():
            correct += ((out > 0) == (yb > 0.5)).sum()
            total += loss.detach() * len(idx)
    float(correct); float(total)
    trained = time.perf_counter()
""")

REPORT = textwrap.dedent("""
    import json, sys
    print(json.dumps({"import_s": imported - start, "first_epoch_s": trained - imported,
                      "dynamo": "torch._dynamo" in sys.modules}))
""")


def _run(source: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # Run outside any checkout: PYTHONPATH (not the current folder) says which brainnet is timed.
    done = subprocess.run([sys.executable, "-c", source + REPORT], capture_output=True, text=True,
                          env=env, check=True, cwd=tempfile.gettempdir())
    return json.loads(done.stdout.strip().splitlines()[-1])


def _span(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s ({min(values):.3f}–{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    found: dict[str, list[dict]] = {"brainnet": [], "hand-written": []}
    print("round  who            import s  first epoch s  torch._dynamo imported")
    for r in range(args.rounds):
        order = [("brainnet", BRAINNET), ("hand-written", HAND)]
        for who, source in order if r % 2 == 0 else order[::-1]:
            result = _run(source)
            found[who].append(result)
            print(f"{r:5d}  {who:13s}  {result['import_s']:8.3f}  {result['first_epoch_s']:13.3f}  {result['dynamo']}")
    for who, results in found.items():
        print(f"{who}: import {_span([r['import_s'] for r in results])}; "
              f"model to the end of the first epoch {_span([r['first_epoch_s'] for r in results])}")
    whole = [(b["import_s"] + b["first_epoch_s"]) / (h["import_s"] + h["first_epoch_s"])
             for b, h in zip(found["brainnet"], found["hand-written"])]
    print(f"import and first epoch together, brainnet ÷ hand-written, per round: median "
          f"{statistics.median(whole):.3f} ({min(whole):.3f}–{max(whole):.3f})")
    ratios = [b["first_epoch_s"] / h["first_epoch_s"] for b, h in zip(found["brainnet"], found["hand-written"])]
    print(f"first epoch, brainnet ÷ hand-written, per round: median {statistics.median(ratios):.3f} "
          f"({min(ratios):.3f}–{max(ratios):.3f})")


if __name__ == "__main__":
    main()
