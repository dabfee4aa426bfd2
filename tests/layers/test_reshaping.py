"""UpSampling2D/1D, ZeroPadding2D/1D and Cropping2D/1D against naive NumPy
loops over their docstring equations, in float64. Nearest upsampling,
padding and cropping copy values, so they must match exactly; bilinear
upsampling to atol=1e-12, and to TensorFlow's published half-pixel result.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import (
    Conv2D, Cropping1D, Cropping2D, Input, MaxPooling2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D,
    Concatenate,
)
from brainnet.models import Model, Sequential, load_model


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


# ------------------------------------------------------------------ UpSampling
def upsample_nearest_naive(x, sh, sw):
    n_, h_, w_, c_ = x.shape
    y = np.zeros((n_, h_ * sh, w_ * sw, c_))
    for p in range(h_ * sh):
        for q in range(w_ * sw):
            y[:, p, q, :] = x[:, p // sh, q // sw, :]
    return y


def source(p: int, scale: int, size: int) -> list[tuple[int, float]]:
    """(input row, weight) pairs for output row p: half-pixel centres, clamped at the edges."""
    r = max((p + 0.5) / scale - 0.5, 0.0)
    i0 = math.floor(r)
    i1 = min(i0 + 1, size - 1)
    frac = r - i0
    return [(i0, 1.0 - frac), (i1, frac)]


def upsample_bilinear_naive(x, sh, sw):
    n_, h_, w_, c_ = x.shape
    y = np.zeros((n_, h_ * sh, w_ * sw, c_))
    for p in range(h_ * sh):
        for q in range(w_ * sw):
            for a, alpha in source(p, sh, h_):
                for b, beta in source(q, sw, w_):
                    y[:, p, q, :] += alpha * beta * x[:, a, b, :]
    return y


@pytest.mark.parametrize("shape, size", [((2, 3, 4, 2), (2, 2)), ((1, 5, 3, 1), (3, 2)), ((2, 1, 1, 3), (1, 4)),
                                         ((1, 4, 5, 2), 3)])
def test_upsampling2d_nearest_matches_naive(shape, size):
    x = f64(*shape)
    layer = UpSampling2D(size)
    y = layer(x)
    expected = upsample_nearest_naive(x.numpy(), *layer.size)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("shape, size", [((2, 3, 4, 2), (2, 2)), ((1, 5, 3, 1), (3, 2)), ((1, 2, 3, 3), (1, 4)),
                                         ((1, 1, 2, 1), 2), ((2, 4, 4, 2), 3)])
def test_upsampling2d_bilinear_matches_naive(shape, size):
    x = f64(*shape)
    layer = UpSampling2D(size, interpolation="bilinear")
    y = layer(x)
    expected = upsample_bilinear_naive(x.numpy(), *layer.size)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)


def test_upsampling2d_bilinear_is_tensorflows_half_pixel_resize():
    # tf.image.resize([[1, 2], [3, 4]], (4, 4), "bilinear") (half_pixel_centers=True, what Keras 3 uses).
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    y = UpSampling2D(interpolation="bilinear")(x)[0, :, :, 0]
    assert y.tolist() == [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]


def test_upsampling2d_keras_docstring_example():
    x = torch.arange(12.0).reshape(2, 2, 1, 3)
    y = UpSampling2D(size=(1, 2))(x)
    assert y.tolist() == [[[[0, 1, 2], [0, 1, 2]], [[3, 4, 5], [3, 4, 5]]],
                          [[[6, 7, 8], [6, 7, 8]], [[9, 10, 11], [9, 10, 11]]]]


@pytest.mark.parametrize("shape, size", [((2, 3, 2), 2), ((1, 4, 1), 3), ((2, 1, 3), 1)])
def test_upsampling1d_matches_naive(shape, size):
    x = f64(*shape)
    n_, t_, c_ = shape
    expected = np.zeros((n_, t_ * size, c_))
    for t in range(t_ * size):
        expected[:, t, :] = x.numpy()[:, t // size, :]
    layer = UpSampling1D(size)
    assert tuple(layer(x).shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(layer(x).numpy(), expected)


# ------------------------------------------------------------------ ZeroPadding
@pytest.mark.parametrize("padding, margins", [
    (1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    ([[0, 2], [1, 0]], ((0, 2), (1, 0))), (0, ((0, 0), (0, 0))),
])
def test_zero_padding2d_matches_naive(padding, margins):
    x = f64(2, 3, 4, 2)
    (top, bottom), (left, right) = margins
    expected = np.zeros((2, 3 + top + bottom, 4 + left + right, 2))
    for p in range(expected.shape[1]):
        for q in range(expected.shape[2]):
            if 0 <= p - top < 3 and 0 <= q - left < 4:
                expected[:, p, q, :] = x.numpy()[:, p - top, q - left, :]
    layer = ZeroPadding2D(padding)
    assert layer.padding == margins
    assert tuple(layer(x).shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(layer(x).numpy(), expected)


@pytest.mark.parametrize("padding, margins", [(1, (1, 1)), ((0, 2), (0, 2)), ([3, 1], (3, 1))])
def test_zero_padding1d_matches_naive(padding, margins):
    x = f64(2, 4, 3)
    before, after = margins
    expected = np.zeros((2, 4 + before + after, 3))
    for t in range(expected.shape[1]):
        if 0 <= t - before < 4:
            expected[:, t, :] = x.numpy()[:, t - before, :]
    layer = ZeroPadding1D(padding)
    assert tuple(layer(x).shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(layer(x).numpy(), expected)


# ------------------------------------------------------------------ Cropping
@pytest.mark.parametrize("cropping, margins", [
    (1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    (((0, 0), (0, 0)), ((0, 0), (0, 0))), (((4, 0), (0, 5)), ((4, 0), (0, 5))),
])
def test_cropping2d_matches_naive(cropping, margins):
    x = f64(2, 5, 6, 3)
    (top, bottom), (left, right) = margins
    out_h, out_w = 5 - top - bottom, 6 - left - right
    expected = np.zeros((2, out_h, out_w, 3))
    for p in range(out_h):
        for q in range(out_w):
            expected[:, p, q, :] = x.numpy()[:, p + top, q + left, :]
    layer = Cropping2D(cropping)
    assert tuple(layer(x).shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(layer(x).numpy(), expected)


@pytest.mark.parametrize("cropping, margins", [(1, (1, 1)), ((0, 2), (0, 2)), ((3, 0), (3, 0))])
def test_cropping1d_matches_naive(cropping, margins):
    x = f64(2, 5, 3)
    before, after = margins
    expected = np.zeros((2, 5 - before - after, 3))
    for t in range(expected.shape[1]):
        expected[:, t, :] = x.numpy()[:, t + before, :]
    layer = Cropping1D(cropping)
    assert tuple(layer(x).shape) == expected.shape == layer.compute_output_shape(tuple(x.shape))
    np.testing.assert_array_equal(layer(x).numpy(), expected)


def test_defaults_are_keras_defaults():
    assert UpSampling2D().size == (2, 2) and UpSampling2D().interpolation == "nearest"
    assert UpSampling1D().size == 2
    assert ZeroPadding2D().padding == ((1, 1), (1, 1)) and ZeroPadding1D().padding == (1, 1)
    assert Cropping2D().cropping == ((0, 0), (0, 0)) and Cropping1D().cropping == (1, 1)


def test_gradients_flow_through_each_layer():
    x = f64(1, 4, 5, 2).requires_grad_(True)
    for layer in (UpSampling2D(interpolation="bilinear"), UpSampling2D((2, 3)), ZeroPadding2D(1), Cropping2D(1)):
        assert torch.autograd.gradcheck(layer, (x,))
    s = f64(1, 5, 2).requires_grad_(True)
    for layer in (UpSampling1D(2), ZeroPadding1D((1, 2)), Cropping1D((1, 2))):
        assert torch.autograd.gradcheck(layer, (s,))


# ------------------------------------------------------------------ models
def test_unknown_sizes_stay_unknown_and_known_ones_follow():
    assert UpSampling2D((2, 3)).compute_output_shape((None, None, 5, 4)) == (None, None, 15, 4)
    assert ZeroPadding2D(((1, 0), (2, 2))).compute_output_shape((None, 5, None, 4)) == (None, 6, None, 4)
    assert Cropping2D(((1, 0), (2, 2))).compute_output_shape((None, None, 5, 4)) == (None, None, 1, 4)
    assert UpSampling1D(3).compute_output_shape((None, None, 2)) == (None, None, 2)
    assert ZeroPadding1D(2).compute_output_shape((None, None, 2)) == (None, None, 2)
    assert Cropping1D(1).compute_output_shape((None, 7, 2)) == (None, 5, 2)
    inputs = Input(shape=(None, None, 3))
    outputs = Cropping2D(1)(ZeroPadding2D(2)(UpSampling2D(interpolation="bilinear")(inputs)))
    assert outputs.shape == (None, None, None, 3)
    assert Model(inputs, outputs).predict(np.zeros((2, 3, 4, 3), "float32"), verbose=0).shape == (2, 8, 10, 3)


def test_a_small_u_net_summary_save_and_load(tmp_path):
    # 7×7 in; down to 3×3 by pooling; back up to 6×6, padded to 7×7 and joined with the skip.
    inputs = Input(shape=(7, 7, 1))
    skip = Conv2D(4, 3, padding="same", activation="relu")(inputs)
    down = Conv2D(8, 3, padding="same", activation="relu")(MaxPooling2D()(skip))
    up = ZeroPadding2D(((0, 1), (0, 1)), name="pad")(UpSampling2D(interpolation="bilinear", name="up")(down))
    joined = Concatenate()([Cropping2D(((0, 0), (0, 0)))(skip), up])
    outputs = Conv2D(1, 1, activation="sigmoid")(joined)
    model = Model(inputs, outputs)
    lines: list[str] = []
    model.summary(print_fn=lines.append, show_equations=True)
    text = "\n".join(lines)
    assert "up (UpSampling2D)" in text and "(None, 6, 6, 8)" in text and "pad (ZeroPadding2D)" in text
    assert "(None, 7, 7, 8)" in text and ZeroPadding2D.equation in text
    x = np.random.default_rng(0).normal(size=(3, 7, 7, 1)).astype("float32")
    model.save(tmp_path / "unet.brainnet")
    loaded = load_model(tmp_path / "unet.brainnet")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_sequence_layers_in_a_sequential_save_and_load(tmp_path):
    model = Sequential([Cropping1D((1, 0), input_shape=(6, 2)), UpSampling1D(2), ZeroPadding1D((0, 3))])
    assert model.output_shape == (None, 13, 2)
    x = np.random.default_rng(0).normal(size=(2, 6, 2)).astype("float32")
    model.save(tmp_path / "seq.brainnet")
    np.testing.assert_array_equal(model.predict(x, verbose=0), load_model(tmp_path / "seq.brainnet").predict(x, verbose=0))


@pytest.mark.parametrize("layer", [
    UpSampling2D((3, 1), interpolation="BILINEAR", name="a"), UpSampling1D(4, name="b"),
    ZeroPadding2D((1, 2), name="c"), ZeroPadding1D((0, 2), name="d"), Cropping2D(((1, 0), (0, 2)), name="e"),
    Cropping1D(3, name="f"),
])
def test_get_config_round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(config)
    assert again.get_config() == layer.get_config()
    assert {k: v for k, v in config.items() if k not in ("name", "trainable")} == {
        "a": {"size": [3, 1], "interpolation": "bilinear"}, "b": {"size": 4},
        "c": {"padding": [[1, 1], [2, 2]]}, "d": {"padding": [0, 2]},
        "e": {"cropping": [[1, 0], [0, 2]]}, "f": {"cropping": [3, 3]},
    }[layer.name]


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("size", [0, (2, 0), (2,), "2", 1.5])
def test_upsampling2d_size_validation(size):
    with pytest.raises(ValueError, match=rf"UpSampling2D: expected size to be a positive int or a pair of them, got "
                                         rf"{re.escape(repr(size))}\. Fix: size=\(3, 3\) or size=3\."):
        UpSampling2D(size)


@pytest.mark.parametrize("size", [0, -1, 2.0, True])
def test_upsampling1d_size_validation(size):
    with pytest.raises(ValueError, match=rf"UpSampling1D: expected size to be a positive integer, got "
                                         rf"{re.escape(repr(size))}\. Fix: UpSampling1D\(size=32, \.\.\.\)\."):
        UpSampling1D(size)


@pytest.mark.parametrize("interpolation", ["bicubic", "linear", None])
def test_upsampling2d_interpolation_validation(interpolation):
    with pytest.raises(ValueError, match=rf"UpSampling2D: expected interpolation 'nearest' or 'bilinear', got "
                                         rf"{re.escape(repr(interpolation))}\. Fix: interpolation='nearest' repeats "
                                         r"pixels, 'bilinear' blends neighbours"):
        UpSampling2D(interpolation=interpolation)


@pytest.mark.parametrize("cls, arg", [(ZeroPadding2D, "padding"), (Cropping2D, "cropping")])
@pytest.mark.parametrize("value", [-1, (1, -1), (1, 2, 3), ((1, 2), 3), ((1, 2), (3,)), "1", 1.0, None])
def test_2d_margins_validation(cls, arg, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected {arg} to be a non-negative int, a pair \(rows, "
                                         rf"columns\) or a pair of pairs \(\(top, bottom\), \(left, right\)\), got "
                                         rf"{re.escape(repr(value))}\. Fix: {arg}=1, {arg}=\(1, 2\) or "
                                         rf"{arg}=\(\(1, 0\), \(2, 2\)\)\."):
        cls(value)


@pytest.mark.parametrize("cls, arg", [(ZeroPadding1D, "padding"), (Cropping1D, "cropping")])
@pytest.mark.parametrize("value", [-1, (1, -1), (1, 2, 3), (1,), "1", None])
def test_1d_margins_validation(cls, arg, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected {arg} to be a non-negative int or a pair "
                                         rf"\(before, after\) of them, got {re.escape(repr(value))}\. Fix: {arg}=1 or "
                                         rf"{arg}=\(1, 2\)\."):
        cls(value)


def test_cropping_more_than_the_input_is_refused():
    with pytest.raises(ValueError, match=r"Layer 'crop' \(Cropping2D\): expected to crop fewer than the 5 rows of its "
                                         r"input, got cropping \(3, 2\) \(5 rows in all\), which leaves nothing\. Fix: "
                                         r"crop at most 4 rows in all, or look at the input's shape with "
                                         r"model\.summary\(\)\."):
        Cropping2D(((3, 2), (0, 0)), name="crop")(torch.zeros(1, 5, 6, 1))
    layer = Cropping2D(((0, 0), (2, 2)), name="crop_w")
    assert layer(torch.zeros(1, 3, 6, 1)).shape == (1, 3, 2, 1)
    with pytest.raises(ValueError, match=r"crop fewer than the 4 columns of its input, got cropping \(2, 2\)"):
        layer(torch.zeros(1, 3, 4, 1))  # a later, narrower image
    with pytest.raises(ValueError, match=r"Layer 'crop_t' \(Cropping1D\): expected to crop fewer than the 2 steps"):
        Cropping1D(1, name="crop_t")(torch.zeros(1, 2, 3))
    with pytest.raises(ValueError, match=r"crop fewer than the 3 rows"):  # at model build time, without data
        Sequential([Cropping2D(2, input_shape=(3, 8, 1))])


@pytest.mark.parametrize("cls, shape, hint", [
    (UpSampling2D, (2, 5, 5), r"\(batch, height, width, channels\)"),
    (ZeroPadding2D, (2, 5), r"\(batch, height, width, channels\)"),
    (Cropping2D, (2, 5, 5, 1, 1), r"\(batch, height, width, channels\)"),
    (UpSampling1D, (2, 5), r"\(batch, time, features\)"),
    (ZeroPadding1D, (2, 5, 5, 1), r"\(batch, time, features\)"),
    (Cropping1D, (2, 5), r"\(batch, time, features\)"),
])
def test_rank_errors(cls, shape, hint):
    with pytest.raises(ValueError, match=rf"Layer 'r' \({cls.__name__}\) expected input of rank {len(hint.split(','))} "
                                         rf"{hint}, got shape .* of rank {len(shape)}\. Fix: "):
        cls(name="r")(torch.zeros(shape))
