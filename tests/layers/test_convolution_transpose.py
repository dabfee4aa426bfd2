"""Conv2DTranspose and Conv1DTranspose against a naive NumPy scatter-add of
their docstring equation, in float64 (atol=1e-10):

    full[n, i·s_h + u·d_h, k·s_w + v·d_w, j] += x[n, i, k, c] · w[c, j, u, v]
    y[n, p, q, j] = b[j] + full[n, P_h + p, P_w + q, j]   (0 past the scatter's end)

The output length L and the crop P come here from Keras 3's other description
of the same operation (JAX's: the stride-dilated input, padded left_pad before
and right_pad after, correlated with the flipped kernel; Keras's
backend_utils), not from the layer's own formulas; the lengths are also
checked against Keras's published numbers, and the "same"/"valid" cases
against the adjoint of brainnet's Conv2D.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

import brainnet
from brainnet.layers import Conv1DTranspose, Conv2D, Conv2DTranspose, Input
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def keras_axis(n: int, k: int, s: int, d: int, padding: str, op: int | None) -> tuple[int, int]:
    """(L, P) of one axis from the dilated-input picture: input dilated by s, padded
    (left, right), correlated with the dilated kernel k_d; P = k_d − 1 − left."""
    kd = (k - 1) * d + 1
    if padding == "valid":
        left, right = kd - 1, kd - 1 + (max(kd, s) - kd if op is None else op)
    else:
        total = s + kd - 2 if op is None else kd + kd % 2 - 2 + op
        left = min(total // 2 + total % 2, kd - 1)
        right = total - left
    length = (n - 1) * s + 1 + left + right - kd + 1
    return length, kd - 1 - left


def conv_transpose_naive(x, w, b, strides, padding, output_padding=None, dilation=(1, 1)):
    """Scatter-add, one input value and kernel tap at a time (x: NHWC, w: (C, F, kh, kw))."""
    n_, h_, w_, c_ = x.shape
    c2, f_, kh, kw = w.shape
    assert c2 == c_
    (sh, sw), (dh, dw) = strides, dilation
    op = output_padding or (None, None)
    out_h, top = keras_axis(h_, kh, sh, dh, padding, op[0])
    out_w, left = keras_axis(w_, kw, sw, dw, padding, op[1])
    full = np.zeros((n_, (h_ - 1) * sh + (kh - 1) * dh + 1, (w_ - 1) * sw + (kw - 1) * dw + 1, f_))
    for n in range(n_):
        for i in range(h_):
            for k in range(w_):
                for c in range(c_):
                    for u in range(kh):
                        for v in range(kw):
                            for j in range(f_):
                                full[n, i * sh + u * dh, k * sw + v * dw, j] += x[n, i, k, c] * w[c, j, u, v]
    y = np.zeros((n_, out_h, out_w, f_))
    for p in range(out_h):
        for q in range(out_w):
            if top + p < full.shape[1] and left + q < full.shape[2]:
                y[:, p, q, :] = full[:, top + p, left + q, :]
            if b is not None:
                y[:, p, q, :] += b
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def built(layer, x: torch.Tensor, seed: int = 1):
    """``layer`` built in float64 on ``x``, with a random non-zero bias."""
    layer(x)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.copy_(f64(layer.filters, seed=seed))
    return layer


CASES = [
    # (input NHWC, filters, kernel, strides, padding, output_padding, dilation)
    ((2, 3, 4, 1), 2, (3, 3), (1, 1), "valid", None, (1, 1)),
    ((2, 3, 3, 3), 4, (3, 2), (2, 2), "valid", None, (1, 1)),
    ((1, 4, 3, 2), 3, (2, 2), (3, 3), "valid", None, (1, 1)),  # k < s: zeros between the blocks, and after
    ((1, 3, 5, 2), 2, (3, 3), (2, 1), "valid", (1, 0), (1, 1)),
    ((2, 3, 4, 2), 3, (3, 3), (2, 2), "same", None, (1, 1)),  # crop 0: the odd extra row at the bottom
    ((1, 5, 3, 2), 2, (4, 4), (2, 2), "same", None, (1, 1)),  # crop 1
    ((1, 3, 3, 1), 2, (5, 4), (1, 1), "same", None, (1, 1)),  # stride 1: same size, crop 2 and 1
    ((1, 4, 4, 2), 2, (3, 3), (2, 2), "same", (1, 1), (1, 1)),
    ((1, 4, 5, 2), 2, (3, 3), (2, 2), "same", (0, 1), (1, 1)),  # odd target size from output_padding=0
    ((1, 3, 3, 2), 2, (4, 2), (3, 2), "same", (2, 1), (1, 1)),
    ((1, 3, 4, 2), 2, (1, 1), (3, 3), "same", (2, 2), (1, 1)),  # zeros past the scatter's end
    ((2, 3, 3, 2), 2, (3, 2), (1, 1), "valid", None, (2, 3)),  # dilated kernel
    ((1, 3, 4, 1), 2, (3, 3), (2, 2), "same", None, (2, 1)),
    ((1, 1, 1, 3), 2, (2, 3), (2, 2), "valid", None, (1, 1)),  # one pixel: the kernel itself
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding, output_padding, dilation", CASES)
def test_conv2d_transpose_matches_naive_scatter(shape, filters, kernel, strides, padding, output_padding, dilation):
    x = f64(*shape)
    layer = built(Conv2DTranspose(filters, kernel, strides=strides, padding=padding, output_padding=output_padding,
                                  dilation_rate=dilation), x)
    assert tuple(layer.kernel.shape) == (shape[-1], filters) + kernel  # (in, filters, kh, kw)
    y = layer(x)
    expected = conv_transpose_naive(x.numpy(), layer.kernel.detach().numpy(), layer.bias.detach().numpy(), strides,
                                    padding, output_padding, dilation)
    assert tuple(y.shape) == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "sigmoid", None])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_transpose_activation_and_bias(activation, use_bias):
    x = f64(2, 3, 3, 2)
    layer = built(Conv2DTranspose(3, 3, strides=2, padding="same", activation=activation, use_bias=use_bias), x)
    if not use_bias:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]
    z = conv_transpose_naive(x.numpy(), layer.kernel.detach().numpy(),
                             layer.bias.detach().numpy() if use_bias else None, (2, 2), "same")
    expected = {"relu": np.maximum(z, 0.0), "sigmoid": 1 / (1 + np.exp(-z)), None: z}[activation]
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=0, atol=ATOL)


def test_output_lengths_are_keras_published_numbers():
    # keras/src/backend/common/backend_utils_test.py: input 5, kernel 3, stride 2 gives
    # 11 ("valid"), 10 ("same"), 12 ("valid", output_padding=1); JAX's pads for "same" are
    # (2, 1), i.e. nothing cropped at the top.
    x = torch.zeros(1, 5, 5, 3)
    assert Conv2DTranspose(2, 3, strides=2)(x).shape[1:3] == (11, 11)
    assert Conv2DTranspose(2, 3, strides=2, padding="same")(x).shape[1:3] == (10, 10)
    assert Conv2DTranspose(2, 3, strides=2, output_padding=1)(x).shape[1:3] == (12, 12)
    assert keras_axis(5, 3, 2, 1, "same", None) == (10, 0)


def test_one_pixel_and_a_delta_kernel_show_where_the_copy_lands():
    # One input pixel of value 1 under a kernel 1..9 (3×3), stride 2, "same": the output is 2×2
    # and shows the kernel's top-left 2×2 block (crop 0 at the top, as TensorFlow and JAX).
    layer = Conv2DTranspose(1, 3, strides=2, padding="same", use_bias=False)
    layer(torch.zeros(1, 1, 1, 1))
    with torch.no_grad():
        layer.kernel.copy_(torch.arange(1.0, 10.0).reshape(1, 1, 3, 3))
    assert layer(torch.ones(1, 1, 1, 1))[0, :, :, 0].tolist() == [[1, 2], [4, 5]]


def fitting_output_padding(n: int, k: int, s: int, padding: str) -> int:
    """The output_padding that makes the transposed output n long again after a Conv2D on n."""
    return (n - k) % s if padding == "valid" else (n - 1) % s + 1 - k % 2


@pytest.mark.parametrize("padding, strides, kernel, size, fit", [
    ("valid", 2, 3, (5, 7), False), ("valid", 3, 2, (6, 9), False), ("valid", 1, (2, 4), (6, 5), False),
    ("valid", 2, 3, (6, 5), True), ("valid", 3, 2, (7, 9), True),
    ("same", 2, 3, (6, 4), False), ("same", 2, 4, (6, 8), False), ("same", 3, 5, (6, 9), False),
    ("same", 1, (3, 4), (5, 4), False), ("same", 2, 3, (5, 7), True), ("same", 2, 4, (5, 7), True),
    ("same", 3, 5, (7, 8), True), ("same", 3, 4, (8, 4), True),
])
def test_conv2d_transpose_is_the_adjoint_of_conv2d(padding, strides, kernel, size, fit):
    # <Conv2D(z), x> = <Conv2DTranspose(x), z> for the same kernel (PyTorch stores both as
    # (Conv2D's out, Conv2D's in, kh, kw)): the transposed layer is Conv2D's gradient, the
    # definition that fixes where "same" crops. Sizes that the default length does not give
    # back are asked for with output_padding.
    conv = Conv2D(3, kernel, strides=strides, padding=padding, use_bias=False)
    z = f64(2, *size, 2)
    conv_z = conv(z)
    x = f64(*conv_z.shape, seed=3)
    op = tuple(fitting_output_padding(n, k, strides, padding) for n, k in zip(size, conv.kernel_size)) if fit else None
    transposed = Conv2DTranspose(2, kernel, strides=strides, padding=padding, output_padding=op, use_bias=False)
    transposed(x)
    with torch.no_grad():
        transposed.kernel.copy_(conv.kernel)
    back = transposed(x)
    assert back.shape == z.shape
    torch.testing.assert_close((conv_z * x).sum(), (back * z).sum(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 3)])
def test_valid_equals_torch_conv_transpose2d(strides):
    x = f64(2, 5, 4, 3)
    layer = built(Conv2DTranspose(4, (3, 3), strides=strides), x)
    ref = torch.nn.ConvTranspose2d(3, 4, (3, 3), stride=strides, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(layer.kernel)
        ref.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(x), ref(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), rtol=0, atol=1e-12)


def test_gradients_match_finite_differences():
    x = f64(2, 3, 2, 2).requires_grad_(True)
    layer = Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="tanh")
    layer(x)
    assert torch.autograd.gradcheck(layer, (x,))
    layer(x).sum().backward()
    assert layer.kernel.grad is not None and float(layer.kernel.grad.abs().sum()) > 0
    assert float(layer.bias.grad.abs().sum()) > 0


def test_computes_in_bfloat16_under_autocast_as_conv2d():
    x = torch.randn(2, 4, 4, 3)
    layers = [Conv2D(4, 3, padding="same"), Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1)]
    for layer in layers:
        layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert [layer(x).dtype for layer in layers] == [torch.bfloat16, torch.bfloat16]
        assert Conv1DTranspose(2, 3)(x[:, 0]).dtype == torch.bfloat16


def test_a_keras_layout_kernel_loads_with_the_transpose_the_error_names():
    # Keras stores a transposed kernel as (kh, kw, filters, in); y = Σ x[i, k, c]·w[u, v, j, c].
    x = f64(1, 3, 2, 3)
    layer = Conv2DTranspose(2, (2, 3), strides=2, name="up")
    layer(x)
    keras_kernel = np.random.default_rng(5).normal(size=(2, 3, 2, 3))
    with pytest.raises(ValueError, match=r"Layer 'up' set_weights: expected shape \(3, 2, 2, 3\) \(PyTorch's kernel "
                                         r"layout: in, out, then the window\), got \(2, 3, 2, 3\), Keras's layout "
                                         r"\(the window, out, in\)\. Fix: np\.transpose\(kernel, \(3, 2, 0, 1\)\)\."):
        layer.set_weights([keras_kernel, np.zeros(2)])
    layer.set_weights([np.transpose(keras_kernel, (3, 2, 0, 1)), np.zeros(2)])
    expected = np.zeros(tuple(layer(x).shape))
    for i in range(3):
        for k in range(2):
            for u in range(2):
                for v in range(3):
                    for j in range(2):
                        for c in range(3):
                            p, q = 2 * i + u, 2 * k + v
                            if p < expected.shape[1] and q < expected.shape[2]:
                                expected[0, p, q, j] += x[0, i, k, c].item() * keras_kernel[u, v, j, c]
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=0, atol=ATOL)
    one_d = Conv1DTranspose(2, 3)
    one_d(torch.zeros(1, 4, 5))
    with pytest.raises(ValueError, match=r"in, out, then the window\).*Fix: np\.transpose\(kernel, \(2, 1, 0\)\)"):
        one_d.set_weights([np.zeros((3, 2, 5)), np.zeros(2)])


def test_initializers_use_keras_fans():
    layer = Conv2DTranspose(64, (3, 3), kernel_initializer="he_normal", bias_initializer="ones")
    layer(torch.zeros(1, 2, 2, 8))
    # Keras's kernel (3, 3, 64, 8): fan_in = 3·3·64 (the filters, its axis −2)
    assert abs(float(layer.kernel.detach().std()) / math.sqrt(2 / (9 * 64)) - 1) < 0.1
    assert torch.equal(layer.bias, torch.ones(64))
    glorot = Conv2DTranspose(16, (3, 3))
    glorot(torch.zeros(1, 2, 2, 48))
    limit = math.sqrt(6 / (9 * 16 + 9 * 48))
    largest = float(glorot.kernel.detach().abs().max())
    assert 0.95 * limit < largest <= limit
    zeros = Conv1DTranspose(3, 2, kernel_initializer="zeros")
    zeros(torch.zeros(1, 4, 2))
    assert not zeros.kernel.any()


def test_kernel_regularizer_adds_its_penalty():
    layer = Conv2DTranspose(2, 3, kernel_regularizer=brainnet.regularizers.L2(0.01))
    layer(torch.zeros(1, 2, 2, 1))
    (penalty,) = layer.losses
    torch.testing.assert_close(penalty, 0.01 * (layer.kernel ** 2).sum())


# ------------------------------------------------------------------ Conv1DTranspose
def conv1d_transpose_naive(x, w, b, stride, padding, output_padding=None, dilation=1):
    """x: (N, T, C), w: (C, F, k); the scatter along one axis."""
    n_, t_, c_ = x.shape
    _, f_, k_ = w.shape
    length, crop = keras_axis(t_, k_, stride, dilation, padding, output_padding)
    full = np.zeros((n_, (t_ - 1) * stride + (k_ - 1) * dilation + 1, f_))
    for n in range(n_):
        for t in range(t_):
            for u in range(k_):
                for c in range(c_):
                    for j in range(f_):
                        full[n, t * stride + u * dilation, j] += x[n, t, c] * w[c, j, u]
    y = np.zeros((n_, length, f_)) + (0.0 if b is None else b)
    for o in range(length):
        if crop + o < full.shape[1]:
            y[:, o, :] += full[:, crop + o, :]
    return y


@pytest.mark.parametrize("shape, kernel, stride, padding, output_padding, dilation", [
    ((2, 5, 3), 3, 1, "valid", None, 1),
    ((2, 5, 3), 3, 2, "valid", 1, 1),
    ((1, 4, 2), 2, 3, "valid", None, 1),
    ((2, 6, 2), 4, 2, "same", None, 1),
    ((1, 5, 1), 5, 3, "same", 2, 1),
    ((1, 5, 2), 3, 1, "same", None, 2),
])
def test_conv1d_transpose_matches_naive_scatter(shape, kernel, stride, padding, output_padding, dilation):
    x = f64(*shape)
    layer = built(Conv1DTranspose(3, kernel, strides=stride, padding=padding, output_padding=output_padding,
                                  dilation_rate=dilation), x)
    assert tuple(layer.kernel.shape) == (shape[-1], 3, kernel)
    expected = conv1d_transpose_naive(x.numpy(), layer.kernel.detach().numpy(), layer.bias.detach().numpy(), stride,
                                      padding, output_padding, dilation)
    y = layer(x)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=ATOL)


# ------------------------------------------------------------------ shapes, models, saving
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_unknown_sizes_stay_unknown(padding):
    layer = Conv2DTranspose(6, 3, strides=2, padding=padding)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 6)
    height = 9 * 2 + 1 if padding == "valid" else 18
    assert layer.compute_output_shape((None, 9, None, 3)) == (None, height, None, 6)
    inputs = Input(shape=(None, None, 3))
    outputs = Conv2DTranspose(2, 3, strides=2, padding=padding)(inputs)
    assert outputs.shape == (None, None, None, 2)
    model = Model(inputs, outputs)
    assert model.predict(np.zeros((2, 4, 5, 3), "float32"), verbose=0).shape[1:3] == (
        (8, 10) if padding == "same" else (9, 11))


def test_decoder_in_sequential_summary_save_and_load(tmp_path):
    model = Sequential([
        Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu", input_shape=(4, 4, 2)),
        Conv2DTranspose(3, 2, strides=(1, 2), output_padding=(0, 1), name="odd"),
        Conv2D(1, 3, padding="same", activation="sigmoid"),
    ])
    lines: list[str] = []
    model.summary(print_fn=lines.append, show_equations=True)
    text = "\n".join(lines)
    assert "Conv2DTranspose" in text and "(None, 8, 8, 4)" in text and "(None, 9, 17, 3)" in text
    assert Conv2DTranspose.equation in text
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    model.save(tmp_path / "decoder.brainnet")
    loaded = load_model(tmp_path / "decoder.brainnet")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    assert loaded.get_layer("odd").get_config() == model.get_layer("odd").get_config()


def test_conv1d_transpose_in_a_functional_model_saves(tmp_path):
    inputs = Input(shape=(None, 3))
    outputs = Conv1DTranspose(2, 3, strides=2, padding="same", kernel_initializer="he_normal")(inputs)
    model = Model(inputs, outputs)
    x = np.random.default_rng(1).normal(size=(2, 5, 3)).astype("float32")
    model.save(tmp_path / "m.brainnet")
    np.testing.assert_array_equal(model.predict(x, verbose=0), load_model(tmp_path / "m.brainnet").predict(x, verbose=0))


def test_get_config_round_trip():
    layer = Conv2DTranspose(8, (3, 2), strides=(2, 1), padding="SAME", output_padding=(1, 0), dilation_rate=1,
                            activation="relu", use_bias=False, kernel_initializer="he_normal", name="t1",
                            input_shape=(7, 7, 4))
    config = layer.get_config()
    assert config == {
        "name": "t1", "trainable": True, "input_shape": [7, 7, 4], "filters": 8, "kernel_size": [3, 2],
        "strides": [2, 1], "padding": "same", "output_padding": [1, 0], "dilation_rate": [1, 1],
        "activation": "relu", "use_bias": False, "kernel_initializer": "he_normal", "bias_initializer": "zeros",
    }
    assert Conv2DTranspose.from_config(json.loads(json.dumps(config))).get_config() == config
    one = Conv1DTranspose(4, (3,), strides=2, output_padding=1).get_config()
    assert (one["kernel_size"], one["strides"], one["output_padding"], one["dilation_rate"]) == (3, 2, 1, 1)
    assert Conv1DTranspose.from_config(json.loads(json.dumps(one))).get_config() == one


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("filters", [0, -1, 2.0, "8", True])
def test_filters_validation(filters):
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: expected filters to be a positive integer, got "
                                         rf"{re.escape(repr(filters))}\. Fix: Conv2DTranspose\(filters=32"):
        Conv2DTranspose(filters, 3)


@pytest.mark.parametrize("arg", ["kernel_size", "strides", "dilation_rate"])
@pytest.mark.parametrize("value", [0, (3, 0), (3, 3, 3), "3", -1])
def test_size_validation(arg, value):
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: expected {arg} to be a positive int or a pair of them, "
                                         rf"got {re.escape(repr(value))}\. Fix: {arg}=\(3, 3\) or {arg}=3\."):
        Conv2DTranspose(2, **{"kernel_size": 3, arg: value})
    with pytest.raises(ValueError, match=rf"Conv1DTranspose: expected {arg} to be a positive integer, got "):
        Conv1DTranspose(2, **{"kernel_size": 3, arg: 0})


@pytest.mark.parametrize("padding", ["full", "causal", None])
def test_padding_validation(padding):
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: expected padding 'valid' or 'same', got "
                                         rf"{re.escape(repr(padding))}\. Fix: padding='same'"):
        Conv2DTranspose(2, 3, padding=padding)


@pytest.mark.parametrize("value", [-1, (1, -1), (1,), "1", 1.0, True])
def test_output_padding_must_be_non_negative_ints(value):
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: expected output_padding to be None, a non-negative int "
                                         rf"or a pair of them, got {re.escape(repr(value))}\. Fix: "
                                         r"output_padding=None \(Keras's default size\) or output_padding=1\."):
        Conv2DTranspose(2, 3, strides=2, output_padding=value)
    with pytest.raises(ValueError, match=r"Conv1DTranspose: expected output_padding to be None, a non-negative int or "
                                         r"a tuple of one, got \(1, 1\)"):
        Conv1DTranspose(2, 3, strides=2, output_padding=(1, 1))


def test_output_padding_must_be_smaller_than_strides():
    with pytest.raises(ValueError, match=r"Conv2DTranspose: expected output_padding smaller than strides on every "
                                         r"axis \(the extra rows past the last stride\), got output_padding=\(1, 2\) "
                                         r"with strides=\(2, 2\)\. Fix: output_padding=None, or at most strides − 1 "
                                         r"on each axis: output_padding=\(1, 1\)\."):
        Conv2DTranspose(2, 3, strides=2, output_padding=(1, 2))
    with pytest.raises(ValueError, match=r"got output_padding=\(1,\) with strides=\(1,\)\. Fix: .*output_padding=\(0,\)"):
        Conv1DTranspose(2, 3, output_padding=1)


@pytest.mark.parametrize("arg", ["kernel_initializer", "bias_initializer"])
@pytest.mark.parametrize("value", ["glorot", None, 0.1])
def test_initializer_validation(arg, value):
    fix = {"glorot": "glorot_uniform"}.get(value, "zeros" if arg == "bias_initializer" else "glorot_uniform")
    with pytest.raises(ValueError, match=rf"Conv2DTranspose: expected {arg} among zeros, ones, constant, .*"
                                         rf"got {re.escape(repr(value))}\. Fix: {arg}='{fix}'\."):
        Conv2DTranspose(2, 3, **{arg: value})


def test_an_output_that_would_be_empty_is_refused():
    # "same" with output_padding=0 and an even kernel: length (n − 1)·s, nothing for n = 1.
    layer = Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0, name="empty")
    message = (r"Layer 'empty' \(Conv2DTranspose\): an input of 1 along axis 1 gives an empty output with "
               r"kernel_size \(2, 2\), padding='same' and output_padding=\(0, 0\) \(length \(n − 1\)·s \+ \(k mod 2\) "
               r"\+ output_padding\)\. Fix: output_padding=None \(the output is then n·s long\), or an odd kernel_size\.")
    with pytest.raises(ValueError, match=message):
        layer(torch.zeros(1, 1, 3, 2))
    assert layer(torch.zeros(1, 3, 3, 2)).shape == (1, 4, 4, 2)  # the same layer on a larger image
    with pytest.raises(ValueError, match=message):
        layer(torch.zeros(1, 1, 3, 2))  # and later on a one-row image


def test_rank_and_channel_errors():
    with pytest.raises(ValueError, match=r"Layer 'up2' \(Conv2DTranspose\) expected input of rank 4 \(batch, height, "
                                         r"width, channels\), got shape \(2, 7, 7\) of rank 3\. Fix: reshape"):
        Conv2DTranspose(2, 3, name="up2")(torch.zeros(2, 7, 7))
    with pytest.raises(ValueError, match=r"Layer 'up1' \(Conv1DTranspose\) expected input of rank 3 \(batch, time, "
                                         r"features\), got shape \(2, 7\) of rank 2\. Fix: give sequences as"):
        Conv1DTranspose(2, 3, name="up1")(torch.zeros(2, 7))
    layer = Conv2DTranspose(2, 3, name="upc")
    layer(torch.zeros(1, 3, 3, 4))
    with pytest.raises(ValueError, match=r"Layer 'upc' \(Conv2DTranspose\) was built for inputs of shape "
                                         r"\(None, 3, 3, 4\), got \(1, 3, 3, 1\)"):
        layer(torch.zeros(1, 3, 3, 1))
