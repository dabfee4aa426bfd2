"""DepthwiseConv2D/1D and SeparableConv2D/1D against naive NumPy loops over
their docstring equations, in float64 (atol=1e-10), weights given in Keras's
layouts (depthwise (*window, C, m), pointwise (*1, C·m, F)):

    z[n, p, q, c·m + j] = Σ_{u,v} x[n, p·s_h + u·d_h, q·s_w + v·d_w, c] · w_d[u, v, c, j]
    depthwise:  y = z + b
    separable:  y[n, p, q, o] = Σ_i z[n, p, q, i] · w_p[0, 0, i, o] + b[o]

``x`` zero-padded for "same" as Keras: total = max((⌈n/s⌉ − 1)·s + d·(k − 1) + 1 − n, 0),
the odd extra row after.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet.layers import (Conv2D, Dense, DepthwiseConv1D, DepthwiseConv2D, GlobalAveragePooling2D, Input,
                             SeparableConv1D, SeparableConv2D)
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def keras_pads(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    if padding != "same":
        return 0, 0
    total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def depthwise_naive(x, w, strides, padding, dilation):
    """x: (N, H, W, C); w: Keras's (kh, kw, C, m) → z: (N, H', W', C·m), channel c·m + j."""
    n_, h_, w_, c_ = x.shape
    kh, kw, c2, m = w.shape
    assert c2 == c_
    (sh, sw), (dh, dw) = strides, dilation
    top, bottom = keras_pads(h_, kh, sh, dh, padding)
    left, right = keras_pads(w_, kw, sw, dw, padding)
    xp = np.zeros((n_, h_ + top + bottom, w_ + left + right, c_))
    xp[:, top:top + h_, left:left + w_, :] = x
    out_h = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    z = np.zeros((n_, out_h, out_w, c_ * m))
    for n in range(n_):
        for p in range(out_h):
            for q in range(out_w):
                for c in range(c_):
                    for j in range(m):
                        acc = 0.0
                        for u in range(kh):
                            for v in range(kw):
                                acc += xp[n, p * sh + u * dh, q * sw + v * dw, c] * w[u, v, c, j]
                        z[n, p, q, c * m + j] = acc
    return z


def pointwise_naive(z, w_p, b):
    """z: (N, H, W, C·m); w_p: Keras's (1, 1, C·m, F)."""
    n_, h_, w_, cm = z.shape
    f_ = w_p.shape[-1]
    y = np.zeros((n_, h_, w_, f_))
    for n in range(n_):
        for p in range(h_):
            for q in range(w_):
                for o in range(f_):
                    acc = b[o]
                    for i in range(cm):
                        acc += z[n, p, q, i] * w_p[0, 0, i, o]
                    y[n, p, q, o] = acc
    return y


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


CASES = [
    # (input NHWC, kernel, strides, padding, depth_multiplier, dilation)
    ((2, 6, 7, 3), (3, 3), (1, 1), "valid", 1, (1, 1)),
    ((2, 6, 5, 2), (3, 2), (1, 1), "valid", 3, (1, 1)),
    ((1, 7, 7, 3), (3, 3), (2, 2), "valid", 2, (1, 1)),
    ((2, 5, 6, 2), (3, 3), (1, 1), "same", 2, (1, 1)),
    ((1, 6, 6, 3), (2, 2), (1, 1), "same", 1, (1, 1)),   # even kernel: the extra pad after
    ((1, 7, 5, 2), (3, 2), (2, 3), "same", 2, (1, 1)),
    ((2, 8, 7, 2), (3, 3), (1, 1), "valid", 2, (2, 3)),  # dilated
    ((1, 6, 7, 3), (2, 3), (1, 1), "same", 1, (3, 2)),   # dilated windows 4 and 5
]


@pytest.mark.parametrize("shape, kernel, strides, padding, m, dilation", CASES)
def test_depthwise_conv2d_matches_naive_equation(shape, kernel, strides, padding, m, dilation):
    x = f64(*shape)
    layer = DepthwiseConv2D(kernel, strides=strides, padding=padding, depth_multiplier=m, dilation_rate=dilation)
    layer(torch.from_numpy(x))
    c = shape[-1]
    w = f64(*kernel, c, m, seed=1)  # Keras's (kh, kw, C, m)
    b = f64(c * m, seed=2)
    assert tuple(layer.kernel.shape) == (m, c) + kernel
    if m != c:  # Keras's layout is refused with the transpose to use
        with pytest.raises(ValueError, match=r"PyTorch's kernel layout: depth_multiplier, in, then the window\), got "
                           r".*Keras's layout \(the window, in, depth_multiplier\)\. Fix: np\.transpose\(kernel, "
                           r"\(3, 2, 0, 1\)\)\."):
            layer.set_weights([w, b])
    layer.set_weights([np.transpose(w, (3, 2, 0, 1)), b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    expected = depthwise_naive(x, w, strides, padding, dilation) + b
    assert y.shape == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("shape, kernel, strides, padding, m, dilation", CASES)
@pytest.mark.parametrize("filters", [1, 4])
def test_separable_conv2d_matches_naive_equation(shape, kernel, strides, padding, m, dilation, filters):
    x = f64(*shape)
    layer = SeparableConv2D(filters, kernel, strides=strides, padding=padding, depth_multiplier=m,
                            dilation_rate=dilation)
    layer(torch.from_numpy(x))
    c = shape[-1]
    w_d, w_p, b = f64(*kernel, c, m, seed=1), f64(1, 1, c * m, filters, seed=3), f64(filters, seed=2)
    assert [n for n, _ in layer.named_parameters()] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    layer.set_weights([np.transpose(w_d, (3, 2, 0, 1)), np.transpose(w_p, (3, 2, 0, 1)), b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    expected = pointwise_naive(depthwise_naive(x, w_d, strides, padding, dilation), w_p, b)
    assert y.shape == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("shape, kernel, stride, padding, m, dilation", [
    ((2, 9, 3), 3, 1, "valid", 2, 1),
    ((2, 9, 2), 2, 2, "same", 1, 1),
    ((1, 10, 2), 3, 1, "same", 3, 2),
    ((2, 11, 1), 2, 1, "valid", 2, 4),
])
def test_1d_layers_match_naive_equation(shape, kernel, stride, padding, m, dilation):
    x = f64(*shape)
    c = shape[-1]
    w_d, w_p = f64(kernel, c, m, seed=1), f64(1, c * m, 3, seed=3)  # Keras's (k, C, m), (1, C·m, F)
    b_d, b_p = f64(c * m, seed=2), f64(3, seed=4)
    # 1-D as 2-D: time as height, one column.
    z = depthwise_naive(x[:, :, None, :], w_d[:, None], (stride, 1), padding, (dilation, 1))
    depthwise = DepthwiseConv1D(kernel, strides=stride, padding=padding, depth_multiplier=m, dilation_rate=dilation)
    depthwise(torch.from_numpy(x))
    depthwise.set_weights([np.transpose(w_d, (2, 1, 0)), b_d])
    np.testing.assert_allclose(depthwise(torch.from_numpy(x)).detach().numpy(), (z + b_d)[:, :, 0, :],
                               rtol=0, atol=ATOL)
    separable = SeparableConv1D(3, kernel, strides=stride, padding=padding, depth_multiplier=m,
                                dilation_rate=dilation)
    separable(torch.from_numpy(x))
    separable.set_weights([np.transpose(w_d, (2, 1, 0)), np.transpose(w_p, (2, 1, 0)), b_p])
    expected = pointwise_naive(z, w_p[:, None], b_p)[:, :, 0, :]
    y = separable(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)
    assert separable.compute_output_shape(shape) == expected.shape


def test_depthwise_output_channels_are_channel_major():
    # Channel c's j-th filter lands on output channel c·m + j (Keras's order): with
    # w[.., c, j] = 10·c + j on a 1×1 kernel and x = 1, output channel c·m + j holds 10·c + j.
    layer = DepthwiseConv2D(1, depth_multiplier=3, use_bias=False)
    x = torch.ones(1, 2, 2, 2, dtype=torch.float64)
    layer(x)
    w = np.array([[10.0 * c + j for j in range(3)] for c in range(2)]).reshape(1, 1, 2, 3)
    layer.set_weights([np.transpose(w, (3, 2, 0, 1))])
    assert layer(x)[0, 0, 0].tolist() == [0, 1, 2, 10, 11, 12]


def test_parameter_counts_follow_the_cost_formulas():
    # Weights (= multiply-adds per output pixel): Conv2D k²·C·F; SeparableConv2D k²·C·m + C·m·F; plus biases.
    k, c, f = 3, 16, 32
    x = torch.zeros(1, 8, 8, c)
    for m in (1, 2):
        sep = SeparableConv2D(f, k, depth_multiplier=m)
        sep(x)
        assert sep.count_params() == k * k * c * m + c * m * f + f
        dw = DepthwiseConv2D(k, depth_multiplier=m)
        dw(x)
        assert dw.count_params() == k * k * c * m + c * m
    conv = Conv2D(f, k)
    conv(x)
    assert conv.count_params() == k * k * c * f + f
    # 1-D: k·C·m + C·m·F against k·C·F.
    seq = torch.zeros(1, 10, c)
    sep1 = SeparableConv1D(f, 5, depth_multiplier=2)
    sep1(seq)
    assert sep1.count_params() == 5 * c * 2 + c * 2 * f + f


def test_gradients_match_finite_differences():
    x = torch.from_numpy(f64(2, 4, 5, 2)).requires_grad_()
    layer = SeparableConv2D(2, 2, depth_multiplier=2, dilation_rate=(2, 1), padding="same")
    layer(x)
    params = {n: p.detach().clone().requires_grad_() for n, p in layer.named_parameters()}
    names = list(params)
    fn = lambda x, *ws: torch.func.functional_call(layer, dict(zip(names, ws)), (x,))  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, *params.values()))
    seq = torch.from_numpy(f64(2, 6, 2)).requires_grad_()
    depthwise = DepthwiseConv1D(3, depth_multiplier=2, strides=2, padding="same")
    depthwise(seq)
    assert torch.autograd.gradcheck(depthwise, (seq,))


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_compute_output_shape_with_unknown_sizes(padding):
    assert DepthwiseConv2D(3, 2, padding, 2).compute_output_shape((None, None, None, 3)) == (None, None, None, 6)
    assert DepthwiseConv2D(3, depth_multiplier=2).compute_output_shape((None, 9, None, None)) == (None, 7, None, None)
    assert SeparableConv2D(5, 3, strides=2, padding=padding).compute_output_shape((None, 9, None, 3)) == \
        (None, 4 if padding == "valid" else 5, None, 5)
    assert SeparableConv1D(4, 3, dilation_rate=2, padding=padding).compute_output_shape((None, None, 2)) == \
        (None, None, 4)


def test_mobilenet_block_in_sequential_and_functional_saves(tmp_path):
    torch.manual_seed(0)
    model = Sequential([
        DepthwiseConv2D(3, padding="same", depth_multiplier=2, input_shape=(8, 8, 3), activation="relu"),
        SeparableConv2D(8, 3, strides=2, padding="same", activation="relu"),
        GlobalAveragePooling2D(), Dense(2),
    ])
    x = torch.randn(4, 8, 8, 3)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    torch.testing.assert_close(again.predict(x), model.predict(x), rtol=0, atol=0)
    assert type(again.layers[1]) is SeparableConv2D and again.layers[0].depth_multiplier == 2

    inputs = Input(shape=(12, 4))
    hidden = DepthwiseConv1D(3, dilation_rate=2, padding="same")(inputs)
    outputs = SeparableConv1D(5, 3, depth_multiplier=2)(hidden)
    functional = Model(inputs, outputs)
    assert functional.output_shape == (None, 10, 5)
    seqs = torch.randn(2, 12, 4)
    functional.save(tmp_path / "f.keras")
    torch.testing.assert_close(load_model(tmp_path / "f.keras").predict(seqs), functional.predict(seqs),
                               rtol=0, atol=0)


def test_fit_updates_and_constrains_the_kernels_in_keras_layout():
    from brainnet import constraints

    torch.manual_seed(0)
    model = Sequential([SeparableConv2D(4, 3, input_shape=(6, 6, 2), depthwise_constraint=constraints.NonNeg(),
                                        pointwise_regularizer="l2"), GlobalAveragePooling2D(), Dense(1)])
    model.compile("sgd", "mse")
    before = [w.copy() for w in model.get_weights()]
    model.fit(np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype("float32"),
              np.ones((8, 1), "float32"), epochs=2, verbose=0)
    after = model.get_weights()
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    assert (after[0] >= 0).all()  # the depthwise kernel, projected after every step
    assert len(model.losses) == 1  # the pointwise kernel's L2 penalty


def test_get_config_round_trip():
    for layer in (SeparableConv2D(8, (3, 2), strides=(2, 1), depth_multiplier=2, activation="relu",
                                  pointwise_initializer="he_normal"),
                  DepthwiseConv2D(3, dilation_rate=2, use_bias=False), DepthwiseConv1D(5, depth_multiplier=3),
                  SeparableConv1D(4, 3, padding="same")):
        config = layer.get_config()
        again = type(layer).from_config(json.loads(json.dumps(config)))
        assert again.get_config() == config
    assert SeparableConv2D(8, 3).get_config()["depth_multiplier"] == 1


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("cls", [DepthwiseConv2D, DepthwiseConv1D])
def test_depth_multiplier_must_be_a_positive_integer(cls, value):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected depth_multiplier to be a positive integer \(the "
                       r"filters per input channel\), got .*\. Fix: depth_multiplier=1 \(one filter per channel"):
        cls(3, depth_multiplier=value)
    with pytest.raises(ValueError, match=r"SeparableConv2D: expected depth_multiplier to be a positive integer"):
        SeparableConv2D(4, 3, depth_multiplier=value)


@pytest.mark.parametrize("make", [lambda: DepthwiseConv2D(3, strides=2, dilation_rate=2),
                                  lambda: SeparableConv2D(4, 3, strides=(1, 2), dilation_rate=(2, 1)),
                                  lambda: SeparableConv1D(4, 3, strides=2, dilation_rate=2)])
def test_strides_with_dilation_are_refused(make):
    with pytest.raises(ValueError, match=r"Conv[12]D: expected strides of 1 when dilation_rate > 1 .* Fix: strides=1"):
        make()


def test_filters_and_padding_are_checked():
    with pytest.raises(ValueError, match=r"SeparableConv2D: expected filters to be a positive integer, got 0\. Fix:"):
        SeparableConv2D(0, 3)
    with pytest.raises(ValueError, match=r"DepthwiseConv1D: expected padding 'valid' or 'same', got 'causal'\. Fix:"):
        DepthwiseConv1D(3, padding="causal")


def test_input_smaller_than_the_window_is_refused():
    with pytest.raises(ValueError, match=r"Layer 'short' \(SeparableConv1D\): a sequence of 4 steps is shorter than its "
                       r"window 5 \(kernel_size 3, dilation_rate 2\) with padding='valid'\. Fix: padding='same', or a "
                       r"smaller kernel_size or dilation_rate\."):
        SeparableConv1D(2, 3, dilation_rate=2, name="short")(torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match=r"smaller than its window 3×3 with padding='valid'"):
        DepthwiseConv2D(3)(torch.zeros(1, 2, 2, 1))


def test_rank_and_channel_errors():
    with pytest.raises(ValueError, match=r"\(DepthwiseConv2D\) expected input of rank 4"):
        DepthwiseConv2D(3)(torch.zeros(2, 5, 5))
    layer = SeparableConv2D(2, 3, name="sep")
    layer(torch.zeros(1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"Layer 'sep' \(SeparableConv2D\) was built for inputs of shape"):
        layer(torch.zeros(1, 5, 5, 2))


def test_set_weights_names_each_separable_kernels_own_axes_for_a_keras_layout():
    layer = SeparableConv2D(5, 3)
    layer(torch.zeros(1, 8, 8, 2))
    weights = layer.get_weights()
    keras_depthwise = np.transpose(weights[0], (2, 3, 1, 0))  # (kh, kw, in, depth_multiplier)
    keras_pointwise = np.transpose(weights[1], (2, 3, 1, 0))  # (1, 1, in·m, filters)
    with pytest.raises(ValueError, match=r"expected shape \(1, 2, 3, 3\) \(PyTorch's kernel layout: depth_multiplier, "
                                         r"in, then the window\), got \(3, 3, 2, 1\), Keras's layout \(the window, in, "
                                         r"depth_multiplier\)\. Fix: np\.transpose\(kernel, \(3, 2, 0, 1\)\)"):
        layer.set_weights([keras_depthwise, weights[1], weights[2]])
    with pytest.raises(ValueError, match=r"PyTorch's kernel layout: filters, in·depth_multiplier, then the window\)"):
        layer.set_weights([weights[0], keras_pointwise, weights[2]])
    layer.set_weights([np.transpose(keras_depthwise, (3, 2, 0, 1)), np.transpose(keras_pointwise, (3, 2, 0, 1)),
                       weights[2]])  # the fix
    for got, want in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(got, want)
