"""SpectralNormalization (Keras 3): the power iteration against NumPy on
Dense, Conv2D (its kernel flattened in Keras's layout) and Embedding; σ
against numpy.linalg.svd after many steps; training only; in fit (u updated
by training steps only, the optimizer stepping from the normalized kernel);
save/load; the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (BatchNormalization, Conv2D, Dense, Embedding, Flatten, Input, SpectralNormalization,
                             Wrapper)
from brainnet.models import Sequential, load_model
from brainnet.optimizers import SGD


def numpy_power_iteration(w, u, steps):
    """σ and the new u of the matrix w (m, n) from the row u (1, n), the docstring's equation."""
    for _ in range(steps):
        v = u @ w.T
        v = v / np.linalg.norm(v)
        u = v @ w
        u = u / np.linalg.norm(u)
    return (v @ w @ u.T).item(), u


def keras_matrix(kernel, order):
    """A kernel in brainnet's layout as Keras's (rest, out) matrix."""
    k = kernel.detach().numpy().copy()
    k = k if order is None else k.transpose(order)
    return k.reshape(-1, k.shape[-1])


@pytest.mark.parametrize("steps", [1, 3])
def test_dense_one_training_call_against_numpy(steps):
    torch.manual_seed(0)
    layer = SpectralNormalization(Dense(4), power_iterations=steps)
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(6, 5)))  # float64
    layer.build_from_shape((None, 5))
    layer.double()
    w0, u0 = layer.layer.kernel.detach().numpy().copy(), layer.vector_u.numpy().copy()
    assert u0.shape == (1, 4) and np.all(np.abs(u0) <= 0.04 + 1e-12)  # truncated N(0, 0.02²)
    y = layer(x, training=True)
    sigma, u = numpy_power_iteration(w0, u0, steps)
    w = w0 / sigma
    np.testing.assert_allclose(layer.vector_u.numpy(), u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.layer.kernel.detach().numpy(), w, rtol=0, atol=1e-12)
    b = layer.layer.bias.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), x.numpy() @ w + b, rtol=0, atol=1e-12)


def test_conv2d_kernel_flattened_in_keras_layout_against_numpy():
    torch.manual_seed(1)
    conv = Conv2D(3, (2, 3))
    layer = SpectralNormalization(conv, power_iterations=2)
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(2, 5, 6, 4)))
    layer.build_from_shape(tuple(x.shape))
    layer.double()
    order = conv.keras_order("kernel")  # stored (out, in, kh, kw), Keras's (kh, kw, in, out)
    w0, u0 = conv.kernel.detach().numpy().copy(), layer.vector_u.numpy().copy()
    assert u0.shape == (1, 3)
    sigma, u = numpy_power_iteration(keras_matrix(conv.kernel, order), u0, 2)
    y = layer(x, training=True)
    np.testing.assert_allclose(layer.vector_u.numpy(), u, rtol=0, atol=1e-12)
    np.testing.assert_allclose(conv.kernel.detach().numpy(), w0 / sigma, rtol=0, atol=1e-12)
    assert conv.kernel.is_contiguous(memory_format=torch.channels_last)  # its layout kept
    # y is the convolution with the normalized kernel, a naive sum over the window
    k = (w0 / sigma).transpose(2, 3, 1, 0)  # (kh, kw, in, out)
    xn = x.numpy()
    want = np.zeros((2, 4, 4, 3))
    for i in range(4):
        for j in range(4):
            want[:, i, j] = np.einsum("nhwc,hwcf->nf", xn[:, i:i + 2, j:j + 3], k)
    np.testing.assert_allclose(y.detach().numpy(), want + conv.bias.detach().numpy(), rtol=0, atol=1e-12)


def test_embedding_table_is_normalized_against_numpy():
    torch.manual_seed(2)
    layer = SpectralNormalization(Embedding(7, 3))
    ids = torch.tensor([[0, 3, 6]])
    layer(ids, training=False)  # builds; inference leaves the table alone
    w0, u0 = layer.layer.embeddings.detach().numpy().copy(), layer.vector_u.numpy().copy()
    layer(ids, training=True)
    sigma, u = numpy_power_iteration(w0.astype(np.float64), u0.astype(np.float64), 1)
    np.testing.assert_allclose(layer.layer.embeddings.detach().numpy(), w0 / sigma, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.vector_u.numpy(), u, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, shape", [(lambda: Dense(6), (3, 8)), (lambda: Conv2D(5, 3), (2, 7, 7, 4))])
def test_sigma_is_the_largest_singular_value_after_many_steps(make, shape):
    torch.manual_seed(3)
    inner = make()
    layer = SpectralNormalization(inner, power_iterations=200)
    layer.build_from_shape(shape)
    layer.double()
    w0 = keras_matrix(inner.kernel, inner.keras_order("kernel"))
    largest = np.linalg.svd(w0, compute_uv=False)[0]
    layer(torch.zeros(shape, dtype=torch.float64), training=True)
    w = keras_matrix(inner.kernel, inner.keras_order("kernel"))
    np.testing.assert_allclose(w, w0 / largest, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False)[0], 1.0, rtol=1e-9)
    # u is the top right singular vector (up to sign)
    vt = np.linalg.svd(w0)[2][0]
    np.testing.assert_allclose(np.abs(layer.vector_u.numpy()[0] @ vt), 1.0, rtol=1e-9)


def test_inference_changes_nothing_and_a_zero_kernel_is_left_alone():
    layer = SpectralNormalization(Dense(3, kernel_initializer="ones"))
    x = torch.ones(2, 4)
    layer(x, training=False)  # a layer alone, with no flag, is in training (torch's mode), as Dropout
    u0 = layer.vector_u.clone()
    y = layer(x, training=False)
    assert torch.equal(layer.layer.kernel, torch.ones(4, 3)) and torch.equal(layer.vector_u, u0)
    np.testing.assert_allclose(y.detach().numpy(), np.full((2, 3), 4.0))
    layer(x, training=True)  # the ones matrix has σ = √12
    np.testing.assert_allclose(layer.layer.kernel.detach().numpy(), np.full((4, 3), 1 / np.sqrt(12)), rtol=1e-6)

    zero = SpectralNormalization(Dense(3, kernel_initializer="zeros"))
    zero(x, training=False)
    u0 = zero.vector_u.clone()
    y = zero(x, training=True)
    assert torch.equal(zero.layer.kernel, torch.zeros(4, 3)) and torch.equal(zero.vector_u, u0)
    assert torch.isfinite(y).all()


def test_in_fit_u_moves_in_training_steps_only_and_sgd_steps_from_the_normalized_kernel():
    torch.manual_seed(4)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 5)).astype("float32")
    y = (0.3 * x @ rng.normal(size=(5, 1))).astype("float32")
    model = Sequential([Input((5,)), SpectralNormalization(Dense(3)), Dense(1)])
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    sn = model.layers[0]
    w0, u0 = sn.layer.kernel.detach().clone(), sn.vector_u.clone()
    b0 = sn.layer.bias.detach().clone()
    w2, b2 = model.layers[1].kernel.detach().clone(), model.layers[1].bias.detach().clone()

    # one full-batch step by hand: normalize (no gradient through σ), then SGD on the normalized kernel
    sigma, u = numpy_power_iteration(w0.double().numpy(), u0.double().numpy(), 1)
    wn = (w0.double() / sigma).requires_grad_(True)
    b, k2, c2 = b0.double().requires_grad_(True), w2.double().requires_grad_(True), b2.double().requires_grad_(True)
    xt, yt = torch.from_numpy(x).double(), torch.from_numpy(y).double()
    loss = (((xt @ wn + b) @ k2 + c2 - yt) ** 2).mean()
    loss.backward()
    want = (wn - 0.1 * wn.grad).detach().numpy()

    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(sn.vector_u.numpy(), u, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sn.layer.kernel.detach().numpy(), want, rtol=1e-5, atol=1e-6)

    u1, w1 = sn.vector_u.clone(), sn.layer.kernel.detach().clone()
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert torch.equal(sn.vector_u, u1) and torch.equal(sn.layer.kernel, w1)  # inference: nothing moves

    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=4, verbose=0)
    assert not torch.equal(sn.vector_u, u1)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before  # 0.87 → about 1e-14 (the target is linear)
    # each step starts from a kernel of σ = 1; one small SGD step later it stays near 1
    assert abs(np.linalg.svd(sn.layer.kernel.detach().numpy(), compute_uv=False)[0] - 1.0) < 0.2


def test_saved_and_loaded_with_u_and_config(tmp_path):
    torch.manual_seed(5)
    model = Sequential([Input((6, 6, 2)), SpectralNormalization(Conv2D(4, 3), power_iterations=2), Flatten(),
                        Dense(2)])
    x = np.random.default_rng(5).normal(size=(3, 6, 6, 2)).astype("float32")
    model.layers[0](torch.from_numpy(x), training=True)  # u and the kernel moved once
    model.save(tmp_path / "sn.brainnet")
    loaded = load_model(tmp_path / "sn.brainnet")
    sn = loaded.layers[0]
    assert isinstance(sn, SpectralNormalization) and isinstance(sn, Wrapper) and sn.power_iterations == 2
    assert isinstance(sn.layer, Conv2D) and sn.layer.filters == 4
    assert torch.equal(sn.vector_u, model.layers[0].vector_u)
    assert [tuple(w.shape) for w in sn.weights] == [(1, 4), (4, 2, 3, 3), (4,)]  # its own u, then the layer's (Keras 3)
    assert len(sn.non_trainable_weights) == 1
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    config = model.layers[0].get_config()
    assert config["power_iterations"] == 2 and config["layer"]["class_name"] == "Conv2D"
    assert SpectralNormalization.from_config(config).get_config() == config


def test_output_shape_symbolic_and_compute_output_shape():
    layer = SpectralNormalization(Conv2D(8, 3, padding="same"))
    assert layer.compute_output_shape((None, 10, 12, 3)) == (None, 10, 12, 8)
    out = layer(Input((10, 12, 3)))
    assert tuple(out.shape) == (None, 10, 12, 8)
    assert layer(torch.zeros(2, 10, 12, 3), training=True).shape == (2, 10, 12, 8)


def test_errors_of_spectral_normalization():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"SpectralNormalization: expected power_iterations to be an integer "
                                             r"≥ 1, got .*\. Fix: SpectralNormalization\(layer, "
                                             r"power_iterations=1\)"):
            SpectralNormalization(Dense(2), power_iterations=bad)
    with pytest.raises(ValueError, match=r"SpectralNormalization: expected a layer with a 'kernel' or "
                                         r"'embeddings' weight, got BatchNormalization '.*', which has neither\. "
                                         r"Fix: wrap a layer with a kernel, e\.g\. SpectralNormalization\("
                                         r"Dense\(64\)\)"):
        SpectralNormalization(BatchNormalization())(torch.zeros(2, 3))
    with pytest.raises(TypeError, match=r"SpectralNormalization: expected a brainnet layer instance, got the class "
                                        r"Dense\. Fix: SpectralNormalization\(Dense\(10\)\)\."):
        SpectralNormalization(Dense)


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.spectral_normalization as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0
