"""Pool before ReLU (brainnet/models/_fusion.py): a Conv2D/Dense with ReLU
followed by MaxPooling2D runs as relu(maxpool(z)); the outputs and every
gradient must be bit-for-bit those of maxpool(relu(z)), which is what the
layers say they compute. Checked against the unfused run (the rewrite
switched off) and against NumPy; the rewrite must also step aside whenever it
could be observed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import activations, regularizers
from brainnet.layers import Activation, Add, BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPooling2D
from brainnet.models import Model, Sequential, _fusion


def _cnn(padding: str = "valid", pool: tuple[int, int] = (2, 2), **conv: object) -> Sequential:
    torch.manual_seed(0)
    return Sequential([
        Conv2D(4, 3, activation="relu", padding=padding, input_shape=(14, 14, 2), **conv),
        MaxPooling2D(pool, padding=padding),
        Conv2D(3, 2, activation="relu"),
        MaxPooling2D((2, 2), strides=1),
        Flatten(),
        Dense(5),
    ])


def _activation_layer() -> Sequential:
    """Keras's other spelling: Conv2D, BatchNormalization, Activation("relu"), then the pooling."""
    torch.manual_seed(0)
    return Sequential([
        Conv2D(4, 3, input_shape=(14, 14, 2)), BatchNormalization(), Activation("relu"),
        MaxPooling2D((2, 2)), Flatten(), Dense(5),
    ])


def _functional() -> Model:
    torch.manual_seed(0)
    inputs = Input((9, 9, 2))
    h = MaxPooling2D((2, 2))(Conv2D(4, 3, activation="relu")(inputs))
    side = Conv2D(4, 3, activation="relu")(inputs)  # read twice: must not fuse
    a = MaxPooling2D((2, 2))(side)
    b = MaxPooling2D((3, 3))(side)
    out = Add()([Dense(5)(Flatten()(h)), Dense(5)(Flatten()(a)), Dense(5)(Flatten()(b))])
    return Model(inputs, out)


def _run(model: torch.nn.Module, x: torch.Tensor, fuse: bool, monkeypatch: pytest.MonkeyPatch):
    calls: list[bool] = []
    real = _fusion.pool_first

    def spy(producer, consumer):  # noqa: ANN001, ANN202
        ok = real(producer, consumer) if fuse else False
        calls.append(ok)
        return ok

    monkeypatch.setattr(_fusion, "pool_first", spy)
    model.zero_grad()
    x = x.clone().requires_grad_(True)
    out = model(x)
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    monkeypatch.setattr(_fusion, "pool_first", real)
    return out.detach(), x.grad.clone(), [p.grad.clone() for p in model.parameters()], calls


@pytest.mark.parametrize("build", [
    lambda: _cnn(), lambda: _cnn(padding="same"), lambda: _cnn(pool=(3, 3)),
    lambda: _cnn(strides=2), _activation_layer, _functional,
])
def test_fused_equals_unfused_bit_for_bit(build, monkeypatch):
    model = build()
    x = torch.randn(6, *model.input_shape[1:])
    x[0] = -1.0  # a sample whose first-layer windows are all negative: no gradient anywhere
    fused = _run(model, x, True, monkeypatch)
    plain = _run(model, x, False, monkeypatch)
    assert any(fused[3]), "the rewrite never applied"
    assert torch.equal(fused[0], plain[0])
    assert torch.equal(fused[1], plain[1])
    for a, b in zip(fused[2], plain[2]):
        assert torch.equal(a, b)


def test_ties_at_zero_route_no_gradient(monkeypatch):
    """relu-then-max sees a window of zeros (ties) where max-then-relu sees a
    negative maximum: both must give the whole window zero gradient."""
    model = Sequential([Conv2D(1, 1, activation="relu", use_bias=False, input_shape=(2, 2, 1)),
                        MaxPooling2D((2, 2)), Flatten()])
    model.set_weights([np.ones((1, 1, 1, 1), np.float32)])
    x = torch.tensor([[-3.0, -1.0], [-2.0, -4.0]]).view(1, 2, 2, 1)
    fused = _run(model, x, True, monkeypatch)
    assert fused[3][0] is True
    assert fused[0].item() == 0.0
    assert torch.count_nonzero(fused[1]) == 0 and torch.count_nonzero(fused[2][0]) == 0


def test_matches_numpy():
    """Conv2D(relu) → MaxPooling2D against a naive NumPy conv, ReLU, 2×2 max."""
    model = Sequential([Conv2D(3, 3, activation="relu", input_shape=(6, 6, 2)), MaxPooling2D((2, 2))])
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 2)).astype(np.float32)
    got = model(torch.from_numpy(x)).detach().numpy()
    kernel, bias = [w.astype(np.float64) for w in model.get_weights()]  # kernel (filters, c, u, v)
    z = np.zeros((2, 4, 4, 3))
    for i in range(4):
        for j in range(4):
            z[:, i, j] = np.einsum("nuvc,fcuv->nf", x[:, i:i + 3, j:j + 3], kernel) + bias
    want = np.maximum(z, 0).reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_steps_aside_when_it_could_be_seen(monkeypatch):
    conv, pool = Conv2D(2, 3, activation="relu"), MaxPooling2D((2, 2))
    assert _fusion.pool_first(conv, pool)
    assert not _fusion.pool_first(Conv2D(2, 3, activation="tanh"), pool)
    assert not _fusion.pool_first(Conv2D(2, 3), pool)
    assert not _fusion.pool_first(conv, Flatten())
    assert not _fusion.pool_first(Conv2D(2, 3, activation="relu", activity_regularizer=regularizers.L2(0.1)), pool)
    handle = conv.register_forward_hook(lambda *_: None)
    assert not _fusion.pool_first(conv, pool)
    handle.remove()
    handle = pool.register_forward_pre_hook(lambda *_: None)
    assert not _fusion.pool_first(conv, pool)
    handle.remove()
    handle = torch.nn.modules.module.register_module_forward_hook(lambda *_: None)
    assert not _fusion.pool_first(conv, pool)
    handle.remove()
    assert _fusion.pool_first(conv, pool)
    assert conv.activation is activations.relu


def test_hooked_layer_still_sees_its_activated_output():
    """What brainnet.explain relies on: a forward hook on the Conv2D gets relu(z)."""
    model = _cnn()
    seen = []
    model.layers[0].register_forward_hook(lambda _m, _i, out: seen.append(out))
    model(torch.randn(2, 14, 14, 2))
    assert seen and bool((seen[0] >= 0).all()) and seen[0].shape == (2, 12, 12, 4)
