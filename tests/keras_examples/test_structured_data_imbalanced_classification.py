"""keras.io example "Imbalanced classification: credit card fraud detection"
(https://keras.io/examples/structured_data/imbalanced_classification/), its
Keras 3 version, ported as a learner would: ``import brainnet as keras`` in
place of ``import keras``, the user code otherwise as the example writes it
(its CSV loop, NumPy normalization, Dense/Dropout model, the six confusion
metrics, ``class_weight`` and ``ModelCheckpoint``).

Replaced: Kaggle's creditcard.csv (284,807 card transactions, 0.17 % fraud)
cannot be downloaded here, so the test writes a creditcard.csv of the same
layout ("Time", "V1" … "V28", "Amount", quoted "Class") with 12,000 rows
whose 2 % of frauds follow a hidden rule: a linear score of seven of the
V columns plus Gaussian noise above its 98th percentile (so no model can
find every fraud), "Time" counting up and "Amount" log-normal as in the
real file. Shortened for CI: 8 epochs in place of 30 (the example's
batches of 2,048 kept: 5 steps an epoch); ``verbose=0`` and no prints.

Each test names the section it runs and checks what it computes: the
parsed CSV and the class counts; the normalization; the model's size and
summary; ``class_weight`` weighting one batch's loss as Keras 3 does
(Σ_i w_{y_i} · BCE_i / N, against NumPy); the four counts, precision and
recall that fit reports, against NumPy counts of the predictions, and its
validation loss, which the class weights leave unweighted as in Keras; the
checkpoint of each epoch, saved and loaded with the same predictions; and
the example's conclusion, that the class weights raise the recall of the
rare class far above the same model's trained without them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras

ROWS, FRAUD_RATE, EPOCHS = 12_000, 0.02, 8


def _write_creditcard_csv(path):
    """A creditcard.csv in Kaggle's layout with frauds from a hidden noisy rule."""
    rng = np.random.default_rng(7)
    v = rng.normal(size=(ROWS, 28))
    hidden = np.zeros(28)
    hidden[[0, 2, 3, 9, 11, 13, 16]] = [1.0, -0.8, 0.7, -1.2, 0.9, -0.6, 0.5]
    score = v @ hidden + 0.4 * rng.normal(size=ROWS)
    fraud = score > np.quantile(score, 1 - FRAUD_RATE)
    time = np.cumsum(rng.exponential(8.0, size=ROWS)).round()
    amount = np.exp(rng.normal(3.0, 1.2, size=ROWS)).round(2)
    with open(path, "w") as f:
        f.write(",".join(['"Time"', *[f'"V{i}"' for i in range(1, 29)], '"Amount"', '"Class"']) + "\n")
        for i in range(ROWS):
            f.write(",".join([f"{time[i]:.0f}", *[f"{x:.6f}" for x in v[i]], f"{amount[i]:.2f}",
                              f'"{int(fraud[i])}"']) + "\n")
    return fraud


@pytest.fixture(scope="module")
def csv_file(tmp_path_factory):
    fname = tmp_path_factory.mktemp("fraud") / "creditcard.csv"
    fraud = _write_creditcard_csv(fname)
    return fname, fraud


def _vectorize(fname):
    """Section "First, vectorize the CSV data", as the example writes it (prints left out)."""
    all_features = []
    all_targets = []
    with open(fname) as f:
        for i, line in enumerate(f):
            if i == 0:
                continue  # Skip header
            fields = line.strip().split(",")
            all_features.append([float(v.replace('"', "")) for v in fields[:-1]])
            all_targets.append([int(fields[-1].replace('"', ""))])

    features = np.array(all_features, dtype="float32")
    targets = np.array(all_targets, dtype="uint8")
    return features, targets


def _prepare(features, targets):
    """Sections "Prepare a validation set", "Analyze class imbalance in the targets"
    and "Normalize the data using training set statistics"."""
    num_val_samples = int(len(features) * 0.2)
    train_features = features[:-num_val_samples]
    train_targets = targets[:-num_val_samples]
    val_features = features[-num_val_samples:]
    val_targets = targets[-num_val_samples:]

    counts = np.bincount(train_targets[:, 0])
    weight_for_0 = 1.0 / counts[0]
    weight_for_1 = 1.0 / counts[1]

    mean = np.mean(train_features, axis=0)
    train_features -= mean
    val_features -= mean
    std = np.std(train_features, axis=0)
    train_features /= std
    val_features /= std
    return train_features, train_targets, val_features, val_targets, counts, {0: weight_for_0, 1: weight_for_1}


@pytest.fixture(scope="module")
def data(csv_file):
    features, targets = _vectorize(csv_file[0])
    return _prepare(features, targets)


def _model(input_shape, width=256):
    """Section "Build a binary classification model"."""
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )


def _metrics():
    return [
        keras.metrics.FalseNegatives(name="fn"),
        keras.metrics.FalsePositives(name="fp"),
        keras.metrics.TrueNegatives(name="tn"),
        keras.metrics.TruePositives(name="tp"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
    ]


def test_the_csv_is_vectorized_split_and_normalized(csv_file, data):
    """Sections "First, vectorize the CSV data" to "Normalize the data using training set statistics"."""
    fname, fraud = csv_file
    features, targets = _vectorize(fname)
    assert features.shape == (ROWS, 30) and features.dtype == np.float32
    assert targets.shape == (ROWS, 1) and targets.dtype == np.uint8
    np.testing.assert_array_equal(targets[:, 0], fraud)
    train_features, train_targets, val_features, val_targets, counts, class_weight = data
    assert len(val_features) == int(ROWS * 0.2) and len(train_features) == ROWS - int(ROWS * 0.2)
    assert counts.tolist() == [np.sum(~fraud[:len(train_targets)]), np.sum(fraud[:len(train_targets)])]
    assert 0.01 < counts[1] / counts.sum() < 0.03  # a rare class
    assert class_weight == {0: 1.0 / counts[0], 1: 1.0 / counts[1]}
    # training statistics: the training columns have mean 0 and standard deviation 1, validation's only about
    np.testing.assert_allclose(train_features.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(train_features.std(axis=0), 1.0, rtol=1e-4)
    raw_val = features[-len(val_features):]
    np.testing.assert_allclose(val_features, (raw_val - features[:len(train_features)].mean(0))
                               / features[:len(train_features)].std(0), rtol=1e-3, atol=1e-3)


def test_the_model_has_the_examples_layers(data, capsys):
    """Section "Build a binary classification model": model.summary()."""
    model = _model(data[0].shape[1:])
    model.summary()
    printed = capsys.readouterr().out
    assert printed.count("Dense") == 4 and printed.count("Dropout") == 2
    assert model.count_params() == (30 * 256 + 256) + 2 * (256 * 256 + 256) + (256 + 1)
    assert f"{model.count_params():,}" in printed
    with torch.no_grad():
        p = model(torch.from_numpy(data[2][:64]))
    assert p.shape == (64, 1) and bool(((p > 0) & (p < 1)).all())  # a sigmoid probability per transaction


def test_class_weight_weights_one_batch_loss_as_keras_does(data):
    """Section "Train the model with class_weight argument": the loss of one
    step is Σ_i w_{y_i} · BCE(y_i, ŷ_i) / N (Keras 3's sum over the batch size,
    not a mean over the weights), ŷ the dropout forward pass of that step."""
    train_features, train_targets, _, _, _, class_weight = data
    keras.utils.set_random_seed(0)
    model = _model(train_features.shape[1:])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=_metrics())
    x, y = train_features[:2048], train_targets[:2048]
    assert 0 < y.sum() < len(y)
    keras.utils.set_random_seed(3)
    with torch.no_grad():
        p = model(torch.from_numpy(x), training=True).double().numpy()  # the step's dropout masks, drawn again
    keras.utils.set_random_seed(3)
    loss = model.train_on_batch(x, y, class_weight=class_weight)[0]
    p = np.clip(p, 1e-7, 1 - 1e-7)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    w = np.where(y[:, 0] == 1, class_weight[1], class_weight[0])
    assert loss == pytest.approx(np.sum(w * bce) / len(y), rel=1e-5)
    assert loss != pytest.approx(bce.mean(), rel=1e-2)  # the weights changed it


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    """Section "Train the model with class_weight argument", and the same model trained without."""
    train_features, train_targets, val_features, val_targets, _, class_weight = data
    out = tmp_path_factory.mktemp("checkpoints")
    runs = {}
    for name, weights in (("weighted", class_weight), ("unweighted", None)):
        keras.utils.set_random_seed(1)
        model = _model(train_features.shape[1:])
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=_metrics())
        callbacks = [keras.callbacks.ModelCheckpoint(str(out / f"{name}_fraud_model_at_epoch_{{epoch}}.keras"))]
        history = model.fit(
            train_features,
            train_targets,
            batch_size=2048,
            epochs=EPOCHS,
            verbose=0,
            callbacks=callbacks,
            validation_data=(val_features, val_targets),
            class_weight=weights,
        )
        runs[name] = model, history
    return runs, out


def _np_counts(y, p):
    said, truth = p[:, 0] > 0.5, y[:, 0] != 0
    return {"tp": np.sum(said & truth), "fp": np.sum(said & ~truth), "tn": np.sum(~said & ~truth),
            "fn": np.sum(~said & truth)}


def test_fit_reports_the_counts_precision_and_recall_of_the_validation_set(data, trained):
    """Section "Train the model with class_weight argument": the logs, and the checkpoints."""
    _, _, val_features, val_targets, _, _ = data
    model, history = trained[0]["weighted"]
    keys = ["fn", "fp", "tn", "tp", "precision", "recall"]
    assert sorted(history.history) == sorted(["loss", *keys, *[f"val_{k}" for k in keys], "val_loss"])
    loss = history.history["loss"]
    assert loss[-1] < loss[0]
    # the last epoch's validation logs are the final model's counts on the validation set
    p = model.predict(val_features, verbose=0)
    want = _np_counts(val_targets, p)
    for k in ("tp", "fp", "tn", "fn"):
        assert history.history[f"val_{k}"][-1] == want[k]
    assert want["tp"] + want["fn"] == val_targets.sum()
    # class_weight weighs the training loss only: val_loss is the plain mean BCE, as in Keras
    q = np.clip(p.astype("float64"), 1e-7, 1 - 1e-7)
    plain = np.mean(-(val_targets * np.log(q) + (1 - val_targets) * np.log(1 - q)))
    assert history.history["val_loss"][-1] == pytest.approx(plain, rel=1e-4)
    assert history.history["val_precision"][-1] == pytest.approx(want["tp"] / (want["tp"] + want["fp"]))
    assert history.history["val_recall"][-1] == pytest.approx(want["tp"] / (want["tp"] + want["fn"]))
    # a training epoch's counts cover its 9,600 transactions once
    assert sum(history.history[k][-1] for k in ("tp", "fp", "tn", "fn")) == len(data[0])
    evaluated = model.evaluate(val_features, val_targets, verbose=0)
    assert evaluated[1:5] == [want["fn"], want["fp"], want["tn"], want["tp"]]


def test_each_epoch_is_checkpointed_and_the_last_loads_with_the_same_predictions(data, trained):
    """Section "Train the model with class_weight argument": ModelCheckpoint("fraud_model_at_epoch_{epoch}.keras")."""
    runs, out = trained
    model = runs["weighted"][0]
    saved = sorted(p.name for p in out.glob("weighted_fraud_model_at_epoch_*.keras"))
    assert saved == sorted(f"weighted_fraud_model_at_epoch_{e}.keras" for e in range(1, EPOCHS + 1))
    loaded = keras.models.load_model(out / f"weighted_fraud_model_at_epoch_{EPOCHS}.keras")
    x = data[2][:500]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    first = keras.models.load_model(out / "weighted_fraud_model_at_epoch_1.keras")
    assert not np.allclose(first.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)


def test_class_weights_raise_the_recall_of_the_rare_class(data, trained):
    """Section "Conclusions": weighted by the inverse class counts, the model finds
    most frauds at the cost of false alarms; the same model without the weights misses most."""
    _, _, val_features, val_targets, _, _ = data
    runs, _ = trained
    found = {}
    for name, (model, _) in runs.items():
        found[name] = _np_counts(val_targets, model.predict(val_features, verbose=0))
    weighted, unweighted = found["weighted"], found["unweighted"]
    recall = {k: c["tp"] / (c["tp"] + c["fn"]) for k, c in found.items()}
    assert recall["weighted"] > 0.5
    assert recall["weighted"] > recall["unweighted"] + 0.25
    assert weighted["fp"] > unweighted["fp"]  # the cost the example names: more legitimate ones flagged
