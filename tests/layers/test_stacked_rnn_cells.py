"""StackedRNNCells: Keras 3's state_size and output_size, one step against the
cells called by hand, RNN(StackedRNNCells(cells)) against a NumPy loop that
steps the cells by hand (the naive equations of test_recurrent.py) and against
RNN(cells) with the same weights, masks, initial states, dropout, saving and
the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import (LSTM, RNN, Bidirectional, Dense, GRUCell, Input, LSTMCell, SimpleRNNCell,
                             StackedRNNCells)
from brainnet.models import Model, Sequential, load_model
from test_recurrent import ATOL, B, F, T, f64, np_gru, np_lstm, npy
from test_rnn_cells import MinimalRNNCell, identity_cell, np_minimal, with_random_bias


def lstm_gru_stack():
    """StackedRNNCells([LSTMCell(8), GRUCell(4)]) built in float64 with random biases."""
    stack = StackedRNNCells([LSTMCell(8), GRUCell(4)])
    stack(f64(2, F), stack.get_initial_state(2))
    stack.to(torch.float64)
    for k, cell in enumerate(stack.cells):
        with_random_bias(cell, seed=10 + k)
    return stack


def np_stack_by_hand(stack, x, h0, c0, g0):
    """The stack's equation step by step: at each t the LSTM reads x_t, the GRU
    reads the LSTM's h_t; each through its own naive equation, one step at a time."""
    lstm, gru = stack.cells
    h, c, g = h0, c0, g0
    outputs = []
    for t in range(x.shape[1]):
        _, (h, c) = np_lstm(lstm, x[:, t : t + 1], h, c)
        _, (g,) = np_gru(gru, h[:, None, :], g)
        outputs.append(g)
    return np.stack(outputs, 1), [h, c, g]


def test_state_size_and_output_size_follow_keras():
    stack = StackedRNNCells([LSTMCell(8), GRUCell(4)])
    assert stack.state_size == [[8, 8], 4] and stack.output_size == 4
    assert StackedRNNCells([GRUCell(3), LSTMCell(6)]).output_size == 6
    # a cell without output_size: the output is its first state
    assert StackedRNNCells([LSTMCell(2), MinimalRNNCell(5)]).output_size == 5
    initial = stack.get_initial_state(3)
    assert [tuple(s.shape) for s in initial[0]] == [(3, 8), (3, 8)] and len(initial[1]) == 1
    bare = StackedRNNCells([MinimalRNNCell(2)]).get_initial_state(3)  # no get_initial_state, int state_size
    assert isinstance(bare[0], torch.Tensor) and bare[0].shape == (3, 2) and not bare[0].any()


def test_one_step_is_the_cells_called_in_turn():
    stack = lstm_gru_stack()
    lstm, gru = stack.cells
    x = f64(B, F, seed=3)
    states = [[f64(B, 8, seed=4), f64(B, 8, seed=5)], f64(B, 4, seed=6)]  # the GRU's state given bare
    out, new = stack(x, states)
    h, (h1, c1) = lstm(x, states[0])
    want, (g1,) = gru(h, [states[1]])
    torch.testing.assert_close(out, want, rtol=0, atol=0)
    assert isinstance(new[0], list) and isinstance(new[1], torch.Tensor)  # the structure given comes back
    for got, expected in zip([*new[0], new[1]], [h1, c1, g1]):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert stack.compute_output_shape((B, F)) == tuple(out.shape)


@pytest.mark.parametrize("nested", [False, True])
def test_rnn_of_a_stack_is_the_naive_loop_by_hand(nested):
    stack = lstm_gru_stack()
    rnn = RNN(stack, return_sequences=True, return_state=True)
    x = f64(B, T, F)
    h0, c0, g0 = f64(B, 8, seed=7), f64(B, 8, seed=8), f64(B, 4, seed=9)
    initial = [[h0, c0], [g0]] if nested else [h0, c0, g0]  # Keras's nested form, or flat
    out, *states = rnn(x, initial_state=initial)
    want, want_states = np_stack_by_hand(stack, x.numpy(), h0.numpy(), c0.numpy(), g0.numpy())
    np.testing.assert_allclose(npy(out), want, rtol=0, atol=ATOL)
    assert len(states) == 3
    for got, expected in zip(states, want_states):
        np.testing.assert_allclose(npy(got), expected, rtol=0, atol=ATOL)
    assert rnn.compute_output_shape((B, T, F)) == [(B, T, 4), (B, 8), (B, 8), (B, 4)]


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_stack_equals_the_list_of_cells_and_the_layerwise_reference(go_backwards):
    stack = lstm_gru_stack()
    as_list = RNN([LSTMCell(8), GRUCell(4)], return_sequences=True, return_state=True, go_backwards=go_backwards)
    rnn = RNN(stack, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = f64(B, T, F)
    as_list(x)
    as_list.set_weights(rnn.get_weights())
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 4:] = False
    mask[1, :2] = False
    got = rnn(x, mask=mask)
    for g, w in zip(got, as_list(x, mask=mask)):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
    # with a mask both cells skip the same steps, so the stack is the LSTM over
    # the sequence, then the GRU over the LSTM's outputs (each naive, masked)
    lstm, gru = stack.cells
    mid, (h_T, c_T) = np_lstm(lstm, x.numpy(), mask=mask.numpy(), go_backwards=go_backwards)
    mid = mid[:, ::-1] if go_backwards else mid  # np_run reverses it again
    top, (g_T,) = np_gru(gru, mid, mask=mask.numpy(), go_backwards=go_backwards)
    np.testing.assert_allclose(npy(got[0]), top, rtol=0, atol=ATOL)
    for g, w in zip(got[1:], [h_T, c_T, g_T]):
        np.testing.assert_allclose(npy(g), w, rtol=0, atol=ATOL)
    # the mask as a NumPy array, as Keras takes it, for RNN and for LSTM/GRU layers (it crashed: no attribute 'to')
    np.testing.assert_allclose(npy(rnn(x, mask=mask.numpy())[0]), top, rtol=0, atol=ATOL)
    lstm_layer = LSTM(8, return_sequences=True, go_backwards=go_backwards)
    lstm_layer(x)
    lstm_layer.set_weights(lstm.get_weights())
    for given in (mask, mask.numpy()):
        np.testing.assert_allclose(npy(lstm_layer(x, mask=given)), mid[:, ::-1] if go_backwards else mid, rtol=0,
                                   atol=ATOL)


def test_bidirectional_stack_takes_a_numpy_mask_as_keras():
    """Bidirectional(RNN(stack)) with a NumPy mask gives what the tensor mask gives (it crashed: no attribute
    'to'), with zeros at the masked steps (Keras's rule for Bidirectional)."""
    layer = Bidirectional(RNN(StackedRNNCells([LSTMCell(3), GRUCell(2)]), return_sequences=True))
    x = f64(B, T, F).float()
    mask = np.ones((B, T), dtype=bool)
    mask[0, 4:] = False
    with_tensor = layer(x, mask=torch.from_numpy(mask)).detach()
    torch.testing.assert_close(layer(x, mask=mask).detach(), with_tensor, rtol=0, atol=0)
    assert with_tensor.shape == (B, T, 4) and float(with_tensor[0, 4:].abs().max()) == 0.0
    assert float(with_tensor[0, :4].abs().min()) > 0.0


def test_a_stack_of_cells_of_ones_own_and_a_stack_inside_a_stack():
    x = f64(B, T, F)
    inner = StackedRNNCells([MinimalRNNCell(4), MinimalRNNCell(3)])
    rnn = RNN(StackedRNNCells([inner, MinimalRNNCell(2)]), return_sequences=True, return_state=True)
    out, *states = rnn(x)
    cells = [*inner.cells, rnn.cell.cells[1]]
    want, want_states = np_minimal(cells, x.numpy())
    np.testing.assert_allclose(npy(out), want, rtol=0, atol=ATOL)
    for got, expected in zip(states, want_states):
        np.testing.assert_allclose(npy(got), expected, rtol=0, atol=ATOL)
    assert rnn.cell.state_size == [[4, 3], 2] and len(states) == 3


def test_dropout_is_one_mask_per_sequence_for_each_cell_of_the_stack():
    torch.manual_seed(0)
    rnn = RNN(StackedRNNCells([identity_cell(dropout=0.5), identity_cell()]), return_sequences=True)
    x = torch.ones(64, 5, 3, dtype=torch.float64)
    y = rnn(x, training=True)
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same mask at every step
    assert torch.equal(rnn(x, training=False), x)
    assert all(c._masks is None for c in rnn.cell.cells)


def test_config_round_trip_save_load_fit_and_bidirectional(tmp_path):
    stack = StackedRNNCells([LSTMCell(8), GRUCell(4, reset_after=False)], name="two")
    config = stack.get_config()
    assert config["name"] == "two" and [c["class_name"] for c in config["cells"]] == ["LSTMCell", "GRUCell"]
    again = StackedRNNCells.from_config(config)
    assert again.state_size == stack.state_size and again.cells[1].reset_after is False

    inputs = Input((None, 5))
    hidden = RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)]), return_sequences=True)(inputs)
    outputs = Dense(2, activation="softmax")(Bidirectional(RNN(StackedRNNCells([SimpleRNNCell(3)])))(hidden))
    model = Model(inputs, outputs)
    assert hidden.shape == (None, None, 4) and outputs.shape == (None, 2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 5)).astype("float32")
    y = (x[:, :, 0].sum(1) > 0).astype("int64")
    model.compile("adam", "sparse_categorical_crossentropy", device="cpu")
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "stacked.brainnet")
    loaded = load_model(tmp_path / "stacked.brainnet")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    rnn = [layer for layer in loaded.layers if isinstance(layer, RNN)][0]
    assert isinstance(rnn.cell, StackedRNNCells) and [type(c) for c in rnn.cell.cells] == [LSTMCell, GRUCell]

    seq = Sequential([RNN(StackedRNNCells([LSTMCell(3), LSTMCell(2)]), input_shape=(T, F)), Dense(1)])
    seq.save(tmp_path / "seq.brainnet")
    xs = f64(B, T, F).float().numpy()
    np.testing.assert_array_equal(load_model(tmp_path / "seq.brainnet").predict(xs, verbose=0),
                                  seq.predict(xs, verbose=0))


def test_errors_of_stacked_rnn_cells():
    with pytest.raises(ValueError, match=r"StackedRNNCells: expected cells to be a non-empty list of cell instances "
                                         r"\(brainnet Layers with state_size and call\(inputs, states\) returning "
                                         r"\(output, new_states\)\), got LSTMCell \(one object, not a list\)\. "
                                         r"Fix: StackedRNNCells\(\[LSTMCell\(32\), GRUCell\(16\)\]\)\."):
        StackedRNNCells(LSTMCell(3))
    with pytest.raises(ValueError, match=r"got an empty list\. Fix: StackedRNNCells\("):
        StackedRNNCells([])
    with pytest.raises(ValueError, match=r"got Dense without a state_size\. Fix: StackedRNNCells\("):
        StackedRNNCells([LSTMCell(3), Dense(2)])
    with pytest.raises(ValueError, match=r"got the class GRUCell\. Fix: StackedRNNCells\("):
        StackedRNNCells([GRUCell])
    stack = StackedRNNCells([LSTMCell(3), GRUCell(2)])
    h, c, g = torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 2)
    with pytest.raises(ValueError, match=r"Layer 'stacked_rnn_cells\w*' \(StackedRNNCells\) expected states: one "
                                         r"entry per cell \(2\), each that cell's states, of shapes "
                                         r"\[\[\(2, 3\), \(2, 3\)\], \[\(2, 2\)\]\], got \[\[\(2, 3\)\], \[\(2, 3\)\], "
                                         r"\[\(2, 2\)\]\]\. Fix: stacked_rnn_cells\w*\(x_t, states\) with states = "
                                         r"stacked_rnn_cells\w*\.get_initial_state\(batch_size\) at the first step"):
        stack(torch.zeros(2, 4), [h, c, g])  # flat: RNN's form, not the stack's
    with pytest.raises(ValueError, match=r"got nothing\. Fix: "):
        stack(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"Layer 'stacked_rnn_cells\w*' \(StackedRNNCells\) expected input of rank 2 "
                                         r"\(batch, features\): one time step, got shape \(2, 5, 4\)"):
        stack(torch.zeros(2, 5, 4), stack.get_initial_state(2))
    with pytest.raises(ValueError, match=r"RNN: expected cell to be a cell instance"):
        RNN([StackedRNNCells([LSTMCell(3)]), "lstm"])


def test_docstring_example_runs():
    import doctest

    import brainnet.layers.stacked_rnn_cells as module

    failures, tried = doctest.testmod(module)
    assert tried >= 3 and failures == 0



def _rows_after(lines: list[str], row_start: str, count: int) -> list[str]:
    at = next(i for i, s in enumerate(lines) if s.startswith(row_start))
    return lines[at + 1:at + 1 + count]


def test_summary_states_what_the_stacked_cells_compute():
    """summary(show_equations=True) of RNN(StackedRNNCells([...])): the stack's recurrence, then each cell's
    own equation in order with the input it reads, not the generic one-cell RNN equation; a stack inside a
    list of cells is flattened into its cells, and a cell without an equation is named alone."""
    inputs = Input(shape=(T, F))
    stacked = RNN(StackedRNNCells([LSTMCell(8), GRUCell(4)]), return_sequences=True, name="stack")(inputs)
    nested = RNN([SimpleRNNCell(3), StackedRNNCells([MinimalRNNCell(3), LSTMCell(2)])], name="nested")(stacked)
    lines: list[str] = []
    Model(inputs, nested).summary(show_equations=True, print_fn=lines.append)
    assert _rows_after(lines, "stack (RNN)", 3) == [
        "    h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{t-1}),  h⁽⁰⁾_t = x_t,  k = 1 … 2,  output_t = h⁽²⁾_t",
        f"    cell_1 (LSTMCell): {LSTMCell.equation}",
        f"    cell_2 (GRUCell, x_t = h⁽¹⁾_t): {GRUCell.equation}",
    ]
    assert _rows_after(lines, "nested (RNN)", 4) == [
        "    h⁽ᵏ⁾_t, s⁽ᵏ⁾_t = cell_k(h⁽ᵏ⁻¹⁾_t, s⁽ᵏ⁾_{t-1}),  h⁽⁰⁾_t = x_t,  k = 1 … 3,  output_t = h⁽³⁾_t",
        f"    cell_1 (SimpleRNNCell): {SimpleRNNCell.equation}",
        "    cell_2 (MinimalRNNCell, x_t = h⁽¹⁾_t)",
        f"    cell_3 (LSTMCell, x_t = h⁽²⁾_t): {LSTMCell.equation}",
    ]
    assert RNN.equation not in "\n".join(lines)  # the generic one-cell equation is not what a stack computes


def test_summary_of_one_cell_names_the_cell_and_its_equation():
    lines: list[str] = []
    model = Sequential([Input(shape=(T, F)), RNN(LSTMCell(4), name="one")])
    model.summary(show_equations=True, print_fn=lines.append)
    assert _rows_after(lines, "one (RNN)", 2) == ["    output_t, states_t = cell(x_t, states_{t-1})",
                                                  f"    cell (LSTMCell): {LSTMCell.equation}"]
