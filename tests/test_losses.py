"""Losses against hand-computed values (float64), the from_logits forms, the
1e-7 clipping, the class forms' batch mean, the fused path and losses.get."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainnet import _loss_base, losses

F64 = torch.float64
EPS = 1e-7


def t(values, dtype=F64) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def close(actual: torch.Tensor, expected, atol: float = 1e-12) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=0, atol=atol)


P = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]


# ------------------------------------------------------------ hand-computed
def test_sparse_categorical_crossentropy_hand_values():
    out = losses.sparse_categorical_crossentropy(t([0, 2], torch.int64), t(P))
    # −log 0.7 = 0.35667494393873245, −log 0.6 = 0.5108256237659907
    close(out, [0.35667494393873245, 0.5108256237659907])
    close(out, [-math.log(0.7), -math.log(0.6)])


def test_sparse_labels_of_shape_n_1_and_float():
    expected = [-math.log(0.2), -math.log(0.1)]
    close(losses.sparse_categorical_crossentropy(t([[1], [0]], torch.int64), t(P)), expected)
    close(losses.sparse_categorical_crossentropy(t([1.0, 0.0]), t(P)), expected)


def test_categorical_crossentropy_hand_values():
    out = losses.categorical_crossentropy(t([[1, 0, 0], [0, 0, 1]]), t(P))
    close(out, [-math.log(0.7), -math.log(0.6)])
    # Soft labels: −(0.5·log 0.7 + 0.5·log 0.2) = 0.9830564281864164
    close(losses.categorical_crossentropy(t([[0.5, 0.5, 0.0]]), t([P[0]])), [0.9830564281864164])


def test_categorical_crossentropy_normalizes_predictions():
    # Keras divides y_pred by its sum first: [1.4, 0.4, 0.2] ~ [0.7, 0.2, 0.1].
    close(losses.categorical_crossentropy(t([[1, 0, 0]]), t([[1.4, 0.4, 0.2]])), [-math.log(0.7)])


def test_binary_crossentropy_hand_values():
    out = losses.binary_crossentropy(t([[1, 0], [0, 1]]), t([[0.9, 0.2], [0.4, 0.5]]))
    # sample 0: −(log 0.9 + log 0.8)/2 = 0.16425203348601799 ; sample 1: −(log 0.6 + log 0.5)/2
    close(out, [0.16425203348601799, -(math.log(0.6) + math.log(0.5)) / 2])


def test_binary_crossentropy_single_output_labels_shapes():
    p = t([[0.9], [0.3]])
    expected = [-math.log(0.9), -math.log(0.7)]
    close(losses.binary_crossentropy(t([[1], [0]]), p), expected)
    close(losses.binary_crossentropy(t([1, 0], torch.int64), p), expected)


def test_mean_squared_error_hand_values():
    out = losses.mean_squared_error(t([[1, 2], [3, 4]]), t([[1.5, 2], [2, 4]]))
    close(out, [0.125, 0.5])  # (0.25 + 0)/2, (1 + 0)/2


# ------------------------------------------------------------------- shapes
@pytest.mark.parametrize("outer", [(5,), (2, 3)])
def test_per_sample_shapes(outer):
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(size=outer + (4,)))
    p = torch.softmax(z, -1)
    idx = torch.from_numpy(rng.integers(0, 4, size=outer))
    onehot = torch.nn.functional.one_hot(idx, 4).to(F64)
    assert losses.sparse_categorical_crossentropy(idx, p).shape == outer
    assert losses.categorical_crossentropy(onehot, p).shape == outer
    assert losses.binary_crossentropy((p > 0.25).to(F64), p).shape == outer
    assert losses.mean_squared_error(onehot, p).shape == outer


# --------------------------------------------------------------- from_logits
def _logits(shape=(6, 5), seed=0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(scale=2.0, size=shape))


def test_from_logits_equivalence_categorical_and_sparse():
    z = _logits()
    idx = torch.tensor([0, 4, 2, 2, 1, 3])
    onehot = torch.nn.functional.one_hot(idx, 5).to(F64)
    p = torch.softmax(z, -1)
    close(losses.categorical_crossentropy(onehot, z, from_logits=True),
          losses.categorical_crossentropy(onehot, p).numpy())
    close(losses.sparse_categorical_crossentropy(idx, z, from_logits=True),
          losses.sparse_categorical_crossentropy(idx, p).numpy())


def test_from_logits_equivalence_binary():
    z = _logits((6, 3), seed=1)
    y = (torch.from_numpy(np.random.default_rng(2).uniform(size=(6, 3))) > 0.5).to(F64)
    close(losses.binary_crossentropy(y, z, from_logits=True),
          losses.binary_crossentropy(y, torch.sigmoid(z)).numpy())


# ---------------------------------------------------------------- clipping
L_EPS = -math.log(1e-7)  # 16.11809565095832


def test_clipping_probability_zero():
    p = t([[1.0, 0.0, 0.0]])
    close(losses.sparse_categorical_crossentropy(t([1], torch.int64), p), [L_EPS], atol=1e-9)
    close(losses.categorical_crossentropy(t([[0, 1, 0]]), p), [L_EPS], atol=1e-9)
    # p = 1 for the true class is clipped to 1 − 1e-7: −log(1 − 1e-7) ≈ 1.0000000494736474e-07
    close(losses.sparse_categorical_crossentropy(t([0], torch.int64), p), [-math.log(1 - EPS)], atol=1e-15)
    close(losses.categorical_crossentropy(t([[1, 0, 0]]), p), [-math.log(1 - EPS)], atol=1e-15)
    assert math.isclose(L_EPS, 16.11809565095832)


def test_clipping_binary():
    out = losses.binary_crossentropy(t([[1.0], [0.0], [1.0]]), t([[0.0], [1.0], [1.0]]))
    assert torch.isfinite(out).all()
    close(out, [L_EPS, L_EPS, -math.log(1 - EPS)], atol=1e-8)


# ------------------------------------------------------------ class forms
def test_class_forms_average_over_batch():
    idx = t([0, 2], torch.int64)
    onehot = t([[1, 0, 0], [0, 0, 1]])
    mean = (-math.log(0.7) - math.log(0.6)) / 2
    close(losses.SparseCategoricalCrossentropy()(idx, t(P)), mean)
    close(losses.CategoricalCrossentropy()(onehot, t(P)), mean)
    close(losses.BinaryCrossentropy()(t([[1, 0], [0, 1]]), t([[0.9, 0.2], [0.4, 0.5]])),
          (0.16425203348601799 - (math.log(0.6) + math.log(0.5)) / 2) / 2)
    close(losses.MeanSquaredError()(t([[1, 2], [3, 4]]), t([[1.5, 2], [2, 4]])), (0.125 + 0.5) / 2)


def test_class_forms_from_logits():
    z = _logits()
    idx = torch.tensor([0, 4, 2, 2, 1, 3])
    expected = losses.sparse_categorical_crossentropy(idx, torch.softmax(z, -1)).mean()
    close(losses.SparseCategoricalCrossentropy(from_logits=True)(idx, z), expected.item())
    assert losses.SparseCategoricalCrossentropy(from_logits=True).get_config() == {
        "name": "sparse_categorical_crossentropy", "from_logits": True,
    }


# ------------------------------------------------------------- fused path
def test_fused_categorical_equals_non_fused():
    z = _logits((7, 4), seed=3)
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 3, 1, 0]), 4).to(F64)
    loss = losses.CategoricalCrossentropy()
    assert loss.can_fuse("softmax")
    close(loss.from_logits_mean(y, z), loss(y, torch.softmax(z, -1)).item())


@pytest.mark.parametrize("labels", [[0, 1, 2, 3, 3, 1, 0], [[0], [1], [2], [3], [3], [1], [0]]])
def test_fused_sparse_equals_non_fused(labels):
    z = _logits((7, 4), seed=4)
    y = torch.tensor(labels)
    loss = losses.SparseCategoricalCrossentropy()
    assert loss.can_fuse("softmax")
    close(loss.from_logits_mean(y, z), loss(y, torch.softmax(z, -1)).item())


def test_fused_binary_equals_non_fused():
    z = _logits((7, 2), seed=5)
    y = (torch.from_numpy(np.random.default_rng(6).uniform(size=(7, 2))) > 0.5).to(F64)
    loss = losses.BinaryCrossentropy()
    assert loss.can_fuse("sigmoid")
    close(loss.from_logits_mean(y, z), loss(y, torch.sigmoid(z)).item())


def test_fused_sequence_outputs():
    z = _logits((2, 3, 4), seed=8)
    y = torch.tensor([[0, 1, 3], [2, 2, 0]])
    loss = losses.SparseCategoricalCrossentropy()
    close(loss.from_logits_mean(y, z), loss(y, torch.softmax(z, -1)).item())


def test_can_fuse_only_matching_activation():
    assert not losses.CategoricalCrossentropy().can_fuse("sigmoid")
    assert not losses.CategoricalCrossentropy(from_logits=True).can_fuse("softmax")
    assert not losses.BinaryCrossentropy().can_fuse("softmax")
    assert not losses.SparseCategoricalCrossentropy().can_fuse(None)
    assert not losses.MeanSquaredError().can_fuse("linear")


def test_fused_categorical_accepts_integer_one_hot_like_non_fused():
    z = _logits((3, 3), seed=9)
    y = torch.tensor([[1, 0, 0], [0, 0, 1], [0, 1, 0]])  # int64 one-hot: the non-fused loss takes it
    loss = losses.CategoricalCrossentropy()
    expected = loss(y, torch.softmax(z, -1)).item()
    close(loss.from_logits_mean(y, z), expected)


def test_sparse_equals_categorical_on_unnormalized_predictions():
    # Keras's categorical and sparse cross-entropies both divide y_pred by its sum;
    # brainnet's categorical does, the sparse one does not, so they disagree.
    p = t([[1.4, 0.4, 0.2], [0.2, 0.2, 0.2]])
    idx = t([0, 1], torch.int64)
    onehot = t([[1, 0, 0], [0, 1, 0]])
    close(losses.sparse_categorical_crossentropy(idx, p), losses.categorical_crossentropy(onehot, p).numpy())
    close(losses.sparse_categorical_crossentropy(idx, p), [-math.log(0.7), -math.log(1 / 3)])


# --------------------------------------------------------------------- get
@pytest.mark.parametrize(
    "name, cls",
    [
        ("categorical_crossentropy", losses.CategoricalCrossentropy),
        ("Sparse_Categorical_Crossentropy", losses.SparseCategoricalCrossentropy),
        ("binary_crossentropy", losses.BinaryCrossentropy),
        ("mean_squared_error", losses.MeanSquaredError),
        ("MSE", losses.MeanSquaredError),
    ],
)
def test_get_by_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert loss.from_logits is False


@pytest.mark.parametrize(
    "name, cls",
    [
        ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy),
        ("SparseCategoricalCrossEntropy", losses.SparseCategoricalCrossentropy),
        ("CategoricalCrossentropy", losses.CategoricalCrossentropy),
        ("BinaryCrossentropy", losses.BinaryCrossentropy),
        ("MeanSquaredError", losses.MeanSquaredError),
        ("MeanAbsoluteError", losses.MeanAbsoluteError),
    ],
)
def test_get_by_keras_class_name(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls and loss.get_config() == cls().get_config()


def test_get_misspelt_class_name_suggests_the_class_name():
    with pytest.raises(ValueError, match=r"Unknown loss 'SparseCategoricalCrosentropy'.*"
                                         r"Fix: loss='SparseCategoricalCrossentropy'\."):
        losses.get("SparseCategoricalCrosentropy")


@pytest.mark.parametrize(
    "fn, cls",
    [
        (losses.categorical_crossentropy, losses.CategoricalCrossentropy),
        (losses.sparse_categorical_crossentropy, losses.SparseCategoricalCrossentropy),
        (losses.binary_crossentropy, losses.BinaryCrossentropy),
        (losses.mean_squared_error, losses.MeanSquaredError),
    ],
)
def test_get_by_function(fn, cls):
    assert type(losses.get(fn)) is cls


def test_get_instance_and_custom_function():
    inst = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(inst) is inst

    def mean_abs(y_true, y_pred):
        return (y_true - y_pred).abs().mean(-1)

    loss = losses.get(mean_abs)
    assert loss.name == "mean_abs"
    close(loss(t([[1.0, 2.0], [0.0, 0.0]]), t([[0.0, 2.0], [1.0, 3.0]])), (0.5 + 2.0) / 2)


def test_get_loss_class_instantiates_it():
    loss = losses.get(losses.CategoricalCrossentropy)
    assert type(loss) is losses.CategoricalCrossentropy
    close(loss(t([[1.0, 0.0]]), t([[0.7, 0.3]])), -math.log(0.7))


def test_get_unknown_name_error():
    with pytest.raises(
        ValueError,
        match=r"Unknown loss 'categorical_crossentropyy'\. Expected one of: categorical_crossentropy, "
        r"sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error, mse, mean_absolute_error, mae, "
        r"huber, kl_divergence, kld, log_cosh, hinge, squared_hinge, ctc, "
        r"or a class name \(CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, "
        r"MeanSquaredError, MeanAbsoluteError, Huber, KLDivergence, LogCosh, Hinge, SquaredHinge, CTC\), in any case; a brainnet\.losses\.Loss, or a function "
        r"fn\(y_true, y_pred\)\. Fix: loss='categorical_crossentropy'\.",
    ):
        losses.get("categorical_crossentropyy")


def test_get_unknown_name_without_close_match():
    with pytest.raises(ValueError, match=r"Unknown loss 'poisson'.*Fix: loss='sparse_categorical_crossentropy' "
                                         r"for integer class labels\."):
        losses.get("poisson")


# ------------------------------------------------------------- label smoothing
def _np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_categorical_label_smoothing_against_numpy(eps):
    """Keras: y ← y·(1 − ε) + ε/K, then −Σ y log p; probability and logits paths."""
    z = np.random.default_rng(4).normal(size=(6, 5))
    idx = np.array([0, 4, 2, 2, 1, 3])
    onehot = np.eye(5)[idx]
    smooth = onehot * (1 - eps) + eps / 5
    p = _np_softmax(z)
    expected = -(smooth * np.log(p)).sum(-1)
    loss = losses.CategoricalCrossentropy(label_smoothing=eps)
    close(loss(t(onehot), t(p)), expected.mean(), atol=1e-10)
    close(loss.from_logits_mean(t(onehot), t(z)), expected.mean(), atol=1e-10)  # fused path
    close(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=eps)(t(onehot), t(z)),
          expected.mean(), atol=1e-10)
    close(losses.categorical_crossentropy(t(onehot), t(p), label_smoothing=eps), expected, atol=1e-10)
    # Sparse labels: the same value (brainnet's extra; Keras 3's sparse loss has no smoothing).
    sparse = losses.SparseCategoricalCrossentropy(label_smoothing=eps)
    close(sparse(t(idx, torch.int64), t(p)), expected.mean(), atol=1e-10)
    close(sparse.from_logits_mean(t(idx, torch.int64), t(z)), expected.mean(), atol=1e-10)


@pytest.mark.parametrize("eps", [0.1, 0.5])
def test_binary_label_smoothing_against_numpy(eps):
    """Keras: y ← y·(1 − ε) + ε/2."""
    z = np.random.default_rng(5).normal(size=(4, 3))
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=np.float64)
    ys = y * (1 - eps) + eps / 2
    p = 1 / (1 + np.exp(-z))
    expected = (-(ys * np.log(p) + (1 - ys) * np.log(1 - p))).mean(-1).mean()
    loss = losses.BinaryCrossentropy(label_smoothing=eps)
    close(loss(t(y), t(p)), expected, atol=1e-10)
    close(loss.from_logits_mean(t(y), t(z)), expected, atol=1e-10)
    close(losses.BinaryCrossentropy(from_logits=True, label_smoothing=eps)(t(y), t(z)), expected, atol=1e-10)


def test_label_smoothing_config_and_errors():
    assert losses.CategoricalCrossentropy(label_smoothing=0.1).get_config() == {
        "name": "categorical_crossentropy", "from_logits": False, "label_smoothing": 0.1,
    }
    assert losses.BinaryCrossentropy().get_config()["label_smoothing"] == 0.0
    assert losses.SparseCategoricalCrossentropy(label_smoothing=0.2).get_config()["label_smoothing"] == 0.2
    for cls in (losses.CategoricalCrossentropy, losses.SparseCategoricalCrossentropy, losses.BinaryCrossentropy):
        again = cls(**cls(label_smoothing=0.2).get_config())
        assert again.label_smoothing == 0.2
        with pytest.raises(ValueError, match=r"expected label_smoothing in \[0, 1\], got 1.5.*Fix"):
            cls(label_smoothing=1.5)


def test_fit_with_label_smoothing_reports_the_smoothed_loss():
    from brainnet.layers import Dense
    from brainnet.models import Sequential

    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(10, 3)).astype(np.float32), rng.integers(0, 4, 10)
    model = Sequential([Dense(4, activation="softmax", input_shape=(3,))])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(label_smoothing=0.2))
    k, b = (w.astype(np.float64) for w in model.get_weights())
    logp = np.log(_np_softmax(x @ k + b))
    smooth = np.eye(4)[y] * 0.8 + 0.05
    assert model.evaluate(x, y, verbose=0) == pytest.approx(-(smooth * logp).sum(-1).mean(), rel=1e-5)


# ------------------------------------------------------------- Huber, KL divergence, log-cosh, hinges
def np_huber(y, p, delta):
    out = []
    for row_y, row_p in zip(y, p):
        terms = []
        for a, b in zip(row_y, row_p):
            e = b - a
            terms.append(0.5 * e * e if abs(e) <= delta else delta * abs(e) - 0.5 * delta * delta)
        out.append(sum(terms) / len(terms))
    return np.array(out)


def np_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return np.array([sum(a * math.log(a / b) for a, b in zip(ry, rp)) for ry, rp in zip(y, p)])


def np_log_cosh(y, p):
    return np.array([np.mean([math.log(math.cosh(b - a)) for a, b in zip(ry, rp)]) for ry, rp in zip(y, p)])


def np_hinge(y, p, squared=False):
    y = np.asarray(y, dtype=np.float64)
    if np.isin(y, [0, 1]).all():
        y = 2 * y - 1
    return np.array([np.mean([max(1 - a * b, 0) ** (2 if squared else 1) for a, b in zip(ry, rp)])
                     for ry, rp in zip(y, p)])


RNG = np.random.default_rng(11)
Y_REG, P_REG = RNG.normal(size=(6, 3)) * 2, RNG.normal(size=(6, 3)) * 2
Y_DIST, P_DIST = RNG.dirichlet(np.ones(4), 5), RNG.dirichlet(np.ones(4), 5)
Y_BIN, P_SCORE = RNG.integers(0, 2, (6, 3)), RNG.normal(size=(6, 3))


@pytest.mark.parametrize("delta", [1.0, 0.5, 3.0])
def test_huber_against_numpy(delta):
    close(losses.huber(t(Y_REG), t(P_REG), delta), np_huber(Y_REG, P_REG, delta))
    close(losses.Huber(delta)(t(Y_REG), t(P_REG)), np_huber(Y_REG, P_REG, delta).mean())
    close(losses.Huber(delta=delta)(Y_REG, P_REG), np_huber(Y_REG, P_REG, delta).mean(), atol=1e-5)  # arrays


def test_kl_divergence_log_cosh_hinge_against_numpy():
    close(losses.kl_divergence(t(Y_DIST), t(P_DIST)), np_kld(Y_DIST, P_DIST))
    close(losses.kl_divergence(t([[1.0, 0.0]]), t([[0.0, 1.0]])), np_kld([[1.0, 0.0]], [[0.0, 1.0]]))  # clipped
    close(losses.log_cosh(t(Y_REG), t(P_REG)), np_log_cosh(Y_REG, P_REG))
    big = t([[60.0, -60.0]])  # cosh(60) overflows nothing: e + softplus(−2e) − log 2
    close(losses.log_cosh(torch.zeros(1, 2, dtype=F64), big), [60.0 - math.log(2)])
    close(losses.hinge(t(Y_BIN), t(P_SCORE)), np_hinge(Y_BIN, P_SCORE))
    close(losses.squared_hinge(t(Y_BIN), t(P_SCORE)), np_hinge(Y_BIN, P_SCORE, squared=True))
    signed = 2 * Y_BIN - 1  # already −1/+1: used as they are
    close(losses.hinge(t(signed), t(P_SCORE)), np_hinge(signed, P_SCORE))
    for cls, fn in ((losses.KLDivergence, np_kld), (losses.LogCosh, np_log_cosh)):
        y, p = (Y_DIST, P_DIST) if cls is losses.KLDivergence else (Y_REG, P_REG)
        close(cls()(t(y), t(p)), fn(y, p).mean())
    close(losses.Hinge()(t(Y_BIN), t(P_SCORE)), np_hinge(Y_BIN, P_SCORE).mean())
    close(losses.SquaredHinge()(t(Y_BIN), t(P_SCORE)), np_hinge(Y_BIN, P_SCORE, squared=True).mean())


@pytest.mark.parametrize("name, cls", [
    ("huber", losses.Huber), ("Huber", losses.Huber), ("kl_divergence", losses.KLDivergence),
    ("kld", losses.KLDivergence), ("KLD", losses.KLDivergence), ("KLDivergence", losses.KLDivergence),
    ("log_cosh", losses.LogCosh), ("LogCosh", losses.LogCosh), ("hinge", losses.Hinge),
    ("squared_hinge", losses.SquaredHinge), ("SquaredHinge", losses.SquaredHinge),
])
def test_new_losses_by_keras_names(name, cls):
    assert type(losses.get(name)) is cls
    assert type(losses.get(getattr(losses, cls().fn.__name__))) is cls  # by function too


def test_huber_delta_error_and_config():
    with pytest.raises(ValueError, match=r"Huber: expected delta > 0 \(a number\), got -1.0. Fix: Huber\(delta=1.0\)"):
        losses.Huber(delta=-1.0)
    assert losses.Huber(2.0).get_config() == {"delta": 2.0, "name": "huber_loss"}
    assert losses.KLDivergence().get_config() == {"name": "kl_divergence"}


# ------------------------------------------------------------- called on NumPy arrays and lists
def test_losses_take_numpy_arrays_and_lists_and_return_a_scalar_tensor():
    y = np.array([1, 2])
    p = np.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    value = losses.SparseCategoricalCrossentropy()(y, p)
    assert isinstance(value, torch.Tensor) and value.dim() == 0
    expected = np.mean([-math.log(0.95), -math.log(0.1)])  # Keras's example: [0.0513, 2.303]
    assert float(value) == pytest.approx(expected, rel=1e-6)
    per_sample = losses.sparse_categorical_crossentropy([1, 2], p.tolist())
    close(per_sample, [-math.log(0.95), -math.log(0.1)], atol=1e-6)
    close(losses.categorical_crossentropy([[0, 1, 0]], [[0.05, 0.95, 0.0]]), [-math.log(0.95)], atol=1e-6)
    close(losses.binary_crossentropy([[0, 1]], [[0.6, 0.4]]), [-(math.log(0.4) + math.log(0.4)) / 2], atol=1e-6)
    close(losses.mean_squared_error([[1.0, 2.0]], [[0.0, 0.0]]), [2.5], atol=1e-6)
    close(losses.mean_absolute_error(np.array([[1.0, 2.0]]), t([[0.0, 0.0]])), [1.5])  # mixed: the tensor's dtype
    weighted = losses.MeanSquaredError()([[1.0], [2.0]], [[0.0], [0.0]], sample_weight=[1.0, 3.0])
    assert float(weighted) == pytest.approx((1 * 1 + 3 * 4) / 2)
    assert losses.Huber()([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).item() == pytest.approx(0.155, rel=1e-6)


def test_tensors_pass_through_without_conversion():
    y, p = t([[1.0, 0.0]]), t([[0.3, 0.2]])
    assert _loss_base._as_tensors(y, p)[0] is y and _loss_base._as_tensors(y, p)[1] is p


def test_a_loss_given_strings_says_what_it_expected():
    with pytest.raises(TypeError, match=r"expected numbers \(a torch tensor, NumPy array, list or number\) for a "
                                        r"loss or metric, got list of dtype <U3. Fix: convert the values first"):
        losses.mean_squared_error(["cat", "dog"], [[0.1, 0.2]])


def test_fit_with_huber_saves_and_loads(tmp_path):
    import brainnet
    from brainnet.layers import Dense
    from brainnet.models import Sequential

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5]) + rng.standard_cauchy(64) * 0.1).astype("float32")[:, None]
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile("sgd", losses.Huber(delta=0.5), device="cpu")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    loss = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    assert loss == pytest.approx(np_huber(y, pred, 0.5).mean(), rel=1e-5)
    model.save(tmp_path / "huber.keras")
    loaded = brainnet.models.load_model(tmp_path / "huber.keras")
    assert loaded.trainer.heads[0].loss.delta == 0.5
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-6)


# ------------------------------------------------------ a loss of your own
class _HalfSquares(losses.Loss):
    """Keras 3's way: override call, pass only a name (or none)."""

    def call(self, y_true, y_pred):
        return 0.5 * ((y_true - y_pred) ** 2).mean(-1)


def test_loss_subclass_overriding_call():
    y, p = np.array([[1.0, 2.0], [3.0, 5.0]]), np.array([[1.5, 2.0], [3.0, 4.0]])
    loss = _HalfSquares()
    assert loss.name == "_half_squares" and _HalfSquares(name="half").name == "half"
    close(loss(y, p), np.mean(0.5 * ((y - p) ** 2).mean(-1)))
    close(loss(y, p, sample_weight=[2.0, 0.0]), (2.0 * 0.5 * 0.125 + 0.0) / 2)


def test_loss_without_fn_or_call_is_refused():
    class Empty(losses.Loss):
        pass

    with pytest.raises(TypeError, match=r"Empty: expected a function fn\(y_true, y_pred\) or a subclass .*"
                                        r"got neither\. Fix: define call\(self, y_true, y_pred\)"):
        Empty(name="empty")


def test_a_loss_overriding_call_itself_takes_the_labels_as_given():
    # keras.io's supervised contrastive loss overrides __call__ and gets class labels beside (N, d) embeddings
    import brainnet

    class MeanOfSameLabelDistances(losses.Loss):
        def __call__(self, labels, embeddings, sample_weight=None):
            same = (labels[:, None] == labels[None, :]).to(embeddings.dtype)
            return (torch.cdist(embeddings, embeddings) * same).sum() / same.sum()

    loss = MeanOfSameLabelDistances()  # was: TypeError, neither fn nor call
    assert loss.name == "mean_of_same_label_distances"
    brainnet.utils.set_random_seed(0)
    model = brainnet.Sequential([brainnet.Input((4,)), brainnet.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=loss)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = np.arange(32) % 4  # (32,) class labels for (32, 3) outputs: was refused as not shaped like the output
    reported = model.evaluate(x, y, batch_size=32, verbose=0)
    e = model.predict(x, verbose=0).astype("float64")
    d = np.sqrt(((e[:, None] - e[None, :]) ** 2).sum(-1))
    same = y[:, None] == y[None, :]
    assert reported == pytest.approx(d[same].sum() / same.sum(), rel=1e-4)
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
