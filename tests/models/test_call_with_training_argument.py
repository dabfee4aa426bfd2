"""A subclassed model whose ``call(self, x, training)`` gives ``training`` no
default (keras.io's GAN-ADA ``AdaptiveAugmenter``): Keras 3 fills it in when
it builds the model, so the first call and ``build`` work, in inference mode."""

from __future__ import annotations

import torch

import brainnet as keras
from brainnet import layers


class Augmenter(keras.Model):
    def __init__(self):
        super().__init__()
        self.modes = []
        self.dense = layers.Dense(3)

    def call(self, x, training):
        self.modes.append(training)
        return self.dense(x) * (2.0 if training else 1.0)


def test_first_call_builds_with_training_false_then_runs_as_asked():
    model = Augmenter()
    x = torch.ones(4, 5)
    out = model(x, training=True)
    assert out.shape == (4, 3)
    assert model.modes[0] is False  # the build's run on zeros is an inference run
    assert model.modes[-1] is True
    with torch.no_grad():
        torch.testing.assert_close(out, 2.0 * model(x, training=False))


def test_build_by_hand_gives_training_false():
    model = Augmenter()
    model.build((None, 5))
    assert model.modes and all(mode is False for mode in model.modes)
    assert [tuple(w.shape) for w in model.trainable_weights] == [(5, 3), (3,)]
