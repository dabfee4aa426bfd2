"""An IterableDataset given to fit/evaluate/predict: refused with the DataLoader
that says whether it yields samples or batches (torch's own error, about a
shuffle option, said nothing of that; predict would have batched batches)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Batches(torch.utils.data.IterableDataset):  # what tf.data's dataset.map(fn) on batches becomes
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return ((self.x[i:i + 8], self.y[i:i + 8]) for i in range(0, len(self.x), 8))


def _model():
    model = keras.Sequential([keras.Input(shape=(3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_an_iterable_dataset_is_refused_with_the_dataloader_to_wrap_it_in(method):
    x, y = torch.ones(32, 3), torch.zeros(32, 1)
    with pytest.raises(ValueError, match=rf"{method}: expected a DataLoader, or a Dataset of samples that {method} "
                                         r"batches, got the IterableDataset Batches, whose items may be samples or "
                                         rf"whole batches\. Fix: {method}\(DataLoader\(dataset, batch_size=None\)\)"):
        getattr(_model(), method)(Batches(x, y), verbose=0)


def test_the_fix_trains_on_its_batches():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(64, 3)).astype("float32"))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    model = _model()
    history = model.fit(torch.utils.data.DataLoader(Batches(x, y), batch_size=None), epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.predict(torch.utils.data.DataLoader(Batches(x, y), batch_size=None), verbose=0).shape == (64, 1)
