"""Image recipes: the teaching CNN on MNIST and Fashion-MNIST."""

from __future__ import annotations

from functools import partial
from types import ModuleType
from typing import Any

from brainnet.datasets import fashion_mnist, mnist
from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

from ._common import IMAGE_PREPROCESSING, Recipe, RunConfig, load_images, train_classifier

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

    SGD(learning_rate=0.01, momentum=0.9), batch 64, 10 epochs by default,
    through ``train_classifier`` (which prints ``test accuracy: 0.9912`` and
    writes the outputs). The saved model records ``IMAGE_PREPROCESSING`` and
    the data set's ``CLASS_NAMES``, for ``brainnet predict``.

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
    data = load_images(dataset, folder, config.data_dir, config.limit)
    optimizer = SGD(learning_rate=0.01, momentum=0.9)
    model = teaching_cnn()
    model.preprocessing, model.class_names = IMAGE_PREPROCESSING, list(dataset.CLASS_NAMES)
    return train_classifier(config, name, model, optimizer, data, EPOCHS, BATCH_SIZE)


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
