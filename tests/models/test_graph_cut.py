"""A functional model whose dict of inputs holds layer outputs (Keras 3's graph cut,
brainnet.models._graph_cut), and layers called on a dict of symbolic tensors."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


class SumOfDict(layers.Layer):
    """y = Σ_k W x_k over the dict's values (one Dense shared by all)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(1, use_bias=False)

    def call(self, inputs):
        return sum(self.dense(v) for v in inputs.values())


def _graph():
    a = layers.Input(shape=(2,), name="a")
    b = layers.Input(shape=(2,), name="b")
    scaled = layers.Rescaling(10.0)(a)  # cut off by the dict below
    head = SumOfDict()
    return a, b, scaled, head, head({"a": scaled, "b": b})


def test_a_layer_output_in_the_inputs_dict_becomes_an_input_named_by_its_key(tmp_path):
    torch.manual_seed(0)
    a, b, scaled, head, y = _graph()
    model = keras.Model({"a_scaled": scaled, "b": b}, y)
    assert [t.name for t in model.inputs] == ["a_scaled", "b"]
    assert model.inputs[0].shape == (None, 2) and model.inputs[0].node is None
    assert not any(isinstance(layer, layers.Rescaling) for layer in model.layers)
    x = {"a_scaled": np.array([[1.0, 2.0], [3.0, -1.0]], "float32"), "b": np.array([[0.5, 0.0], [1.0, 1.0]], "float32")}
    w = head.dense.kernel.detach().numpy()  # (2, 1)
    expected = x["a_scaled"] @ w + x["b"] @ w  # the values as given: no rescaling by 10
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)
    # the whole graph from its Inputs still runs through the Rescaling, with the same weights
    full = keras.Model({"a": a, "b": b}, y)
    np.testing.assert_allclose(full.predict({"a": x["a_scaled"], "b": x["b"]}, verbose=0),
                               10 * x["a_scaled"] @ w + x["b"] @ w, rtol=1e-5)
    # it trains on data keyed by the dict's keys
    model.compile("sgd", "mse")
    history = model.fit(x, np.ones((2, 1), "float32"), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_a_cut_model_saves_and_loads(tmp_path):
    torch.manual_seed(0)
    a = layers.Input(shape=(3,), name="a")
    b = layers.Input(shape=(1,), name="b")
    hidden = layers.Dense(4)(a)
    y = layers.Dense(1)(layers.concatenate([hidden, b]))
    model = keras.Model({"hidden": hidden, "b": b}, y)
    x = {"hidden": np.random.default_rng(0).normal(size=(5, 4)).astype("float32"),
         "b": np.arange(5, dtype="float32")[:, None]}
    model.save(tmp_path / "cut.keras")
    loaded = keras.models.load_model(tmp_path / "cut.keras")
    assert [t.name for t in loaded.inputs] == ["hidden", "b"]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_a_layer_called_on_a_dict_of_symbolic_tensors():
    torch.manual_seed(0)
    a, b, scaled, head, y = _graph()
    model = keras.Model({"a": a, "b": b}, y)
    assert any(layer is head for layer in model.layers)
    x = {"a": np.ones((3, 2), "float32"), "b": np.zeros((3, 2), "float32")}
    w = head.dense.kernel.detach().numpy()
    np.testing.assert_allclose(model.predict(x, verbose=0), 10 * x["a"] @ w, rtol=1e-5)
