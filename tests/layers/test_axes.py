"""RepeatVector and Permute: outputs against explicit NumPy loops (float64),
compute_output_shape (also with unknown sizes), errors, gradients, an
encoder-decoder that trains with RepeatVector, and save/load."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from brainnet.layers import LSTM, Dense, Input, Permute, RepeatVector, TimeDistributed
from brainnet.models import Model, Sequential, load_model
from brainnet.utils import set_random_seed


def _x(shape, seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))  # float64


@pytest.mark.parametrize("n", [1, 3])
def test_repeat_vector_against_a_loop(n):
    x = _x((4, 5))
    y = RepeatVector(n)(x).numpy()
    expected = np.zeros((4, n, 5))
    for b in range(4):
        for t in range(n):
            for f in range(5):
                expected[b, t, f] = x[b, f]  # y[b, t, f] = x[b, f]
    np.testing.assert_array_equal(y, expected)
    assert RepeatVector(n).compute_output_shape((4, 5)) == (4, n, 5)
    assert RepeatVector(n).compute_output_shape((None, 5)) == (None, n, 5)


def test_repeat_vector_gradient_sums_over_the_copies():
    x = _x((2, 3)).requires_grad_(True)
    RepeatVector(4)(x).sum().backward()
    torch.testing.assert_close(x.grad, torch.full((2, 3), 4.0, dtype=torch.float64))


@pytest.mark.parametrize("dims", [(1,), (2, 1), (1, 2), (3, 1, 2), (2, 3, 1), (3, 2, 1)])
def test_permute_against_a_loop(dims):
    sample = (2, 3, 4)[: len(dims)]
    x = _x((2, *sample))
    y = Permute(dims)(x).numpy()
    out_sample = tuple(sample[d - 1] for d in dims)  # output axis a is input axis dims[a]
    expected = np.zeros((2, *out_sample))
    for b in range(2):
        for i in itertools.product(*(range(s) for s in out_sample)):
            j = [0] * len(dims)
            for a, d in enumerate(dims):
                j[d - 1] = i[a]  # j_dims[a] = i_a
            expected[(b, *i)] = x[(b, *j)]
    np.testing.assert_array_equal(y, expected)
    assert Permute(dims).compute_output_shape((2, *sample)) == y.shape
    assert Permute(dims).compute_output_shape((None, *sample)) == (None, *out_sample)


def test_permute_keeps_unknown_lengths_unknown_in_a_functional_model():
    inputs = Input((None, 6))
    assert Permute((2, 1))(inputs).shape == (None, 6, None)


def test_encoder_decoder_with_repeat_vector_trains_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5, 2)).astype("float32")
    y = x[:, ::-1, :1].copy()  # reverse the sequence's first feature
    set_random_seed(0)
    model = Sequential([LSTM(8, input_shape=(5, 2)), RepeatVector(5), LSTM(8, return_sequences=True),
                        TimeDistributed(Dense(1)), Permute((2, 1)), Permute((2, 1))])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.output_shape == (None, 5, 1)
    model.save(tmp_path / "seq.brainnet")
    loaded = load_model(tmp_path / "seq.brainnet")
    assert loaded.layers[1].n == 5 and loaded.layers[4].dims == (2, 1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_functional_permute_output_shape_and_values():
    inputs = Input((3, 4))
    model = Model(inputs, Permute((2, 1))(inputs))
    x = _x((2, 3, 4)).float().numpy()
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.transpose(x, (0, 2, 1)))
    assert model.output_shape == (None, 4, 3)


def test_config_round_trip():
    for layer in (RepeatVector(4, name="r"), Permute((3, 1, 2), name="p")):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_errors():
    for bad in (0, -1, 2.5, "3", None, True):
        with pytest.raises(ValueError, match=r"RepeatVector: expected n to be a positive integer, got .*\. "
                                             r"Fix: RepeatVector\(n=32, \.\.\.\)\."):
            RepeatVector(bad)
    for bad in ((0, 1), (1, 1), (2, 3), (), (1.0, 2), "21", 2, None, (True,)):
        with pytest.raises(ValueError, match=r"Permute: expected dims to be a permutation of 1 … k \(1-based, the "
                                             r"batch axis left out\), got .*\. Fix: Permute\(\(2, 1\)\) swaps"):
            Permute(bad)
    with pytest.raises(ValueError, match=r"Layer 'rv' \(RepeatVector\) expected input of rank 2 \(batch, features\), "
                                         r"got shape \(2, 3, 4\) of rank 3\. Fix: give one vector per sample"):
        RepeatVector(3, name="rv")(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"Layer 'pm' \(Permute\) expected input of rank 3 \(batch, d1, d2\) for "
                                         r"dims=\(2, 1\), got shape \(2, 3\) of rank 2\. Fix: give dims one entry per "
                                         r"axis of a sample"):
        Permute((2, 1), name="pm")(torch.ones(2, 3))
