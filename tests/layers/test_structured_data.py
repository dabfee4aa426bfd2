"""A structured-data classifier as Keras's tutorial builds it: each column
through its preprocessing layer (IntegerLookup, CategoryEncoding,
Discretization, Normalization), Concatenate, Dense; fit, evaluate, save and
load. The table is a heart-disease-like one drawn from a stated rule, so
the test knows what a model that learned it must reach."""

from __future__ import annotations

import numpy as np

from brainnet.layers import (CategoryEncoding, Concatenate, Dense, Discretization, Input, IntegerLookup,
                             Normalization)
from brainnet.models import Model, load_model


def table(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Columns of a clinic's records and a diagnosis drawn from a logistic rule of them."""
    rng = np.random.default_rng(seed)
    age = rng.normal(54, 9, n).round().clip(29, 77)
    sex = rng.integers(0, 2, n)
    cp = rng.choice([1, 2, 3, 4], n, p=[0.1, 0.2, 0.3, 0.4])  # chest pain type, coded 1..4
    thal = rng.choice([3, 6, 7], n, p=[0.55, 0.1, 0.35])  # a test result, coded 3, 6, 7
    chol = rng.normal(245, 50, n).round()
    logit = (-2.0 + 2.2 * (cp == 4) + 1.6 * (thal == 7) + 0.9 * (thal == 6) + 0.6 * sex
             + 0.08 * (age - 54) + 0.004 * (chol - 245))
    target = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    columns = {"age": age.astype(np.float32)[:, None], "sex": sex[:, None], "cp": cp[:, None],
               "thal": thal[:, None], "chol": chol.astype(np.float32)[:, None]}
    return columns, target[:, None]


def test_tabular_classifier_learns_the_rule_and_survives_save(tmp_path):
    train, y_train = table(3000, seed=0)
    test, y_test = table(1000, seed=1)
    cp_lookup, thal_lookup = IntegerLookup(output_mode="one_hot"), IntegerLookup(output_mode="one_hot")
    cp_lookup.adapt(train["cp"])
    thal_lookup.adapt(train["thal"])
    age_bins = Discretization(num_bins=5, output_mode="one_hot")
    age_bins.adapt(train["age"])
    chol_norm = Normalization()
    chol_norm.adapt(train["chol"])

    inputs = {"age": Input(shape=(1,), name="age"), "sex": Input(shape=(1,), dtype="int64", name="sex"),
              "cp": Input(shape=(1,), dtype="int64", name="cp"),
              "thal": Input(shape=(1,), dtype="int64", name="thal"), "chol": Input(shape=(1,), name="chol")}
    features = Concatenate()([age_bins(inputs["age"]), CategoryEncoding(num_tokens=2, output_mode="one_hot")(
        inputs["sex"]), cp_lookup(inputs["cp"]), thal_lookup(inputs["thal"]), chol_norm(inputs["chol"])])
    assert features.shape == (None, 5 + 2 + 5 + 4 + 1)
    hidden = Dense(16, activation="relu")(features)
    names = list(inputs)
    model = Model([inputs[k] for k in names], Dense(1, activation="sigmoid")(hidden))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    x_train, x_test = [train[k] for k in names], [test[k] for k in names]
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    majority = max(y_test.mean(), 1 - y_test.mean())  # what a model that learned nothing reaches
    assert accuracy > majority + 0.08, (accuracy, majority)

    before = model.predict(x_test, verbose=0)
    model.save(tmp_path / "tabular.brainnet")
    loaded = load_model(tmp_path / "tabular.brainnet")
    np.testing.assert_allclose(loaded.predict(x_test, verbose=0), before, rtol=1e-5, atol=1e-6)
