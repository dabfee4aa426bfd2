"""saliency, smoothgrad and grad_cam against hand computations on tiny models, in float64.

* Flatten + Dense(softmax): y_c = Σ_i x_i W_ic + b_c before the softmax, so
  ∂y_c/∂x = the kernel's column c, and the saliency is its absolute value
  (one channel: the max over channels is the value itself).
* Conv2D(relu) + Flatten + Dense: Grad-CAM from the weights with NumPy: the
  convolution by loops, ∂y_c/∂A = the Dense column c reshaped (H', W', K)
  (Flatten keeps Keras's (H, W, C) order), α_k its spatial mean,
  ReLU(Σ_k α_k A_k), bilinear upsampling (half-pixel centres, PyTorch's
  align_corners=False) and division by the maximum.

Tolerance: atol=1e-10 (float64).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.explain import grad_cam, saliency, smoothgrad
from brainnet.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from brainnet.models import Model, Sequential

ATOL = 1e-10


def built(model: torch.nn.Module, shape: tuple[int, ...]) -> torch.nn.Module:
    """``model`` built in float64 by one call, with non-zero biases."""
    model(torch.zeros((1,) + shape, dtype=torch.float64))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.linspace(-0.3, 0.3, p.numel(), dtype=torch.float64))
    return model


def images(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n,) + shape)


def dense_model() -> Sequential:
    return built(Sequential([Flatten(), Dense(5, activation="softmax")]), (3, 4, 1))


def test_saliency_of_a_dense_model_is_the_weight_column() -> None:
    model, x = dense_model(), images(4, (3, 4, 1))
    kernel = model.layers[1].kernel.detach().numpy()  # (12, 5)
    logits = x.reshape(4, 12) @ kernel + model.layers[1].bias.detach().numpy()
    got = saliency(model, x)
    assert got.shape == (4, 3, 4) and got.dtype == np.float64
    for n, c in enumerate(logits.argmax(-1)):  # class_index=None: the predicted class
        np.testing.assert_allclose(got[n], np.abs(kernel[:, c]).reshape(3, 4), atol=ATOL)
    for n, got_n in enumerate(saliency(model, x, class_index=[0, 1, 2, 3])):
        np.testing.assert_allclose(got_n, np.abs(kernel[:, n]).reshape(3, 4), atol=ATOL)


def test_saliency_takes_the_max_over_channels() -> None:
    model, x = built(Sequential([Flatten(), Dense(3)]), (2, 2, 3)), images(2, (2, 2, 3))
    kernel = model.layers[1].kernel.detach().numpy()  # (12, 3)
    expected = np.abs(kernel[:, 1]).reshape(2, 2, 3).max(-1)
    np.testing.assert_allclose(saliency(model, x, class_index=1), np.stack([expected] * 2), atol=ATOL)


def test_smoothgrad_of_a_linear_model_is_the_weight_column_and_is_seeded() -> None:
    """For a model linear before its softmax every noisy gradient is the same column."""
    model, x = dense_model(), images(2, (3, 4, 1))
    kernel = model.layers[1].kernel.detach().numpy()
    got = smoothgrad(model, x, class_index=2, samples=3)
    np.testing.assert_allclose(got, np.stack([np.abs(kernel[:, 2]).reshape(3, 4)] * 2), atol=ATOL)
    relu = built(Sequential([Conv2D(2, (2, 2), activation="relu"), Flatten(), Dense(3)]), (4, 4, 1))
    x4 = images(2, (4, 4, 1))
    a, b = smoothgrad(relu, x4, samples=4, seed=7), smoothgrad(relu, x4, samples=4, seed=7)
    assert a.shape == (2, 4, 4) and not np.allclose(a, smoothgrad(relu, x4, samples=4, seed=8))
    np.testing.assert_array_equal(a, b)


def naive_conv_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A(i, j, k) = ReLU(b_k + Σ_{u, v, c} x(i+u, j+v, c) W(k, c, u, v)), 'valid', stride 1."""
    n, h, w, _ = x.shape
    k, _, kh, kw = kernel.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, k))
    for i in range(h - kh + 1):
        for j in range(w - kw + 1):
            patch = x[:, i:i + kh, j:j + kw, :]  # (N, kh, kw, C)
            out[:, i, j, :] = np.einsum("nuvc,kcuv->nk", patch, kernel) + bias
    return np.maximum(out, 0)


def bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize with half-pixel centres: source = (dest + 0.5)·in/out − 0.5, clamped at 0."""
    (h, w), (oh, ow) = image.shape, size

    def taps(out: int, inp: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.maximum((np.arange(out) + 0.5) * inp / out - 0.5, 0)
        low = np.minimum(np.floor(src).astype(int), inp - 1)
        return low, np.minimum(low + 1, inp - 1), src - low

    r0, r1, fr = taps(oh, h)
    c0, c1, fc = taps(ow, w)
    top = image[r0][:, c0] * (1 - fc) + image[r0][:, c1] * fc
    bottom = image[r1][:, c0] * (1 - fc) + image[r1][:, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def test_grad_cam_of_a_one_conv_model_matches_numpy() -> None:
    model = built(Sequential([Conv2D(3, (3, 3), activation="relu"), Flatten(), Dense(4, activation="softmax")]),
                  (6, 6, 2))
    x = images(3, (6, 6, 2), seed=1)
    conv, dense = model.layers[0], model.layers[2]
    maps = naive_conv_relu(x, conv.kernel.detach().numpy(), conv.bias.detach().numpy())  # (3, 4, 4, 3)
    kernel = dense.kernel.detach().numpy()  # (48, 4)
    got = grad_cam(model, x, class_index=[0, 3, 1])
    assert got.shape == (3, 6, 6)
    for n, c in enumerate([0, 3, 1]):
        alpha = kernel[:, c].reshape(4, 4, 3).mean((0, 1))  # (K,)
        cam = bilinear(np.maximum(maps[n] @ alpha, 0), (6, 6))
        expected = cam / cam.max() if cam.max() > 0 else cam
        np.testing.assert_allclose(got[n], expected, atol=ATOL)
        assert got[n].min() >= 0 and got[n].max() <= 1


def test_grad_cam_works_on_functional_models_and_named_layers() -> None:
    inp = Input((8, 8, 1))
    h = Conv2D(2, (3, 3), activation="relu", name="first")(inp)
    h = MaxPooling2D((2, 2), name="pool")(Conv2D(4, (3, 3), activation="relu", name="second")(h))
    model = Model(inp, Dense(3, activation="softmax")(Flatten()(h)))
    model.double()
    x = images(2, (8, 8, 1))
    default, last = grad_cam(model, x), grad_cam(model, x, layer="second")
    np.testing.assert_allclose(default, last, atol=ATOL)  # None picks the last Conv2D
    assert grad_cam(model, x, layer="first").shape == grad_cam(model, x, layer="pool").shape == (2, 8, 8)


def test_errors_say_expected_got_and_fix() -> None:
    model, x = dense_model(), images(2, (3, 4, 1))
    with pytest.raises(ValueError, match=r"expected class_index in 0\.\.4.*got 5.*Fix: pass a class"):
        saliency(model, x, class_index=5)
    with pytest.raises(ValueError, match=r"expected class_index.*got \[0, 1, 2\].*Fix"):
        saliency(model, x, class_index=[0, 1, 2])
    with pytest.raises(ValueError, match=r"grad_cam: expected a model with a Conv2D layer.*Fix: explain a"):
        grad_cam(model, x)
    with pytest.raises(ValueError, match=r"expected the name of a layer.*got 'nope'.*Fix: pass one of"):
        grad_cam(model, x, layer="nope")
    with pytest.raises(ValueError, match=r"grad_cam: expected layer '.*' to give feature maps.*Fix: name a"):
        grad_cam(model, x, layer=model.layers[1].name)
    with pytest.raises(ValueError, match=r"smoothgrad: expected samples ≥ 1.*Fix: smoothgrad"):
        smoothgrad(model, x, samples=0)


def test_grad_cam_rejects_images_without_channels_and_non_classifiers() -> None:
    conv = built(Sequential([Conv2D(2, (3, 3)), Flatten(), Dense(3)]), (5, 5, 1))
    with pytest.raises(ValueError, match=r"grad_cam: expected images of shape \(N, H, W, C\).*Fix: add"):
        grad_cam(conv, images(2, (5, 5)))
    maps_out = built(Sequential([Conv2D(2, (3, 3))]), (5, 5, 1))
    with pytest.raises(ValueError, match=r"expected a classifier with one output of shape \(N, classes\)"):
        saliency(maps_out, images(1, (5, 5, 1)))


def test_the_model_is_left_as_it_was() -> None:
    model, x = dense_model(), images(2, (3, 4, 1))
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    saliency(model, x)
    assert model.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
