"""``tf.data``'s ``dataset.map(fn)`` for the ports that map a whole batch at a
time (a ``FeatureSpace`` or a ``TextVectorization`` applied to each batch of
a DataLoader): what the example's ``dataset.map`` line becomes."""

from __future__ import annotations

import torch


class MappedBatches(torch.utils.data.IterableDataset):
    """``dataset.map(fn)`` on a DataLoader of (x, y) batches: fn applied to each batch as it is read."""

    def __init__(self, dataset, fn):
        self.dataset, self.fn = dataset, fn

    def __iter__(self):
        return (self.fn(x, y) for x, y in self.dataset)
