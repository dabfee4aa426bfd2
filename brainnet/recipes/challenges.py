"""Challenge recipes: too little data, and several kinds of input.

``mnist-small-data`` trains the teaching CNN on 1 % of MNIST (600 training
images, 60 of each digit, drawn by ``--seed``) twice, from the same initial
weights: plainly, as the teaching recipe does, and with augmentation layers
in front (random rotations, shifts and zooms: new plausible digits every
epoch), dropout before the softmax layer and label smoothing. It prints both
test accuracies on the 10,000 test images and the gain.

``mnist-two-input`` feeds each digit to one functional model twice, as two
kinds of input: the image to a convolution branch and its columns, read left
to right, to an LSTM branch; ``Concatenate`` joins the two summaries before
the softmax layer, and ``fit([x_image, x_columns], y)`` trains both branches
at once. Each branch is also trained alone, for comparison. Its code is in
``two_input.py`` (re-exported here); this file holds the small-data recipe
and the list of both.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from brainnet import Model
from brainnet._atomic import atomic_write
from brainnet.datasets import mnist
from brainnet.layers import Dropout, RandomRotation, RandomTranslation, RandomZoom
from brainnet.losses import SparseCategoricalCrossentropy
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

from ._common import IMAGE_PREPROCESSING, EpochTimer, Recipe, RunConfig, load_images, run_facts, write_outputs
from .images import teaching_cnn
from .two_input import (TWO_INPUT_BATCH_SIZE, TWO_INPUT_EPOCHS, column_branch_model, columns, image_branch_model,
                        run_two_input, two_input_model)

__all__ = ["CHALLENGE_RECIPES", "run_small_data", "small_training_set", "augmented_cnn", "plot_comparison",
           "PER_CLASS", "HELD_OUT", "run_two_input", "two_input_model", "image_branch_model",
           "column_branch_model", "columns", "TWO_INPUT_EPOCHS", "TWO_INPUT_BATCH_SIZE"]


# ---------------------------------------------------------------- small data
PER_CLASS = 60  # 10 digits x 60 = 600 training images, 1 % of MNIST's 60,000
HELD_OUT = 50_000  # training images from this index on are never drawn: the validation pool
VALIDATION_IMAGES = 1_000  # of the held-out images, watched every epoch (the curves), never trained on
SMALL_EPOCHS, SMALL_BATCH_SIZE = 150, 64  # 10 SGD steps per epoch: 1,500 steps per model
# Chosen on the 10,000 held-out training images 50,000-59,999, never on the test set, with
# benchmarks/small_data_tuning.py (the grid and its figures are in the README): rotations of up to ±9°,
# shifts and zooms of up to 7 % (2 pixels), dropout 0.5 and label smoothing 0.1: 0.975 validation
# accuracy at epoch 150 (plain: 0.938). L2 penalties on the kernels (1e-4, 5e-4) changed it by less than
# 0.1 point; stronger augmentation (±22°, 15 %) learned slower and reached less (0.964 at epoch 150).
ROTATION, TRANSLATION, ZOOM, DROPOUT, LABEL_SMOOTHING = 0.025, 0.07, 0.07, 0.5, 0.1
COMPARISON_FILE = "comparison.png"


def small_training_set(labels: np.ndarray, per_class: int, seed: int, pool: int = HELD_OUT) -> np.ndarray:
    """A stratified random sample: ``per_class`` images of each class from ``labels[:pool]``.

    Args:
        labels: class indices of the whole training set, ``(N,)``.
        per_class: images drawn from each class, without replacement.
        seed: seed of the draw (``numpy.random.default_rng``); the same seed
            draws the same images.
        pool: draw only from the first ``pool`` images (the rest stay held out).

    Returns:
        Sorted int64 indices into ``labels``, ``per_class`` of each class.

    Raises:
        ValueError: ``per_class`` below 1, or above the number of images of
            the rarest class among the first ``pool``.
    """
    classes, counts = np.unique(labels[:pool], return_counts=True)
    integer = isinstance(per_class, (int, np.integer)) and not isinstance(per_class, bool)
    if not integer or not 1 <= per_class <= counts.min():
        raise ValueError(
            f"small_training_set: expected per_class from 1 to {counts.min()} (the images of the rarest class, "
            f"{classes[counts.argmin()]}, among the first {pool}), got {per_class!r}. "
            f"Fix: small_training_set(labels, per_class={min(PER_CLASS, counts.min())}, seed=0)."
        )
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels[:pool] == c), per_class, replace=False) for c in classes]
    return np.sort(np.concatenate(picks)).astype(np.int64)


def augmented_cnn() -> Sequential:
    """The teaching CNN with augmentation layers in front and dropout before its softmax layer.

    During training each image is rotated by up to ±9° (``RandomRotation(0.025)``:
    a fraction of a turn), shifted by up to 7 % of its height and width (2
    pixels) and zoomed in or out by up to 7 %, each drawn anew per image and
    epoch; pixels from outside the image are the background (−1 after the
    teaching normalisation). ``Dropout(0.5)`` zeroes half of the 128 dense
    features at random (and doubles the others). At inference all four are
    the identity, so the network that answers is the teaching CNN itself:
    same layers, same 225,034 weights. Built after the same
    ``set_random_seed`` as ``teaching_cnn()``, it starts from the same
    initial weights.

    Returns:
        A built (not compiled) ``Sequential`` for ``(N, 28, 28, 1)`` images
        with 10 softmax outputs.
    """
    background = {"fill_mode": "constant", "fill_value": -1.0}  # (0 − 127.5) / 127.5: black
    *features, head = teaching_cnn().layers  # the teaching CNN's layers, weights already made
    return Sequential([
        RandomRotation(ROTATION, input_shape=(28, 28, 1), **background),
        RandomTranslation(TRANSLATION, TRANSLATION, **background),
        RandomZoom(ZOOM, **background),
        *features,
        Dropout(DROPOUT),
        head,
    ])


def _train_and_test(model: Model, loss: Any, x: Any, y: np.ndarray, validation: tuple, test: tuple,
                    config: RunConfig, epochs: int, batch_size: int) -> dict[str, Any]:
    """Compiles (the teaching SGD, ``loss``, accuracy), fits, tests; returns the figures."""
    model.compile(optimizer=SGD(learning_rate=0.01, momentum=0.9), loss=loss, metrics=["accuracy"],
                  device=config.device)
    timer, start = EpochTimer(), time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation, callbacks=[timer])
    fit_seconds = time.perf_counter() - start  # fit's wall time, validation included
    test_loss, accuracy = model.evaluate(*test, verbose=0)
    return {
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "epochs": len(timer.seconds),
        "seconds_per_epoch": timer.seconds,
        "fit_seconds": fit_seconds,
        "test_loss": float(test_loss),
        "test_accuracy": float(accuracy),
    }


def plot_comparison(plain: dict[str, list[float]], augmented: dict[str, list[float]], title: str, path: Any) -> Any:
    """Accuracy per epoch of both models, training (dashed) and validation (solid), on shared axes.

    (Accuracy only: with label smoothing the augmented model's loss has a
    floor above 0, so the two losses do not compare.)

    Args:
        plain, augmented: the two ``History.history`` dicts.
        title: the figure's title.
        path: the PNG to write (atomically).

    Returns:
        ``path``.
    """
    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    for logs, label, color in ((plain, "plain", "tab:red"), (augmented, "augmented + regularized", "tab:blue")):
        for key, style, split in (("accuracy", "--", "training"), ("val_accuracy", "-", "validation")):
            ax.plot(range(1, len(logs[key]) + 1), logs[key], style, color=color, label=f"{label}, {split}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="accuracy", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    return path


def run_small_data(config: RunConfig) -> dict[str, Any]:
    """Trains the teaching CNN on 600 MNIST images, plainly and with
    augmentation, dropout and label smoothing, and compares their test accuracies.

    Data: 60 images of each digit drawn from the first 50,000 training
    images with ``config.seed`` (``small_training_set``); 1,000 of the
    held-out training images 50,000-59,999 as validation data (watched each
    epoch, never trained on); the 10,000 test images. With ``config.limit``
    = N: ``min(60, N // 10)`` images per digit (at least 1), the first
    ``N // 5`` held-out images (at most 1,000) and the first ``N // 5`` test
    images.

    Both models start from the same initial weights (``set_random_seed``
    before each) and train alike: the teaching optimizer (SGD, learning rate
    0.01, momentum 0.9), batch 64, 150 epochs (``config.epochs`` and
    ``config.batch_size`` override them). (a) ``teaching_cnn()`` with the
    sparse cross-entropy; (b) ``augmented_cnn()`` with the sparse
    cross-entropy on targets smoothed by ε = 0.1 (``label_smoothing``: the
    target puts 0.91 on the true digit and 0.01 on each other, so the
    network is not pushed to infinite confidence on 600 examples). Prints
    ``test accuracy (plain): 0.9319``, ``test accuracy (augmented): 0.9795``
    and ``gain: +4.76 points`` (seed 0). (b)'s reported losses include the
    smoothing.

    Writes into ``config.out``: the augmented model's outputs (weights,
    ``model.brainnet``, ``history.json`` holding both runs, curves,
    report), the plain model's in ``plain/``, and ``comparison.png`` (both
    models' accuracy curves on shared axes).

    Args:
        config: the run's options.

    Returns:
        The summary written to ``history.json``.

    Raises:
        DatasetNotFoundError: MNIST is nowhere (see ``load_images``).
    """
    (x_all, y_all), (x_test, y_test) = load_images(mnist, "mnist", config.data_dir)
    per_class, held_out, tested = PER_CLASS, VALIDATION_IMAGES, len(x_test)
    if config.limit is not None:
        per_class = max(1, min(PER_CLASS, config.limit // 10))
        held_out, tested = max(1, min(VALIDATION_IMAGES, config.limit // 5)), max(1, config.limit // 5)
    train = small_training_set(y_all, per_class, config.seed)
    x_train, y_train = x_all[train], y_all[train]
    validation = (x_all[HELD_OUT : HELD_OUT + held_out], y_all[HELD_OUT : HELD_OUT + held_out])
    test = (x_test[:tested], y_test[:tested])
    epochs, batch_size = config.epochs or SMALL_EPOCHS, config.batch_size or SMALL_BATCH_SIZE

    runs, models = {}, {}
    smoothed = SparseCategoricalCrossentropy(label_smoothing=LABEL_SMOOTHING)
    for variant, build, loss in (("plain", teaching_cnn, "sparse_categorical_crossentropy"),
                                 ("augmented", augmented_cnn, smoothed)):
        print(f"--- {variant}: {build.__name__}() on {len(x_train)} images, {epochs} epochs")
        set_random_seed(config.seed)  # the same initial weights and shuffling for both
        models[variant] = model = build()
        model.preprocessing, model.class_names = IMAGE_PREPROCESSING, list(mnist.CLASS_NAMES)
        runs[variant] = _train_and_test(model, loss, x_train, y_train, validation, test, config, epochs, batch_size)
    plain, augmented = runs["plain"], runs["augmented"]
    gain = augmented["test_accuracy"] - plain["test_accuracy"]
    print(f"test accuracy (plain): {plain['test_accuracy']:.4f}")
    print(f"test accuracy (augmented): {augmented['test_accuracy']:.4f}")
    print(f"gain: {100 * gain:+.2f} points")

    shared = {
        **run_facts(config, models["plain"], batch_size, len(x_train), len(test[0])),
        "validation_images": int(len(validation[0])),
    }
    summary = {
        "recipe": "mnist-small-data",
        **augmented,
        "plain_test_accuracy": plain["test_accuracy"],
        "augmented_test_accuracy": augmented["test_accuracy"],
        "gain": gain,
        "plain": plain,
        "regularization": {"rotation": ROTATION, "translation": TRANSLATION, "zoom": ZOOM, "dropout": DROPOUT,
                           "label_smoothing": LABEL_SMOOTHING},
        **shared,
        "train_indices": train.tolist(),
    }
    out = Path(config.out)
    paths = write_outputs(models["augmented"], summary, out, *test,
                          models["augmented"].predict(test[0], verbose=0))
    plain_summary = {"recipe": "mnist-small-data (plain)", **plain, **shared, "train_indices": train.tolist()}
    paths += write_outputs(models["plain"], plain_summary, out / "plain", *test,
                           models["plain"].predict(test[0], verbose=0))
    paths.append(plot_comparison(plain["history"], augmented["history"],
                                 f"mnist-small-data: {len(x_train)} training images", out / COMPARISON_FILE))
    for path in paths:
        print(f"wrote {path}")
    return summary


CHALLENGE_RECIPES = (
    Recipe("mnist-small-data",
           "1 % of MNIST (600 images): the teaching CNN plain vs with augmentation, dropout, label smoothing",
           run_small_data),
    Recipe("mnist-two-input",
           "two inputs, one model: a CNN on the image and an LSTM on its columns, joined by Concatenate",
           run_two_input),
)
