"""ConvLSTM1D and ConvLSTM3D against a naive NumPy loop over their docstring
equations, in float64 (atol=1e-10), with the weights given in Keras's layout
(kernel ``(*k, C, 4F)``, recurrent_kernel ``(*k, F, 4F)``, gates i, f, c, o):

    z_t = W ∗ x_t + b + U ∗ h_{t-1}      (W ∗ x: the layer's strides/padding/dilation; U ∗ h: stride 1, "same")
    i, f, o = σ(z_i), σ(z_f), σ(z_o);  c_t = f ⊙ c_{t-1} + i ⊙ tanh(z_c);  h_t = o ⊙ tanh(c_t)

each convolution written as one loop per output value and kernel tap, over
any number of spatial axes, "same" padded as Keras (total = max((⌈n/s⌉ − 1)·s
+ d·(k − 1) + 1 − n, 0), the odd extra position after). ConvLSTM2D has the
same checks in test_conv_lstm.py.
"""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import ConvLSTM1D, ConvLSTM3D, Dense, Flatten, Input, conv_lstm
from brainnet.models import Model, Sequential, load_model

ATOL = 1e-10


def conv_naive(x, w, strides, padding, dilation):
    """x: (N, *spatial, C); w: Keras's (*k, C, F); one output value at a time."""
    rank = x.ndim - 2
    kernel, channels, filters = w.shape[:rank], w.shape[-2], w.shape[-1]
    pads = []
    for n, k, s, d in zip(x.shape[1:-1], kernel, strides, dilation):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out = [(xp.shape[1 + a] - dilation[a] * (kernel[a] - 1) - 1) // strides[a] + 1 for a in range(rank)]
    y = np.zeros((x.shape[0], *out, filters))
    for n in range(x.shape[0]):
        for p in itertools.product(*map(range, out)):
            for j in range(filters):
                acc = 0.0
                for u in itertools.product(*map(range, kernel)):
                    at = tuple(p[a] * strides[a] + u[a] * dilation[a] for a in range(rank))
                    for k in range(channels):
                        acc += xp[(n, *at, k)] * w[(*u, k, j)]
                y[(n, *p, j)] = acc
    return y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def conv_lstm_naive(x, W, U, b, strides, padding, dilation, states=None, mask=None, go_backwards=False,
                    x_keep=None, h_keep=None):
    """Every output (in processing order) and the final (h, c); x_keep/h_keep: dropout masks (kept/(1 − rate))."""
    rank = x.ndim - 3
    ones = (1,) * rank
    f_ = U.shape[-2]
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    if states is None:
        frame = conv_naive(x[:, 0], W, strides, padding, dilation).shape[:-1]
        h, c = np.zeros((*frame, f_)), np.zeros((*frame, f_))
    else:
        h, c = states
    previous, outputs = np.zeros_like(h), []
    for t in range(x.shape[1]):
        x_t = x[:, t] if x_keep is None else x[:, t] * x_keep
        h_in = h if h_keep is None else h * h_keep
        z = conv_naive(x_t, W, strides, padding, dilation) + (0.0 if b is None else b)
        z = z + conv_naive(h_in, U, ones, "same", ones)
        z_i, z_f, z_c, z_o = (z[..., g * f_:(g + 1) * f_] for g in range(4))
        c_new = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h_new = sigmoid(z_o) * np.tanh(c_new)
        out = h_new
        if mask is not None:
            real = mask[:, t].reshape(-1, *[1] * (h.ndim - 1))
            h_new, c_new = np.where(real, h_new, h), np.where(real, c_new, c)
            out = np.where(real, h_new, previous)
        outputs.append(out)
        h, c, previous = h_new, c_new, out
    return np.stack(outputs, axis=1), h, c


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def keras_weights(kernel, channels, filters, seed=1):
    """Random Keras-layout weights, scaled so the gates are not saturated."""
    W = 0.4 * f64(*kernel, channels, 4 * filters, seed=seed)
    U = 0.4 * f64(*kernel, filters, 4 * filters, seed=seed + 1)
    return W, U, 0.2 * f64(4 * filters, seed=seed + 2)


def load_keras(layer, W, U, b):
    """set_weights refuses Keras's layout naming the transpose; then takes PyTorch's."""
    order = {3: (2, 1, 0), 5: (4, 3, 0, 1, 2)}[W.ndim]  # (*k, C, F) → (F, C, *k)
    transpose = re.escape(f"Fix: np.transpose(kernel, {order})")
    arrays = [W, U] if b is None else [W, U, b]
    with pytest.raises(ValueError, match=rf"Keras's layout .* {transpose}"):
        layer.set_weights(arrays)
    torch_layout = [np.transpose(W, order), np.transpose(U, order)]
    layer.set_weights(torch_layout if b is None else torch_layout + [b])


CASES = [
    # (layer, input, filters, kernel, strides, padding, dilation)
    (ConvLSTM1D, (2, 3, 6, 2), 2, (3,), (1,), "valid", (1,)),
    (ConvLSTM1D, (2, 3, 5, 1), 2, (2,), (1,), "same", (1,)),      # even kernel: uneven "same" in both convolutions
    (ConvLSTM1D, (1, 4, 7, 2), 3, (3,), (2,), "same", (1,)),      # strided input convolution
    (ConvLSTM1D, (1, 3, 7, 1), 2, (2,), (1,), "valid", (3,)),     # dilated input convolution
    (ConvLSTM3D, (1, 2, 3, 4, 4, 1), 2, (2, 3, 3), (1, 1, 1), "same", (1, 1, 1)),
    (ConvLSTM3D, (2, 2, 3, 4, 3, 2), 1, (2, 2, 2), (1, 1, 1), "valid", (1, 1, 1)),
    (ConvLSTM3D, (1, 3, 4, 5, 3, 1), 2, (2, 3, 1), (2, 2, 1), "same", (1, 1, 1)),  # strided
    (ConvLSTM3D, (1, 2, 3, 5, 5, 1), 1, (1, 2, 2), (1, 1, 1), "valid", (1, 2, 2)),  # dilated
]


@pytest.mark.parametrize("cls, shape, filters, kernel, strides, padding, dilation", CASES)
def test_matches_naive_equations(cls, shape, filters, kernel, strides, padding, dilation):
    x = f64(*shape)
    layer = cls(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                return_sequences=True, return_state=True)
    layer(torch.from_numpy(x))
    assert tuple(layer.kernel.shape) == (4 * filters, shape[-1], *kernel)  # PyTorch's (4F, C, *k)
    assert tuple(layer.recurrent_kernel.shape) == (4 * filters, filters, *kernel)
    W, U, b = keras_weights(kernel, shape[-1], filters)
    load_keras(layer, W, U, b)
    out, h, c = (t.detach().numpy() for t in layer(torch.from_numpy(x)))
    want_out, want_h, want_c = conv_lstm_naive(x, W, U, b, strides, padding, dilation)
    assert [tuple(s) for s in layer.compute_output_shape(shape)] == [want_out.shape, want_h.shape, want_c.shape]
    assert out.shape == want_out.shape and h.shape == want_h.shape
    np.testing.assert_allclose(out, want_out, rtol=0, atol=ATOL)
    np.testing.assert_allclose(h, want_h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(c, want_c, rtol=0, atol=ATOL)


@pytest.mark.parametrize("cls, shape", [(ConvLSTM1D, (2, 4, 5, 1)), (ConvLSTM3D, (2, 4, 2, 3, 3, 1))])
def test_initial_state_mask_and_go_backwards(cls, shape):
    x = f64(*shape)
    ones = (1,) * (len(shape) - 3)
    layer = cls(2, 2, padding="same", return_sequences=True, return_state=True, go_backwards=True)
    layer(torch.from_numpy(x))
    W, U, b = keras_weights((2,) * len(ones), 1, 2, seed=7)
    load_keras(layer, W, U, b)
    frame = (2, *shape[2:-1], 2)
    h0, c0 = 0.5 * f64(*frame, seed=8), 0.5 * f64(*frame, seed=9)
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    out, h, c = layer(torch.from_numpy(x), mask=torch.from_numpy(mask),
                      initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
    want_out, want_h, want_c = conv_lstm_naive(x, W, U, b, ones, "same", ones, states=(h0, c0), mask=mask,
                                               go_backwards=True)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=0, atol=ATOL)
    np.testing.assert_allclose(h.detach().numpy(), want_h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(c.detach().numpy(), want_c, rtol=0, atol=ATOL)
    # read backwards, sample 1's first processed step is its masked last one: zeros
    assert np.array_equal(out[1, 0].detach().numpy(), np.zeros(frame[1:]))


@pytest.mark.parametrize("cls, shape", [(ConvLSTM1D, (2, 3, 5, 2)), (ConvLSTM3D, (1, 3, 2, 3, 3, 2))])
def test_dropout_masks_apply_to_x_and_h_in_training_only(monkeypatch, cls, shape):
    x = f64(*shape)
    ones = (1,) * (len(shape) - 3)
    layer = cls(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.25, use_bias=False)
    layer(torch.from_numpy(x))
    W, U, _ = keras_weights((3,) * len(ones), 2, 2, seed=11)
    load_keras(layer, W, U, None)
    rng = np.random.default_rng(12)
    x_keep = (rng.random((shape[0], *shape[2:])) > 0.5) / 0.5
    h_keep = (rng.random((shape[0], *shape[2:-1], 2)) > 0.25) / 0.75
    given = iter([torch.from_numpy(x_keep), torch.from_numpy(h_keep)])
    monkeypatch.setattr(conv_lstm, "dropout_mask", lambda like, rate: next(given))
    y = layer(torch.from_numpy(x), training=True).detach().numpy()
    want, _, _ = conv_lstm_naive(x, W, U, None, ones, "same", ones, x_keep=x_keep, h_keep=h_keep)
    np.testing.assert_allclose(y, want[:, -1], rtol=0, atol=ATOL)
    plain, _, _ = conv_lstm_naive(x, W, U, None, ones, "same", ones)
    np.testing.assert_allclose(layer(torch.from_numpy(x), training=False).detach().numpy(), plain[:, -1],
                               rtol=0, atol=ATOL)


def test_first_weights_follow_keras():
    layer = ConvLSTM3D(4, 2)
    layer(torch.zeros(1, 2, 3, 3, 3, 2))
    assert np.array_equal(layer.bias.detach().numpy(), np.concatenate([np.zeros(4), np.ones(4), np.zeros(8)]))
    limit = math.sqrt(6 / (8 * 2 + 8 * 16))  # glorot_uniform, fans of Keras's (2, 2, 2, 2, 16)
    assert 0.8 * limit < float(layer.kernel.detach().abs().max()) <= limit
    flat = layer.recurrent_kernel.detach().permute(2, 3, 4, 1, 0).reshape(32, 16).double().numpy()
    np.testing.assert_allclose(flat.T @ flat, np.eye(16), atol=1e-5)  # orthogonal, flattened as Keras
    assert layer.kernel.is_contiguous(memory_format=torch.channels_last_3d)
    one = ConvLSTM1D(3, 4)
    one(torch.zeros(1, 2, 6, 5))
    assert tuple(one.kernel.shape) == (12, 5, 4) and tuple(one.recurrent_kernel.shape) == (12, 3, 4)


def test_compute_output_shape_and_symbolic_inputs():
    assert ConvLSTM1D(3, 3, strides=2, padding="same").compute_output_shape((None, None, 7, 2)) == (None, 4, 3)
    seq = ConvLSTM3D(2, (1, 3, 3), return_sequences=True, return_state=True)
    assert seq.compute_output_shape((None, 4, 3, 5, 6, 1)) == [(None, 4, 3, 3, 4, 2), (None, 3, 3, 4, 2),
                                                               (None, 3, 3, 4, 2)]
    inputs = Input(shape=(None, 8, 1))
    outputs = ConvLSTM1D(2, 3, return_sequences=True)(inputs)
    assert outputs.shape == (None, None, 6, 2)
    assert Model(inputs, outputs).predict(np.zeros((2, 5, 8, 1), "float32"), verbose=0).shape == (2, 5, 6, 2)


@pytest.mark.parametrize("cls, kernel, strides", [(ConvLSTM1D, 3, [2]), (ConvLSTM3D, (1, 3, 2), (1, 2, 1))])
def test_get_config_round_trip(cls, kernel, strides):
    layer = cls(4, kernel, strides=strides, padding="SAME", recurrent_activation="hard_sigmoid",
                unit_forget_bias=False, dropout=0.1, recurrent_dropout=0.2, return_sequences=True,
                return_state=True, go_backwards=True, kernel_regularizer="l2", name="clstm")
    config = json.loads(json.dumps(layer.get_config()))
    rank = cls.rank
    assert config["kernel_size"] == list(kernel if rank == 3 else [kernel]) and len(config["strides"]) == rank
    assert config["padding"] == "same" and config["recurrent_activation"] == "hard_sigmoid"
    assert config["dilation_rate"] == [1] * rank and config["return_state"] is True
    again = cls.from_config(config)
    assert type(again) is cls and again.get_config() == config


def test_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = Sequential([ConvLSTM1D(3, 3, padding="same", return_sequences=True, input_shape=(4, 6, 1)),
                        ConvLSTM1D(2, 2), Flatten(), Dense(2)])
    x = torch.randn(3, 4, 6, 1)
    model.save(tmp_path / "m1.brainnet")
    torch.testing.assert_close(load_model(tmp_path / "m1.brainnet").predict(x), model.predict(x), rtol=0, atol=0)

    inputs = Input(shape=(2, 3, 4, 4, 1))
    out, h, c = ConvLSTM3D(2, 2, return_state=True, go_backwards=True)(inputs)
    functional = Model(inputs, [out, c])
    volumes = torch.randn(2, 2, 3, 4, 4, 1)
    functional.save(tmp_path / "m3.brainnet")
    for got, want in zip(load_model(tmp_path / "m3.brainnet").predict(volumes), functional.predict(volumes)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_gradients_match_finite_differences():
    x = torch.from_numpy(f64(1, 3, 4, 1)).requires_grad_()
    layer = ConvLSTM1D(1, 2, padding="same", return_sequences=True)
    layer(x)
    assert torch.autograd.gradcheck(layer, (x,))


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match=r"Layer 'c1' \(ConvLSTM1D\) expected input of rank 4 \(batch, time, rows, "
                       r"channels\), got shape \(2, 8, 1\) of rank 3\. Fix: give sequences of 1-D frames as "
                       r"\(N, T, L, C\)"):
        ConvLSTM1D(2, 3, name="c1")(torch.zeros(2, 8, 1))
    with pytest.raises(ValueError, match=r"Layer 'c3' \(ConvLSTM3D\) expected input of rank 6 \(batch, time, depth, "
                       r"rows, cols, channels\), got shape \(2, 3, 8, 8, 1\) of rank 5\. Fix: give sequences of "
                       r"volumes as \(N, T, D, H, W, C\)"):
        ConvLSTM3D(2, 3, name="c3")(torch.zeros(2, 3, 8, 8, 1))
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'small' (ConvLSTM3D): expected frames of at least 3×5×5 (its window) with padding='valid', got "
            "frames of depth×rows×cols 3×4×6. Fix: padding='same' or a smaller kernel_size; each step's frame is "
            "(depth, rows, cols, channels), channels last, so a sequence of channels-first frames needs "
            "x.transpose(0, 1, 3, 4, 5, 2).")):
        ConvLSTM3D(2, 3, dilation_rate=(1, 2, 2), name="small")(torch.zeros(1, 3, 3, 4, 6, 1))
    layer = ConvLSTM1D(2, 3, name="cs")
    x = torch.zeros(2, 3, 5, 1)
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'cs' (ConvLSTM1D): expected initial_state [h0, c0], 2 tensors of shape (batch, new_rows, filters) "
            "= (2, 3, 2), got 2 of shape(s) [(2, 5, 2), (2, 5, 2)]. Fix: cs(x, initial_state=[h0, c0]) with each of "
            "shape (2, 3, 2).")):
        layer(x, initial_state=[torch.zeros(2, 5, 2), torch.zeros(2, 5, 2)])
    with pytest.raises(ValueError, match=re.escape(
            "Layer 'cs' (ConvLSTM1D): expected a mask of shape (batch, time) = (2, 3) (True = real step), got (2, 5). "
            "Fix: one boolean per step of each sequence, e.g. mask = (frames != 0).any(axis=(2, 3)) when")):
        layer(x, mask=torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=re.escape(
            "ConvLSTM1D: expected kernel_size to be a positive int or a 1-tuple of them, got (3, 3). Fix: "
            "kernel_size=(3,) or kernel_size=3.")):
        ConvLSTM1D(2, (3, 3))
    with pytest.raises(ValueError, match=r"ConvLSTM3D: expected strides to be a positive int or a triple of them"):
        ConvLSTM3D(2, 3, strides=(1, 2))
    with pytest.raises(ValueError, match=r"ConvLSTM3D: expected strides of 1 when dilation_rate > 1"):
        ConvLSTM3D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=re.escape("ConvLSTM1D: expected recurrent_dropout in [0, 1), got 1. Fix:")):
        ConvLSTM1D(2, 3, recurrent_dropout=1)
