"""SimpleRNN, LSTM, GRU and Bidirectional against naive NumPy versions of
their docstring equations (explicit gates, a Python loop over time), against
torch.nn.RNN/LSTM/GRU with copied weights, and the fused kernels against the
step loop, all in float64.

Tolerance: atol=1e-10 (float64; the kernels sum in a different order).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from brainnet.layers import GRU, LSTM, Bidirectional, Dense, Embedding, SimpleRNN
from brainnet.layers import _rnn_cells
from brainnet.models import Sequential
from brainnet.optimizers import Adam
from brainnet.utils import set_random_seed

ATOL = 1e-10
B, T, F, U = 3, 6, 4, 5


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def npy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def built(layer, features: int = F, seed: int = 1):
    """Build ``layer`` in float64 and give it random non-zero biases."""
    layer(f64(2, 3, features))
    if layer.bias is not None:
        with torch.no_grad():
            layer.bias.copy_(f64(*layer.bias.shape, seed=seed) * 0.5)
    return layer


def path(layer, fused: bool):
    layer.use_cudnn = "auto" if fused else False
    return layer


# ------------------------------------------------------------------ naive refs
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACT = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": sigmoid,
    "hard_sigmoid": lambda z: np.clip(z / 6 + 0.5, 0.0, 1.0),
    "linear": lambda z: z,
}


def np_run(step, x, states, mask=None, go_backwards=False):
    """Keras's loop: states carried and the previous output repeated at masked
    steps (zeros before the first real step); go_backwards reads x from the end
    and returns the outputs in that (reversed) order."""
    x = x[:, ::-1] if go_backwards else x
    mask = None if mask is None else (mask[:, ::-1] if go_backwards else mask)
    previous = np.zeros_like(states[0])
    outputs = []
    for t in range(x.shape[1]):
        out, new = step(x[:, t], states)
        if mask is not None:
            for n in range(x.shape[0]):
                if not mask[n, t]:
                    out[n] = previous[n]
                    for s_new, s_old in zip(new, states):
                        s_new[n] = s_old[n]
        outputs.append(out)
        states, previous = new, out
    return np.stack(outputs, 1), states


def np_simple_rnn(layer, x, h0=None, **kw):
    """h_t = f(W_hh h_{t-1} + W_xh x_t + b_h), written as matrix-vector products."""
    w_xh, w_hh = npy(layer.kernel).T, npy(layer.recurrent_kernel).T  # (U, F), (U, U)
    b = npy(layer.bias) if layer.bias is not None else np.zeros(layer.units)
    f = ACT[layer.get_config()["activation"]]

    def step(x_t, states):
        (h,) = states
        h_new = np.stack([f(w_hh @ h[n] + w_xh @ x_t[n] + b) for n in range(len(x_t))])
        return h_new.copy(), [h_new]

    h0 = np.zeros((len(x), layer.units)) if h0 is None else h0
    return np_run(step, x, [h0], **kw)


def np_lstm(layer, x, h0=None, c0=None, **kw):
    """The docstring's gates one by one: i, f, c̃, o; c_t = f⊙c + i⊙c̃; h_t = o⊙tanh(c_t)."""
    u = layer.units
    k, r = npy(layer.kernel), npy(layer.recurrent_kernel)
    b = npy(layer.bias) if layer.bias is not None else np.zeros(4 * u)
    W = {g: k[:, j * u : (j + 1) * u] for j, g in enumerate("ifco")}
    Uw = {g: r[:, j * u : (j + 1) * u] for j, g in enumerate("ifco")}
    bb = {g: b[j * u : (j + 1) * u] for j, g in enumerate("ifco")}
    act, rec = ACT[layer.get_config()["activation"]], ACT[layer.get_config()["recurrent_activation"]]

    def step(x_t, states):
        h, c = states
        i = rec(x_t @ W["i"] + h @ Uw["i"] + bb["i"])
        f = rec(x_t @ W["f"] + h @ Uw["f"] + bb["f"])
        c_tilde = act(x_t @ W["c"] + h @ Uw["c"] + bb["c"])
        o = rec(x_t @ W["o"] + h @ Uw["o"] + bb["o"])
        c_new = f * c + i * c_tilde
        h_new = o * act(c_new)
        return h_new.copy(), [h_new, c_new]

    zeros = np.zeros((len(x), u))
    return np_run(step, x, [zeros if h0 is None else h0, zeros if c0 is None else c0], **kw)


def np_gru(layer, x, h0=None, **kw):
    """Keras's GRU: z, r gates; h̃ with reset after/before; h_t = z⊙h + (1 − z)⊙h̃."""
    u = layer.units
    k, r = npy(layer.kernel), npy(layer.recurrent_kernel)
    if layer.bias is None:
        b_in, b_rec = np.zeros(3 * u), np.zeros(3 * u)
    elif layer.reset_after:
        b_in, b_rec = npy(layer.bias[0]), npy(layer.bias[1])
    else:
        b_in, b_rec = npy(layer.bias), np.zeros(3 * u)
    W = {g: k[:, j * u : (j + 1) * u] for j, g in enumerate("zrh")}
    Uw = {g: r[:, j * u : (j + 1) * u] for j, g in enumerate("zrh")}
    bi = {g: b_in[j * u : (j + 1) * u] for j, g in enumerate("zrh")}
    br = {g: b_rec[j * u : (j + 1) * u] for j, g in enumerate("zrh")}
    act, rec = ACT[layer.get_config()["activation"]], ACT[layer.get_config()["recurrent_activation"]]

    def step(x_t, states):
        (h,) = states
        z = rec(x_t @ W["z"] + bi["z"] + h @ Uw["z"] + br["z"])
        rr = rec(x_t @ W["r"] + bi["r"] + h @ Uw["r"] + br["r"])
        if layer.reset_after:
            h_tilde = act(x_t @ W["h"] + bi["h"] + rr * (h @ Uw["h"] + br["h"]))
        else:
            h_tilde = act(x_t @ W["h"] + bi["h"] + (rr * h) @ Uw["h"])
        h_new = z * h + (1 - z) * h_tilde
        return h_new.copy(), [h_new]

    h0 = np.zeros((len(x), u)) if h0 is None else h0
    return np_run(step, x, [h0], **kw)


NAIVE = {SimpleRNN: np_simple_rnn, LSTM: np_lstm, GRU: np_gru}


# ----------------------------------------------------------- cells vs NumPy
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_simple_rnn_matches_naive_equation(fused, activation, use_bias):
    layer = path(built(SimpleRNN(U, activation=activation, use_bias=use_bias, return_sequences=True)), fused)
    x = f64(B, T, F)
    want, (h_T,) = np_simple_rnn(layer, x.numpy())
    np.testing.assert_allclose(npy(layer(x)), want, rtol=0, atol=ATOL)
    np.testing.assert_allclose(want[:, -1], h_T, rtol=0, atol=0)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_lstm_matches_naive_gates_and_cell_update(fused, use_bias):
    layer = path(built(LSTM(U, use_bias=use_bias, return_sequences=True, return_state=True)), fused)
    x = f64(B, T, F)
    out, h, c = layer(x)
    want, (h_T, c_T) = np_lstm(layer, x.numpy())
    np.testing.assert_allclose(npy(out), want, rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(h), h_T, rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(c), c_T, rtol=0, atol=ATOL)
    assert torch.equal(h, out[:, -1])  # h_T is the last output


def test_lstm_non_default_activations_use_the_loop():
    layer = built(LSTM(U, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True))
    x = f64(B, T, F)
    np.testing.assert_allclose(npy(layer(x)), np_lstm(layer, x.numpy())[0], rtol=0, atol=ATOL)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gru_matches_naive_equation(fused, reset_after, use_bias):
    layer = GRU(U, reset_after=reset_after, use_bias=use_bias, return_sequences=True, return_state=True)
    path(built(layer), fused)
    x = f64(B, T, F)
    out, h = layer(x)
    want, (h_T,) = np_gru(layer, x.numpy())
    np.testing.assert_allclose(npy(out), want, rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(h), h_T, rtol=0, atol=ATOL)


def test_weights_shapes_names_and_keras_initialisation():
    lstm = LSTM(U)
    lstm(torch.zeros(2, 3, F))
    assert [(n, tuple(p.shape)) for n, p in lstm.named_parameters()] == [
        ("kernel", (F, 4 * U)), ("recurrent_kernel", (U, 4 * U)), ("bias", (4 * U,)),
    ]
    r = lstm.recurrent_kernel.detach().double()
    torch.testing.assert_close(r @ r.T, torch.eye(U, dtype=torch.float64), rtol=0, atol=1e-5)  # orthogonal
    expected_bias = torch.cat([torch.zeros(U), torch.ones(U), torch.zeros(2 * U)])  # forget gate = 1
    assert torch.equal(lstm.bias.detach(), expected_bias)
    limit = (6 / (F + 4 * U)) ** 0.5  # glorot_uniform
    assert float(lstm.kernel.detach().abs().max()) <= limit
    no_forget = LSTM(U, unit_forget_bias=False)
    no_forget(torch.zeros(2, 3, F))
    assert not no_forget.bias.detach().any()
    gru, gru_before = GRU(U), GRU(U, reset_after=False)
    gru(torch.zeros(2, 3, F))
    gru_before(torch.zeros(2, 3, F))
    assert tuple(gru.bias.shape) == (2, 3 * U) and tuple(gru_before.bias.shape) == (3 * U,)
    rnn = SimpleRNN(U, use_bias=False)
    rnn(torch.zeros(2, 3, F))
    assert [n for n, _ in rnn.named_parameters()] == ["kernel", "recurrent_kernel"]
    assert rnn.count_params() == F * U + U * U


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_matrices_keep_keras_shapes_in_torch_memory_order(cls, tmp_path):
    """The fused kernel takes ``(gates·units, in)`` matrices row by row: the
    layers store Keras's ``(in, gates·units)`` shapes with that memory
    (strides ``(1, in)``), through training, ``set_weights`` and a reload,
    so neither the kernel nor autograd copies them at each step."""
    from brainnet.models import load_model

    def torch_order(layer) -> bool:
        return all(w.t().is_contiguous() and not w.is_contiguous() for w in (layer.kernel, layer.recurrent_kernel))

    set_random_seed(0)
    model = Sequential([cls(U, input_shape=(T, F)), Dense(2)])
    layer = model.layers[0]
    gates = {SimpleRNN: 1, LSTM: 4, GRU: 3}[cls]
    assert tuple(layer.kernel.shape) == (F, gates * U) and tuple(layer.recurrent_kernel.shape) == (U, gates * U)
    assert torch_order(layer)
    assert all(w.is_contiguous() for w in layer._fused_weights()[1])  # what the kernel receives
    before = [w.copy() for w in layer.get_weights()]
    model.compile(optimizer=Adam(0.01), loss="mse")
    model.fit(np.random.default_rng(0).normal(size=(16, T, F)).astype("float32"),
              np.zeros((16, 2), "float32"), batch_size=8, epochs=1, verbose=0)
    assert torch_order(layer) and not np.allclose(layer.get_weights()[0], before[0])
    layer.set_weights(before)
    assert torch_order(layer) and all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), before))
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras").layers[0]
    assert torch_order(again) and all(np.array_equal(a, b) for a, b in zip(again.get_weights(), before))


# ------------------------------------------------------- fused == step loop
MASKS = {
    "right-padded": [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]],
    "left-padded": [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1]],
    "holes and an empty row": [[1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 1, 0]],
}


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("mask_name", [None, *MASKS])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_fused_kernel_and_step_loop_agree_with_naive(cls, mask_name, go_backwards):
    """Values and gradients, with masks, go_backwards and a non-zero initial state."""
    layer = built(cls(U, return_sequences=True, return_state=True, go_backwards=go_backwards))
    x = f64(B, T, F, seed=2)
    mask = None if mask_name is None else torch.tensor(MASKS[mask_name], dtype=torch.bool)
    init = [f64(B, U, seed=3 + i) * 0.5 for i in range(len(layer.state_names))]
    results = {}
    for fused in (True, False):
        path(layer, fused)
        layer.zero_grad()
        out, *states = layer(x, mask=mask, initial_state=init)
        (out.square().sum() + sum(s.sum() for s in states)).backward()
        results[fused] = [out, *states, *(p.grad.clone() for p in layer.parameters())]
    for a, b in zip(results[True], results[False]):
        np.testing.assert_allclose(npy(a), npy(b), rtol=0, atol=ATOL)
    want_out, want_states = NAIVE[cls](
        layer, x.numpy(), *[s.numpy() for s in init],
        mask=None if mask is None else mask.numpy(), go_backwards=go_backwards,
    )
    np.testing.assert_allclose(npy(results[True][0]), want_out, rtol=0, atol=ATOL)
    for got, want in zip(results[True][1:], want_states):
        np.testing.assert_allclose(npy(got), want, rtol=0, atol=ATOL)


def spy_paths(monkeypatch) -> list[str]:
    calls: list[str] = []
    real_fused, real_loop = _rnn_cells.run_fused, _rnn_cells.time_loop
    monkeypatch.setattr(_rnn_cells, "run_fused", lambda *a, **k: calls.append(a[0]) or real_fused(*a, **k))
    monkeypatch.setattr(_rnn_cells, "time_loop", lambda *a, **k: calls.append("loop") or real_loop(*a, **k))
    return calls


def test_which_configurations_run_the_fused_kernel(monkeypatch):
    calls = spy_paths(monkeypatch)
    x = torch.randn(2, 4, 3)
    for layer in (
        SimpleRNN(2), SimpleRNN(2, activation="relu"), LSTM(2), GRU(2), LSTM(2, use_bias=False),
        LSTM(2, dropout=0.5),  # input dropout is applied before the kernel
        SimpleRNN(2, activation="sigmoid"), LSTM(2, recurrent_activation="hard_sigmoid"),
        GRU(2, reset_after=False), LSTM(2, use_cudnn=False),
    ):
        layer(x, training=True)
    assert calls == ["rnn_tanh", "rnn_relu", "lstm", "gru", "lstm", "lstm"] + ["loop"] * 4
    calls.clear()
    layer = LSTM(2, recurrent_dropout=0.3)
    layer(x, training=True)
    layer(x, training=False)  # no recurrent dropout at inference: fused
    assert calls == ["loop", "lstm"]


# ------------------------------------------------- outputs, states, direction
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_return_sequences_and_state_values(cls):
    layer = built(cls(U, return_sequences=True, return_state=True))
    x = f64(B, T, F)
    out, *states = layer(x)
    last = built(cls(U), seed=1)
    last.load_state_dict(layer.state_dict())
    assert torch.equal(last(x), out[:, -1])  # return_sequences=False gives the last output
    torch.testing.assert_close(states[0], out[:, -1], rtol=0, atol=0)  # h_T
    assert len(states) == len(layer.state_names)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_go_backwards_is_the_reversed_sequence_in_reversed_order(cls):
    layer = built(cls(U, return_sequences=True, go_backwards=True))
    forward = built(cls(U, return_sequences=True))
    forward.load_state_dict(layer.state_dict())
    x = f64(B, T, F)
    y = layer(x)
    np.testing.assert_allclose(npy(y), npy(forward(x.flip(1))), rtol=0, atol=ATOL)
    want, _ = NAIVE[cls](forward, x.numpy()[:, ::-1].copy())
    np.testing.assert_allclose(npy(y), want, rtol=0, atol=ATOL)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_initial_state_is_used(cls):
    layer = built(cls(U, return_state=True))
    x = f64(B, T, F)
    init = [f64(B, U, seed=7 + i) for i in range(len(layer.state_names))]
    out, *states = layer(x, initial_state=init)
    want_out, want_states = NAIVE[cls](layer, x.numpy(), *[s.numpy() for s in init])
    np.testing.assert_allclose(npy(out), want_out[:, -1], rtol=0, atol=ATOL)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(npy(got), want, rtol=0, atol=ATOL)
    assert not torch.allclose(out, layer(x)[0])  # a zero initial state gives another answer
    # numpy arrays and a bare tensor (single-state layers) are accepted too
    again = layer(x, initial_state=[s.numpy() for s in init])[0]
    assert torch.equal(again, out)


# ---------------------------------------------------------------- masking
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("fused", [True, False])
def test_padding_at_the_end_keeps_the_state_of_the_last_real_step(cls, fused):
    layer = path(built(cls(U, return_sequences=True, return_state=True)), fused)
    x = f64(2, T, F)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    out, *states = layer(x, mask=mask)
    for n, length in enumerate((3, 5)):
        short_out, *short_states = layer(x[n : n + 1, :length])
        for got, want in zip(states, short_states):
            np.testing.assert_allclose(npy(got[n]), npy(want[0]), rtol=0, atol=ATOL)
        np.testing.assert_allclose(npy(out[n, :length]), npy(short_out[0]), rtol=0, atol=ATOL)
        for t in range(length, T):  # padded steps repeat the last real output
            assert torch.equal(out[n, t], out[n, length - 1])


def test_masked_first_steps_output_zeros_and_keep_the_initial_state():
    layer = built(GRU(U, return_sequences=True, return_state=True))
    x, h0 = f64(1, T, F), f64(1, U, seed=5)
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]], dtype=torch.bool)
    out, h = layer(x, mask=mask, initial_state=[h0])
    assert not out[0, :2].any()  # Keras: zeros before the first real step
    rest, h_rest = layer(x[:, 2:], initial_state=[h0])  # the state was carried from h0
    np.testing.assert_allclose(npy(out[:, 2:]), npy(rest), rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(h), npy(h_rest), rtol=0, atol=ATOL)


def test_compute_mask():
    mask = torch.tensor([[True, False]])
    assert LSTM(2, return_sequences=True).compute_mask(None, mask) is mask
    assert LSTM(2).compute_mask(None, mask) is None
    assert LSTM(2, return_sequences=True, return_state=True).compute_mask(None, mask) == [mask, None, None]
    assert GRU(2, return_state=True).compute_mask(None, mask) == [None, None]


@pytest.mark.parametrize("padding", ["post", "pre"])
@pytest.mark.parametrize("fused", [True, False])
def test_embedding_mask_zero_then_lstm_in_sequential_ignores_padding(padding, fused):
    set_random_seed(0)
    model = Sequential([
        Embedding(20, 4, mask_zero=True, input_shape=(7,)),
        LSTM(U, return_sequences=True),
        LSTM(3),
    ])
    model.double()
    for layer in model.layers[1:]:
        path(layer, fused)
    tokens = [[5, 3, 9], [1, 2, 3, 4, 5, 6, 7], [11]]
    padded = torch.zeros(3, 7, dtype=torch.long)
    for n, seq in enumerate(tokens):
        if padding == "post":
            padded[n, : len(seq)] = torch.tensor(seq)
        else:
            padded[n, 7 - len(seq) :] = torch.tensor(seq)
    y = model(padded)
    for n, seq in enumerate(tokens):
        alone = model(torch.tensor([seq]))
        np.testing.assert_allclose(npy(y[n]), npy(alone[0]), rtol=0, atol=ATOL)


# ------------------------------------------------------------------ dropout
def identity_rnn(**kwargs) -> SimpleRNN:
    """A linear SimpleRNN with W_xh = I, W_hh = I, no bias: h_t = x_t·m + h_{t-1}·m_rec."""
    layer = SimpleRNN(3, activation="linear", use_bias=False, return_sequences=True, **kwargs)
    layer(torch.zeros(1, 1, 3, dtype=torch.float64))
    layer.set_weights([np.eye(3), np.eye(3)])
    return layer


def test_dropout_one_mask_per_sequence_and_training_only():
    torch.manual_seed(0)
    layer = identity_rnn(dropout=0.5)
    layer.recurrent_kernel.data.zero_()  # h_t = x_t · m
    x = torch.ones(64, 5, 3, dtype=torch.float64)
    y = layer(x, training=True)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1/(1 − 0.5)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert 0.3 < float((y == 0).double().mean()) < 0.7
    assert torch.equal(layer(x, training=False), x)


def test_recurrent_dropout_one_mask_per_sequence():
    torch.manual_seed(0)
    layer = identity_rnn(recurrent_dropout=0.5)
    x = torch.zeros(64, 4, 3, dtype=torch.float64)
    x[:, 0] = 1.0
    y = layer(x, training=True)  # h_0 = 1, h_t = h_{t-1}·m  → m, m², m³
    m = y[:, 1]
    assert set(torch.unique(m).tolist()) == {0.0, 2.0}
    assert torch.equal(y[:, 2], m * m) and torch.equal(y[:, 3], m * m * m)
    assert torch.equal(layer(x, training=False), torch.ones_like(x))


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_input_dropout_fused_and_loop_agree(cls):
    layer = built(cls(U, dropout=0.4, return_sequences=True))
    x = f64(B, T, F)
    torch.manual_seed(3)
    fused = path(layer, True)(x, training=True)
    torch.manual_seed(3)
    loop = path(layer, False)(x, training=True)
    np.testing.assert_allclose(npy(fused), npy(loop), rtol=0, atol=ATOL)
    assert not torch.allclose(fused, layer(x, training=False))


# ------------------------------------------------------- torch.nn equality
@pytest.mark.parametrize("fused", [True, False])
def test_lstm_equals_torch_lstm_with_copied_weights(fused):
    layer = path(built(LSTM(U, return_sequences=True, return_state=True)), fused)
    ref = torch.nn.LSTM(F, U, batch_first=True).double()
    with torch.no_grad():  # torch: W x + b_ih + U h + b_hh, gates i, f, g, o as Keras
        ref.weight_ih_l0.copy_(layer.kernel.T)
        ref.weight_hh_l0.copy_(layer.recurrent_kernel.T)
        ref.bias_ih_l0.copy_(layer.bias)
        ref.bias_hh_l0.zero_()
    x, h0, c0 = f64(B, T, F), f64(B, U, seed=4), f64(B, U, seed=5)
    out, h, c = layer(x, initial_state=[h0, c0])
    ref_out, (ref_h, ref_c) = ref(x, (h0[None], c0[None]))
    for a, b in ((out, ref_out), (h, ref_h[0]), (c, ref_c[0])):
        np.testing.assert_allclose(npy(a), npy(b), rtol=0, atol=ATOL)


def keras_to_torch_gates(w: torch.Tensor) -> torch.Tensor:
    """Keras GRU gates (z, r, h) → torch (r, z, n) along the last axis."""
    z, r, h = w.chunk(3, dim=-1)
    return torch.cat([r, z, h], dim=-1)


@pytest.mark.parametrize("fused", [True, False])
def test_gru_equals_torch_gru_with_copied_weights(fused):
    layer = path(built(GRU(U, return_sequences=True, return_state=True)), fused)
    ref = torch.nn.GRU(F, U, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(keras_to_torch_gates(layer.kernel).T)
        ref.weight_hh_l0.copy_(keras_to_torch_gates(layer.recurrent_kernel).T)
        ref.bias_ih_l0.copy_(keras_to_torch_gates(layer.bias[0]))  # input bias
        ref.bias_hh_l0.copy_(keras_to_torch_gates(layer.bias[1]))  # recurrent bias
    x, h0 = f64(B, T, F), f64(B, U, seed=4)
    out, h = layer(x, initial_state=[h0])
    ref_out, ref_h = ref(x, h0[None])
    np.testing.assert_allclose(npy(out), npy(ref_out), rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(h), npy(ref_h[0]), rtol=0, atol=ATOL)


def test_simple_rnn_equals_torch_rnn_with_copied_weights():
    layer = path(built(SimpleRNN(U, return_sequences=True)), False)
    ref = torch.nn.RNN(F, U, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(layer.kernel.T)
        ref.weight_hh_l0.copy_(layer.recurrent_kernel.T)
        ref.bias_ih_l0.copy_(layer.bias)
        ref.bias_hh_l0.zero_()
    x = f64(B, T, F)
    np.testing.assert_allclose(npy(layer(x)), npy(ref(x)[0]), rtol=0, atol=ATOL)


# ------------------------------------------------------------ Bidirectional
def by_hand(bi: Bidirectional, x: np.ndarray, mask=None):
    """Each direction with the naive NumPy loop; backward outputs re-aligned in time."""
    fw, bw = bi.forward_layer, bi.backward_layer
    naive = NAIVE[type(fw)]
    y, fw_states = naive(fw, x, mask=mask)
    y_rev, bw_states = naive(bw, x, mask=mask, go_backwards=True)
    if fw.return_sequences:
        y_rev = y_rev[:, ::-1]
        if mask is not None:
            y, y_rev = y * mask[..., None], y_rev * mask[..., None]
    else:
        y, y_rev = y[:, -1], y_rev[:, -1]
    return y, y_rev, fw_states + bw_states


MERGE = {
    "concat": lambda a, b: np.concatenate([a, b], -1),
    "sum": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "ave": lambda a, b: (a + b) / 2,
}


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_bidirectional_merge_modes_match_two_directions_by_hand(merge_mode, return_sequences, cls):
    bi = Bidirectional(cls(U, return_sequences=return_sequences), merge_mode=merge_mode)
    x = f64(B, T, F)
    bi(x)
    y, y_rev, _ = by_hand(bi, x.numpy())
    got = bi(x)
    if merge_mode is None:
        assert isinstance(got, list) and len(got) == 2
        np.testing.assert_allclose(npy(got[0]), y, rtol=0, atol=ATOL)
        np.testing.assert_allclose(npy(got[1]), y_rev, rtol=0, atol=ATOL)
    else:
        np.testing.assert_allclose(npy(got), MERGE[merge_mode](y, y_rev), rtol=0, atol=ATOL)


def test_bidirectional_with_mask_and_states():
    bi = Bidirectional(LSTM(U, return_sequences=True, return_state=True))
    x = f64(B, T, F)
    bi(x)
    mask = np.array(MASKS["right-padded"], dtype=bool)
    y, y_rev, states = by_hand(bi, x.numpy(), mask)
    out, *got_states = bi(x, mask=torch.from_numpy(mask))
    np.testing.assert_allclose(npy(out), MERGE["concat"](y, y_rev), rtol=0, atol=ATOL)
    assert len(got_states) == 4  # h_fw, c_fw, h_bw, c_bw (Keras order)
    for got, want in zip(got_states, states):
        np.testing.assert_allclose(npy(got), want, rtol=0, atol=ATOL)
    assert not out[0, 4:].any()  # Keras: masked steps output zeros in Bidirectional


def test_bidirectional_initial_state_split_forward_then_backward():
    bi = Bidirectional(GRU(U, return_state=True), merge_mode="sum")
    x = f64(B, T, F)
    bi(x)
    h_fw, h_bw = f64(B, U, seed=8), f64(B, U, seed=9)
    out, s_fw, s_bw = bi(x, initial_state=[h_fw, h_bw])
    fw_out, (fw_h,) = np_gru(bi.forward_layer, x.numpy(), h_fw.numpy())
    bw_out, (bw_h,) = np_gru(bi.backward_layer, x.numpy(), h_bw.numpy(), go_backwards=True)
    np.testing.assert_allclose(npy(out), fw_out[:, -1] + bw_out[:, -1], rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(s_fw), fw_h, rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(s_bw), bw_h, rtol=0, atol=ATOL)


def test_bidirectional_copies_through_config():
    inner = LSTM(U, dropout=0.25, name="enc")
    bi = Bidirectional(inner)
    fw, bw = bi.forward_layer, bi.backward_layer
    assert (fw.name, bw.name) == ("forward_enc", "backward_enc")
    assert (fw.go_backwards, bw.go_backwards) == (False, True)
    assert fw is not inner and fw.dropout == bw.dropout == 0.25
    bi(torch.zeros(2, 3, F))
    assert [n for n, _ in bi.named_parameters()][:3] == [
        "forward_layer.kernel", "forward_layer.recurrent_kernel", "forward_layer.bias",
    ]
    assert not torch.equal(fw.kernel, bw.kernel)  # fresh weights for each direction
    frozen = Bidirectional(LSTM(2), trainable=False)
    frozen(torch.zeros(1, 2, 3))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 6


def test_bidirectional_in_sequential_with_mask():
    model = Sequential([
        Embedding(10, 3, mask_zero=True, input_shape=(5,)),
        Bidirectional(GRU(4, return_sequences=True)),
        Bidirectional(LSTM(2), merge_mode="ave"),
    ])
    model.double()
    y = model(torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]]))
    alone = model(torch.tensor([[1, 2, 3]]))
    np.testing.assert_allclose(npy(y[0]), npy(alone[0]), rtol=0, atol=ATOL)
    assert model.compute_output_shape((None, 5)) == (None, 2) == (None,) + tuple(y.shape[1:])


# ------------------------------------------------------------ training
def test_lstm_model_learns_the_sign_of_a_sum():
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 10, 1)).astype("float32")
    y = (x.sum(axis=(1, 2)) > 0).astype("int64")
    model = Sequential([LSTM(16, input_shape=(10, 1)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0], losses
    assert history.history["accuracy"][-1] > 0.85


def test_embedding_gru_model_learns_on_padded_tokens():
    """Token sequences of varying length, 0-padded: is token 1 present?"""
    set_random_seed(0)
    rng = np.random.default_rng(1)
    x = np.zeros((400, 8), dtype="int64")
    for n in range(400):
        length = rng.integers(2, 9)
        x[n, :length] = rng.integers(1, 6, length)
    y = (x == 1).any(axis=1).astype("int64")
    model = Sequential([
        Embedding(6, 8, mask_zero=True, input_shape=(8,)),
        GRU(8),
        Dense(2, activation="softmax"),
    ])
    model.compile(Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.95


# ------------------------------------------------------ shapes and config
GRID = [
    (cls, seq, state)
    for cls in (SimpleRNN, LSTM, GRU)
    for seq in (False, True)
    for state in (False, True)
]


def real_shapes(out) -> list | tuple:
    return [tuple(o.shape) for o in out] if isinstance(out, list) else tuple(out.shape)


@pytest.mark.parametrize("cls, return_sequences, return_state", GRID)
def test_compute_output_shape_equals_real_output(cls, return_sequences, return_state):
    layer = cls(U, return_sequences=return_sequences, return_state=return_state)
    out = layer(torch.zeros(2, 7, F))
    assert layer.compute_output_shape((2, 7, F)) == real_shapes(out)
    output = (None, None, U) if return_sequences else (None, U)
    states = [(None, U)] * len(layer.state_names)
    want = [output, *states] if return_state else output
    assert layer.compute_output_shape((None, None, F)) == want


@pytest.mark.parametrize("merge_mode", ["concat", "sum", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_compute_output_shape_equals_real_output(merge_mode, return_sequences, return_state):
    bi = Bidirectional(LSTM(U, return_sequences=return_sequences, return_state=return_state), merge_mode)
    out = bi(torch.zeros(2, 7, F))
    assert bi.compute_output_shape((2, 7, F)) == real_shapes(out)
    mask = torch.ones(2, 7, dtype=torch.bool)
    want_mask = mask if return_sequences else None
    got_mask = bi.compute_mask(None, mask)
    outputs = [want_mask, want_mask] if merge_mode is None else [want_mask]
    want = outputs + [None] * 4 if return_state else outputs if merge_mode is None else want_mask
    if isinstance(want, list):
        assert isinstance(got_mask, list) and all(g is w for g, w in zip(got_mask, want, strict=True))
    else:
        assert got_mask is want


CONFIG_LAYERS = [
    lambda: SimpleRNN(3, activation="relu", use_bias=False, dropout=0.1, return_sequences=True, name="r"),
    lambda: LSTM(4, recurrent_activation="hard_sigmoid", unit_forget_bias=False, go_backwards=True,
                 return_state=True, recurrent_dropout=0.2, input_shape=(None, 3)),
    lambda: GRU(2, reset_after=False, use_cudnn=False, trainable=False),
    lambda: Bidirectional(LSTM(3, return_sequences=True), merge_mode="mul", name="bi"),
    lambda: Bidirectional(GRU(3), backward_layer=GRU(3, go_backwards=True, activation="relu")),
    lambda: Bidirectional(SimpleRNN(2, input_shape=(5, 3)), merge_mode=None),
]


@pytest.mark.parametrize("make", CONFIG_LAYERS)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    x = torch.zeros(2, 5, 3)
    assert real_shapes(again(x)) == real_shapes(layer(x))


def test_get_config_contents():
    config = LSTM(8).get_config()
    assert {k: v for k, v in config.items() if k != "name"} == {
        "trainable": True, "units": 8, "activation": "tanh", "recurrent_activation": "sigmoid",
        "use_bias": True, "unit_forget_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0,
        "return_sequences": False, "return_state": False, "go_backwards": False, "stateful": False, "use_cudnn": "auto",
        "kernel_initializer": "glorot_uniform", "recurrent_initializer": "orthogonal", "bias_initializer": "zeros",
    }
    assert GRU(2).get_config()["reset_after"] is True
    bi = Bidirectional(LSTM(3, name="lstm_x")).get_config()
    assert bi["layer"]["class_name"] == "LSTM" and bi["layer"]["config"]["name"] == "forward_lstm_x"
    assert bi["backward_layer"]["config"]["go_backwards"] is True and bi["merge_mode"] == "concat"


def test_bidirectional_takes_the_input_shape_of_its_layer():
    model = Sequential([Bidirectional(LSTM(3, input_shape=(5, 2))), Dense(1)])
    assert model.built and model.compute_output_shape((None, 5, 2)) == (None, 1)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("units", [0, -1, 2.5, "8", None])
def test_units_validation(cls, units):
    name = cls.__name__
    with pytest.raises(
        ValueError, match=rf"{name}: expected units to be a positive integer, got {re.escape(repr(units))}\. "
        rf"Fix: {name}\(units=32",
    ):
        cls(units)


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation 'tahn'.*Fix: use activation='tanh'"):
        LSTM(2, activation="tahn")
    with pytest.raises(ValueError, match=r"Unknown activation 'sigmod'.*Fix: use activation='sigmoid'"):
        GRU(2, recurrent_activation="sigmod")


@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("rate", [1.0, -0.1, "0.5"])
def test_dropout_rate_validation(arg, rate):
    with pytest.raises(
        ValueError,
        match=rf"GRU: expected {arg} in \[0, 1\), got {re.escape(repr(rate))}\. Fix: GRU\(32, {arg}=0\.2\)",
    ):
        GRU(2, **{arg: rate})


def test_use_cudnn_validation_and_insistence():
    with pytest.raises(ValueError, match=r"LSTM: expected use_cudnn to be 'auto', True or False, got 'yes'\."):
        LSTM(2, use_cudnn="yes")
    layer = GRU(2, reset_after=False, use_cudnn=True, name="gru_strict")
    with pytest.raises(
        ValueError,
        match=r"Layer 'gru_strict' \(GRU\): use_cudnn=True needs the fused kernel's configuration "
        r"\(activation='tanh', recurrent_activation='sigmoid', reset_after=True.*got .*reset_after=False.*"
        r"Fix: use_cudnn='auto'",
    ):
        layer(torch.zeros(1, 2, 3))
    assert LSTM(2, use_cudnn=True)(torch.zeros(1, 2, 3)).shape == (1, 2)


@pytest.mark.parametrize("shape", [(4, 3), (2, 4, 3, 1)])
def test_rank_error(shape):
    rank = len(shape)
    with pytest.raises(
        ValueError,
        match=rf"Layer 'lstm_rank' \(LSTM\) expected input of rank 3 \(batch, time, features\), got shape "
        rf"{re.escape(str(shape))} of rank {rank}\. Fix: give sequences as \(N, T, F\) \(one feature per step: x\[\.\.\., None\] gives \(N, T, 1\); "
        r"after an LSTM, GRU or SimpleRNN, give that layer return_sequences=True\)",
    ):
        LSTM(2, name="lstm_rank")(torch.zeros(shape))


def test_feature_size_after_build_error():
    layer = GRU(2, name="gru_feat")
    layer(torch.zeros(1, 5, 3))
    layer(torch.zeros(4, 9, 3))  # another batch size and length are fine
    with pytest.raises(
        ValueError,
        match=r"Layer 'gru_feat' \(GRU\) was built for inputs of shape \(None, 5, 3\), got \(1, 5, 4\) "
        r"\(axis -1: expected 3, got 4\)\. Fix:",
    ):
        layer(torch.zeros(1, 5, 4))


def test_initial_state_count_and_shape_errors():
    layer = LSTM(4, name="lstm_init")
    x = torch.zeros(2, 5, 3)
    with pytest.raises(
        ValueError,
        match=r"Layer 'lstm_init' \(LSTM\): expected initial_state \[h0, c0\], 2 tensor\(s\) of shape "
        r"\(batch, units\) = \(2, 4\), got 1 of shape\(s\) \[\(2, 4\)\]\. "
        r"Fix: lstm_init\(x, initial_state=\[h0, c0\]\)",
    ):
        layer(x, initial_state=[torch.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"got 2 of shape\(s\) \[\(2, 4\), \(3, 4\)\]\. Fix:"):
        layer(x, initial_state=[torch.zeros(2, 4), torch.zeros(3, 4)])
    with pytest.raises(ValueError, match=r"'gru_init' \(GRU\): expected initial_state \[h0\], .*got 1 of shape"):
        GRU(4, name="gru_init")(x, initial_state=torch.zeros(2, 5))
    bi = Bidirectional(LSTM(4), name="bi_init")
    with pytest.raises(
        ValueError,
        match=r"Layer 'bi_init' \(Bidirectional\): expected initial_state \[h0_fw, c0_fw, h0_bw, c0_bw\] "
        r"\(4 tensors: the forward states, then the backward ones\), got 2\. Fix:",
    ):
        bi(x, initial_state=[torch.zeros(2, 4)] * 2)


def test_empty_sequence_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'gru_empty' \(GRU\): expected at least one time step, got inputs of shape "
        r"\(2, 0, 3\)\. "
        r"Fix: give sequences of length 1 or more",
    ):
        GRU(2, name="gru_empty")(torch.zeros(2, 0, 3))


def test_mask_shape_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'rnn_mask' \(SimpleRNN\): expected a mask of shape \(batch, time\) = \(2, 5\) "
        r"\(True = real step\), got \(2, 4\)\. Fix: mask = tokens != 0",
    ):
        SimpleRNN(3, name="rnn_mask")(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("bad, got", [(Dense(3), "Dense"), (LSTM, "the class LSTM"), ("lstm", "str")])
def test_bidirectional_needs_a_recurrent_layer(bad, got):
    with pytest.raises(
        ValueError,
        match=rf"Bidirectional: expected layer to be a recurrent layer instance \(SimpleRNN, LSTM, GRU or RNN\(cell\)\), "
        rf"got {got}\. Fix: Bidirectional\(LSTM\(32, return_sequences=True\)\)",
    ):
        Bidirectional(bad)
    with pytest.raises(ValueError, match=rf"expected backward_layer to be a recurrent layer .* got {got}\."):
        Bidirectional(LSTM(2), backward_layer=bad)


def test_bidirectional_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"Bidirectional: expected merge_mode to be one of 'concat', 'sum', 'mul', 'ave' or None, "
        r"got 'max'\. Fix:",
    ):
        Bidirectional(LSTM(2), merge_mode="max")
    with pytest.raises(
        ValueError,
        match=r"expected layer and backward_layer to read in opposite directions, got go_backwards=False "
        r"for both\. Fix: create backward_layer with go_backwards=True",
    ):
        Bidirectional(LSTM(2), backward_layer=LSTM(2))
    with pytest.raises(
        ValueError,
        match=r"expected layer and backward_layer to have the same return_sequences, got False and True\. "
        r"Fix: give both return_sequences=False",
    ):
        Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True, return_sequences=True))
