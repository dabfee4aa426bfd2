"""The challenge recipe ``mnist-two-input`` (listed in ``challenges.py``):
one functional model fed each digit twice, as two kinds of input. The image
goes to a convolution branch and its columns, read left to right, to an
LSTM branch; ``Concatenate`` joins the two summaries before the softmax
layer, and ``fit([x_image, x_columns], y)`` trains both branches at once.
Each branch is also trained alone, for comparison.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from brainnet import Input, Model
from brainnet.datasets import mnist
from brainnet.layers import LSTM, Concatenate, Conv2D, Dense, Flatten, MaxPooling2D
from brainnet.utils import set_random_seed

from ._common import EpochTimer, RunConfig, load_images, run_facts, write_outputs
from .sequences import cosine_adam

TWO_INPUT_EPOCHS, TWO_INPUT_BATCH_SIZE = 5, 128


def columns(images: np.ndarray) -> np.ndarray:
    """The second view of each digit: its columns, left to right, as a sequence.

    Args:
        images: ``(N, 28, 28, 1)``.

    Returns:
        ``(N, 28, 28)``: ``x[n, t]`` is column ``t`` of image ``n``, its 28
        pixels from top to bottom.
    """
    return np.ascontiguousarray(images[..., 0].transpose(0, 2, 1))  # (N, W, H): time runs along the width


def _image_branch(image: Any) -> Any:
    """Conv2D(32, 3x3) + 2x2 max-pooling, flattened, then 64 ReLU features."""
    x = MaxPooling2D((2, 2))(Conv2D(32, (3, 3), activation="relu")(image))  # (N, 13, 13, 32)
    return Dense(64, activation="relu")(Flatten()(x))  # (N, 64)


def _column_branch(sequence: Any) -> Any:
    """An LSTM reads the 28 columns; its last state h_28 is the summary."""
    return LSTM(64)(sequence)  # (N, 64)


def two_input_model() -> Model:
    """A functional model with two inputs: the image and its columns.

    ::

        image (N, 28, 28, 1) → Conv2D(32) → MaxPooling2D → Flatten → Dense(64)  ─┐
        columns (N, 28, 28)  → LSTM(64): h_28                                   ─┴→ Concatenate (N, 128)
                                                                                    → Dense(10, softmax)

    Train with ``model.fit([x_image, x_columns], y)``: one array per Input,
    in the order of ``inputs=``; the loss's gradient reaches both branches
    through ``Concatenate``.

    Returns:
        A ``Model`` with inputs ``image`` and ``columns`` and 10 softmax
        outputs; 371,594 weights.
    """
    image, sequence = Input(shape=(28, 28, 1), name="image"), Input(shape=(28, 28), name="columns")
    joined = Concatenate()([_image_branch(image), _column_branch(sequence)])  # (N, 64 + 64)
    return Model(inputs=[image, sequence], outputs=Dense(10, activation="softmax")(joined))


def image_branch_model() -> Model:
    """The image branch alone, with its own softmax layer: ``image → ... → Dense(10)``."""
    image = Input(shape=(28, 28, 1), name="image")
    return Model(inputs=image, outputs=Dense(10, activation="softmax")(_image_branch(image)))


def column_branch_model() -> Model:
    """The column branch alone, with its own softmax layer: ``columns → LSTM → Dense(10)``."""
    sequence = Input(shape=(28, 28), name="columns")
    return Model(inputs=sequence, outputs=Dense(10, activation="softmax")(_column_branch(sequence)))


def run_two_input(config: RunConfig) -> dict[str, Any]:
    """Trains the two-input model on MNIST, then each of its branches alone.

    Data: MNIST normalised as the teaching program does (``load_images``,
    ``config.limit`` as usual), each image given twice: as ``(28, 28, 1)``
    pixels and as 28 columns of 28 pixels (``columns``). Training, the same
    for the three models: Adam whose learning rate falls from 0.001 to 0
    along a cosine (``cosine_adam``), batch 128, 5 epochs
    (``config.epochs``, ``config.batch_size`` override them), 10 % held out
    for validation. Prints ``test accuracy: ...`` for the joint model and
    ``test accuracy (image branch alone): ...``,
    ``test accuracy (column branch alone): ...``.

    Writes the joint model's outputs into ``config.out`` (weights,
    ``model.brainnet``, ``history.json`` with the branches' figures too,
    curves, report; the report has no per-picture sections, since each test
    digit is two inputs).

    Args:
        config: the run's options.

    Returns:
        The summary written to ``history.json``.

    Raises:
        DatasetNotFoundError: MNIST is nowhere (see ``load_images``).
    """
    (x_train, y_train), (x_test, y_test) = load_images(mnist, "mnist", config.data_dir, config.limit)
    epochs, batch_size = config.epochs or TWO_INPUT_EPOCHS, config.batch_size or TWO_INPUT_BATCH_SIZE
    variants: tuple[tuple[str, Callable[[], Model], Callable[[np.ndarray], Any]], ...] = (
        ("joint", two_input_model, lambda x: [x, columns(x)]),  # one array per Input, in order
        ("image branch alone", image_branch_model, lambda x: x),
        ("column branch alone", column_branch_model, columns),
    )
    runs, models = {}, {}
    for variant, build, view in variants:
        print(f"--- {variant}: {build.__name__}()")
        set_random_seed(config.seed)
        models[variant] = model = build()
        model.compile(optimizer=cosine_adam(len(x_train), epochs, batch_size),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"], device=config.device)
        timer, start = EpochTimer(), time.perf_counter()
        history = model.fit(view(x_train), y_train, epochs=epochs, batch_size=batch_size,
                            validation_split=0.1, callbacks=[timer])
        fit_seconds = time.perf_counter() - start  # fit's wall time, validation included
        loss, accuracy = model.evaluate(view(x_test), y_test, verbose=0)
        runs[variant] = {
            "history": {key: [float(v) for v in values] for key, values in history.history.items()},
            "epochs": len(timer.seconds),
            "seconds_per_epoch": timer.seconds,
            "fit_seconds": fit_seconds,
            "test_loss": float(loss),
            "test_accuracy": float(accuracy),
            "parameters": int(sum(p.numel() for p in model.parameters())),
        }
    joint = runs["joint"]
    for variant in ("image branch alone", "column branch alone"):
        print(f"test accuracy ({variant}): {runs[variant]['test_accuracy']:.4f}")
    print(f"test accuracy: {joint['test_accuracy']:.4f}")
    print(f"test loss: {joint['test_loss']:.4f}")

    model = models["joint"]
    model.class_names = list(mnist.CLASS_NAMES)
    summary = {
        "recipe": "mnist-two-input",
        **joint,
        "image_branch_test_accuracy": runs["image branch alone"]["test_accuracy"],
        "column_branch_test_accuracy": runs["column branch alone"]["test_accuracy"],
        "branches": {"image": runs["image branch alone"], "columns": runs["column branch alone"]},
        **run_facts(config, model, batch_size, len(x_train), len(x_test)),
    }
    for path in write_outputs(model, summary, Path(config.out)):
        print(f"wrote {path}")
    return summary
