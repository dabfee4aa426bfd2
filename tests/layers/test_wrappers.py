"""Wrapper, Keras 3's base class of wrappers: a wrapper of one's own (a
residual connection around a layer) against NumPy, its weights, config and
save/load; TimeDistributed as a Wrapper; the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Input, Layer, TimeDistributed, Wrapper
from brainnet.models import Sequential, load_model
from brainnet.saving import register_serializable


@register_serializable(package="test_wrappers")
class Residual(Wrapper):
    """y = x + f(x)."""

    def call(self, inputs):
        return inputs + self.layer(inputs)


def test_a_wrapper_of_ones_own_against_numpy_with_the_layers_weights():
    dense = Dense(4, activation="tanh")
    layer = Residual(dense)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3, 4)))
    y = layer(x)
    w, b = dense.kernel.detach().numpy(), dense.bias.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), x.numpy() + np.tanh(x.numpy() @ w + b), rtol=0, atol=1e-12)
    assert dense.built and dense.built_input_shape == (None, 4)  # built for the wrapper's input
    assert [id(t) for t in layer.weights] == [id(dense.kernel), id(dense.bias)]
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Dense" and config["layer"]["config"]["units"] == 4
    again = Residual.from_config(config)
    assert isinstance(again.layer, Dense) and again.layer.get_config()["activation"] == "tanh"


def test_a_wrapper_of_ones_own_saved_and_loaded(tmp_path):
    model = Sequential([Input((6,)), Residual(Dense(6, activation="relu")), Dense(2)])
    x = np.random.default_rng(1).normal(size=(5, 6)).astype("float32")
    model.save(tmp_path / "residual.brainnet")
    loaded = load_model(tmp_path / "residual.brainnet")
    assert isinstance(loaded.layers[0], Residual)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_time_distributed_is_a_wrapper_and_the_base_alone_computes_nothing():
    assert issubclass(TimeDistributed, Wrapper) and issubclass(Wrapper, Layer)
    layer = TimeDistributed(Dense(3))
    layer(torch.zeros(2, 5, 4))
    assert layer.layer.built_input_shape == (None, 4)  # one time step, TimeDistributed's own build
    with pytest.raises(NotImplementedError, match=r"Wrapper must implement call"):
        Wrapper(Dense(3))(torch.zeros(2, 4))


def test_errors_of_wrappers():
    with pytest.raises(TypeError, match=r"Residual: expected a brainnet layer instance, got the class Dense\. "
                                        r"Fix: Residual\(Dense\(10\)\)\."):
        Residual(Dense)
    with pytest.raises(TypeError, match=r"TimeDistributed: expected a brainnet layer instance, got Linear\. "
                                        r"Fix: TimeDistributed\(Dense\(10\)\)\."):
        TimeDistributed(torch.nn.Linear(3, 2))


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.wrappers as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0
