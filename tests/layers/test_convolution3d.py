"""Conv3D against a naive NumPy loop over its docstring equation, in float64
(atol=1e-10), the kernel given in Keras's layout ``(kd, kh, kw, in/groups, filters)``:

    y[n, d, h, w, j] = b[j] + Σ_{a,b,c,k} x[n, d·s_d + a·r_d, h·s_h + b·r_h, w·s_w + c·r_w, g·C_g + k] · W[a, b, c, k, j],
    g = ⌊j/(F/G)⌋, C_g = C/G,

``x`` zero-padded first for "same" as Keras (total = max((⌈n/s⌉ − 1)·s + r·(k − 1) + 1 − n, 0),
the odd extra slice/row/column after). Output sizes: Keras 3's ⌊(n − r·(k − 1) − 1)/s⌋ + 1
("valid"), ⌈n/s⌉ ("same").
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet import constraints, regularizers
from brainnet.layers import Conv2D, Conv3D, Dense, Flatten, GlobalAveragePooling3D, Input
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def keras_pads(n: int, k: int, s: int, r: int, padding: str) -> tuple[int, int]:
    window = r * (k - 1) + 1
    if padding == "same":
        total = max((math.ceil(n / s) - 1) * s + window - n, 0)
        return total // 2, total - total // 2
    return 0, 0


def conv3d_naive(x, w, b, strides, padding, dilation, groups):
    """x: (N, D, H, W, C); w: Keras's (kd, kh, kw, C/G, F); one output value at a time."""
    n_, *spatial, c_ = x.shape
    *window, cg, f_ = w.shape
    assert cg * groups == c_
    pads = [keras_pads(n, k, s, r, padding) for n, k, s, r in zip(spatial, window, strides, dilation)]
    xp = np.zeros((n_, *(n + sum(p) for n, p in zip(spatial, pads)), c_))
    xp[:, pads[0][0]:pads[0][0] + spatial[0], pads[1][0]:pads[1][0] + spatial[1],
       pads[2][0]:pads[2][0] + spatial[2], :] = x
    out = [(xp.shape[1 + i] - dilation[i] * (window[i] - 1) - 1) // strides[i] + 1 for i in range(3)]
    (sd, sh, sw), (rd, rh, rw), (kd, kh, kw) = strides, dilation, window
    per = f_ // groups
    y = np.zeros((n_, *out, f_))
    for n in range(n_):
        for d in range(out[0]):
            for h in range(out[1]):
                for v in range(out[2]):
                    for j in range(f_):
                        g = j // per
                        acc = 0.0 if b is None else b[j]
                        for a in range(kd):
                            for bb in range(kh):
                                for c in range(kw):
                                    for k in range(cg):
                                        acc += (xp[n, d * sd + a * rd, h * sh + bb * rh, v * sw + c * rw, g * cg + k]
                                                * w[a, bb, c, k, j])
                        y[n, d, h, v, j] = acc
    return y


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


CASES = [
    # (input NDHWC, filters, kernel, strides, padding, dilation, groups)
    ((2, 4, 5, 5, 2), 3, (3, 3, 3), (1, 1, 1), "valid", (1, 1, 1), 1),
    ((1, 5, 4, 6, 1), 2, (2, 3, 2), (1, 1, 1), "valid", (1, 1, 1), 1),
    ((1, 5, 6, 5, 2), 2, (3, 2, 3), (2, 2, 1), "valid", (1, 1, 1), 1),
    ((2, 4, 4, 5, 2), 2, (3, 3, 3), (1, 1, 1), "same", (1, 1, 1), 1),    # odd kernel: torch's "same"
    ((1, 4, 5, 4, 1), 2, (2, 2, 2), (1, 1, 1), "same", (1, 1, 1), 1),    # even kernel: extra pad after
    ((1, 5, 5, 6, 2), 3, (3, 3, 2), (2, 2, 3), "same", (1, 1, 1), 1),    # strided "same"
    ((1, 6, 7, 5, 1), 2, (3, 2, 2), (1, 1, 1), "valid", (2, 3, 1), 1),   # dilated
    ((1, 5, 5, 5, 2), 2, (2, 3, 2), (1, 1, 1), "same", (3, 2, 2), 1),    # dilated "same", uneven pads
    ((2, 3, 4, 4, 4), 6, (2, 2, 2), (1, 1, 1), "valid", (1, 1, 1), 2),   # groups
    ((1, 4, 5, 4, 6), 3, (3, 2, 2), (1, 2, 1), "same", (1, 1, 1), 3),    # groups, strided
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding, dilation, groups", CASES)
def test_conv3d_matches_naive_equation(shape, filters, kernel, strides, padding, dilation, groups):
    x = f64(*shape)
    layer = Conv3D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    layer(torch.from_numpy(x))
    assert tuple(layer.kernel.shape) == (filters, shape[-1] // groups, *kernel)  # PyTorch's (out, in/G, kd, kh, kw)
    w = f64(*kernel, shape[-1] // groups, filters, seed=1)  # Keras's layout
    b = f64(filters, seed=2)
    with pytest.raises(ValueError, match=r"Keras's layout .* Fix: np\.transpose\(kernel, \(4, 3, 0, 1, 2\)\)"):
        layer.set_weights([w, b])
    layer.set_weights([np.transpose(w, (4, 3, 0, 1, 2)), b])
    y = layer(torch.from_numpy(x)).detach().numpy()
    expected = conv3d_naive(x, w, b, strides, padding, dilation, groups)
    assert y.shape == expected.shape
    assert layer.compute_output_shape(shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_conv3d_activation_and_bias(activation, use_bias):
    x = f64(2, 3, 4, 4, 2)
    layer = Conv3D(3, 2, padding="same", activation=activation, use_bias=use_bias)
    layer(torch.from_numpy(x))
    if not use_bias:
        assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["kernel"]
    else:
        layer.set_weights([layer.get_weights()[0], f64(3, seed=3)])
    w = layer.kernel.detach().permute(2, 3, 4, 1, 0).numpy()  # Keras's (kd, kh, kw, in, out)
    b = layer.bias.detach().numpy() if use_bias else None
    z = conv3d_naive(x, w, b, (1, 1, 1), "same", (1, 1, 1), 1)
    expected = np.maximum(z, 0.0) if activation == "relu" else 1.0 / (1.0 + np.exp(-z))
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("strides", [(1, 1, 1), (2, 2, 2), (1, 3, 2)])
def test_conv3d_valid_equals_torch_conv3d(strides):
    x = torch.from_numpy(f64(2, 6, 7, 8, 3))
    layer = Conv3D(4, (3, 2, 3), strides=strides)
    layer(x)
    ref = torch.nn.Conv3d(3, 4, (3, 2, 3), stride=strides, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(layer.kernel)
        ref.bias.copy_(torch.from_numpy(f64(4, seed=5)))
        layer.bias.copy_(ref.bias)
    expected = ref(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_conv3d_same_even_kernel_pads_after():
    # 3×3×3 volume, kernel 2, stride 1, "same": total pad 1 per axis → 0 before, 1 after.
    x = torch.arange(1.0, 28.0, dtype=torch.float64).reshape(1, 3, 3, 3, 1)
    layer = Conv3D(1, 2, padding="same", use_bias=False)
    layer(x)
    with torch.no_grad():
        layer.kernel.zero_()
        layer.kernel[0, 0, 1, 1, 1] = 1.0  # y[d, h, w] = x[d + 1, h + 1, w + 1], zeros from the pad after
    y = layer(x)[0, :, :, :, 0]
    assert y[0, 0, 0] == x[0, 1, 1, 1, 0] and y[1, 1, 1] == x[0, 2, 2, 2, 0]
    assert float(y[2].abs().sum().detach()) == 0.0 and float(y[:, 2].abs().sum().detach()) == 0.0


@pytest.mark.parametrize("padding, strides", [("valid", 1), ("same", 1), ("same", 2), ("valid", 2)])
def test_conv3d_memory_layout(padding, strides):
    # float32, the training dtype: torch's CPU kernels keep channels_last_3d there (float64 falls back to NCDHW).
    layer = Conv3D(4, 3, strides=strides, padding=padding)
    y = layer(torch.from_numpy(f64(2, 5, 6, 6, 3)).float())
    assert layer.kernel.is_contiguous(memory_format=torch.channels_last_3d)
    assert y.is_contiguous()  # contiguous in (N, D, H, W, C): no copy between layers
    assert y.dtype == torch.float32


@pytest.mark.parametrize("shape", [(2, 5, 6, 7, 2), (1, 3, 8, 8, 1)])
@pytest.mark.parametrize("kernel", [1, 3, (2, 3, 1)])
@pytest.mark.parametrize("strides", [1, 2, (1, 3, 2)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv3d_compute_output_shape(shape, kernel, strides, padding):
    layer = Conv3D(3, kernel, strides=strides, padding=padding)
    y = layer(torch.zeros(shape))
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])
    k = (kernel,) * 3 if isinstance(kernel, int) else kernel
    s = (strides,) * 3 if isinstance(strides, int) else strides
    if padding == "same":
        assert tuple(y.shape[1:4]) == tuple(math.ceil(n / si) for n, si in zip(shape[1:4], s))
    else:
        assert tuple(y.shape[1:4]) == tuple((n - ki) // si + 1 for n, ki, si in zip(shape[1:4], k, s))


def test_conv3d_compute_output_shape_unknown_sizes():
    layer = Conv3D(6, 3, dilation_rate=2, groups=3)
    assert layer.compute_output_shape((None, None, None, None, 3)) == (None, None, None, None, 6)
    assert layer.compute_output_shape((None, 9, None, 6, 3)) == (None, 5, None, 2, 6)  # ⌊(n − 5)/1⌋ + 1


def test_conv3d_get_config_round_trip():
    layer = Conv3D(8, (3, 2, 1), strides=(2, 1, 1), padding="SAME", activation="relu", use_bias=False,
                   kernel_regularizer="l2", input_shape=(3, 28, 28, 1), name="c3")
    config = layer.get_config()
    assert config == {
        "name": "c3", "trainable": True, "input_shape": [3, 28, 28, 1], "filters": 8,
        "kernel_size": [3, 2, 1], "strides": [2, 1, 1], "padding": "same", "dilation_rate": [1, 1, 1], "groups": 1,
        "activation": "relu", "use_bias": False, "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",
        "kernel_regularizer": config["kernel_regularizer"],
    }
    again = Conv3D.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    assert Conv3D.from_config(Conv3D(4, 2, dilation_rate=(2, 1, 1), groups=2).get_config()).dilation_rate == (2, 1, 1)


def test_conv3d_save_load_in_sequential_and_functional(tmp_path):
    torch.manual_seed(0)
    model = Sequential([Conv3D(4, 3, padding="same", groups=2, input_shape=(4, 6, 6, 2)),
                        Conv3D(4, 2, dilation_rate=2, activation="relu"), Flatten(), Dense(3)])
    x = torch.randn(3, 4, 6, 6, 2)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    torch.testing.assert_close(again.predict(x), model.predict(x), rtol=0, atol=0)
    assert type(again.layers[0]) is Conv3D and again.layers[1].dilation_rate == (2, 2, 2)
    assert again.layers[0].kernel.is_contiguous(memory_format=torch.channels_last_3d)

    inputs = Input(shape=(5, 8, 8, 1))
    outputs = GlobalAveragePooling3D()(Conv3D(3, (2, 3, 3), strides=(1, 2, 2), padding="same")(inputs))
    functional = Model(inputs, outputs)
    assert functional.output_shape == (None, 3)
    assert functional.layers[1].compute_output_shape((None, 5, 8, 8, 1)) == (None, 5, 4, 4, 3)
    volumes = torch.randn(2, 5, 8, 8, 1)
    functional.save(tmp_path / "f.keras")
    torch.testing.assert_close(load_model(tmp_path / "f.keras").predict(volumes), functional.predict(volumes),
                               rtol=0, atol=0)


def test_conv3d_summary_shows_its_equation():
    model = Sequential([Conv3D(2, 3, input_shape=(3, 5, 5, 1))])
    lines: list[str] = []
    model.summary(show_equations=True, print_fn=lines.append)
    joined = "\n".join(lines)
    assert Conv3D.equation in joined and "(None, 1, 3, 3, 2)" in joined


def test_initializer_fans_use_the_grouped_keras_shape():
    # glorot_uniform's limit √(6/(fan_in + fan_out)), fans of Keras's (kd, kh, kw, in/G, filters).
    layer = Conv3D(32, 3, groups=4)
    layer(torch.zeros(1, 4, 4, 4, 16))
    assert tuple(layer.kernel.shape) == (32, 4, 3, 3, 3)
    limit = math.sqrt(6 / (27 * 4 + 27 * 32))
    largest = float(layer.kernel.detach().abs().max())
    assert 0.9 * limit < largest <= limit


def test_regularizer_and_constraint_use_keras_axes():
    conv = Conv3D(4, 2, kernel_regularizer=regularizers.L2(0.1),
                  kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2, 3]))
    conv(torch.zeros(1, 3, 3, 3, 2))
    assert float(conv.losses[0].detach()) == pytest.approx(0.1 * float(conv.kernel.detach().square().sum()), rel=1e-6)
    with torch.no_grad():
        conv.kernel.mul_(10)
    conv.kernel.grad = torch.zeros_like(conv.kernel)
    constraints.apply(constraints.of_model(conv))
    keras = conv.kernel.detach().permute(2, 3, 4, 1, 0).numpy()  # (kd, kh, kw, in, out)
    np.testing.assert_allclose(np.sqrt((keras ** 2).sum(axis=(0, 1, 2, 3))), 0.5, rtol=1e-5)  # one norm per filter
    assert conv.kernel.is_contiguous(memory_format=torch.channels_last_3d)


def test_gradients_match_finite_differences():
    x = torch.from_numpy(f64(1, 3, 4, 4, 2)).requires_grad_()
    layer = Conv3D(2, 2, padding="same", groups=2)
    layer(x)
    assert torch.autograd.gradcheck(lambda x, w, b: torch.func.functional_call(
        layer, {"kernel": w, "bias": b}, (x,)), (x, layer.kernel.detach().clone().requires_grad_(),
                                               layer.bias.detach().clone().requires_grad_()))


# ------------------------------------------------------------------ errors
def test_conv3d_rank_error():
    with pytest.raises(ValueError, match=r"Layer 'vol' \(Conv3D\) expected input of rank 5 \(batch, depth, height, "
                       r"width, channels\), got shape \(2, 28, 28, 1\) of rank 4\. Fix: reshape the input \(for "
                       r"one-channel volumes: x\[\.\.\., None\] gives \(N, D, H, W, 1\)\)"):
        Conv3D(2, 3, name="vol")(torch.ones(2, 28, 28, 1))


def test_conv3d_volume_too_small_error():
    with pytest.raises(ValueError, match=r"Layer 'small3d': input of depth×height×width 2×5×5 is smaller than its "
                       r"window 3×3×3 with padding='valid', so the output would be empty\. Fix: use padding='same'"):
        Conv3D(1, 3, name="small3d")(torch.ones(1, 2, 5, 5, 1))
    with pytest.raises(ValueError, match=r"smaller than its window 5×5×5 with padding='valid'"):
        Conv3D(1, 3, dilation_rate=2)(torch.ones(1, 4, 8, 8, 1))


def test_conv3d_channels_first_volume_is_recognised():
    with pytest.raises(ValueError, match=r"Layer 'cf': input of depth×height×width 1×8×28 with 28 channels is "
                       r"smaller than its window 3×3×3; this looks like channels-first \(channels, depth, height, "
                       r"width\) = \(1, 8, 28, 28\)\. Fix: brainnet, like Keras, takes \(depth, height, width, "
                       r"channels\): input_shape=\(8, 28, 28, 1\), and volumes as x\.transpose\(0, 2, 3, 4, 1\)\."):
        Sequential([Conv3D(3, 3, input_shape=(1, 8, 28, 28), name="cf")])


@pytest.mark.parametrize("arg", ["kernel_size", "strides", "dilation_rate"])
@pytest.mark.parametrize("value", [0, (3, 3), (3, 0, 3), (3, 3, 3, 3), "3", (2.0, 2, 2), -1, True])
def test_conv3d_triple_validation(arg, value):
    kwargs = {"kernel_size": 3, arg: value}
    with pytest.raises(ValueError, match=rf"Conv3D: expected {arg} to be a positive int or a triple of them, got "
                       rf"{re.escape(repr(value))}\. Fix: {arg}=\(3, 3, 3\) or {arg}=3\."):
        Conv3D(2, **kwargs)


def test_conv3d_hyperparameter_errors():
    with pytest.raises(ValueError, match=r"Conv3D: expected filters to be a positive integer, got 0"):
        Conv3D(0, 3)
    with pytest.raises(ValueError, match=r"Conv3D: expected padding 'valid' or 'same', got 'causal'\. Fix:"):
        Conv3D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"Conv3D: expected strides of 1 when dilation_rate > 1 \(Keras does not "
                       r"combine them\), got strides=\(1, 2, 1\) with dilation_rate=\(2, 1, 1\)\. Fix: strides=1"):
        Conv3D(4, 3, strides=(1, 2, 1), dilation_rate=(2, 1, 1))
    with pytest.raises(ValueError, match=r"Conv3D: expected groups to divide filters \(each group gets "
                       r"filters/groups of them\), got groups=4 with filters=6\. Fix: groups among \[1, 2, 3, 6\]"):
        Conv3D(6, 3, groups=4)
    with pytest.raises(ValueError, match=r"Layer 'grouped3d' \(Conv3D\): expected input channels divisible by "
                       r"groups=2, got 3 channels\. Fix: groups dividing both 3 and filters=4"):
        Conv3D(4, 2, groups=2, name="grouped3d")(torch.zeros(1, 3, 3, 3, 3))


def test_conv3d_built_axis_error():
    layer = Conv3D(2, 2, name="c3axis")
    layer(torch.ones(1, 3, 3, 3, 3))
    with pytest.raises(ValueError, match=r"Layer 'c3axis' \(Conv3D\) was built for inputs of shape "
                       r"\(None, 3, 3, 3, 3\), got \(1, 3, 3, 3, 1\) \(axis -1: expected 3, got 1\)\. Fix:"):
        layer(torch.ones(1, 3, 3, 3, 1))


def test_conv2d_messages_unchanged_by_the_3d_helpers():
    with pytest.raises(ValueError, match=r"Conv2D: expected kernel_size to be a positive int or a pair of them, got "
                       r"\(3, 3, 3\)\. Fix: kernel_size=\(3, 3\) or kernel_size=3\."):
        Conv2D(2, (3, 3, 3))


def test_docstring_examples_run():
    import doctest

    import brainnet.layers.convolution3d as module

    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
