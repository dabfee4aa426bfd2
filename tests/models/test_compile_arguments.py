"""compile()'s Keras 3 arguments: run_eagerly, steps_per_execution,
auto_scale_loss, loss_weights (checked by hand), and the error for an
argument compile does not take."""

from __future__ import annotations

import numpy as np
import pytest

from brainnet.layers import Dense, Input
from brainnet.losses import SparseCategoricalCrossentropy
from brainnet.models import Model, Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed


def data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x.sum(1) > 0).astype("int64")


def classifier() -> Sequential:
    set_random_seed(0)
    return Sequential([Dense(3, activation="softmax", input_shape=(4,))])


def trained_weights(**compile_args) -> list[np.ndarray]:
    model = classifier()
    model.compile(SGD(0.1), "sparse_categorical_crossentropy", device="cpu", **compile_args)
    model.fit(*data(), epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model.get_weights()


# ------------------------------------------------------------------ run_eagerly
def test_run_eagerly_true_means_no_compilation_and_trains_as_the_default():
    model = classifier()
    model.compile("sgd", "sparse_categorical_crossentropy", run_eagerly=True, device="cpu")
    assert model.trainer.jit_compile is False and not model.trainer.compiled
    for got, want in zip(trained_weights(run_eagerly=True), trained_weights()):
        np.testing.assert_array_equal(got, want)


def test_run_eagerly_with_jit_compile_is_refused():
    with pytest.raises(ValueError, match=r"compile: expected run_eagerly=True \(every step eager, to debug\) or "
                                         r"jit_compile=True \(the step compiled, for speed\), got both\. Fix: keep one"):
        classifier().compile("sgd", "mse", run_eagerly=True, jit_compile=True)
    with pytest.raises(ValueError, match=r"compile: expected run_eagerly to be True or False, got 'yes'\. "
                                         r"Fix: model\.compile\(\.\.\., run_eagerly=True\) or leave it out\."):
        classifier().compile("sgd", "mse", run_eagerly="yes")


# ------------------------------------------------------------------ steps_per_execution, auto_scale_loss
def test_steps_per_execution_other_than_one_is_refused_with_what_to_use():
    classifier().compile("sgd", "mse", steps_per_execution=1)  # Keras's default: accepted
    for value in (32, "auto", True):
        with pytest.raises(ValueError, match=r"compile: expected steps_per_execution=1, got .*: brainnet runs one "
                                             r"batch per step call .* Fix: leave it out; for less overhead per sample "
                                             r"use a larger batch_size in fit, or jit_compile=True"):
            classifier().compile("sgd", "mse", steps_per_execution=value)


def test_auto_scale_loss_either_way_trains_the_same():
    for got, want in zip(trained_weights(auto_scale_loss=False), trained_weights(auto_scale_loss=True)):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"compile: expected auto_scale_loss to be True or False, got 1\.0\. Fix"):
        classifier().compile("sgd", "mse", auto_scale_loss=1.0)


# ------------------------------------------------------------------ unknown arguments
def test_an_argument_compile_does_not_take_lists_those_it_does():
    with pytest.raises(TypeError, match=r"compile: expected optimizer, loss, metrics, loss_weights, device, "
                                        r"jit_compile, weighted_metrics, run_eagerly, steps_per_execution or "
                                        r"auto_scale_loss, got metric=\. Fix: check the spelling of 'metric' "
                                        r"\(did you mean metrics=\?\)\."):
        classifier().compile("adam", "sparse_categorical_crossentropy", metric=["accuracy"])
    with pytest.raises(TypeError, match=r"got target_tensors=\. Fix: check the spelling of 'target_tensors'\.$"):
        classifier().compile("adam", "mse", target_tensors=None)


# ------------------------------------------------------------------ loss_weights
def two_heads() -> Model:
    set_random_seed(0)
    inputs = Input(shape=(4,))
    return Model(inputs, [Dense(2, activation="softmax", name="cls")(inputs), Dense(1, name="reg")(inputs)])


def test_loss_weights_as_a_list_weigh_each_output_loss_in_the_total():
    x, y = data()
    t = x[:, :1] * 2
    model = two_heads()
    model.compile(SGD(0.1), loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[2.0, 0.25], device="cpu")
    kc, bc, kr, br = (w.astype("float64") for w in model.get_weights())
    logits = x @ kc + bc
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    nll = -np.log(probs[np.arange(len(y)), y]).mean()
    mse = ((x @ kr + br - t) ** 2).mean()
    logs = model.train_on_batch(x, [y, t], return_dict=True)  # values from before the update
    assert logs["cls_loss"] == pytest.approx(nll, rel=1e-5)
    assert logs["reg_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["loss"] == pytest.approx(2.0 * nll + 0.25 * mse, rel=1e-5)


def test_a_zero_loss_weight_leaves_that_output_untrained():
    x, y = data()
    model = two_heads()
    model.compile(SGD(0.1), loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.0}, device="cpu")
    before = model.get_weights()
    model.fit(x, {"cls": y, "reg": x[:, :1]}, epochs=2, verbose=0)
    after = model.get_weights()
    assert not np.array_equal(before[0], after[0])  # the classifier learned
    np.testing.assert_array_equal(before[2], after[2])  # the regressor's weights had no gradient
    np.testing.assert_array_equal(before[3], after[3])


@pytest.mark.parametrize("weights", [0.5, [0.5], {"output": 0.5}])  # a Sequential model's output is "output"
@pytest.mark.parametrize("activation", ["softmax", None])  # the fused softmax + cross-entropy path, and the plain one
def test_loss_weights_on_a_single_output_scale_its_loss(weights, activation):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 5)).astype("float32"), rng.integers(0, 3, 32)
    loss = "sparse_categorical_crossentropy" if activation else SparseCategoricalCrossentropy(from_logits=True)

    def make(loss_weights):
        set_random_seed(0)
        model = Sequential([Dense(3, activation=activation, input_shape=(5,), name="out")])
        model.compile(SGD(0.1), loss, loss_weights=loss_weights, device="cpu")
        return model

    plain, weighted = make(None), make(weights)
    assert weighted.evaluate(x, y, verbose=0) == pytest.approx(0.5 * plain.evaluate(x, y, verbose=0), rel=1e-6)
    halved_rate = make(None)
    halved_rate.trainer.optimizer.learning_rate = 0.05  # SGD on 0.5·L with rate 0.1 is SGD on L with rate 0.05
    weighted.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    halved_rate.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(weighted.get_weights(), halved_rate.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
