"""Regularizers: penalty values against NumPy, model.losses, the loss fit and
evaluate report, one SGD step against the hand-computed gradient, and saving."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import optimizers, regularizers
from brainnet.layers import Conv1D, Conv2D, Dense, Embedding
from brainnet.models import Sequential, load_model


def _w(*shape: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).normal(size=shape))  # float64


def test_penalty_values_match_numpy():
    w = _w(5, 3)
    a = w.numpy()
    assert regularizers.L2(0.3)(w).item() == pytest.approx(0.3 * (a**2).sum(), rel=1e-12)
    assert regularizers.L1(0.2)(w).item() == pytest.approx(0.2 * np.abs(a).sum(), rel=1e-12)
    both = regularizers.L1L2(l1=0.2, l2=0.3)(w).item()
    assert both == pytest.approx(0.2 * np.abs(a).sum() + 0.3 * (a**2).sum(), rel=1e-12)


def test_keras_names_and_defaults():
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.0, "l2": 0.0}  # Keras 3: L1L2()
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.get(None) is None
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    again = regularizers.get(regularizers.serialize(regularizers.L1L2(0.1, 0.2)))
    assert isinstance(again, regularizers.L1L2) and again.get_config() == {"l1": 0.1, "l2": 0.2}


def test_errors():
    with pytest.raises(ValueError, match="Unknown regularizer 'l3'.*Fix"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match=r"expected l2 to be a number ≥ 0, got -1"):
        regularizers.L2(-1)
    with pytest.raises(ValueError, match="cannot be written to a file"):
        regularizers.serialize(lambda w: w.sum())
    with pytest.raises(ValueError, match="expected None, 'l1', 'l2'"):
        Dense(2, kernel_regularizer=3)


def test_model_losses_lists_weight_penalties():
    dense = Dense(3, kernel_regularizer=regularizers.L2(0.5), bias_regularizer=regularizers.L1(0.25))
    assert dense.losses == []  # not built: no weights yet
    dense(torch.ones(2, 4))
    with torch.no_grad():
        dense.bias.copy_(torch.tensor([1.0, -2.0, 3.0]))
    k = dense.kernel.detach().double().numpy()
    got = [float(t.detach()) for t in dense.losses]
    assert got == pytest.approx([0.5 * (k**2).sum(), 0.25 * 6.0], rel=1e-6)
    dense.trainable = False  # Keras 3: frozen weights add no penalty
    assert dense.losses == []


def test_layers_with_weights_take_regularizers():
    reg = regularizers.L2(0.1)
    conv2 = Conv2D(2, 3, kernel_regularizer=reg)
    conv2(torch.ones(1, 5, 5, 1))
    conv1 = Conv1D(2, 3, bias_regularizer=reg)
    conv1(torch.ones(1, 5, 1))
    with torch.no_grad():
        conv1.bias.fill_(2.0)
    emb = Embedding(10, 4, embeddings_regularizer=reg)
    emb(torch.zeros(1, 3, dtype=torch.long))
    assert float(conv2.losses[0].detach()) == pytest.approx(0.1 * float(conv2.kernel.detach().square().sum()), rel=1e-6)
    assert float(conv1.losses[0].detach()) == pytest.approx(0.1 * 2 * 4.0, rel=1e-6)
    assert float(emb.losses[0].detach()) == pytest.approx(0.1 * float(emb.embeddings.detach().square().sum()), rel=1e-6)


def test_activity_penalty_is_on_the_output_of_the_whole_batch():
    """Keras 3: R(y), y the output after the activation, summed over the batch (no division)."""
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32))
    dense = Dense(3, activation="relu", activity_regularizer=regularizers.L2(0.2))
    y = dense(x)
    assert len(dense.losses) == 1
    assert float(dense.losses[0].detach()) == pytest.approx(0.2 * float(y.detach().square().sum()), rel=1e-6)
    # The fused softmax path (logits) still penalises the probabilities.
    head = Dense(3, activation="softmax", activity_regularizer=regularizers.L1(1.0))
    logits = head(x, pre_activation=True)
    assert float(head.losses[0].detach()) == pytest.approx(6.0, rel=1e-5)  # Σ of 6 rows of probabilities
    assert logits.shape == (6, 3)


def _linear_model(reg: regularizers.Regularizer, lr: float = 0.1) -> Sequential:
    model = Sequential([Dense(2, input_shape=(3,), kernel_regularizer=reg)])
    model.compile(optimizer=optimizers.SGD(learning_rate=lr), loss="mse")
    return model


def test_evaluate_reports_data_loss_plus_penalties():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(8, 3)).astype(np.float32), rng.normal(size=(8, 2)).astype(np.float32)
    model = _linear_model(regularizers.L2(0.05))
    k, b = (w.astype(np.float64) for w in model.get_weights())
    data = ((x @ k + b - y) ** 2).mean()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data + 0.05 * (k**2).sum(), rel=1e-5)
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(data + 0.05 * (k**2).sum(), rel=1e-5)


@pytest.mark.parametrize("kind", ["l2", "l1"])
def test_one_sgd_step_adds_the_penalty_gradient(kind):
    """θ ← θ − η(∂L_data/∂θ + 2λθ) for L2, + λ·sign(θ) for L1."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 2)).astype(np.float32)
    lam, lr = 0.3, 0.1
    model = _linear_model(regularizers.L2(lam) if kind == "l2" else regularizers.L1(lam), lr)
    k, b = (w.astype(np.float64) for w in model.get_weights())
    err = x @ k + b - y  # (5, 2); L = mean over all 10 entries of err²
    grad_k = x.T.astype(np.float64) @ (2 * err / err.size)
    grad_b = (2 * err / err.size).sum(0)
    grad_k += 2 * lam * k if kind == "l2" else lam * np.sign(k)
    model.fit(x, y, batch_size=5, epochs=1, shuffle=False, verbose=0)
    new_k, new_b = model.get_weights()
    np.testing.assert_allclose(new_k, k - lr * grad_k, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - lr * grad_b, rtol=1e-5, atol=1e-6)


def test_save_load_keeps_the_regularizers(tmp_path):
    model = Sequential([
        Dense(4, input_shape=(3,), kernel_regularizer="l2", bias_regularizer=regularizers.L1L2(0.1, 0.2),
              activity_regularizer=regularizers.L1(0.3)),
        Dense(2),
    ])
    model.compile("sgd", "mse")
    path = tmp_path / "reg.brainnet"
    model.save(path)
    again = load_model(path)
    first = again.layers[0]
    assert isinstance(first.kernel_regularizer, regularizers.L2) and first.kernel_regularizer.l2 == 0.01
    assert first.bias_regularizer.get_config() == {"l1": 0.1, "l2": 0.2}
    assert first.activity_regularizer.get_config() == {"l1": 0.3}
    assert again.layers[1].kernel_regularizer is None
    x = np.ones((2, 3), np.float32)
    assert model.evaluate(x, np.zeros((2, 2)), verbose=0) == pytest.approx(
        again.evaluate(x, np.zeros((2, 2)), verbose=0), rel=1e-6)
