"""Conv1D, the 1-D global poolings and TimeDistributed against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (
    Conv1D,
    Dense,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    TimeDistributed,
)

RNG = np.random.default_rng(0)
ATOL = 1e-10  # float64 throughout


def naive_conv1d(x, w, b, stride, left, right):
    """y[n, t, j] = Σ_{u,c} xp[n, t·s + u, c] · w[j, c, u] + b[j], xp zero-padded."""
    n, length, c = x.shape
    xp = np.concatenate([np.zeros((n, left, c)), x, np.zeros((n, right, c))], axis=1)
    k = w.shape[2]
    steps = (xp.shape[1] - k) // stride + 1
    y = np.zeros((n, steps, w.shape[0]))
    for i in range(n):
        for t in range(steps):
            for j in range(w.shape[0]):
                total = b[j]
                for u in range(k):
                    for ch in range(c):
                        total += xp[i, t * stride + u, ch] * w[j, ch, u]
                y[i, t, j] = total
    return y


@pytest.mark.parametrize("padding, k, stride, length, pads", [
    ("valid", 3, 1, 7, (0, 0)),
    ("valid", 2, 2, 7, (0, 0)),
    ("same", 3, 1, 7, (1, 1)),
    ("same", 4, 1, 7, (1, 2)),   # even kernel: the extra step at the end, as Keras
    ("same", 3, 2, 8, (0, 1)),
    ("causal", 3, 1, 6, (2, 0)),
    ("causal", 2, 2, 7, (1, 0)),
])
def test_conv1d_matches_numpy(padding, k, stride, length, pads):
    x = RNG.normal(size=(2, length, 3))
    layer = Conv1D(4, k, strides=stride, padding=padding)
    y = layer(torch.from_numpy(x)).detach().numpy()
    w, b = layer.kernel.detach().numpy(), layer.bias.detach().numpy()
    np.testing.assert_allclose(y, naive_conv1d(x, w, b, stride, *pads), atol=ATOL)
    assert layer.compute_output_shape((None, length, 3)) == (None,) + y.shape[1:]


def test_causal_conv1d_does_not_see_the_future():
    layer = Conv1D(2, 3, padding="causal")
    x = torch.from_numpy(RNG.normal(size=(1, 6, 2)))
    y = layer(x).detach()
    x2 = x.clone()
    x2[:, 4:] += 10.0
    np.testing.assert_allclose(layer(x2).detach()[:, :4].numpy(), y[:, :4].numpy(), atol=ATOL)


def test_conv1d_errors():
    with pytest.raises(ValueError, match=r"expected padding 'valid', 'same' or 'causal', got 'full'"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match=r"shorter than its window 5 with padding='valid'"):
        Conv1D(2, 5)(torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match=r"expected input of rank 3 \(batch, time, features\).*Fix: give sequences"):
        Conv1D(2, 3)(torch.zeros(4, 3))


def test_global_pooling_1d_with_and_without_mask():
    x = RNG.normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    gap = GlobalAveragePooling1D()
    np.testing.assert_allclose(gap(torch.from_numpy(x)).numpy(), x.mean(1), atol=ATOL)
    masked = gap(torch.from_numpy(x), mask=torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(masked[0], x[0, :3].mean(0), atol=ATOL)
    np.testing.assert_allclose(masked[1], x[1].mean(0), atol=ATOL)
    np.testing.assert_allclose(GlobalMaxPooling1D()(torch.from_numpy(x)).numpy(), x.max(1), atol=ATOL)
    assert gap.compute_output_shape((None, 5, 3)) == (None, 3)


def test_embedding_mask_reaches_global_average_pooling_in_sequential():
    from brainnet.models import Sequential

    model = Sequential([Embedding(10, 4, mask_zero=True), GlobalAveragePooling1D()])
    padded = model.predict(np.array([[3, 4, 0, 0]]))
    emb = model.layers[0].embeddings.detach().cpu().numpy()
    np.testing.assert_allclose(padded[0], emb[[3, 4]].mean(0), rtol=1e-6)


def test_time_distributed_dense_equals_dense_per_step():
    dense = Dense(3, activation="relu")
    layer = TimeDistributed(dense)
    x = RNG.normal(size=(2, 4, 5))
    y = layer(torch.from_numpy(x)).detach().numpy()
    w, b = dense.kernel.detach().numpy(), dense.bias.detach().numpy()
    for t in range(4):
        np.testing.assert_allclose(y[:, t], np.maximum(x[:, t] @ w + b, 0), atol=ATOL)
    assert layer.compute_output_shape((None, 4, 5)) == (None, 4, 3)
    again = TimeDistributed.from_config(layer.get_config())
    assert isinstance(again.layer, Dense) and again.layer.units == 3
    with pytest.raises(TypeError, match=r"expected a brainnet layer instance, got int"):
        TimeDistributed(3)


@pytest.mark.parametrize("padding, pads", [("valid", (0, 0)), ("same", (1, 1)), ("causal", (2, 0))])
def test_conv1d_convolution_op_is_the_hook_conv2d_has(padding, pads):
    """Conv1D's convolution_op: the layer's padding (causal too) and the kernel,
    no bias; an override changes what the layer computes, and the layer adds the
    bias and the activation (Keras 3's Conv1D skips the hook; brainnet's takes it)."""

    class Halved(Conv1D):
        def convolution_op(self, inputs, kernel):
            return super().convolution_op(inputs, 0.5 * kernel)

    x = torch.from_numpy(RNG.normal(size=(2, 7, 3)))
    plain = Conv1D(4, 3, padding=padding, activation="relu")
    plain(x)
    layer = Halved(4, 3, padding=padding, activation="relu")
    layer(x)
    layer.load_state_dict(plain.state_dict())
    w, b = plain.kernel.detach().numpy(), plain.bias.detach().numpy()
    np.testing.assert_allclose(plain.convolution_op(x, plain.kernel).detach().numpy(),
                               naive_conv1d(x.numpy(), w, np.zeros(4), 1, *pads), rtol=0, atol=ATOL)
    np.testing.assert_allclose(layer(x).detach().numpy(),
                               np.maximum(naive_conv1d(x.numpy(), 0.5 * w, b, 1, *pads), 0), rtol=0, atol=ATOL)
    np.testing.assert_allclose(plain(x).detach().numpy(),
                               np.maximum(naive_conv1d(x.numpy(), w, b, 1, *pads), 0), rtol=0, atol=ATOL)
