"""A training program with BackupAndRestore, run as a subprocess by test_resume.py.

    python resume_program.py BACKUP_DIR OUT_DIR SAVE_FREQ [KILL_EPOCH KILL_BATCH]

Trains a small CNN (convolution, batch normalization, dropout: weights,
buffers and random draws all matter) on a fixed synthetic image set with a
validation split. With KILL_EPOCH and KILL_BATCH (0-based) and no
``killed`` marker in OUT_DIR yet, the process kills itself with SIGKILL
after that batch, as a power cut would. It writes the final weights and the
History to OUT_DIR.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np

from brainnet.callbacks import BackupAndRestore, LambdaCallback
from brainnet.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.utils import set_random_seed


def main() -> None:
    backup_dir, out = sys.argv[1], Path(sys.argv[2])
    save_freq = sys.argv[3] if sys.argv[3] == "epoch" else int(sys.argv[3])
    kill = (int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) > 5 else None
    out.mkdir(parents=True, exist_ok=True)

    set_random_seed(1234)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    x = rng.normal(size=(400, 10, 10, 1)).astype("float32") + y[:, None, None, None] * 0.5
    model = Sequential([
        Conv2D(6, (3, 3), activation="relu", input_shape=(10, 10, 1)),
        BatchNormalization(),
        MaxPooling2D((2, 2)),
        Conv2D(4, (3, 3), activation="relu"),  # several input channels: a channels-last kernel and moments
        Flatten(),
        Dropout(0.3),
        Dense(4, activation="softmax"),
    ])
    model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    callbacks = [BackupAndRestore(backup_dir, save_freq=save_freq)]
    marker = out / "killed"
    if kill is not None and not marker.exists():
        epoch_now = [0]

        def power_cut(batch: int, logs: dict) -> None:
            if (epoch_now[0], batch) == kill:
                marker.touch()
                os.kill(os.getpid(), signal.SIGKILL)

        callbacks.append(LambdaCallback(
            on_epoch_begin=lambda epoch, logs: epoch_now.__setitem__(0, epoch),
            on_train_batch_end=power_cut,
        ))
    history = model.fit(x, y, batch_size=32, epochs=4, validation_split=0.2, callbacks=callbacks, verbose=0)
    model.save_weights(out / "final.safetensors")
    (out / "history.json").write_text(json.dumps({"history": history.history, "epoch": history.epoch}))
    restored = callbacks[0].restored
    (out / "restored.json").write_text(json.dumps(restored))


if __name__ == "__main__":
    main()
