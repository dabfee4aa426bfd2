"""Functional outputs nested in lists (Keras 3): ``Model(x, [[a, b], c])``
keeps ``model.outputs`` flat and gives its results (a call, ``predict``, a
reloaded model) in the nesting the outputs were given in. The involution
example builds one from layers that return two tensors each:
``Model(model.input, [model.get_layer(n).output for n in names])``."""

from __future__ import annotations

import numpy as np
import torch

from brainnet import layers
from brainnet.models import Model, load_model


class TwoWays(layers.Layer):
    """Returns (x·W, sum of x·W over its last axis): a layer with two outputs."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    def call(self, x):
        y = self.dense(x)
        return y, y.sum(dim=-1, keepdim=True)


def nested_model():
    torch.manual_seed(0)
    inputs = layers.Input((4,))
    first = TwoWays(3, name="first")
    h, _ = first(inputs)
    second = TwoWays(2, name="second")
    second(h)
    head = layers.Dense(1, name="head")(h)
    return Model(inputs, [first.output, [second.output, head]]), first, second


def by_hand(first, second, x):
    """NumPy: the two layers' weights applied one after the other."""
    k1, b1 = first.dense.get_weights()
    k2, b2 = second.dense.get_weights()
    y1 = x.astype("float64") @ k1 + b1
    y2 = y1 @ k2 + b2
    return y1, y1.sum(-1, keepdims=True), y2, y2.sum(-1, keepdims=True)


def test_outputs_stay_flat_and_results_come_back_nested():
    model, first, second = nested_model()
    assert len(model.outputs) == 5 and all(t.shape[0] is None for t in model.outputs)
    x = np.random.default_rng(0).normal(size=(7, 4)).astype("float32")
    got = model.predict(x, batch_size=3, verbose=0)  # three batches gathered per output
    assert isinstance(got, list) and len(got) == 2
    (y1, s1), ((y2, s2), head) = got
    assert head.shape == (7, 1)
    for g, w in zip((y1, s1, y2, s2), by_hand(first, second, x)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    called = model(torch.from_numpy(x))
    assert [len(called), len(called[0]), len(called[1]), len(called[1][0])] == [2, 2, 2, 2]
    np.testing.assert_allclose(called[1][0][0].detach().numpy(), y2, rtol=1e-6, atol=1e-6)


def test_a_saved_nested_model_loads_with_its_nesting(tmp_path):
    model, _, _ = nested_model()
    x = np.random.default_rng(1).normal(size=(5, 4)).astype("float32")
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "nested.keras")
    loaded = load_model(tmp_path / "nested.keras", custom_objects={"TwoWays": TwoWays})
    got = loaded.predict(x, verbose=0)
    (a, b), ((c, d), e) = got
    for g, w in zip((a, b, c, d, e), (want[0][0], want[0][1], want[1][0][0], want[1][0][1], want[1][1])):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_flat_lists_of_outputs_are_unchanged():
    inputs = layers.Input((4,))
    model = Model(inputs, [layers.Dense(2)(inputs), layers.Dense(3)(inputs)])
    got = model.predict(np.zeros((2, 4), "float32"), verbose=0)
    assert [g.shape for g in got] == [(2, 2), (2, 3)]
    assert model.get_config()["output_structure"] is None
