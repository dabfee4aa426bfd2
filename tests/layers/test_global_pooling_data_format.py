"""Keras 3's ``data_format`` on the global poolings: ``"channels_last"`` and
None are the same (brainnet's layers are channels last; the timeseries
Transformer example writes ``GlobalAveragePooling1D(data_format="channels_last")``),
kept in the config; ``"channels_first"`` and anything else are refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                             GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, Permute)

RNG = np.random.default_rng(0)
ALL = [(GlobalAveragePooling1D, (2, 5, 3), np.mean), (GlobalMaxPooling1D, (2, 5, 3), np.max),
       (GlobalAveragePooling2D, (2, 4, 5, 3), np.mean), (GlobalMaxPooling2D, (2, 4, 5, 3), np.max),
       (GlobalAveragePooling3D, (2, 3, 4, 2, 3), np.mean), (GlobalMaxPooling3D, (2, 3, 4, 2, 3), np.max)]


@pytest.mark.parametrize("cls,shape,reduce", ALL)
@pytest.mark.parametrize("data_format", ["channels_last", None])
def test_channels_last_reduces_every_axis_between_batch_and_channels(cls, shape, reduce, data_format):
    """y[n, c] = mean (or max) of x[n, ..., c] over the positions, in NumPy."""
    x = RNG.normal(size=shape)
    layer = cls(data_format=data_format)
    y = layer(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, reduce(x, axis=tuple(range(1, len(shape) - 1))), rtol=0, atol=1e-12)
    config = layer.get_config()
    assert config["data_format"] == "channels_last" and cls.from_config(config).get_config() == config


def test_data_format_is_keras_first_positional_argument():
    layer = GlobalAveragePooling1D("channels_last", True)
    assert layer.data_format == "channels_last" and layer.keepdims is True


@pytest.mark.parametrize("cls,permute", [(GlobalAveragePooling1D, r"Permute\(\(2, 1\)\)"),
                                         (GlobalMaxPooling2D, r"Permute\(\(2, 3, 1\)\)"),
                                         (GlobalAveragePooling3D, r"Permute\(\(2, 3, 4, 1\)\)")])
def test_channels_first_is_refused_with_the_permute_that_fixes_it(cls, permute):
    with pytest.raises(ValueError, match=rf"expected data_format 'channels_last' or None, got 'channels_first'. "
                                         rf"Fix: leave data_format out .*{permute}"):
        cls(data_format="channels_first")


def test_the_permute_the_error_names_gives_keras_channels_first_result():
    """Keras's GlobalAveragePooling1D(data_format="channels_first") on (batch, channels, steps)
    averages over the steps: Permute((2, 1)) then the channels-last layer does the same."""
    x = RNG.normal(size=(2, 3, 7))  # (batch, channels, steps)
    y = GlobalAveragePooling1D()(Permute((2, 1))(torch.from_numpy(x))).numpy()
    np.testing.assert_allclose(y, x.mean(axis=2), rtol=0, atol=1e-12)


def test_an_unknown_data_format_is_refused():
    with pytest.raises(ValueError, match=r"got 'channel_last'. Fix: data_format='channels_last', or leave it out"):
        GlobalMaxPooling1D(data_format="channel_last")
