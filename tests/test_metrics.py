"""Metrics on hand-made examples: the accuracy variants, metrics.get picking
the variant from the loss, the weighted mean over update_state calls, and
reset_state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import losses, metrics


def t(values, dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


# Predictions whose argmax is [0, 2, 2, 1].
PRED = t([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
LABELS = [0, 1, 2, 1]  # 3 of 4 right


# ------------------------------------------------------------ variants
@pytest.mark.parametrize(
    "y_true",
    [t(LABELS, torch.int64), t([[v] for v in LABELS], torch.int64), t(LABELS)],
    ids=["int (N,)", "int (N,1)", "float (N,)"],
)
def test_sparse_categorical_accuracy(y_true):
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(y_true, PRED)
    assert m.result() == 0.75


def test_categorical_accuracy():
    one_hot = torch.nn.functional.one_hot(t(LABELS, torch.int64), 3).to(torch.float64)
    m = metrics.CategoricalAccuracy()
    m.update_state(one_hot, PRED)
    assert m.result() == 0.75


def test_accuracy_on_logits_equals_on_probabilities():
    logits = torch.log(PRED) + 3.0
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(t(LABELS, torch.int64), logits)
    assert m.result() == 0.75
    assert metrics.SparseCategoricalAccuracy.argmax_invariant
    assert metrics.CategoricalAccuracy.argmax_invariant
    assert not metrics.BinaryAccuracy.argmax_invariant


def test_binary_accuracy_threshold():
    y_pred = t([[0.6], [0.4], [0.5], [0.9]])
    y_true = t([[1], [0], [1], [0]])
    m = metrics.BinaryAccuracy()
    m.update_state(y_true, y_pred)
    # 0.6 → 1 ✓; 0.4 → 0 ✓; 0.5 is not > 0.5 → 0 ✗; 0.9 → 1 ✗
    assert m.result() == 0.5
    m = metrics.BinaryAccuracy(threshold=0.45)
    m.update_state(y_true, y_pred)
    # now 0.5 → 1 ✓: 3 of 4
    assert m.result() == 0.75


def test_binary_accuracy_labels_of_shape_n():
    m = metrics.BinaryAccuracy()
    m.update_state(t([1, 0, 1], torch.int64), t([[0.7], [0.2], [0.1]]))
    assert m.result() == pytest.approx(2 / 3, abs=1e-15)


def test_binary_accuracy_several_outputs_counts_each_output():
    m = metrics.BinaryAccuracy()
    m.update_state(t([[1, 0], [0, 0]]), t([[0.9, 0.8], [0.1, 0.2]]))
    assert m.result() == 0.75


def test_exact_accuracy_and_errors():
    m = metrics.Accuracy()
    m.update_state(t([1, 2, 3, 4]), t([1, 2, 0, 4]))
    assert m.result() == 0.75
    mse = metrics.MeanSquaredError()
    mse.update_state(t([[1.0, 2.0]]), t([[2.0, 4.0]]))
    assert mse.result() == 2.5  # (1 + 4)/2
    mae = metrics.MeanAbsoluteError()
    mae.update_state(t([[1.0, 2.0]]), t([[2.0, 4.0]]))
    assert mae.result() == 1.5


# --------------------------------------------------- weighted mean / reset
def test_result_is_weighted_mean_over_updates():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(t(LABELS, torch.int64), PRED)  # 3/4
    m.update_state(t([1, 1], torch.int64), t([[0.9, 0.1], [0.6, 0.4]]))  # 0/2
    # 3 right of 6 = 0.5, not the mean of the batch means (0.75 + 0)/2 = 0.375
    assert m.result() == 0.5


def test_reset_state():
    m = metrics.CategoricalAccuracy()
    assert m.result() == 0.0  # nothing seen yet
    m.update_state(t([[1, 0]]), t([[0.2, 0.8]]))
    assert m.result() == 0.0
    m.reset_state()
    assert m.result() == 0.0
    m.update_state(t([[1, 0], [0, 1]]), t([[0.7, 0.3], [0.1, 0.9]]))
    assert m.result() == 1.0  # the earlier wrong sample no longer counts


def test_total_is_one_float64_tensor_added_to_in_place():
    # A training step captured as a CUDA graph keeps adding to the tensor it saw.
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(t([1, 0]), t([[0.2, 0.8], [0.3, 0.7]]))
    total = m.total
    assert total.dtype == torch.float64 and total.dim() == 0
    m.update_state(t([1]), t([[0.1, 0.9]]))
    m.reset_state()
    assert m.total is total and m.count == 0 and m.result() == 0.0
    m.update_state(t([0, 0, 1]), t([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]]))
    assert m.total is total and m.count == 3 and m.result() == pytest.approx(2 / 3)
    m.total = torch.tensor(5.0, dtype=torch.float64)  # set from elsewhere (a restored backup)
    m.update_state(t([1]), t([[0.1, 0.9]]))
    assert m.result() == 1.5


def test_a_total_made_under_inference_mode_is_replaced_outside_it():
    m = metrics.SparseCategoricalAccuracy()
    with torch.inference_mode():  # e.g. evaluate called inside it
        m.update_state(t([1]), t([[0.1, 0.9]]))
    m.reset_state()  # in place would raise: an inference tensor outside inference mode
    m.update_state(t([0]), t([[0.1, 0.9]]))
    assert m.result() == 0.0 and m.count == 1


def test_mean_metric_weights():
    m = metrics.Mean()
    m.update_state(t(2.0), 3)
    m.update_state(t(4.0), 1)
    assert m.result() == 2.5  # (2·3 + 4·1)/4
    m.update_state(t([1.0, 3.0]), 2)  # several values: each counts weight times
    assert m.result() == pytest.approx((2 * 3 + 4 + 2 * 4) / 8)
    m.reset_state()
    m.update_state(t(7.0))
    assert m.result() == 7.0


# ------------------------------------------------------------------- get
@pytest.mark.parametrize(
    "loss, cls",
    [
        (losses.SparseCategoricalCrossentropy(), metrics.SparseCategoricalAccuracy),
        (losses.get("sparse_categorical_crossentropy"), metrics.SparseCategoricalAccuracy),
        (losses.CategoricalCrossentropy(from_logits=True), metrics.CategoricalAccuracy),
        (losses.BinaryCrossentropy(), metrics.BinaryAccuracy),
    ],
)
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_get_accuracy_picks_variant_from_loss(loss, cls, name):
    m = metrics.get(name, loss)
    assert type(m) is cls
    assert m.name == name


def test_get_accuracy_for_other_losses_uses_shapes():
    mse = losses.get("mse")
    assert type(metrics.get("accuracy", mse, output_units=1)) is metrics.BinaryAccuracy
    assert type(metrics.get("accuracy", mse, output_units=3, label_rank_lower=True)) is (
        metrics.SparseCategoricalAccuracy
    )
    assert type(metrics.get("accuracy", mse, output_units=3)) is metrics.CategoricalAccuracy
    assert type(metrics.get("accuracy")) is metrics.CategoricalAccuracy


@pytest.mark.parametrize(
    "name, cls, metric_name",
    [
        ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy, "sparse_categorical_accuracy"),
        ("categorical_accuracy", metrics.CategoricalAccuracy, "categorical_accuracy"),
        ("binary_accuracy", metrics.BinaryAccuracy, "binary_accuracy"),
        ("mse", metrics.MeanSquaredError, "mse"),
        ("mean_absolute_error", metrics.MeanAbsoluteError, "mean_absolute_error"),
        ("mae", metrics.MeanAbsoluteError, "mae"),
    ],
)
def test_get_by_name(name, cls, metric_name):
    m = metrics.get(name)
    assert type(m) is cls
    assert m.name == metric_name


def test_get_instance_and_function():
    inst = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(inst) is inst

    def top_is_zero(y_true, y_pred):
        return (y_pred.argmax(-1) == 0).to(torch.float64)

    m = metrics.get(top_is_zero)
    assert m.name == "top_is_zero"
    m.update_state(t([0, 0, 0, 0], torch.int64), PRED)
    assert m.result() == 0.25


def test_get_metric_class_instantiates_it():
    m = metrics.get(metrics.SparseCategoricalAccuracy)
    assert type(m) is metrics.SparseCategoricalAccuracy
    m.update_state(t(LABELS, torch.int64), PRED)
    assert m.result() == 0.75


def test_get_unknown_name_suggests_closest():
    with pytest.raises(
        ValueError,
        match=r"Unknown metric 'accurcy'\. Expected one of: accuracy, sparse_categorical_accuracy, .*, a "
        r"brainnet\.metrics\.Metric, or a function fn\(y_true, y_pred\)\. Fix: metrics=\['accuracy'\]\.",
    ):
        metrics.get("accurcy")


# ------------------------------------------------ Keras 3's class names as strings
@pytest.mark.parametrize(
    "name, cls",
    [
        ("SparseCategoricalAccuracy", metrics.SparseCategoricalAccuracy),
        ("CategoricalAccuracy", metrics.CategoricalAccuracy),
        ("BinaryAccuracy", metrics.BinaryAccuracy),
        ("MeanSquaredError", metrics.MeanSquaredError),
        ("MeanAbsoluteError", metrics.MeanAbsoluteError),
        ("MSE", metrics.MeanSquaredError),
        ("MAE", metrics.MeanAbsoluteError),
    ],
)
def test_get_by_keras_class_name_keeps_the_name_given(name, cls):
    m = metrics.get(name)
    assert type(m) is cls and m.name == name  # Keras 3: the string is the metric's name


def test_class_name_metric_computes_as_the_class():
    m = metrics.get("SparseCategoricalAccuracy")
    m.update_state(t(LABELS, torch.int64), PRED)
    assert m.result() == 0.75


@pytest.mark.parametrize("name", ["Accuracy", "ACC", "acc"])
def test_accuracy_in_any_case_picks_the_variant_of_the_loss(name):
    """Keras 3 compares str(identifier).lower() with 'accuracy'/'acc'."""
    m = metrics.get(name, losses.SparseCategoricalCrossentropy())
    assert type(m) is metrics.SparseCategoricalAccuracy and m.name == name


def test_get_unknown_class_name_suggests_the_spelling():
    with pytest.raises(
        ValueError,
        match=r"Unknown metric 'SparseCategoricalAccurcy'\. Expected one of: accuracy, .*SparseCategoricalAccuracy.* "
        r"\(case-sensitive, as in Keras\), a brainnet\.metrics\.Metric, or a function fn\(y_true, y_pred\)\. "
        r"Fix: metrics=\['SparseCategoricalAccuracy'\]\.",
    ):
        metrics.get("SparseCategoricalAccurcy")


def test_compile_with_keras_class_names_trains_reports_and_saves(tmp_path):
    import numpy as np

    import brainnet
    from brainnet.layers import Dense

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    brainnet.utils.set_random_seed(0)
    model = brainnet.Sequential([Dense(3, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="SparseCategoricalCrossentropy", metrics=["SparseCategoricalAccuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert list(history.history) == ["loss", "SparseCategoricalAccuracy"]
    probabilities = model.predict(x, verbose=0)
    expected = float(np.mean(probabilities.argmax(-1) == y))
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy == pytest.approx(expected)
    assert loss == pytest.approx(float(np.mean(-np.log(probabilities[np.arange(32), y]))), rel=1e-5)
    model.save(tmp_path / "m.brainnet")
    loaded = brainnet.models.load_model(tmp_path / "m.brainnet")
    assert loaded.evaluate(x, y, verbose=0) == [loss, accuracy]
    assert type(loaded.trainer.loss) is losses.SparseCategoricalCrossentropy


# ------------------------------------------------ top-k accuracies, by name, against NumPy
def np_in_top_k(label, row, k):
    """Naive: the label's score is at least the k-th largest score of its row."""
    ordered = sorted(row, reverse=True)
    return float(row[label] >= ordered[min(k, len(row)) - 1])


@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_top_k_accuracies_stream_over_batches_like_numpy(k, weighted):
    import numpy as np

    rng = np.random.default_rng(k)
    parts = [(rng.integers(0, 6, n), rng.normal(size=(n, 6)).astype("float32"), rng.uniform(0, 2, n).astype("float32"))
             for n in (20, 13)]
    sparse, dense = metrics.SparseTopKCategoricalAccuracy(k=k), metrics.TopKCategoricalAccuracy(k=k)
    for labels, scores, w in parts:
        sparse.update_state(labels, scores, w if weighted else None)  # NumPy arrays, as in Keras
        dense.update_state(torch.tensor(np.eye(6)[labels]), torch.tensor(scores), torch.tensor(w) if weighted else None)
    labels = np.concatenate([p[0] for p in parts])
    scores = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts]).astype(np.float64) if weighted else np.ones(len(labels))
    hits = np.array([np_in_top_k(y, row, k) for y, row in zip(labels, scores)])
    expected = (hits * w).sum() / w.sum()
    assert sparse.result() == pytest.approx(expected, abs=1e-12)
    assert dense.result() == pytest.approx(expected, abs=1e-12)
    sparse.reset_state()
    sparse.update_state(parts[0][0][:, None], parts[0][1])  # labels (N, 1) too
    assert sparse.result() == pytest.approx(np.mean([np_in_top_k(y, r, k) for y, r in zip(*parts[0][:2])]))


def test_top_k_keras_examples_ties_and_names():
    m = metrics.TopKCategoricalAccuracy(k=1)
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    assert m.result() == 0.5
    m = metrics.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3, abs=1e-7)
    tie = metrics.SparseTopKCategoricalAccuracy(k=1)
    tie.update_state([1], [[0.5, 0.5, 0.0]])  # a tie at the k-th score counts as in (Keras's in_top_k)
    assert tie.result() == 1.0
    assert metrics.SparseTopKCategoricalAccuracy.argmax_invariant and metrics.TopKCategoricalAccuracy.argmax_invariant
    for name, cls in [("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy),
                      ("sparse_top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy),
                      ("TopKCategoricalAccuracy", metrics.TopKCategoricalAccuracy),
                      ("SparseTopKCategoricalAccuracy", metrics.SparseTopKCategoricalAccuracy),
                      ("precision", metrics.Precision), ("Recall", metrics.Recall), ("auc", metrics.AUC),
                      ("AUC", metrics.AUC)]:
        got = metrics.get(name)
        assert type(got) is cls and got.name == name
    assert metrics.Precision().name == "precision" and metrics.Recall().name == "recall"
    assert metrics.AUC().name == "auc" and metrics.TopKCategoricalAccuracy().k == 5


def test_top_k_errors_say_what_and_the_fix():
    with pytest.raises(ValueError, match=r"SparseTopKCategoricalAccuracy: expected k to be an integer ≥ 1, got 0. "
                                         r"Fix: SparseTopKCategoricalAccuracy\(k=1\)"):
        metrics.SparseTopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"metric sparse_top_k_categorical_accuracy: expected class indices, one "
                                         r"per sample \(shape \(2,\)\) for predictions \(2, 3\), got labels of shape "
                                         r"\(2, 3\). Fix: for one-hot labels use "
                                         r"metrics=\['top_k_categorical_accuracy'\]"):
        metrics.SparseTopKCategoricalAccuracy().update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    with pytest.raises(ValueError, match=r"metric top_k_categorical_accuracy: expected one-hot labels shaped like "
                                         r"the predictions \(2, 3\), got labels of shape \(2,\). Fix: for class "
                                         r"indices use metrics=\['sparse_top_k_categorical_accuracy'\]"):
        metrics.TopKCategoricalAccuracy().update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])


# ------------------------------------------------ update_state on NumPy arrays and lists (as Keras)
def test_update_state_takes_lists_and_arrays():
    import numpy as np

    m = metrics.Accuracy()
    m.update_state([1, 2], [1, 3])
    assert m.result() == 0.5
    m.update_state(np.array([4]), np.array([4]))
    assert m.result() == pytest.approx(2 / 3)
    s = metrics.SparseCategoricalAccuracy()
    s.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert s.result() == pytest.approx(0.3, abs=1e-7)  # Keras's documented example
    mean = metrics.Mean()
    mean.update_state([1.0, 2.0, 6.0])
    assert mean.result() == 3.0
    mse = metrics.MeanSquaredError()
    mse.update_state(t([[1.0], [3.0]]), np.array([[0.0], [1.0]]))  # mixed tensor and array
    assert mse.result() == 2.5


# ------------------------------------------- mean absolute percentage error
def test_mean_absolute_percentage_error_against_numpy():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    y[0, 0] = 0.0  # a zero target: divided by ε = 1e-7, not by 0
    m = metrics.get("mape")
    assert isinstance(m, metrics.MeanAbsolutePercentageError) and m.name == "mape"
    m.update_state(t(y), t(p))
    expected = np.mean(100.0 * np.abs(y - p) / np.maximum(np.abs(y), 1e-7))
    assert m.result() == pytest.approx(expected, rel=1e-12)


def test_mean_absolute_percentage_error_keras_example_with_weights():
    m = metrics.MeanAbsolutePercentageError()
    assert m.name == "mean_absolute_percentage_error"
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    assert m.result() == pytest.approx(2.5e8)  # Keras's documented value
    m.reset_state()
    m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    assert m.result() == pytest.approx(5e8)


# ------------------------------------------------- a metric of your own
class _Count(metrics.Metric):
    """Counts the samples seen and sums their targets, in two variables."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.n = self.add_variable(shape=(), initializer="zeros", name="n")
        self.sums = self.add_weight(shape=(2,), initializer="ones", dtype="float64", name="sums")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.n.assign_add(len(y_true))
        self.sums.assign_add(y_true.sum(0))

    def result(self):
        return self.n * 2 - self.n


def test_metric_subclass_with_add_variable():
    m = _Count()
    assert m.name == "_count" and [v.name for v in m.variables] == ["n", "sums"]
    assert m.sums.dtype == torch.float64 and m.sums.shape == (2,)
    np.testing.assert_array_equal(m.sums.numpy(), [1.0, 1.0])  # the initializer's values
    m.update_state(t([[1.0, 2.0], [3.0, 4.0]]), None)
    m.update_state(t([[1.0, 1.0]]), None)
    assert float(m.result()) == 3.0 and metrics.result_number(m) == 3.0
    np.testing.assert_array_equal(np.asarray(m.sums), [6.0, 8.0])
    m.sums.assign_sub(t([6.0, 8.0]))
    m.sums.assign(2.0)  # a number broadcast to the shape
    np.testing.assert_array_equal(m.sums.numpy(), [2.0, 2.0])
    assert float(torch.sqrt(m.n + 1)) == 2.0  # torch functions and arithmetic see the tensor
    m.reset_state()  # Keras's default: every variable back to zeros
    assert float(m.n) == 0.0 and m.sums.numpy().tolist() == [0.0, 0.0]


def test_add_variable_refuses_an_unknown_dtype():
    with pytest.raises(ValueError, match=r"_Count\.add_variable: expected dtype None, a torch dtype or its name, "
                                         r"got 'float99'\. Fix: dtype='float32'"):
        _Count().add_variable(shape=(), initializer="zeros", dtype="float99")
