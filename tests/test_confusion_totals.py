"""TruePositives, FalsePositives, TrueNegatives and FalseNegatives against a
naive NumPy count (a loop over the values), streamed over batches, with and
without weights, at several thresholds; their documented examples; errors;
compile by class name, fit, evaluate, reset and save/load."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import brainnet
import brainnet._confusion_totals
from brainnet import metrics
from brainnet.layers import Dense
from brainnet.models import Sequential

COUNTS = {"tp": metrics.TruePositives, "fp": metrics.FalsePositives,
          "tn": metrics.TrueNegatives, "fn": metrics.FalseNegatives}


def np_count(kind, y, p, w, t):
    """One confusion count by a loop: a prediction is positive when p > t, a label when y ≠ 0."""
    total = 0.0
    for yj, pj, wj in zip(np.ravel(y), np.ravel(p), np.ravel(w)):
        said, truth = pj > t, yj != 0
        total += wj * {"tp": said and truth, "fp": said and not truth,
                       "tn": not said and not truth, "fn": not said and truth}[kind]
    return total


def test_the_documented_examples_run():
    failures, tried = doctest.testmod(brainnet._confusion_totals)
    assert tried == 12 and failures == 0


@pytest.mark.parametrize("kind", sorted(COUNTS))
@pytest.mark.parametrize("threshold", [None, 0.0, 0.25, 0.875])  # exact in float32
@pytest.mark.parametrize("weighted", [False, True])
def test_counts_stream_over_batches_like_numpy(kind, threshold, weighted):
    rng = np.random.default_rng(3)
    m = COUNTS[kind](thresholds=threshold)
    ys, ps, ws = [], [], []
    for size in (7, 1, 12):
        y = rng.integers(0, 2, size=(size, 1)).astype("float32")
        p = rng.uniform(size=(size, 1)).astype("float32")
        p[0, 0] = 0.5 if threshold is None else threshold  # on the threshold: not above it, so negative
        w = rng.uniform(0, 3, size=size).astype("float32") if weighted else np.ones(size, "float32")
        m.update_state(y, p, sample_weight=w if weighted else None)
        ys.append(y), ps.append(p), ws.append(w)
    want = np_count(kind, np.concatenate(ys), np.concatenate(ps), np.concatenate(ws),
                    0.5 if threshold is None else threshold)
    assert m.result() == pytest.approx(want, rel=1e-6)
    m.reset_state()
    assert m.result() == 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_prediction_equal_to_the_threshold_in_float32_is_not_above_it(dtype):
    """Keras casts predictions and thresholds to float32 before ŷ > t: float32(0.3), which is
    0.3000000119, is not above the threshold 0.3 (compared in float64 it would be)."""
    y, p = np.array([[1], [1], [0]]), np.array([[0.3], [0.7], [0.3]], dtype=dtype)
    assert float(np.float32(0.3)) > 0.3
    tp, fp = metrics.TruePositives(thresholds=0.3), metrics.FalsePositives(thresholds=0.3)
    precision, recall = metrics.Precision(thresholds=0.3), metrics.Recall(thresholds=0.3)
    for m in (tp, fp, precision, recall):
        m.update_state(y, p)
    assert (tp.result(), fp.result(), precision.result(), recall.result()) == (1.0, 0.0, 1.0, 0.5)


def test_the_four_counts_add_up_to_the_values_seen():
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 2, size=(50, 3)), rng.uniform(size=(50, 3))  # three sigmoid outputs: every value counts
    results = {}
    for kind, cls in COUNTS.items():
        m = cls()
        m.update_state(y, p)
        results[kind] = m.result()
        assert m.result() == np_count(kind, y, p, np.ones(y.size), 0.5)
    assert sum(results.values()) == y.size
    assert results["tp"] + results["fn"] == y.sum()


@pytest.mark.parametrize("cls", list(COUNTS.values()))
def test_names_and_configs_are_keras_3s(cls):
    m = cls(thresholds=0.25, name="mine")
    assert m.get_config() == {"thresholds": 0.25, "name": "mine"}
    again = cls(**m.get_config())
    assert (again.name, again.thresholds) == ("mine", 0.25)
    snake = {"TruePositives": "true_positives", "FalsePositives": "false_positives",
             "TrueNegatives": "true_negatives", "FalseNegatives": "false_negatives"}[cls.__name__]
    assert cls().name == snake
    assert isinstance(metrics.get(cls.__name__), cls)  # by class name, as Keras 3 takes it


@pytest.mark.parametrize("make, match", [
    (lambda: metrics.TruePositives(thresholds=[0.3, 0.6]),
     r"TruePositives: expected thresholds to be one number .* got \[0.3, 0.6\]\. Fix: one metric per threshold"),
    (lambda: metrics.FalseNegatives(thresholds=1.5),
     r"FalseNegatives: expected thresholds to be a number in \[0, 1\], got 1.5\. Fix: FalseNegatives\(thresholds=0.5\)"),
])
def test_constructor_errors_say_what_and_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_labels_of_another_shape_are_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"metric false_positives: expected labels shaped like the predictions "
                                         r"\(4, 1\).*got \(8,\)\. Fix:"):
        metrics.FalsePositives().update_state(np.zeros(8), np.zeros((4, 1)))


def test_compile_fit_evaluate_and_save_report_the_counts(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] + 0.3 * rng.normal(size=(64, 1)) > 0).astype("float32")
    brainnet.utils.set_random_seed(0)
    model = Sequential([brainnet.Input(shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["TruePositives", metrics.FalsePositives(name="fp"), metrics.TrueNegatives(),
                           metrics.FalseNegatives(thresholds=0.7)])
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=(x, y), verbose=0)
    assert sorted(history.history) == sorted(
        ["loss", "TruePositives", "fp", "true_negatives", "false_negatives",
         "val_loss", "val_TruePositives", "val_fp", "val_true_negatives", "val_false_negatives"])
    # each epoch's counts are over that epoch's 64 samples, not added up over epochs
    assert history.history["TruePositives"][1] + history.history["fp"][1] + history.history["true_negatives"][1] <= 64
    p = model.predict(x, verbose=0)
    got = model.evaluate(x, y, verbose=0)
    want = [np_count("tp", y, p, np.ones(64), 0.5), np_count("fp", y, p, np.ones(64), 0.5),
            np_count("tn", y, p, np.ones(64), 0.5), np_count("fn", y, p, np.ones(64), 0.7)]
    assert got[1:] == want
    assert history.history["val_TruePositives"][-1] == want[0]
    path = tmp_path / "counts.keras"
    model.save(path)
    loaded = brainnet.models.load_model(path)
    assert loaded.evaluate(x, y, verbose=0)[1:] == want
