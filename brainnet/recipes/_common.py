"""What the recipes share, one plain function or class each: ``RunConfig``
(the options of ``brainnet run``), ``Recipe``, ``EpochTimer``,
``load_images`` (MNIST-style loading and the teaching normalisation,
recorded in ``IMAGE_PREPROCESSING``), ``plot_curves`` (the PNG),
``write_outputs`` (weights, the whole model, history, plot, HTML report) and
``train_classifier`` (compile, fit, test, report: every classifier recipe's
last steps).
A new recipe family adds a module beside this one and registers its
``Recipe`` entries in ``brainnet/recipes/__init__.py``.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator

import numpy as np
import torch

import brainnet
from brainnet._atomic import atomic_write
from brainnet.callbacks import Callback
from brainnet.datasets import DatasetNotFoundError
from brainnet.explain.plots import plot_history
from brainnet.explain.report import write_report
from brainnet.models import Model
from brainnet.preprocessing import ImagePreprocessing

WEIGHTS_FILE = "model.weights.safetensors"
MODEL_FILE = "model.brainnet"
HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
REPORT_FILE = "report.html"

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

# MNIST and Fashion-MNIST as the teaching program feeds them: 28 x 28 gray
# pixels, light objects on a black background, x' = (x − 127.5) / 127.5.
# Saved with each recipe's model, so `brainnet predict` prepares a picture
# the same way.
IMAGE_PREPROCESSING = ImagePreprocessing(size=(28, 28), color_mode="grayscale", background="dark",
                                         mean=127.5, std=127.5)


@dataclass(frozen=True)
class RunConfig:
    """The options of one ``brainnet run``.

    Args:
        out: folder the outputs are written into (created if missing).
        epochs: passes over the training data; None: the recipe's default.
        batch_size: samples per step; None: the recipe's default.
        device: ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda"``.
        data_dir: a folder holding the data sets' folders (``mnist/``,
            ``fashion-mnist/``, ``fortunes/``), used as ``$BRAINNET_DATA_DIR``;
            None: the usual search (``$BRAINNET_DATA_DIR``, system folder,
            cache, download).
        seed: seed of every random generator, default 0.
        limit: train on the first ``limit`` training samples (images; text
            windows for ``char-transformer``) and evaluate on the first
            ``limit // 5``; None: all of them.
        precision: ``"auto"`` (the recipe's choice: ``mnist-fast`` takes
            bfloat16 on CUDA and on CPUs with AMX, the others the global
            policy, float32 by default), ``"float32"`` or ``"bfloat16"``
            (the ``mixed_bfloat16`` policy).
    """

    out: Path
    epochs: int | None = None
    batch_size: int | None = None
    device: str = "auto"
    data_dir: Path | None = None
    seed: int = 0
    limit: int | None = None
    precision: str = "auto"


# `brainnet run --precision` → the mixed-precision policy the model compiles with.
PRECISION_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


@dataclass(frozen=True)
class Recipe:
    """A named teaching example: ``run(config)`` trains it, prints the test
    accuracy, writes the outputs and returns the summary written to
    ``history.json``."""

    name: str
    description: str
    run: Callable[[RunConfig], dict[str, Any]]


class EpochTimer(Callback):
    """Records each epoch's wall time (training and validation) in ``seconds``;
    on a GPU it waits for the queued work at both ends, so the time is the
    work's, not its launch's."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def _sync(self) -> None:
        device = getattr(getattr(self.model, "trainer", None), "device", None)
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._sync()
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._sync()
        self.seconds.append(time.perf_counter() - self._start)


def run_facts(config: RunConfig, model: Model, batch_size: int, train_images: int, test_images: int) -> dict[str, Any]:
    """What every recipe's ``history.json`` records about its run: the seed,
    batch size, ``--limit``, data sizes, weights, device, mixed-precision
    policy and versions.

    ``train_images`` are the images given to ``fit``; after a ``validation_split``
    the record says how many it trained on and how many it held out."""
    trained = int(model.trainer.loop_info.get("samples", train_images))
    facts = {
        "seed": config.seed,
        "batch_size": batch_size,
        "limit": config.limit,
        "train_images": trained,
        "test_images": int(test_images),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "device": str(model.trainer.device),
        "policy": model.trainer.policy.name,
        "brainnet_version": brainnet.__version__,
        "torch_version": torch.__version__,
    }
    if trained < train_images:  # held out by validation_split
        facts["validation_images"] = int(train_images) - trained
    return facts


@contextmanager
def _data_dir_env(data_dir: Path | None) -> Iterator[None]:
    """Sets ``$BRAINNET_DATA_DIR`` to ``data_dir`` for the block (None: unchanged)."""
    previous = os.environ.get("BRAINNET_DATA_DIR")
    if data_dir is not None:
        os.environ["BRAINNET_DATA_DIR"] = str(data_dir)
    try:
        yield
    finally:
        os.environ.pop("BRAINNET_DATA_DIR", None)
        if previous is not None:
            os.environ["BRAINNET_DATA_DIR"] = previous


def load_images(
    dataset: ModuleType, folder: str, data_dir: Path | None = None, limit: int | None = None
) -> Arrays:
    """Loads an MNIST-style data set, normalised as the teaching program does.

    ``x' = (x − 127.5) / 127.5`` maps the pixels 0..255 to [−1, 1], and a
    trailing channel axis makes the images ``(N, 28, 28, 1)``.

    Args:
        dataset: ``brainnet.datasets.mnist`` or ``brainnet.datasets.fashion_mnist``.
        folder: the data set's folder name under a data dir (``"mnist"``), for
            the error message.
        data_dir: used as ``$BRAINNET_DATA_DIR`` while loading; None: unchanged.
        limit: keep the first ``limit`` training and ``limit // 5`` test
            images; None: all.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float32 images of shape
        ``(N, 28, 28, 1)`` in [−1, 1] and uint8 labels of shape ``(N,)``.

    Raises:
        DatasetNotFoundError: the files are nowhere and cannot be downloaded;
            the one-line message says where to put them. The full search list
            is the chained exception (``__cause__``).
    """
    with _data_dir_env(data_dir):
        try:
            (x_train, y_train), (x_test, y_test) = dataset.load_data()
        except DatasetNotFoundError as e:
            where = f"{Path(data_dir) / folder}/ (--data-dir)" if data_dir else "$BRAINNET_DATA_DIR"
            raise DatasetNotFoundError(
                f"data set {folder} not found in {where}, the system folder or the cache, "
                "and not downloaded (expected train-images-idx3-ubyte.gz and its three sibling files). "
                f"Fix: put them in DIR/{folder}/ and pass --data-dir DIR or set "
                "BRAINNET_DATA_DIR=DIR (or go online so brainnet downloads them)."
            ) from e
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[: limit // 5], y_test[: limit // 5]
    mean, std = IMAGE_PREPROCESSING.mean, IMAGE_PREPROCESSING.std  # 127.5, 127.5
    x_train = ((x_train.astype("float32") - mean) / std)[..., None]  # (N, 28, 28, 1)
    x_test = ((x_test.astype("float32") - mean) / std)[..., None]  # (N, 28, 28, 1)
    return (x_train, y_train), (x_test, y_test)


def plot_curves(history: dict[str, list[float]], title: str, path: Path) -> Path:
    """Draws loss and accuracy per epoch, train and validation, in two panels.

    ``brainnet.explain.plot_history`` draws it (``matplotlib.figure.Figure``,
    the Agg canvas, no display, no pyplot state) and writes the PNG
    atomically.

    Args:
        history: ``History.history``: ``loss``, ``accuracy``, ``val_loss``, ...
        title: the figure's title (the recipe's name).
        path: the PNG to write.

    Returns:
        ``path``.
    """
    plot_history(history, title, path, metrics=("loss", "accuracy"))
    return path


def write_outputs(model: Model, summary: dict[str, Any], out: Path, x_test: Any = None, y_test: Any = None,
                  probabilities: Any = None) -> list[Path]:
    """Writes the weights, the whole model, ``history.json``, the training
    curves and ``report.html`` into ``out``.

    ``model.brainnet`` (``model.save``) holds the architecture, the weights,
    the compile settings, the optimizer state and, when the recipe set them,
    ``model.preprocessing`` and ``model.class_names``: what
    ``brainnet predict`` needs, and ``load_model`` continues training from.

    ``report.html`` (``brainnet.explain.write_report``) is one page that
    opens offline: the run's figures (the summary's numbers and texts), the
    curves, ``model.summary(show_equations=True)`` and what the test data
    allows: with labels, the confusion matrix over the whole test set and the
    most confident errors; with pictures, saliency (and Grad-CAM for a CNN)
    of the first 4 test inputs; with attention layers, the weights of every
    head for the first test input.

    Args:
        model: the trained model.
        summary: JSON-safe run summary with ``history`` and ``recipe`` keys.
        out: the output folder (created if missing).
        x_test: the test inputs for the report; None: none.
        y_test: their class indices ``(N,)``; None: no labels (the report
            has no confusion matrix and no errors).
        probabilities: ``model.predict(x_test)`` when already computed.

    Returns:
        The paths written: weights, model, history, PNG, report (none in a
        process other than rank 0 under torchrun: it writes nothing).
    """
    from brainnet.distributed import is_main_process

    if not is_main_process():
        return []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights, model_file, history_file = out / WEIGHTS_FILE, out / MODEL_FILE, out / HISTORY_FILE
    model.save_weights(str(weights))
    model.save(str(model_file))
    text = json.dumps(summary, indent=2) + "\n"
    atomic_write(history_file, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    curves = plot_curves(summary["history"], summary["recipe"], out / CURVES_FILE)
    facts = {key: value for key, value in summary.items() if key not in ("recipe", "history")}
    report = write_report(model, summary["history"], x_test, y_test, out / REPORT_FILE,
                          probabilities=probabilities, title=summary["recipe"], facts=facts)
    return [weights, model_file, history_file, curves, report]


def train_classifier(
    config: RunConfig, name: str, model: Model, optimizer: Any, data: Arrays,
    epochs: int, batch_size: int,
) -> dict[str, Any]:
    """Compiles, trains and tests a classifier, prints the test figures and
    writes the outputs: the steps every classifier recipe ends with.

    Sparse categorical cross-entropy and accuracy; ``config.epochs`` epochs
    (else ``epochs``) of ``config.batch_size`` samples (else ``batch_size``),
    10 % of the training data held out for validation, a progress bar per
    epoch; then the test set. Prints ``test accuracy: 0.9912`` and
    ``test loss: ...``, writes the outputs (the report's confusion matrix
    from one ``predict`` over the whole test set) and prints their paths.

    Args:
        config: the run's options.
        name: the recipe's name, recorded and used as the plot's title.
        model: the built, uncompiled model.
        optimizer: a ``brainnet.optimizers`` instance or name.
        data: ``(x_train, y_train), (x_test, y_test)``.
        epochs: the recipe's default number of epochs.
        batch_size: the recipe's default batch size.

    Returns:
        The summary written to ``history.json``.
    """
    (x_train, y_train), (x_test, y_test) = data
    epochs, batch_size = config.epochs or epochs, config.batch_size or batch_size
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], device=config.device)
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
        **run_facts(config, model, batch_size, len(x_train), len(x_test)),
    }
    probabilities = model.predict(x_test, verbose=0)  # for the report's confusion matrix and errors
    for path in write_outputs(model, summary, config.out, x_test, y_test, probabilities):
        print(f"wrote {path}")
    return summary
