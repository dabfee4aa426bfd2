"""Layers held in list, tuple and dict attributes belong to the layer holding
them, as in Keras 3 (brainnet/layers/_tracking.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import Dense, Layer


class Blocks(brainnet.Model):
    """keras.io's pattern: a list made in __init__, one grown with append, and a dict."""

    def __init__(self):
        super().__init__()
        self.blocks = [Dense(8, activation="relu"), Dense(8, activation="relu")]
        self.heads = []
        self.heads.append(Dense(3))
        self.by_name = {"scale": Dense(3, use_bias=False)}

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return self.by_name["scale"](self.heads[0](x))


def _numpy_blocks(model, x):
    for block in model.blocks:
        x = np.maximum(x @ block.kernel.detach().numpy() + block.bias.detach().numpy(), 0)
    head = model.heads[0]
    x = x @ head.kernel.detach().numpy() + head.bias.detach().numpy()
    return x @ model.by_name["scale"].kernel.detach().numpy()


def test_layers_in_lists_and_dicts_are_the_models_weights_and_train():
    brainnet.utils.set_random_seed(0)
    model = Blocks()
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    model(x[:1])
    assert [type(layer).__name__ for layer in model.layers] == ["Dense"] * 4
    assert model.layers == [*model.blocks, model.heads[0], model.by_name["scale"]]
    assert list(model.state_dict()) == ["blocks.0.kernel", "blocks.0.bias", "blocks.1.kernel", "blocks.1.bias",
                                        "heads.0.kernel", "heads.0.bias", "by_name.scale.kernel"]
    assert model.count_params() == (4 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3) + 3 * 3
    np.testing.assert_allclose(model.predict(x, verbose=0), _numpy_blocks(model, x), rtol=1e-5, atol=1e-6)
    before = [w.detach().clone() for w in model.weights]
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not torch.equal(a, b) for a, b in zip(before, model.weights))  # every layer was trained
    assert [row[0] for row in model.summary_rows()] == model.layers


def test_tracked_weights_save_and_load_and_survive_a_deep_copy(tmp_path):
    brainnet.utils.set_random_seed(1)
    model = Blocks()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    want = model.predict(x, verbose=0)
    model.save_weights(tmp_path / "blocks.weights.safetensors")
    other = Blocks()
    other(x[:1])
    other.load_weights(tmp_path / "blocks.weights.safetensors")
    np.testing.assert_allclose(other.predict(x, verbose=0), want, rtol=1e-6)
    twin = copy.deepcopy(model)
    np.testing.assert_allclose(twin.predict(x, verbose=0), want, rtol=1e-6)
    twin.heads.append(Dense(2))  # the copy's list still reaches the copy, not the original
    assert len(twin.layers) == 5 and len(model.layers) == 4


def test_changes_to_the_list_follow_and_a_layer_is_held_once():
    class Holder(Layer):
        def __init__(self):
            super().__init__()
            self.first = Dense(2)
            self.all = [self.first, Dense(3)]  # the first is also an attribute of its own: registered once
            self.pair = (Dense(4), 7)
            self.nested = [[Dense(5)], {"a": [Dense(6)]}]
            self.sizes = [1, 2]  # no layer: a list all the same
            self._private = [1, 2]

    layer = Holder()
    names = [name for name, _ in layer.named_children()]
    assert names == ["first", "all", "pair", "nested"]
    assert [name for name, _ in layer._modules["all"].named_children()] == ["1"]
    assert [name for name, _ in layer._modules["nested"].named_children()] == ["0_0", "1_a_0"]
    layer.nested[1]["a"].append(Dense(7))  # a change deep inside is followed
    assert [name for name, _ in layer._modules["nested"].named_children()] == ["0_0", "1_a_0", "1_a_1"]
    removed = layer.all.pop()
    assert all(m is not removed for m in layer.modules())
    assert "all" not in dict(layer.named_children())  # nothing left to hold
    layer.all += [Dense(9)]
    assert [m.units for m in layer._modules["all"].children()] == [9]
    layer.pair = None  # a plain value over a tracked attribute drops its layers
    assert "pair" not in dict(layer.named_children()) and layer.pair is None
    assert layer.sizes == [1, 2] and isinstance(layer.sizes, list)
    assert type(layer._private) is list


def test_a_new_layer_in_a_list_takes_the_holders_mode():
    class Holder(Layer):
        def __init__(self):
            super().__init__()
            self.blocks = []

    layer = Holder()
    layer.eval()
    layer.blocks.append(Dense(2))
    assert layer.blocks[0].training is False


def test_errors():
    class Holder(Layer):
        def __init__(self):
            super().__init__()
            self.blocks = [Dense(2)]

        def call(self, x):
            return self._modules["blocks"](x)

    with pytest.raises(TypeError, match=r"a layer's list or dict of layers was called: expected each layer in it to "
                                        r"be called, got a call of the container\. Fix: for layer in self\.blocks"):
        Holder()(torch.ones(1, 2))
