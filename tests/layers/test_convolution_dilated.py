"""Conv2D and Conv1D with dilation_rate and groups against a naive NumPy loop
over their docstring equation, in float64 (atol=1e-10), the kernel given in
Keras's layout ``(kh, kw, in/groups, filters)``:

    y[n, p, q, j] = Σ_{u,v,c} x[n, p·s_h + u·d_h, q·s_w + v·d_w, g·C_g + c] · w[u, v, c, j] + b[j],
    g = ⌊j/(F/G)⌋, C_g = C/G,

``x`` zero-padded first for "same" as Keras (total = max((⌈n/s⌉ − 1)·s + d·(k − 1) + 1 − n, 0),
the odd extra row after) and by d·(k − 1) on the left for Conv1D's "causal".
Output lengths: Keras 3's ⌊(n − d·(k − 1) − 1)/s⌋ + 1 ("valid"), ⌈n/s⌉ ("same", "causal").
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet.layers import Conv1D, Conv2D, Dense, Flatten, Input
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def keras_pads(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    kd = d * (k - 1) + 1
    if padding == "causal":
        return kd - 1, 0
    if padding == "same":
        total = max((math.ceil(n / s) - 1) * s + kd - n, 0)
        return total // 2, total - total // 2
    return 0, 0


def conv_naive(x, w, b, strides, padding, dilation, groups):
    """x: (N, *spatial, C) with 1 or 2 spatial axes; w: Keras's (*window, C/G, F)."""
    n_, h_, w_, c_ = x.shape
    kh, kw, cg, f_ = w.shape
    assert cg * groups == c_
    (sh, sw), (dh, dw) = strides, dilation
    top, bottom = keras_pads(h_, kh, sh, dh, padding)
    left, right = keras_pads(w_, kw, sw, dw, padding if padding != "causal" else "valid")
    xp = np.zeros((n_, h_ + top + bottom, w_ + left + right, c_))
    xp[:, top:top + h_, left:left + w_, :] = x
    out_h = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    per = f_ // groups
    y = np.zeros((n_, out_h, out_w, f_))
    for n in range(n_):
        for p in range(out_h):
            for q in range(out_w):
                for j in range(f_):
                    g = j // per
                    acc = b[j]
                    for u in range(kh):
                        for v in range(kw):
                            for c in range(cg):
                                acc += xp[n, p * sh + u * dh, q * sw + v * dw, g * cg + c] * w[u, v, c, j]
                    y[n, p, q, j] = acc
    return y


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


CASES_2D = [
    # (input NHWC, filters, kernel, strides, padding, dilation, groups)
    ((2, 7, 8, 2), 3, (3, 3), (1, 1), "valid", (2, 2), 1),
    ((2, 7, 6, 3), 2, (2, 3), (1, 1), "valid", (3, 1), 1),
    ((1, 6, 7, 2), 4, (3, 2), (1, 1), "same", (2, 2), 1),   # even kernel, dilated: window 3 (odd)
    ((1, 6, 6, 1), 2, (2, 2), (1, 1), "same", (3, 2), 1),   # windows 4 and 3: uneven padding after
    ((2, 5, 6, 4), 6, (3, 3), (1, 1), "valid", (1, 1), 2),  # groups
    ((2, 6, 5, 4), 4, (3, 2), (2, 1), "same", (1, 1), 4),   # one channel per group, strided
    ((1, 7, 7, 6), 3, (2, 2), (1, 1), "same", (2, 3), 3),   # groups and dilation
    ((2, 9, 7, 4), 2, (3, 3), (3, 2), "valid", (1, 1), 2),
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding, dilation, groups", CASES_2D)
def test_conv2d_dilation_groups_match_naive_equation(shape, filters, kernel, strides, padding, dilation, groups):
    x = f64(*shape)
    layer = Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    layer(torch.from_numpy(x))
    w = f64(*kernel, shape[-1] // groups, filters, seed=1)  # Keras's layout
    b = f64(filters, seed=2)
    with pytest.raises(ValueError, match=r"Keras's layout .* Fix: np\.transpose\(kernel, \(3, 2, 0, 1\)\)"):
        layer.set_weights([w, b])
    layer.set_weights([np.transpose(w, (3, 2, 0, 1)), b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    expected = conv_naive(x, w, b, strides, padding, dilation, groups)
    assert y.shape == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


CASES_1D = [
    # (input NTC, filters, kernel, stride, padding, dilation, groups)
    ((2, 11, 2), 3, 3, 1, "valid", 2, 1),
    ((2, 9, 2), 2, 2, 1, "same", 3, 1),
    ((1, 8, 3), 2, 3, 1, "causal", 2, 1),
    ((2, 10, 1), 2, 2, 1, "causal", 4, 1),
    ((2, 9, 4), 6, 3, 2, "same", 1, 2),
    ((1, 12, 6), 3, 2, 1, "causal", 3, 3),
]


@pytest.mark.parametrize("shape, filters, kernel, stride, padding, dilation, groups", CASES_1D)
def test_conv1d_dilation_groups_match_naive_equation(shape, filters, kernel, stride, padding, dilation, groups):
    x = f64(*shape)
    layer = Conv1D(filters, kernel, strides=stride, padding=padding, dilation_rate=dilation, groups=groups)
    layer(torch.from_numpy(x))
    w = f64(kernel, shape[-1] // groups, filters, seed=1)  # Keras's (k, in/G, filters)
    b = f64(filters, seed=2)
    layer.set_weights([np.transpose(w, (2, 1, 0)), b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    # 1-D as 2-D with the time axis as height and width 1.
    expected = conv_naive(x[:, :, None, :], w[:, None], b, (stride, 1), padding, (dilation, 1), groups)[:, :, 0, :]
    assert y.shape == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


def test_causal_dilated_conv1d_does_not_see_the_future():
    layer = Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False, kernel_initializer="ones")
    x = torch.zeros(1, 10, 1, dtype=torch.float64)
    x[0, 6, 0] = 1.0  # an impulse at t = 6 reaches t = 6, 8 (taps at t − 4, t − 2, t)
    y = layer(x)[0, :, 0]
    assert torch.nonzero(y).flatten().tolist() == [6, 8]


def test_output_length_formula_with_dilation():
    # Keras 3: valid ⌊(n − d·(k − 1) − 1)/s⌋ + 1; 28 − 2·2 − 1 = 23 → 24.
    assert Conv2D(2, 3, dilation_rate=2)(torch.zeros(1, 28, 28, 1)).shape == (1, 24, 24, 2)
    assert Conv2D(2, 3, dilation_rate=(2, 1), padding="same")(torch.zeros(1, 9, 8, 1)).shape == (1, 9, 8, 2)
    assert Conv1D(2, 5, dilation_rate=3)(torch.zeros(1, 20, 1)).shape == (1, 8, 2)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_compute_output_shape_with_unknown_sizes(padding):
    layer = Conv2D(6, 3, dilation_rate=2, groups=3, padding=padding)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 6)
    assert layer.compute_output_shape((None, 9, None, 3)) == (None, 5 if padding == "valid" else 9, None, 6)
    assert Conv1D(4, 3, dilation_rate=2, padding="causal").compute_output_shape((None, None, 2)) == (None, None, 4)


def test_gradients_match_finite_differences():
    x = torch.from_numpy(f64(2, 5, 5, 4)).requires_grad_()
    layer = Conv2D(2, 2, dilation_rate=2, groups=2, padding="same")
    layer(x)
    layer.double()
    assert torch.autograd.gradcheck(lambda x, w, b: torch.func.functional_call(
        layer, {"kernel": w, "bias": b}, (x,)), (x, layer.kernel.detach().clone().requires_grad_(),
                                               layer.bias.detach().clone().requires_grad_()))
    seq = torch.from_numpy(f64(1, 7, 2)).requires_grad_()
    conv1 = Conv1D(2, 2, dilation_rate=3, padding="causal", groups=2)
    conv1(seq)
    assert torch.autograd.gradcheck(conv1, (seq,))


def test_save_load_in_sequential_and_functional(tmp_path):
    torch.manual_seed(0)
    model = Sequential([Conv2D(4, 3, dilation_rate=2, groups=2, padding="same", input_shape=(8, 8, 2)),
                        Conv2D(4, 3, groups=4, activation="relu"), Flatten(), Dense(3)])
    x = torch.randn(3, 8, 8, 2)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    torch.testing.assert_close(again.predict(x), model.predict(x), rtol=0, atol=0)
    assert again.layers[0].dilation_rate == (2, 2) and again.layers[0].groups == 2

    inputs = Input(shape=(12, 4))
    outputs = Conv1D(4, 3, dilation_rate=2, padding="causal", groups=2)(inputs)
    functional = Model(inputs, outputs)
    assert functional.output_shape == (None, 12, 4)
    seqs = torch.randn(2, 12, 4)
    functional.save(tmp_path / "f.keras")
    torch.testing.assert_close(load_model(tmp_path / "f.keras").predict(seqs), functional.predict(seqs),
                               rtol=0, atol=0)


def test_get_config_round_trip():
    layer = Conv2D(8, 3, dilation_rate=(2, 1), groups=2)
    config = layer.get_config()
    assert config["dilation_rate"] == [2, 1] and config["groups"] == 2
    assert Conv2D.from_config(json.loads(json.dumps(config))).get_config() == config
    config = Conv1D(4, 3, dilation_rate=2, groups=4, padding="causal").get_config()
    assert config["dilation_rate"] == 2 and config["groups"] == 4
    assert Conv1D.from_config(json.loads(json.dumps(config))).get_config() == config


def test_initializer_fans_use_the_grouped_keras_shape():
    # glorot_uniform's limit √(6/(fan_in + fan_out)), fans of Keras's (kh, kw, in/G, filters).
    layer = Conv2D(64, 3, groups=8)
    layer(torch.zeros(1, 5, 5, 64))
    assert tuple(layer.kernel.shape) == (64, 8, 3, 3)
    limit = math.sqrt(6 / (9 * 8 + 9 * 64))
    largest = float(layer.kernel.detach().abs().max())
    assert 0.9 * limit < largest <= limit


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls, strides, dilation", [(Conv2D, 2, 2), (Conv2D, (1, 2), (2, 1)), (Conv1D, 2, 3)])
def test_strides_with_dilation_are_refused(cls, strides, dilation):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected strides of 1 when dilation_rate > 1 \(Keras "
                       r"does not combine them\), got strides=.* with dilation_rate=.*\. Fix: strides=1 with the "
                       r"dilation, then a pooling layer"):
        cls(4, 3, strides=strides, dilation_rate=dilation)


@pytest.mark.parametrize("cls", [Conv2D, Conv1D])
def test_groups_must_divide_filters(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected groups to divide filters \(each group gets "
                       r"filters/groups of them\), got groups=4 with filters=6\. Fix: groups among \[1, 2, 3, 6\], "
                       r"or filters a multiple of 4\."):
        cls(6, 3, groups=4)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: expected groups to be a positive integer, got 0"):
        cls(6, 3, groups=0)


@pytest.mark.parametrize("cls, shape", [(Conv2D, (1, 5, 5, 3)), (Conv1D, (1, 5, 3))])
def test_groups_must_divide_input_channels(cls, shape):
    with pytest.raises(ValueError, match=rf"Layer 'grouped' \({cls.__name__}\): expected input channels divisible "
                       r"by groups=2, got 3 channels\. Fix: groups dividing both 3 and filters=4"):
        cls(4, 3, groups=2, name="grouped")(torch.zeros(shape))


def test_dilated_window_larger_than_the_sequence_is_refused():
    with pytest.raises(ValueError, match=r"Layer 'wide': a sequence of 6 steps is shorter than its window 7 with "
                       r"padding='valid'\. Fix: padding='same' or 'causal', or a smaller kernel_size \(or "
                       r"dilation_rate\)\."):
        Conv1D(2, 3, dilation_rate=3, name="wide")(torch.zeros(1, 6, 1))
    with pytest.raises(ValueError, match=r"smaller than its window 5×5 with padding='valid'"):
        Conv2D(2, 3, dilation_rate=2)(torch.zeros(1, 4, 4, 1))


@pytest.mark.parametrize("value", [0, (2, 0), "2", (1, 1, 1)])
def test_dilation_rate_validation(value):
    with pytest.raises(ValueError, match=r"Conv2D: expected dilation_rate to be a positive int or a pair of them"):
        Conv2D(2, 3, dilation_rate=value)
