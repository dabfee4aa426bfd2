"""Precision, Recall and AUC against naive NumPy versions of Keras's documented
algorithm (loops over thresholds and values), streamed over several batches,
with weights, top_k, class_id, multi_label; Keras's documented examples; the
exact ROC AUC of a large sample; errors; compile/fit/evaluate/save."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import metrics
from brainnet.layers import Dense
from brainnet.models import Sequential

EPS = 1e-7


# ------------------------------------------------------------ naive NumPy reference
def np_counts(y, p, w, thresholds):
    """TP, FP, TN, FN at each threshold: explicit loops, a prediction positive when p > t."""
    y, p, w = np.ravel(y), np.ravel(p), np.ravel(w)
    out = np.zeros((4, len(thresholds)))
    for i, t in enumerate(thresholds):
        for yj, pj, wj in zip(y, p, w):
            said, truth = pj > t, yj != 0
            out[0 if said and truth else 1 if said else 3 if truth else 2, i] += wj
    return out


def div(a, b):
    return a / b if b > 0 else 0.0


def np_thresholds(n):
    return [-EPS] + [i / (n - 1) for i in range(1, n - 1)] + [1 + EPS]


def np_area(c, curve, summation):
    tp, fp, tn, fn = c
    n = len(tp)
    if curve == "PR" and summation == "interpolation":  # Davis & Goadrich, interval by interval
        total = 0.0
        for i in range(n - 1):
            pa, pb = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            dtp = tp[i] - tp[i + 1]
            slope = div(dtp, max(pa - pb, 0.0))
            intercept = tp[i + 1] - slope * pb
            log_ratio = np.log(pa / pb) if pa > 0 and pb > 0 else 0.0
            total += div(slope * (dtp + intercept * log_ratio), tp[i + 1] + fn[i + 1])
        return total
    if curve == "ROC":
        x = [div(fp[i], fp[i] + tn[i]) for i in range(n)]
        y = [div(tp[i], tp[i] + fn[i]) for i in range(n)]
    else:
        x = [div(tp[i], tp[i] + fn[i]) for i in range(n)]
        y = [div(tp[i], tp[i] + fp[i]) for i in range(n)]
    pick = {"interpolation": lambda a, b: (a + b) / 2, "minoring": min, "majoring": max}[summation]
    return sum((x[i] - x[i + 1]) * pick(y[i], y[i + 1]) for i in range(n - 1))


def exact_roc_auc(y, p):
    """P(score of a positive > score of a negative) + ½ P(tie), from the ranks (sorting)."""
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    for value in np.unique(p):  # average ranks of ties
        same = p == value
        ranks[same] = ranks[same].mean()
    pos = y == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def batches(seed=0, n=(40, 25), outputs=1):
    rng = np.random.default_rng(seed)
    out = []
    for size in n:
        y = rng.integers(0, 2, (size, outputs)).astype("float64")
        # float32, as arrays passed to a metric become (Keras's floatx): the reference sees the same numbers
        p = np.clip(rng.normal(0.35 + 0.3 * y, 0.25), 0, 1).astype("float32")
        w = rng.uniform(0, 2, size).astype("float32")
        out.append((y, p, w))
    return out


# ------------------------------------------------------------ Keras's documented examples
def test_keras_documented_examples():
    m = metrics.Precision()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert m.result() == pytest.approx(2 / 3)
    m.reset_state()
    m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert m.result() == 1.0
    for k, expected in ((2, 0.0), (4, 0.5)):  # ties go to the lower index
        m = metrics.Precision(top_k=k)
        m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
        assert m.result() == expected
    r = metrics.Recall()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    assert r.result() == pytest.approx(2 / 3)
    r.reset_state()
    r.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
    assert r.result() == 1.0
    a = metrics.AUC(num_thresholds=3)
    a.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert a.result() == pytest.approx(0.75, abs=1e-12)
    a.reset_state()
    a.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert a.result() == pytest.approx(1.0, abs=1e-12)


# ------------------------------------------------------------ streaming against NumPy
@pytest.mark.parametrize("threshold", [None, 0.3, 0.0, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_stream_over_batches_like_numpy(threshold, weighted):
    data = batches(outputs=3)
    t = 0.5 if threshold is None else threshold
    p, r = metrics.Precision(thresholds=threshold), metrics.Recall(thresholds=threshold)
    for y, pred, w in data:
        for m in (p, r):
            m.update_state(torch.tensor(y), torch.tensor(pred), torch.tensor(w) if weighted else None)
    y = np.concatenate([d[0] for d in data])
    pred = np.concatenate([d[1] for d in data])
    w = np.concatenate([np.repeat(d[2][:, None], 3, 1) if weighted else np.ones(d[0].shape) for d in data])
    tp, fp, tn, fn = np_counts(y, pred, w, [t])[:, 0]
    assert p.result() == pytest.approx(div(tp, tp + fp), abs=1e-12)
    assert r.result() == pytest.approx(div(tp, tp + fn), abs=1e-12)
    assert p.count == r.count == y.size
    for m in (p, r):
        m.reset_state()
        assert m.result() == 0.0 and m.count == 0
    y1, pred1, _ = data[1]
    p.update_state(y1, pred1)  # NumPy arrays, as Keras takes them
    tp, fp, _, _ = np_counts(y1, pred1, np.ones(y1.shape), [t])[:, 0]
    assert p.result() == pytest.approx(div(tp, tp + fp), abs=1e-12)


def np_top_k(pred, k):
    """Each row's k largest kept (ties to the lower index), the others at −1e10."""
    out = np.full_like(pred, -1e10)
    for i, row in enumerate(pred):
        for j in sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]:
            out[i, j] = row[j]
    return out


@pytest.mark.parametrize("top_k,class_id,threshold", [(2, None, None), (1, None, 0.6), (None, 1, None),
                                                      (2, 2, None), (3, 0, 0.4)])
def test_top_k_and_class_id_like_numpy(top_k, class_id, threshold):
    data = batches(seed=3, outputs=4)
    p = metrics.Precision(thresholds=threshold, top_k=top_k, class_id=class_id)
    r = metrics.Recall(thresholds=threshold, top_k=top_k, class_id=class_id)
    ys, preds = [], []
    for y, pred, _ in data:
        p.update_state(y, pred)
        r.update_state(y, pred)
        kept = np_top_k(pred, top_k) if top_k else pred
        ys.append(y if class_id is None else y[:, class_id])
        preds.append(kept if class_id is None else kept[:, class_id])
    t = threshold if threshold is not None else (0.5 if top_k is None else -1e10)
    y, pred = np.concatenate(ys), np.concatenate(preds)
    tp, fp, tn, fn = np_counts(y, pred, np.ones(y.shape), [t])[:, 0]
    assert p.result() == pytest.approx(div(tp, tp + fp), abs=1e-12)
    assert r.result() == pytest.approx(div(tp, tp + fn), abs=1e-12)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("summation", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("num_thresholds", [200, 7])
def test_auc_streams_over_batches_like_numpy(curve, summation, num_thresholds):
    data = batches(seed=1, n=(50, 31, 17))
    m = metrics.AUC(num_thresholds=num_thresholds, curve=curve, summation_method=summation)
    for y, pred, w in data:
        m.update_state(y, pred, sample_weight=w)
    y = np.concatenate([d[0] for d in data])
    pred = np.concatenate([d[1] for d in data])
    w = np.concatenate([d[2] for d in data])
    c = np_counts(y, pred, w, np_thresholds(num_thresholds))
    np.testing.assert_allclose(m.total[:, :, 0].numpy(), c, atol=1e-9)
    assert m.result() == pytest.approx(np_area(c, curve, summation), abs=1e-9)
    m.reset_state()
    assert m.result() == 0.0
    m.update_state(*data[0][:2])
    c = np_counts(data[0][0], data[0][1], np.ones(len(data[0][0])), np_thresholds(num_thresholds))
    assert m.result() == pytest.approx(np_area(c, curve, summation), abs=1e-9)


def test_auc_custom_thresholds_and_clipping_like_keras():
    y = np.array([0, 1, 1, 0, 1, 0])
    pred = np.array([-0.5, 1.5, 0.7, 0.2, 0.4, 1.0])
    m = metrics.AUC(thresholds=[0.3, 0.6])  # not evenly spaced: no clipping
    m.update_state(y, pred)
    c = np_counts(y, pred, np.ones(6), [-EPS, 0.3, 0.6, 1 + EPS])
    assert m.result() == pytest.approx(np_area(c, "ROC", "interpolation"), abs=1e-12)
    even = metrics.AUC(num_thresholds=5)  # evenly spaced: predictions clipped to [0, 1], as Keras
    even.update_state(y, pred)
    c = np_counts(y, np.clip(pred, 0, 1), np.ones(6), np_thresholds(5))
    assert even.result() == pytest.approx(np_area(c, "ROC", "interpolation"), abs=1e-12)
    assert c[0, -1] == 0  # 1.5 clipped to 1 is not above 1 + ε


def test_auc_is_close_to_the_exact_roc_auc_of_a_large_sample():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 20000)
    pred = 1 / (1 + np.exp(-rng.normal(y * 1.2 - 0.6, 1.0)))
    m = metrics.AUC()
    for part in np.array_split(np.arange(len(y)), 7):
        m.update_state(y[part], pred[part])
    exact = exact_roc_auc(y, pred)
    assert 0.7 < exact < 0.9
    assert m.result() == pytest.approx(exact, abs=2e-3)


def test_auc_flattens_several_outputs_and_multi_label_averages_per_label():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 60)
    one_hot = np.eye(3)[labels]
    probs = rng.dirichlet(np.ones(3), 60) * 0.5 + one_hot * 0.5
    flat = metrics.AUC()
    flat.update_state(one_hot, probs)  # Keras flattens: one curve over every (sample, class)
    c = np_counts(one_hot, probs, np.ones(one_hot.shape), np_thresholds(200))
    assert flat.result() == pytest.approx(np_area(c, "ROC", "interpolation"), abs=1e-12)
    weights = [1.0, 2.0, 0.5]
    per = metrics.AUC(multi_label=True, label_weights=weights, curve="PR")
    per.update_state(one_hot[:30], probs[:30])
    per.update_state(one_hot[30:], probs[30:])
    areas = [np_area(np_counts(one_hot[:, j], probs[:, j], np.ones(60), np_thresholds(200)), "PR", "interpolation")
             for j in range(3)]
    assert per.result() == pytest.approx(np.dot(areas, weights) / sum(weights), abs=1e-12)
    lw = metrics.AUC(label_weights=weights)  # flattened: each output's predictions weigh its weight
    lw.update_state(one_hot, probs)
    c = np_counts(one_hot, probs, np.tile(weights, (60, 1)), np_thresholds(200))
    assert lw.result() == pytest.approx(np_area(c, "ROC", "interpolation"), abs=1e-12)


def test_auc_from_logits_applies_the_sigmoid():
    y, pred, _ = batches(seed=4)[0]
    logits = np.log(np.clip(pred, 1e-6, 1 - 1e-6) / (1 - np.clip(pred, 1e-6, 1 - 1e-6)))
    a, b = metrics.AUC(from_logits=True), metrics.AUC()
    a.update_state(torch.tensor(y), torch.tensor(logits))
    b.update_state(torch.tensor(y), torch.sigmoid(torch.tensor(logits)))
    assert a.result() == pytest.approx(b.result(), abs=1e-12)


def test_counts_are_one_float64_tensor_added_to_in_place():
    m = metrics.AUC(num_thresholds=5)
    total = m.total
    assert total.shape == (4, 5, 1) and total.dtype == torch.float64
    m.update_state([0, 1], [0.2, 0.9])
    m.reset_state()
    m.update_state([1, 1], [0.2, 0.9])
    assert m.total is total and m.count == 2
    with torch.inference_mode():
        other = metrics.Precision()
        other.total = torch.zeros(4, 1, 1, dtype=torch.float64)  # an inference tensor (e.g. restored there)
    other.update_state([1], [0.9])  # replaced outside inference mode instead of failing
    assert other.result() == 1.0


# ------------------------------------------------------------ errors
@pytest.mark.parametrize("make,match", [
    (lambda: metrics.Precision(thresholds=1.5), r"Precision: expected thresholds to be a number in \[0, 1\], "
                                                r"got 1.5. Fix: Precision\(thresholds=0.5\)"),
    (lambda: metrics.Recall(thresholds=[0.3, 0.5]), r"Recall: expected thresholds to be one number .* Fix: one "
                                                    r"metric per threshold"),
    (lambda: metrics.Precision(top_k=0), r"Precision: expected top_k to be an integer ≥ 1 or None, got 0. "
                                         r"Fix: Precision\(top_k=1\)"),
    (lambda: metrics.Recall(class_id=-1), r"Recall: expected class_id to be an integer ≥ 0 or None, got -1"),
    (lambda: metrics.AUC(num_thresholds=1), r"AUC: expected num_thresholds to be an integer ≥ 2, got 1"),
    (lambda: metrics.AUC(curve="RCO"), r"AUC: expected curve 'ROC' or 'PR' .* got curve='RCO'.* Fix: AUC\(curve='PR'\)"),
    (lambda: metrics.AUC(summation_method="trapezoid"), r"summation_method='trapezoid'"),
    (lambda: metrics.AUC(thresholds=[0.2, 1.2]), r"AUC: expected thresholds to be a list of numbers in \[0, 1\]"),
    (lambda: metrics.AUC(num_labels=3), r"AUC: expected num_labels only with multi_label=True.* Fix: "),
    (lambda: metrics.AUC(label_weights=[1, -1]), r"AUC: expected label_weights to be a list of numbers ≥ 0"),
])
def test_constructor_errors_say_what_and_the_fix(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_update_errors_say_what_and_the_fix():
    probs = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"metric auc: expected labels shaped like the predictions \(4, 3\) .*"
                                         r"got \(4,\). Fix: one-hot class indices first"):
        metrics.AUC().update_state([0, 1, 2, 1], probs)  # class indices against softmax probabilities
    with pytest.raises(ValueError, match=r"metric precision: expected predictions with a class axis \(N, C\) "
                                         r"for class_id, C > class_id and C ≥ top_k, got predictions of shape "
                                         r"\(4, 3\) with top_k=None, class_id=3. Fix:"):
        metrics.Precision(class_id=3).update_state(np.eye(3)[[0, 1, 2, 1]], probs)
    with pytest.raises(ValueError, match=r"expected sample_weight with one weight per sample \(4,\) or one per "
                                         r"prediction \(4, 3\), got shape \(2,\). Fix:"):
        metrics.Recall().update_state(np.eye(3)[[0, 1, 2, 1]], probs, sample_weight=[1, 2])
    multi = metrics.AUC(multi_label=True)
    multi.update_state(np.eye(3)[[0, 1, 2, 1]], probs)
    with pytest.raises(ValueError, match=r"metric auc: expected predictions of shape \(N, L\) with multi_label=True, "
                                         r"L the same at every batch \(3\), got \(4, 2\). Fix:"):
        multi.update_state(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"metric auc: expected one label weight per output \(3\), got 2 "
                                         r"label_weights. Fix:"):
        metrics.AUC(label_weights=[1, 2]).update_state(np.eye(3)[[0, 1, 2, 1]], probs)


# ------------------------------------------------------------ in compile / fit / evaluate / save
def _binary_data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype("float32")


def test_compile_by_names_fit_validation_weighted_evaluate_and_save(tmp_path):
    x, y = _binary_data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y)).astype("float32")
    brainnet.utils.set_random_seed(0)
    model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["precision", "recall", "auc", "AUC"],
                  weighted_metrics=[metrics.AUC(curve="PR", name="prc")], device="cpu")
    history = model.fit(x, y, sample_weight=w, batch_size=32, epochs=3, verbose=0, validation_data=(x[:60], y[:60]))
    assert list(history.history) == ["loss", "precision", "recall", "auc", "AUC", "prc",
                                     "val_loss", "val_precision", "val_recall", "val_auc", "val_AUC", "val_prc"]
    logs = model.evaluate(x, y, sample_weight=w, batch_size=50, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    tp, fp, tn, fn = np_counts(y, pred, np.ones(len(y)), [0.5])[:, 0]
    assert logs["precision"] == pytest.approx(div(tp, tp + fp), abs=1e-9)
    assert logs["recall"] == pytest.approx(div(tp, tp + fn), abs=1e-9)
    roc = np_area(np_counts(y, pred, np.ones(len(y)), np_thresholds(200)), "ROC", "interpolation")
    assert logs["auc"] == pytest.approx(roc, abs=1e-6) and logs["AUC"] == logs["auc"]
    prc = np_area(np_counts(y, pred, w, np_thresholds(200)), "PR", "interpolation")
    assert logs["prc"] == pytest.approx(prc, abs=1e-6)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = brainnet.models.load_model(path)
    again = loaded.evaluate(x, y, sample_weight=w, batch_size=50, verbose=0, return_dict=True)
    assert again == pytest.approx(logs, abs=1e-9)
    prc_metric = loaded.trainer.heads[0].weighted_metrics[0]
    assert isinstance(prc_metric, metrics.AUC) and prc_metric.curve == "PR" and prc_metric.name == "prc"


def test_precision_with_class_id_in_a_softmax_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 5)).astype("float32")
    y = np.eye(3)[rng.integers(0, 3, 90)].astype("float32")
    model = Sequential([Dense(3, activation="softmax", input_shape=(5,))])
    model.compile("sgd", "categorical_crossentropy",
                  metrics=[metrics.Precision(class_id=1), metrics.Recall(top_k=1), "top_k_categorical_accuracy"],
                  device="cpu")
    logs = model.evaluate(x, y, batch_size=20, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    tp, fp, _, _ = np_counts(y[:, 1], pred[:, 1], np.ones(90), [0.5])[:, 0]
    assert logs["precision"] == pytest.approx(div(tp, tp + fp), abs=1e-9)
    kept = np_top_k(pred, 1)
    tp, _, _, fn = np_counts(y, kept, np.ones(y.shape), [-1e10])[:, 0]
    assert logs["recall"] == pytest.approx(div(tp, tp + fn), abs=1e-9)
    assert logs["top_k_categorical_accuracy"] == 1.0  # k = 5 ≥ 3 classes: every label is in the top 5


def test_counts_are_summed_over_processes_and_kept_as_tensors(monkeypatch):
    # Under torchrun each process holds its own counts; the epoch's logs add them up
    # (here the all-reduce doubles: as if the other process had seen the same batches).
    from brainnet import distributed

    monkeypatch.setattr(distributed.dist, "all_reduce", lambda t, *a, **k: t.mul_(2))
    loss, precision, auc = metrics.Mean("loss"), metrics.Precision(), metrics.AUC(num_thresholds=4)
    loss.update_state(torch.tensor([1.0, 3.0]))
    for m in (precision, auc):
        m.update_state([0, 1, 1, 0], [0.9, 0.8, 0.3, 0.2])
    before = [m.result() for m in (loss, precision, auc)]
    auc_counts = auc.total.clone()

    class Trainer:
        def trackers(self):
            return [loss, precision, auc]

    parallel = distributed.DataParallel()
    parallel.world, parallel.rank = 2, 0
    parallel.sum_metrics(Trainer())
    assert [m.result() for m in (loss, precision, auc)] == pytest.approx(before)
    assert loss.count == 4 and precision.count == 8 and auc.count == 8
    assert torch.equal(auc.total, 2 * auc_counts)
    parallel.rank = 1  # a mid-epoch backup: only rank 0 keeps the sums
    parallel.sum_metrics(Trainer(), onto_rank0=True)
    assert auc.total.shape == (4, 4, 1) and not auc.total.any() and auc.count == 0 and auc.result() == 0.0
