"""LayerNormalization against a naive NumPy version of its docstring equation
and against torch.nn.LayerNorm with copied weights, in float64:

    μ = mean(x),  σ² = mean((x − μ)²)  over each sample's normalized axes
    y = γ·(x − μ)/√(σ² + ε) + β

Tolerance: atol=1e-10.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet.layers import LayerNormalization

ATOL = 1e-10


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape) * 3 + 1)


def np_layer_norm(x: np.ndarray, n_axes: int, eps: float, gamma=None, beta=None) -> np.ndarray:
    """Normalize the last ``n_axes`` axes of each sample, one group at a time, by loops."""
    lead = x.shape[: x.ndim - n_axes]
    y = np.empty_like(x)
    for idx in np.ndindex(*lead):
        group = x[idx]
        values = [group[j] for j in np.ndindex(*group.shape)]
        mu = sum(values) / len(values)
        var = sum((v - mu) ** 2 for v in values) / len(values)  # biased
        for j in np.ndindex(*group.shape):
            out = (group[j] - mu) / math.sqrt(var + eps)
            if gamma is not None:
                out *= gamma[j]
            if beta is not None:
                out += beta[j]
            y[idx + j] = out
    return y


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
def test_layer_norm_matches_naive(shape, center, scale):
    x = f64(*shape)
    layer = LayerNormalization(center=center, scale=scale)
    layer(x)
    with torch.no_grad():  # non-trivial γ and β, so that applying them is checked
        if scale:
            layer.gamma.copy_(f64(6, seed=1))
        if center:
            layer.beta.copy_(f64(6, seed=2))
    gamma = layer.gamma.detach().numpy() if scale else None
    beta = layer.beta.detach().numpy() if center else None
    y = layer(x).detach().numpy()
    np.testing.assert_allclose(y, np_layer_norm(x.numpy(), 1, 1e-3, gamma, beta), rtol=0, atol=ATOL)
    assert sorted(n for n, _ in layer.named_parameters()) == sorted(
        (["beta"] if center else []) + (["gamma"] if scale else []))


def test_layer_norm_several_trailing_axes():
    x = f64(2, 3, 4, 5, seed=3)
    layer = LayerNormalization(axis=[-2, -1], epsilon=1e-5)
    layer(x)
    assert tuple(layer.gamma.shape) == (4, 5) and tuple(layer.beta.shape) == (4, 5)
    with torch.no_grad():
        layer.gamma.copy_(f64(4, 5, seed=4))
        layer.beta.copy_(f64(4, 5, seed=5))
    ref = np_layer_norm(x.numpy(), 2, 1e-5, layer.gamma.detach().numpy(), layer.beta.detach().numpy())
    np.testing.assert_allclose(layer(x).detach().numpy(), ref, rtol=0, atol=ATOL)
    same = LayerNormalization(axis=[2, 3], epsilon=1e-5)  # positive axes name the same axes
    same(x)
    same.set_weights(layer.get_weights())
    torch.testing.assert_close(same(x), layer(x), rtol=0, atol=0)


@pytest.mark.parametrize("eps", [1e-3, 1e-5])
def test_layer_norm_equals_torch_layer_norm(eps):
    x = f64(3, 7, 10, seed=6)
    layer = LayerNormalization(epsilon=eps)
    layer(x)
    ref = torch.nn.LayerNorm(10, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(f64(10, seed=7))
        ref.bias.copy_(f64(10, seed=8))
    layer.set_weights([ref.weight.detach().numpy(), ref.bias.detach().numpy()])
    torch.testing.assert_close(layer(x), ref(x), rtol=0, atol=ATOL)


def test_layer_norm_is_per_sample_and_the_same_in_training_and_inference():
    x = f64(5, 4, 8, seed=9)
    layer = LayerNormalization()
    full = layer(x)
    torch.testing.assert_close(layer(x[2:3]), full[2:3], rtol=0, atol=ATOL)  # no batch statistics
    layer.train()
    torch.testing.assert_close(layer(x), full, rtol=0, atol=0)
    assert layer.non_trainable_weights == []


def test_layer_norm_defaults_config_and_shape():
    layer = LayerNormalization(name="ln_cfg")
    config = json.loads(json.dumps(layer.get_config()))
    assert config == {"name": "ln_cfg", "trainable": True, "axis": -1, "epsilon": 1e-3, "center": True,
                      "scale": True, "beta_initializer": "zeros", "gamma_initializer": "ones"}
    assert LayerNormalization.from_config(config).get_config() == config
    multi = LayerNormalization(axis=[-2, -1])
    assert json.loads(json.dumps(multi.get_config()))["axis"] == [-2, -1]
    assert layer.compute_output_shape((None, 5, 8)) == (None, 5, 8)
    assert layer(torch.ones(2, 5, 8)).shape == (2, 5, 8)


def test_layer_norm_errors():
    with pytest.raises(ValueError, match=r"LayerNormalization: expected epsilon > 0, got 0\. Fix: epsilon=1e-3"):
        LayerNormalization(epsilon=0)
    with pytest.raises(ValueError, match=r"LayerNormalization: expected axis to be an int or a list of ints, "
                       r"got 'last'\. Fix: LayerNormalization\(axis=-1\)"):
        LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"Layer 'ln_axis' \(LayerNormalization\) normalizes trailing feature axes "
                       r"of the input; got axis=1 for inputs of shape \(2, 3, 4\)\. Fix: axis=-1"):
        LayerNormalization(axis=1, name="ln_axis")(torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"got axis=5 for inputs of shape \(2, 3, 4\)"):
        LayerNormalization(axis=5)(torch.ones(2, 3, 4))
    layer = LayerNormalization(name="ln_built")
    layer(torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"Layer 'ln_built' \(LayerNormalization\) was built for inputs of shape "
                       r"\(None, 4\), got \(2, 5\)"):
        layer(torch.ones(2, 5))


def test_nan_epsilon_is_refused():
    # Found by tests/layers/test_properties.py's exploration: NaN passed `epsilon <= 0`.
    with pytest.raises(ValueError, match=r"LayerNormalization: expected epsilon > 0, got nan\. Fix: epsilon=1e-3"):
        LayerNormalization(epsilon=float("nan"))
