"""A small CNN trained for one epoch on real MNIST, saved as ``brainnet run`` saves it.

Conv2D(8, 3×3, relu) → MaxPooling2D → Flatten → Dense(10, softmax),
Adam(0.005), batch 32, seed 0, on the first 2,000 training images
(normalised as the recipes do, x' = (x − 127.5) / 127.5); about a second
on one core. Measured (torch 2.13 CPU): accuracy 0.8925 on the first 400
test images (seeds 1, 2: 0.885, 0.8925), so the report has errors to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from brainnet.callbacks import History
from brainnet.datasets import mnist
from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.recipes._common import IMAGE_PREPROCESSING
from brainnet.utils import set_random_seed

TRAIN, TEST = 2000, 400


class Trained(NamedTuple):
    model: Sequential
    history: History
    file: Path          # model.brainnet, with preprocessing and class names
    x_test: np.ndarray  # (TEST, 28, 28, 1), normalised
    y_test: np.ndarray  # (TEST,)
    raw_test: np.ndarray  # (TEST, 28, 28) uint8, as the pictures are written


def normalise(raw: np.ndarray) -> np.ndarray:
    return ((raw.astype("float32") - 127.5) / 127.5)[..., None]  # (N, 28, 28, 1)


@pytest.fixture(scope="session")
def trained_cnn(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=mnist_dir)
    set_random_seed(0)
    model = Sequential([Conv2D(8, (3, 3), activation="relu", input_shape=(28, 28, 1), name="conv"),
                        MaxPooling2D((2, 2), name="pool"), Flatten(name="flatten"),
                        Dense(10, activation="softmax", name="dense")], name="tiny_cnn")
    model.compile(optimizer=Adam(learning_rate=0.005), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device="cpu")
    history = model.fit(normalise(x_train[:TRAIN]), y_train[:TRAIN], epochs=1, batch_size=32,
                        validation_split=0.1, verbose=0)
    model.preprocessing, model.class_names = IMAGE_PREPROCESSING, [str(d) for d in range(10)]
    file = tmp_path_factory.mktemp("trained") / "tiny.brainnet"
    model.save(str(file))
    return Trained(model, history, file, normalise(x_test[:TEST]), y_test[:TEST], x_test[:TEST])
