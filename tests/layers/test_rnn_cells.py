"""RNN(cell) and the cells SimpleRNNCell, LSTMCell, GRUCell: each cell's step
against the naive NumPy equations of test_recurrent.py (the cells keep the
layers' weights and attributes, so the same references apply), RNN(cell)
against the ready-made layer with the same weights, a cell of one's own (the
Keras guide's MinimalRNNCell) against a NumPy loop, stacking, masks, dropout,
saving, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (GRU, LSTM, RNN, Dense, GRUCell, Input, Layer, LSTMCell, SimpleRNN, SimpleRNNCell)
from brainnet.models import Model, Sequential, load_model
from brainnet.saving import register_serializable
from test_recurrent import ATOL, B, F, T, U, f64, np_gru, np_lstm, np_simple_rnn, npy

PAIRS = [
    (lambda **kw: SimpleRNNCell(U, activation="relu", **kw), lambda **kw: SimpleRNN(U, activation="relu", **kw),
     np_simple_rnn),
    (lambda **kw: LSTMCell(U, **kw), lambda **kw: LSTM(U, **kw), np_lstm),
    (lambda **kw: GRUCell(U, **kw), lambda **kw: GRU(U, **kw), np_gru),
    (lambda **kw: GRUCell(U, reset_after=False, **kw), lambda **kw: GRU(U, reset_after=False, **kw), np_gru),
]
IDS = ["simple_rnn", "lstm", "gru", "gru_reset_before"]


def with_random_bias(cell_or_layer, seed=1):
    if cell_or_layer.bias is not None:
        with torch.no_grad():
            cell_or_layer.bias.copy_(f64(*cell_or_layer.bias.shape, seed=seed) * 0.5)
    return cell_or_layer


@pytest.mark.parametrize("make_cell, make_layer, naive", PAIRS, ids=IDS)
def test_one_step_of_a_cell_is_the_naive_equation(make_cell, make_layer, naive):
    cell = make_cell()
    x = f64(B, F)
    states = [f64(B, U, seed=2 + i) for i in range(cell.n_states)]
    cell(x, states)  # builds
    with_random_bias(cell)
    out, new = cell(x, states)
    want, want_states = naive(cell, x.numpy()[:, None, :], *[s.numpy() for s in states])
    np.testing.assert_allclose(npy(out), want[:, 0], rtol=0, atol=ATOL)
    assert len(new) == cell.n_states
    for got, expected in zip(new, want_states):
        np.testing.assert_allclose(npy(got), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("make_cell, make_layer, naive", PAIRS, ids=IDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_rnn_of_a_cell_equals_the_layer_with_the_same_weights(make_cell, make_layer, naive, go_backwards):
    rnn = RNN(make_cell(), return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer = make_layer(return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = f64(B, T, F)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:] = False  # padding at the end
    mask[1, :2] = False  # and at the start
    rnn(x), layer(x)
    with_random_bias(rnn.cell)
    layer.set_weights(rnn.get_weights())
    got, want = rnn(x, mask=mask), layer(x, mask=mask)
    assert len(got) == len(want) == 1 + rnn.cell.n_states
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-9)
    naive_out, _ = naive(rnn.cell, x.numpy(), mask=mask.numpy(), go_backwards=go_backwards)
    np.testing.assert_allclose(npy(got[0]), naive_out, rtol=0, atol=ATOL)
    # and the gradients of the same loss, weight by weight
    for module, out in ((rnn, rnn(x)[0]), (layer, layer(x)[0])):
        module.zero_grad()
        (out ** 2).sum().backward()
    for (name, p), q in zip(rnn.named_parameters(), layer.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-9, msg=name)


def test_initial_state_and_the_states_returned():
    rnn = RNN(LSTMCell(U), return_state=True)
    x = f64(B, T, F)
    h0, c0 = f64(B, U, seed=3), f64(B, U, seed=4)
    out, h, c = rnn(x, initial_state=[h0, c0])
    want, (h_T, c_T) = np_lstm(rnn.cell, x.numpy(), h0.numpy(), c0.numpy())
    np.testing.assert_allclose(npy(out), want[:, -1], rtol=0, atol=ATOL)
    np.testing.assert_allclose(npy(c), c_T, rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match=r"Layer 'rnn\w*' \(RNN\) expected initial_state: 2 tensor\(s\) of shape\(s\) "
                                         r"\[\(3, 5\), \(3, 5\)\] \(each cell's states in order\), got 1 of shape\(s\) "
                                         r"\[\(3, 5\)\]\. Fix: rnn\w*\(x, initial_state=\[\.\.\.\]\)"):
        rnn(x, initial_state=[h0])


@register_serializable(package="test_rnn_cells")
class MinimalRNNCell(Layer):
    """The Keras guide's cell: output_t = x_t W + h_{t-1} U, one state."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                name="recurrent_kernel")

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def np_minimal(cells, x):
    """The stacked loop by hand: at each step each cell reads the one below."""
    hs = [np.zeros((x.shape[0], c.units)) for c in cells]
    outs = []
    for t in range(x.shape[1]):
        inp = x[:, t]
        for k, c in enumerate(cells):
            hs[k] = inp @ npy(c.kernel) + hs[k] @ npy(c.recurrent_kernel)
            inp = hs[k]
        outs.append(inp)
    return np.stack(outs, 1), hs


def test_a_cell_of_ones_own_alone_and_stacked():
    x = f64(B, T, F)
    one = RNN(MinimalRNNCell(4), return_sequences=True)
    np.testing.assert_allclose(npy(one(x)), np_minimal([one.cell], x.numpy())[0], rtol=0, atol=ATOL)
    stack = RNN([MinimalRNNCell(4), LSTMCell(3), MinimalRNNCell(2)], return_state=True)
    out, *states = stack(x)
    assert out.shape == (B, 2) and [tuple(s.shape) for s in states] == [(B, 4), (B, 3), (B, 3), (B, 2)]
    # the LSTM cell in the middle, checked through its own naive equation on what the first cell gave it
    first_out, _ = np_minimal([stack.cells[0]], x.numpy())
    mid, (h_T, c_T) = np_lstm(stack.cells[1], first_out)
    np.testing.assert_allclose(npy(states[1]), h_T, rtol=0, atol=ATOL)
    top, _ = np_minimal([stack.cells[2]], mid)
    np.testing.assert_allclose(npy(out), top[:, -1], rtol=0, atol=ATOL)


def test_symbolic_sequential_summary_fit_and_save(tmp_path, capsys):
    inputs = Input((None, 5))
    hidden = RNN([MinimalRNNCell(8), GRUCell(6)], return_sequences=True)(inputs)
    outputs = Dense(2, activation="softmax")(RNN(LSTMCell(4))(hidden))
    model = Model(inputs, outputs)
    assert hidden.shape == (None, None, 6) and outputs.shape == (None, 2)
    seq = Sequential([RNN(SimpleRNNCell(7), input_shape=(None, 5)), Dense(2)])
    seq.summary()
    assert "(None, 7)" in capsys.readouterr().out
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 5)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "cells.brainnet")
    loaded = load_model(tmp_path / "cells.brainnet")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    stacked = [layer for layer in loaded.layers if isinstance(layer, RNN) and layer.stacked]
    assert len(stacked) == 1 and isinstance(stacked[0].cells[0], MinimalRNNCell)


def identity_cell(**kwargs):
    cell = SimpleRNNCell(3, activation="linear", use_bias=False, **kwargs)
    cell(torch.zeros(1, 3, dtype=torch.float64), [torch.zeros(1, 3, dtype=torch.float64)])
    cell.set_weights([np.eye(3), np.zeros((3, 3))])  # h_t = x_t · m
    return cell


def test_dropout_in_a_cell_is_one_mask_per_sequence_inside_rnn():
    torch.manual_seed(0)
    rnn = RNN(identity_cell(dropout=0.5), return_sequences=True)
    x = torch.ones(64, 5, 3, dtype=torch.float64)
    y = rnn(x, training=True)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert 0.3 < float((y == 0).double().mean()) < 0.7
    assert torch.equal(rnn(x, training=False), x)
    assert rnn.cell._masks is None  # nothing kept after the sequence


def test_errors_of_rnn_and_cells():
    with pytest.raises(ValueError, match=r"RNN: expected cell to be a cell instance \(a brainnet Layer with "
                                         r"state_size, .*\), got the class LSTMCell\. Fix: RNN\(LSTMCell\(32\)\)"):
        RNN(LSTMCell)
    with pytest.raises(ValueError, match=r"got Dense without a state_size\. Fix: RNN\(LSTMCell\(32\)\), or set "
                                         r"self\.state_size = units in your cell's __init__\."):
        RNN(Dense(3))
    with pytest.raises(ValueError, match=r"got function, not a brainnet Layer\."):
        RNN(lambda x, s: (x, s))
    with pytest.raises(ValueError, match=r"RNN: expected a cell or a list of cells, got an empty list\. "
                                         r"Fix: RNN\(\[LSTMCell\(32\)\]\)\."):
        RNN([])
    cell = LSTMCell(4)
    with pytest.raises(ValueError, match=r"Layer 'lstm_cell\w*' \(LSTMCell\) expected states: a list of 2 tensor\(s\) "
                                         r"of shape \(batch, units\) = \(2, 4\), got 1 of shape\(s\) \[\(2, 4\)\]\. "
                                         r"Fix: lstm_cell\w*\(x_t, states\) with states = lstm_cell\w*\.get_initial_state"):
        cell(torch.zeros(2, 3), [torch.zeros(2, 4)])
    with pytest.raises(ValueError, match=r"Layer 'lstm_cell\w*' \(LSTMCell\) expected input of rank 2 \(batch, "
                                         r"features\): one time step, got shape \(2, 5, 3\)"):
        cell(torch.zeros(2, 5, 3), cell.get_initial_state(2))
    rnn = RNN(GRUCell(4))
    with pytest.raises(ValueError, match=r"Layer 'rnn\w*' \(RNN\) expected a mask of shape \(batch, time\) = "
                                         r"\(2, 5\) \(True = real step\), got \(2, 4\)\. Fix: mask = tokens != 0"):
        rnn(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"Layer 'rnn\w*' \(RNN\): expected at least one time step, got inputs of "
                                         r"shape \(2, 0, 3\)\. Fix: give sequences of length 1 or more"):
        rnn(torch.zeros(2, 0, 3))
    with pytest.raises(ValueError, match=r"SimpleRNNCell: expected dropout in \[0, 1\), got 1\.5"):
        SimpleRNNCell(3, dropout=1.5)


def test_bidirectional_of_an_rnn_of_cells_equals_it_of_the_layer(tmp_path):
    from brainnet.layers import Bidirectional

    torch.manual_seed(0)
    x = f64(B, T, F)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:] = False
    generic = Bidirectional(RNN(LSTMCell(U), return_sequences=True, return_state=True))
    layer = Bidirectional(LSTM(U, return_sequences=True, return_state=True))
    generic(x), layer(x)
    layer.set_weights(generic.get_weights())
    h0 = [f64(B, U, seed=s) for s in range(4)]  # [h_fw, c_fw, h_bw, c_bw]
    for got, want in zip(generic(x, mask=mask, initial_state=h0), layer(x, mask=mask, initial_state=h0)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-9)
    assert generic.forward_layer.state_names == ("h0", "c0")
    model = Sequential([Bidirectional(RNN(GRUCell(3)), input_shape=(T, F)), Dense(2)])
    model.save(tmp_path / "bi.brainnet")
    xs = x.float().numpy()
    np.testing.assert_array_equal(load_model(tmp_path / "bi.brainnet").predict(xs, verbose=0),
                                  model.predict(xs, verbose=0))
