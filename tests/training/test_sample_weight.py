"""sample_weight, class_weight and weighted_metrics, as Keras 3 has them.

Keras's semantics, which these tests pin down:

* a batch's loss is Σ_i w_i · L_i / N (reduction "sum_over_batch_size": the
  weighted sum over the batch size, not over the sum of the weights);
* class_weight gives each sample its class's weight (argmax of a one-hot
  label; classes left out weigh 1.0); not together with sample_weight, not
  for several outputs;
* ``metrics`` ignore the weights, ``weighted_metrics`` are Σ w·m / Σ w;
* validation_split takes the last samples' weights with them.

The references are NumPy (float64) on the model's own weights; tolerances are
float32 rounding (1e-6 relative unless said).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import losses
from brainnet.layers import Dense, Input, LSTM
from brainnet.models import Model, Sequential, load_model
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed, to_categorical


def _data(n: int = 40, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = (rng.normal(size=(n, 4)) + y[:, None]).astype("float32")
    w = rng.uniform(0.0, 3.0, n).astype("float32")  # Σ w ≠ N, so the two reductions differ
    return x, y, w


def _classifier(units: int = 3, activation: str = "softmax", loss: str = "sparse_categorical_crossentropy",
                lr: float = 0.1, **compile_args) -> Sequential:
    set_random_seed(0)
    model = Sequential([Dense(units, activation=activation, input_shape=(4,))])
    model.compile(SGD(lr), loss, device="cpu", **compile_args)
    return model


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _logits(model: Sequential, x: np.ndarray) -> np.ndarray:
    kernel, bias = (a.astype("float64") for a in model.get_weights())
    return x.astype("float64") @ kernel + bias


# ------------------------------------------------------------------ the loss against NumPy
@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy",
                                  "sparse_from_logits", "mse", "binary_crossentropy"])
def test_weighted_loss_is_the_weighted_sum_over_the_batch_size(loss):
    x, y, w = _data()
    if loss == "binary_crossentropy":
        model, target = _classifier(1, "sigmoid", loss), (y > 0).astype("float32")
        p = 1 / (1 + np.exp(-_logits(model, x)[:, 0]))
        per_sample = -(target * np.log(p) + (1 - target) * np.log(1 - p))
    elif loss == "mse":
        model, target = _classifier(3, None, loss), to_categorical(y, 3)
        per_sample = ((_logits(model, x) - target) ** 2).mean(-1)
    elif loss == "sparse_from_logits":  # not fused: the loss class itself weighs
        model, target = _classifier(3, None, losses.SparseCategoricalCrossentropy(from_logits=True)), y
        per_sample = -np.log(_softmax(_logits(model, x))[np.arange(len(y)), y])
    else:  # softmax + cross-entropy: the fused log-softmax path
        target = y if loss.startswith("sparse") else to_categorical(y, 3)
        model = _classifier(3, "softmax", loss)
        per_sample = -np.log(_softmax(_logits(model, x))[np.arange(len(y)), y])
    want = (w * per_sample).sum() / len(y)
    assert model.test_on_batch(x, target, sample_weight=w) == pytest.approx(want, rel=1e-6)
    assert model.evaluate(x, target, sample_weight=w, verbose=0) == pytest.approx(want, rel=1e-6)
    assert want != pytest.approx((w * per_sample).sum() / w.sum(), rel=1e-3)  # not Σ w·L / Σ w
    assert model.test_on_batch(x, target) == pytest.approx(per_sample.mean(), rel=1e-6)


def test_loss_classes_take_sample_weight_as_keras_losses_do():
    rng = np.random.default_rng(1)
    y_true, y_pred = torch.tensor(rng.normal(size=(6, 2))), torch.tensor(rng.normal(size=(6, 2)))
    w = torch.tensor(rng.uniform(0, 2, 6))
    per_sample = ((y_true - y_pred) ** 2).mean(-1)
    got = losses.MeanSquaredError()(y_true, y_pred, sample_weight=w)
    torch.testing.assert_close(got, (per_sample * w).sum() / 6)
    # A loss per time step (N, T): each step of sample i weighs w_i; the sum is over N·T values.
    seq_true, seq_pred = y_true.reshape(3, 2, 2), y_pred.reshape(3, 2, 2)
    got = losses.MeanSquaredError()(seq_true, seq_pred, sample_weight=w[:3])
    torch.testing.assert_close(got, (per_sample.reshape(3, 2) * w[:3, None]).sum() / 6)


def _true_class_probability(y_true, y_pred):
    """A metric function: the probability given to the true class, per sample."""
    return y_pred.gather(-1, y_true.long().reshape(-1, 1))[:, 0]


def test_evaluate_with_sample_weight_over_several_batches_and_weighted_metrics():
    x, y, w = _data(50)
    model = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy", _true_class_probability])
    probs = _softmax(_logits(model, x))
    correct = (probs.argmax(-1) == y).astype("float64")
    p_true = probs[np.arange(len(y)), y]
    logs = model.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0, return_dict=True)  # 16 + 16 + 16 + 2
    assert list(logs) == ["loss", "accuracy", "weighted_accuracy", "_true_class_probability"] == model.metrics_names
    assert logs["loss"] == pytest.approx((w * -np.log(p_true)).sum() / len(y), rel=1e-6)
    assert logs["accuracy"] == pytest.approx(correct.mean(), rel=1e-12)  # metrics= ignores the weights
    assert logs["weighted_accuracy"] == pytest.approx((w * correct).sum() / w.sum(), rel=1e-6)
    assert logs["_true_class_probability"] == pytest.approx((w * p_true).sum() / w.sum(), rel=1e-6)
    plain = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)  # no weights: plain metrics
    assert plain["weighted_accuracy"] == plain["accuracy"] == pytest.approx(correct.mean())
    assert plain["_true_class_probability"] == pytest.approx(p_true.mean(), rel=1e-6)
    zero = model.evaluate(x, y, sample_weight=np.zeros(len(y)), verbose=0, return_dict=True)
    assert zero == {"loss": 0.0, "accuracy": pytest.approx(correct.mean()), "weighted_accuracy": 0.0,
                    "_true_class_probability": 0.0}


# ------------------------------------------------------------------ one step by hand
def test_one_sgd_step_with_sample_weight_equals_the_step_on_the_hand_loss():
    x, y, w = _data(12)
    model = _classifier(lr=0.5)
    kernel, bias = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in model.get_weights())
    logp = torch.log_softmax(torch.tensor(x, dtype=torch.float64) @ kernel + bias, -1)
    loss = (torch.tensor(w, dtype=torch.float64) * -logp[torch.arange(12), torch.tensor(y)]).sum() / 12
    loss.backward()
    got = model.train_on_batch(x, y, sample_weight=w)
    assert got == pytest.approx(float(loss.detach()), rel=1e-6)
    new_kernel, new_bias = model.get_weights()
    np.testing.assert_allclose(new_kernel, (kernel - 0.5 * kernel.grad).detach().numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(new_bias, (bias - 0.5 * bias.grad).detach().numpy(), rtol=0, atol=1e-6)
    # fit on the same single batch makes the same step
    again = _classifier(lr=0.5)
    again.fit(x, y, sample_weight=w, batch_size=12, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weights_of_one_are_the_unweighted_fit_and_a_zero_weight_removes_a_sample():
    x, y, _ = _data(24)
    target = to_categorical(y, 3)

    def run(sample_weight=None, n=24, loss="mse"):
        model = _classifier(3, None if loss == "mse" else "softmax", loss, lr=0.2)
        history = model.fit(x[:n], target[:n], sample_weight=sample_weight, batch_size=8, epochs=3, verbose=0)
        return model.get_weights(), history.history["loss"]

    plain, ones = run(), run(np.ones(24))
    for a, b in zip(plain[0], ones[0]):  # ×1 is exact: the same weights to the bit
        np.testing.assert_array_equal(a, b)
    assert plain[1] == ones[1]

    # The fused softmax + cross-entropy path reduces in another kernel: equal to float32 rounding.
    fused_plain, fused_ones = (run(sw, loss="categorical_crossentropy") for sw in (None, np.ones(24)))
    for a, b in zip(fused_plain[0], fused_ones[0]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fused_plain[1], fused_ones[1], rtol=1e-6)

    # One step: a zero weight on the last sample = that sample removed, with the sum
    # still divided by all N samples (Keras's reduction), i.e. (N − 1)/N of its step.
    start = _classifier(3, None, "mse").get_weights()
    zero = _classifier(3, None, "mse")
    zero.train_on_batch(x[:8], target[:8], sample_weight=np.r_[np.ones(7), 0.0])
    removed = _classifier(3, None, "mse")
    removed.train_on_batch(x[:7], target[:7])
    for s, z, r in zip(start, zero.get_weights(), removed.get_weights()):
        np.testing.assert_allclose(z - s, (r - s) * 7 / 8, rtol=0, atol=1e-7)


# ------------------------------------------------------------------ class_weight
@pytest.mark.parametrize("one_hot", [False, True])
def test_class_weight_equals_the_same_fit_with_the_sample_weights_it_stands_for(one_hot):
    x, y, _ = _data(60, classes=2)
    target = to_categorical(y, 2) if one_hot else y
    loss = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"

    def run(**weights):
        model = _classifier(2, "softmax", loss, metrics=["accuracy"], weighted_metrics=["accuracy"])
        set_random_seed(5)  # the same shuffling
        history = model.fit(x, target, batch_size=16, epochs=3, verbose=0, **weights)
        return model.get_weights(), history.history

    by_class = run(class_weight={0: 1, 1: 5})
    by_sample = run(sample_weight=np.where(y == 1, 5.0, 1.0))
    for a, b in zip(by_class[0], by_sample[0]):
        np.testing.assert_array_equal(a, b)
    assert by_class[1] == by_sample[1]
    unweighted = run()
    assert not np.array_equal(unweighted[0][0], by_class[0][0])
    # Classes left out of the dict weigh 1.0 (Keras).
    left_out = run(class_weight={1: 5.0})
    np.testing.assert_array_equal(left_out[0][0], by_class[0][0])


def test_class_weight_weighs_training_only_and_sample_weight_follows_the_validation_split():
    x, y, w = _data(40)
    model = _classifier(metrics=["accuracy"])
    history = model.fit(x, y, class_weight={0: 1.0, 1: 2.0, 2: 0.5}, validation_split=0.25, epochs=1, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[-10:], y[-10:], verbose=0)[0], rel=1e-6)

    split = _classifier()
    set_random_seed(3)
    history = split.fit(x, y, sample_weight=w, validation_split=0.25, batch_size=8, epochs=2, verbose=0)
    want_val = split.evaluate(x[-10:], y[-10:], sample_weight=w[-10:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(want_val, rel=1e-6)
    by_hand = _classifier()
    set_random_seed(3)
    by_hand.fit(x[:30], y[:30], sample_weight=w[:30], batch_size=8, epochs=2, verbose=0)
    for a, b in zip(split.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)


def _indicator_loss(y_true, y_pred):
    """The label itself as each sample's loss (plus 0·ŷ, so there is a gradient to take)."""
    return y_true.reshape(-1) + 0.0 * y_pred.reshape(-1)


@pytest.mark.parametrize("validation", ["split", "data"])
def test_weights_follow_their_samples_through_shuffling_and_the_split(validation):
    # Weight 0 exactly on the samples labelled 1: the weighted loss Σ w·y is 0 in every
    # batch only if each weight is gathered with its own sample.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(90, 4)).astype("float32"), rng.integers(0, 2, 90).astype("float32")
    w = np.where(y == 1, 0.0, rng.uniform(0.5, 2.0, 90))
    model = _classifier(1, None, _indicator_loss)
    extra = ({"validation_split": 0.3} if validation == "split"
             else {"validation_data": (x[:20], y[:20], w[:20])})
    history = model.fit(x, y, sample_weight=w, batch_size=8, epochs=3, shuffle=True, verbose=0, **extra)
    assert history.history["loss"] == [0.0, 0.0, 0.0]
    assert history.history["val_loss"] == [0.0, 0.0, 0.0]
    assert model.evaluate(x, y, verbose=0) == pytest.approx(y.mean())  # unweighted: not 0


# ------------------------------------------------------------------ several outputs
def _two_outputs() -> Model:
    set_random_seed(0)
    inputs = Input(shape=(4,))
    model = Model(inputs, [Dense(3, activation="softmax", name="cls")(inputs), Dense(1, name="reg")(inputs)])
    model.compile(SGD(0.1), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, device="cpu")
    return model


def test_several_outputs_take_one_array_for_all_or_one_per_output():
    x, y, w = _data(20)
    t = x.sum(1, keepdims=True)
    model = _two_outputs()
    kc, bc, kr, br = (a.astype("float64") for a in model.get_weights())
    nll = -np.log(_softmax(x @ kc + bc)[np.arange(20), y])
    sq = ((x @ kr + br - t) ** 2)[:, 0]
    v = np.linspace(0.0, 2.0, 20)

    logs = model.evaluate(x, {"cls": y, "reg": t}, sample_weight=w, verbose=0, return_dict=True)
    assert logs["cls_loss"] == pytest.approx((w * nll).mean(), rel=1e-6)
    assert logs["reg_loss"] == pytest.approx((w * sq).mean(), rel=1e-6)
    assert logs["loss"] == pytest.approx((w * nll).mean() + 0.5 * (w * sq).mean(), rel=1e-6)
    for per_output in ({"cls": w, "reg": v}, [w, v]):
        logs = model.evaluate(x, [y, t], sample_weight=per_output, verbose=0, return_dict=True)
        assert logs["cls_loss"] == pytest.approx((w * nll).mean(), rel=1e-6)
        assert logs["reg_loss"] == pytest.approx((v * sq).mean(), rel=1e-6)
    model.fit(x, [y, t], sample_weight={"cls": w, "reg": v}, epochs=1, verbose=0)  # trains


def test_weighted_metrics_are_saved_with_the_model(tmp_path):
    x, y, w = _data()
    model = _classifier(metrics=["accuracy"], weighted_metrics=["accuracy"])
    model.fit(x, y, sample_weight=w, epochs=1, verbose=0)
    model.save(str(tmp_path / "m.brainnet"))
    loaded = load_model(str(tmp_path / "m.brainnet"))
    assert loaded.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True) == \
        model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert loaded.metrics_names == ["loss", "accuracy", "weighted_accuracy"]


# ------------------------------------------------------------------ errors that teach
def test_sample_weight_of_the_wrong_length_or_shape():
    x, y, w = _data()
    model = _classifier()
    with pytest.raises(ValueError, match=r"sample_weight: expected one weight per sample, 40 as in x and y, got 39\. "
                                         r"Fix: pass weights for the same samples as x and y"):
        model.fit(x, y, sample_weight=w[:39], verbose=0)
    # a weight per loss value is taken (Keras's temporal weights), so (40, 3) reaches the loss, whose
    # values are one per sample here
    with pytest.raises(ValueError, match=r"loss sparse_categorical_crossentropy: expected sample_weight of the loss "
                                         r"values' shape \(40,\) \(a weight per loss value\) or one weight per sample "
                                         r"\(40,\), got shape \(40, 3\)\. Fix: give weights of shape \(40,\)"):
        model.evaluate(x, y, sample_weight=np.ones((40, 3)), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data\[2\]: expected one weight per sample, 10 as in x and y, "
                                         r"got 40\."):
        model.fit(x, y, validation_data=(x[:10], y[:10], w), verbose=0)
    model.test_on_batch(x, y, sample_weight=w[:, None])  # (N, 1) is taken, as Keras takes it


@pytest.mark.parametrize("bad, message", [
    (np.nan, r"sample_weight: expected finite weights, got 1 NaN or infinite \(first at sample 3\)\. Fix: replace "
             r"them, e\.g\. w = np\.nan_to_num\(w, nan=0\.0\)"),
    (-0.5, r"sample_weight: expected weights ≥ 0, got -0\.5 \(sample 3\)\. A negative weight would train the model "
           r"to make that sample's loss larger\. Fix: use 0 to leave a sample out"),
])
def test_nan_and_negative_sample_weights_are_refused(bad, message):
    x, y, w = _data()
    w[3] = bad
    with pytest.raises(ValueError, match=message):
        _classifier().fit(x, y, sample_weight=w, verbose=0)


def test_sample_weight_from_a_generator_is_refused():
    x, y, w = _data()
    with pytest.raises(ValueError, match=r"sample_weight: expected an array \(NumPy, torch tensor, pandas or a "
                                         r"list\), got a generator"):
        _classifier().fit(x, y, sample_weight=(v for v in w), verbose=0)


def test_class_weight_that_is_not_a_dict_of_class_indices():
    x, y, _ = _data()
    model = _classifier()
    with pytest.raises(ValueError, match=r"class_weight: expected a dict \{class index: weight\}, got a list\. "
                                         r"Fix: class_weight=\{0: 1\.0, 1: 5\.0\}"):
        model.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    for key in (3, -1, "1", 1.0):
        with pytest.raises(ValueError, match=r"class_weight: expected keys that are class indices 0\.\.2 \(the model "
                                             rf"has 3 classes\), got key {key!r}\. Fix: key the dict by integer"):
            model.fit(x, y, class_weight={0: 1.0, key: 2.0}, verbose=0)
    for value in (-1.0, float("nan"), "2"):
        with pytest.raises(ValueError, match=r"class_weight: expected finite weights ≥ 0, got .* for class 1\. "
                                             r"Fix: class_weight="):
            model.fit(x, y, class_weight={1: value}, verbose=0)


def test_class_weight_needs_class_labels_one_per_sample():
    x, y, _ = _data()
    regression = _classifier(1, None, "mse")
    with pytest.raises(ValueError, match=r"class_weight: expected class labels 0\.\.1 to look the weights up by, got "
                                         r"0\.5\. Fix: pass sample_weight= \(one weight per sample\)"):
        regression.fit(x, np.r_[0.5, np.ones(39)], class_weight={0: 1.0, 1: 2.0}, verbose=0)
    set_random_seed(0)
    sequence = Sequential([LSTM(3, return_sequences=True, input_shape=(5, 2)), Dense(2, activation="softmax")])
    sequence.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
    with pytest.raises(ValueError, match=r"class_weight: expected a model with one class per sample \(output shape "
                                         r"\(N, classes\)\), got an output of shape \(None, 5, 2\)\. "
                                         r"Fix: pass sample_weight= instead"):
        sequence.fit(np.zeros((4, 5, 2), "float32"), np.zeros((4, 5), "int64"), class_weight={0: 1.0}, verbose=0)


def test_class_weight_with_sample_weight_or_several_outputs_is_refused_as_keras_does():
    x, y, w = _data()
    with pytest.raises(ValueError, match=r"fit: expected sample_weight or class_weight, got both \(Keras 3 refuses "
                                         r"them together too\)\. Fix: fold the class weights into the sample weights"):
        _classifier().fit(x, y, sample_weight=w, class_weight={0: 2.0}, verbose=0)
    with pytest.raises(ValueError, match=r"train_on_batch: expected sample_weight or class_weight, got both"):
        _classifier().train_on_batch(x, y, sample_weight=w, class_weight={0: 2.0})
    with pytest.raises(ValueError, match=r"class_weight: expected a model with one output \(as Keras\), got 2 outputs "
                                         r"\['cls', 'reg'\]\. Fix: pass sample_weight=\{output name: weights\}"):
        _two_outputs().fit(x, [y, x[:, :1]], class_weight={0: 2.0}, verbose=0)


def test_per_output_sample_weights_that_do_not_match_the_outputs():
    x, y, w = _data()
    model = _two_outputs()
    t = x[:, :1]
    with pytest.raises(ValueError, match=r"sample_weight: expected one array per output, keyed by the output names "
                                         r"\['cls', 'reg'\], got keys \['cls'\]\. Fix: sample_weight=\{'cls': w, "
                                         r"'reg': w\}"):
        model.fit(x, [y, t], sample_weight={"cls": w}, verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight: expected one array per output \(2: \['cls', 'reg'\]\) or one "
                                         r"array for every output, got a list of 3 arrays\. Fix: give 2 arrays"):
        model.fit(x, [y, t], sample_weight=[w, w, w], verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight\['reg'\]: expected one weight per sample, 40 as in x and y, "
                                         r"got 5\."):
        model.fit(x, [y, t], sample_weight={"cls": w, "reg": w[:5]}, verbose=0)


def test_a_loss_that_averages_itself_cannot_be_weighed():
    x, y, w = _data()

    def batch_mean(y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean()

    model = _classifier(3, None, batch_mean)
    with pytest.raises(ValueError, match=r"loss batch_mean: expected one loss value per sample \(shape \(40, \.\.\.\)\) "
                                         r"to weigh by sample_weight, got shape \(\)\. Fix: make the loss function "
                                         r"return per-sample values"):
        model.evaluate(x, to_categorical(y, 3), sample_weight=w, verbose=0)
