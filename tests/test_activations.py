"""Each named activation against its NumPy formula (float64, atol=1e-12), and
activations.get's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet import activations

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def np_softmax(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    for idx in np.ndindex(*z.shape[:-1]):
        e = np.exp(z[idx] - z[idx].max())
        out[idx] = e / e.sum()
    return out


FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: SELU_LAMBDA * np.where(x > 0, x, SELU_ALPHA * (np.exp(x) - 1)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "swish": lambda x: x / (1 + np.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0.0, 1.0),
    "tanh": lambda x: (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x)),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
    "exponential": np.exp,
    "softmax": np_softmax,
    "log_softmax": lambda x: np.log(np_softmax(x)),
}


def inputs() -> np.ndarray:
    # −8..8 including 0, ±3 (hard_sigmoid's corners) and ±6 (relu6's corner), as (3, 17, 3).
    x = np.concatenate([np.linspace(-8, 8, 145), [0.0, -3.0, 3.0, 6.0, -6.0, 1e-9, -1e-9]])
    x = np.concatenate([x, np.random.default_rng(0).normal(scale=3, size=153 - x.size)])
    return x.reshape(3, 17, 3)


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_activation_matches_formula(name):
    x = inputs()
    y = activations.get(name)(torch.from_numpy(x))
    assert y.dtype == torch.float64
    assert y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), FORMULAS[name](x), rtol=1e-12, atol=1e-12)


def test_every_named_activation_is_tested():
    assert set(activations._BY_NAME) == set(FORMULAS)


def test_softmax_rows_sum_to_one_over_last_axis():
    y = activations.softmax(torch.from_numpy(inputs()))
    np.testing.assert_allclose(y.sum(-1).numpy(), np.ones((3, 17)), rtol=0, atol=1e-12)


def test_softmax_and_log_softmax_take_keras_3s_axis():
    x = inputs()  # (3, 17, n)
    got = activations.softmax(torch.from_numpy(x), axis=1).numpy()
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(axis=1, keepdims=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(activations.log_softmax(torch.from_numpy(x), axis=0).numpy(),
                               x - np.log(np.exp(x).sum(axis=0, keepdims=True)), rtol=1e-10, atol=1e-12)


def test_hand_values():
    x = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
    assert activations.get("relu")(x).tolist() == [0.0, 0.0, 3.0]
    assert activations.get("leaky_relu")(x).tolist() == [-0.4, 0.0, 3.0]
    assert activations.get("hard_sigmoid")(x).tolist() == pytest.approx([1 / 6, 0.5, 1.0], abs=1e-15)


def test_get_none_and_callable():
    assert activations.get(None) is activations.linear
    assert activations.get(torch.tanh) is torch.tanh


@pytest.mark.parametrize("name", sorted(set(FORMULAS) - {"swish"}))
def test_serialize_round_trip(name):
    assert activations.serialize(activations.get(name)) == name


@pytest.mark.parametrize(
    "name, suggestion",
    [
        ("rellu", "relu"),
        ("sigmod", "sigmoid"),
        ("softmx", "softmax"),
        ("tahn", "tanh"),
        ("Sigmoid", "sigmoid"),
        ("Relu", "relu"),
        ("ReLU", "relu"),
    ],
)
def test_unknown_name_suggests_closest(name, suggestion):
    with pytest.raises(
        ValueError,
        match=rf"Unknown activation '{name}'\. Expected one of: elu, exponential, gelu, .*, or a callable\. "
        rf"Fix: use activation='{suggestion}'\.",
    ):
        activations.get(name)


def test_unknown_name_without_close_match():
    with pytest.raises(ValueError, match=r"Unknown activation 'zzzzzz'\..*Fix: use one of the names above\."):
        activations.get("zzzzzz")
