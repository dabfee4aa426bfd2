"""Conv3DTranspose against a naive NumPy scatter-add of its docstring equation,
in float64 (atol=1e-10):

    full[n, a·s_d + t·d_d, i·s_h + u·d_h, k·s_w + v·d_w, j] += x[n, a, i, k, c] · w[c, j, t, u, v]
    y[n, o, p, q, j] = b[j] + full[n, P_d + o, P_h + p, P_w + q, j]   (0 past the scatter's end)

Each axis's output length and crop P come from Keras 3's dilated-input
description of the operation (``keras_axis``, shared with the 2-D tests), not
from the layer's own formulas; the lengths are also checked against Keras's
documented example and against torch.nn.ConvTranspose3d.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import brainnet
import brainnet.layers
from brainnet.layers import Conv3D, Conv3DTranspose, Input
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def keras_axis(n: int, k: int, s: int, d: int, padding: str, op: int | None) -> tuple[int, int]:
    """(L, P) of one axis: the input dilated by s, padded (left, right), correlated with
    the dilated kernel k_d (Keras's backend_utils picture); P = k_d − 1 − left."""
    kd = (k - 1) * d + 1
    if padding == "valid":
        left, right = kd - 1, kd - 1 + (max(kd, s) - kd if op is None else op)
    else:
        total = s + kd - 2 if op is None else kd + kd % 2 - 2 + op
        left = min(total // 2 + total % 2, kd - 1)
        right = total - left
    return (n - 1) * s + 1 + left + right - kd + 1, kd - 1 - left


def conv3d_transpose_naive(x, w, b, strides, padding, output_padding=None, dilation=(1, 1, 1)):
    """Scatter-add, one input voxel and kernel tap at a time (x: NDHWC, w: (C, F, kd, kh, kw))."""
    n_, c_ = x.shape[0], x.shape[-1]
    f_, kernel = w.shape[1], w.shape[2:]
    ops = output_padding or (None, None, None)
    axes = [keras_axis(x.shape[1 + a], kernel[a], strides[a], dilation[a], padding, ops[a]) for a in range(3)]
    full = np.zeros((n_, *[(x.shape[1 + a] - 1) * strides[a] + (kernel[a] - 1) * dilation[a] + 1 for a in range(3)],
                     f_))
    for a in range(x.shape[1]):
        for i in range(x.shape[2]):
            for k in range(x.shape[3]):
                for t in range(kernel[0]):
                    for u in range(kernel[1]):
                        for v in range(kernel[2]):
                            o = a * strides[0] + t * dilation[0]
                            p = i * strides[1] + u * dilation[1]
                            q = k * strides[2] + v * dilation[2]
                            for c in range(c_):
                                for j in range(f_):
                                    full[:, o, p, q, j] += x[:, a, i, k, c] * w[c, j, t, u, v]
    y = np.zeros((n_, *[length for length, _ in axes], f_)) + (0.0 if b is None else b)
    (ld, cd), (lh, ch), (lw, cw) = axes
    for o in range(ld):
        for p in range(lh):
            for q in range(lw):
                if cd + o < full.shape[1] and ch + p < full.shape[2] and cw + q < full.shape[3]:
                    y[:, o, p, q, :] += full[:, cd + o, ch + p, cw + q, :]
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def built(layer: Conv3DTranspose, x: torch.Tensor) -> Conv3DTranspose:
    """``layer`` built in float64 on ``x``, with a random non-zero bias."""
    layer(x)
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.copy_(f64(layer.filters, seed=1))
    return layer


CASES = [
    # (input NDHWC, filters, kernel, strides, padding, output_padding, dilation)
    ((2, 2, 3, 2, 2), 3, (2, 3, 2), (1, 1, 1), "valid", None, (1, 1, 1)),
    ((1, 2, 2, 3, 2), 2, (3, 2, 2), (2, 2, 3), "valid", None, (1, 1, 1)),  # k < s on the last axis
    ((1, 2, 3, 2, 1), 2, (3, 3, 3), (2, 2, 2), "valid", (1, 0, 1), (1, 1, 1)),
    ((2, 2, 3, 3, 2), 2, (3, 3, 3), (2, 2, 2), "same", None, (1, 1, 1)),  # crop 0: the odd extra slice after
    ((1, 3, 2, 2, 2), 2, (4, 2, 3), (2, 2, 1), "same", None, (1, 1, 1)),  # crop 1, 0 and 1
    ((1, 2, 3, 2, 2), 3, (3, 3, 3), (2, 2, 2), "same", (1, 0, 1), (1, 1, 1)),
    ((1, 2, 2, 2, 2), 2, (1, 2, 1), (3, 2, 3), "same", (2, 1, 2), (1, 1, 1)),  # zeros past the scatter's end
    ((1, 2, 3, 3, 2), 2, (2, 3, 2), (1, 1, 1), "valid", None, (2, 1, 3)),  # dilated kernel
    ((1, 1, 1, 1, 3), 2, (2, 2, 3), (2, 2, 2), "valid", None, (1, 1, 1)),  # one voxel: the kernel itself
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding, output_padding, dilation", CASES)
def test_conv3d_transpose_matches_naive_scatter(shape, filters, kernel, strides, padding, output_padding, dilation):
    x = f64(*shape)
    layer = built(Conv3DTranspose(filters, kernel, strides=strides, padding=padding, output_padding=output_padding,
                                  dilation_rate=dilation), x)
    assert tuple(layer.kernel.shape) == (shape[-1], filters) + kernel  # (in, filters, kd, kh, kw)
    y = layer(x)
    expected = conv3d_transpose_naive(x.numpy(), layer.kernel.detach().numpy(), layer.bias.detach().numpy(),
                                      strides, padding, output_padding, dilation)
    assert tuple(y.shape) == expected.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("activation, use_bias", [("relu", True), ("sigmoid", False), (None, True)])
def test_activation_and_bias(activation, use_bias):
    x = f64(2, 2, 2, 3, 2)
    layer = built(Conv3DTranspose(2, 3, strides=2, padding="same", activation=activation, use_bias=use_bias), x)
    if not use_bias:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]
    z = conv3d_transpose_naive(x.numpy(), layer.kernel.detach().numpy(),
                               layer.bias.detach().numpy() if use_bias else None, (2, 2, 2), "same")
    expected = {"relu": np.maximum(z, 0.0), "sigmoid": 1 / (1 + np.exp(-z)), None: z}[activation]
    np.testing.assert_allclose(layer(x).detach().numpy(), expected, rtol=0, atol=ATOL)


def test_keras_documented_example_shape():
    # Keras 3's Conv3DTranspose docstring: (4, 10, 8, 12, 128) with 32 filters, kernel 2, strides 2
    # gives (4, 20, 16, 24, 32); a smaller channel count here, the same spatial sizes.
    assert Conv3DTranspose(32, 2, 2, activation="relu")(torch.rand(4, 10, 8, 12, 3)).shape == (4, 20, 16, 24, 32)
    assert keras_axis(5, 3, 2, 1, "same", None) == (10, 0)


@pytest.mark.parametrize("strides", [(1, 1, 1), (2, 3, 1)])  # k ≥ s: no zeros appended, as torch
def test_valid_equals_torch_conv_transpose3d(strides):
    x = f64(2, 3, 4, 2, 3)
    layer = built(Conv3DTranspose(4, (2, 3, 2), strides=strides), x)
    ref = torch.nn.ConvTranspose3d(3, 4, (2, 3, 2), stride=strides, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(layer.kernel)
        ref.bias.copy_(layer.bias)
    torch.testing.assert_close(layer(x), ref(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding, kernel", [("valid", (3, 2, 3)), ("same", (3, 3, 3)), ("same", (4, 1, 3))])
def test_is_the_adjoint_of_conv3d(padding, kernel):
    # <Conv3D(z), x> = <Conv3DTranspose(x), z> for the same kernel (PyTorch stores both as
    # (Conv3D's out, Conv3D's in, window)); output_padding gives back z's odd sizes.
    strides, size = (2, 1, 2), (5, 5, 6)
    z = f64(1, *size, 2, seed=2)
    conv = Conv3D(3, kernel, strides=strides, padding=padding, use_bias=False)
    conv_z = conv(z)
    x = f64(*conv_z.shape, seed=3)
    op = tuple(((n - k) % s if padding == "valid" else (n - 1) % s + 1 - k % 2)
               for n, k, s in zip(size, kernel, strides))
    transposed = Conv3DTranspose(2, kernel, strides=strides, padding=padding, output_padding=op, use_bias=False)
    transposed(x)
    with torch.no_grad():
        transposed.kernel.copy_(conv.kernel)
    back = transposed(x)
    assert back.shape == z.shape
    torch.testing.assert_close((conv_z * x).sum(), (back * z).sum(), rtol=1e-12, atol=1e-12)


def test_gradients_match_finite_differences():
    x = f64(1, 2, 2, 2, 2).requires_grad_(True)
    layer = Conv3DTranspose(2, 3, strides=2, padding="same", output_padding=1, activation="tanh")
    layer(x)
    assert torch.autograd.gradcheck(layer, (x,))


def test_a_keras_layout_kernel_is_refused_with_its_transpose():
    layer = Conv3DTranspose(2, (2, 3, 1), name="up3")
    layer(torch.zeros(1, 2, 2, 2, 4, dtype=torch.float64))
    keras_kernel = np.random.default_rng(4).normal(size=(2, 3, 1, 2, 4))  # (kd, kh, kw, filters, in)
    with pytest.raises(ValueError, match=r"Layer 'up3' set_weights: expected shape \(4, 2, 2, 3, 1\) \(PyTorch's "
                                         r"kernel layout: in, out, then the window\).*Fix: np\.transpose\(kernel, "
                                         r"\(4, 3, 0, 1, 2\)\)\."):
        layer.set_weights([keras_kernel, np.zeros(2)])
    layer.set_weights([np.transpose(keras_kernel, (4, 3, 0, 1, 2)), np.zeros(2)])
    assert np.array_equal(layer.kernel.detach().permute(*layer.keras_order("kernel")).numpy(), keras_kernel)


def test_initializer_fans_and_regularizer_are_keras_s():
    layer = Conv3DTranspose(32, 3, kernel_initializer="he_normal", bias_initializer="ones",
                            kernel_regularizer=brainnet.regularizers.L2(0.01))
    layer(torch.zeros(1, 2, 2, 2, 8))
    # Keras's kernel (3, 3, 3, 32, 8): fan_in = 3·3·3·32 (the filters, its axis −2)
    assert abs(float(layer.kernel.detach().std()) / (2 / (27 * 32)) ** 0.5 - 1) < 0.1
    assert torch.equal(layer.bias, torch.ones(32))
    (penalty,) = layer.losses
    torch.testing.assert_close(penalty, 0.01 * (layer.kernel ** 2).sum())


def test_in_a_model_summary_save_and_load(tmp_path):
    model = Sequential([
        Conv3DTranspose(3, 3, strides=2, padding="same", activation="relu", input_shape=(2, 3, 3, 2)),
        Conv3DTranspose(2, 2, strides=(1, 2, 1), output_padding=(0, 1, 0), name="odd"),
    ])
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Conv3DTranspose" in text and "(None, 4, 6, 6, 3)" in text and "(None, 5, 13, 7, 2)" in text
    x = np.random.default_rng(0).normal(size=(2, 2, 3, 3, 2)).astype("float32")
    model.save(tmp_path / "volumes.brainnet")
    loaded = load_model(tmp_path / "volumes.brainnet")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    inputs = Input(shape=(None, None, None, 2))
    assert Model(inputs, Conv3DTranspose(2, 3, strides=2)(inputs)).output_shape == (None, None, None, None, 2)


def test_get_config_round_trip():
    layer = Conv3DTranspose(8, (3, 2, 1), strides=(2, 1, 2), padding="same", output_padding=(1, 0, 1),
                            activation="relu", use_bias=False, kernel_initializer="he_normal", name="t3")
    config = layer.get_config()
    assert config == {
        "name": "t3", "trainable": True, "filters": 8, "kernel_size": [3, 2, 1], "strides": [2, 1, 2],
        "padding": "same", "output_padding": [1, 0, 1], "dilation_rate": [1, 1, 1], "activation": "relu",
        "use_bias": False, "kernel_initializer": "he_normal", "bias_initializer": "zeros",
    }
    assert Conv3DTranspose.from_config(json.loads(json.dumps(config))).get_config() == config


@pytest.mark.parametrize("value", [0, (3, 3), (3, 0, 3), "3"])
def test_size_errors(value):
    with pytest.raises(ValueError, match=rf"Conv3DTranspose: expected kernel_size to be a positive int or a triple "
                                         rf"of them, got {re.escape(repr(value))}\. Fix: kernel_size=\(3, 3, 3\) or "
                                         r"kernel_size=3\."):
        Conv3DTranspose(2, value)


def test_output_padding_errors():
    with pytest.raises(ValueError, match=r"Conv3DTranspose: expected output_padding to be None, a non-negative int or "
                                         r"a triple of them, got \(1, 1\)\. Fix: output_padding=None"):
        Conv3DTranspose(2, 3, strides=2, output_padding=(1, 1))
    with pytest.raises(ValueError, match=r"Conv3DTranspose: expected output_padding smaller than strides on every "
                                         r"axis .*got output_padding=\(1, 1, 1\) with strides=\(2, 1, 2\)\. Fix: "
                                         r".*output_padding=\(1, 0, 1\)\."):
        Conv3DTranspose(2, 3, strides=(2, 1, 2), output_padding=1)


def test_rank_error():
    with pytest.raises(ValueError, match=r"Layer 'vol' \(Conv3DTranspose\) expected input of rank 5 \(batch, depth, "
                                         r"height, width, channels\), got shape \(2, 7, 7, 3\) of rank 4\. Fix: "
                                         r"reshape the input \(for one-channel volumes"):
        Conv3DTranspose(2, 3, name="vol")(torch.zeros(2, 7, 7, 3))


def test_docstring_examples_run():
    import doctest

    import brainnet.layers.convolution_transpose as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0
    assert "Conv3DTranspose" in brainnet.layers.__all__
