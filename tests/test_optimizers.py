"""Optimizers: (a) the same steps as torch.optim with the translated
hyperparameters, (b) hand-written NumPy update rules from brainnet/optimizers.py's
docstring (SGD momentum in Keras's form v ← μv − ηg; θ ← θ + v), Keras
defaults, the lr alias, optimizers.get and the learning_rate setter.

Everything runs in float64; NumPy comparisons use rtol=1e-12, atol=1e-14.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from brainnet import optimizers

STEPS = 6
SHAPES = [(3, 4), (5,)]


def make_params(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES]


def make_grads(seed: int = 1) -> list[list[np.ndarray]]:
    """STEPS gradient sets, one array per parameter."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) for s in SHAPES] for _ in range(STEPS)]


def run_torch_params(opt_step, params: list[torch.Tensor], grads) -> list[np.ndarray]:
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt_step()
    return [p.detach().numpy().copy() for p in params]


def run_brainnet(opt: optimizers.Optimizer, init, grads) -> list[np.ndarray]:
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt.build(params)
    out = run_torch_params(opt.step, params, grads)
    assert opt.iterations == len(grads)
    return out


def run_torch(torch_cls, kwargs, init, grads) -> list[np.ndarray]:
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt = torch_cls(params, **kwargs)
    return run_torch_params(opt.step, params, grads)


def assert_params_close(got, expected, rtol=1e-12, atol=1e-14):
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


# ------------------------------------------------------------ (a) vs torch
TORCH_CASES = [
    ("sgd", lambda: optimizers.SGD(0.1), torch.optim.SGD, {"lr": 0.1}),
    ("sgd-momentum", lambda: optimizers.SGD(0.05, momentum=0.9), torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.9}),
    ("sgd-nesterov", lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True), torch.optim.SGD,
     {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("rmsprop", lambda: optimizers.RMSprop(0.01, rho=0.8, epsilon=1e-6), torch.optim.RMSprop,
     {"lr": 0.01, "alpha": 0.8, "eps": 1e-6}),
    ("rmsprop-momentum-centered", lambda: optimizers.RMSprop(0.01, rho=0.85, momentum=0.5, centered=True),
     torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.85, "momentum": 0.5, "eps": 1e-7, "centered": True}),
    ("rmsprop-defaults", lambda: optimizers.RMSprop(), torch.optim.RMSprop,
     {"lr": 0.001, "alpha": 0.9, "eps": 1e-7}),
    ("adam", lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6), torch.optim.Adam,
     {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6}),
    ("adam-amsgrad", lambda: optimizers.Adam(0.01, amsgrad=True), torch.optim.Adam,
     {"lr": 0.01, "eps": 1e-7, "amsgrad": True}),
    ("adam-defaults", lambda: optimizers.Adam(), torch.optim.Adam, {"lr": 0.001, "eps": 1e-7}),
    ("adamw", lambda: optimizers.AdamW(0.05, weight_decay=0.1, beta_2=0.99), torch.optim.AdamW,
     {"lr": 0.05, "weight_decay": 0.1, "betas": (0.9, 0.99), "eps": 1e-7}),
    ("adamw-defaults", lambda: optimizers.AdamW(), torch.optim.AdamW,
     {"lr": 0.001, "weight_decay": 0.004, "eps": 1e-7}),
]


@pytest.mark.parametrize("label, make, torch_cls, kwargs", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_same_steps_as_torch_optim(label, make, torch_cls, kwargs):
    init, grads = make_params(), make_grads()
    got = run_brainnet(make(), init, grads)
    expected = run_torch(torch_cls, kwargs, init, grads)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    assert not np.allclose(got[0], init[0])  # the weights did move


# --------------------------------------------------------- (b) vs NumPy rules
def np_sgd(init, grads, lr, momentum=0.0, nesterov=False):
    """Keras: v ← μv − ηg; θ ← θ + v (nesterov: θ ← θ + μv − ηg, v the new velocity)."""
    theta = [a.copy() for a in init]
    v = [np.zeros_like(a) for a in init]
    for step in grads:
        for i, g in enumerate(step):
            if momentum == 0.0:
                theta[i] = theta[i] - lr * g
                continue
            v[i] = momentum * v[i] - lr * g
            if nesterov:
                theta[i] = theta[i] + momentum * v[i] - lr * g
            else:
                theta[i] = theta[i] + v[i]
    return theta


def np_rmsprop(init, grads, lr, rho, eps):
    """s ← ρs + (1 − ρ)g²; θ ← θ − ηg/(√s + ε)."""
    theta = [a.copy() for a in init]
    s = [np.zeros_like(a) for a in init]
    for step in grads:
        for i, g in enumerate(step):
            s[i] = rho * s[i] + (1 - rho) * g * g
            theta[i] = theta[i] - lr * g / (np.sqrt(s[i]) + eps)
    return theta


def np_adam(init, grads, lr, b1, b2, eps, weight_decay=0.0):
    """m ← β₁m + (1 − β₁)g; s ← β₂s + (1 − β₂)g²; θ ← θ − η·m̂/(√ŝ + ε), with
    AdamW's decoupled decay −η·λ·θ taken on the weights before the step."""
    theta = [a.copy() for a in init]
    m = [np.zeros_like(a) for a in init]
    s = [np.zeros_like(a) for a in init]
    for t, step in enumerate(grads, start=1):
        for i, g in enumerate(step):
            m[i] = b1 * m[i] + (1 - b1) * g
            s[i] = b2 * s[i] + (1 - b2) * g * g
            m_hat = m[i] / (1 - b1**t)
            s_hat = s[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * m_hat / (np.sqrt(s_hat) + eps) - lr * weight_decay * theta[i]
    return theta


NUMPY_CASES = [
    ("sgd", lambda: optimizers.SGD(0.1), lambda i, g: np_sgd(i, g, 0.1)),
    ("sgd-momentum", lambda: optimizers.SGD(0.05, momentum=0.9), lambda i, g: np_sgd(i, g, 0.05, 0.9)),
    ("sgd-nesterov", lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True),
     lambda i, g: np_sgd(i, g, 0.05, 0.8, nesterov=True)),
    ("rmsprop", lambda: optimizers.RMSprop(0.01, rho=0.8, epsilon=1e-3),
     lambda i, g: np_rmsprop(i, g, 0.01, 0.8, 1e-3)),
    ("rmsprop-defaults", lambda: optimizers.RMSprop(), lambda i, g: np_rmsprop(i, g, 0.001, 0.9, 1e-7)),
    ("adam", lambda: optimizers.Adam(0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
     lambda i, g: np_adam(i, g, 0.01, 0.8, 0.95, 1e-3)),
    ("adam-defaults", lambda: optimizers.Adam(), lambda i, g: np_adam(i, g, 0.001, 0.9, 0.999, 1e-7)),
    ("adamw", lambda: optimizers.AdamW(0.05, weight_decay=0.2, epsilon=1e-3),
     lambda i, g: np_adam(i, g, 0.05, 0.9, 0.999, 1e-3, weight_decay=0.2)),
    ("adamw-defaults", lambda: optimizers.AdamW(),
     lambda i, g: np_adam(i, g, 0.001, 0.9, 0.999, 1e-7, weight_decay=0.004)),
]


@pytest.mark.parametrize("label, make, reference", NUMPY_CASES, ids=[c[0] for c in NUMPY_CASES])
def test_update_rule_matches_numpy(label, make, reference):
    init, grads = make_params(), make_grads()
    assert_params_close(run_brainnet(make(), init, grads), reference(init, grads))


def test_sgd_momentum_hand_example():
    # θ=1, g=1 twice, η=0.1, μ=0.9: v₁ = −0.1, θ₁ = 0.9; v₂ = −0.09 − 0.1 = −0.19, θ₂ = 0.71.
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = optimizers.SGD(0.1, momentum=0.9)
    opt.build([p])
    thetas = []
    for _ in range(2):
        p.grad = torch.tensor([1.0], dtype=torch.float64)
        opt.step()
        thetas.append(p.item())
    assert thetas == pytest.approx([0.9, 0.71], abs=1e-15)


def test_adam_first_step_is_lr_times_sign():
    # Step 1: m̂ = g, ŝ = g², so Δθ = −η·g/(|g| + ε) ≈ −η·sign(g).
    p = torch.nn.Parameter(torch.tensor([0.0, 0.0], dtype=torch.float64))
    opt = optimizers.Adam(0.01)
    opt.build([p])
    p.grad = torch.tensor([3.0, -0.5], dtype=torch.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [-0.01 * 3 / (3 + 1e-7), 0.01 * 0.5 / (0.5 + 1e-7)],
                               rtol=1e-14)


def test_build_skips_frozen_parameters():
    a = torch.nn.Parameter(torch.ones(2))
    b = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    torch_opt = optimizers.SGD().build([a, b])
    assert [len(g["params"]) for g in torch_opt.param_groups] == [1]


# ------------------------------------------------------------ Keras defaults
def test_keras_default_hyperparameters():
    assert optimizers.SGD().get_config() == {"name": "SGD", "learning_rate": 0.01, "momentum": 0.0,
                                             "nesterov": False}
    assert optimizers.RMSprop().get_config() == {"name": "RMSprop", "learning_rate": 0.001, "rho": 0.9,
                                                 "momentum": 0.0, "epsilon": 1e-7, "centered": False}
    assert optimizers.Adam().get_config() == {"name": "Adam", "learning_rate": 0.001, "beta_1": 0.9,
                                              "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}
    assert optimizers.AdamW().get_config() == {"name": "AdamW", "learning_rate": 0.001, "beta_1": 0.9,
                                               "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
                                               "weight_decay": 0.004}


def test_defaults_reach_torch_param_groups():
    """torch's own defaults differ (RMSprop alpha 0.99, Adam eps 1e-8, AdamW decay 0.01)."""
    p = [torch.nn.Parameter(torch.zeros(1))]
    group = optimizers.RMSprop().build(p).param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"]) == (0.001, 0.9, 1e-7)
    group = optimizers.Adam().build(p).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (0.001, (0.9, 0.999), 1e-7, 0)
    group = optimizers.AdamW().build(p).param_groups[0]
    assert (group["lr"], group["eps"], group["weight_decay"]) == (0.001, 1e-7, 0.004)
    group = optimizers.SGD().build(p).param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"]) == (0.01, 0.0, False)


# ------------------------------------------------------------- lr alias
@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW])
def test_lr_alias_warns_and_sets_learning_rate(cls):
    with pytest.warns(DeprecationWarning, match=rf"{cls.__name__}\(lr=\.\.\.\) is the old Keras spelling; "
                                                rf"use {cls.__name__}\(learning_rate=0\.1\)"):
        opt = cls(lr=0.1)
    assert opt.learning_rate == 0.1
    assert opt.build([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize(
    "cls",
    [
        optimizers.SGD,
        optimizers.RMSprop,
        optimizers.Adam,
        optimizers.AdamW,
        optimizers.Adagrad,
        optimizers.Adamax,
        optimizers.Nadam,
    ],
)
def test_lr_alias_warning_points_at_the_caller(cls):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cls(lr=0.1)
    assert len(caught) == 1
    assert caught[0].category is DeprecationWarning
    assert caught[0].filename == __file__


# ------------------------------------------------------------ learning_rate
def test_learning_rate_setter_updates_param_groups_and_steps():
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = optimizers.SGD(0.1)
    torch_opt = opt.build([p])
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5
    assert [g["lr"] for g in torch_opt.param_groups] == [0.5]
    p.grad = torch.tensor([2.0], dtype=torch.float64)
    opt.step()
    assert p.item() == pytest.approx(1.0 - 0.5 * 2.0, abs=1e-15)


def test_learning_rate_setter_before_build():
    opt = optimizers.Adam()
    opt.learning_rate = 0.02
    assert opt.build([torch.nn.Parameter(torch.zeros(1))]).param_groups[0]["lr"] == 0.02


# ----------------------------------------------------------------- get
@pytest.mark.parametrize(
    "name, cls",
    [("sgd", optimizers.SGD), ("SGD", optimizers.SGD), ("Adam", optimizers.Adam), ("ADAM", optimizers.Adam),
     ("rmsprop", optimizers.RMSprop), ("RMSprop", optimizers.RMSprop), ("AdamW", optimizers.AdamW),
     ("adamw", optimizers.AdamW)],
)
def test_get_by_name_any_case(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.get_config() == cls().get_config()


def test_get_instance_passthrough():
    opt = optimizers.SGD(0.3)
    assert optimizers.get(opt) is opt


@pytest.mark.parametrize("name, suggestion", [("adma", "adam"), ("rmsporp", "rmsprop"), ("Adamw_", "adamw"),
                                             ("nadma", "nadam"), ("adagard", "adagrad"), ("adamx", "adamax")])
def test_get_unknown_name_suggests_closest(name, suggestion):
    with pytest.raises(
        ValueError,
        match=rf"Unknown optimizer '{name}'\. Expected one of: sgd, rmsprop, adam, adamw, adagrad, adamax, nadam, lamb \(any case\) or a "
        rf"brainnet\.optimizers\.Optimizer\. Fix: optimizer='{suggestion}'\.",
    ):
        optimizers.get(name)


def test_get_torch_optimizer_error():
    torch_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"expected a brainnet optimizer or its name, got a torch\.optim SGD.*"
                                         r"Fix: optimizer=brainnet\.optimizers\.Adam"):
        optimizers.get(torch_opt)


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("value", [-0.1, "0.1", True, None])
def test_learning_rate_validation(value):
    with pytest.raises(ValueError, match=r"Adam: expected learning_rate to be a number ≥ 0, got .*"
                                         r"Fix: Adam\(learning_rate=0\.001\), or a schedule"):
        optimizers.Adam(value)


def test_sgd_momentum_validation():
    with pytest.raises(ValueError, match=r"SGD: expected momentum ≥ 0, got -0\.5\. Fix: SGD\(momentum=0\.9\)\."):
        optimizers.SGD(momentum=-0.5)
    with pytest.raises(ValueError, match=r"SGD: nesterov=True needs momentum > 0, got momentum=0\. "
                                         r"Fix: SGD\(momentum=0\.9, nesterov=True\)\."):
        optimizers.SGD(nesterov=True)



# ------------------------------------------------- Keras 3 decoupled weight decay
@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam"])
def test_weight_decay_is_decoupled_as_keras_3(name):
    """θ ← θ − η·λ·θ before the update: with a zero gradient only the decay acts,
    and with a gradient the result is the plain update of the decayed weights."""
    opt_module = optimizers

    lr, lam = 0.1, 0.5
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    opt = getattr(opt_module, name)(learning_rate=lr, weight_decay=lam)
    opt.build([w])
    w.grad = torch.zeros_like(w)
    opt.step()
    expected = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64) * (1 - lr * lam)
    torch.testing.assert_close(w.detach(), expected, rtol=0, atol=1e-12)
    # With a gradient (fresh optimizers): the plain update of the decayed weights.
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    opt = getattr(opt_module, name)(learning_rate=lr, weight_decay=lam)
    opt.build([w])
    v = torch.nn.Parameter(w.detach() * (1 - lr * lam))
    plain = getattr(opt_module, name)(learning_rate=lr)
    plain.build([v])
    w.grad = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    v.grad = w.grad.clone()
    opt.step()
    plain.step()
    torch.testing.assert_close(w.detach(), v.detach(), rtol=0, atol=1e-12)
    assert opt.get_config()["weight_decay"] == lam and "weight_decay" not in plain.get_config()
    again = getattr(opt_module, name)(**opt.get_config())
    assert again.decoupled_decay == lam
    with pytest.raises(ValueError, match="expected weight_decay to be a number ≥ 0 or None, got -1"):
        getattr(opt_module, name)(weight_decay=-1)


def test_sgd_weight_decay_one_step_by_hand():
    opt_module = optimizers
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = opt_module.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.build([w])
    w.grad = torch.tensor([0.4, 0.6], dtype=torch.float64)
    opt.step()
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64) * (1 - 0.05) - 0.1 * torch.tensor([0.4, 0.6], dtype=torch.float64)
    torch.testing.assert_close(w.detach(), expected, rtol=0, atol=1e-12)


# ------------------------------------------------------ (c) the fused update
@pytest.mark.parametrize("label, make, fused", [
    ("sgd", lambda: optimizers.SGD(0.05, momentum=0.9), True),
    ("adam", lambda: optimizers.Adam(0.01), True),
    ("adamw", lambda: optimizers.AdamW(0.01, weight_decay=0.1), True),
    ("rmsprop", lambda: optimizers.RMSprop(0.01), None),  # PyTorch has no fused RMSprop
])
def test_cpu_weights_get_the_fused_update_with_the_unfused_results(label, make, fused):
    # float32, as in training: the fused kernel may round differently in the last bit.
    init = [a.astype(np.float32) for a in make_params()]
    grads = [[g.astype(np.float32) for g in step] for step in make_grads()]
    opt = make()
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt.build(params)
    assert opt.torch_optimizer.defaults.get("fused") is fused
    got = run_torch_params(opt.step, params, grads)
    plain = make()
    plain.can_fuse = lambda params: False
    expected = run_brainnet(plain, init, grads)
    assert plain.torch_optimizer.defaults.get("fused") is None
    assert_params_close(got, expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(got[0], init[0])


def test_the_fused_update_needs_floating_weights_on_one_device_type():
    opt = optimizers.Adam()
    floats = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2, 2))]
    assert opt.can_fuse(floats)
    assert not opt.can_fuse([])
    assert not opt.can_fuse([floats[0], torch.zeros(3, dtype=torch.int64)])
    assert not opt.can_fuse([floats[0], torch.zeros(3, device="meta")])
    assert not optimizers.RMSprop().can_fuse(floats)


def test_a_pytorch_without_the_fused_cpu_update_runs_it_unfused(monkeypatch):
    # PyTorch before 2.4 has fused=True for CUDA only and refuses CPU weights when the optimizer is made.
    class OldAdam(torch.optim.Adam):
        def __init__(self, params, fused=None, **kwargs):
            params = list(params)
            if fused and any(p.device.type == "cpu" for p in params):
                raise RuntimeError("`fused=True` requires all the params to be floating point Tensors of "
                                   "supported devices: ['cuda', 'xpu', 'privateuseone'].")
            super().__init__(params, fused=fused, **kwargs)

    opt = optimizers.Adam(0.01)
    monkeypatch.setattr(opt, "torch_class", OldAdam)
    init, grads = make_params(), make_grads()
    got = run_brainnet(opt, init, grads)
    assert opt.torch_optimizer.defaults.get("fused") is None
    for g, e in zip(got, run_torch(torch.optim.Adam, {"lr": 0.01, "eps": 1e-7}, init, grads)):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("make", [lambda: optimizers.SGD(1.0), lambda: optimizers.Adam(0.1)], ids=["sgd", "adam"])
def test_a_gradient_in_another_layout_than_its_weight_updates_the_right_entries(make):
    # A contiguous gradient set by hand on a channels-last kernel: PyTorch's fused
    # update alone would add it in memory order, that is to the wrong entries.
    torch.manual_seed(0)
    kernel = torch.randn(4, 3, 2, 2).contiguous(memory_format=torch.channels_last)
    grads = [torch.randn(4, 3, 2, 2) for _ in range(3)]  # contiguous
    results = []
    for fused in (True, False):
        opt = make()
        if not fused:
            opt.can_fuse = lambda params: False
        p = torch.nn.Parameter(kernel.clone(memory_format=torch.preserve_format))
        opt.build([p])
        assert opt.torch_optimizer.defaults.get("fused") is (True if fused else None)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        results.append(p.detach().clone())
        assert p.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(results[0], results[1], rtol=1e-6, atol=1e-6)
    if isinstance(opt, optimizers.SGD):  # plain SGD, rate 1: θ − Σg
        torch.testing.assert_close(results[0], kernel - sum(grads), rtol=1e-6, atol=1e-6)


def test_same_layout_ignores_the_stride_of_length_1_axes():
    from brainnet._weight_layout import same_layout as _same_layout

    a = torch.zeros(32, 1, 3, 3)
    assert _same_layout(a, a.contiguous(memory_format=torch.channels_last))  # (9, 9, 3, 1) against (9, 1, 3, 1)
    b = torch.zeros(4, 3, 2, 2)
    assert not _same_layout(b, b.contiguous(memory_format=torch.channels_last))
    assert _same_layout(b, b.clone())


# ------------------------------------- Adagrad, Adamax, Nadam: Keras 3's rules
# Written from Keras 3's update_step (keras/src/optimizers/{adagrad,adamax,nadam}.py),
# one weight at a time with NumPy, t the step from 1.
def np_adagrad(init, grads, lr, initial_accumulator_value=0.1, eps=1e-7, weight_decay=0.0):
    """a ← a + g²; θ ← θ − η·g/√(a + ε) (decoupled decay −η·λ·θ first)."""
    theta = [a.copy() for a in init]
    acc = [np.full_like(a, initial_accumulator_value) for a in init]
    for step in grads:
        for i, g in enumerate(step):
            theta[i] = theta[i] - lr * weight_decay * theta[i]
            acc[i] = acc[i] + g * g
            theta[i] = theta[i] - lr * g / np.sqrt(acc[i] + eps)
    return theta


def np_adamax(init, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    """m ← β₁m + (1 − β₁)g; u ← max(β₂u, |g|); θ ← θ − η·m/((1 − β₁ᵗ)(u + ε))."""
    theta = [a.copy() for a in init]
    m = [np.zeros_like(a) for a in init]
    u = [np.zeros_like(a) for a in init]
    for t, step in enumerate(grads, start=1):
        for i, g in enumerate(step):
            m[i] = b1 * m[i] + (1 - b1) * g
            u[i] = np.maximum(b2 * u[i], np.abs(g))
            theta[i] = theta[i] - lr * m[i] / ((1 - b1**t) * (u[i] + eps))
    return theta


def np_nadam(init, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    """Keras 3: μ_t = β₁(1 − ½·0.96ᵗ), Π_t = μ₁⋯μ_t;
    m̂ = μ_{t+1}m/(1 − Π_t·μ_{t+1}) + (1 − μ_t)g/(1 − Π_t); θ ← θ − η·m̂/(√(s/(1 − β₂ᵗ)) + ε)."""
    theta = [a.copy() for a in init]
    m = [np.zeros_like(a) for a in init]
    s = [np.zeros_like(a) for a in init]
    product = 1.0
    for t, step in enumerate(grads, start=1):
        mu_t = b1 * (1 - 0.5 * 0.96**t)
        mu_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product = product * mu_t
        for i, g in enumerate(step):
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            s[i] = s[i] + (g * g - s[i]) * (1 - b2)
            m_hat = mu_next * m[i] / (1 - product * mu_next) + (1 - mu_t) * g / (1 - product)
            s_hat = s[i] / (1 - b2**t)
            theta[i] = theta[i] - lr * m_hat / (np.sqrt(s_hat) + eps)
    return theta


KERAS_RULE_CASES = [
    ("adagrad", lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.05, epsilon=1e-3),
     lambda i, g: np_adagrad(i, g, 0.1, 0.05, 1e-3)),
    ("adagrad-defaults", lambda: optimizers.Adagrad(), lambda i, g: np_adagrad(i, g, 0.001)),
    ("adagrad-no-accumulator", lambda: optimizers.Adagrad(0.1, initial_accumulator_value=0.0),
     lambda i, g: np_adagrad(i, g, 0.1, 0.0)),
    ("adamax", lambda: optimizers.Adamax(0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
     lambda i, g: np_adamax(i, g, 0.02, 0.8, 0.95, 1e-3)),
    ("adamax-defaults", lambda: optimizers.Adamax(), lambda i, g: np_adamax(i, g, 0.001)),
    ("nadam", lambda: optimizers.Nadam(0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-3),
     lambda i, g: np_nadam(i, g, 0.02, 0.8, 0.95, 1e-3)),
    ("nadam-defaults", lambda: optimizers.Nadam(), lambda i, g: np_nadam(i, g, 0.001)),
]


@pytest.mark.parametrize("label, make, reference", KERAS_RULE_CASES, ids=[c[0] for c in KERAS_RULE_CASES])
def test_adagrad_adamax_nadam_follow_keras_rules_in_float64(label, make, reference):
    init, grads = make_params(), make_grads()
    got = run_brainnet(make(), init, grads)
    # Nadam: PyTorch keeps Π_t in a float32 scalar whatever the weights' dtype, hence 1e-7.
    assert_params_close(got, reference(init, grads), rtol=1e-7 if "nadam" in label else 1e-12, atol=1e-12)
    assert not np.allclose(got[0], init[0], rtol=0, atol=1e-4)  # the weights did move


@pytest.mark.parametrize("label, make, reference", KERAS_RULE_CASES, ids=[c[0] for c in KERAS_RULE_CASES])
def test_adagrad_adamax_nadam_follow_keras_rules_in_float32(label, make, reference):
    init = [a.astype(np.float32) for a in make_params()]
    grads = [[g.astype(np.float32) for g in step] for step in make_grads()]
    got = run_brainnet(make(), init, grads)
    expected = reference([a.astype(np.float64) for a in init], [[g.astype(np.float64) for g in s] for s in grads])
    assert all(g.dtype == np.float32 for g in got)
    assert_params_close(got, expected, rtol=1e-5, atol=1e-6)


def test_keras_rules_differ_from_torch_defaults_where_the_docstring_says():
    """PyTorch's own Adagrad (ε outside the root), Adamax (ε in the norm) and NAdam
    (momentum_decay 0.004) end elsewhere than Keras's rules; brainnet's do not."""
    init, grads = make_params(), make_grads()
    cases = [
        (optimizers.Adagrad(0.1, epsilon=0.01), torch.optim.Adagrad,
         {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 0.01}),
        (optimizers.Adamax(0.1, epsilon=0.01), torch.optim.Adamax, {"lr": 0.1, "eps": 0.01}),
        (optimizers.Nadam(0.1), torch.optim.NAdam, {"lr": 0.1, "eps": 1e-7}),
    ]
    for ours, torch_cls, kwargs in cases:
        got = run_brainnet(ours, init, grads)
        theirs = run_torch(torch_cls, kwargs, init, grads)
        assert not np.allclose(got[0], theirs[0], rtol=1e-6, atol=0), type(ours).__name__


def test_adagrad_first_step_by_hand():
    # a = 0.1 + 0.3² = 0.19; θ = 1 − 0.5·0.3/√(0.19 + 1e-7)
    p = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = optimizers.Adagrad(0.5)
    opt.build([p])
    p.grad = torch.tensor([0.3], dtype=torch.float64)
    opt.step()
    assert p.item() == pytest.approx(1.0 - 0.5 * 0.3 / np.sqrt(0.19 + 1e-7), abs=1e-15)


def test_new_optimizers_keras_defaults_and_config_round_trip():
    assert optimizers.Adagrad().get_config() == {"name": "Adagrad", "learning_rate": 0.001,
                                                 "initial_accumulator_value": 0.1, "epsilon": 1e-7}
    assert optimizers.Adamax().get_config() == {"name": "Adamax", "learning_rate": 0.001, "beta_1": 0.9,
                                                "beta_2": 0.999, "epsilon": 1e-7}
    assert optimizers.Nadam().get_config() == {"name": "Nadam", "learning_rate": 0.001, "beta_1": 0.9,
                                               "beta_2": 0.999, "epsilon": 1e-7}
    for cls in (optimizers.Adagrad, optimizers.Adamax, optimizers.Nadam):
        opt = cls(learning_rate=0.03, epsilon=1e-4, weight_decay=0.01)
        assert cls(**opt.get_config()).get_config() == opt.get_config()


@pytest.mark.parametrize("name, cls", [("adagrad", optimizers.Adagrad), ("Adagrad", optimizers.Adagrad),
                                       ("nadam", optimizers.Nadam), ("NADAM", optimizers.Nadam),
                                       ("adamax", optimizers.Adamax), ("Adamax", optimizers.Adamax)])
def test_new_optimizers_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


@pytest.mark.parametrize("cls", [optimizers.Adagrad, optimizers.Adamax, optimizers.Nadam])
def test_new_optimizers_take_the_lr_alias_and_decoupled_weight_decay(cls):
    with pytest.warns(DeprecationWarning, match=rf"{cls.__name__}\(lr=\.\.\.\) is the old Keras spelling"):
        assert cls(lr=0.1).learning_rate == 0.1
    # θ ← θ − η·λ·θ, then the plain update of the decayed weights
    lr, lam = 0.1, 0.5
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64))
    v = torch.nn.Parameter(w.detach() * (1 - lr * lam))
    decayed, plain = cls(learning_rate=lr, weight_decay=lam), cls(learning_rate=lr)
    decayed.build([w])
    plain.build([v])
    w.grad = torch.tensor([0.3, -0.1, 0.2], dtype=torch.float64)
    v.grad = w.grad.clone()
    decayed.step()
    plain.step()
    torch.testing.assert_close(w.detach(), v.detach(), rtol=0, atol=1e-12)


def test_adagrad_follows_a_learning_rate_schedule():
    from brainnet.optimizers.schedules import ExponentialDecay

    schedule = ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    init, grads = make_params(), make_grads()
    got = run_brainnet(optimizers.Adagrad(schedule), init, grads)
    rates = [schedule(t) for t in range(STEPS)]
    assert rates[1] == pytest.approx(0.05)
    assert_params_close(got, np_adagrad_by_step(rates, init, grads))


def np_adagrad_by_step(rates, init, grads):
    """Adagrad with the rate of step t taken from ``rates[t]``."""
    theta = [a.copy() for a in init]
    acc = [np.full_like(a, 0.1) for a in init]
    for lr, step in zip(rates, grads):
        for i, g in enumerate(step):
            acc[i] = acc[i] + g * g
            theta[i] = theta[i] - lr * g / np.sqrt(acc[i] + 1e-7)
    return theta


@pytest.mark.parametrize("cls", [optimizers.Adamax, optimizers.Nadam])
def test_adamax_and_nadam_follow_a_learning_rate_schedule(cls):
    """With a schedule, each step equals a fresh optimizer's step taken at that
    step's rate from the same state (checked by stepping a twin at the constant rate)."""
    from brainnet.optimizers.schedules import ExponentialDecay

    schedule = ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    init, grads = make_params(), make_grads()
    scheduled = cls(schedule)
    twin = cls(0.1)
    a = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    b = [torch.nn.Parameter(torch.from_numpy(x.copy())) for x in init]
    scheduled.build(a)
    twin.build(b)
    for t, step in enumerate(grads):
        twin.learning_rate = schedule(t)
        for pa, pb, g in zip(a, b, step):
            pa.grad, pb.grad = torch.from_numpy(g.copy()), torch.from_numpy(g.copy())
        scheduled.step()
        twin.step()
        assert scheduled.torch_optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**t)
    for pa, pb in zip(a, b):
        torch.testing.assert_close(pa.detach(), pb.detach(), rtol=0, atol=0)


def test_adagrad_initial_accumulator_validation():
    with pytest.raises(ValueError, match=r"Adagrad: expected initial_accumulator_value to be a number ≥ 0, got "
                                         r"-0\.1\. Fix: Adagrad\(initial_accumulator_value=0\.1\)\."):
        optimizers.Adagrad(initial_accumulator_value=-0.1)
