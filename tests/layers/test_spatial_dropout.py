"""SpatialDropout1D/2D (in layers/core.py): whole channels dropped, the
survivors scaled by 1/(1 − rate), identity at inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import SpatialDropout1D, SpatialDropout2D


@pytest.mark.parametrize("cls, shape", [(SpatialDropout1D, (64, 5, 16)), (SpatialDropout2D, (64, 4, 5, 16))])
def test_drops_whole_channels_and_scales(cls, shape):
    torch.manual_seed(0)
    rate = 0.25
    x = torch.from_numpy(np.random.default_rng(0).random(shape) + 0.5)  # float64, no zeros
    layer = cls(rate)
    assert layer(x, training=False) is x
    y = layer(x, training=True)
    ratio = (y / x).numpy()
    # NumPy reference of the equation: y = x · m[n, c] / (1 − rate), m ∈ {0, 1} per (sample, channel)
    m = ratio.reshape(shape[0], -1, shape[-1])[:, 0, :] * (1 - rate)  # (N, C)
    assert set(np.round(np.unique(m), 12)) == {0.0, 1.0}
    expected = x.numpy() * m.reshape((shape[0],) + (1,) * (len(shape) - 2) + (shape[-1],)) / (1 - rate)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=0)
    assert abs((m == 0).mean() - rate) < 0.06  # 1024 draws


def test_config_shapes_and_errors():
    layer = SpatialDropout2D(0.3, name="sd")
    assert SpatialDropout2D.from_config(layer.get_config()).get_config() == {"name": "sd", "trainable": True, "rate": 0.3}
    assert torch.equal(SpatialDropout1D(0.0)(torch.ones(2, 3, 4), training=True), torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"SpatialDropout1D: expected rate in \[0, 1\), got 1.*Fix"):
        SpatialDropout1D(1)
    with pytest.raises(ValueError, match="expected input of rank 4"):
        SpatialDropout2D(0.5)(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match="expected input of rank 3"):
        SpatialDropout1D(0.5)(torch.ones(2, 3, 4, 5))
