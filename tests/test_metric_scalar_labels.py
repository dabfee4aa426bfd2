"""``BinaryAccuracy.update_state(1.0, y_pred)``: one label for the whole batch
broadcast against the predictions, as Keras 3 does (keras.io's GAN-ADA
``real_accuracy.update_state(1.0, step(real_logits))``)."""

from __future__ import annotations

import numpy as np
import torch

from brainnet import metrics


def test_a_scalar_label_broadcasts_against_the_predictions():
    y_pred = np.array([[0.9], [0.2], [0.7], [0.4], [0.6]], dtype="float32")
    for label in (1.0, 0.0):
        m = metrics.BinaryAccuracy()
        m.update_state(label, torch.from_numpy(y_pred))
        expected = np.mean((y_pred > 0.5) == (label > 0.5))
        np.testing.assert_allclose(float(m.result()), expected)
        per_label = metrics.BinaryAccuracy()
        per_label.update_state(np.full_like(y_pred, label), y_pred)
        assert float(per_label.result()) == float(m.result())
