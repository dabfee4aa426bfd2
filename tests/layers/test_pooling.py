"""Pooling layers against naive NumPy loops over their docstring equations, in
float64. "same" windows that overlap the padding use only the real cells: max
ignores padding, the average divides by the number of real cells (Keras).
Tolerance: atol=1e-12 (average), exact (max).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D


def keras_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def pool_naive(x, pool, strides, padding, kind):
    """y[n, p, q, c] = max/mean over the window's real cells (NHWC)."""
    n_, h_, w_, c_ = x.shape
    ph, pw = pool
    sh, sw = strides
    if padding == "same":
        top, _ = keras_same_pads(h_, ph, sh)
        left, _ = keras_same_pads(w_, pw, sw)
        out_h, out_w = math.ceil(h_ / sh), math.ceil(w_ / sw)
    else:
        top = left = 0
        out_h, out_w = (h_ - ph) // sh + 1, (w_ - pw) // sw + 1
    y = np.zeros((n_, out_h, out_w, c_))
    for n in range(n_):
        for p in range(out_h):
            for q in range(out_w):
                for c in range(c_):
                    cells = []
                    for u in range(ph):
                        for v in range(pw):
                            i, j = p * sh + u - top, q * sw + v - left
                            if 0 <= i < h_ and 0 <= j < w_:
                                cells.append(x[n, i, j, c])
                    assert cells, "a window made only of padding"
                    y[n, p, q, c] = max(cells) if kind == "max" else sum(cells) / len(cells)
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


CASES = [
    # (input NHWC, pool_size, strides (None = pool_size), padding)
    ((2, 6, 6, 3), (2, 2), None, "valid"),
    ((1, 7, 7, 2), (2, 2), None, "valid"),  # odd size: last row/column dropped
    ((1, 6, 7, 2), (3, 3), (1, 1), "valid"),
    ((2, 8, 9, 1), (2, 3), (1, 2), "valid"),  # non-square
    ((1, 5, 5, 2), (2, 2), None, "same"),  # last window overlaps the bottom/right pad
    ((1, 5, 6, 2), (3, 3), (1, 1), "same"),  # border windows overlap pad on every side
    ((2, 7, 6, 2), (3, 2), (2, 1), "same"),  # non-square, strided
    ((1, 4, 4, 1), (3, 3), (2, 2), "same"),  # pad (0, 1)
    ((1, 6, 5, 3), (4, 4), (1, 1), "same"),  # pad (1, 2)
]


@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
def test_max_pooling_matches_naive(shape, pool, strides, padding):
    x = f64(*shape) - 10.0  # all negative: a zero pad would win the max
    assert float(x.max()) < 0
    y = MaxPooling2D(pool, strides=strides, padding=padding)(x)
    expected = pool_naive(x.numpy(), pool, strides or pool, padding, "max")
    assert tuple(y.shape) == expected.shape
    np.testing.assert_array_equal(y.numpy(), expected)


@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
def test_average_pooling_matches_naive(shape, pool, strides, padding):
    x = f64(*shape) + 3.0
    y = AveragePooling2D(pool, strides=strides, padding=padding)(x)
    expected = pool_naive(x.numpy(), pool, strides or pool, padding, "mean")
    assert tuple(y.shape) == expected.shape
    assert y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)


def test_same_pooling_hand_example():
    # 3×3 image 1..9, pool 2, stride 2, "same": pad one row below, one column right.
    x = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 3, 3, 1)
    avg = AveragePooling2D(2, padding="same")(x)[0, :, :, 0].tolist()
    assert avg == [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9.0]]
    assert MaxPooling2D(2, padding="same")(x)[0, :, :, 0].tolist() == [[5, 6], [8, 9]]
    assert MaxPooling2D(2, padding="same")(-x)[0, :, :, 0].tolist() == [[-1, -3], [-7, -9]]


def test_global_average_pooling_matches_naive():
    x = f64(3, 4, 5, 6)
    y = GlobalAveragePooling2D()(x)
    xn = x.numpy()
    expected = np.zeros((3, 6))
    for n in range(3):
        for c in range(6):
            s = 0.0
            for i in range(4):
                for j in range(5):
                    s += xn[n, i, j, c]
            expected[n, c] = s / (4 * 5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=1e-12)


def test_pooling_output_contiguous_nhwc():
    y = MaxPooling2D(2)(f64(2, 6, 6, 3))
    assert y.is_contiguous()
    y = AveragePooling2D(2, padding="same")(f64(2, 5, 5, 3))
    assert y.is_contiguous()


LAYERS = [MaxPooling2D, AveragePooling2D]


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("shape", [(2, 9, 8, 3), (1, 5, 5, 1), (1, 28, 28, 4)])
@pytest.mark.parametrize("pool", [2, 3, (2, 3)])
@pytest.mark.parametrize("strides", [None, 1, (2, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_compute_output_shape(cls, shape, pool, strides, padding):
    layer = cls(pool, strides=strides, padding=padding)
    y = layer(torch.zeros(shape))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])


@pytest.mark.parametrize("cls", LAYERS)
def test_pooling_compute_output_shape_unknown_sizes(cls):
    assert cls(2).compute_output_shape((None, None, 6, 3)) == (None, None, 3, 3)
    assert GlobalAveragePooling2D().compute_output_shape((None, None, None, 3)) == (None, 3)


@pytest.mark.parametrize("shape", [(2, 5, 5, 3), (1, 1, 1, 7)])
def test_global_average_pooling_compute_output_shape(shape):
    layer = GlobalAveragePooling2D()
    y = layer(torch.zeros(shape))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])


def test_pooling_default_strides_are_pool_size():
    layer = MaxPooling2D((2, 3))
    assert layer.strides == (2, 3)
    assert layer.get_config()["strides"] == [2, 3]


@pytest.mark.parametrize("cls", [MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D])
def test_pooling_rank_error(cls):
    name = f"{cls.__name__.lower()}_rank"
    with pytest.raises(
        ValueError,
        match=rf"Layer '{name}' \({cls.__name__}\) expected input of rank 4 \(batch, height, width, "
        r"channels\), got shape \(2, 6, 6\) of rank 3\. Fix: reshape the input",
    ):
        cls(name=name)(torch.ones(2, 6, 6))


@pytest.mark.parametrize("cls", LAYERS)
def test_pooling_image_too_small_error(cls):
    with pytest.raises(
        ValueError,
        match=r"Layer 'tiny': input of height×width 2×5 is smaller than its window 3×3 with "
        r"padding='valid', so the output would be empty\. Fix:",
    ):
        cls(3, name="tiny")(torch.ones(1, 2, 5, 1))


@pytest.mark.parametrize("cls", LAYERS)
@pytest.mark.parametrize("arg, value", [("pool_size", 0), ("pool_size", (2, 0)), ("pool_size", "2"),
                                        ("strides", 0), ("strides", (1, -1)), ("strides", (1, 1, 1))])
def test_pooling_pair_validation(cls, arg, value):
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: expected {arg} to be a positive int or a pair of them, got "
        rf"{re.escape(repr(value))}\. Fix: {arg}=\(3, 3\) or {arg}=3\.",
    ):
        cls(**{arg: value})


@pytest.mark.parametrize("cls", LAYERS)
def test_pooling_padding_validation(cls):
    with pytest.raises(
        ValueError, match=rf"{cls.__name__}: expected padding 'valid' or 'same', got 'causal'\. Fix:"
    ):
        cls(2, padding="causal")


@pytest.mark.parametrize(
    "make",
    [
        lambda: MaxPooling2D(),
        lambda: MaxPooling2D((3, 2), strides=1, padding="same", name="mp"),
        lambda: AveragePooling2D(2, strides=(1, 2), input_shape=(8, 8, 1)),
        lambda: GlobalAveragePooling2D(name="gap"),
    ],
)
def test_pooling_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


# Found by tests/layers/test_properties.py.
def test_global_average_pooling_1d_mask_of_the_wrong_shape():
    from brainnet.layers import GlobalAveragePooling1D

    x = torch.ones(2, 4, 3)
    with pytest.raises(ValueError, match=r"\(GlobalAveragePooling1D\): expected a mask of shape \(batch, time\) = "
                                         r"\(2, 4\) \(True = real step\), got \(2, 5\)\. Fix: mask = tokens != 0"):
        GlobalAveragePooling1D()(x, mask=torch.ones(2, 5, dtype=torch.bool))  # was: torch's RuntimeError


@pytest.mark.parametrize("layer, shape, axis", [
    (MaxPooling2D, (1, 4, 4, 0), 3),  # was: torch's RuntimeError
    (AveragePooling2D, (1, 0, 4, 2), 1),
    ("GlobalAveragePooling1D", (2, 0, 3), 1),  # was: a NaN output (the mean of no steps)
])
def test_inputs_with_an_empty_axis(layer, shape, axis):
    import brainnet.layers

    layer = getattr(brainnet.layers, layer) if isinstance(layer, str) else layer
    with pytest.raises(ValueError, match=rf"expected at least one value along every axis but the batch, got shape "
                                         rf"{re.escape(str(shape))} \(axis {axis} is empty\)\. Fix: look at what made this input"):
        layer()(torch.ones(shape))


def test_keras_short_names_are_the_same_classes_and_save_under_the_long_ones(tmp_path):
    from brainnet import layers
    from brainnet.models import Sequential, load_model

    for short, long in [("MaxPool2D", "MaxPooling2D"), ("AvgPool2D", "AveragePooling2D"),
                        ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
                        ("GlobalMaxPool1D", "GlobalMaxPooling1D")]:
        assert getattr(layers, short) is getattr(layers, long) and short in layers.__all__
    model = Sequential([layers.MaxPool2D(2, input_shape=(6, 6, 2)), layers.AvgPool2D(3, padding="same"),
                        layers.GlobalAvgPool2D()])
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert [type(layer).__name__ for layer in loaded.layers] == ["MaxPooling2D", "AveragePooling2D",
                                                                   "GlobalAveragePooling2D"]
    x = f64(2, 6, 6, 2).float().numpy()
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pooling_2d_matches_naive_config_and_save(keepdims, tmp_path):
    from brainnet.layers import GlobalMaxPool2D, GlobalMaxPooling2D
    from brainnet.models import Sequential, load_model

    assert GlobalMaxPool2D is GlobalMaxPooling2D
    x = f64(3, 4, 5, 6)
    layer = GlobalMaxPooling2D(keepdims=keepdims)
    y = layer(x)
    xn = x.numpy()
    expected = np.zeros((3, 6))
    for n in range(3):
        for c in range(6):
            expected[n, c] = max(xn[n, i, j, c] for i in range(4) for j in range(5))
    np.testing.assert_array_equal(y.numpy(), expected[:, None, None, :] if keepdims else expected)
    assert layer.compute_output_shape((None, 4, 5, 6)) == (None,) + tuple(y.shape[1:])
    config = json.loads(json.dumps(layer.get_config()))
    assert config["keepdims"] is keepdims and GlobalMaxPooling2D.from_config(config).get_config() == config
    model = Sequential([GlobalMaxPooling2D(keepdims=keepdims, input_shape=(4, 5, 6))])
    model.save(tmp_path / "m.brainnet")
    x32 = x.float().numpy()
    np.testing.assert_array_equal(load_model(tmp_path / "m.brainnet").predict(x32), model.predict(x32))
    with pytest.raises(ValueError, match=r"\(GlobalMaxPooling2D\) expected input of rank 4"):
        GlobalMaxPooling2D()(torch.ones(2, 3, 4))


def pool1d_naive(x, pool, stride, padding, kind):
    """y[n, t, c] = max/mean over the window's real steps (N, T, C)."""
    n_, t_, c_ = x.shape
    if padding == "same":
        before, _ = keras_same_pads(t_, pool, stride)
        out = math.ceil(t_ / stride)
    else:
        before, out = 0, (t_ - pool) // stride + 1
    y = np.zeros((n_, out, c_))
    for n in range(n_):
        for t in range(out):
            for c in range(c_):
                cells = [x[n, t * stride + u - before, c] for u in range(pool)
                         if 0 <= t * stride + u - before < t_]
                y[n, t, c] = max(cells) if kind == "max" else sum(cells) / len(cells)
    return y


@pytest.mark.parametrize("pool, stride, padding", [(2, None, "valid"), (3, 2, "valid"), (3, 2, "same"),
                                                   (2, 1, "same"), (4, 3, "same")])
@pytest.mark.parametrize("kind", ["max", "average"])
def test_pooling_1d_matches_naive(pool, stride, padding, kind):
    from brainnet.layers import AveragePooling1D, MaxPooling1D

    x = f64(2, 9, 3)
    layer = (MaxPooling1D if kind == "max" else AveragePooling1D)(pool, stride, padding)
    y = layer(x)
    expected = pool1d_naive(x.numpy(), pool, stride or pool, padding, kind)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-12, rtol=0)
    assert layer.compute_output_shape((None, 9, 3)) == (None,) + tuple(y.shape[1:])


def test_pooling_1d_config_save_aliases_and_errors(tmp_path):
    from brainnet.layers import AveragePooling1D, AvgPool1D, Conv1D, MaxPool1D, MaxPooling1D
    from brainnet.models import Sequential, load_model

    assert MaxPool1D is MaxPooling1D and AvgPool1D is AveragePooling1D
    layer = MaxPooling1D(pool_size=(3,), strides=2, padding="same")  # Keras takes a 1-tuple too
    config = json.loads(json.dumps(layer.get_config()))
    assert (config["pool_size"], config["strides"], config["padding"]) == (3, 2, "same")
    assert MaxPooling1D.from_config(config).get_config() == config
    model = Sequential([Conv1D(4, 3, input_shape=(12, 2)), MaxPool1D(2), AvgPool1D(2, padding="same")])
    assert model.compute_output_shape((None, 12, 2)) == (None, 3, 4)
    model.save(tmp_path / "m.brainnet")
    x = np.random.default_rng(0).normal(size=(2, 12, 2)).astype("float32")
    np.testing.assert_array_equal(load_model(tmp_path / "m.brainnet").predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match=r"\(MaxPooling1D\): expected at least 4 time steps for its window of 4 with "
                                         r"padding='valid', got 3\. Fix: padding='same', a smaller pool_size"):
        Sequential([MaxPooling1D(4, input_shape=(3, 2))])
    with pytest.raises(ValueError, match=r"AveragePooling1D: expected pool_size to be a positive int, got 0\. "
                                         r"Fix: pool_size=2\."):
        AveragePooling1D(0)
    with pytest.raises(ValueError, match=r"MaxPooling1D: expected strides to be a positive int, got \(1, 1\)"):
        MaxPooling1D(2, strides=(1, 1))
    with pytest.raises(ValueError, match=r"\(MaxPooling1D\) expected input of rank 3"):
        MaxPooling1D()(torch.ones(2, 3, 4, 5))
