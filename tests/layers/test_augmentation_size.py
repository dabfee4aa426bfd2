"""RandomHeight and RandomWidth against NumPy (one size per training batch, bilinear resizing), their
inference identity, config, use in a model, and their errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Conv2D, Dense, GlobalAveragePooling2D, Input, RandomHeight, RandomWidth
from brainnet.models import Sequential

from test_image_preprocessing import images, np_bilinear


@pytest.mark.parametrize("cls, factor", [(RandomHeight, 0.4), (RandomWidth, 0.4), (RandomHeight, (-0.5, 0.1)),
                                         (RandomWidth, (0.2, 0.6))])
def test_a_training_batch_is_resized_by_one_draw_as_in_numpy(cls, factor):
    x = images(n=3, h=10, w=12)
    low, high = (-factor, factor) if isinstance(factor, float) else factor
    sizes = set()
    for seed in range(6):
        layer = cls(factor, seed=seed)
        y = layer(x, training=True)
        axis = 1 if cls is RandomHeight else 2
        size = y.shape[axis]
        sizes.add(size)
        # H' = ⌊H · (1 + f)⌋ with f in [low, high]
        assert int(x.shape[axis] * (1 + low)) <= size <= int(x.shape[axis] * (1 + high))
        height, width = (size, 12) if axis == 1 else (10, size)
        assert tuple(y.shape) == (3, height, width, 2)
        for n in range(3):  # the same size and the bilinear equation for every image of the batch
            np.testing.assert_allclose(y[n].numpy(), np_bilinear(x[n].numpy(), height, width), rtol=1e-9, atol=1e-9)
        again = cls(factor, seed=seed)(x, training=True)
        torch.testing.assert_close(again, y)  # seed= repeats the draw
    assert len(sizes) > 1  # different seeds, different sizes


@pytest.mark.parametrize("cls", [RandomHeight, RandomWidth])
def test_inference_is_the_identity_and_the_config_round_trips(cls):
    x = images()
    layer = cls((-0.3, 0.2), interpolation="nearest", seed=3)
    assert layer(x, training=False) is x
    config = layer.get_config()
    assert config["factor"] == [-0.3, 0.2] and config["interpolation"] == "nearest" and config["seed"] == 3
    assert cls.from_config(config).get_config() == config
    shape = layer.compute_output_shape((None, 28, 28, 1))
    assert shape == ((None, None, 28, 1) if cls is RandomHeight else (None, 28, None, 1))


def test_a_model_with_global_pooling_trains_on_resized_batches():
    # keras.io's supervised contrastive example: RandomWidth and RandomHeight before a pooled encoder
    model = Sequential([Input((12, 12, 1)), RandomWidth(0.3, seed=1), RandomHeight(0.3, seed=2),
                        Conv2D(4, 3, activation="relu"), GlobalAveragePooling2D(), Dense(2)])
    assert model.layers[2].input.shape[1:] == (None, None, 1)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((32, 12, 12, 1)).astype("float32")
    y = np.random.default_rng(1).random((32, 2)).astype("float32")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert len(history.history["loss"]) == 3 and np.isfinite(history.history["loss"]).all()
    assert model.predict(x, verbose=0).shape == (32, 2)


def test_errors():
    with pytest.raises(ValueError, match=r"RandomWidth: expected factor above -1 \(the size is scaled by 1 \+ a draw "
                                         r"from it, which must stay positive\), got \(-1\.0, 0\.2\)\. Fix: "
                                         r"RandomWidth\(factor=0\.2\)"):
        RandomWidth((-1.0, 0.2))
    with pytest.raises(ValueError, match=r"RandomHeight: expected factor above -1 .* got 1\.5\. Fix"):
        RandomHeight(1.5)  # (−1.5, 1.5)
    with pytest.raises(ValueError, match=r"RandomHeight: expected factor to be a number or a pair"):
        RandomHeight("0.2")
    with pytest.raises(ValueError, match=r"RandomWidth: expected interpolation to be one of 'bilinear', 'nearest', "
                                         r".* got 'area'\. Fix: RandomWidth\(0\.2, interpolation='bilinear'\)"):
        RandomWidth(0.2, interpolation="area")
