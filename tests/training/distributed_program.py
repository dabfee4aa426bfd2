"""A small MNIST training program, run by test_distributed.py in one process
and under torchrun, unchanged:

    python distributed_program.py OUT [--batch-size 32] [--limit 1001]
    python -m torch.distributed.run --nproc_per_node 2 distributed_program.py OUT

A tiny CNN, SGD with momentum, ``shuffle=True``, 2 epochs, 10 % held out for
validation, then ``evaluate`` on test images. Everything it writes goes
through brainnet (CSVLogger, ModelCheckpoint, BackupAndRestore, save_weights,
save) into ``OUT/rank<r>/``, so the test can see which process wrote; it
writes its own ``history.json`` (History and evaluate's result) only where
``is_main_process()``, as a user's program does. Each process prints a
digest of its final weights, so the test can check that they all agree;
then it trains a second small model, with BatchNormalization, for one epoch
and prints a digest of its moving statistics, and trains it again while
rank 1 alone asks to stop after its batch 2, and prints where it stopped.
Last, a small dense model trains for one epoch with sample weights (10 %
held out with their weights) and a weighted metric; its weights go to
``weighted.safetensors`` and its History to ``history.json``.

With the default 1,001 images: 901 for training, so the last global batch of
each epoch has 5 samples (3 and 2 per process), and 100 for validation.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from brainnet.callbacks import BackupAndRestore, CSVLogger, LambdaCallback, ModelCheckpoint
from brainnet.datasets import mnist
from brainnet.distributed import is_main_process, rank
from brainnet.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--limit", type=int, default=1001)
    args = parser.parse_args()
    out = args.out / f"rank{rank()}"

    set_random_seed(0)
    (x, y), (x_test, y_test) = mnist.load_data()
    x = ((x[: args.limit].astype("float32") - 127.5) / 127.5)[..., None]  # (N, 28, 28, 1)
    y = y[: args.limit]
    x_test = ((x_test[:500].astype("float32") - 127.5) / 127.5)[..., None]
    y_test = y_test[:500]

    model = Sequential([
        Conv2D(4, (3, 3), activation="relu", input_shape=(28, 28, 1)),
        MaxPooling2D((2, 2)),
        # A kernel with several input channels: channels-last in memory, unlike a contiguous gradient.
        Conv2D(4, (3, 3), activation="relu"),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=SGD(learning_rate=0.02, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cpu")
    callbacks = [
        CSVLogger(out / "log.csv"),
        ModelCheckpoint(str(out / "checkpoint-{epoch}.brainnet")),
        BackupAndRestore(out / "backup", delete_checkpoint=False),
    ]
    history = model.fit(x, y, batch_size=args.batch_size, epochs=2, validation_split=0.1, shuffle=True,
                        callbacks=callbacks)
    test_loss, test_accuracy = model.evaluate(x_test, y_test)
    model.save_weights(str(out / "weights.safetensors"))
    model.save(str(out / "model.brainnet"))

    digest = hashlib.sha256(b"".join(v.detach().numpy().tobytes() for v in model.state_dict().values()))
    print(f"weights digest: {digest.hexdigest()}", flush=True)
    # BatchNormalization: each process's moving statistics come from its own
    # parts of the batches; averaged at the epoch's end, they agree everywhere.
    normalized = Sequential([
        Conv2D(4, (3, 3), input_shape=(28, 28, 1)), BatchNormalization(), Flatten(), Dense(10, activation="softmax"),
    ])
    normalized.compile(optimizer=SGD(learning_rate=0.01), loss="sparse_categorical_crossentropy", device="cpu")
    normalized.fit(x[:256], y[:256], batch_size=32, epochs=1, verbose=0)
    batch_norm = normalized.layers[1]
    statistics = hashlib.sha256(batch_norm.moving_mean.detach().numpy().tobytes()
                                + batch_norm.moving_variance.detach().numpy().tobytes())
    print(f"batch-norm statistics digest: {statistics.hexdigest()}", flush=True)

    # A stop asked by one process only (rank 1, after its batch 2): all agree on it
    # while batch 3 runs and stop after it.
    def stop_on_rank_1(batch: int, logs: dict) -> None:
        if rank() == 1 and batch == 2:
            normalized.stop_training = True

    stopped = normalized.fit(x[:256], y[:256], batch_size=32, epochs=2, verbose=0,
                             callbacks=[LambdaCallback(on_train_batch_end=stop_on_rank_1)])
    print(f"stopped: epochs {stopped.epoch}, batches {normalized.trainer.position[1]}", flush=True)

    # Sample weights: sharded and permuted with x and y (class 0 counts twice, every 7th sample not at all).
    weights = np.where(y == 0, 2.0, 1.0) * (np.arange(len(y)) % 7 != 0)
    set_random_seed(1)
    weighted = Sequential([Flatten(input_shape=(28, 28, 1)), Dense(10, activation="softmax")])
    weighted.compile(optimizer=SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
                     weighted_metrics=["accuracy"], device="cpu")
    weighted_history = weighted.fit(x, y, sample_weight=weights, batch_size=args.batch_size, epochs=1,
                                    validation_split=0.1, shuffle=True, verbose=0)
    weighted.save_weights(str(out / "weighted.safetensors"))

    if is_main_process():
        record = {"history": history.history, "epoch": history.epoch, "params": history.params,
                  "test_loss": test_loss, "test_accuracy": test_accuracy,
                  "weighted_history": weighted_history.history}
        (out / "history.json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
