"""A list (or tuple) of layers assigned to a layer or model is tracked, as in
Keras 3: ``self.blocks = [Dense(4) for _ in range(3)]`` makes the blocks'
weights the owner's (``weights``, ``trainable_weights``, what ``fit``
trains), and the blocks follow the owner's training mode. Layers in mixed
lists, and those appended later, are tracked too (tests/layers/test_tracking.py
tests the containers themselves)."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers


class Blocks(keras.Model):
    def __init__(self, n=3):
        super().__init__()
        self.blocks = [layers.Dense(4, activation="tanh") for _ in range(n)]
        self.head = layers.Dense(1)

    def call(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_a_list_of_layers_is_tracked_and_indexes_as_a_list():
    model = Blocks()
    model(torch.zeros(2, 3))
    assert isinstance(model.blocks, list) and len(model.blocks) == 3
    assert list(model.state_dict())[:2] == ["blocks.0.kernel", "blocks.0.bias"]  # as an nn.ModuleList's
    assert all(isinstance(b, layers.Dense) for b in model.blocks) and model.blocks[-1] is list(model.blocks)[2]
    # the blocks' kernels and biases, then the head's: 8 weights in Keras's order
    assert len(model.trainable_weights) == 8
    expected = [w for b in model.blocks for w in (b.kernel, b.bias)] + [model.head.kernel, model.head.bias]
    assert all(a is b for a, b in zip(model.weights, expected))
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 4), (4,), (4, 4), (4,), (4, 1), (1,)]
    copy = Blocks()
    copy(torch.zeros(2, 3))
    copy.set_weights(weights)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_fit_trains_the_layers_of_a_list():
    keras.utils.set_random_seed(0)
    model = Blocks()
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x.sum(1, keepdims=True)
    model(torch.from_numpy(x[:1]))
    before = [w.detach().clone() for w in model.blocks[0].weights]
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert all(not torch.equal(a, b) for a, b in zip(before, model.blocks[0].weights))


def test_the_tracked_layers_follow_the_owners_mode_and_mixed_and_empty_lists_are_tracked_too():
    model = Blocks()
    model(torch.zeros(2, 3))
    assert not any(b.training for b in model.blocks)  # new layers infer, as their owner
    model.train()
    assert all(b.training for b in model.blocks)
    model.eval()
    model.pair = (layers.Dense(2), layers.Dense(3))  # a tuple of layers too
    assert isinstance(model.pair, tuple) and not model.pair[0].training
    model.sizes = [1, 2, 3]
    model.nothing = []
    model.mixed = [layers.Dense(2), 3]
    assert model.sizes == [1, 2, 3] and model.nothing == [] and model.mixed[1] == 3
    assert len(model.trainable_weights) == 8  # the pair and the mixed list's layer have no weights yet
    model.nothing.append(layers.Dense(5))  # layers in a mixed list, or appended later, are tracked (Keras 3)
    model.pair[0](torch.zeros(1, 4)), model.mixed[0](torch.zeros(1, 4)), model.nothing[0](torch.zeros(1, 4))
    assert len(model.trainable_weights) == 8 + 3 * 2
