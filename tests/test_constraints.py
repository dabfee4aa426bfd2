"""brainnet.constraints against NumPy formulas, and applied after each optimizer update."""

import json

import numpy as np
import pytest
import torch

from brainnet import constraints
from brainnet.callbacks import Callback
from brainnet.layers import LSTM, Conv1D, Conv2D, Dense, Dropout, Embedding, Flatten
from brainnet.models import Sequential, load_model
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

EPS = 1e-7


def _np_norms(w, axis):
    return np.sqrt((w ** 2).sum(axis=tuple(np.atleast_1d(axis)), keepdims=True))


def np_max_norm(w, m, axis):
    n = _np_norms(w, axis)
    return w * (np.clip(n, 0, m) / (EPS + n))


def np_min_max_norm(w, lo, hi, rate, axis):
    n = _np_norms(w, axis)
    return w * ((rate * np.clip(n, lo, hi) + (1 - rate) * n) / (EPS + n))


W = np.random.default_rng(0).normal(size=(5, 4, 3)) * np.array([0.1, 1.0, 3.0])  # norms on both sides of 1


@pytest.mark.parametrize("axis", [0, 1, [0, 1], -1])
def test_formulas_against_numpy(axis):
    t = torch.tensor(W)
    np.testing.assert_allclose(constraints.MaxNorm(1.5, axis)(t).numpy(), np_max_norm(W, 1.5, axis), rtol=1e-12)
    np.testing.assert_allclose(constraints.UnitNorm(axis)(t).numpy(), W / (EPS + _np_norms(W, axis)), rtol=1e-12)
    np.testing.assert_allclose(constraints.MinMaxNorm(0.5, 2.0, 0.7, axis)(t).numpy(),
                               np_min_max_norm(W, 0.5, 2.0, 0.7, axis), rtol=1e-12)
    np.testing.assert_array_equal(constraints.NonNeg()(t).numpy(), np.maximum(W, 0))
    capped = constraints.MaxNorm(1.5, axis)(t).numpy()
    assert (_np_norms(capped, axis) <= 1.5 + 1e-9).all()  # every norm within the bound


def test_get_serialize_and_names():
    assert type(constraints.get("max_norm")) is constraints.MaxNorm
    assert type(constraints.get("MaxNorm")) is constraints.MaxNorm
    assert constraints.max_norm is constraints.MaxNorm and constraints.get(None) is None
    for c in (constraints.MaxNorm(3, [0, 1, 2]), constraints.NonNeg(), constraints.UnitNorm(1),
              constraints.MinMaxNorm(0.1, 2.0, 0.5, 0)):
        again = constraints.get(json.loads(json.dumps(constraints.serialize(c))))
        assert type(again) is type(c) and again.get_config() == c.get_config()


def test_errors_teach():
    with pytest.raises(ValueError, match=r"constraints\.get: expected a constraint among None, 'max_norm', .* got "
                                         r"'maxnorm'\. Fix: kernel_constraint='max_norm'\."):
        constraints.get("maxnorm")
    with pytest.raises(ValueError, match=r"Dense: expected bias_constraint among .* got 3\. "
                                         r"Fix: bias_constraint=brainnet\.constraints\.MaxNorm\(3\)\."):
        Dense(2, bias_constraint=3)
    with pytest.raises(ValueError, match=r"MaxNorm: expected max_value to be a number > 0, got 0\. "
                                         r"Fix: MaxNorm\(max_value=3\)\."):
        constraints.MaxNorm(0)
    with pytest.raises(ValueError, match=r"MinMaxNorm: expected min_value to be a number ≥ 0, got -1"):
        constraints.MinMaxNorm(min_value=-1)
    with pytest.raises(ValueError, match=r"MinMaxNorm: expected min_value ≤ max_value, got min_value=2, "
                                         r"max_value=1\. Fix: MinMaxNorm\(min_value=1, max_value=2\)\."):
        constraints.MinMaxNorm(2, 1)
    with pytest.raises(ValueError, match=r"MinMaxNorm: expected rate in \(0, 1\], got 2\. Fix: MinMaxNorm\(rate=1\.0\)"):
        constraints.MinMaxNorm(rate=2)
    with pytest.raises(ValueError, match=r"UnitNorm: expected axis to be an integer or a list of integers .* got "
                                         r"'rows'\. Fix: UnitNorm\(axis=0\)"):
        constraints.UnitNorm("rows")
    with pytest.raises(ValueError, match=r"save: expected a brainnet\.constraints\.Constraint, got the function"):
        constraints.serialize(lambda w: w)


def test_conv2d_axes_are_keras_axes_on_the_stored_kernel():
    # Keras's MaxNorm(axis=[0, 1, 2]) on (kh, kw, in, out): one norm per output filter
    conv = Conv2D(6, 3, kernel_constraint=constraints.MaxNorm(0.5, axis=[0, 1, 2]))
    conv(torch.zeros(1, 5, 5, 4))
    with torch.no_grad():
        conv.kernel.mul_(10)
    keras = conv.kernel.detach().permute(2, 3, 1, 0).numpy().astype(np.float64)  # (kh, kw, in, out)
    want = np_max_norm(keras, 0.5, [0, 1, 2])
    conv.kernel.grad = torch.zeros_like(conv.kernel)
    constraints.apply(constraints.of_model(conv))
    got = conv.kernel.detach().permute(2, 3, 1, 0).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert np.allclose(np.sqrt((got ** 2).sum(axis=(0, 1, 2))), 0.5, rtol=1e-5)  # six filters at the bound
    assert conv.kernel.is_contiguous(memory_format=torch.channels_last)  # written in place
    conv1 = Conv1D(3, 2, kernel_constraint=constraints.UnitNorm(axis=[0, 1]))
    conv1(torch.zeros(1, 4, 5))
    conv1.kernel.grad = torch.zeros_like(conv1.kernel)
    constraints.apply(constraints.of_model(conv1))
    k = conv1.kernel.detach().permute(2, 1, 0).numpy()  # Keras's (k, in, out)
    np.testing.assert_allclose(np.sqrt((k ** 2).sum(axis=(0, 1))), 1.0, rtol=1e-5)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 6)) * 3).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("int64")


class NormsAfterEachStep(Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer, self.largest = layer, []

    def on_train_batch_end(self, batch, logs=None):
        k = self.layer.kernel.detach().numpy().astype(np.float64)
        self.largest.append(float(np.sqrt((k ** 2).sum(axis=0)).max()))


def _model(max_value=0.3, **compile_args):
    set_random_seed(0)
    hidden = Dense(8, activation="relu", kernel_constraint=constraints.MaxNorm(max_value),
                   bias_constraint="non_neg", input_shape=(6,))
    model = Sequential([hidden, Dropout(0.0), Dense(2, activation="softmax")])
    model.compile(SGD(0.5), "sparse_categorical_crossentropy", device="cpu", **compile_args)
    return model, hidden


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_keeps_max_norm_after_every_step(jit_compile):
    x, y = _data()
    model, hidden = _model(jit_compile=jit_compile)
    watch = NormsAfterEachStep(hidden)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False, callbacks=[watch])
    assert len(watch.largest) == 16 and max(watch.largest) <= 0.3 * (1 + 1e-6)
    assert max(watch.largest) > 0.29  # the bound was reached: the constraint did work
    assert float(hidden.bias.min()) >= 0.0


def test_fit_equals_a_hand_loop_of_sgd_then_the_numpy_constraint():
    x, y = _data(n=16)
    model, hidden = _model(max_value=0.25)
    weights = [w.detach().numpy().astype(np.float64) for w in model.weights]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    w1, b1, w2, b2 = weights
    for start in (0, 8):  # the same two steps by hand, in float64
        xb, yb = x[start:start + 8].astype(np.float64), y[start:start + 8]
        h = np.maximum(xb @ w1 + b1, 0)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - np.eye(2)[yb]) / len(yb)
        dh = (dz @ w2.T) * (h > 0)
        w1, b1 = w1 - 0.5 * (xb.T @ dh), b1 - 0.5 * dh.sum(0)
        w2, b2 = w2 - 0.5 * (h.T @ dz), b2 - 0.5 * dz.sum(0)
        w1, b1 = np_max_norm(w1, 0.25, 0), np.maximum(b1, 0)  # then the constraints
    for got, want in zip(model.weights, (w1, b1, w2, b2)):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=1e-6)


def test_no_constraint_no_work_and_frozen_or_gradless_weights_untouched():
    x, y = _data(n=16)
    plain = Sequential([Dense(4, input_shape=(6,)), Dense(2, activation="softmax")])
    plain.compile("sgd", "sparse_categorical_crossentropy", device="cpu")
    plain.fit(x, y, epochs=1, verbose=0)
    assert plain.optimizer.constraints == []
    model, hidden = _model()
    hidden.trainable = False
    with torch.no_grad():
        hidden.kernel.mul_(100)
    before = hidden.kernel.detach().clone()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert torch.equal(hidden.kernel, before)  # Keras: only the trainable weights being updated


def test_recurrent_and_embedding_constraints():
    set_random_seed(0)
    model = Sequential([Embedding(20, 4, embeddings_constraint=constraints.UnitNorm(axis=1), input_shape=(5,)),
                        LSTM(3, kernel_constraint="non_neg", recurrent_constraint=constraints.MaxNorm(0.1),
                             bias_constraint=constraints.MinMaxNorm(0.0, 0.5)),
                        Dense(2, activation="softmax")])
    model.compile(SGD(0.1), "sparse_categorical_crossentropy", device="cpu")
    rng = np.random.default_rng(0)
    model.fit(rng.integers(0, 20, (16, 5)), rng.integers(0, 2, 16), batch_size=8, epochs=1, verbose=0)
    emb, lstm = model.layers[0].embeddings.detach().numpy(), model.layers[1]
    np.testing.assert_allclose(np.sqrt((emb ** 2).sum(axis=1)), 1.0, rtol=1e-5)  # every row, looked up or not
    assert float(lstm.kernel.min()) >= 0
    assert np.sqrt((lstm.recurrent_kernel.detach().numpy() ** 2).sum(axis=0)).max() <= 0.1 + 1e-6
    assert np.linalg.norm(lstm.bias.detach().numpy()) <= 0.5 + 1e-6


def test_constraints_survive_save_and_load(tmp_path):
    x, y = _data(n=16)
    model, _ = _model()
    model.fit(x, y, epochs=1, verbose=0)
    config = model.layers[0].get_config()
    assert config["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 0.3, "axis": 0}}
    assert config["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    assert "kernel_constraint" not in model.layers[2].get_config()  # None: left out
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.layers[0].kernel_constraint.get_config() == {"max_value": 0.3, "axis": 0}
    assert type(loaded.layers[0].bias_constraint) is constraints.NonNeg
    loaded.fit(x * 10, y, epochs=1, verbose=0)
    norms = np.sqrt((loaded.layers[0].kernel.detach().numpy() ** 2).sum(axis=0))
    assert norms.max() <= 0.3 * (1 + 1e-6)
    conv = Conv2D.from_config(json.loads(json.dumps(
        Conv2D(2, 3, kernel_constraint=constraints.MaxNorm(2, [0, 1, 2])).get_config())))
    assert conv.kernel_constraint.get_config() == {"max_value": 2.0, "axis": [0, 1, 2]}


def test_flatten_model_with_conv_max_norm_trains():
    set_random_seed(1)
    model = Sequential([Conv2D(3, 3, kernel_constraint=constraints.MaxNorm(0.2, axis=[0, 1, 2]),
                               input_shape=(6, 6, 1)), Flatten(), Dense(2, activation="softmax")])
    model.compile(SGD(1.0), "sparse_categorical_crossentropy", device="cpu")
    rng = np.random.default_rng(1)
    model.fit(rng.normal(size=(16, 6, 6, 1)).astype("float32") * 5, rng.integers(0, 2, 16), epochs=2, verbose=0)
    k = model.layers[0].kernel.detach().permute(2, 3, 1, 0).numpy()
    assert np.sqrt((k ** 2).sum(axis=(0, 1, 2))).max() <= 0.2 * (1 + 1e-6)
