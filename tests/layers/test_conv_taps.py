"""A one-channel 3×3 Conv2D on the CPU as one matrix product (``brainnet/layers/_conv_taps.py``),
against a naive NumPy loop over its equation, in float64:

    y[n, p, q, j] = b[j] + Σ_{u,v} x[n, p + u, q + v] · w[j, u, v]
    ∂L/∂w[j, u, v] = Σ_{n,p,q} g[n, p, q, j] · x[n, p + u, q + v],   ∂L/∂b[j] = Σ_{n,p,q} g[n, p, q, j]

and against ``torch.conv2d`` where it does not apply.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers
from brainnet.layers import _conv_taps


@pytest.fixture
def taken(monkeypatch) -> list[int]:
    """Counts the calls that go through the matrix product."""
    calls: list[int] = []
    convolve = _conv_taps.convolve

    def counted(*args):
        calls.append(1)
        return convolve(*args)

    monkeypatch.setattr(_conv_taps, "convolve", counted)
    return calls


def naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: np.ndarray):
    """y, ∂L/∂w and ∂L/∂b of the equation above, one value at a time (x: (N, H, W); w: (F, 3, 3))."""
    n_, h_, w_ = x.shape
    f_ = w.shape[0]
    y = np.zeros((n_, h_ - 2, w_ - 2, f_))
    gw = np.zeros_like(w)
    for n in range(n_):
        for p in range(h_ - 2):
            for q in range(w_ - 2):
                for j in range(f_):
                    y[n, p, q, j] = (0.0 if b is None else b[j]) + np.sum(x[n, p:p + 3, q:q + 3] * w[j])
                    gw[j] += g[n, p, q, j] * x[n, p:p + 3, q:q + 3]
    return y, gw, g.sum(axis=(0, 1, 2))


@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_one_channel_3x3_matches_the_naive_equation_and_its_gradients(taken, use_bias, dtype) -> None:
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(3, 7, 6, 1))).to(dtype)
    layer = layers.Conv2D(4, (3, 3), use_bias=use_bias)
    layer(x)  # built in the images' dtype
    taken.clear()
    assert layer.kernel.dtype == dtype
    if use_bias:
        with torch.no_grad():
            layer.bias.copy_(torch.from_numpy(rng.normal(size=4)))
    g = rng.normal(size=(3, 5, 4, 4))
    y = layer(x)
    y.backward(torch.from_numpy(g).to(dtype))
    assert taken == [1]
    want_y, want_gw, want_gb = naive(x[..., 0].double().numpy(), layer.kernel.detach()[:, 0].double().numpy(),
                                     layer.bias.detach().double().numpy() if use_bias else None, g)
    atol = 1e-10 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(y.detach().double().numpy(), want_y, rtol=0, atol=atol * np.abs(want_y).max())
    np.testing.assert_allclose(layer.kernel.grad[:, 0].double().numpy(), want_gw, rtol=0,
                               atol=atol * np.abs(want_gw).max())
    if use_bias:
        np.testing.assert_allclose(layer.bias.grad.double().numpy(), want_gb, rtol=0, atol=atol * np.abs(want_gb).max())
    assert y.is_contiguous()  # (N, P, Q, F), the channels-last map the layers after it expect


@pytest.mark.parametrize("case", ["input needs a gradient", "stride 2", "same padding", "5x5 kernel",
                                  "two channels", "dilation 2", "bfloat16 autocast", "inference",
                                  "frozen kernel"])
def test_other_convolutions_go_to_torch(taken, case) -> None:
    """Where the product was not measured faster (inference and frozen
    kernels among them: its saving is in the kernel's gradient), or would need
    the images' gradient, torch.conv2d computes the layer, as before."""
    kwargs = {"strides": 2} if case == "stride 2" else {"padding": "same"} if case == "same padding" else \
        {"dilation_rate": 2} if case == "dilation 2" else {}
    kernel = (5, 5) if case == "5x5 kernel" else (3, 3)
    channels = 2 if case == "two channels" else 1
    x = torch.rand(2, 9, 9, channels, requires_grad=case == "input needs a gradient")
    layer = layers.Conv2D(3, kernel, **kwargs)
    layer.build((None, 9, 9, channels))
    layer.trainable = case != "frozen kernel"
    with torch.autocast("cpu", torch.bfloat16, enabled=case == "bfloat16 autocast"), \
            torch.set_grad_enabled(case != "inference"):
        layer(x)
    assert taken == []


def test_the_seed_cnn_trains_through_the_product_as_through_torch_conv2d(taken, monkeypatch) -> None:
    """One fit epoch of the teaching CNN from the same weights, with and without
    the product: the same weights afterwards up to float32 summation order."""
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 256)

    def trained() -> list[np.ndarray]:
        brainnet.utils.set_random_seed(0)
        model = brainnet.recipes.images.teaching_cnn()
        model.compile(optimizer=brainnet.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=64, epochs=1, verbose=0, shuffle=False)
        return model.get_weights()

    with_product = trained()
    assert len(taken) == 4  # one call per step
    monkeypatch.setattr(_conv_taps, "applies", lambda layer, inputs: False)
    with_torch = trained()
    assert len(taken) == 4
    for a, b in zip(with_product, with_torch):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
