"""brainnet/_direct_update.py: the fused SGD, Adam and AdamW updates called
without torch.optim's step wrapper give torch.optim's results bit for bit,
keep its state, step aside where they do not apply, and keep a training
script from importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from brainnet import _direct_update as direct_update


def _weights(seed: int = 0, device: str = "cpu") -> list[torch.nn.Parameter]:
    """A matrix, a vector, a channels-last kernel and a matrix stored as its
    transpose (a recurrent layer's, strides (1, 6)): the last two reach the
    kernel as views in memory order."""
    g = torch.Generator().manual_seed(seed)
    kernel = torch.randn(4, 3, 3, 3, generator=g).contiguous(memory_format=torch.channels_last)
    torch_order = torch.randn(7, 6, generator=g).t()
    return [torch.nn.Parameter(t.to(device)) for t in (torch.randn(5, 3, generator=g), torch.randn(3, generator=g),
                                                       kernel, torch_order)]


def _gradients(weights: list[torch.nn.Parameter], step: int) -> list[torch.Tensor]:
    """Gradients in their weights' layouts, as autograd gives them."""
    g = torch.Generator().manual_seed(100 + step)
    return [torch.empty_like(w).copy_(torch.randn(w.shape, generator=g)) for w in weights]


CONFIGS = [
    (torch.optim.SGD, dict(lr=0.1)),
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (torch.optim.SGD, dict(lr=0.05, momentum=0.5, dampening=0.1, maximize=True)),
    (torch.optim.Adam, dict(lr=1e-2)),
    (torch.optim.Adam, dict(lr=1e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.01, amsgrad=True)),
    (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.05)),
    (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.05, amsgrad=True, maximize=True)),
]


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (run on the GPU machine)")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
@pytest.mark.parametrize("cls,kwargs", CONFIGS, ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_direct_step_equals_torch_optim_bit_for_bit(cls, kwargs, device):
    ours, theirs = _weights(device=device), _weights(device=device)
    opt_ours = direct_update.constructed(cls, ours, fused=True, **kwargs)
    opt_theirs = cls(theirs, fused=True, **kwargs)
    for step in range(4):
        for w_ours, w_theirs, g in zip(ours, theirs, _gradients(ours, step)):
            g = g.to(device)
            w_ours.grad, w_theirs.grad = g.clone(memory_format=torch.preserve_format), g
        if step == 1:  # a step of torch.optim's own in between: the state is the same state
            opt_ours.step()
        else:
            assert direct_update.step(opt_ours) is True
        opt_theirs.step()
        for a, b in zip(ours, theirs):
            assert torch.equal(a, b)
    got, want = direct_update.plain_call(opt_ours, "state_dict"), opt_theirs.state_dict()
    assert got["param_groups"] == want["param_groups"]
    assert got["state"].keys() == want["state"].keys()
    for i, state in want["state"].items():
        assert got["state"][i].keys() == state.keys()
        for key, value in state.items():
            assert got["state"][i][key].dtype == value.dtype and torch.equal(got["state"][i][key], value), key


@pytest.mark.parametrize("cls,kwargs,kernel", [
    (torch.optim.SGD, dict(lr=0.1, momentum=0.9), "_fused_sgd_"),
    (torch.optim.Adam, dict(lr=1e-2, amsgrad=True), "_fused_adam_"),
])
def test_strided_weights_reach_the_kernel_as_views_in_memory_order(cls, kwargs, kernel, monkeypatch):
    """The channels-last kernel and the transposed matrix, with their
    gradients and state, are passed as contiguous 1-D views of their own
    memory (PyTorch's CPU kernels are slower on strided tensors); a weight
    whose gradient has other strides is passed as it is."""
    weights = _weights()
    opt = direct_update.constructed(cls, weights, fused=True, **kwargs)
    calls = []
    real = getattr(torch, kernel)
    monkeypatch.setattr(torch, kernel, lambda *a, **k: calls.append(a) or real(*a, **k))
    for step in range(2):  # the first step makes the state, the second reads it
        for w, g in zip(weights, _gradients(weights, step)):
            w.grad = g
        assert direct_update.step(opt) is True
    tensor_lists = [a for a in calls[-1] if isinstance(a, list) and a and a[0].dim() > 0]
    assert len(tensor_lists) == (3 if cls is torch.optim.SGD else 5)  # weights, gradients, state
    for tensors in tensor_lists:
        assert all(t.is_contiguous() for t in tensors)
        assert [t.dim() for t in tensors[2:]] == [1, 1] and tensors[2].numel() == 108 and tensors[3].numel() == 42
    assert tensor_lists[0][2].data_ptr() == weights[2].data_ptr()
    assert tensor_lists[0][3].data_ptr() == weights[3].data_ptr()
    weights[3].grad = torch.randn(weights[3].shape)  # contiguous, unlike its weight
    for w, g in zip(weights[:3], _gradients(weights, 2)):
        w.grad = g
    direct_update.step(opt)
    passed = [a for a in calls[-1] if isinstance(a, list) and a and a[0].dim() > 0]
    assert passed[0][3] is weights[3] and passed[1][3] is weights[3].grad and passed[0][2].dim() == 1


def test_zero_grad_sets_every_gradient_to_none():
    weights = _weights()
    opt = direct_update.constructed(torch.optim.Adam, weights, lr=0.1, fused=True)
    for w, g in zip(weights, _gradients(weights, 0)):
        w.grad = g
    direct_update.zero_grad(opt)
    assert all(w.grad is None for w in weights)


def test_constructed_is_the_same_optimizer_as_the_constructor_makes():
    weights = _weights()
    made = direct_update.constructed(torch.optim.SGD, weights[:2], lr=0.3, momentum=0.9, fused=True)
    plain = torch.optim.SGD(_weights()[:2], lr=0.3, momentum=0.9, fused=True)
    assert type(made) is torch.optim.SGD
    assert "add_param_group" not in vars(made)  # the constructor's helper is gone again
    strip = [{k: v for k, v in g.items() if k != "params"} for g in made.param_groups]
    assert strip == [{k: v for k, v in g.items() if k != "params"} for g in plain.param_groups]
    made.add_param_group({"params": [weights[2]], "lr": 0.01})  # later groups: torch.optim's own method
    assert made.param_groups[1]["lr"] == 0.01 and made.param_groups[1]["momentum"] == 0.9
    with pytest.raises(ValueError, match="empty parameter list"):
        direct_update.constructed(torch.optim.Adam, [], lr=0.1)


def test_plain_call_loads_a_state():
    source = _weights()
    opt = direct_update.constructed(torch.optim.Adam, source, lr=0.1, fused=True)
    for w, g in zip(source, _gradients(source, 0)):
        w.grad = g
    direct_update.step(opt)
    saved = direct_update.plain_call(opt, "state_dict")
    target = direct_update.constructed(torch.optim.Adam, _weights(), lr=0.5, fused=True)
    direct_update.plain_call(target, "load_state_dict", saved)
    assert target.param_groups[0]["lr"] == 0.1
    assert torch.equal(target.state[target.param_groups[0]["params"][0]]["exp_avg"],
                       opt.state[source[0]]["exp_avg"])


def _with_gradients(weights):
    for w, g in zip(weights, _gradients(weights, 0)):
        w.grad = g
    return weights


@pytest.mark.parametrize("case", ["not_fused", "other_class", "missing_gradient", "step_hook", "tensor_lr",
                                  "two_dtypes", "grad_scale"])
def test_where_the_direct_update_steps_aside_it_changes_nothing(case):
    weights = _with_gradients(_weights())
    if case == "not_fused":
        opt = torch.optim.Adam(weights, lr=0.1)
    elif case == "other_class":
        opt = torch.optim.RMSprop(weights, lr=0.1)
    elif case == "missing_gradient":
        weights[1].grad = None
        opt = torch.optim.SGD(weights, lr=0.1, fused=True)
    elif case == "step_hook":
        opt = torch.optim.SGD(weights, lr=0.1, fused=True)
        opt.register_step_post_hook(lambda *args: None)
    elif case == "tensor_lr":
        opt = torch.optim.Adam(weights, lr=torch.tensor(0.1), fused=True)
    elif case == "two_dtypes":
        weights[1].data = weights[1].data.double()
        weights[1].grad = weights[1].grad.double()
        opt = torch.optim.SGD(weights, lr=0.1, fused=True)
    else:
        opt = torch.optim.Adam(weights, lr=0.1, fused=True)
        opt.grad_scale = torch.tensor(2.0)
    before = [w.detach().clone() for w in weights]
    assert direct_update.step(opt) is False
    assert all(torch.equal(w, b) for w, b in zip(weights, before))
    assert not opt.state


def test_a_training_script_does_not_import_torch_dynamo():
    """fit, evaluate, predict, save and load with Adam run without importing
    torch._dynamo (about 1.5 s of a script's start on a two-core CPU)."""
    script = textwrap.dedent("""
        import os, sys, tempfile
        import numpy as np
        import brainnet
        from brainnet import layers
        x = np.random.rand(64, 2).astype("float32"); y = (x.sum(1) > 1).astype("float32")
        for name in ("adam", "sgd", "adamw"):
            model = brainnet.Sequential([layers.Input((2,)), layers.Dense(4, activation="tanh"),
                                         layers.Dense(1, activation="sigmoid")])
            model.compile(optimizer=name, loss="binary_crossentropy", metrics=["accuracy"])
            model.fit(x, y, epochs=2, batch_size=16, verbose=0, validation_split=0.25)
            model.evaluate(x, y, verbose=0); model.predict(x, verbose=0)
            path = os.path.join(tempfile.mkdtemp(), "m.keras")
            model.save(path)
            brainnet.models.load_model(path).fit(x, y, epochs=1, verbose=0)
        print("torch._dynamo" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"
