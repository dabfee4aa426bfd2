"""ConvLSTM2D against a naive NumPy loop over its docstring equations, in
float64 (atol=1e-10), with the weights given in Keras's layout
(kernel ``(kh, kw, C, 4F)``, recurrent_kernel ``(kh, kw, F, 4F)``, gates i, f, c, o):

    z_t = W ∗ x_t + b + U ∗ h_{t-1}      (W ∗ x: the layer's strides/padding/dilation; U ∗ h: stride 1, "same")
    i, f, o = σ(z_i), σ(z_f), σ(z_o);  c_t = f ⊙ c_{t-1} + i ⊙ tanh(z_c);  h_t = o ⊙ tanh(c_t)

each convolution written as one loop per output value, "same" padded as
Keras (total = max((⌈n/s⌉ − 1)·s + d·(k − 1) + 1 − n, 0), the odd extra row
after). Masked steps carry the states and repeat the previous output (Keras).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import ConvLSTM2D, Dense, Flatten, GlobalMaxPooling2D, Input, conv_lstm
from brainnet.models import Model, Sequential, load_model
from brainnet.optimizers import Adam

ATOL = 1e-10


def keras_pads(n: int, k: int, s: int, d: int, padding: str) -> tuple[int, int]:
    if padding != "same":
        return 0, 0
    total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
    return total // 2, total - total // 2


def conv2d_naive(x, w, strides, padding, dilation):
    """x: (N, H, W, C); w: Keras's (kh, kw, C, F); one output value at a time."""
    n_, h_, w_, c_ = x.shape
    kh, kw, _, f_ = w.shape
    (sh, sw), (dh, dw) = strides, dilation
    top, bottom = keras_pads(h_, kh, sh, dh, padding)
    left, right = keras_pads(w_, kw, sw, dw, padding)
    xp = np.zeros((n_, h_ + top + bottom, w_ + left + right, c_))
    xp[:, top:top + h_, left:left + w_, :] = x
    out_h = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n_, out_h, out_w, f_))
    for n in range(n_):
        for p in range(out_h):
            for q in range(out_w):
                for j in range(f_):
                    acc = 0.0
                    for u in range(kh):
                        for v in range(kw):
                            for k in range(c_):
                                acc += xp[n, p * sh + u * dh, q * sw + v * dw, k] * w[u, v, k, j]
                    y[n, p, q, j] = acc
    return y


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def conv_lstm_naive(x, W, U, b, strides=(1, 1), padding="valid", dilation=(1, 1), states=None, mask=None,
                    go_backwards=False, x_keep=None, h_keep=None):
    """Every h_t (in processing order) and the final (h, c); x_keep/h_keep: dropout masks (kept/(1 − rate))."""
    n_, t_ = x.shape[:2]
    f_ = U.shape[2]
    if go_backwards:
        x = x[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    zx0 = conv2d_naive(x[:, 0], W, strides, padding, dilation)
    if states is None:
        h = np.zeros(zx0.shape[:3] + (f_,))
        c = np.zeros_like(h)
    else:
        h, c = states
    previous = np.zeros_like(h)
    outputs = []
    for t in range(t_):
        x_t = x[:, t] if x_keep is None else x[:, t] * x_keep
        h_in = h if h_keep is None else h * h_keep
        z = conv2d_naive(x_t, W, strides, padding, dilation) + (0.0 if b is None else b)
        z = z + conv2d_naive(h_in, U, (1, 1), "same", (1, 1))
        z_i, z_f, z_c, z_o = (z[..., g * f_:(g + 1) * f_] for g in range(4))
        c_new = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h_new = sigmoid(z_o) * np.tanh(c_new)
        if mask is not None:
            real = mask[:, t][:, None, None, None]
            h_new, c_new = np.where(real, h_new, h), np.where(real, c_new, c)
            out = np.where(real, h_new, previous)
        else:
            out = h_new
        outputs.append(out)
        h, c, previous = h_new, c_new, out
    return np.stack(outputs, axis=1), h, c


def f64(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def keras_weights(kernel, channels, filters, seed=1):
    """Random Keras-layout weights, scaled so the gates are not saturated."""
    W = 0.4 * f64(*kernel, channels, 4 * filters, seed=seed)
    U = 0.4 * f64(*kernel, filters, 4 * filters, seed=seed + 1)
    b = 0.2 * f64(4 * filters, seed=seed + 2)
    return W, U, b


def load_keras(layer, W, U, b):
    """set_weights refuses Keras's layout with the transpose; then takes PyTorch's."""
    arrays = [W, U] if b is None else [W, U, b]
    with pytest.raises(ValueError, match=r"Keras's layout .* Fix: np\.transpose\(kernel, \(3, 2, 0, 1\)\)"):
        layer.set_weights(arrays)
    torch_layout = [np.transpose(W, (3, 2, 0, 1)), np.transpose(U, (3, 2, 0, 1))]
    layer.set_weights(torch_layout if b is None else torch_layout + [b])


CASES = [
    # (input NTHWC, filters, kernel, strides, padding, dilation)
    ((2, 3, 5, 5, 2), 2, (3, 3), (1, 1), "valid", (1, 1)),
    ((2, 3, 4, 5, 1), 2, (3, 3), (1, 1), "same", (1, 1)),
    ((1, 4, 4, 4, 2), 3, (2, 2), (1, 1), "same", (1, 1)),    # even kernel: uneven "same" in both convolutions
    ((1, 3, 6, 5, 1), 2, (3, 2), (2, 1), "same", (1, 1)),    # strided input convolution
    ((1, 3, 6, 6, 1), 2, (2, 2), (1, 1), "valid", (2, 2)),   # dilated input convolution
    ((2, 2, 5, 4, 2), 1, (1, 3), (1, 2), "valid", (1, 1)),
]


@pytest.mark.parametrize("shape, filters, kernel, strides, padding, dilation", CASES)
def test_conv_lstm2d_matches_naive_equations(shape, filters, kernel, strides, padding, dilation):
    x = f64(*shape)
    layer = ConvLSTM2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                       return_sequences=True, return_state=True)
    layer(torch.from_numpy(x))
    assert tuple(layer.kernel.shape) == (4 * filters, shape[-1], *kernel)  # PyTorch's (4F, C, kh, kw)
    assert tuple(layer.recurrent_kernel.shape) == (4 * filters, filters, *kernel)
    W, U, b = keras_weights(kernel, shape[-1], filters)
    load_keras(layer, W, U, b)
    out, h, c = (t.detach().numpy() for t in layer(torch.from_numpy(x)))
    want_out, want_h, want_c = conv_lstm_naive(x, W, U, b, strides, padding, dilation)
    assert out.shape == want_out.shape and h.shape == want_h.shape
    assert [tuple(s) for s in layer.compute_output_shape(shape)] == [want_out.shape, want_h.shape, want_c.shape]
    np.testing.assert_allclose(out, want_out, rtol=0, atol=ATOL)
    np.testing.assert_allclose(h, want_h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(c, want_c, rtol=0, atol=ATOL)


def test_last_output_go_backwards_no_bias_and_other_activations():
    x = f64(2, 4, 4, 4, 1)
    layer = ConvLSTM2D(2, 3, padding="same", go_backwards=True, use_bias=False)
    layer(torch.from_numpy(x))
    assert layer.bias is None
    W, U, _ = keras_weights((3, 3), 1, 2, seed=4)
    load_keras(layer, W, U, None)
    want, _, _ = conv_lstm_naive(x, W, U, None, padding="same", go_backwards=True)
    np.testing.assert_allclose(layer(torch.from_numpy(x)).detach().numpy(), want[:, -1], rtol=0, atol=ATOL)
    # Other activations enter the same equations.
    hard = ConvLSTM2D(2, 3, padding="same", activation="relu", recurrent_activation="hard_sigmoid")
    assert hard(torch.from_numpy(x)).shape == (2, 4, 4, 2)


def test_initial_state_and_mask_carry_the_states():
    x = f64(2, 4, 4, 4, 1)
    layer = ConvLSTM2D(2, 3, padding="same", return_sequences=True, return_state=True)
    layer(torch.from_numpy(x))
    W, U, b = keras_weights((3, 3), 1, 2, seed=7)
    load_keras(layer, W, U, b)
    h0, c0 = 0.5 * f64(2, 4, 4, 2, seed=8), 0.5 * f64(2, 4, 4, 2, seed=9)
    mask = np.array([[True, False, True, True], [False, True, True, False]])
    out, h, c = layer(torch.from_numpy(x), mask=torch.from_numpy(mask),
                      initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
    want_out, want_h, want_c = conv_lstm_naive(x, W, U, b, padding="same", states=(h0, c0), mask=mask)
    np.testing.assert_allclose(out.detach().numpy(), want_out, rtol=0, atol=ATOL)
    np.testing.assert_allclose(h.detach().numpy(), want_h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(c.detach().numpy(), want_c, rtol=0, atol=ATOL)
    assert np.array_equal(out[1, 0].detach().numpy(), np.zeros((4, 4, 2)))  # masked first step: zeros
    assert np.array_equal(out[1, 3].detach().numpy(), out[1, 2].detach().numpy())  # repeats the previous
    # the mask as a NumPy array or a list, as Keras takes it (it crashed: 'numpy.ndarray' has no attribute 'to')
    for given in (mask, mask.tolist()):
        again = layer(torch.from_numpy(x), mask=given, initial_state=[torch.from_numpy(h0), torch.from_numpy(c0)])
        np.testing.assert_allclose(again[0].detach().numpy(), want_out, rtol=0, atol=ATOL)


def test_dropout_masks_apply_to_x_and_h_in_training_only(monkeypatch):
    x = f64(2, 3, 4, 4, 2)
    layer = ConvLSTM2D(2, 3, padding="same", dropout=0.5, recurrent_dropout=0.25)
    layer(torch.from_numpy(x))
    W, U, b = keras_weights((3, 3), 2, 2, seed=11)
    load_keras(layer, W, U, b)
    rng = np.random.default_rng(12)
    x_keep = (rng.random((2, 4, 4, 2)) > 0.5) / 0.5
    h_keep = (rng.random((2, 4, 4, 2)) > 0.25) / 0.75
    given = iter([torch.from_numpy(x_keep), torch.from_numpy(h_keep)])
    monkeypatch.setattr(conv_lstm, "dropout_mask", lambda like, rate: next(given))
    y = layer(torch.from_numpy(x), training=True).detach().numpy()
    want, _, _ = conv_lstm_naive(x, W, U, b, padding="same", x_keep=x_keep, h_keep=h_keep)
    np.testing.assert_allclose(y, want[:, -1], rtol=0, atol=ATOL)
    plain, _, _ = conv_lstm_naive(x, W, U, b, padding="same")
    np.testing.assert_allclose(layer(torch.from_numpy(x), training=False).detach().numpy(), plain[:, -1],
                               rtol=0, atol=ATOL)


def test_first_weights_follow_keras():
    layer = ConvLSTM2D(8, 3)
    layer(torch.zeros(1, 2, 5, 5, 4))
    b = layer.bias.detach().numpy()
    assert np.array_equal(b, np.concatenate([np.zeros(8), np.ones(8), np.zeros(16)]))  # unit_forget_bias
    plain = ConvLSTM2D(8, 3, unit_forget_bias=False, bias_initializer="ones")
    plain(torch.zeros(1, 2, 5, 5, 4))
    assert np.array_equal(plain.bias.detach().numpy(), np.ones(32))  # bias_initializer on all four gates
    # glorot_uniform with the fans of Keras's kernel (3, 3, 4, 32): √(6/(36 + 288))
    limit = math.sqrt(6 / (9 * 4 + 9 * 32))
    assert 0.9 * limit < float(layer.kernel.detach().abs().max()) <= limit
    # orthogonal recurrent kernel, flattened as Keras: (3·3·8, 32) with orthonormal columns
    flat = layer.recurrent_kernel.detach().permute(2, 3, 1, 0).reshape(72, 32).double().numpy()
    np.testing.assert_allclose(flat.T @ flat, np.eye(32), atol=1e-5)
    assert layer.kernel.is_contiguous(memory_format=torch.channels_last)


def test_compute_output_shape_and_symbolic_inputs():
    layer = ConvLSTM2D(3, (3, 2), strides=(2, 1), padding="same")
    assert layer.compute_output_shape((None, None, 7, 5, 2)) == (None, 4, 5, 3)
    seq = ConvLSTM2D(3, 3, return_sequences=True, return_state=True)
    assert seq.compute_output_shape((None, 6, 7, 5, 2)) == [(None, 6, 5, 3, 3), (None, 5, 3, 3), (None, 5, 3, 3)]
    inputs = Input(shape=(None, 8, 8, 1))
    outputs = ConvLSTM2D(2, 3, return_sequences=True)(inputs)
    assert outputs.shape == (None, None, 6, 6, 2)
    y = Model(inputs, outputs).predict(np.zeros((2, 5, 8, 8, 1), "float32"), verbose=0)
    assert y.shape == (2, 5, 6, 6, 2)


def test_get_config_round_trip():
    layer = ConvLSTM2D(4, (3, 2), strides=(2, 1), padding="SAME", recurrent_activation="hard_sigmoid",
                       unit_forget_bias=False, dropout=0.1, recurrent_dropout=0.2, return_sequences=True,
                       return_state=True, go_backwards=True, kernel_regularizer="l2", name="clstm")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["kernel_size"] == [3, 2] and config["strides"] == [2, 1] and config["padding"] == "same"
    assert config["activation"] == "tanh" and config["recurrent_activation"] == "hard_sigmoid"
    assert config["recurrent_initializer"] == "orthogonal" and config["unit_forget_bias"] is False
    again = ConvLSTM2D.from_config(config)
    assert again.get_config() == config


def test_save_and_load_in_sequential_and_functional(tmp_path):
    torch.manual_seed(0)
    model = Sequential([ConvLSTM2D(3, 3, padding="same", return_sequences=True, input_shape=(4, 6, 6, 1)),
                        ConvLSTM2D(2, 2), Flatten(), Dense(2)])
    x = torch.randn(3, 4, 6, 6, 1)
    model.save(tmp_path / "m.brainnet")
    torch.testing.assert_close(load_model(tmp_path / "m.brainnet").predict(x), model.predict(x), rtol=0, atol=0)

    inputs = Input(shape=(3, 5, 5, 2))
    out, h, c = ConvLSTM2D(2, 3, return_state=True, go_backwards=True)(inputs)
    functional = Model(inputs, [out, c])
    frames = torch.randn(2, 3, 5, 5, 2)
    functional.save(tmp_path / "f.brainnet")
    for got, want in zip(load_model(tmp_path / "f.brainnet").predict(frames), functional.predict(frames)):
        torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_gradients_match_finite_differences():
    x = torch.from_numpy(f64(1, 3, 3, 3, 1)).requires_grad_()
    layer = ConvLSTM2D(1, 2, padding="same", return_sequences=True)
    layer(x)
    assert torch.autograd.gradcheck(layer, (x,))


def test_it_learns_which_way_a_dot_moves():
    """A dot moves one column per frame, right or left (wrapping around), over 4
    frames of 6×6 from a random start: every single frame shows a dot at a
    uniformly random place, so only the state carried across frames (U ∗ h_{t-1}
    meeting W ∗ x_t) tells the direction. Chance is 0.5; this reaches 1.0 here."""
    rng = np.random.default_rng(0)
    n = 320
    x = np.zeros((n, 4, 6, 6, 1), "float32")
    y = rng.integers(0, 2, n)  # 1: right, 0: left
    rows, starts = rng.integers(0, 6, n), rng.integers(0, 6, n)
    for i in range(n):
        for t in range(4):
            x[i, t, rows[i], (starts[i] + (t if y[i] else -t)) % 6, 0] = 1.0
    torch.manual_seed(0)
    model = Sequential([ConvLSTM2D(4, 3, padding="same", input_shape=(4, 6, 6, 1)), GlobalMaxPooling2D(),
                        Dense(2, activation="softmax")])
    model.compile(Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:256], y[:256], epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[256:], y[256:], verbose=0)
    assert accuracy >= 0.9, accuracy


# ------------------------------------------------------------------ errors
def test_rank_error():
    with pytest.raises(ValueError, match=r"Layer 'cl' \(ConvLSTM2D\) expected input of rank 5 \(batch, time, rows, "
                       r"cols, channels\), got shape \(2, 8, 8, 1\) of rank 4\. Fix: give sequences of images as "
                       r"\(N, T, H, W, C\)"):
        ConvLSTM2D(2, 3, name="cl")(torch.zeros(2, 8, 8, 1))


def test_frames_smaller_than_the_window():
    with pytest.raises(ValueError, match=r"Layer 'small' \(ConvLSTM2D\): expected frames of at least 5×5 \(its "
                       r"window\) with padding='valid', got frames of rows×cols 4×6\. Fix: padding='same' or a smaller "
                       r"kernel_size; .* x\.transpose\(0, 1, 3, 4, 2\)\."):
        ConvLSTM2D(2, 3, dilation_rate=2, name="small")(torch.zeros(1, 3, 4, 6, 1))


def test_initial_state_and_mask_shapes():
    layer = ConvLSTM2D(2, 3, name="cs")
    x = torch.zeros(2, 3, 5, 5, 1)
    with pytest.raises(ValueError, match=r"Layer 'cs' \(ConvLSTM2D\): expected initial_state \[h0, c0\], 2 tensors of "
                       r"shape \(batch, new_rows, new_cols, filters\) = \(2, 3, 3, 2\), got 1 of shape\(s\) "
                       r"\[\(2, 5, 5, 2\)\]\. Fix: cs\(x, initial_state=\[h0, c0\]\)"):
        layer(x, initial_state=[torch.zeros(2, 5, 5, 2)])
    with pytest.raises(ValueError, match=r"Layer 'cs' \(ConvLSTM2D\): expected a mask of shape \(batch, time\) = "
                       r"\(2, 3\) \(True = real step\), got \(2, 3, 5\)\. Fix: one boolean per step of each "
                       r"sequence, e\.g\. mask = \(frames != 0\)\.any\(axis=\(2, 3, 4\)\)"):
        layer(x, mask=torch.ones(2, 3, 5, dtype=torch.bool))


def test_hyperparameter_errors():
    with pytest.raises(ValueError, match=r"ConvLSTM2D: expected strides of 1 when dilation_rate > 1"):
        ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"ConvLSTM2D: expected kernel_size to be a positive int or a pair of them, "
                       r"got \(3, 3, 3\)\. Fix:"):
        ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match=re.escape("ConvLSTM2D: expected dropout in [0, 1), got 1.5. Fix:")):
        ConvLSTM2D(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match=r"ConvLSTM2D: expected padding 'valid' or 'same', got 'causal'"):
        ConvLSTM2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"ConvLSTM2D: expected filters to be a positive integer, got 0"):
        ConvLSTM2D(0, 3)


def test_docstring_example_runs():
    import doctest

    failures, tried = doctest.testmod(conv_lstm)
    assert tried > 0 and failures == 0
