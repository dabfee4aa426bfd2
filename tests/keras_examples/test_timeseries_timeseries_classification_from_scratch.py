"""keras.io example "Timeseries classification from scratch"
(https://keras.io/examples/timeseries/timeseries_classification_from_scratch/),
ported as a learner would: ``import brainnet as keras`` in place of
``from tensorflow import keras``, the rest as written. The stored copy is the
tf.keras version; its checkpoint is named ``best_model.keras`` as in the
Keras 3 version (brainnet, like Keras 3, writes no legacy ``.h5`` model).

FordA (engine-noise recordings downloaded from GitHub) is replaced by a
labelled univariate series set made in NumPy (``_forda_like.py``), with
FordA's layout: one row per series, the label in the first column as -1 or
1, each series z-normalized. Class -1 is a noisy sine, class 1 a noisy
square wave of the same random frequency and phase (``sign(sin)``), so the
classes differ in shape, not in scale. Shortened for CI: 800 training and 400 test series of
176 steps (FordA: 3,601 and 1,320 of 500), 20 epochs in place of 500 (the
callbacks kept, with their patiences). The plots are left out. The
training accuracy is near 1 after two epochs, but the validation accuracy
stays near chance for about a dozen: BatchNormalization's moving statistics
(momentum 0.99, 20 steps an epoch) take that long to reach the batches'
own, which is why the example trains for hundreds of epochs with a
patient early stop.

Each test names the section it runs and checks what it computes: the
readucr/reshape/relabel steps against the raw table, the model's summary
and parameter count, and training: the checkpoint that ``save_best_only``
kept has the lowest validation loss of the history, and the loaded model's
test accuracy, checked against its predictions in NumPy, is far above
chance.
"""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras

from . import _forda_like as forda_like

STEPS = forda_like.STEPS


def readucr(filename):
    data = np.loadtxt(filename, delimiter="\t")
    y = data[:, 0]
    x = data[:, 1:]
    return x, y.astype(int)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Sections "Load the data" and "Standardize the data", as written, on
    TSV files written by the test in FordA's format."""
    folder = tmp_path_factory.mktemp("FordA")
    train_table, _ = forda_like.write_tsv(folder)

    x_train, y_train = readucr(str(folder / "FordA_TRAIN.tsv"))
    x_test, y_test = readucr(str(folder / "FordA_TEST.tsv"))
    classes = np.unique(np.concatenate((y_train, y_test), axis=0))

    x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
    x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))
    num_classes = len(np.unique(y_train))

    np.random.seed(1337)
    idx = np.random.permutation(len(x_train))
    x_train = x_train[idx]
    y_train = y_train[idx]

    y_train[y_train == -1] = 0
    y_test[y_test == -1] = 0
    return dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=classes,
                num_classes=num_classes, idx=idx, train_table=train_table)


def make_model(input_shape, num_classes):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(input_layer)
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv1)
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(conv2)
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


def test_the_data_are_read_reshaped_shuffled_and_relabelled_as_the_example_does(data):
    """Sections "Load the data", "Standardize the data": readucr splits the
    label column off, the series get one channel, the shuffle keeps each
    series with its label, and -1 becomes 0."""
    x_train, y_train, table = data["x_train"], data["y_train"], data["train_table"]
    assert x_train.shape == (800, STEPS, 1) and data["x_test"].shape == (400, STEPS, 1)
    assert list(data["classes"]) == [-1, 1] and data["num_classes"] == 2
    raw = table[data["idx"]]
    np.testing.assert_allclose(x_train[..., 0], raw[:, 1:], rtol=1e-12)
    np.testing.assert_array_equal(y_train, (raw[:, 0] == 1).astype(int))
    # z-normalized, as FordA is: each series has mean 0 and standard deviation 1
    np.testing.assert_allclose(x_train.mean(axis=1), 0, atol=1e-9)
    np.testing.assert_allclose(x_train.std(axis=1), 1, rtol=1e-9)
    assert set(np.unique(data["y_test"])) == {0, 1}


def test_the_fully_convolutional_network_has_the_examples_shapes_and_parameters(data):
    """Section "Build a model": the summary of ``make_model``."""
    model = make_model(input_shape=data["x_train"].shape[1:], num_classes=data["num_classes"])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert text.count(f"(None, {STEPS}, 64)") == 9  # three times conv, batch norm and ReLU
    assert text.index("(None, 64)") < text.index("(None, 2)")
    conv = [(3 * 1 + 1) * 64, (3 * 64 + 1) * 64, (3 * 64 + 1) * 64]
    batch_norm = 3 * 4 * 64  # gamma, beta, moving mean, moving variance
    assert model.count_params() == sum(conv) + batch_norm + (64 + 1) * 2 == 25_858
    assert "Total params: 25,858" in lines
    assert "Non-trainable params: 384" in lines  # the moving statistics


def test_training_keeps_the_best_checkpoint_and_it_classifies_the_test_series(data, tmp_path, monkeypatch):
    """Sections "Train the model" and "Evaluate model on test data"."""
    monkeypatch.chdir(tmp_path)
    x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    keras.utils.set_random_seed(1337)
    model = make_model(input_shape=x_train.shape[1:], num_classes=data["num_classes"])

    epochs = 20
    batch_size = 32

    callbacks = [
        keras.callbacks.ModelCheckpoint(
            "best_model.keras", save_best_only=True, monitor="val_loss"
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=20, min_lr=0.0001
        ),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=1),
    ]
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=batch_size,
        epochs=epochs,
        callbacks=callbacks,
        validation_split=0.2,
        verbose=0,
    )
    assert len(history.history["loss"]) == epochs  # no early stop within the patience
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["sparse_categorical_accuracy"][-1] > history.history["sparse_categorical_accuracy"][0]

    model = keras.models.load_model("best_model.keras")

    # the kept model is the epoch of least validation loss (the last 20 % of the arrays)
    x_val, y_val = x_train[640:], y_train[640:]
    val_loss, _ = model.evaluate(x_val, y_val, verbose=0)
    assert val_loss == pytest.approx(min(history.history["val_loss"]), rel=1e-4)

    test_loss, test_acc = model.evaluate(x_test, y_test)
    p = model.predict(x_test, verbose=0).astype("float64")
    assert test_acc == pytest.approx(np.mean(p.argmax(axis=1) == y_test))
    assert test_loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y_test)), y_test])), rel=1e-4)
    assert test_acc > 0.85  # chance is 0.5
