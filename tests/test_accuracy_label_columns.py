"""``metrics=["accuracy"]`` with labels of one column, ``(N, 1)``, beside
several output units picks sparse categorical accuracy, as Keras 3 does,
also when no loss is compiled to say so (keras.io's consistency-training
example compiles its ``SelfTrainer`` with metrics only and reads CIFAR's
``(N, 1)`` labels)."""

from __future__ import annotations

import numpy as np
import torch

import brainnet as keras
from brainnet import layers, metrics


def test_sparse_labels_follows_keras_rule():
    assert metrics.sparse_labels((8,), (8, 10))  # lower rank
    assert metrics.sparse_labels((8, 1), (8, 10))  # one column beside 10 units
    assert not metrics.sparse_labels((8, 10), (8, 10))  # one-hot
    assert not metrics.sparse_labels((8, 1), (8, 1))  # binary
    assert metrics.sparse_labels((), (8, 10))  # one 0-d label: lower rank


def test_compiled_metrics_with_no_loss_take_column_labels_as_indices():
    class Trainer(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = layers.Dense(10)

        def call(self, x):
            return self.net(x)

        def train_step(self, data):
            x, y = data
            self.compute_metrics(x, y, self(x))
            return {m.name: m.result() for m in self.metrics}

    model = Trainer()
    model.compile(optimizer="adam", metrics=["accuracy"])
    x = torch.randn(32, 4)
    y = torch.randint(0, 10, (32, 1))
    logs = model.train_step((x, y))
    with torch.no_grad():
        expected = np.mean(model(x).numpy().argmax(1) == y.numpy()[:, 0])
    np.testing.assert_allclose(float(logs["compile_metrics"]["accuracy"]), expected)
    assert expected != np.mean(model(x).detach().numpy().argmax(1) == 0)  # what categorical accuracy would give
