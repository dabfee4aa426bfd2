"""Masking, Identity and ActivityRegularization against naive NumPy loops
(float64, exact); Masking's mask makes an LSTM skip padded steps (equal to the
LSTM on the unpadded sequences) in Sequential and functional models; the
activity penalty in model.losses and in evaluate; configs, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import LSTM, ActivityRegularization, Dense, Identity, Input, Masking
from brainnet.models import Model, Sequential, load_model
from brainnet.utils import set_random_seed


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def padded(lengths: list[int], t: int = 6, f: int = 3, pre: bool = False, value: float = 0.0) -> torch.Tensor:
    x = f64(len(lengths), t, f) + 5.0  # no real step equals the padding
    for n, length in enumerate(lengths):
        if pre:
            x[n, : t - length] = value
        else:
            x[n, length:] = value
    return x


def test_masking_matches_the_naive_equation():
    x = padded([2, 6, 4], value=-1.0)
    x[0, 0, 1] = -1.0  # one padding value among real ones keeps the step
    layer = Masking(mask_value=-1.0)
    y, mask = layer(x), layer.compute_mask(x, None)
    n_, t_, f_ = x.shape
    for n in range(n_):
        for t in range(t_):
            real = any(float(x[n, t, f]) != -1.0 for f in range(f_))
            assert bool(mask[n, t]) == real
            for f in range(f_):
                assert float(y[n, t, f]) == (float(x[n, t, f]) if real else 0.0)
    assert mask.tolist()[0] == [True, True, False, False, False, False]


@pytest.mark.parametrize("functional", [False, True])
@pytest.mark.parametrize("pre", [False, True])
def test_lstm_after_masking_equals_the_lstm_on_the_unpadded_sequences(functional, pre):
    lengths, t, f = [2, 6, 4], 6, 3
    x = padded(lengths, t, f, pre=pre).float()
    set_random_seed(0)
    if functional:
        inp = Input(shape=(t, f))
        model = Model(inp, LSTM(5)(Masking()(inp)))
    else:
        model = Sequential([Masking(input_shape=(t, f)), LSTM(5)])
    lstm = next(layer for layer in model.layers if isinstance(layer, LSTM))
    out = model.predict(x.numpy())
    alone = LSTM(5)
    alone(x[:1, :1])
    alone.set_weights(lstm.get_weights())
    for n, length in enumerate(lengths):
        steps = x[n : n + 1, t - length :] if pre else x[n : n + 1, :length]
        np.testing.assert_allclose(out[n], alone(steps)[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    if not pre:  # (zeros before the first step leave a zero LSTM state at zero: only trailing padding shows)
        unmasked = LSTM(5)
        unmasked(x[:1])
        unmasked.set_weights(lstm.get_weights())
        assert not np.allclose(out[0], unmasked(x[:1])[0].detach().numpy(), atol=1e-4)  # the padding would count


def test_identity():
    x = f64(2, 3, 4)
    assert torch.equal(Identity()(x), x)
    assert Identity().compute_output_shape((None, 3, 4)) == (None, 3, 4)


def test_activity_regularization_penalty_matches_naive_and_is_in_evaluate():
    x = f64(4, 3)
    layer = ActivityRegularization(l1=0.1, l2=0.3)
    y = layer(x)
    assert torch.equal(y, x)
    naive = 0.0
    for v in x.numpy().ravel():
        naive += 0.1 * abs(v) + 0.3 * v * v
    assert layer.losses[0].item() == pytest.approx(naive, rel=1e-12)
    xs, ys = np.random.default_rng(1).normal(size=(8, 3)).astype("float32"), np.zeros((8, 2), "float32")
    set_random_seed(0)
    model = Sequential([Dense(2, input_shape=(3,)), ActivityRegularization(l2=0.5)])
    plain = Sequential([Dense(2, input_shape=(3,))])
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile("sgd", "mse")
    h = plain.predict(xs)
    diff = model.evaluate(xs, ys, batch_size=8, verbose=0) - plain.evaluate(xs, ys, batch_size=8, verbose=0)
    assert diff == pytest.approx(0.5 * float((h.astype(np.float64) ** 2).sum()), rel=1e-5)
    assert len(model.losses) == 1


def test_config_and_save_load(tmp_path):
    for layer in (Masking(mask_value=-1.0), Identity(), ActivityRegularization(l1=0.01, l2=0.02)):
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
    model = Sequential([Masking(input_shape=(6, 3)), Identity(), LSTM(4), ActivityRegularization(l2=0.1), Dense(1)])
    x = padded([3, 5]).float().numpy()
    path = tmp_path / "masked.brainnet"
    model.save(path)
    np.testing.assert_array_equal(load_model(path).predict(x), model.predict(x))


def test_errors():
    with pytest.raises(ValueError, match="expected mask_value to be a number, got '0'.*Fix: Masking"):
        Masking(mask_value="0")
    with pytest.raises(ValueError, match="ActivityRegularization: expected l1 to be a number ≥ 0, got -1.*Fix: ActivityRegularization"):
        ActivityRegularization(l1=-1)
    with pytest.raises(ValueError, match=r"expected input of rank at least 3 \(batch, time, features\)"):
        Masking()(torch.ones(2, 3))
