"""Regularizers on the layers beyond Dense and Conv2D (Keras's argument names):
SimpleRNN, LSTM, GRU, Bidirectional, Conv1D, Embedding, MultiHeadAttention,
BatchNormalization and LayerNormalization.

For each: the penalty in ``model.losses`` is the docstring's ``R(w)`` computed
with NumPy on the layer's weights; ``evaluate`` with the regularizer minus
``evaluate`` without it, on the same weights and data, is that penalty; one
SGD step moves the regularized weight by ``−η ∂R/∂w`` more than without it
(so fit minimises it); and the arguments survive get_config and save/load.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import numpy as np
import pytest
import torch

from brainnet import optimizers, regularizers
from brainnet.layers import (
    GRU,
    LSTM,
    BatchNormalization,
    Bidirectional,
    Conv1D,
    Dense,
    Embedding,
    Flatten,
    Input,
    LayerNormalization,
    MultiHeadAttention,
    SimpleRNN,
)
from brainnet.models import Model, load_model
from brainnet.utils import set_random_seed

L1, L2, L1L2 = regularizers.L1, regularizers.L2, regularizers.L1L2
N, T, F = 6, 4, 3  # samples, time steps, features: small enough to run in milliseconds


def _np(w: torch.Tensor) -> np.ndarray:
    return w.detach().double().numpy()


def _penalty(reg: regularizers.Regularizer, w: np.ndarray) -> float:
    """R(w) written out: l1 · Σ|w| + l2 · Σw² (each factor 0 when absent)."""
    cfg = reg.get_config()
    return cfg.get("l1", 0.0) * np.abs(w).sum() + cfg.get("l2", 0.0) * (w**2).sum()


def _penalty_grad(reg: regularizers.Regularizer, w: np.ndarray) -> np.ndarray:
    """∂R/∂w = l1 · sign(w) + 2 · l2 · w."""
    cfg = reg.get_config()
    return cfg.get("l1", 0.0) * np.sign(w) + 2 * cfg.get("l2", 0.0) * w


def _mha(**regs: Any) -> Callable:
    layer = MultiHeadAttention(num_heads=2, key_dim=2, name="reg", **regs)
    return lambda x: layer(x, x)


# name → (make the regularized part of the model from **regs, the regs, whether the
# input is token indices, the weights each regularizer covers: arg → [attribute paths])
CASES: dict[str, tuple[Callable, dict[str, Any], bool, dict[str, list[str]]]] = {
    "SimpleRNN": (lambda **r: SimpleRNN(3, name="reg", **r),
                  dict(kernel_regularizer=L2(0.05), recurrent_regularizer=L1(0.02), bias_regularizer=L2(0.3)),
                  False, {"kernel_regularizer": ["kernel"], "recurrent_regularizer": ["recurrent_kernel"],
                          "bias_regularizer": ["bias"]}),
    "LSTM recurrent L2": (lambda **r: LSTM(3, name="reg", **r), dict(recurrent_regularizer=L2(0.01)),
                          False, {"recurrent_regularizer": ["recurrent_kernel"]}),
    "LSTM all": (lambda **r: LSTM(3, return_sequences=True, name="reg", **r),
                 dict(kernel_regularizer=L1L2(0.01, 0.02), recurrent_regularizer=L1(0.03),
                      bias_regularizer=L2(0.1)),
                 False, {"kernel_regularizer": ["kernel"], "recurrent_regularizer": ["recurrent_kernel"],
                         "bias_regularizer": ["bias"]}),
    "GRU reset_after bias (2, 3u)": (lambda **r: GRU(3, name="reg", **r),
                                     dict(bias_regularizer=L2(0.2), kernel_regularizer=L1(0.01)),
                                     False, {"bias_regularizer": ["bias"], "kernel_regularizer": ["kernel"]}),
    "GRU reset_after=False": (lambda **r: GRU(3, reset_after=False, name="reg", **r),
                              dict(recurrent_regularizer=L2(0.04)), False,
                              {"recurrent_regularizer": ["recurrent_kernel"]}),
    "Bidirectional(LSTM)": (lambda **r: Bidirectional(LSTM(3, **r), name="reg"),
                            dict(recurrent_regularizer=L2(0.01), kernel_regularizer=L1(0.02)), False,
                            {"recurrent_regularizer": ["forward_layer.recurrent_kernel",
                                                       "backward_layer.recurrent_kernel"],
                             "kernel_regularizer": ["forward_layer.kernel", "backward_layer.kernel"]}),
    "Conv1D": (lambda **r: Conv1D(2, 2, name="reg", **r), dict(kernel_regularizer=L2(0.1), bias_regularizer=L1(0.2)),
               False, {"kernel_regularizer": ["kernel"], "bias_regularizer": ["bias"]}),
    "Embedding": (lambda **r: Embedding(7, 3, name="reg", **r), dict(embeddings_regularizer=L2(0.05)),
                  True, {"embeddings_regularizer": ["embeddings"]}),
    "MultiHeadAttention": (_mha, dict(kernel_regularizer=L2(0.02), bias_regularizer=L1(0.05)), False,
                           {"kernel_regularizer": [f"{p}.kernel" for p in ("query_dense", "key_dense",
                                                                           "value_dense", "output_dense")],
                            "bias_regularizer": [f"{p}.bias" for p in ("query_dense", "key_dense",
                                                                       "value_dense", "output_dense")]}),
    "BatchNormalization": (lambda **r: BatchNormalization(name="reg", **r),
                           dict(gamma_regularizer=L2(0.1), beta_regularizer=L1(0.2)), False,
                           {"gamma_regularizer": ["gamma"], "beta_regularizer": ["beta"]}),
    "LayerNormalization": (lambda **r: LayerNormalization(name="reg", **r),
                           dict(gamma_regularizer=L1(0.1), beta_regularizer=L2(0.3)), False,
                           {"gamma_regularizer": ["gamma"], "beta_regularizer": ["beta"]}),
}


def _data(tokens: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 7, size=(N, T)) if tokens else rng.normal(size=(N, T, F)).astype(np.float32)
    return x, rng.normal(size=(N, 1)).astype(np.float32)


def _model(case: str, with_regs: bool) -> tuple[Model, Any]:
    """Input → the case's layer → Flatten (if needed) → Dense(1), compiled with
    SGD and mse; the trainable weights set to the same random values each time."""
    make, regs, tokens, _ = CASES[case]
    set_random_seed(0)
    inp = Input(shape=(T,), dtype="int64") if tokens else Input(shape=(T, F))
    layer = make(**(regs if with_regs else {}))
    h = layer(inp)
    if len(h.shape) > 2:
        h = Flatten()(h)
    model = Model(inp, Dense(1)(h))
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    rng = np.random.default_rng(1)
    with torch.no_grad():
        for p in model.parameters():  # not the initial values (BN's β = 0, γ = 1 hide mistakes)
            p.copy_(torch.from_numpy(rng.normal(scale=0.5, size=tuple(p.shape))))
    return model, next(l for l in model.layers if l.name == "reg")


def _weight(layer: Any, path: str) -> torch.Tensor:
    for part in path.split("."):
        layer = getattr(layer, part)
    return layer


@pytest.mark.parametrize("case", list(CASES))
def test_penalty_is_the_stated_one_and_evaluate_adds_it(case):
    _, regs, tokens, covers = CASES[case]
    x, y = _data(tokens)
    model, layer = _model(case, with_regs=True)
    expected = sum(_penalty(regs[arg], _np(_weight(layer, path))) for arg, paths in covers.items() for path in paths)
    got = sum(float(t.detach()) for t in model.losses)
    assert len(model.losses) == sum(len(p) for p in covers.values())  # each weight once (both directions once)
    assert got == pytest.approx(expected, rel=1e-6)
    plain, _ = _model(case, with_regs=False)
    assert plain.losses == []
    diff = model.evaluate(x, y, batch_size=N, verbose=0) - plain.evaluate(x, y, batch_size=N, verbose=0)
    assert diff == pytest.approx(expected, rel=1e-5, abs=1e-5)


@pytest.mark.parametrize("case", list(CASES))
def test_one_sgd_step_adds_the_penalty_gradient(case):
    """Same weights, same data: the regularized model's step differs only on the
    regularized weights, by exactly −η · ∂R/∂w."""
    _, regs, tokens, covers = CASES[case]
    x, y = _data(tokens)
    model, layer = _model(case, with_regs=True)
    plain, plain_layer = _model(case, with_regs=False)
    before = {path: _np(_weight(layer, path)) for paths in covers.values() for path in paths}
    for m in (model, plain):
        m.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    for arg, paths in covers.items():
        for path in paths:
            step = _np(_weight(layer, path)) - _np(_weight(plain_layer, path))
            np.testing.assert_allclose(step, -0.1 * _penalty_grad(regs[arg], before[path]), rtol=1e-4, atol=1e-6)
    regularized = {id(_weight(layer, p)) for paths in covers.values() for p in paths}
    for (name, w), w_plain in zip(model.named_parameters(), plain.parameters()):
        if id(w) not in regularized:
            np.testing.assert_allclose(_np(w), _np(w_plain), rtol=1e-5, atol=1e-6, err_msg=name)


def test_fit_reports_the_loss_with_the_penalty():
    """One batch, one epoch: fit's loss is evaluate's before the step, penalty included."""
    x, y = _data(False)
    model, _ = _model("LSTM recurrent L2", with_regs=True)
    before = model.evaluate(x, y, batch_size=N, verbose=0)
    history = model.fit(x, y, batch_size=N, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(before, rel=1e-5)


# ------------------------------------------------------------------ activity
def test_recurrent_activity_penalty_is_on_every_output_tensor():
    """Keras 3: R of each output tensor; with return_state the states count too."""
    x = torch.from_numpy(_data(False)[0])
    lstm = LSTM(3, return_sequences=True, activity_regularizer=L2(0.1))
    y = lstm(x)
    assert float(lstm.losses[0].detach()) == pytest.approx(0.1 * (_np(y) ** 2).sum(), rel=1e-6)
    lstm = LSTM(3, return_state=True, activity_regularizer=L1(0.2))
    out, h, c = lstm(x)
    want = 0.2 * (np.abs(_np(out)).sum() + np.abs(_np(h)).sum() + np.abs(_np(c)).sum())
    assert float(lstm.losses[0].detach()) == pytest.approx(want, rel=1e-6)
    # Bidirectional: each direction's own output, before the merge.
    bi = Bidirectional(GRU(2, return_sequences=True, activity_regularizer=L2(0.3)))
    merged = _np(bi(x))
    fw, bw = merged[..., :2], merged[..., 2:]  # the backward half is re-aligned in time: same sum
    got = sum(float(t.detach()) for t in bi.losses)
    assert got == pytest.approx(0.3 * ((fw**2).sum() + (bw**2).sum()), rel=1e-6)


def test_recurrent_activity_penalty_is_in_evaluate():
    x, y = _data(False)
    set_random_seed(0)
    model, plain = (
        Model(inp := Input(shape=(T, F)), Dense(1)(SimpleRNN(3, name="rnn", **regs)(inp)))
        for regs in ({"activity_regularizer": L2(0.5)}, {})
    )
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile("sgd", "mse")
    rnn = next(l for l in model.layers if l.name == "rnn")
    h = _np(rnn(torch.from_numpy(x)))  # (N, units): h_T of every sample
    diff = model.evaluate(x, y, batch_size=N, verbose=0) - plain.evaluate(x, y, batch_size=N, verbose=0)
    assert diff == pytest.approx(0.5 * (h**2).sum(), rel=1e-5)


def test_attention_activity_penalty_is_on_its_four_projections():
    """As Keras 3: R(Q) + R(K) + R(V) + R(y), not R of the returned scores."""
    x = torch.from_numpy(_data(False)[0])
    mha = MultiHeadAttention(num_heads=2, key_dim=2, activity_regularizer=L2(0.1))
    y, scores = mha(x, x, return_attention_scores=True)
    xs = _np(x)
    projections = [
        np.einsum("btd,dhk->bthk", xs, _np(d.kernel)) + _np(d.bias)
        for d in (mha.query_dense, mha.key_dense, mha.value_dense)
    ]
    want = 0.1 * (sum((p**2).sum() for p in projections) + (_np(y) ** 2).sum())
    assert sum(float(t.detach()) for t in mha.losses) == pytest.approx(want, rel=1e-5)
    assert mha.activity_regularizer is None  # the layer's own outputs are not penalised twice


# ------------------------------------------------------------------ config, saving, errors
@pytest.mark.parametrize("case", list(CASES))
def test_get_config_round_trip(case):
    _, regs, _, _ = CASES[case]
    _, layer = _model(case, with_regs=True)
    config = json.loads(json.dumps(layer.get_config()))  # JSON-safe
    again = type(layer).from_config(config)
    assert again.get_config() == config
    inner = again.forward_layer if isinstance(again, Bidirectional) else again
    for arg, reg in regs.items():
        stored = getattr(inner, "projection_activity_regularizer" if arg == "activity_regularizer"
                         and isinstance(inner, MultiHeadAttention) else arg)
        assert type(stored) is type(reg) and stored.get_config() == reg.get_config()


def test_regularizers_survive_save_and_load(tmp_path):
    set_random_seed(0)
    tokens = Input(shape=(T,), dtype="int64")
    h = Embedding(7, 4, embeddings_regularizer="l2", activity_regularizer=L1(0.01))(tokens)
    h = Conv1D(4, 2, padding="same", kernel_regularizer=L2(0.1))(h)
    h = LayerNormalization(gamma_regularizer=L1(0.1), beta_regularizer="l2")(h)
    h = MultiHeadAttention(2, 2, kernel_regularizer=L2(0.02), bias_regularizer=L1(0.1),
                           activity_regularizer=L2(0.001))(h, h)
    h = Bidirectional(LSTM(3, return_sequences=True, recurrent_regularizer=L1L2(0.01, 0.02),
                           activity_regularizer=L2(0.01)))(h)
    h = BatchNormalization(gamma_regularizer=L2(0.1), beta_regularizer=L1(0.2))(h)
    h = GRU(2, return_sequences=True, kernel_regularizer=L1(0.05), bias_regularizer=L2(0.1))(h)
    h = SimpleRNN(2, recurrent_regularizer="l1", activity_regularizer=L2(0.01))(h)
    model = Model(tokens, Dense(1)(h))
    model.compile("sgd", "mse")
    x, y = _data(True)
    model.fit(x, y, batch_size=3, epochs=1, verbose=0)  # moving statistics and biases away from their initial values
    model.save(tmp_path / "reg.brainnet")
    loaded = load_model(tmp_path / "reg.brainnet")
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    got = [float(t.detach()) for t in loaded.losses]
    assert len(got) == len(model.losses) and got == pytest.approx([float(t.detach()) for t in model.losses], rel=1e-6)


def test_a_plain_function_regularizer_works_but_cannot_be_saved():
    bi = Bidirectional(LSTM(2, recurrent_regularizer=lambda w: w.abs().max()))
    bi(torch.ones(1, T, F))
    want = sum(np.abs(_np(l.recurrent_kernel)).max() for l in (bi.forward_layer, bi.backward_layer))
    assert sum(float(t.detach()) for t in bi.losses) == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="cannot be written to a file"):
        bi.get_config()


@pytest.mark.parametrize("make, arg", [
    (lambda **r: SimpleRNN(2, **r), "recurrent_regularizer"),
    (lambda **r: LSTM(2, **r), "kernel_regularizer"),
    (lambda **r: GRU(2, **r), "bias_regularizer"),
    (lambda **r: LSTM(2, **r), "activity_regularizer"),
    (lambda **r: MultiHeadAttention(2, 2, **r), "activity_regularizer"),
    (lambda **r: BatchNormalization(**r), "gamma_regularizer"),
    (lambda **r: LayerNormalization(**r), "beta_regularizer"),
    (lambda **r: Embedding(5, 2, **r), "embeddings_regularizer"),
])
def test_errors_name_the_argument(make, arg):
    with pytest.raises(ValueError, match=rf"Unknown regularizer 'L22' for {arg}\. Expected 'l1', 'l2', "
                                         rf"'l1_l2'.* Fix: {arg}='l2'\."):
        make(**{arg: "L22"})
    with pytest.raises(ValueError, match=rf"Unknown regularizer 'ridge' for {arg}\..* Fix: "
                                         rf"{arg}=brainnet\.regularizers\.L2\(1e-4\)\."):
        make(**{arg: "ridge"})
    with pytest.raises(ValueError, match=rf"^{arg}: expected None, 'l1', 'l2', 'l1_l2', a Regularizer or a "
                                         rf"function, got 3\. Fix: {arg}=brainnet\.regularizers\.L2\(1e-4\)\."):
        make(**{arg: 3})
