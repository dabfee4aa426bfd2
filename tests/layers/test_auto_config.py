"""Keras 3's automatic config (brainnet/layers/_auto_config.py): a layer class
of the user's that writes no get_config is saved, loaded and cloned from the
plain arguments it was made with; anything else keeps the refusal that asks
for a get_config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.models import clone_model, load_model


class DepthToSpace(layers.Layer):  # keras.io's super-resolution example: no name, no **kwargs
    def __init__(self, block_size):
        super().__init__()
        self.block_size = block_size

    def call(self, x):
        b, h, w, d = x.shape
        x = torch.reshape(x, [b, h, w, self.block_size, self.block_size, d // self.block_size**2])
        return torch.reshape(torch.permute(x, [0, 1, 3, 2, 4, 5]), [b, h * self.block_size, w * self.block_size, -1])


class Scale(layers.Layer):  # the usual pattern: its own arguments, the rest through **kwargs
    def __init__(self, factor=2.0, offsets=(0.0,), options=None, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.offsets, self.options = factor, offsets, options

    def call(self, x):
        return x * self.factor + self.offsets[0]


def test_the_arguments_an_init_without_kwargs_takes_are_the_config():
    layer = DepthToSpace(3)
    assert layer.get_config() == {"block_size": 3}  # no name or trainable: DepthToSpace(name=...) would fail
    again = DepthToSpace.from_config(layer.get_config())
    assert again.block_size == 3


def test_defaults_kwargs_and_nested_plain_values_are_recorded():
    config = Scale(options={"mode": ["a", 1, None]}, name="s", trainable=False).get_config()
    assert config["factor"] == 2.0 and config["offsets"] == (0.0,) and config["options"] == {"mode": ["a", 1, None]}
    assert config["name"] == "s" and config["trainable"] is False  # **kwargs takes the common entries back
    again = Scale.from_config(config)
    assert (again.name, again.factor, again.trainable) == ("s", 2.0, False)


def test_a_saved_model_with_such_layers_loads_with_their_arguments_and_names(tmp_path):
    inputs = keras.Input(shape=(None, None, 1))
    x = layers.Conv2D(9, 3, padding="same")(inputs)
    x = Scale(0.5, offsets=[1.0])(x)
    outputs = DepthToSpace(3)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras", custom_objects={"DepthToSpace": DepthToSpace, "Scale": Scale})
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]  # kept beside the config
    assert (loaded.layers[2].factor, loaded.layers[2].offsets, loaded.layers[3].block_size) == (0.5, [1.0], 3)
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    clone = clone_model(model)
    assert isinstance(clone.layers[-1], DepthToSpace) and clone.layers[-1].block_size == 3


def test_arguments_that_are_not_plain_values_record_nothing_and_save_refuses(tmp_path):
    layer = Scale(torch.tensor(3.0))
    assert "factor" not in layer.get_config()  # Layer's own entries only, as before
    model = keras.Sequential([keras.Input(shape=(2,)), layer])
    with pytest.raises(ValueError, match=r"save: expected layer class 'Scale' to record its __init__ arguments "
                                         r"\['factor', 'offsets', 'options'\] in get_config\(\)"):
        model.save(tmp_path / "m.keras")


def test_a_get_config_of_the_users_or_of_a_brainnet_parent_is_used_as_it_is(tmp_path):
    class Own(Scale):
        def get_config(self):
            return {**super().get_config(), "factor": 7.0}

    assert Own(3.0).get_config()["factor"] == 7.0

    class WideDense(layers.Dense):  # Dense's get_config, which knows nothing of `extra`
        def __init__(self, units, extra=1, **kwargs):
            super().__init__(units, **kwargs)
            self.extra = extra

    assert "extra" not in WideDense(2, extra=5).get_config()
    model = keras.Sequential([keras.Input(shape=(2,)), WideDense(2, extra=5)])
    with pytest.raises(ValueError, match=r"expected layer class 'WideDense' to record its __init__ arguments "
                                         r"\['extra'\]"):
        model.save(tmp_path / "m.keras")


def test_brainnet_layers_and_models_record_nothing():
    assert layers.Dense(3).__dict__["_auto_config"] is None
    inputs = keras.Input(shape=(2,))
    assert keras.Model(inputs, layers.Dense(1)(inputs)).__dict__["_auto_config"] is None
