"""MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D and
GlobalMaxPooling3D against naive NumPy loops over their docstring equations,
in float64. "same" windows that overlap the padding use only the real voxels:
max ignores padding, the average divides by the number of real voxels
(Keras). Tolerance: exact (max), atol=1e-12 (averages).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet import layers
from brainnet.layers import (AveragePooling3D, Dense, GlobalAveragePooling3D, GlobalMaxPooling3D,
                             MaxPooling2D, MaxPooling3D)
from brainnet.models import Sequential, load_model


def keras_pad_before(size: int, pool: int, stride: int) -> int:
    total = max((math.ceil(size / stride) - 1) * stride + pool - size, 0)
    return total // 2


def pool3d_naive(x, pool, strides, padding, kind):
    """y[n, d, h, w, c] = max/mean over the window's real voxels (NDHWC)."""
    n_, *spatial, c_ = x.shape
    if padding == "same":
        before = [keras_pad_before(n, p, s) for n, p, s in zip(spatial, pool, strides)]
        out = [math.ceil(n / s) for n, s in zip(spatial, strides)]
    else:
        before = [0, 0, 0]
        out = [(n - p) // s + 1 for n, p, s in zip(spatial, pool, strides)]
    y = np.zeros((n_, *out, c_))
    for n in range(n_):
        for d in range(out[0]):
            for h in range(out[1]):
                for w in range(out[2]):
                    for c in range(c_):
                        cells = []
                        for a in range(pool[0]):
                            for b in range(pool[1]):
                                for e in range(pool[2]):
                                    i = d * strides[0] + a - before[0]
                                    j = h * strides[1] + b - before[1]
                                    k = w * strides[2] + e - before[2]
                                    if 0 <= i < spatial[0] and 0 <= j < spatial[1] and 0 <= k < spatial[2]:
                                        cells.append(x[n, i, j, k, c])
                        assert cells, "a window made only of padding"
                        y[n, d, h, w, c] = max(cells) if kind == "max" else sum(cells) / len(cells)
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


CASES = [
    # (input NDHWC, pool_size, strides (None = pool_size), padding)
    ((2, 4, 4, 4, 2), (2, 2, 2), None, "valid"),
    ((1, 5, 5, 3, 2), (2, 2, 2), None, "valid"),        # odd sizes: the last slice/row dropped
    ((1, 4, 5, 6, 1), (3, 2, 3), (1, 1, 2), "valid"),
    ((1, 5, 4, 5, 2), (2, 2, 2), None, "same"),         # last windows overlap the pad after
    ((2, 3, 5, 4, 1), (3, 3, 3), (1, 1, 1), "same"),    # border windows overlap pad on every side
    ((1, 5, 6, 4, 2), (2, 3, 2), (2, 1, 3), "same"),
    ((1, 4, 6, 5, 1), (4, 1, 3), (1, 2, 1), "same"),    # pad (1, 2) on depth
]


@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
def test_max_pooling3d_matches_naive(shape, pool, strides, padding):
    x = f64(*shape) - 10.0  # all negative: a zero pad would win the max
    assert float(x.max()) < 0
    layer = MaxPooling3D(pool, strides=strides, padding=padding)
    y = layer(x)
    expected = pool3d_naive(x.numpy(), pool, strides or pool, padding, "max")
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
def test_average_pooling3d_matches_naive(shape, pool, strides, padding):
    x = f64(*shape) + 3.0
    layer = AveragePooling3D(pool, strides=strides, padding=padding)
    y = layer(x)
    expected = pool3d_naive(x.numpy(), pool, strides or pool, padding, "mean")
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    assert y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling3d_output_is_contiguous_ndhwc(cls, padding):
    y = cls(2, padding=padding)(f64(2, 5, 6, 6, 3).float())
    assert y.is_contiguous() and y.dtype == torch.float32  # the next layer reads it without a copy


def test_same_pooling3d_hand_example():
    # 1×3×3 volume 1..9 (one slice), pool (1, 2, 2), "same": one row below, one column right padded.
    x = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 1, 3, 3, 1)
    avg = AveragePooling3D((1, 2, 2), padding="same")(x)[0, 0, :, :, 0].tolist()
    assert avg == [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9.0]]
    assert MaxPooling3D((1, 2, 2), padding="same")(-x)[0, 0, :, :, 0].tolist() == [[-1, -3], [-7, -9]]


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling3d_matches_naive(keepdims):
    x = f64(3, 2, 4, 5, 6)
    xn = x.numpy()
    mean, largest = np.zeros((3, 6)), np.full((3, 6), -np.inf)
    for n in range(3):
        for c in range(6):
            total = 0.0
            for d in range(2):
                for h in range(4):
                    for w in range(5):
                        total += xn[n, d, h, w, c]
                        largest[n, c] = max(largest[n, c], xn[n, d, h, w, c])
            mean[n, c] = total / (2 * 4 * 5)
    shape = (3, 1, 1, 1, 6) if keepdims else (3, 6)
    for cls, expected in ((GlobalAveragePooling3D, mean), (GlobalMaxPooling3D, largest)):
        layer = cls(keepdims=keepdims)
        y = layer(x)
        assert tuple(y.shape) == shape == layer.compute_output_shape(tuple(x.shape))
        np.testing.assert_allclose(y.numpy().reshape(3, 6), expected, rtol=0, atol=1e-12)
        assert layer.compute_output_shape((None, None, None, None, 6)) == (None,) + shape[1:]


@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D])
@pytest.mark.parametrize("shape", [(2, 5, 6, 7, 3), (1, 2, 9, 4, 1)])
@pytest.mark.parametrize("pool, strides", [(2, None), ((1, 2, 3), (1, 1, 2)), (2, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling3d_compute_output_shape(cls, shape, pool, strides, padding):
    layer = cls(pool, strides=strides, padding=padding)
    y = layer(torch.zeros(shape))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])
    assert layer.compute_output_shape((None, None, None, None, 3)) == (None, None, None, None, 3)


def test_defaults_are_keras_defaults():
    layer = MaxPooling3D()
    assert layer.pool_size == (2, 2, 2) and layer.strides == (2, 2, 2) and layer.padding == "valid"
    assert AveragePooling3D(3).strides == (3, 3, 3)
    assert GlobalAveragePooling3D().keepdims is False and GlobalMaxPooling3D().keepdims is False


@pytest.mark.parametrize("make", [
    lambda: MaxPooling3D((1, 2, 2), strides=(1, 2, 1), padding="SAME", name="mp3"),
    lambda: AveragePooling3D(3, name="ap3"),
    lambda: GlobalAveragePooling3D(keepdims=True, name="gap3"),
    lambda: GlobalMaxPooling3D(name="gmp3"),
])
def test_pooling3d_get_config_round_trip(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    assert type(layer).from_config(config).get_config() == config


def test_keras_short_names_save_under_the_long_ones(tmp_path):
    for short, long in [("MaxPool3D", "MaxPooling3D"), ("AvgPool3D", "AveragePooling3D"),
                        ("GlobalAvgPool3D", "GlobalAveragePooling3D"), ("GlobalMaxPool3D", "GlobalMaxPooling3D")]:
        assert getattr(layers, short) is getattr(layers, long) and short in layers.__all__ and long in layers.__all__
    model = Sequential([layers.MaxPool3D(2, input_shape=(4, 6, 6, 2)), layers.AvgPool3D(2, padding="same"),
                        layers.GlobalMaxPool3D(keepdims=True), layers.GlobalAvgPool3D(), Dense(2)])
    x = torch.randn(3, 4, 6, 6, 2)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "MaxPooling3D", "AveragePooling3D", "GlobalMaxPooling3D", "GlobalAveragePooling3D", "Dense"]
    torch.testing.assert_close(loaded.predict(x), model.predict(x), rtol=0, atol=0)


def test_gradients_flow_to_the_max_and_spread_over_the_average():
    x = f64(1, 2, 2, 2, 1).requires_grad_()
    MaxPooling3D(2)(x).sum().backward()
    assert x.grad.sum() == 1.0 and x.grad.flatten()[int(x.detach().flatten().argmax())] == 1.0
    x.grad = None
    AveragePooling3D(2)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 1 / 8))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D, GlobalAveragePooling3D, GlobalMaxPooling3D])
def test_pooling3d_rank_error(cls):
    with pytest.raises(ValueError, match=rf"Layer 'p3' \({cls.__name__}\) expected input of rank 5 \(batch, depth, "
                       r"height, width, channels\), got shape \(2, 6, 6, 1\) of rank 4\. Fix: reshape the input \(for "
                       r"one-channel volumes: x\[\.\.\., None\] gives \(N, D, H, W, 1\)\)"):
        cls(name="p3")(torch.ones(2, 6, 6, 1))


@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D])
def test_pooling3d_volume_too_small_error(cls):
    with pytest.raises(ValueError, match=r"Layer 'tiny': input of depth×height×width 1×6×6 is smaller than its "
                       r"window 2×2×2 with padding='valid', so the output would be empty\. Fix: use padding='same'"):
        cls(2, name="tiny")(torch.ones(1, 1, 6, 6, 2))
    assert tuple(cls(2, padding="same")(torch.ones(1, 1, 6, 6, 2)).shape) == (1, 1, 3, 3, 2)


@pytest.mark.parametrize("cls", [MaxPooling3D, AveragePooling3D])
@pytest.mark.parametrize("arg", ["pool_size", "strides"])
@pytest.mark.parametrize("value", [0, (2, 2), (2, 0, 2), "2", True])
def test_pooling3d_triple_validation(cls, arg, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected {arg} to be a positive int or a triple of them, "
                       rf"got {re.escape(repr(value))}\. Fix: {arg}=\(3, 3, 3\) or {arg}=3\."):
        cls(**{arg: value})


def test_pooling3d_padding_validation():
    with pytest.raises(ValueError, match=r"MaxPooling3D: expected padding 'valid' or 'same', got 'full'\. Fix:"):
        MaxPooling3D(padding="full")


def test_pooling2d_unchanged_by_the_shared_base():
    assert MaxPooling2D().pool_size == (2, 2)
    with pytest.raises(ValueError, match=r"MaxPooling2D: expected pool_size to be a positive int or a pair of them"):
        MaxPooling2D((2, 2, 2))
    assert AveragePooling3D(1)(torch.ones(1, 1, 1, 1, 2)).shape == (1, 1, 1, 1, 2)


def test_docstring_examples_run():
    import doctest

    import brainnet.layers.pooling3d as module

    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
