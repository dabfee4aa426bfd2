"""BatchNormalization against a naive NumPy version of its docstring, in float64:

    training:  μ_B = mean(x), σ²_B = (1/n) Σ (x − μ_B)²  per feature (last axis)
               y = γ·(x − μ_B)/√(σ²_B + ε) + β
               moving_mean ← m·moving_mean + (1 − m)·μ_B
               moving_var  ← m·moving_var  + (1 − m)·σ²_B·n/(n − 1)
    inference: y = γ·(x − moving_mean)/√(moving_var + ε) + β

Tolerance: atol=1e-10.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from brainnet.layers import BatchNormalization

ATOL = 1e-10


def batch_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-feature mean and biased variance over all axes but the last, by loops."""
    c_ = x.shape[-1]
    mean, var = np.zeros(c_), np.zeros(c_)
    n = math.prod(x.shape[:-1])
    for c in range(c_):
        s = 0.0
        for idx in np.ndindex(*x.shape[:-1]):
            s += x[idx + (c,)]
        mean[c] = s / n
        s = 0.0
        for idx in np.ndindex(*x.shape[:-1]):
            s += (x[idx + (c,)] - mean[c]) ** 2
        var[c] = s / n
    return mean, var, n


def normalize(x, mean, var, gamma, beta, eps):
    y = np.empty_like(x)
    for idx in np.ndindex(*x.shape):
        c = idx[-1]
        y[idx] = gamma[c] * (x[idx] - mean[c]) / math.sqrt(var[c] + eps) + beta[c]
    return y


def f64(*shape: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    # Per-feature offsets and scales, so that the statistics matter.
    c = shape[-1]
    return torch.from_numpy(rng.normal(size=shape) * rng.uniform(0.5, 3.0, c) + rng.normal(0, 5, c))


def built_bn(shape, **kwargs) -> tuple[BatchNormalization, list[np.ndarray]]:
    """A layer built in float64 with random γ, β and non-trivial moving statistics."""
    layer = BatchNormalization(**kwargs)
    layer(torch.zeros(shape, dtype=torch.float64), training=False)
    rng = np.random.default_rng(7)
    c = shape[-1]
    values = []
    if layer.scale:
        values.append(rng.uniform(0.5, 2.0, c))
    if layer.center:
        values.append(rng.normal(size=c))
    values += [rng.normal(size=c), rng.uniform(0.5, 2.0, c)]
    layer.set_weights(values)
    return layer, values


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 2), (3, 4, 6)])
def test_batchnorm_training_matches_naive(shape):
    layer, weights = built_bn(shape)
    gamma, beta, mm, mv = weights
    x = f64(*shape)
    y = layer(x, training=True)
    mean, var, n = batch_stats(x.numpy())
    np.testing.assert_allclose(y.detach().numpy(), normalize(x.numpy(), mean, var, gamma, beta, 1e-3),
                               rtol=0, atol=ATOL)
    m = 0.99
    np.testing.assert_allclose(layer.moving_mean.numpy(), m * mm + (1 - m) * mean, rtol=0, atol=ATOL)
    np.testing.assert_allclose(layer.moving_variance.numpy(), m * mv + (1 - m) * var * n / (n - 1),
                               rtol=0, atol=ATOL)


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 2)])
def test_batchnorm_inference_uses_moving_statistics(shape):
    layer, (gamma, beta, mm, mv) = built_bn(shape, epsilon=0.01)
    x = f64(*shape, seed=3)
    y = layer(x, training=False)
    np.testing.assert_allclose(y.detach().numpy(), normalize(x.numpy(), mm, mv, gamma, beta, 0.01),
                               rtol=0, atol=ATOL)
    # Inference leaves the moving statistics alone.
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mm)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), mv)
    layer.eval()
    torch.testing.assert_close(layer(x), y, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(16, 3), (4, 3, 5, 2)])
def test_a_frozen_batchnorm_runs_the_inference_equation_even_when_training(shape):
    """Keras 3: trainable=False ties BatchNormalization to inference mode, so
    training=True (fit) neither normalizes by the batch nor moves the statistics."""
    layer, (gamma, beta, mm, mv) = built_bn(shape)
    layer.trainable = False
    x = f64(*shape, seed=5)
    y = layer(x, training=True)
    np.testing.assert_allclose(y.detach().numpy(), normalize(x.numpy(), mm, mv, gamma, beta, 1e-3),
                               rtol=0, atol=ATOL)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), mm)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), mv)
    layer.trainable = True  # unfrozen: batch statistics again
    mean, var, _ = batch_stats(x.numpy())
    np.testing.assert_allclose(layer(x, training=True).detach().numpy(),
                               normalize(x.numpy(), mean, var, gamma, beta, 1e-3), rtol=0, atol=ATOL)


def test_batchnorm_momentum_sequence():
    # Two training steps then inference: inference uses the twice-updated statistics.
    shape = (8, 2)
    layer, (gamma, beta, mm, mv) = built_bn(shape, momentum=0.9)
    x1, x2 = f64(*shape, seed=1), f64(*shape, seed=2)
    layer(x1, training=True)
    layer(x2, training=True)
    for x in (x1, x2):
        mean, var, n = batch_stats(x.numpy())
        mm = 0.9 * mm + 0.1 * mean
        mv = 0.9 * mv + 0.1 * var * n / (n - 1)
    x3 = f64(*shape, seed=3)
    y = layer(x3, training=False)
    np.testing.assert_allclose(y.detach().numpy(), normalize(x3.numpy(), mm, mv, gamma, beta, 1e-3),
                               rtol=0, atol=ATOL)


def test_batchnorm_default_momentum_and_epsilon():
    config = BatchNormalization().get_config()
    assert config["momentum"] == 0.99
    assert config["epsilon"] == 1e-3
    assert config["axis"] == -1


@pytest.mark.parametrize(
    "kwargs, n_trainable, trainable_names",
    [
        ({}, 2, ["gamma", "beta"]),
        ({"center": False}, 1, ["gamma"]),
        ({"scale": False}, 1, ["beta"]),
        ({"center": False, "scale": False}, 0, []),
    ],
)
def test_batchnorm_weight_counts(kwargs, n_trainable, trainable_names):
    layer = BatchNormalization(**kwargs)
    layer(torch.zeros(2, 4, 4, 5))
    assert [n for n, _ in layer.named_parameters()] == trainable_names
    assert len(layer.trainable_weights) == n_trainable
    assert len(layer.non_trainable_weights) == 2
    assert layer.non_trainable_weights[0] is layer.moving_mean
    assert layer.non_trainable_weights[1] is layer.moving_variance
    assert len(layer.weights) == n_trainable + 2
    assert layer.count_params() == 5 * (n_trainable + 2)
    state = layer.state_dict()
    assert set(state) == set(trainable_names) | {"moving_mean", "moving_variance"}


def test_batchnorm_center_scale_off_matches_naive():
    shape = (10, 3)
    layer, (mm, mv) = built_bn(shape, center=False, scale=False)
    x = f64(*shape)
    y = layer(x, training=True)
    mean, var, _ = batch_stats(x.numpy())
    expected = normalize(x.numpy(), mean, var, np.ones(3), np.zeros(3), 1e-3)
    np.testing.assert_allclose(y.detach().numpy(), expected, rtol=0, atol=ATOL)


@pytest.mark.parametrize("shape", [(2, 3), (2, 5, 4), (2, 6, 6, 3)])
def test_batchnorm_compute_output_shape(shape):
    layer = BatchNormalization()
    y = layer(torch.zeros(shape), training=False)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + tuple(y.shape[1:])


def test_batchnorm_output_layout():
    y = BatchNormalization()(f64(2, 5, 5, 3), training=True)
    assert y.is_contiguous()  # (N, H, W, C)


@pytest.mark.parametrize("axis", [0, -2, 1.0, True])
def test_batchnorm_axis_validation(axis):
    with pytest.raises(
        ValueError,
        match=rf"BatchNormalization: expected axis=-1 \(brainnet keeps features/channels last\), "
        rf"got axis={axis}\. Fix: BatchNormalization\(\) with inputs shaped",
    ):
        BatchNormalization(axis=axis)


def test_batchnorm_axis_as_the_last_axis_index_is_channels_last():
    """Keras's ``BatchNormalization(axis=3)`` on (N, H, W, C) images (ResNet code writes it) is axis=-1."""
    x = f64(4, 3, 3, 2)
    torch.manual_seed(0)
    a, b = BatchNormalization(axis=3), BatchNormalization()
    np.testing.assert_allclose(a(x, training=True).detach().numpy(), b(x, training=True).detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(a.moving_variance.numpy(), b.moving_variance.numpy(), atol=1e-12)
    assert a.get_config()["axis"] == 3
    with pytest.raises(
        ValueError,
        match=r"Layer 'batch_normalization\w*' \(BatchNormalization\): expected axis=-1 or the index of the last "
        r"axis \(3 for inputs of shape \(4, 3, 3, 2\); brainnet keeps features/channels last\), got axis=1\. "
        r"Fix: BatchNormalization\(\) with inputs shaped",
    ):
        BatchNormalization(axis=1)(x)


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_batchnorm_momentum_validation(momentum):
    with pytest.raises(
        ValueError,
        match=rf"BatchNormalization: expected momentum in \[0, 1\], got {momentum}\. "
        r"Fix: momentum=0\.99 \(the Keras default\)\.",
    ):
        BatchNormalization(momentum=momentum)


@pytest.mark.parametrize("epsilon", [0, -1e-3])
def test_batchnorm_epsilon_validation(epsilon):
    with pytest.raises(
        ValueError, match=r"BatchNormalization: expected epsilon > 0, got .*Fix: epsilon=1e-3\."
    ):
        BatchNormalization(epsilon=epsilon)


def test_batchnorm_rank_error():
    with pytest.raises(
        ValueError,
        match=r"Layer 'bn_rank' \(BatchNormalization\) expected input of rank at least 2 "
        r"\(batch, \.\.\., features\), got shape \(5,\) of rank 1\.",
    ):
        BatchNormalization(name="bn_rank")(torch.ones(5))


def test_batchnorm_built_axis_error():
    layer = BatchNormalization(name="bn_axis")
    layer(torch.ones(4, 3), training=False)
    with pytest.raises(
        ValueError,
        match=r"Layer 'bn_axis' \(BatchNormalization\) was built for inputs of shape \(None, 3\), "
        r"got \(4, 2\) \(axis -1: expected 3, got 2\)\.",
    ):
        layer(torch.ones(4, 2), training=False)


@pytest.mark.parametrize(
    "make",
    [
        lambda: BatchNormalization(),
        lambda: BatchNormalization(momentum=0.9, epsilon=1e-5, center=False, name="bn"),
        lambda: BatchNormalization(scale=False, input_shape=(28, 28, 1)),
    ],
)
def test_batchnorm_get_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = BatchNormalization.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


def test_batchnorm_training_on_single_sample_batch():
    # Keras: μ_B = x, σ²_B = 0, so y = γ·0/√ε + β = β, and the moving mean moves toward x.
    layer, (gamma, beta, mm, mv) = built_bn((4, 3))
    x = f64(1, 3)
    y = layer(x, training=True)
    np.testing.assert_allclose(y.detach().numpy(), beta[None, :], rtol=0, atol=ATOL)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.99 * mm + 0.01 * x.numpy()[0], rtol=0, atol=ATOL)
    assert np.isfinite(layer.moving_variance.numpy()).all()


# Found by tests/layers/test_properties.py: a string or None for momentum or
# epsilon raised Python's "'<=' not supported between 'str' and 'int'".
@pytest.mark.parametrize("kwargs, message", [
    ({"momentum": "0.9"}, r"expected momentum in \[0, 1\], got '0.9'\. Fix: momentum=0.99"),
    ({"momentum": None}, r"expected momentum in \[0, 1\], got None"),
    ({"epsilon": "1e-3"}, r"expected epsilon > 0, got '1e-3'\. Fix: epsilon=1e-3"),
    ({"epsilon": float("nan")}, r"expected epsilon > 0, got nan"),
])
def test_non_numeric_momentum_or_epsilon(kwargs, message):
    with pytest.raises(ValueError, match=r"BatchNormalization: " + message):
        BatchNormalization(**kwargs)
    assert BatchNormalization(momentum=np.float32(0.9), epsilon=np.float64(1e-3)).momentum == pytest.approx(0.9)


def test_weights_are_listed_layer_by_layer_as_keras_3_frozen_or_not():
    # Keras 3's Layer.weights: each layer's own weights (trainable, then its moving
    # statistics) before the next layer's; freezing a layer does not move them.
    from brainnet.layers import BatchNormalization, Dense, Input
    from brainnet.models import Sequential

    model = Sequential([Input((3,)), Dense(4), BatchNormalization(), Dense(2)])
    names = ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "kernel", "bias"]
    shapes = [(3, 4), (4,), (4,), (4,), (4,), (4,), (4, 2), (2,)]
    assert [tuple(w.shape) for w in model.weights] == shapes
    layers_of = [model.layers[0]] * 2 + [model.layers[1]] * 4 + [model.layers[2]] * 2
    assert all(w is getattr(layer, n) for w, layer, n in zip(model.weights, layers_of, names))
    model.layers[0].trainable = False
    assert [tuple(w.shape) for w in model.weights] == shapes
    assert [tuple(w.shape) for w in model.non_trainable_weights] == [(3, 4), (4,), (4,), (4,)]
    assert [tuple(w.shape) for w in model.trainable_weights] == [(4,), (4,), (4, 2), (2,)]
