"""The DistributedSampler recipe, run by test_distributed.py under torchrun
and, for reference, in one process on arrays:

    python distributed_loader_program.py OUT --arrays
    python -m torch.distributed.run --nproc_per_node 2 distributed_loader_program.py OUT

400 real MNIST images train a small dense network for 2 epochs with SGD and
momentum, without shuffling (so the two runs see the same batches), with 99
validation images, then ``evaluate`` on 101 test images. The reference
gives ``fit`` the arrays with a global batch of 32; each process reads a
DataLoader of 16 over a ``DistributedSampler(shuffle=False)``, which
interleaves the samples (rank 0 the even ones, rank 1 the odd ones), so a
step of the two covers the reference's global batch: 13 steps, the last of
16 samples (8 each). The 99 validation and 101 test images are padded by
the sampler to 100 and 102 (rank 1 reads sample 0 again as its last).

Rank 0 writes ``OUT/weights.safetensors`` and ``OUT/history.json`` (History,
its params and evaluate's result). Then, under torchrun, rank 1 alone gives
fit a loader over fewer samples: every process prints the refusal it gets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from brainnet.datasets import mnist
from brainnet.distributed import is_main_process, rank, world_size
from brainnet.layers import Dense, Flatten
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

GLOBAL_BATCH = 32


def loader(x, y, batch_size: int) -> DataLoader:
    """PyTorch's recipe: each process reads its part of the samples."""
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = DistributedSampler(dataset, num_replicas=world_size(), rank=rank(), shuffle=False)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--arrays", action="store_true", help="the reference: arrays in one process")
    args = parser.parse_args()

    (x, y), (x_test, y_test) = mnist.load_data()
    x = (x[:499].astype("float32") / 255.0)[..., None]  # (N, 28, 28, 1)
    y = y[:499].astype("int64")
    x_train, y_train, x_val, y_val = x[:400], y[:400], x[400:], y[400:]
    x_test, y_test = (x_test[:101].astype("float32") / 255.0)[..., None], y_test[:101].astype("int64")

    set_random_seed(0)
    model = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(32, activation="relu"),
                        Dense(10, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cpu")
    if args.arrays:
        history = model.fit(x_train, y_train, batch_size=GLOBAL_BATCH, epochs=2, shuffle=False,
                            validation_data=(x_val, y_val), verbose=0)
        test = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    else:
        per_process = GLOBAL_BATCH // world_size()
        history = model.fit(loader(x_train, y_train, per_process), epochs=2,
                            validation_data=loader(x_val, y_val, 20), verbose=0)
        test = model.evaluate(loader(x_test, y_test, 25), return_dict=True, verbose=0)
    if is_main_process():
        args.out.mkdir(parents=True, exist_ok=True)
        model.save_weights(str(args.out / "weights.safetensors"))
        record = {"history": history.history, "params": history.params, "test": test}
        (args.out / "history.json").write_text(json.dumps(record, indent=1))

    if world_size() > 1:  # loaders that would give the processes different numbers of batches
        n = 400 if rank() == 0 else 300
        try:
            model.fit(loader(x_train[:n], y_train[:n], 16), epochs=1, verbose=0)
        except ValueError as error:
            print(f"refused: {error}", flush=True)


if __name__ == "__main__":
    main()
