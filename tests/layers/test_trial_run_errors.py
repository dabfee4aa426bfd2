"""A functional graph learns a layer's output shape from two trial runs on
zeros (every unknown size 2, then 3); torch's own errors in them (a reshape
to a fixed batch size, as keras.io's Switch Transformer writes) say so and
give the fix (brainnet/layers/symbolic.py, ``_probe_run``)."""

from __future__ import annotations

import pytest
import torch

import brainnet as keras
from brainnet import layers


class FixedBatch(layers.Layer):
    def call(self, x):
        return torch.reshape(x, [50 * 4, 3])  # 50 rows of 4 tokens: the batch size written in


class FixedBatchWithShapeRule(FixedBatch):
    def call(self, x):
        return torch.reshape(x, [x.shape[0] * 4, 3]).reshape(x.shape) if x.shape[0] != 50 else super().call(x)

    def compute_output_shape(self, input_shape):
        return input_shape


def test_a_reshape_to_a_fixed_batch_size_in_a_graph_says_its_a_trial_run_and_how_to_fix_it():
    inputs = keras.Input(shape=(4, 3))
    with pytest.raises(RuntimeError, match=r"shape '\[200, 3\]' is invalid .*\(Shapes above come from a trial run "
                                           r"on zeros in which every size the model does not know yet, the batch's "
                                           r"included, was 2\.\) Fix: in FixedBatch's call, take sizes from the "
                                           r"input \(x\.shape\[0\], or -1 in a reshape\).*compute_output_shape"):
        FixedBatch()(inputs)


def test_compute_output_shape_spares_the_trial_runs():
    inputs = keras.Input(shape=(4, 3))
    assert FixedBatchWithShapeRule()(inputs).shape == (None, 4, 3)


def test_torch_errors_outside_a_graph_are_torchs_own():
    with pytest.raises(RuntimeError) as caught:
        FixedBatch()(torch.zeros(2, 4, 3))
    assert "trial run" not in str(caught.value)
