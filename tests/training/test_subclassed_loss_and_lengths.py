"""Two things keras.io's NER example needs from fit, as Keras 3 does them:

- a ``Loss`` subclass of the user's that overrides ``call`` gets the targets
  as given (the example's masked loss reads ``(N, T)`` tag ids beside
  ``(N, T, tags)`` probabilities), as a loss function of the user's does
  (brainnet/training/data.py, ``prepare_labels``); brainnet's own losses
  still check the targets' shape;
- a subclassed model takes batches of other lengths than the first
  (``padded_batch`` pads each batch to its own longest sentence): Keras 3
  fixes none of a subclassed model's input axes, so only the rank is
  checked (brainnet/training/prepare.py); a functional model still refuses
  another length on an axis its ``Input`` fixes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class MaskedTokenLoss(keras.losses.Loss):
    """Sparse cross-entropy over the positions whose label is not 0 (padding)."""

    def call(self, y_true, y_pred):
        losses = keras.losses.SparseCategoricalCrossentropy(reduction=None)(y_true, y_pred)
        mask = (y_true > 0).to(torch.float32)
        return torch.sum(losses * mask) / torch.sum(mask)


class Tagger(keras.Model):
    def __init__(self):
        super().__init__()
        self.embedding = layers.Embedding(20, 8)
        self.out = layers.Dense(4, activation="softmax")

    def call(self, inputs):
        return self.out(self.embedding(inputs))


def _batches(lengths, seed=0):
    """(ids, tags) batches, each of its own length; the tag is 1 + id % 3, 0 where the id is 0 (padding)."""
    rng = np.random.default_rng(seed)
    out = []
    for length in lengths:
        ids = rng.integers(1, 20, size=(8, length))
        ids[:, length - 2:] = 0  # the batch's padding
        tags = np.where(ids > 0, 1 + ids % 3, 0)
        out.append((torch.from_numpy(ids), torch.from_numpy(tags)))
    return out


def test_a_subclassed_model_fits_batches_of_several_lengths_with_a_loss_subclass():
    keras.utils.set_random_seed(0)
    model = Tagger()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=MaskedTokenLoss())
    train = torch.utils.data.DataLoader(_batches([6, 9, 5, 12] * 4), batch_size=None)  # ready-made batches
    history = model.fit(train, epochs=2, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    x, y = _batches([7], seed=1)[0]
    probabilities = model.predict(x, verbose=0)
    assert probabilities.shape == (8, 7, 4)
    picked = np.take_along_axis(probabilities, y.numpy()[..., None], axis=-1)[..., 0]
    expected = -np.log(picked[y.numpy() > 0]).mean()  # padded positions left out
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)


def test_brainnets_own_sparse_loss_still_checks_the_targets():
    model = Tagger()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = _batches([5])[0]
    with pytest.raises(ValueError, match="expects one class index per output position"):
        model.fit(x, y[:, :3], verbose=0)


def test_a_functional_model_still_refuses_another_length_on_a_fixed_axis():
    inputs = keras.Input(shape=(6,), dtype="int64")
    model = keras.Model(inputs, layers.Dense(4, activation="softmax")(layers.Embedding(20, 8)(inputs)))
    model.compile(optimizer="adam", loss=MaskedTokenLoss())
    x, y = _batches([5])[0]
    with pytest.raises(ValueError, match=r"Model input: expected shape \(None, 6\), got \(8, 5\)"):
        model.fit(x, y, verbose=0)


def test_a_subclassed_model_still_refuses_another_rank():
    model = Tagger()
    model.compile(optimizer="adam", loss=MaskedTokenLoss())
    x, y = _batches([5])[0]
    model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match=r"Model input: expected shape \(None, None\), got \(8,\)"):
        model.predict(x[:, 0], verbose=0)
