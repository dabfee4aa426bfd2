"""UpSampling3D, ZeroPadding3D and Cropping3D against naive NumPy loops over
their docstring equations, in float64. They copy values, so they must match
exactly. Also: a small 3-D U-Net (pool, upsample, pad, crop, join) saved and
loaded, and the errors.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from brainnet.layers import (Concatenate, Conv3D, Cropping3D, Input, MaxPooling3D, UpSampling3D, ZeroPadding2D,
                             ZeroPadding3D)
from brainnet.models import Model, Sequential, load_model


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


@pytest.mark.parametrize("size, factors", [(2, (2, 2, 2)), ((1, 2, 3), (1, 2, 3)), ([3, 1, 2], (3, 1, 2))])
def test_upsampling3d_matches_naive(size, factors):
    x = f64(2, 2, 3, 2, 2)
    sd, sh, sw = factors
    expected = np.zeros((2, 2 * sd, 3 * sh, 2 * sw, 2))
    for d in range(expected.shape[1]):
        for h in range(expected.shape[2]):
            for w in range(expected.shape[3]):
                expected[:, d, h, w, :] = x.numpy()[:, d // sd, h // sh, w // sw, :]
    layer = UpSampling3D(size)
    assert layer.size == factors
    y = layer(x)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(y.numpy(), expected)


def test_upsampling3d_keras_docstring_shape():
    # Keras's example: (2, 1, 2, 1, 3) upsampled by 2 on each axis gives (2, 2, 4, 2, 3).
    assert tuple(UpSampling3D((2, 2, 2))(torch.ones(2, 1, 2, 1, 3)).shape) == (2, 2, 4, 2, 3)


@pytest.mark.parametrize("padding, margins", [
    (1, ((1, 1), (1, 1), (1, 1))), ((2, 0, 1), ((2, 2), (0, 0), (1, 1))),
    (((1, 0), (2, 3), (0, 1)), ((1, 0), (2, 3), (0, 1))), ([[0, 2], [1, 0], [0, 0]], ((0, 2), (1, 0), (0, 0))),
    (0, ((0, 0), (0, 0), (0, 0))),
])
def test_zero_padding3d_matches_naive(padding, margins):
    x = f64(2, 2, 3, 4, 2)
    (front, back), (top, bottom), (left, right) = margins
    expected = np.zeros((2, 2 + front + back, 3 + top + bottom, 4 + left + right, 2))
    for d in range(expected.shape[1]):
        for h in range(expected.shape[2]):
            for w in range(expected.shape[3]):
                if 0 <= d - front < 2 and 0 <= h - top < 3 and 0 <= w - left < 4:
                    expected[:, d, h, w, :] = x.numpy()[:, d - front, h - top, w - left, :]
    layer = ZeroPadding3D(padding)
    assert layer.padding == margins
    y = layer(x)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("cropping, margins", [
    (1, ((1, 1), (1, 1), (1, 1))), ((2, 0, 1), ((2, 2), (0, 0), (1, 1))),
    (((1, 0), (2, 3), (0, 1)), ((1, 0), (2, 3), (0, 1))), (((0, 0), (0, 0), (0, 0)), ((0, 0), (0, 0), (0, 0))),
])
def test_cropping3d_matches_naive(cropping, margins):
    x = f64(2, 5, 6, 4, 3)
    (front, back), (top, bottom), (left, right) = margins
    out = (5 - front - back, 6 - top - bottom, 4 - left - right)
    expected = np.zeros((2, *out, 3))
    for d in range(out[0]):
        for h in range(out[1]):
            for w in range(out[2]):
                expected[:, d, h, w, :] = x.numpy()[:, d + front, h + top, w + left, :]
    layer = Cropping3D(cropping)
    y = layer(x)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(y.numpy(), expected)


def test_cropping3d_keras_docstring_shape():
    # Keras's example: (2, 28, 28, 10, 3) cropped by (2, 4, 2) gives (2, 24, 20, 6, 3).
    assert tuple(Cropping3D(cropping=(2, 4, 2))(torch.ones(2, 28, 28, 10, 3)).shape) == (2, 24, 20, 6, 3)


def test_defaults_are_keras_defaults():
    assert UpSampling3D().size == (2, 2, 2)
    assert ZeroPadding3D().padding == ((1, 1), (1, 1), (1, 1))
    assert Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))


def test_gradients_flow_through_each_layer():
    x = f64(1, 3, 4, 3, 2).requires_grad_(True)
    for layer in (UpSampling3D((1, 2, 2)), ZeroPadding3D(1), Cropping3D(((1, 0), (1, 1), (0, 1)))):
        assert torch.autograd.gradcheck(layer, (x,))


def test_unknown_sizes_stay_unknown_and_known_ones_follow():
    assert UpSampling3D((2, 3, 1)).compute_output_shape((None, None, 5, 4, 2)) == (None, None, 15, 4, 2)
    assert ZeroPadding3D(((1, 0), (2, 2), (0, 0))).compute_output_shape((None, 5, None, 4, 2)) == (None, 6, None, 4, 2)
    assert Cropping3D(((1, 0), (2, 2), (0, 1))).compute_output_shape((None, None, 5, 4, 2)) == (None, None, 1, 3, 2)
    inputs = Input(shape=(None, None, None, 3))
    outputs = Cropping3D(1)(ZeroPadding3D(2)(UpSampling3D()(inputs)))
    assert outputs.shape == (None, None, None, None, 3)
    y = Model(inputs, outputs).predict(np.zeros((2, 2, 3, 4, 3), "float32"), verbose=0)
    assert y.shape == (2, 6, 8, 10, 3)


@pytest.mark.parametrize("layer", [UpSampling3D((1, 2, 3), name="u"), ZeroPadding3D(((1, 0), (2, 2), (0, 3))),
                                   Cropping3D(((1, 0), (2, 2), (0, 3)))])
def test_get_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert again.get_config() == config


def test_a_small_3d_u_net_summary_save_and_load(tmp_path):
    # 5×7×7 in; down by pooling to 2×3×3; back up to 4×6×6, padded to 5×7×7 and joined with the skip.
    inputs = Input(shape=(5, 7, 7, 1))
    skip = Conv3D(2, 3, padding="same", activation="relu")(inputs)  # (5, 7, 7, 2)
    down = MaxPooling3D(2)(skip)  # (2, 3, 3, 2)
    up = ZeroPadding3D(((1, 0), (1, 0), (1, 0)))(UpSampling3D(2)(Conv3D(4, 1)(down)))  # (5, 7, 7, 4)
    joined = Concatenate()([Cropping3D(((0, 0), (0, 0), (0, 0)))(skip), up])  # (5, 7, 7, 6)
    outputs = Conv3D(1, 1)(joined)
    model = Model(inputs, outputs)
    assert model.output_shape == (None, 5, 7, 7, 1)
    lines: list[str] = []
    model.summary(print_fn=lines.append, show_equations=True)
    text = "\n".join(lines)
    for layer_class in (UpSampling3D, ZeroPadding3D, Cropping3D, MaxPooling3D, Conv3D):
        assert layer_class.equation in text
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 7, 1)).astype("float32")
    model.save(tmp_path / "unet3d.brainnet")
    np.testing.assert_array_equal(load_model(tmp_path / "unet3d.brainnet").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("size", [0, (2, 2), (2, 0, 2), "2", 1.5])
def test_upsampling3d_size_validation(size):
    with pytest.raises(ValueError, match=rf"UpSampling3D: expected size to be a positive int or a triple of them, got "
                                         rf"{re.escape(repr(size))}\. Fix: size=\(3, 3, 3\) or size=3\."):
        UpSampling3D(size)


@pytest.mark.parametrize("cls, arg", [(ZeroPadding3D, "padding"), (Cropping3D, "cropping")])
@pytest.mark.parametrize("value", [-1, (1, 2), (1, -1, 0), ((1, 2), 3, 1), ((1, 2), (3,), (0, 0)), "1", None])
def test_3d_margins_validation(cls, arg, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected {arg} to be a non-negative int, a triple "
                                         rf"\(slices, rows, columns\) or a triple of pairs \(\(front, back\), \(top, "
                                         rf"bottom\), \(left, right\)\), got {re.escape(repr(value))}\. Fix: {arg}=1, "
                                         rf"{arg}=\(1, 2, 2\) or {arg}=\(\(1, 0\), \(2, 2\), \(0, 1\)\)\."):
        cls(value)
    with pytest.raises(ValueError, match=r"ZeroPadding2D: expected padding to be a non-negative int, a pair"):
        ZeroPadding2D((1, 1, 1))  # a triple is for volumes


def test_cropping_more_than_the_volume_is_refused():
    with pytest.raises(ValueError, match=r"Layer 'crop3' \(Cropping3D\): expected to crop fewer than the 3 slices of "
                                         r"its input, got cropping \(2, 1\) \(3 slices in all\), which leaves nothing\. "
                                         r"Fix: crop at most 2 slices in all"):
        Cropping3D(((2, 1), (0, 0), (0, 0)), name="crop3")(torch.zeros(1, 3, 6, 6, 1))
    layer = Cropping3D(((0, 0), (0, 0), (2, 2)))
    assert layer(torch.zeros(1, 3, 3, 6, 1)).shape == (1, 3, 3, 2, 1)
    with pytest.raises(ValueError, match=r"crop fewer than the 4 columns of its input"):
        layer(torch.zeros(1, 3, 3, 4, 1))  # a later, narrower volume
    with pytest.raises(ValueError, match=r"crop fewer than the 2 rows"):  # at model build time, without data
        Sequential([Cropping3D(1, input_shape=(4, 2, 8, 1))])


@pytest.mark.parametrize("cls", [UpSampling3D, ZeroPadding3D, Cropping3D])
def test_rank_errors(cls):
    with pytest.raises(ValueError, match=rf"Layer 'r3' \({cls.__name__}\) expected input of rank 5 \(batch, depth, "
                                         r"height, width, channels\), got shape \(2, 5, 5, 1\) of rank 4\. Fix: reshape "
                                         r"the input \(for one-channel volumes"):
        cls(name="r3")(torch.zeros(2, 5, 5, 1))


def test_docstring_examples_run():
    import doctest

    import brainnet.layers.reshaping3d as module

    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
