"""``tf.data``'s ``dataset.map(fn)`` for the ports that map a whole batch at a
time (a ``FeatureSpace`` or a ``TextVectorization`` applied to each batch of
a DataLoader, or the images of a folder read with ``label_mode=None``):
what the example's ``dataset.map`` line becomes."""

from __future__ import annotations

import torch


class MappedBatches(torch.utils.data.IterableDataset):
    """``dataset.map(fn)`` on a DataLoader: fn applied to each batch as it is read, a tuple
    batch unpacked into fn's arguments (``fn(x, y)``) as ``tf.data`` does, any other given whole."""

    def __init__(self, dataset, fn):
        self.dataset, self.fn = dataset, fn

    def __iter__(self):
        return (self.fn(*batch) if isinstance(batch, (tuple, list)) else self.fn(batch) for batch in self.dataset)
