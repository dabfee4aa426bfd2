"""Keras 3's AugMix: against NumPy versions of its operations with its
chains, Dirichlet and Beta weights replayed (float64, factor (0, 0), and the
shear, colour degeneration and equalization at a pinned strength), its Gamma
sampler against NumPy's by a two-sample Kolmogorov–Smirnov distance; identity
at inference, seeds, config, save/load inside a model and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import AugMix, Dense, Flatten, Pipeline, RandAugment
from brainnet.layers.augmentation_policies import AUGMIX_ALL_OPS, AUGMIX_OPS, _log_gamma
from brainnet.models import Sequential, load_model
from test_augmentation_color import np_degenerate
from test_augmentation_policies import (_continuous, _images, _same, np_auto_contrast, np_blur, np_equalize,
                                        np_invert, np_posterize_1bit)
from test_augmentation_warp import _np_shear


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.sort(np.concatenate([a, b]))
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / a.size
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.abs(cdf_a - cdf_b).max())


@pytest.mark.parametrize("alpha", [0.05, 0.5, 1.0, 2.5])
def test_gamma_dirichlet_and_beta_draws_follow_numpy(alpha):
    like = torch.zeros(1, dtype=torch.float64)
    rng = np.random.default_rng(0)
    ours = torch.exp(_log_gamma(AugMix(seed=5), (4000,), alpha, like)).numpy()
    assert np.all(ours >= 0) and _ks(ours, rng.gamma(alpha, 1.0, 4000)) < 0.045  # KS critical value, p = 0.001
    _, weights, m = AugMix(num_chains=3, alpha=alpha, seed=6).draws(4000, like)
    np.testing.assert_allclose(weights.sum(1).numpy(), 1.0, rtol=0, atol=1e-12)
    marginal = rng.beta(alpha, 2 * alpha, 4000)  # each weight of Dirichlet(α, α, α) is Beta(α, 2α)
    assert all(_ks(weights[:, c].numpy(), marginal) < 0.045 for c in range(3))
    assert _ks(m.numpy(), rng.beta(alpha, alpha, 4000)) < 0.045


# AUGMIX_ALL_OPS at factor (0, 0): shear, translation, rotation by nothing, 1-bit posterization,
# inversion, AutoContrast, equalization, brightness, colour degeneration and contrast by nothing, the
# blur; then "none".
NP_AUGMIX_AT_ZERO = [_same] * 3 + [np_posterize_1bit, np_invert, np_auto_contrast, np_equalize] + [_same] * 3 + [
    np_blur, _same]


@pytest.mark.parametrize("seed", range(3))
def test_augmix_against_numpy_with_the_draws_replayed(seed):
    x = _continuous(12, seed)
    y = AugMix(num_chains=3, chain_depth=2, factor=(0, 0), alpha=0.7, seed=seed)(x, training=True).numpy()
    choices, w, m = (t.numpy() for t in AugMix(num_chains=3, chain_depth=2, factor=(0, 0), alpha=0.7,
                                              seed=seed).draws(12, x))
    assert choices.shape == (3, 2, 12) and set(choices.flatten()) <= set(range(12))
    for n in range(12):
        mixed = np.zeros_like(x[n].numpy())
        for c in range(3):
            chain = x[n].numpy()
            for k in choices[c, :, n]:
                chain = NP_AUGMIX_AT_ZERO[k](chain)
            mixed += w[n, c] * chain
        want = np.clip(m[n] * x[n].numpy() + (1 - m[n]) * mixed, 0, 255)
        np.testing.assert_allclose(y[n], want, rtol=0, atol=1e-9)


def test_augmix_new_operations_against_numpy_at_a_pinned_strength():
    """One chain of one operation: y = clip(m·x + (1 − m)·O_k(x)); the shear, colour degeneration,
    equalization and "none" checked at f = 0.2 (the others are the RandAugment test's)."""
    x = _continuous(48, seed=5)
    layer = AugMix(num_chains=1, chain_depth=1, factor=(0.2, 0.2), seed=4)
    y = layer(x, training=True).numpy()
    choices, _, m = AugMix(num_chains=1, chain_depth=1, factor=(0.2, 0.2), seed=4).draws(48, x)
    checked = set()
    for n, k in enumerate(choices[0, 0].tolist()):
        img = x[n].numpy()
        if k == 0:  # the shear's sign is drawn per image: one of the two
            wants = [_np_shear(img, s * 0.2, s * 0.2, "reflect") for s in (1, -1)]
        elif k in (6, 8, 11):
            wants = [{6: np_equalize, 8: lambda v: np_degenerate(v, 0.2, (0, 255)), 11: _same}[k](img)]
        else:
            continue
        err = min(np.abs(y[n] - np.clip(m[n].item() * img + (1 - m[n].item()) * w, 0, 255)).max() for w in wants)
        assert err < 1e-9, (k, err)
        checked.add(k)
    assert checked == {0, 6, 8, 11}


def test_augmix_operations_and_one_chain():
    assert AUGMIX_ALL_OPS == AUGMIX_OPS + ("brightness", "color_degeneration", "contrast", "sharpness")
    assert AUGMIX_OPS == ("shear", "translation", "rotation", "posterization", "solarization", "auto_contrast",
                          "equalization")
    assert list(AugMix(all_ops=False).operations) == list(AUGMIX_OPS)
    assert list(AugMix().operations) == list(AUGMIX_ALL_OPS)
    x = _images(n=64)
    choices, w, m = AugMix(num_chains=1, seed=0).draws(64, x)
    assert torch.equal(w, torch.ones(64, 1, dtype=torch.float64))
    assert set(choices.flatten().tolist()) == set(range(12))  # every operation, and none
    assert 0 < m.min() and m.max() < 1 and m.std() > 0.1  # Beta(1, 1), per image


def test_augmix_identity_at_inference_seeds_and_range():
    x = _images(n=16)
    layer = AugMix(seed=1)
    assert layer(x, training=False) is x
    layer.eval()
    assert layer(x) is x
    a, b, c = AugMix(seed=7), AugMix(seed=7), AugMix(seed=8)
    ya = a(x, training=True)
    assert torch.equal(ya, b(x, training=True)) and not torch.equal(ya, c(x, training=True))
    assert not torch.equal(a(x, training=True), ya)
    assert sum(not torch.equal(ya[k], x[k]) for k in range(16)) >= 8
    assert ya.min() >= 0 and ya.max() <= 255
    tiny = AugMix(value_range=(0, 1), alpha=0.01, seed=0)(x[..., :1] / 255, training=True)  # tiny α stays finite
    assert torch.isfinite(tiny).all() and tiny.shape == (16, 7, 5, 1)


def test_augmix_config_and_save_load(tmp_path):
    layer = AugMix(value_range=(0, 1), num_chains=2, chain_depth=4, factor=(0.1, 0.2), alpha=0.5, all_ops=False,
                   interpolation="nearest", seed=3)
    config = layer.get_config()
    assert {k: config[k] for k in ("value_range", "num_chains", "chain_depth", "factor", "alpha", "all_ops",
                                   "interpolation", "seed")} == {
        "value_range": [0.0, 1.0], "num_chains": 2, "chain_depth": 4, "factor": [0.1, 0.2], "alpha": 0.5,
        "all_ops": False, "interpolation": "nearest", "seed": 3}
    assert AugMix.from_config(config).get_config() == config
    default = AugMix().get_config()
    assert (default["num_chains"], default["chain_depth"], default["factor"], default["alpha"]) == (3, 3, 0.3, 1.0)
    x = (_images(n=8) / 255).float().numpy()
    model = Sequential([Pipeline([AugMix((0, 1), seed=1), RandAugment((0, 1), seed=2)], input_shape=(7, 5, 3)),
                        Flatten(), Dense(2)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "augmix.brainnet")
    again = load_model(tmp_path / "augmix.brainnet")
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_augmix_errors():
    with pytest.raises(ValueError, match=r"AugMix: expected num_chains to be an integer ≥ 1, got 0\. "
                                         r"Fix: AugMix\(num_chains=3\)"):
        AugMix(num_chains=0)
    with pytest.raises(ValueError, match=r"AugMix: expected chain_depth to be an integer ≥ 1, got '2'\. "
                                         r"Fix: AugMix\(chain_depth=3\)"):
        AugMix(chain_depth="2")
    with pytest.raises(ValueError, match=r"AugMix: expected alpha > 0 \(the Dirichlet's and Beta's concentration\), "
                                         r"got -1\. Fix: AugMix\(alpha=1\.0\)"):
        AugMix(alpha=-1)
    with pytest.raises(ValueError, match=r"AugMix: expected all_ops to be True or False, got 'yes'\. "
                                         r"Fix: AugMix\(all_ops=True\)"):
        AugMix(all_ops="yes")
    with pytest.raises(ValueError, match=r"AugMix: expected factor within \[0, 1\]"):
        AugMix(factor=(0.5, 2))
    with pytest.raises(ValueError, match=r"AugMix: expected interpolation to be one of"):
        AugMix(interpolation="area")
