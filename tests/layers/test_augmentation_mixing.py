"""MixUp and CutMix (Keras 3) against their docstring equations, float64:
the mixing weights and the permutation read back from one-hot labels (each
image its own class), the images then checked pixel by pixel with NumPy; the
Beta sampler against NumPy's by a two-sample Kolmogorov–Smirnov distance;
identity at inference, seeds, the images-only and dict forms, configs,
save/load and errors."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch

import brainnet.layers.augmentation_mixing
from brainnet.layers import CutMix, Dense, Flatten, MixUp
from brainnet.layers.augmentation_mixing import _beta
from brainnet.models import Sequential, load_model


def _batch(n: int = 8, h: int = 6, w: int = 9, c: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(np.random.default_rng(seed).random((n, h, w, c)) + 1.0)  # no two pixels alike
    return x, torch.eye(n, dtype=torch.float64)  # image k is class k


def _read_back(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """λ_n and π(n) from mixed one-hot labels y'[n] = λ_n e_n + (1 − λ_n) e_π(n)."""
    n = labels.shape[0]
    lam, order = np.diag(labels).copy(), np.arange(n)
    for k in range(n):
        others = labels[k].copy()
        others[k] = -1.0
        if others.max() > 0:
            order[k] = int(others.argmax())
    return lam, order


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


# ------------------------------------------------------------------ the draws
@pytest.mark.parametrize("alpha", [0.2, 0.5, 1.0])
def test_beta_draws_follow_numpy_beta(alpha):
    layer = MixUp(seed=5)
    ours = _beta(layer, 4000, alpha, torch.zeros(1, dtype=torch.float64)).numpy()
    theirs = np.random.default_rng(0).beta(alpha, alpha, 4000)
    assert np.all((ours >= 0) & (ours <= 1))
    assert _ks(ours, theirs) < 0.045  # the two-sample KS critical value at p = 0.001 is 0.0436


# ------------------------------------------------------------------ MixUp
def test_mixup_matches_the_equation():
    x, y = _batch()
    for seed in range(5):
        out = MixUp(alpha=1.0, seed=seed)({"images": x, "labels": y}, training=True)
        lam, order = _read_back(out["labels"].numpy())
        moved = order != np.arange(8)
        assert moved.any() and np.ptp(lam[moved]) < 1e-12  # one λ for the batch
        lam_b = lam[moved][0]
        expected = lam_b * x.numpy() + (1 - lam_b) * x.numpy()[order]
        np.testing.assert_allclose(out["images"].numpy(), expected, rtol=0, atol=1e-12)
        assert sorted(order) == list(range(8))  # a permutation


# ------------------------------------------------------------------ CutMix
def test_cutmix_matches_the_equation():
    x, y = _batch(n=16, h=12, w=15)
    checked = 0
    for seed in range(4):
        out = CutMix(seed=seed)({"images": x, "labels": y}, training=True)
        lam, order = _read_back(out["labels"].numpy())
        xs, ys = x.numpy(), out["images"].numpy()  # (λ_n = 1 hides π(n): such an image must be unchanged)
        for k in range(16):
            if order[k] == k:
                np.testing.assert_array_equal(ys[k], xs[k])
                continue
            from_other = (ys[k] == xs[order[k]]).all(-1)
            assert np.all(from_other | (ys[k] == xs[k]).all(-1))  # every pixel from one of the two
            rows, cols = np.flatnonzero(from_other.any(1)), np.flatnonzero(from_other.any(0))
            r = np.sqrt(1 - lam[k])
            if from_other.any():
                assert from_other.sum() == rows.size * cols.size  # one full rectangle
                assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
                checked += 1
            assert abs(rows.size - r * 12) <= 1 and abs(cols.size - r * 15) <= 1  # sides r·H, r·W
    assert checked >= 20


def test_cutmix_factor_zero_width_keeps_lambda_near_zero_or_one():
    x, y = _batch(n=64)
    lam = CutMix((0.0, 0.0), seed=1)({"images": x, "labels": y}, training=True)["labels"].diagonal().numpy()
    assert np.mean((lam < 0.01) | (lam > 0.99)) > 0.95  # α = 10⁻⁶: λ at 0 or 1


# ------------------------------------------------------------------ both
@pytest.mark.filterwarnings("ignore:.*their labels are not")
@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_forms_inference_seeds_and_config(cls):
    x, y = _batch()
    layer = cls(seed=3)
    assert layer(x, training=False) is x
    kept = layer({"images": x, "labels": y}, training=False)
    assert kept["images"] is x and kept["labels"] is y
    images_only = cls(seed=3)(x, training=True)
    assert torch.equal(images_only, cls(seed=3)({"images": x}, training=True)["images"])
    assert torch.equal(images_only, cls(seed=3)({"images": x, "labels": y}, training=True)["images"])
    assert not torch.equal(images_only, cls(seed=4)(x, training=True))
    from_numpy = cls(seed=3)({"images": x.numpy(), "labels": y.numpy()}, training=True)
    assert torch.equal(from_numpy["images"], images_only)
    config = layer.get_config()
    assert cls.from_config(config).get_config() == config


@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_images_without_labels_in_training_warn_once_that_labels_stay_unmixed(cls):
    """Inside a model the labels never reach the layer: the images are mixed
    (as Keras does) and the user is told, once per layer, where to mix instead."""
    x, y = _batch()
    layer = cls(seed=0)
    with pytest.warns(UserWarning, match=rf"\({cls.__name__}\): got images without labels in training, so the "
                      r"images are mixed but their labels are not .* Fix: mix where batches are made, e\.g\. in a "
                      rf"PyDataset's __getitem__: out = {cls.__name__}\(\)\(\{{'images': x, 'labels': y_one_hot\}}, "
                      r"training=True\)"):
        mixed = layer(x, training=True)
    assert not torch.equal(mixed, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer(x, training=True)  # said once
        cls(seed=0)({"images": x, "labels": y}, training=True)  # labels given: nothing to say
        cls(seed=0)(x, training=False)  # inference: identity


@pytest.mark.filterwarnings("ignore:.*their labels are not")
def test_inside_a_model_and_saved(tmp_path):
    x = _batch()[0].float().numpy()
    model = Sequential([MixUp(0.4, input_shape=(6, 9, 2), seed=1), CutMix(0.5, seed=2), Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    path = tmp_path / "mixing.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_docstring_examples():
    failures, tried = doctest.testmod(brainnet.layers.augmentation_mixing)
    assert tried >= 6 and failures == 0


def test_errors():
    x, y = _batch()
    with pytest.raises(ValueError, match=r"MixUp: expected alpha in \(0, 1\] \(the Beta\(α, α\) of the mixing "
                                         r"weight\), got 0\. Fix: MixUp\(alpha=0.2\)"):
        MixUp(alpha=0)
    with pytest.raises(ValueError, match=r"CutMix: expected factor within \[0, 1\].*Fix: CutMix\(factor=0.5\)"):
        CutMix(2.0)
    with pytest.raises(ValueError, match=r"\(MixUp\): expected one-hot or soft labels of shape \(batch, classes\) = "
                                         r"\(8, classes\) as floats, got torch.int64 of shape \(8,\)\. Fix: labels = "
                                         r"brainnet.utils.to_categorical"):
        MixUp(seed=0)({"images": x, "labels": torch.arange(8)}, training=True)
    with pytest.raises(ValueError, match=r"\(CutMix\): expected the images alone or a dict with 'images' \(and "
                                         r"'labels'\), got a dict with keys \['image', 'label'\]\. Fix: CutMix"):
        CutMix()({"image": x, "label": y})
    with pytest.raises(ValueError, match="expected input of rank 4"):
        CutMix()({"images": x[0], "labels": y}, training=True)
    for cls, batch in ((MixUp, (x, y)), (CutMix, [x, y])):  # a Keras (x, y) batch; it crashed in the layer's call
        with pytest.raises(TypeError, match=rf"\({cls.__name__}\): expected the images alone or a dict "
                                            rf"\{{'images': x, 'labels': y\}}, got a {type(batch).__name__} of 2\. "
                                            rf"Fix: {cls.__name__}\(\)\(\{{'images': x, 'labels': y_one_hot\}}, "
                                            r"training=True\)"):
            cls(seed=0)(batch, training=True)
