"""Keras 3's guide "Working with RNNs" (keras-io guides/_working_with_rnns.py),
ported as a learner would: ``import brainnet as keras``,
``from brainnet import layers``, the data made smaller (real MNIST rows as
time steps, a slice of it). Each test runs one section of the guide and
checks what it computes: shapes, the same numbers by another route (the
whole sequence at once, the cell in ``RNN``), training on real data.

The guide needed ``stateful=True`` (with ``layer.states`` and
``reset_states()``) on ``SimpleRNN``, ``LSTM``, ``GRU`` and ``RNN``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


def test_the_built_in_layers_and_what_they_return():
    """Sections "Built-in RNN layers: a simple example" and "Outputs and states"."""
    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.LSTM(128))
    model.add(layers.Dense(10))
    tokens = np.random.default_rng(0).integers(0, 1000, size=(4, 7))
    assert tuple(model(tokens).shape) == (4, 10)

    model = keras.Sequential()
    model.add(layers.Embedding(input_dim=1000, output_dim=64))
    model.add(layers.GRU(256, return_sequences=True))
    model.add(layers.SimpleRNN(128))
    model.add(layers.Dense(10))
    assert tuple(model(tokens).shape) == (4, 10)
    assert tuple(model.layers[1](model.layers[0](tokens)).shape) == (4, 7, 256)


def test_the_encoder_states_start_the_decoder():
    """Section "Outputs and states" (encoder-decoder with return_state and initial_state)."""
    torch.manual_seed(0)
    encoder_input = layers.Input(shape=(None,))
    encoder_embedded = layers.Embedding(input_dim=1000, output_dim=64)(encoder_input)
    output, state_h, state_c = layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = layers.Input(shape=(None,))
    decoder_embedded = layers.Embedding(input_dim=2000, output_dim=64)(decoder_input)
    decoder_output = layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = layers.Dense(10)(decoder_output)
    model = keras.Model([encoder_input, decoder_input], output)

    rng = np.random.default_rng(1)
    enc, dec = rng.integers(0, 1000, size=(3, 6)), rng.integers(0, 2000, size=(3, 4))
    got = model([enc, dec])
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    embeddings = {lay.input_dim: lay for lay in model.layers if isinstance(lay, layers.Embedding)}
    embed_enc, embed_dec = embeddings[1000], embeddings[2000]
    _, h, c = encoder(embed_enc(enc))
    by_hand = model.layers[-1](decoder(embed_dec(dec), initial_state=[h, c]))
    torch.testing.assert_close(got, by_hand, rtol=0, atol=1e-6)
    assert not torch.allclose(got, model.layers[-1](decoder(embed_dec(dec))))


def _paragraphs(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((20, 10, 50)).astype(np.float32) for _ in range(3)]


@pytest.mark.parametrize("make", [lambda: layers.LSTM(64, stateful=True),
                                  lambda: layers.GRU(16, stateful=True),
                                  lambda: layers.SimpleRNN(16, stateful=True),
                                  lambda: layers.RNN(layers.LSTMCell(16), stateful=True)],
                         ids=["LSTM", "GRU", "SimpleRNN", "RNN(LSTMCell)"])
def test_a_stateful_layer_fed_three_paragraphs_reads_them_as_one_sequence(make):
    """Section "Cross-batch statefulness"."""
    torch.manual_seed(2)
    paragraph1, paragraph2, paragraph3 = _paragraphs(2)
    lstm_layer = make()
    output = lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    output = lstm_layer(paragraph3)
    whole = type(lstm_layer).from_config({**lstm_layer.get_config(), "stateful": False, "name": "whole"})
    whole.build_from_shape((None, 30, 50))
    whole.load_state_dict(lstm_layer.state_dict())
    torch.testing.assert_close(output, whole(np.concatenate([paragraph1, paragraph2, paragraph3], axis=1)),
                               rtol=1e-5, atol=1e-5)
    # the kept states are not weights (the guide's "State Reuse" note)
    assert len(lstm_layer.weights) == len(whole.weights)
    assert all(s.shape[0] == 20 for s in lstm_layer.states)

    lstm_layer.reset_states()
    assert all(float(s.abs().sum()) == 0.0 for s in lstm_layer.states)
    torch.testing.assert_close(lstm_layer(paragraph1), whole(paragraph1), rtol=1e-6, atol=1e-6)


def test_the_states_of_a_stateful_layer_start_a_new_layer():
    """Section "RNN State Reuse"."""
    torch.manual_seed(3)
    paragraph1, paragraph2, paragraph3 = _paragraphs(3)
    lstm_layer = layers.LSTM(64, stateful=True)
    lstm_layer(paragraph1)
    output = lstm_layer(paragraph2)
    assert tuple(output.shape) == (20, 64)
    existing_state = lstm_layer.states
    new_lstm_layer = layers.LSTM(64)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    assert tuple(new_output.shape) == (20, 64)
    new_lstm_layer.set_weights(lstm_layer.get_weights())
    torch.testing.assert_close(new_lstm_layer(paragraph3, initial_state=existing_state), lstm_layer(paragraph3),
                               rtol=1e-6, atol=1e-6)


def test_stateful_layers_refuse_another_batch_size_a_compiled_step_and_a_bad_flag(monkeypatch):
    """Section "Cross-batch statefulness": the guide's note that every batch has the same size."""
    layer = layers.LSTM(8, stateful=True, name="memory")
    layer(np.zeros((20, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"'memory' \(LSTM, stateful=True\): expected batches of 20 sequences.*"
                                         r"got 7\. Fix: give every batch 20"):
        layer(np.zeros((7, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected stateful to be True or False, got 'yes'\. Fix: GRU\(32, stateful"):
        layers.GRU(4, stateful="yes")
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    with pytest.raises(ValueError, match=r"stateful=True\): expected an eager step .*Fix: .*jit_compile=False"):
        layer(np.zeros((20, 4, 3), np.float32))


def test_a_stateful_model_builds_its_graph_without_keeping_the_trial_states():
    """Section "Cross-batch statefulness", in a functional model and under Bidirectional."""
    torch.manual_seed(4)
    inputs = keras.Input(shape=(None, 5))
    bidir = layers.Bidirectional(layers.LSTM(4, stateful=True))
    model = keras.Model(inputs, bidir(inputs))
    assert bidir.forward_layer.states is None and bidir.backward_layer.states is None
    x = np.random.default_rng(4).random((6, 3, 5)).astype(np.float32)
    first = model(x)
    assert not torch.allclose(model(x), first)  # the second call starts from the first's states
    bidir.reset_states()
    torch.testing.assert_close(model(x), first, rtol=0, atol=0)


def test_bidirectional_shapes_as_the_guide_prints_them():
    """Section "Bidirectional RNNs"."""
    model = keras.Sequential()
    model.add(layers.Bidirectional(layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(layers.Bidirectional(layers.LSTM(32)))
    model.add(layers.Dense(10))
    assert [lay.compute_output_shape((None, 5, 10)) for lay in model.layers[:1]] == [(None, 5, 128)]
    assert tuple(model(np.zeros((2, 5, 10), np.float32)).shape) == (2, 10)
    assert model.count_params() == 38_400 + 41_216 + 650  # the guide's summary


def test_lstm_and_rnn_of_lstmcell_compute_the_same_on_mnist_rows_and_learn(mnist_dir):
    """Section "Performance optimization and CuDNN kernels" / "Using CuDNN kernels when available"."""
    torch.manual_seed(5)
    batch_size, input_dim, units, output_size = 64, 28, 64, 10

    def build_model(allow_cudnn_kernel=True):
        if allow_cudnn_kernel:
            lstm_layer = keras.layers.LSTM(units, input_shape=(None, input_dim))
        else:
            lstm_layer = keras.layers.RNN(keras.layers.LSTMCell(units), input_shape=(None, input_dim))
        return keras.models.Sequential(
            [lstm_layer, keras.layers.BatchNormalization(), keras.layers.Dense(output_size)]
        )

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=str(mnist_dir))
    x_train, x_test = x_train[:3000] / 255.0, x_test[:500] / 255.0
    y_train, y_test = y_train[:3000], y_test[:500]
    sample = x_train[0]

    model = build_model(allow_cudnn_kernel=True)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                  metrics=["accuracy"])
    before = model.evaluate(x_test, y_test, verbose=0)[0]
    history = model.fit(x_train, y_train, validation_data=(x_test, y_test), batch_size=batch_size, epochs=2,
                        verbose=0)
    assert history.history["val_loss"][-1] < before
    assert history.history["val_accuracy"][-1] > 0.3  # chance is 0.1

    noncudnn_model = build_model(allow_cudnn_kernel=False)
    noncudnn_model.set_weights(model.get_weights())
    noncudnn_model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer="sgd",
                           metrics=["accuracy"])
    np.testing.assert_allclose(noncudnn_model.predict(x_test[:64], verbose=0), model.predict(x_test[:64], verbose=0),
                               rtol=1e-4, atol=1e-5)

    cpu_model = build_model(allow_cudnn_kernel=True)
    cpu_model.set_weights(model.get_weights())
    result = np.argmax(cpu_model.predict_on_batch(np.expand_dims(sample, 0)), axis=1)
    assert result.shape == (1,)
    assert result[0] == np.argmax(model.predict(sample[None], verbose=0), axis=1)[0]


class NestedCell(keras.layers.Layer):
    """The guide's cell, as Keras 3's RNN (and brainnet's) can run it: its two
    inputs come joined on the feature axis and its two states flattened."""

    def __init__(self, unit_1, unit_2, unit_3, i1, i2, i3, **kwargs):
        self.unit_1, self.unit_2, self.unit_3 = unit_1, unit_2, unit_3
        self.i1, self.i2, self.i3 = i1, i2, i3
        self.state_size = [unit_1, unit_2 * unit_3]
        self.output_size = unit_1 + unit_2 * unit_3
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.kernel_1 = self.add_weight(shape=(self.i1, self.unit_1), initializer="uniform", name="kernel_1")
        self.kernel_2_3 = self.add_weight(
            shape=(self.i2, self.i3, self.unit_2, self.unit_3), initializer="uniform", name="kernel_2_3"
        )

    def call(self, inputs, states):
        input_1 = inputs[:, : self.i1]
        input_2 = inputs[:, self.i1 :].reshape(-1, self.i2, self.i3)
        s1, s2 = states
        output_1 = torch.matmul(input_1, self.kernel_1)
        output_2_3 = torch.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        state_1 = s1 + output_1
        state_2_3 = s2 + output_2_3.flatten(1)
        return torch.cat([output_1, output_2_3.flatten(1)], dim=-1), [state_1, state_2_3]

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3,
                "i1": self.i1, "i2": self.i2, "i3": self.i3}


class GuideNestedCell(keras.layers.Layer):
    """The guide's cell as written for tf.keras: shaped states, a tuple of inputs."""

    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.state_size = [(unit_1,), (unit_2, unit_3)]
        self.output_size = [(unit_1,), (unit_2, unit_3)]
        super().__init__(**kwargs)

    def call(self, inputs, states):
        return inputs, states


def test_nested_inputs_are_refused_with_the_fix_and_the_joined_port_computes_the_guides_sums():
    """Section "RNNs with list/dict inputs, or nested inputs" (not in Keras 3's RNN either)."""
    torch.manual_seed(6)
    unit_1, unit_2, unit_3 = 10, 5, 6
    i1, i2, i3 = 32, 8, 4
    batch_size, num_batches, timestep = 64, 2, 10
    with pytest.raises(ValueError, match=r"got GuideNestedCell whose state_size \[\(10,\), \(5, 6\)\] holds a shape, "
                                         r"\(10,\), where a size was expected .*Fix: "):
        keras.layers.RNN(GuideNestedCell(unit_1, unit_2, unit_3))
    input_1 = keras.Input((None, i1))
    input_2 = keras.Input((None, i2, i3))
    with pytest.raises(ValueError, match=r"\(RNN\): expected one input, a tensor of shape \(batch, time, features\), "
                                         r"got 2 inputs .*Fix: join them on the feature axis"):
        keras.layers.RNN(NestedCell(unit_1, unit_2, unit_3, i1, i2, i3))((input_1, input_2))

    cell = NestedCell(unit_1, unit_2, unit_3, i1, i2, i3)
    rnn = keras.layers.RNN(cell, return_state=True)
    joined = layers.Concatenate()([input_1, layers.Reshape((-1, i2 * i3))(input_2)])
    output, state_1, state_2_3 = rnn(joined)
    out_1 = layers.Lambda(lambda t: t[:, :unit_1])(output)
    out_2_3 = layers.Reshape((unit_2, unit_3))(layers.Lambda(lambda t: t[:, unit_1:])(output))
    model = keras.models.Model([input_1, input_2], [out_1, out_2_3])
    model.compile(optimizer="adam", loss="mse", metrics=["accuracy"])

    rng = np.random.default_rng(6)
    input_1_data = rng.random((batch_size * num_batches, timestep, i1)).astype("float32")
    input_2_data = rng.random((batch_size * num_batches, timestep, i2, i3)).astype("float32")
    target_1_data = rng.random((batch_size * num_batches, unit_1)).astype("float32")
    target_2_data = rng.random((batch_size * num_batches, unit_2, unit_3)).astype("float32")
    input_data = [input_1_data, input_2_data]
    target_data = [target_1_data, target_2_data]

    # NumPy: each output is the last step's product; each state the sum over the steps
    k1, k23 = cell.kernel_1.detach().numpy(), cell.kernel_2_3.detach().numpy()
    got_1, got_2_3 = model.predict(input_data, verbose=0)
    np.testing.assert_allclose(got_1, input_1_data[:, -1] @ k1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_2_3, np.einsum("bij,ijkl->bkl", input_2_data[:, -1], k23), rtol=1e-4, atol=1e-5)
    states = keras.Model([input_1, input_2], [state_1, state_2_3]).predict(input_data, verbose=0)
    np.testing.assert_allclose(states[0], (input_1_data @ k1).sum(axis=1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(states[1].reshape(-1, unit_2, unit_3),
                               np.einsum("btij,ijkl->bkl", input_2_data, k23), rtol=1e-4, atol=1e-4)

    before = model.evaluate(input_data, target_data, verbose=0)[0]
    history = model.fit(input_data, target_data, batch_size=batch_size, epochs=3, verbose=0)
    assert history.history["loss"][-1] < before
