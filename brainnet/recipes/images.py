"""Image recipes: the teaching CNN on MNIST and Fashion-MNIST."""

from __future__ import annotations

from functools import partial
from types import ModuleType
from typing import Any

import torch

import brainnet
from brainnet.datasets import fashion_mnist, mnist
from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

from ._common import EpochTimer, Recipe, RunConfig, load_images, write_outputs

EPOCHS, BATCH_SIZE = 10, 64  # the teaching recipe


def teaching_cnn() -> Sequential:
    """The teaching network: two convolution + max-pooling stages, two dense layers.

    Returns:
        A built (not compiled) ``Sequential`` for ``(N, 28, 28, 1)`` images
        with 10 softmax outputs; 225,034 weights.
    """
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPooling2D((2, 2)))
    model.add(Conv2D(64, (3, 3), activation="relu"))
    model.add(MaxPooling2D((2, 2)))
    model.add(Flatten())
    model.add(Dense(128, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    return model


def run_image_classifier(config: RunConfig, name: str, dataset: ModuleType, folder: str) -> dict[str, Any]:
    """Trains the teaching CNN on ``dataset`` with the teaching recipe.

    SGD(learning_rate=0.01, momentum=0.9), sparse categorical cross-entropy,
    accuracy, ``config.epochs`` epochs of ``config.batch_size`` with 10% of
    the training data held out for validation, a progress bar per epoch; then
    the test set. Prints ``test accuracy: 0.9912`` and ``test loss: ...``,
    writes the outputs and prints their paths.

    Args:
        config: the run's options.
        name: the recipe's name, recorded and used as the plot's title.
        dataset: ``brainnet.datasets.mnist`` or ``fashion_mnist``.
        folder: the data set's folder name under a data dir.

    Returns:
        The summary written to ``history.json``.

    Raises:
        DatasetNotFoundError: the data set is nowhere (see ``load_images``).
    """
    set_random_seed(config.seed)
    (x_train, y_train), (x_test, y_test) = load_images(dataset, folder, config.data_dir, config.limit)
    epochs, batch_size = config.epochs or EPOCHS, config.batch_size or BATCH_SIZE
    model = teaching_cnn()
    model.compile(
        optimizer=SGD(learning_rate=0.01, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        device=config.device,
    )
    timer = EpochTimer()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size,
        validation_split=0.1, callbacks=[timer],
    )
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    print(f"test loss: {loss:.4f}")
    summary = {
        "recipe": name,
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "epochs": len(timer.seconds),
        "seconds_per_epoch": timer.seconds,
        "test_loss": float(loss),
        "test_accuracy": float(accuracy),
        "seed": config.seed,
        "batch_size": batch_size,
        "limit": config.limit,
        "train_images": int(x_train.shape[0]),
        "test_images": int(x_test.shape[0]),
        "device": str(model.trainer.device),
        "brainnet_version": brainnet.__version__,
        "torch_version": torch.__version__,
    }
    for path in write_outputs(model, summary, config.out):
        print(f"wrote {path}")
    return summary


def _cnn_recipe(name: str, description: str, dataset: ModuleType, folder: str) -> Recipe:
    return Recipe(name, description, partial(run_image_classifier, name=name, dataset=dataset, folder=folder))


IMAGE_RECIPES = (
    _cnn_recipe(
        "mnist-cnn",
        "the teaching CNN (2 conv + 2 max-pool + 2 dense) on MNIST handwritten digits",
        mnist, "mnist",
    ),
    _cnn_recipe(
        "fashion-cnn",
        "the same CNN and recipe on Fashion-MNIST clothing (10 classes)",
        fashion_mnist, "fashion-mnist",
    ),
)
