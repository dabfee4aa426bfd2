"""A one-input model given its array inside a one-element list (``model.predict([x])``,
as the EEG example's ``view_evaluated_eeg_plots`` writes it): Keras 3 flattens the
list to the model's one input; brainnet takes the array, in predict, evaluate and fit."""

from __future__ import annotations

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers


def _functional():
    inputs = keras.Input(shape=(6, 1))
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(inputs))
    return keras.Model(inputs, outputs)


def _sequential():
    return keras.Sequential([keras.Input(shape=(6, 1)), layers.Flatten(), layers.Dense(2, activation="softmax")])


@pytest.mark.parametrize("make", [_functional, _sequential])
def test_a_batched_array_in_a_one_element_list_is_the_models_input(make):
    keras.utils.set_random_seed(0)
    model = make()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(5, 6, 1)).astype("float32")
    y = np.eye(2)[[0, 1, 0, 1, 1]]
    np.testing.assert_allclose(model.predict([x], verbose=0), model.predict(x, verbose=0), atol=1e-7)
    assert model.evaluate([x], y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))
    history = model.fit([x], y, epochs=1, batch_size=5, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_a_list_of_single_samples_is_still_stacked_into_a_batch():
    """``[sample]`` (one axis short of a batch) stays a batch of one, as before."""
    model = _functional()
    sample = np.ones((6, 1), dtype="float32")
    assert model.predict([sample], verbose=0).shape == (1, 2)


def test_a_wrong_array_in_a_one_element_list_is_refused_with_its_own_shape():
    model = _functional()
    with pytest.raises(ValueError, match=r"expected shape \(None, 6, 1\), got \(5, 6, 2\)"):
        model.predict([np.ones((5, 6, 2), dtype="float32")], verbose=0)
