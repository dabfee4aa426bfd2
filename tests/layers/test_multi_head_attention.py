"""MultiHeadAttention's weight arguments, as Keras 3's: kernel_initializer,
bias_initializer, kernel_regularizer, bias_regularizer, kernel_constraint and
bias_constraint, each applied to the query, key, value and output projections.

Initial values are checked against NumPy (Keras's fans computed here from the
kernel's shape, a seeded initializer's values, the output of a NumPy
multi-head attention with them); penalties against NumPy sums of the weights;
constraints after every optimizer step of fit. Float64 comparisons use
atol=1e-10; statistics of random kernels use bounds that fail with the fans
brainnet used before (fan_in = d, fan_out = H·d_k).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet import constraints, initializers
from brainnet.callbacks import Callback
from brainnet.layers import Dense, GlobalAveragePooling1D, Input, MultiHeadAttention
from brainnet.models import Model, load_model
from brainnet.optimizers import SGD
from brainnet.regularizers import L1, L2
from brainnet.utils import set_random_seed

ATOL = 1e-10
PROJECTIONS = ("query", "key", "value", "output")


def np_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fans of a kernel of rank ≥ 3: the last two axes times the product of the others."""
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def weights(layer: MultiHeadAttention) -> dict[str, np.ndarray]:
    return {n: p.detach().numpy().astype(np.float64) for n, p in layer.named_parameters()}


def np_mha(w: dict[str, np.ndarray], xq: np.ndarray, xv: np.ndarray) -> np.ndarray:
    """Q_h = x_q W_h^Q + b_h^Q (K, V alike, key = value), A_h = softmax(Q_h K_hᵀ/√d_k),
    y = Σ_h (A_h V_h) W_h^O + b^O."""
    q = np.einsum("btd,dhk->bthk", xq, w["query_dense.kernel"]) + w["query_dense.bias"]
    k = np.einsum("btd,dhk->bthk", xv, w["key_dense.kernel"]) + w["key_dense.bias"]
    v = np.einsum("btd,dhk->bthk", xv, w["value_dense.kernel"]) + w["value_dense.bias"]
    s = np.einsum("bihk,bjhk->bhij", q, k) / math.sqrt(q.shape[-1])
    a = np.exp(s - s.max(-1, keepdims=True))
    a /= a.sum(-1, keepdims=True)
    heads = np.einsum("bhij,bjhk->bihk", a, v)
    return np.einsum("bihk,hko->bio", heads, w["output_dense.kernel"]) + w["output_dense.bias"]


def test_default_glorot_uniform_uses_keras_fans_of_the_einsum_kernels():
    set_random_seed(0)
    layer = MultiHeadAttention(num_heads=4, key_dim=8, value_dim=6, output_shape=10)
    layer(torch.zeros(1, 5, 16), torch.zeros(1, 3, 12))
    w = weights(layer)
    shapes = {"query": (16, 4, 8), "key": (12, 4, 8), "value": (12, 4, 6), "output": (4, 6, 10)}
    for name, shape in shapes.items():
        kernel = w[f"{name}_dense.kernel"]
        assert kernel.shape == shape
        limit = math.sqrt(6 / sum(np_fans(shape)))  # e.g. query: √(6 / (4·16 + 8·16))
        assert np.abs(kernel).max() <= limit
        assert np.abs(kernel).max() > 0.9 * limit  # hundreds of draws: the bound is reached
        assert kernel.std() == pytest.approx(limit / math.sqrt(3), rel=0.15)
        assert not w[f"{name}_dense.bias"].any()  # bias_initializer="zeros"


def test_seeded_kernel_and_constant_bias_initializers_against_numpy():
    d, heads, key_dim = 6, 2, 3
    layer = MultiHeadAttention(heads, key_dim, kernel_initializer=initializers.GlorotUniform(seed=7),
                               bias_initializer=initializers.Constant(0.25))
    xq, xv = np.random.default_rng(1).normal(size=(2, 4, d)), np.random.default_rng(2).normal(size=(2, 5, d))
    out = layer(torch.from_numpy(xq), torch.from_numpy(xv)).detach().numpy()
    w = weights(layer)
    for name in PROJECTIONS:
        kernel = w[f"{name}_dense.kernel"]
        # a seeded initializer gives the same values for the same shape (as Keras, whose sublayers get copies)
        want = initializers.GlorotUniform(seed=7)(kernel.shape).numpy()
        np.testing.assert_array_equal(kernel, want)
        assert np.abs(kernel).max() <= math.sqrt(6 / sum(np_fans(kernel.shape)))
        np.testing.assert_array_equal(w[f"{name}_dense.bias"], np.full(w[f"{name}_dense.bias"].shape, 0.25))
    np.testing.assert_array_equal(w["query_dense.kernel"], w["key_dense.kernel"])  # (d, H, d_k) both
    np.testing.assert_allclose(out, np_mha(w, xq, xv), rtol=0, atol=ATOL)


def test_kernel_and_bias_penalties_in_model_losses_against_numpy():
    set_random_seed(1)
    x = Input(shape=(4, 6))
    mha = MultiHeadAttention(2, 3, kernel_regularizer=L2(0.01), bias_regularizer=L1(0.1),
                             bias_initializer="random_normal")
    model = Model(x, mha(x, x))
    w = weights(mha)
    want = sum(0.01 * (w[f"{n}_dense.kernel"] ** 2).sum() + 0.1 * np.abs(w[f"{n}_dense.bias"]).sum()
               for n in PROJECTIONS)
    assert len(model.losses) == 8
    assert sum(float(t.detach()) for t in model.losses) == pytest.approx(want, rel=1e-6)


class AfterEachStep(Callback):
    """The largest kernel norm (over Keras's axis 0) and the smallest bias of the four projections."""

    def __init__(self, layer: MultiHeadAttention) -> None:
        super().__init__()
        self.layer, self.norms, self.biases = layer, [], []

    def on_train_batch_end(self, batch, logs=None):
        w = weights(self.layer)
        self.norms.append(max(float(np.sqrt((w[f"{n}_dense.kernel"] ** 2).sum(axis=0)).max()) for n in PROJECTIONS))
        self.biases.append(min(float(w[f"{n}_dense.bias"].min()) for n in PROJECTIONS))


def test_constraints_hold_after_every_step_of_fit():
    set_random_seed(2)
    x = Input(shape=(5, 8))
    mha = MultiHeadAttention(2, 4, kernel_constraint=constraints.MaxNorm(0.3), bias_constraint="non_neg",
                             bias_initializer=initializers.RandomNormal(stddev=0.5))
    model = Model(x, Dense(1)(GlobalAveragePooling1D()(mha(x, x))))
    assert min(float(b.detach().min()) for n, b in mha.named_parameters() if n.endswith("bias")) < 0
    model.compile(SGD(0.1), "mse", device="cpu")
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(32, 5, 8)).astype("float32")
    watch = AfterEachStep(mha)
    model.fit(xs, xs.mean(axis=(1, 2))[:, None], batch_size=8, epochs=2, verbose=0, callbacks=[watch])
    assert len(watch.norms) == 8
    assert max(watch.norms) <= 0.3 * (1 + 1e-6)  # each (h, k) column of (d, H, d_k), as Keras's MaxNorm(axis=0)
    assert max(watch.norms) > 0.29  # glorot columns start near 0.58: the constraint did the work
    assert min(watch.biases) >= 0.0


def test_config_round_trip_and_save_load(tmp_path):
    default = MultiHeadAttention(2, 3).get_config()
    assert default["kernel_initializer"] == "glorot_uniform" and default["bias_initializer"] == "zeros"
    assert "kernel_constraint" not in default and "kernel_regularizer" not in default  # None: left out
    set_random_seed(3)
    x = Input(shape=(4, 6))
    mha = MultiHeadAttention(2, 3, kernel_initializer=initializers.GlorotNormal(seed=1),
                             bias_initializer=initializers.Constant(0.1), kernel_regularizer=L2(0.01),
                             kernel_constraint=constraints.MaxNorm(2.0), bias_constraint="non_neg")
    model = Model(x, mha(x, x))
    config = json.loads(json.dumps(mha.get_config()))
    assert config["kernel_initializer"] == {"class_name": "GlorotNormal", "config": {"seed": 1}}
    assert config["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.1}}
    assert config["kernel_constraint"] == {"class_name": "MaxNorm", "config": {"max_value": 2.0, "axis": 0}}
    assert config["bias_constraint"] == {"class_name": "NonNeg", "config": {}}
    assert MultiHeadAttention.from_config(config).get_config() == config
    model.save(tmp_path / "mha.keras")
    loaded = load_model(tmp_path / "mha.keras")
    again = loaded.layers[-1]
    assert isinstance(again, MultiHeadAttention) and again.get_config() == mha.get_config()
    assert type(again.query_dense.kernel_constraint) is constraints.MaxNorm
    xs = np.random.default_rng(4).normal(size=(3, 4, 6)).astype("float32")
    np.testing.assert_allclose(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0), rtol=0, atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected kernel_initializer among zeros, .* got "
                                         r"'glorot_unifrom'\. Fix: kernel_initializer='glorot_uniform'\."):
        MultiHeadAttention(2, 3, kernel_initializer="glorot_unifrom")
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected bias_initializer among .* got None\. "
                                         r"Fix: bias_initializer='zeros'\."):
        MultiHeadAttention(2, 3, bias_initializer=None)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected kernel_constraint among None, 'max_norm', "
                                         r".* got 'maxnorm'\. Fix: kernel_constraint='max_norm'\."):
        MultiHeadAttention(2, 3, kernel_constraint="maxnorm")
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected bias_constraint among .* got 3\. "
                                         r"Fix: bias_constraint=brainnet\.constraints\.MaxNorm\(3\)\."):
        MultiHeadAttention(2, 3, bias_constraint=3)
    flat = MultiHeadAttention(2, 3, kernel_initializer=lambda shape, dtype=None: torch.zeros(6, 6))
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected the initializer .* to return a value of "
                                         r"shape \(6, 2, 3\), got \(6, 6\)\. Fix: return a tensor or array of "
                                         r"the shape it is given"):
        flat(torch.zeros(1, 4, 6), torch.zeros(1, 4, 6))
