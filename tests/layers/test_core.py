"""Core layers (Dense, Flatten, Dropout, Activation, Reshape) against naive
NumPy versions of their docstring equations, in float64.

Tolerance: atol=1e-10 (float64; the naive loops sum in a different order).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch

from brainnet.layers import Activation, Dense, Dropout, Flatten, Reshape

ATOL = 1e-10


# ------------------------------------------------------------------ naive refs
def np_activation(name: str, z: np.ndarray) -> np.ndarray:
    """Element-wise formulas; softmax over the last axis, by explicit loops."""
    if name in (None, "linear"):
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        out = np.empty_like(z)
        for idx in np.ndindex(*z.shape[:-1]):
            row = z[idx]
            e = np.exp(row - row.max())
            out[idx] = e / e.sum()
        return out
    raise AssertionError(name)


def dense_naive(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, act: str | None) -> np.ndarray:
    """y[..., j] = f(Σ_k x[..., k]·w[k, j] + b[j]), one output at a time."""
    k_dim, units = w.shape
    z = np.zeros(x.shape[:-1] + (units,))
    for idx in np.ndindex(*x.shape[:-1]):
        for j in range(units):
            s = 0.0 if b is None else b[j]
            for k in range(k_dim):
                s += x[idx + (k,)] * w[k, j]
            z[idx + (j,)] = s
    return np_activation(act, z)


def re_repr(value) -> str:
    """repr(value), escaped for pytest.raises(match=...)."""
    return re.escape(repr(value))


def re_shape(shape) -> str:
    """A shape as brainnet prints it, (12,) or (2, 3), escaped for match=."""
    dims = tuple(shape)
    return re.escape("(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")")


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


# ----------------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", [None, "linear", "relu", "sigmoid", "softmax"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 5)])
def test_dense_matches_naive_equation(activation, use_bias, shape):
    x = f64(*shape)
    layer = Dense(3, activation=activation, use_bias=use_bias)
    layer(x)  # build in float64
    assert layer.kernel.dtype == torch.float64
    assert tuple(layer.kernel.shape) == (5, 3)
    if use_bias:
        with torch.no_grad():  # a non-zero bias, so that adding it is checked
            layer.bias.copy_(torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64))
    else:
        assert layer.bias is None
        assert [n for n, _ in layer.named_parameters()] == ["kernel"]
    y = layer(x).detach().numpy()
    w = layer.kernel.detach().numpy()
    b = layer.bias.detach().numpy() if use_bias else None
    np.testing.assert_allclose(y, dense_naive(x.numpy(), w, b, activation), rtol=0, atol=ATOL)
    assert y.shape == shape[:-1] + (3,)


def test_dense_hand_example():
    layer = Dense(2, activation="relu")
    layer(torch.zeros(1, 3, dtype=torch.float64))
    layer.set_weights([np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 3.0]]), np.array([0.5, -10.0])])
    y = layer(torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64))
    # y_0 = relu(1·1 + 2·2 + 3·0 + 0.5) = 5.5 ; y_1 = relu(−1 + 0 + 9 − 10) = 0
    assert y.tolist() == [[5.5, 0.0]]


def test_dense_weights_follow_first_input_dtype():
    layer = Dense(2)
    layer(torch.ones(1, 3, dtype=torch.float64))
    assert all(w.dtype == torch.float64 for w in layer.weights)


def test_dense_built_axis_error():
    layer = Dense(2, name="dense_axis")
    layer(torch.ones(2, 4))
    with pytest.raises(
        ValueError,
        match=r"Layer 'dense_axis' \(Dense\) was built for inputs of shape \(None, 4\), got \(2, 5\) "
        r"\(axis -1: expected 4, got 5\)\. Fix: give inputs of the shape",
    ):
        layer(torch.ones(2, 5))


def test_dense_rank_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'dense_rank' \(Dense\) expected input of rank at least 2 \(batch, \.\.\., features\), "
        r"got shape \(4,\) of rank 1\. Fix: reshape the input",
    ):
        Dense(2, name="dense_rank")(torch.ones(4))


@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True, None])
def test_dense_units_validation(units):
    with pytest.raises(
        ValueError,
        match=rf"Dense: expected units to be a positive integer, got {re_repr(units)}\. Fix: Dense\(units=32",
    ):
        Dense(units)


def test_dense_accepts_numpy_integer_units():
    layer = Dense(np.int64(3))
    assert layer(torch.ones(2, 4)).shape == (2, 3)
    assert type(layer.get_config()["units"]) is int  # still JSON-safe
    json.dumps(layer.get_config())


def test_dense_unknown_activation():
    with pytest.raises(ValueError, match=r"Unknown activation 'rellu'.*Fix: use activation='relu'"):
        Dense(2, activation="rellu")


# --------------------------------------------------------------------- Flatten
def test_flatten_keras_hwc_order():
    n_, h_, w_, c_ = 2, 3, 4, 5
    x = torch.arange(n_ * h_ * w_ * c_, dtype=torch.float64).reshape(n_, h_, w_, c_) * 0.5 - 7
    y = Flatten()(x)
    assert tuple(y.shape) == (n_, h_ * w_ * c_)
    for n in range(n_):
        for i in range(h_):
            for j in range(w_):
                for c in range(c_):
                    assert y[n, (i * w_ + j) * c_ + c] == x[n, i, j, c]


def test_flatten_non_contiguous_input_keeps_hwc_order():
    # An (N, H, W, C) view of an (N, C, H, W) tensor: logical order must win.
    nchw = torch.arange(2 * 3 * 4 * 5, dtype=torch.float64).reshape(2, 5, 3, 4)
    x = nchw.permute(0, 2, 3, 1)
    assert not x.is_contiguous()
    y = Flatten()(x)
    for n in range(2):
        for i in range(3):
            for j in range(4):
                for c in range(5):
                    assert y[n, (i * 4 + j) * 5 + c] == x[n, i, j, c]


def test_flatten_rank_error():
    with pytest.raises(ValueError, match=r"\(Flatten\) expected input of rank at least 2, got shape \(3,\)"):
        Flatten()(torch.ones(3))


# --------------------------------------------------------------------- Dropout
def test_dropout_identity_at_inference():
    x = f64(50, 40)
    layer = Dropout(0.5)
    assert torch.equal(layer(x, training=False), x)
    layer.eval()
    assert torch.equal(layer(x), x)


def test_dropout_training_rate_and_scaling():
    torch.manual_seed(0)
    rate = 0.3
    x = f64(400, 500, seed=1).abs() + 0.1  # no zeros in the input
    y = Dropout(rate)(x, training=True)
    dropped = y == 0
    frac = dropped.double().mean().item()
    # 200,000 Bernoulli draws: standard deviation ≈ 0.001; allow 5σ.
    assert abs(frac - rate) < 0.005
    survivors = ~dropped
    np.testing.assert_allclose(
        y[survivors].numpy(), x[survivors].numpy() / (1 - rate), rtol=1e-12, atol=0
    )
    # The expected value is kept: mean(y) ≈ mean(x).
    assert abs(y.mean().item() - x.mean().item()) < 0.02 * x.mean().item()


def test_dropout_rate_zero_is_identity_in_training():
    x = f64(20, 30)
    assert torch.equal(Dropout(0.0)(x, training=True), x)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_dropout_rate_validation(rate):
    with pytest.raises(
        ValueError, match=rf"Dropout: expected rate in \[0, 1\), got {re_repr(rate)}\. Fix: Dropout\(0\.5\)\."
    ):
        Dropout(rate)


# ------------------------------------------------------------------ Activation
@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "linear"])
def test_activation_layer_matches_formula(name):
    x = f64(3, 4, 6)
    y = Activation(name)(x).numpy()
    np.testing.assert_allclose(y, np_activation(name, x.numpy()), rtol=0, atol=ATOL)


def test_activation_layer_callable():
    x = f64(3, 4)
    assert torch.equal(Activation(torch.tanh)(x), torch.tanh(x))


def test_activation_layer_unknown_name():
    with pytest.raises(ValueError, match=r"Unknown activation 'sigmod'.*Fix: use activation='sigmoid'"):
        Activation("sigmod")


# --------------------------------------------------------------------- Reshape
def test_reshape_with_minus_one_row_major():
    x = torch.arange(2 * 12, dtype=torch.float64).reshape(2, 12)
    y = Reshape((3, -1))(x)
    assert tuple(y.shape) == (2, 3, 4)
    for n in range(2):
        for a in range(3):
            for b in range(4):
                assert y[n, a, b] == x[n, a * 4 + b]


def test_reshape_to_image():
    x = torch.arange(2 * 24, dtype=torch.float64).reshape(2, 24)
    y = Reshape((2, 3, 4))(x)
    for n in range(2):
        for i in range(2):
            for j in range(3):
                for c in range(4):
                    assert y[n, i, j, c] == x[n, (i * 3 + j) * 4 + c]


@pytest.mark.parametrize(
    "target, sample, known",
    [((5,), (12,), 5), ((5, -1), (12,), 5), ((2, 2), (3, 3), 4)],
)
def test_reshape_bad_target_error(target, sample, known):
    size = math.prod(sample)
    layer = Reshape(target, name="reshape_bad")
    pattern = (
        rf"Layer 'reshape_bad' \(Reshape\): cannot reshape samples of shape {re_shape(sample)} "
        rf"\({size} values\) to {re_shape(target)} \({known} values\)\. "
        rf"Fix: choose a target_shape with {size} values\."
    )
    with pytest.raises(ValueError, match=pattern):
        layer(torch.ones((2,) + sample))
    with pytest.raises(ValueError, match=pattern):
        layer.compute_output_shape((None,) + sample)


@pytest.mark.parametrize("target", [(-1, -1), (0, 3), (-2, 4)])
def test_reshape_target_validation(target):
    with pytest.raises(
        ValueError,
        match=r"Reshape: expected positive sizes and at most one -1 in target_shape, got .*"
        r"Fix: Reshape\(\(28, 28, 1\)\)\.",
    ):
        Reshape(target)


# ------------------------------------------------------- compute_output_shape
SHAPE_GRID = [
    (lambda: Dense(3), (4, 5)),
    (lambda: Dense(7, use_bias=False), (2, 3, 5)),
    (lambda: Dense(1, activation="softmax"), (2, 3, 4, 6)),
    (lambda: Flatten(), (2, 3, 4, 5)),
    (lambda: Flatten(), (2, 7)),
    (lambda: Dropout(0.5), (2, 3, 4)),
    (lambda: Activation("relu"), (2, 3)),
    (lambda: Reshape((3, -1)), (2, 12)),
    (lambda: Reshape((2, 2, 3)), (2, 3, 4)),
    (lambda: Reshape((-1,)), (2, 3, 4)),
]


@pytest.mark.parametrize("make, shape", SHAPE_GRID)
def test_compute_output_shape_equals_real_output(make, shape):
    layer = make()
    y = layer(torch.zeros(shape, dtype=torch.float64), training=False)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])
    assert layer.compute_output_shape(shape) == tuple(y.shape)


def test_compute_output_shape_unknown_sizes():
    assert Flatten().compute_output_shape((None, 3, None, 2)) == (None, None)
    assert Reshape((4, -1)).compute_output_shape((None, None)) == (None, 4, None)
    assert Dense(3).compute_output_shape((None, None, 5)) == (None, None, 3)


# ---------------------------------------------------------------- get_config
CONFIG_GRID = [
    lambda: Dense(4),
    lambda: Dense(3, activation="softmax", use_bias=False, name="out"),
    lambda: Dense(2, activation="relu", input_shape=(5,), trainable=False),
    lambda: Flatten(input_shape=(28, 28, 1)),
    lambda: Dropout(0.25),
    lambda: Activation("sigmoid"),
    lambda: Reshape((7, -1)),
]


@pytest.mark.parametrize("make", CONFIG_GRID)
def test_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    json.dumps(config)  # JSON-safe
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config  # the name included: from_config keeps it


def test_get_config_contents():
    assert Dense(3, activation="relu", name="d").get_config() == {
        "name": "d", "trainable": True, "units": 3, "activation": "relu", "use_bias": True,
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros",  # Keras's defaults, always kept
    }
    assert Reshape((2, -1), name="r").get_config() == {"name": "r", "trainable": True, "target_shape": [2, -1]}
    assert Dropout(0.5, name="x").get_config()["rate"] == 0.5


def test_empty_axis_is_refused_with_a_fix():
    # Found by tests/layers/test_properties.py: a size-0 axis reached torch
    # (RuntimeError in pooling, a reshape error in TransformerEncoder, NaN in
    # a mean). Every layer now checks it with its rank.
    from brainnet.layers import TransformerEncoder

    with pytest.raises(ValueError, match=r"Layer 'transformer_encoder(_\d+)?' \(TransformerEncoder\) expected at "
                                         r"least one value along every axis but the batch, got shape \(1, 0, 4\) "
                                         r"\(axis 1 is empty\)\. Fix:"):
        TransformerEncoder(8, 2)(torch.ones(1, 0, 4))
    with pytest.raises(ValueError, match=r"\(Dense\) expected at least one value .* \(axis 1 is empty\)"):
        Dense(3)(torch.ones(2, 0))
    assert Dense(3)(torch.ones(0, 4)).shape == (0, 3)  # an empty batch is fine


# ------------------------------------------------------------------- Rescaling
@pytest.mark.parametrize("scale, offset", [(1 / 255, 0.0), (1 / 127.5, -1.0), (2, 3)])
def test_rescaling_matches_naive(scale, offset):
    from brainnet.layers import Rescaling

    x = f64(2, 3, 3, 2)
    expected = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
        expected[idx] = x.numpy()[idx] * scale + offset
    np.testing.assert_allclose(Rescaling(scale, offset=offset)(x).numpy(), expected, rtol=0, atol=ATOL)


def test_rescaling_pixels_config_save_and_errors(tmp_path):
    from brainnet.layers import Rescaling
    from brainnet.models import Sequential, load_model

    pixels = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert Rescaling(1 / 255)(pixels).tolist() == [[0.0, 1.0]]  # integers come out as floats
    layer = Rescaling(1 / 127.5, offset=-1, name="px")
    assert layer.get_config() == {"name": "px", "trainable": True, "scale": 1 / 127.5, "offset": -1.0}
    assert Rescaling.from_config(json.loads(json.dumps(layer.get_config()))).get_config() == layer.get_config()
    model = Sequential([Rescaling(1 / 255, input_shape=(4,)), Dense(2)])
    model.save(tmp_path / "m.brainnet")
    x = np.arange(12, dtype="float32").reshape(3, 4) * 20
    np.testing.assert_array_equal(load_model(tmp_path / "m.brainnet").predict(x), model.predict(x))
    with pytest.raises(ValueError, match=re.escape("Rescaling: expected scale to be a number, got '1/255'. "
                                                   "Fix: Rescaling(1/255) for pixels in [0, 1]")):
        Rescaling("1/255")
