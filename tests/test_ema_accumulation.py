"""Keras 3's ``use_ema`` (with ``ema_momentum``, ``ema_overwrite_frequency``)
and ``gradient_accumulation_steps`` on every optimizer: NumPy references of
SGD with momentum and Adam over several steps, fit against a hand-written
PyTorch loop (eager and jit_compile=True), a custom train_step and a
generator of batches against the built-in fit on arrays, the end of fit (all
epochs, a callback's stop, Ctrl-C, EarlyStopping's restore), configs, saved
models and BackupAndRestore resuming exactly, and the errors.
The CUDA-graph step's averaging is checked in tests/training/test_graph_step.py.

NumPy comparisons run in float64 with rtol=1e-12; fit in float32 against the
torch loop with rtol=1e-5, atol=1e-6 (float32 sums in another order).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import _ema_accumulation as averaging
from brainnet import optimizers
from brainnet.callbacks import BackupAndRestore, EarlyStopping, LambdaCallback
from brainnet.layers import Dense
from brainnet.models import Sequential, load_model
from brainnet.training import state
from brainnet.utils import set_random_seed

SHAPES = [(3, 4), (5,)]
ALL = [optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW, optimizers.Adagrad,
       optimizers.Adamax, optimizers.Nadam]


# ------------------------------------------------------------ NumPy references
def sgd_rule(lr, momentum):
    """Keras's form: v ← μv − ηg; θ ← θ + v."""
    velocity = {}

    def update(theta, grads, t):
        for i, g in enumerate(grads):
            velocity[i] = momentum * velocity.get(i, 0.0) - lr * g
            theta[i] = theta[i] + velocity[i]
    return update


def adam_rule(lr, b1=0.9, b2=0.999, eps=1e-7):
    m, s = {}, {}

    def update(theta, grads, t):
        for i, g in enumerate(grads):
            m[i] = b1 * m.get(i, 0.0) + (1 - b1) * g
            s[i] = b2 * s.get(i, 0.0) + (1 - b2) * g * g
            theta[i] = theta[i] - lr * (m[i] / (1 - b1 ** t)) / (np.sqrt(s[i] / (1 - b2 ** t)) + eps)
    return update


def np_run(rule, init, grads, ema=None, freq=None, n=None):
    """Keras 3's order per call: (accumulate, or) update; then with EMA
    θ̄ ← m'θ̄ + (1 − m')θ (m' = 0 while k = 0), θ ← θ̄ when (k + 1) % freq == 0,
    k the updates before this call (calls // n with accumulation)."""
    theta = [a.copy() for a in init]
    avg = [np.zeros_like(a) for a in init]
    acc = [np.zeros_like(a) for a in init]
    updates = 0
    for calls, g in enumerate(grads):
        if n and (calls + 1) % n != 0:
            acc = [a + gi for a, gi in zip(acc, g)]
        else:
            if n:
                g, acc = [(gi + a) / n for gi, a in zip(g, acc)], [np.zeros_like(a) for a in init]
            updates += 1
            rule(theta, g, updates)
        k = calls // n if n else calls
        if ema is not None:
            mm = 0.0 if k == 0 else ema
            avg = [mm * a + (1 - mm) * t for a, t in zip(avg, theta)]
            if freq and (k + 1) % freq == 0:
                theta = [a.copy() for a in avg]
    return theta, avg


def make(steps, seed=0):
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s) for s in SHAPES]
    return init, [[rng.normal(size=s) for s in SHAPES] for _ in range(steps)]


def torch_run(opt, init, grads):
    params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    opt.build(params)
    for g in grads:
        opt.apply([torch.from_numpy(gi.copy()) for gi in g], params)
    return [p.detach().numpy() for p in params], opt


def assert_close(a, b):
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


CASES = [  # the optimizer (with its options) and its NumPy rule
    (lambda **kw: optimizers.SGD(0.1, momentum=0.9, **kw), lambda: sgd_rule(0.1, 0.9)),
    (lambda **kw: optimizers.Adam(0.05, **kw), lambda: adam_rule(0.05)),
]


@pytest.mark.parametrize("case", [0, 1], ids=["sgd", "adam"])
@pytest.mark.parametrize("freq", [None, 3])
def test_ema_follows_the_numpy_reference_over_several_steps(case, freq):
    make_opt = CASES[case][0]
    init, grads = make(8)
    theta, opt = torch_run(make_opt(use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=freq), init, grads)
    ref_theta, ref_avg = np_run(_rule(case), init, grads, ema=0.9, freq=freq)
    assert_close(theta, ref_theta)
    assert_close([a.numpy() for a in opt.averages], ref_avg)
    # Without an overwrite the weights are the plain optimizer's; with one, they differ.
    plain, _ = torch_run(make_opt(), init, grads)
    assert all(np.array_equal(a, b) for a, b in zip(theta, plain)) == (freq is None)
    opt.finalize_variable_values()
    assert_close([p.detach().numpy() for g in opt.torch_optimizer.param_groups for p in g["params"]], ref_avg)


def _rule(case):  # a fresh rule (each holds its own state)
    return CASES[case][1]()


@pytest.mark.parametrize("case", [0, 1], ids=["sgd", "adam"])
@pytest.mark.parametrize("n", [2, 3])
def test_accumulation_updates_on_every_nth_step_with_the_mean_gradient(case, n):
    make_opt = CASES[case][0]
    init, grads = make(2 * n + 1)  # two full groups, then one gradient waiting
    theta, opt = torch_run(make_opt(gradient_accumulation_steps=n), init, grads)
    ref, _ = np_run(_rule(case), init, grads, n=n)
    assert_close(theta, ref)
    assert opt.steps == 2 * n + 1 and opt.iterations == 2
    assert_close([a.numpy() for a in opt.accumulators], grads[-1])  # the last gradient, not yet used
    # One group of n gradients is one step on their mean.
    mean = [sum(g[i] for g in grads[:n]) / n for i in range(len(SHAPES))]
    one, _ = torch_run(make_opt(), init, [mean])
    group, _ = torch_run(make_opt(gradient_accumulation_steps=n), init, grads[:n])
    assert_close(group, one)
    before, _ = torch_run(make_opt(gradient_accumulation_steps=n), init, grads[:n - 1])
    assert_close(before, init)  # no update before the n-th gradient


@pytest.mark.parametrize("case", [0, 1], ids=["sgd", "adam"])
def test_ema_with_accumulation_averages_every_call_and_overwrites_by_updates(case):
    make_opt = CASES[case][0]
    init, grads = make(9)
    theta, opt = torch_run(make_opt(use_ema=True, ema_momentum=0.8, ema_overwrite_frequency=2,
                                    gradient_accumulation_steps=2), init, grads)
    ref_theta, ref_avg = np_run(_rule(case), init, grads, ema=0.8, freq=2, n=2)
    assert_close(theta, ref_theta)
    assert_close([a.numpy() for a in opt.averages], ref_avg)


def test_captured_averaging_reads_the_device_counter_not_the_host_count():
    # The CUDA-graph step bakes host values into the graph: with a counter, the
    # first-step copy and the overwrite follow the counter whatever `iterations` says.
    params = [torch.ones(3)]
    for k, first, due in ((0, True, False), (1, False, True), (2, False, False), (3, False, True)):
        avg = [torch.full((3,), 5.0)]
        p = [params[0].clone()]
        averaging.average(p, avg, 0.5, 999, 2, torch.tensor(k))
        expected = 1.0 if first else 3.0  # m' = 0 at k = 0, else 0.5·5 + 0.5·1
        assert torch.equal(avg[0], torch.full((3,), expected))
        assert torch.equal(p[0], avg[0] if due else torch.ones(3))


# ------------------------------------------------------------ fit
def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype("float32")
    return x, (x @ rng.normal(size=(5, 2))).astype("float32")


def _model(seed=0):
    set_random_seed(seed)
    model = Sequential([Dense(8, activation="tanh", input_shape=(5,)), Dense(2)])
    model.build((None, 5))
    return model


def _torch_loop(model, x, y, make_torch_opt, epochs, batch, ema=None, freq=None, n=None):
    params = list(model.parameters())
    opt = make_torch_opt(params)
    avg = [torch.zeros_like(p) for p in params]
    acc = [torch.zeros_like(p) for p in params]
    calls = 0
    for _ in range(epochs):
        for i in range(0, len(x), batch):
            opt.zero_grad()
            xb, yb = torch.from_numpy(x[i:i + batch]), torch.from_numpy(y[i:i + batch])
            torch.mean((model(xb) - yb) ** 2).backward()
            with torch.no_grad():
                if n and (calls + 1) % n != 0:
                    for a, p in zip(acc, params):
                        a += p.grad
                else:
                    if n:
                        for a, p in zip(acc, params):
                            p.grad = (p.grad + a) / n
                            a.zero_()
                    opt.step()
                k = calls // n if n else calls
                if ema is not None:
                    mm = 0.0 if k == 0 else ema
                    for a, p in zip(avg, params):
                        a.mul_(mm).add_(p, alpha=1 - mm)
                    if freq and (k + 1) % freq == 0:
                        for a, p in zip(avg, params):
                            p.copy_(a)
            calls += 1
    if ema is not None:
        with torch.no_grad():
            for a, p in zip(avg, params):
                p.copy_(a)


@pytest.mark.parametrize("kind, jit_compile", [("ema-sgd", False), ("accumulate-adam", False),
                                               ("both-adam", False), ("ema-sgd", True)])
def test_fit_trains_as_a_hand_written_torch_loop(kind, jit_compile):
    x, y = _data()
    settings = {"ema-sgd": dict(ema=0.9, freq=5), "accumulate-adam": dict(n=3),
                "both-adam": dict(ema=0.9, freq=2, n=2)}[kind]
    kwargs = {}
    if "ema" in settings:
        kwargs.update(use_ema=True, ema_momentum=settings["ema"], ema_overwrite_frequency=settings["freq"])
    if "n" in settings:
        kwargs["gradient_accumulation_steps"] = settings["n"]
    if kind.endswith("sgd"):
        opt, make_torch = optimizers.SGD(0.05, momentum=0.9, **kwargs), lambda p: torch.optim.SGD(p, 0.05, 0.9)
    else:
        opt, make_torch = optimizers.Adam(0.01, **kwargs), lambda p: torch.optim.Adam(p, 0.01, eps=1e-7)
    model, by_hand = _model(), _model()
    model.compile(opt, "mse", device="cpu", jit_compile=jit_compile)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _torch_loop(by_hand, x, y, make_torch, 3, 16, **settings)
    for p, q in zip(model.parameters(), by_hand.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert opt.steps == 12 and opt.iterations == 12 // settings.get("n", 1)


def test_accumulating_two_batches_of_16_trains_as_batches_of_32():
    x, y = _data()
    small, large = _model(), _model()
    small.compile(optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=2), "mse", device="cpu")
    large.compile(optimizers.SGD(0.1, momentum=0.9), "mse", device="cpu")
    small.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    large.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    for p, q in zip(small.parameters(), large.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def _averages_are_the_weights(model):
    return all(torch.equal(p, a) for p, a in zip(model.parameters(), model.optimizer.averages))


def test_fit_writes_the_average_into_the_weights_however_it_ends():
    x, y = _data()
    # All epochs.
    model = _model()
    model.compile(optimizers.Adam(0.01, use_ema=True), "mse", device="cpu")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert _averages_are_the_weights(model)
    # A callback stops it (as EarlyStopping does).
    model = _model()
    model.compile(optimizers.Adam(0.01, use_ema=True), "mse", device="cpu")
    stop = LambdaCallback(on_train_batch_end=lambda b, logs: setattr(model, "stop_training", b == 1))
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[stop])
    assert len(history.epoch) == 1 and _averages_are_the_weights(model)
    # Ctrl-C.
    model = _model()
    model.compile(optimizers.Adam(0.01, use_ema=True), "mse", device="cpu")

    def interrupt(batch, logs):
        if batch == 2:
            raise KeyboardInterrupt
    with pytest.warns(UserWarning, match=r"fit: interrupted \(Ctrl-C\)"):
        model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[LambdaCallback(on_train_batch_end=interrupt)])
    assert model.optimizer.steps == 3 and _averages_are_the_weights(model)
    # Without use_ema nothing is written (the optimizer keeps no average).
    model = _model()
    model.compile(optimizers.Adam(0.01), "mse", device="cpu")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.optimizer.averages is None and model.optimizer.accumulators is None


def test_saved_model_resumes_averages_and_accumulators_exactly(tmp_path):
    x, y = _data(48)  # 3 batches of 16: the first fit ends inside an accumulation group
    opt = lambda: optimizers.Adam(0.01, use_ema=True, ema_overwrite_frequency=3,  # noqa: E731
                                  gradient_accumulation_steps=2)
    straight, saved = _model(), _model()
    for m in (straight, saved):
        m.compile(opt(), "mse", device="cpu")
        m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert float(saved.optimizer.accumulators[0].abs().sum()) > 0  # a gradient waits in the accumulators
    saved.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    config = loaded.optimizer.get_config()
    assert (config["use_ema"], config["ema_overwrite_frequency"], config["gradient_accumulation_steps"]) == (True, 3, 2)
    straight.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    loaded.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert loaded.optimizer.steps == straight.optimizer.steps == 9
    for p, q in zip(loaded.parameters(), straight.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


# ------------------------------------------------------------ configs and errors
@pytest.mark.parametrize("cls", ALL)
def test_config_round_trip(cls):
    opt = cls(learning_rate=0.02, use_ema=True, ema_momentum=0.95, ema_overwrite_frequency=10,
              gradient_accumulation_steps=4)
    config = opt.get_config()
    assert (config["use_ema"], config["ema_momentum"], config["ema_overwrite_frequency"],
            config["gradient_accumulation_steps"]) == (True, 0.95, 10, 4)
    assert cls(**config).get_config() == config
    assert optimizers.get({"class_name": cls.__name__, "config": config}).get_config() == config
    assert not {"use_ema", "ema_momentum", "gradient_accumulation_steps"} & cls().get_config().keys()


@pytest.mark.parametrize("kwargs, match", [
    ({"use_ema": 1}, r"Adam: expected use_ema to be True or False, got 1\. Fix: Adam\(use_ema=True\)"),
    ({"use_ema": True, "ema_momentum": 1.5},
     r"Adam: expected ema_momentum to be a number in \[0, 1\], got 1\.5\. Fix: Adam\(use_ema=True, ema_momentum=0\.99\)"),
    ({"use_ema": True, "ema_overwrite_frequency": 0},
     r"Adam: expected ema_overwrite_frequency to be an integer ≥ 1 or None, got 0\. Fix: Adam\(use_ema=True, "
     r"ema_overwrite_frequency=100\)"),
    ({"gradient_accumulation_steps": 1},
     r"Adam: expected gradient_accumulation_steps to be an integer ≥ 2 or None, got 1\. Fix: "
     r"Adam\(gradient_accumulation_steps=4\)"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimizers.Adam(**kwargs)


def test_finalize_with_other_weights_is_refused():
    init, grads = make(1)
    _, opt = torch_run(optimizers.SGD(0.1, use_ema=True), init, grads)
    with pytest.raises(ValueError, match=r"SGD\.finalize_variable_values: expected the 2 weights the optimizer was "
                                         r"built for, got 1\. Fix: optimizer\.finalize_variable_values\(\)"):
        opt.finalize_variable_values([torch.zeros(3)])


def test_a_state_saved_without_use_ema_starts_the_average_at_the_weights(tmp_path):
    x, y = _data()
    model = _model()
    model.compile(optimizers.Adam(0.01), "mse", device="cpu")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.save(tmp_path / "plain.brainnet")
    loaded = load_model(tmp_path / "plain.brainnet", compile=False)
    loaded.compile(optimizers.Adam(0.01, use_ema=True), "mse", device="cpu")
    loaded.trainer.build_optimizer()
    tensors, info = state.optimizer_state(model.optimizer)
    state.load_optimizer_state(loaded.optimizer, tensors, info, "test")
    assert loaded.optimizer.steps == 4 and _averages_are_the_weights(loaded)


def test_early_stopping_restores_its_best_weights_after_the_average_is_written():
    # Keras's order: finalize_variable_values, then on_train_end (restore_best_weights has the last word).
    x, y = _data()
    model, plain = _model(), _model()
    model.compile(optimizers.Adam(0.01, use_ema=True), "mse", device="cpu")
    plain.compile(optimizers.Adam(0.01), "mse", device="cpu")
    stop = EarlyStopping(monitor="loss", mode="max", patience=1, restore_best_weights=True)  # epoch 1 is the best
    history = model.fit(x, y, batch_size=16, epochs=5, shuffle=False, verbose=0, callbacks=[stop])
    plain.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert len(history.epoch) == 2
    for p, q in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert not _averages_are_the_weights(model)


class _OwnStep(Sequential):
    """A custom train_step (Keras 3's guide): the optimizer applied by hand."""

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        return {"loss": loss.detach()}


def test_a_custom_train_step_averages_accumulates_and_ends_as_the_built_in_fit():
    x, y = _data()
    models = []
    for cls in (_OwnStep, Sequential):
        set_random_seed(0)
        model = cls([Dense(8, activation="tanh", input_shape=(5,)), Dense(2)])
        model.compile(optimizers.Adam(0.01, use_ema=True, ema_overwrite_frequency=2, gradient_accumulation_steps=2),
                      "mse", device="cpu")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        models.append(model)
    own, built_in = models
    assert own.optimizer.steps == 8 and own.optimizer.iterations == 4 and _averages_are_the_weights(own)
    for p, q in zip(own.parameters(), built_in.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_fit_on_a_generator_of_batches_averages_and_accumulates_as_on_arrays():
    x, y = _data()

    def batches():
        while True:
            for start in range(0, len(x), 16):
                yield x[start:start + 16], y[start:start + 16]

    arrays, streamed = _model(), _model()
    for m in (arrays, streamed):
        m.compile(optimizers.SGD(0.05, momentum=0.9, use_ema=True, ema_overwrite_frequency=3,
                                 gradient_accumulation_steps=2), "mse", device="cpu")
    arrays.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    streamed.fit(batches(), steps_per_epoch=4, epochs=3, verbose=0)
    assert streamed.optimizer.steps == 12 and _averages_are_the_weights(streamed)
    for p, q in zip(streamed.parameters(), arrays.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_backup_and_restore_after_ctrl_c_resumes_exactly(tmp_path):
    x, y = _data(48)  # 3 batches an epoch: epochs end inside accumulation groups
    opt = lambda: optimizers.Adam(0.01, use_ema=True, ema_overwrite_frequency=2,  # noqa: E731
                                  gradient_accumulation_steps=2)
    straight, resumed = _model(), _model()
    straight.compile(opt(), "mse", device="cpu")
    straight.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0)

    resumed.compile(opt(), "mse", device="cpu")

    def interrupt(batch, logs):
        if resumed.optimizer.steps == 8:  # in epoch 3, after the backup of epoch 2
            raise KeyboardInterrupt
    with pytest.warns(UserWarning, match=r"interrupted \(Ctrl-C\) in epoch 3/4"):
        resumed.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0,
                    callbacks=[BackupAndRestore(tmp_path), LambdaCallback(on_train_batch_end=interrupt)])
    resumed.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0, callbacks=[BackupAndRestore(tmp_path)])
    assert resumed.optimizer.steps == straight.optimizer.steps == 12
    for p, q in zip(resumed.parameters(), straight.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_docstring_examples_run():
    import doctest

    import brainnet._optimizer_base

    for module in (averaging, brainnet._optimizer_base):
        failures, tried = doctest.testmod(module)
        assert failures == 0 and tried > 0, module.__name__
