"""``x + y``, ``x - y`` and ``x * y`` on symbolic tensors in a functional
model (brainnet/layers/_symbolic_operators.py), as Keras 3's KerasTensor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Add, Dense, Input, Multiply, Subtract
from brainnet.models import Model, load_model
from brainnet.utils import set_random_seed


def test_operators_record_merging_layers_and_compute_the_arithmetic():
    set_random_seed(0)
    inputs = Input(shape=(3, 4))
    a, b = Dense(4)(inputs), Dense(4)(inputs)
    added, subtracted, multiplied = a + b, a - b, a * b
    assert [t.shape for t in (added, subtracted, multiplied)] == [(None, 3, 4)] * 3
    model = Model(inputs, [added, subtracted, multiplied])
    assert [type(layer) for layer in model.layers[3:]] == [Add, Subtract, Multiply]  # after InputLayer, 2 Dense
    x = np.random.default_rng(0).normal(size=(5, 3, 4)).astype("float32")
    first, second = [layer(torch.from_numpy(x)).detach().numpy().astype("float64") for layer in model.layers[1:3]]
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got[0], first + second, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[1], first - second, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got[2], first * second, rtol=1e-6, atol=1e-6)
    # the order of the operands is kept: b - a is the negative of a - b
    flipped = Model(inputs, b - a).predict(x, verbose=0)
    np.testing.assert_allclose(flipped, -(first - second), rtol=1e-6, atol=1e-6)


def test_a_model_with_operators_trains_and_saves(tmp_path):
    set_random_seed(0)
    inputs = Input(shape=(4,))
    hidden = Dense(8, activation="relu")(inputs)
    outputs = Dense(1)(hidden + Dense(8)(inputs))  # a skip connection written with +
    model = Model(inputs, outputs)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = x.sum(1, keepdims=True)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "skip.keras")
    loaded = load_model(tmp_path / "skip.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_errors():
    inputs = Input(shape=(4,))
    with pytest.raises(TypeError, match=r"Symbolic tensor '\*': expected another symbolic tensor .* got float 2\.0\. "
                                        r"Fix: layers\.Rescaling\(c\)\(x\)"):
        inputs * 2.0
    with pytest.raises(TypeError, match=r"Symbolic tensor '\+': .* got int 1\. Fix: layers\.Lambda\(lambda t: t \+ c\)"):
        1 + inputs
    with pytest.raises(TypeError, match=r"Symbolic tensor '-': .* got ndarray .*Fix: layers\.Lambda\(lambda t: t - c\)"):
        inputs - np.ones(4)
    # shapes that differ: the merging layer's own message
    with pytest.raises(ValueError, match=r"expected inputs whose shapes agree.*Fix:"):
        inputs + Input(shape=(3,))
