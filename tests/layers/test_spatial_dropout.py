"""SpatialDropout1D/2D/3D (in layers/spatial_dropout.py): whole channels
dropped, the survivors scaled by 1/(1 − rate), identity at inference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Conv3D, Flatten, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D, spatial_dropout
from brainnet.models import Sequential, load_model


@pytest.mark.parametrize("cls, shape", [(SpatialDropout1D, (64, 5, 16)), (SpatialDropout2D, (64, 4, 5, 16)),
                                        (SpatialDropout3D, (64, 2, 3, 4, 16))])
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


def test_spatial_dropout3d_config_save_and_errors(tmp_path):
    layer = SpatialDropout3D(0.4, name="sd3")
    assert SpatialDropout3D.from_config(layer.get_config()).get_config() == {"name": "sd3", "trainable": True,
                                                                          "rate": 0.4}
    assert layer.compute_output_shape((None, 2, 3, 4, 5)) == (None, 2, 3, 4, 5)
    torch.manual_seed(0)
    model = Sequential([Conv3D(2, 2, input_shape=(3, 4, 4, 1)), SpatialDropout3D(0.5), Flatten()])
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 4, 1)).astype("float32")
    model.save(tmp_path / "m.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "m.brainnet").predict(x, verbose=0),
                                  model.predict(x, verbose=0))  # identity at inference
    with pytest.raises(ValueError, match=r"SpatialDropout3D: expected rate in \[0, 1\), got -0\.1\. Fix: "
                       r"SpatialDropout3D\(0\.2\)\."):
        SpatialDropout3D(-0.1)
    with pytest.raises(ValueError, match=r"Layer 's' \(SpatialDropout3D\) expected input of rank 5 \(batch, depth, "
                       r"height, width, channels\), got shape \(2, 8, 8, 3\) of rank 4\. Fix: give volumes as "
                       r"\(N, D, H, W, C\)"):
        SpatialDropout3D(0.5, name="s")(torch.ones(2, 8, 8, 3), training=True)


def test_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(spatial_dropout)
    assert tried >= 3 and failures == 0
