"""Gradient clipping on every optimizer (Keras 3's clipnorm, global_clipnorm,
clipvalue): NumPy references of the clipping and of SGD / Adam over one and
several steps, fit against a hand-written PyTorch loop with the same
clipping (eager and jit_compile=True), ``optimizer.apply`` for a custom step,
configs and saved models, and the errors. The CUDA-graph step's clipping is
checked in tests/training/test_graph_step.py, data-parallel training's in
tests/training/test_distributed.py.

NumPy comparisons run in float64 with rtol=1e-12; fit in float32 against the
torch loop with rtol=1e-5, atol=1e-6 (float32 sums in another order).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import optimizers
from brainnet._gradient_clipping import clip_gradients
from brainnet.layers import Dense
from brainnet.models import Sequential, load_model
from brainnet.utils import set_random_seed

SHAPES = [(3, 4), (5,)]
CLIPS = [{"clipnorm": 1.0}, {"global_clipnorm": 1.0}, {"clipvalue": 0.5}]
ALL = [optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW, optimizers.Adagrad,
       optimizers.Adamax, optimizers.Nadam]


# ------------------------------------------------------------ NumPy references
def np_clip(grads, clipnorm=None, global_clipnorm=None, clipvalue=None):
    """Keras 3's rules: g·c / max(‖g‖, c) each; g·c / max(N, c) with N the
    norm of all gradients together; each entry clamped to [−v, v]."""
    if clipnorm:
        return [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in grads]
    if global_clipnorm:
        total = np.sqrt(sum(np.sum(g * g) for g in grads))
        return [g * global_clipnorm / max(total, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def np_sgd_momentum(init, grads, lr, momentum, **clip):
    """Keras's form: v ← μv − ηg; θ ← θ + v."""
    theta, velocity = [a.copy() for a in init], [np.zeros_like(a) for a in init]
    for step_grads in grads:
        for i, g in enumerate(np_clip(step_grads, **clip)):
            velocity[i] = momentum * velocity[i] - lr * g
            theta[i] = theta[i] + velocity[i]
    return theta


def np_adam(init, grads, lr, b1=0.9, b2=0.999, eps=1e-7, **clip):
    theta = [a.copy() for a in init]
    m, s = [np.zeros_like(a) for a in init], [np.zeros_like(a) for a in init]
    for t, step_grads in enumerate(grads, start=1):
        for i, g in enumerate(np_clip(step_grads, **clip)):
            m[i] = b1 * m[i] + (1 - b1) * g
            s[i] = b2 * s[i] + (1 - b2) * g * g
            m_hat, s_hat = m[i] / (1 - b1 ** t), s[i] / (1 - b2 ** t)
            theta[i] = theta[i] - lr * m_hat / (np.sqrt(s_hat) + eps)
    return theta


def make_init(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES]


def make_grads(steps, seed=1):
    """Large gradients on even steps (the first weight's ‖g‖ ≈ 35, beyond any
    clip here) and small ones on odd steps (entries ≈ 0.01, within every clip)."""
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=s) * (10.0 if k % 2 == 0 else 0.01) for s in SHAPES] for k in range(steps)]


def run(opt, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt.build(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.from_numpy(g.copy())
        opt.step()
    return [p.detach().numpy() for p in params]


def assert_close(got, expected, rtol=1e-12, atol=1e-14):
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)


# ------------------------------------------------------------ the update rules
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: next(iter(c)))
@pytest.mark.parametrize("steps", [1, 6])
def test_sgd_and_adam_clip_as_the_numpy_reference(clip, steps):
    init, grads = make_init(), make_grads(steps)
    got = run(optimizers.SGD(0.05, momentum=0.9, **clip), init, grads)
    assert_close(got, np_sgd_momentum(init, grads, 0.05, 0.9, **clip))
    unclipped = np_sgd_momentum(init, grads, 0.05, 0.9)
    assert not np.allclose(got[0], unclipped[0])  # the large gradients were clipped

    got = run(optimizers.Adam(0.01, **clip), init, grads)
    assert_close(got, np_adam(init, grads, 0.01, **clip))
    if steps > 1:  # Adam's first step, η·g/(|g| + ε), is the same for any positive rescaling or clamp of g
        assert not np.allclose(got[0], np_adam(init, grads, 0.01)[0], rtol=1e-6)


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: next(iter(c)))
def test_gradients_within_the_clip_pass_unchanged(clip):
    init, grads = make_init(), make_grads(6)[1::2]  # the small ones only
    for make in (lambda **c: optimizers.SGD(0.05, momentum=0.9, **c), lambda **c: optimizers.Adam(0.01, **c)):
        assert_close(run(make(**clip), init, grads), run(make(), init, grads), rtol=1e-15, atol=0)


def test_clipnorm_is_per_weight_and_global_clipnorm_over_all_weights():
    small, large = torch.full((4,), 0.1, dtype=torch.float64), torch.full((4,), 10.0, dtype=torch.float64)
    grads = [small.clone(), large.clone()]
    clip_gradients(grads, 1.0, None, None)
    torch.testing.assert_close(grads[0], small)  # ‖g‖ = 0.2 ≤ 1: kept
    torch.testing.assert_close(grads[1], torch.full((4,), 0.5, dtype=torch.float64))  # ‖g‖ = 20 → 1
    grads = [small.clone(), large.clone()]
    clip_gradients(grads, None, 1.0, None)
    total = np.sqrt(4 * 0.01 + 4 * 100.0)  # both scaled by 1/N
    torch.testing.assert_close(grads[0], small / total)
    torch.testing.assert_close(grads[1], large / total)
    grads = [torch.tensor([-3.0, 0.2, 7.0])]
    clip_gradients(grads, None, None, 0.5)
    torch.testing.assert_close(grads[0], torch.tensor([-0.5, 0.2, 0.5]))


def test_zero_gradients_stay_zero_and_a_non_finite_global_norm_gives_nan_as_keras():
    for clip in ({"clipnorm": 1.0}, {"global_clipnorm": 1.0}):
        grads = [torch.zeros(3), torch.zeros(2)]
        clip_gradients(grads, clip.get("clipnorm"), clip.get("global_clipnorm"), None)
        assert all(torch.equal(g, torch.zeros_like(g)) for g in grads)
    # Keras's clip_by_global_norm turns every gradient into NaN when the norm is inf or NaN.
    for bad in (float("inf"), float("nan")):
        grads = [torch.tensor([1.0, bad]), torch.tensor([2.0])]
        clip_gradients(grads, None, 1.0, None)
        assert all(torch.isnan(g).all() for g in grads)


def test_zero_means_no_clipping_as_in_keras():
    init, grads = make_init(), make_grads(2)
    plain = run(optimizers.SGD(0.05), init, grads)
    for clip in CLIPS:
        off = {k: 0 for k in clip}
        assert_close(run(optimizers.SGD(0.05, **off), init, grads), plain, rtol=0, atol=0)


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: next(iter(c)))
def test_every_optimizer_clips_before_its_update(cls, clip):
    # Clipping g and stepping with the clipped gradient by hand gives the same weights.
    init, grads = make_init(), make_grads(3)
    clipped = [np_clip(g, **clip) for g in grads]
    assert_close(run(cls(learning_rate=0.01, **clip), init, grads), run(cls(learning_rate=0.01), init, clipped))


# ------------------------------------------------------------ training paths
def _model(seed=0):
    set_random_seed(seed)
    return Sequential([Dense(6, activation="tanh", input_shape=(3,)), Dense(1)])


def _data(n=64, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (100.0 * x[:, :1] ** 2 + 50.0).astype("float32")  # far targets: large gradients


def _torch_loop(model, x, y, lr, clip, epochs, batch_size, adam=False):
    """The training loop by hand: MSE, backward, the clipping written out with
    Python floats, torch.optim's SGD (momentum 0.9) or Adam."""
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr, eps=1e-7) if adam else torch.optim.SGD(params, lr=lr, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            opt.zero_grad()
            loss = ((model(xt[start:start + batch_size]) - yt[start:start + batch_size]) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                if "clipnorm" in clip:
                    for p in params:
                        p.grad *= clip["clipnorm"] / max(float(p.grad.norm()), clip["clipnorm"])
                elif "global_clipnorm" in clip:
                    total = float(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)))
                    for p in params:
                        p.grad *= clip["global_clipnorm"] / max(total, clip["global_clipnorm"])
                else:
                    for p in params:
                        p.grad.clamp_(-clip["clipvalue"], clip["clipvalue"])
            opt.step()


# jit_compile=True compiles the forward pass and leaves the update to the optimizer: one case is enough.
@pytest.mark.parametrize("clip, jit_compile", [(c, False) for c in CLIPS] + [({"global_clipnorm": 1.0}, True)],
                         ids=["clipnorm", "global_clipnorm", "clipvalue", "global_clipnorm-jit_compile"])
def test_fit_with_clipping_trains_as_a_hand_written_torch_loop(clip, jit_compile):
    x, y = _data()
    for adam, opt in ((False, optimizers.SGD(0.01, momentum=0.9, **clip)), (True, optimizers.Adam(0.05, **clip))):
        model, by_hand = _model(), _model()
        by_hand.load_state_dict(model.state_dict())
        model.compile(opt, "mse", device="cpu", jit_compile=jit_compile)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        _torch_loop(by_hand, x, y, opt.learning_rate, clip, 2, 16, adam=adam)
        for p, q in zip(model.parameters(), by_hand.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        unclipped = _model()
        unclipped.compile(type(opt)(opt.learning_rate), "mse", device="cpu")
        unclipped.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        assert not torch.allclose(model.layers[0].kernel, unclipped.layers[0].kernel, atol=1e-3)


def test_apply_in_a_custom_step_clips_the_gradients_it_is_given():
    # Keras's global norm is over the gradients passed to apply, not over every weight built.
    init, grads = make_init(), make_grads(1)
    weights = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt = optimizers.SGD(0.1, global_clipnorm=1.0)
    opt.build(weights)
    opt.apply([torch.from_numpy(grads[0][0].copy())], [weights[0]])
    expected = init[0] - 0.1 * np_clip([grads[0][0]], global_clipnorm=1.0)[0]
    np.testing.assert_allclose(weights[0].detach().numpy(), expected, rtol=1e-12)
    np.testing.assert_array_equal(weights[1].detach().numpy(), init[1])
    opt.apply([torch.from_numpy(g.copy()) for g in grads[0]], weights)
    expected = [w - 0.1 * g for w, g in zip([expected, init[1]], np_clip(grads[0], global_clipnorm=1.0))]
    assert_close([w.detach().numpy() for w in weights], expected)


# ------------------------------------------------------------ configs and files
@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: next(iter(c)))
def test_config_round_trip(cls, clip):
    opt = cls(learning_rate=0.02, **clip)
    config = opt.get_config()
    (key, value), = clip.items()
    assert config[key] == value and not {"clipnorm", "clipvalue", "global_clipnorm"} - {key} & config.keys()
    assert cls(**config).get_config() == config
    assert optimizers.get({"class_name": cls.__name__, "config": config}).get_config() == config
    assert optimizers.get({"class_name": cls.__name__.lower(), "config": config}).get_config() == config
    assert "clipnorm" not in cls().get_config()  # unset: not in the config, as before


def test_get_takes_keras_dict_form_with_a_schedule_and_the_instance_as_it_is():
    opt = optimizers.get({"class_name": "Adam", "config": {
        "learning_rate": {"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1, "decay_steps": 10}},
        "global_clipnorm": 2}})
    assert type(opt) is optimizers.Adam and opt.global_clipnorm == 2.0 and opt.learning_rate == 0.1
    given = optimizers.SGD(clipvalue=0.3)
    assert optimizers.get(given) is given


def test_save_and_load_keep_the_clipping(tmp_path):
    x, y = _data()
    model = _model()
    model.compile(optimizers.Adam(0.05, global_clipnorm=1.0), "mse", device="cpu")
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.optimizer.global_clipnorm == 1.0
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for p, q in zip(model.parameters(), loaded.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_compile_takes_the_dict_form():
    model = _model()
    model.compile({"class_name": "sgd", "config": {"learning_rate": 0.01, "clipnorm": 0.5}}, "mse")
    assert type(model.optimizer) is optimizers.SGD and model.optimizer.clipnorm == 0.5


# ------------------------------------------------------------ errors
@pytest.mark.parametrize("cls", ALL)
def test_errors(cls):
    name = cls.__name__
    for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
        for bad in (-1.0, True, "1"):
            with pytest.raises(ValueError, match=rf"{name}: expected {arg} to be a number ≥ 0 or None, got "
                                                 rf"{bad!r}\. Fix: {name}\({arg}=1\.0\)\."):
                cls(**{arg: bad})
    with pytest.raises(ValueError, match=rf"{name}: expected at most one of clipnorm, clipvalue and global_clipnorm, "
                                         r"got clipnorm=1\.0, global_clipnorm=2\.0\. Fix: keep one, e\.g\. "
                                         rf"{name}\(global_clipnorm=1\.0\) to clip all gradients together\."):
        cls(clipnorm=1.0, global_clipnorm=2.0)
    with pytest.raises(ValueError, match=r"got clipnorm=1\.0, clipvalue=0\.5\. Fix: keep one"):
        cls(clipnorm=1.0, clipvalue=0.5)  # Keras 3 refuses any two of the three


def test_an_optimizer_without_clipping_does_no_clipping_work(monkeypatch):
    import brainnet._optimizer_base as base

    calls = []
    monkeypatch.setattr(base, "clip_gradients", lambda *a: calls.append(a))
    init, grads = make_init(), make_grads(2)
    run(optimizers.Adam(0.01), init, grads)
    assert calls == []
    run(optimizers.Adam(0.01, clipvalue=0.5), init, grads)
    assert len(calls) == 2


def test_docstring_examples_run():
    import doctest

    import brainnet._optimizer_base

    for module in (optimizers, brainnet._optimizer_base):
        failures, tried = doctest.testmod(module)
        assert failures == 0 and tried > 0, module.__name__
