"""``compute_metrics`` (and Keras 2's ``compiled_metrics.update_state``)
update the compiled metrics when the model keeps trackers of its own as
attributes, as keras.io's "Knowledge distillation recipes" does."""

from __future__ import annotations

import numpy as np
import pytest

import brainnet
from brainnet import layers


class WithTracker(brainnet.Sequential):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.own_loss = brainnet.metrics.Mean(name="own_loss")


def test_compute_metrics_updates_the_compiled_metrics_not_the_models_own_tracker():
    model = WithTracker([brainnet.Input((2,)), layers.Dense(3)])
    model.compile(loss=brainnet.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[brainnet.metrics.SparseCategoricalAccuracy()])
    assert model.metrics[-1] is model.own_loss
    x = np.array([[1.0, 0.0], [0.0, 1.0]], dtype="float32")
    y_pred = model(x)
    y = y_pred.detach().numpy().argmax(1)  # both right
    logs = model.compute_metrics(x, y, y_pred)
    assert logs["sparse_categorical_accuracy"] == pytest.approx(1.0)
    assert model.own_loss.count == 0
