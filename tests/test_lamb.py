"""brainnet.optimizers.Lamb against a NumPy version of Keras 3's rule
(keras/src/optimizers/lamb.py's update_step), one weight at a time, t the step from 1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet
from brainnet import optimizers

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def np_lamb(init, grads, lr, b1=0.9, b2=0.999, eps=1e-7, weight_decay=0.0):
    """u = m̂/(√v̂ + ε); θ ← θ − η·(‖θ‖/‖u‖)·u, the ratio 1 where a norm is 0."""
    theta = [a.copy() for a in init]
    m = [np.zeros_like(a) for a in init]
    v = [np.zeros_like(a) for a in init]
    for t, step in enumerate(grads, start=1):
        for i, g in enumerate(step):
            theta[i] = theta[i] - lr * weight_decay * theta[i]
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v[i] = v[i] + (g * g - v[i]) * (1 - b2)
            u = (m[i] / (1 - b1**t)) / (np.sqrt(v[i] / (1 - b2**t)) + eps)
            w_norm, u_norm = np.sqrt(np.sum(theta[i] ** 2)), np.sqrt(np.sum(u**2))
            ratio = w_norm / u_norm if w_norm > 0 and u_norm > 0 else 1.0
            theta[i] = theta[i] - ratio * lr * u
    return theta


def _run(opt, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt.build(params)
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    assert opt.iterations == len(grads)
    return [p.detach().numpy() for p in params]


def _data(steps=5):
    rng = np.random.default_rng(0)
    init = [rng.normal(size=s) for s in SHAPES]
    init[1][:] = 0.0  # a fresh bias: ‖θ‖ = 0 on the first step, so the ratio is 1 there
    grads = [[rng.normal(scale=10.0 ** k, size=s) for k, s in zip((-3, 0, 2), SHAPES)] for _ in range(steps)]
    return init, grads


@pytest.mark.parametrize("make, kwargs", [
    (lambda: optimizers.Lamb(), {"lr": 0.001}),
    (lambda: optimizers.Lamb(0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-3), {"lr": 0.05, "b1": 0.8, "b2": 0.95, "eps": 1e-3}),
    (lambda: optimizers.Lamb(0.05, weight_decay=0.1), {"lr": 0.05, "weight_decay": 0.1}),
], ids=["defaults", "betas", "weight_decay"])
def test_lamb_follows_keras_rule_in_float64(make, kwargs):
    init, grads = _data()
    got = _run(make(), init, grads)
    want = np_lamb(init, grads, **kwargs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    assert not np.allclose(got[1], 0.0)  # the zero bias moved (ratio 1)


def test_lamb_steps_are_the_weights_size_whatever_the_gradients_scale():
    """r = ‖θ‖/‖u‖ makes each step η·‖θ‖ long: gradients 10⁻³ and 10² move their weights alike."""
    init, grads = _data(steps=1)
    got = _run(optimizers.Lamb(0.01), init, grads)
    for i in (0, 2):
        step = np.linalg.norm(got[i] - init[i])
        assert step == pytest.approx(0.01 * np.linalg.norm(init[i]), rel=1e-9)


def test_lamb_in_float32_and_by_name_and_config():
    init, grads = _data()
    got = _run(optimizers.Lamb(0.02), [a.astype(np.float32) for a in init],
               [[g.astype(np.float32) for g in s] for s in grads])
    assert all(g.dtype == np.float32 for g in got)
    for g, w in zip(got, np_lamb(init, grads, 0.02)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert isinstance(optimizers.get("LAMB"), optimizers.Lamb)  # any case, as Keras
    opt = optimizers.Lamb(0.01, beta_2=0.99, weight_decay=0.1)
    assert opt.get_config() == {"name": "Lamb", "learning_rate": 0.01, "weight_decay": 0.1, "beta_1": 0.9,
                                "beta_2": 0.99, "epsilon": 1e-7}
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == opt.get_config()


def test_lamb_trains_a_model_in_fit():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32") + 0.3).astype("float32")
    brainnet.utils.set_random_seed(0)
    model = brainnet.Sequential([brainnet.Input(shape=(4,)), brainnet.layers.Dense(1)])
    model.compile(optimizer=brainnet.optimizers.Lamb(learning_rate=0.05), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.05 * history.history["loss"][0]
