"""What brainnet's ``fit`` and ``train_on_batch`` cost beyond the math on a
tiny model, where the per-step Python work is most of the time: a learner's
toy problem (a 2-8-1 MLP, tanh then sigmoid, 100 samples of two features,
binary cross-entropy, Adam, batch 32, 4 steps per epoch, accuracy tracked),
against the hand-written PyTorch loop of the same math (a permutation per
epoch, ``index_select`` batches, fused Adam, ``BCEWithLogitsLoss``, the
accuracy and loss sums kept as tensors), in one process.

    PYTHONPATH=$PWD python benchmarks/small_model_overhead.py [--rounds 9]

Each round times, in CPU time of this process (the machine's other work
counts less than in wall time), 50 epochs of the hand-written loop, then
``fit(x, y, epochs=50)``, then 200 ``train_on_batch`` calls against 200
hand-written steps; it prints each round's per-epoch and per-step times and
the ratios brainnet ÷ hand-written, then their medians and ranges. One
thread. Run it in two checkouts to compare commits.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import brainnet
from brainnet import layers

EPOCHS, STEPS = 50, 200


def _cpu(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    brainnet.utils.set_random_seed(0)
    x = np.random.rand(100, 2).astype("float32")
    y = (x.sum(1) > 1).astype("float32")
    model = brainnet.Sequential([layers.Input((2,)), layers.Dense(8, activation="tanh"),
                                 layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), fused=True)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)[:, None]

    def hand_step(xb: torch.Tensor, yb: torch.Tensor, correct: torch.Tensor, total: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        out = net(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        opt.step()
        with torch.no_grad():
            correct += ((out > 0).float() == yb).sum()
            total += loss.detach() * len(yb)

    def hand_epochs() -> None:
        for _ in range(EPOCHS):
            perm = torch.randperm(100)
            correct, total = torch.zeros(()), torch.zeros(())
            for i in range(0, 100, 32):
                idx = perm[i:i + 32]
                hand_step(xt.index_select(0, idx), yt.index_select(0, idx), correct, total)
            float(correct), float(total)  # the epoch's logs, read once

    def hand_steps() -> None:
        for _ in range(STEPS):
            correct, total = torch.zeros(()), torch.zeros(())
            hand_step(xt[:32], yt[:32], correct, total)
            float(correct), float(total)  # train_on_batch returns the batch's logs

    def fit_epochs() -> None:
        model.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0)

    def brainnet_steps() -> None:
        for _ in range(STEPS):
            model.train_on_batch(x[:32], y[:32])

    for fn in (hand_epochs, fit_epochs, hand_steps, brainnet_steps):
        fn()  # warm-up
    fit_ratio, step_ratio = [], []
    print("round  hand µs/epoch  fit µs/epoch  ratio   hand µs/step  train_on_batch µs/step  ratio")
    for r in range(args.rounds):
        he, fe = _cpu(hand_epochs) / EPOCHS * 1e6, _cpu(fit_epochs) / EPOCHS * 1e6
        hs, bs = _cpu(hand_steps) / STEPS * 1e6, _cpu(brainnet_steps) / STEPS * 1e6
        fit_ratio.append(fe / he)
        step_ratio.append(bs / hs)
        print(f"{r:5d}  {he:13.0f}  {fe:12.0f}  {fe / he:5.2f}   {hs:12.0f}  {bs:22.0f}  {bs / hs:5.2f}")
    for name, ratios in (("fit ÷ hand-written loop", fit_ratio), ("train_on_batch ÷ hand-written step", step_ratio)):
        print(f"{name}: median {statistics.median(ratios):.2f} (range {min(ratios):.2f}–{max(ratios):.2f})")


if __name__ == "__main__":
    main()
