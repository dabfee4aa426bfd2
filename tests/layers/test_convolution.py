"""Conv2D against a naive NumPy loop over its docstring equation, in float64:

    y[n, p, q, j] = f(Σ_{u,v,c} x[n, p·s_h + u, q·s_w + v, c] · w[j, c, u, v] + b[j])

with ``x`` zero-padded first for "same" (Keras: total = max((⌈n/s⌉ − 1)·s + k − n, 0),
the odd extra row/column at the bottom/right). Tolerance: atol=1e-10.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet import layers
from brainnet.layers import Conv2D

ATOL = 1e-10


def keras_same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow "same": ⌈n/s⌉ outputs; the odd extra pad goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv2d_naive(x, w, b, strides, padding, activation=None):
    """The docstring equation, one output value at a time (x: NHWC, w: (F, C, kh, kw))."""
    n_, h_, w_, c_ = x.shape
    f_, c2, kh, kw = w.shape
    assert c2 == c_
    sh, sw = strides
    if padding == "same":
        top, bottom = keras_same_pads(h_, kh, sh)
        left, right = keras_same_pads(w_, kw, sw)
    else:
        top = bottom = left = right = 0
    xp = np.zeros((n_, h_ + top + bottom, w_ + left + right, c_))
    for n in range(n_):
        for i in range(h_):
            for k in range(w_):
                for c in range(c_):
                    xp[n, top + i, left + k, c] = x[n, i, k, c]
    out_h = (xp.shape[1] - kh) // sh + 1
    out_w = (xp.shape[2] - kw) // sw + 1
    y = np.zeros((n_, out_h, out_w, f_))
    for n in range(n_):
        for p in range(out_h):
            for q in range(out_w):
                for j in range(f_):
                    s = 0.0 if b is None else b[j]
                    for u in range(kh):
                        for v in range(kw):
                            for c in range(c_):
                                s += xp[n, p * sh + u, q * sw + v, c] * w[j, c, u, v]
                    y[n, p, q, j] = s
    if activation == "relu":
        y = np.where(y > 0, y, 0.0)
    elif activation == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-y))
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def built_conv(x: torch.Tensor, seed: int = 1, **kwargs) -> Conv2D:
    """A Conv2D built in float64 on ``x``, with a random non-zero bias."""
    layer = Conv2D(**kwargs)
    layer(x)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.copy_(f64(layer.filters, seed=seed))
    return layer


CASES = [
    # (input shape NHWC, filters, kernel, strides, padding)
    ((2, 6, 7, 1), 2, (3, 3), (1, 1), "valid"),
    ((2, 6, 7, 3), 4, (3, 2), (1, 1), "valid"),
    ((1, 7, 7, 2), 3, (3, 3), (2, 2), "valid"),
    ((1, 8, 6, 2), 2, (2, 3), (2, 1), "valid"),
    ((2, 5, 6, 2), 3, (3, 3), (1, 1), "same"),
    ((1, 5, 5, 2), 2, (2, 2), (1, 1), "same"),  # even kernel: extra pad bottom/right
    ((1, 6, 5, 1), 2, (4, 4), (1, 1), "same"),  # total pad 3: 1 before, 2 after
    ((1, 5, 5, 2), 2, (3, 3), (2, 2), "same"),  # odd input, stride 2
    ((1, 6, 6, 2), 2, (3, 3), (2, 2), "same"),  # total pad 1: 0 before, 1 after
    ((1, 7, 5, 1), 2, (2, 2), (2, 2), "same"),  # odd input, even kernel, stride 2
    ((1, 9, 7, 3), 2, (4, 3), (3, 2), "same"),
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding", CASES)
def test_conv2d_matches_naive_equation(shape, filters, kernel, strides, padding):
    x = f64(*shape)
    layer = built_conv(x, filters=filters, kernel_size=kernel, strides=strides, padding=padding)
    assert tuple(layer.kernel.shape) == (filters, shape[-1]) + kernel  # (filters, in, kh, kw)
    assert layer.kernel.dtype == torch.float64
    y = layer(x)
    expected = conv2d_naive(
        x.numpy(), layer.kernel.detach().numpy(), layer.bias.detach().numpy(), strides, padding
    )
    assert tuple(y.shape) == expected.shape
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_activation_and_bias(activation, use_bias):
    x = f64(2, 5, 5, 3)
    layer = built_conv(x, filters=4, kernel_size=3, padding="same", activation=activation, use_bias=use_bias)
    b = layer.bias.detach().numpy() if use_bias else None
    if not use_bias:
        assert layer.bias is None
        assert [n for n, _ in layer.named_parameters()] == ["kernel"]
    expected = conv2d_naive(x.numpy(), layer.kernel.detach().numpy(), b, (1, 1), "same", activation)
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=0, atol=ATOL)


def _delta_kernel(layer: Conv2D, u: int, v: int) -> None:
    """Kernel with a single 1 at (u, v): the output copies x shifted by (u, v) − pad."""
    with torch.no_grad():
        layer.kernel.zero_()
        layer.kernel[0, 0, u, v] = 1.0


def test_conv2d_same_even_kernel_pads_bottom_right():
    # 3×3 input, kernel 2×2, stride 1, "same": total pad 1 → 0 above/left, 1 below/right.
    x = torch.arange(1.0, 10.0, dtype=torch.float64).reshape(1, 3, 3, 1)
    layer = Conv2D(1, (2, 2), padding="same", use_bias=False)
    layer(x)
    _delta_kernel(layer, 0, 0)  # y[p, q] = xp[p, q] = x[p, q]: no pad above/left
    assert layer(x)[0, :, :, 0].tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    _delta_kernel(layer, 1, 1)  # y[p, q] = x[p + 1, q + 1], zeros from the pad below/right
    assert layer(x)[0, :, :, 0].tolist() == [[5, 6, 0], [8, 9, 0], [0, 0, 0]]


def test_conv2d_same_kernel_4_pads_one_before_two_after():
    x = torch.arange(1.0, 17.0, dtype=torch.float64).reshape(1, 4, 4, 1)
    layer = Conv2D(1, (4, 4), padding="same", use_bias=False)
    layer(x)
    _delta_kernel(layer, 0, 0)  # y[p, q] = x[p − 1, q − 1]: one pad row/column before
    assert layer(x)[0, :, :, 0].tolist() == [[0, 0, 0, 0], [0, 1, 2, 3], [0, 5, 6, 7], [0, 9, 10, 11]]


def test_conv2d_same_stride_2_even_input_pads_after():
    # 4×4 input, kernel 3, stride 2: ⌈4/2⌉ = 2 outputs, total pad (2−1)·2 + 3 − 4 = 1 → (0, 1).
    x = torch.arange(1.0, 17.0, dtype=torch.float64).reshape(1, 4, 4, 1)
    layer = Conv2D(1, 3, strides=2, padding="same", use_bias=False)
    layer(x)
    _delta_kernel(layer, 0, 0)  # y[p, q] = x[2p, 2q]
    assert layer(x)[0, :, :, 0].tolist() == [[1, 3], [9, 11]]


@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (1, 3)])
def test_conv2d_valid_equals_torch_conv2d(strides):
    x = f64(2, 9, 8, 3)
    layer = built_conv(x, filters=5, kernel_size=(3, 2), strides=strides)
    ref = torch.nn.Conv2d(3, 5, (3, 2), stride=strides, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(layer.kernel)
        ref.bias.copy_(layer.bias)
    expected = ref(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding, strides", [("valid", 1), ("same", 1), ("same", 2), ("valid", 2)])
def test_conv2d_memory_layout(padding, strides):
    x = f64(2, 7, 7, 3)
    layer = Conv2D(4, 3, strides=strides, padding=padding)
    y = layer(x)
    assert layer.kernel.is_contiguous(memory_format=torch.channels_last)
    assert y.is_contiguous()  # contiguous in (N, H, W, C)
    assert y.dtype == torch.float64


def test_conv2d_rank_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'conv_rank' \(Conv2D\) expected input of rank 4 \(batch, height, width, channels\), "
        r"got shape \(2, 28, 28\) of rank 3\. Fix: reshape the input \(for one-channel images: "
        r"x\[\.\.\., None\] gives \(N, H, W, 1\)\)",
    ):
        Conv2D(2, 3, name="conv_rank")(torch.ones(2, 28, 28))


def test_conv2d_built_axis_error():
    layer = Conv2D(2, 3, name="conv_axis")
    layer(torch.ones(1, 5, 5, 3))
    with pytest.raises(
        ValueError,
        match=r"Layer 'conv_axis' \(Conv2D\) was built for inputs of shape \(None, 5, 5, 3\), "
        r"got \(1, 5, 5, 1\) \(axis -1: expected 3, got 1\)\. Fix:",
    ):
        layer(torch.ones(1, 5, 5, 1))


def test_conv2d_image_too_small_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'conv_small': input of height×width 2×2 is smaller than its window 3×3 with "
        r"padding='valid', so the output would be empty\. Fix: use padding='same'",
    ):
        Conv2D(1, 3, name="conv_small")(torch.ones(1, 2, 2, 1))


@pytest.mark.parametrize("filters", [0, -1, 2.0, "8", True])
def test_conv2d_filters_validation(filters):
    with pytest.raises(
        ValueError,
        match=rf"Conv2D: expected filters to be a positive integer, got {re.escape(repr(filters))}\. "
        r"Fix: Conv2D\(filters=32",
    ):
        Conv2D(filters, 3)


def test_conv2d_accepts_numpy_integers():
    layer = Conv2D(np.int64(4), np.int64(3), strides=(np.int64(1), 1))
    assert layer(torch.ones(1, 5, 5, 2)).shape == (1, 3, 3, 4)
    json.dumps(layer.get_config())


@pytest.mark.parametrize("arg", ["kernel_size", "strides"])
@pytest.mark.parametrize("value", [0, (3,), (3, 0), (3, 3, 3), "3", (2.0, 2), -1, True])
def test_conv2d_pair_validation(arg, value):
    kwargs = {"kernel_size": 3, arg: value}
    with pytest.raises(
        ValueError,
        match=rf"Conv2D: expected {arg} to be a positive int or a pair of them, got "
        rf"{re.escape(repr(value))}\. Fix: {arg}=\(3, 3\) or {arg}=3\.",
    ):
        Conv2D(2, **kwargs)


@pytest.mark.parametrize("padding", ["full", "causal", 1, None])
def test_conv2d_padding_validation(padding):
    with pytest.raises(
        ValueError,
        match=rf"Conv2D: expected padding 'valid' or 'same', got {re.escape(repr(padding))}\. "
        r"Fix: padding='same'",
    ):
        Conv2D(2, 3, padding=padding)


@pytest.mark.parametrize("shape", [(2, 9, 8, 3), (1, 5, 5, 1), (3, 28, 28, 1)])
@pytest.mark.parametrize("kernel", [1, 3, (2, 4)])
@pytest.mark.parametrize("strides", [1, 2, (3, 1)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_compute_output_shape(shape, kernel, strides, padding):
    layer = Conv2D(3, kernel, strides=strides, padding=padding)
    y = layer(torch.zeros(shape))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])
    # The documented formulas.
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    if padding == "same":
        assert tuple(y.shape[1:3]) == (math.ceil(shape[1] / sh), math.ceil(shape[2] / sw))
    else:
        assert tuple(y.shape[1:3]) == ((shape[1] - kh) // sh + 1, (shape[2] - kw) // sw + 1)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_compute_output_shape_unknown_sizes(padding):
    layer = Conv2D(6, 3, strides=2, padding=padding)
    assert layer.compute_output_shape((None, None, None, 3)) == (None, None, None, 6)
    height = (9 - 3) // 2 + 1 if padding == "valid" else math.ceil(9 / 2)
    assert layer.compute_output_shape((None, 9, None, 3))[1:3] == (height, None)


def test_conv2d_get_config_round_trip():
    layer = Conv2D(8, (3, 2), strides=(2, 1), padding="SAME", activation="relu", use_bias=False,
                   input_shape=(28, 28, 1), name="c1")
    config = layer.get_config()
    assert config == {
        "name": "c1", "trainable": True, "input_shape": [28, 28, 1], "filters": 8,
        "kernel_size": [3, 2], "strides": [2, 1], "padding": "same", "dilation_rate": [1, 1], "groups": 1,
        "activation": "relu",
        "use_bias": False, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
    }
    again = Conv2D.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


@pytest.mark.parametrize("make, shape", [
    (lambda: Conv2D(4, 3), (2, 7, 7, 1)),  # one input channel: kernel (4, 1, 3, 3)
    (lambda: Conv2D(4, 3, groups=2), (2, 7, 7, 2)),  # one channel per group
    (lambda: layers.Conv3D(2, 3), (2, 5, 5, 5, 1)),
    (lambda: layers.Conv2DTranspose(1, 3), (2, 5, 5, 3)),  # kernel (in, out=1, 3, 3)
    (lambda: layers.Conv3DTranspose(1, 3), (2, 4, 4, 4, 2)),
    (lambda: layers.ConvLSTM2D(2, 3), (2, 3, 6, 6, 1)),
], ids=["Conv2D", "Conv2D-groups", "Conv3D", "Conv2DTranspose", "Conv3DTranspose", "ConvLSTM2D"])
def test_a_kernel_with_an_axis_of_one_has_its_gradients_strides(make, shape):
    """A kernel whose size-1 axis only made it look channels-last got a
    gradient in other strides, and DistributedDataParallel warned "Grad strides
    do not match bucket view strides" (the first Conv2D of an MNIST model):
    the kernel is now made with the strides torch's convolution gives its
    gradient."""
    layer = make()
    layer(torch.rand(shape)).sum().backward()
    kernels = [p for name, p in layer.named_parameters() if "kernel" in name]
    assert kernels and any(1 in k.shape[:2] for k in kernels)
    for k in kernels:
        assert k.grad.stride() == k.stride(), (tuple(k.shape), k.stride(), k.grad.stride())


class _Standardized(Conv2D):
    """A Conv2D whose convolution_op standardizes each filter (keras.io's recipe, brainnet's layout)."""

    def convolution_op(self, inputs, kernel):
        mean = kernel.mean(dim=(1, 2, 3), keepdim=True)
        var = kernel.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
        return super().convolution_op(inputs, (kernel - mean) / torch.sqrt(var + 1e-10))


@pytest.mark.parametrize("padding, strides", [("valid", (1, 1)), ("same", (2, 2))])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv2d_convolution_op_is_keras_3s_hook(padding, strides, use_bias):
    x = f64(2, 6, 7, 3)
    plain = built_conv(x, filters=4, kernel_size=3, padding=padding, strides=strides, use_bias=use_bias,
                       activation="relu")
    kernel = plain.kernel.detach().numpy()
    bias = plain.bias.detach().numpy() if use_bias else None
    # the default hook: the convolution without the bias, with the layer's strides and padding
    np.testing.assert_allclose(plain.convolution_op(x, plain.kernel).detach().numpy(),
                               conv2d_naive(x.numpy(), kernel, None, strides, padding), rtol=0, atol=ATOL)
    # an override changes the kernel; the layer still adds the bias and applies the activation
    layer = _Standardized(4, 3, padding=padding, strides=strides, use_bias=use_bias, activation="relu")
    layer(x)
    layer.load_state_dict(plain.state_dict())
    w = kernel.reshape(4, -1)
    standardized = ((w - w.mean(1, keepdims=True)) / np.sqrt(w.var(1, keepdims=True) + 1e-10)).reshape(kernel.shape)
    expected = conv2d_naive(x.numpy(), standardized, bias, strides, padding, "relu")
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=0, atol=1e-9)
    assert _Standardized.from_config(layer.get_config()).get_config() == layer.get_config()


def test_conv3d_has_the_convolution_op_hook():
    from brainnet.layers import Conv3D

    class Doubled(Conv3D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, 2 * kernel)

    x = f64(1, 4, 4, 4, 2)
    plain = Conv3D(3, 2)
    plain(x)
    layer = Doubled(3, 2)
    layer(x)
    layer.load_state_dict(plain.state_dict())
    bias = plain.bias.detach()
    torch.testing.assert_close(layer(x), 2 * (plain(x) - bias) + bias)
    torch.testing.assert_close(plain.convolution_op(x, plain.kernel), plain(x) - bias)
