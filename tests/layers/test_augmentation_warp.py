"""RandomShear, RandomPerspective and RandomElasticTransform: against a naive NumPy resampler of their
docstring equations (float64, random draws pinned by zero-width ranges or a
seeded draw replayed), identity at inference, seeds, config, save/load in a
model, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.layers import Dense, Flatten, RandomElasticTransform, RandomPerspective, RandomRotation, RandomShear
from brainnet.models import Sequential, load_model


def _images(n: int = 4, h: int = 7, w: int = 9, c: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((n, h, w, c)))  # float64


def _layers(seed: int | None = 1) -> list:
    return [RandomShear(0.3, 0.2, seed=seed), RandomPerspective(factor=(1.0, 1.0), scale=0.6, seed=seed),
            RandomElasticTransform(factor=(1.0, 1.0), value_range=(0, 1), seed=seed)]


# ------------------------------------------------------- the NumPy reference
def _fix(i: np.ndarray, n: int, mode: str) -> np.ndarray:
    """An integer index outside [0, n) brought inside as Keras's fill mode says."""
    if mode == "nearest":
        return np.clip(i, 0, n - 1)
    if mode == "reflect":  # (d c b a | a b c d | d c b a)
        i = np.mod(i, 2 * n)
        return np.where(i >= n, 2 * n - 1 - i, i)
    if mode == "mirror":  # (d c b | a b c d | c b a)
        i = np.mod(i, 2 * (n - 1))
        return np.where(i >= n, 2 * (n - 1) - i, i)
    return i


def _sample(img: np.ndarray, yin: np.ndarray, xin: np.ndarray, mode: str, fill: float = 0.0,
            interpolation: str = "bilinear") -> np.ndarray:
    """out[i, j] = Σ over the neighbours of (yin, xin) of weight · img[neighbour], one pixel at a time."""
    h, w, c = img.shape
    out = np.zeros(yin.shape + (c,))
    for i, j in np.ndindex(*yin.shape):
        y, x = yin[i, j], xin[i, j]
        if interpolation == "nearest":
            taps = [(int(np.rint(y)), int(np.rint(x)), 1.0)]
        else:
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            taps = [(y0 + dy, x0 + dx, (1 - abs(y - y0 - dy)) * (1 - abs(x - x0 - dx)))
                    for dy in (0, 1) for dx in (0, 1)]
        for yi, xi, weight in taps:
            if mode == "constant" and not (0 <= yi < h and 0 <= xi < w):
                out[i, j] += weight * fill
            else:
                out[i, j] += weight * img[_fix(np.array(yi), h, mode), _fix(np.array(xi), w, mode)]
    return out


def _np_shear(img: np.ndarray, sx: float, sy: float, mode: str, fill: float = 0.0) -> np.ndarray:
    """The docstring's equation: y[i, j] = x(i + s_y·j, j + s_x·i)."""
    i, j = np.meshgrid(np.arange(img.shape[0], dtype=float), np.arange(img.shape[1], dtype=float), indexing="ij")
    return _sample(img, i + sy * j, j + sx * i, mode, fill)


def _np_homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3 × 3 projective map H with H·(src_k, 1) ∝ (dst_k, 1), as the null vector of the
    direct linear transform's 8 × 9 system (an SVD, not the layer's 8 × 8 solve)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    h = np.linalg.svd(np.array(rows))[2][-1].reshape(3, 3)
    return h / h[2, 2]


def _np_perspective(img: np.ndarray, d: np.ndarray, fill: float, interpolation: str) -> np.ndarray:
    """The docstring's equation: corners c_k move to c_k + c_k ⊙ d_k; y[i, j] = x(P(j, i)), P(c'_k) = c_k."""
    h, w, _ = img.shape
    corners = np.array([[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]])
    p = _np_homography(corners + corners * d, corners)
    i, j = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
    q = p[2, 0] * j + p[2, 1] * i + p[2, 2]
    xin = (p[0, 0] * j + p[0, 1] * i + p[0, 2]) / q
    yin = (p[1, 0] * j + p[1, 1] * i + p[1, 2]) / q
    return _sample(img, yin, xin, "constant", fill, interpolation)


# ------------------------------------------------------------------ shear
@pytest.mark.parametrize("mode", ["constant", "reflect", "nearest", "mirror"])
def test_shear_matches_the_numpy_equation(mode):
    x = _images(n=12)
    fill = 0.5 if mode == "constant" else 0.0
    y = RandomShear((0.2, 0.2), (0.1, 0.1), fill_mode=mode, fill_value=fill, seed=4)(x, training=True).numpy()
    signs = []
    for k in range(12):
        plus, minus = _np_shear(x[k].numpy(), 0.2, 0.1, mode, fill), _np_shear(x[k].numpy(), -0.2, -0.1, mode, fill)
        sign = 1 if np.allclose(y[k], plus, rtol=0, atol=1e-9) else -1
        np.testing.assert_allclose(y[k], plus if sign == 1 else minus, rtol=0, atol=1e-9)
        signs.append(sign)
    assert set(signs) == {1, -1}  # one random sign per image, shared by s_x and s_y


def test_shear_along_x_keeps_the_top_row_and_moves_the_others():
    x = _images(n=2, h=5, w=6)
    y = RandomShear(x_factor=(0.5, 0.5), fill_mode="constant", interpolation="nearest", seed=0)(x, training=True)
    assert torch.equal(y[:, 0], x[:, 0])  # about the top-left corner, as Keras
    for k in range(2):  # row 2 moves by 0.5·2 = 1 column, one way or the other
        assert torch.equal(y[k, 2, 1:5], x[k, 2, 2:6]) or torch.equal(y[k, 2, 1:5], x[k, 2, 0:4])


def test_zero_shear_is_the_identity_even_in_training():
    x = _images()
    torch.testing.assert_close(RandomShear(seed=0)(x, training=True), x, rtol=0, atol=1e-12)


# ------------------------------------------------------------ perspective
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_matches_the_numpy_equation_with_the_draws_replayed(interpolation):
    x = _images(n=10)
    scale, seed = 0.7, 11
    y = RandomPerspective((0.5, 0.5), scale, interpolation=interpolation, fill_value=0.25, seed=seed)(
        x, training=True).numpy()
    g = torch.Generator().manual_seed(seed)  # the layer's draws in its order: p, u, the corner moves d
    p = 0.5 + 0.0 * torch.rand((10,), generator=g, dtype=torch.float64)
    apply = (torch.rand((10,), generator=g, dtype=torch.float64) < p).numpy()
    d = (scale * (torch.rand((10, 4, 2), generator=g, dtype=torch.float64) - 0.5)).numpy()
    assert 0 < apply.sum() < 10
    for k in range(10):
        expected = _np_perspective(x[k].numpy(), d[k], 0.25, interpolation) if apply[k] else x[k].numpy()
        np.testing.assert_allclose(y[k], expected, rtol=0, atol=1e-9)


def test_perspective_probability_and_scale_zero():
    x = _images(n=64)
    assert torch.equal(RandomPerspective(factor=0.0, seed=1)(x, training=True), x)
    y = RandomPerspective(factor=(1.0, 1.0), scale=0.0, seed=1)(x, training=True)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-12)  # corners stay: P is the identity
    y = RandomPerspective(seed=2)(x, training=True)  # p ~ U(0, 1): half the images on average
    changed = sum(not torch.equal(y[k], x[k]) for k in range(64))
    assert 16 <= changed <= 48


# ------------------------------------------------------------- both layers
@pytest.mark.parametrize("index", range(3))
def test_identity_at_inference_seeds_and_per_image_draws(index):
    x = _images(n=16)
    layer = _layers()[index]
    assert layer(x, training=False) is x
    assert layer.compute_output_shape((None, 7, 9, 2)) == (None, 7, 9, 2)
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.equal(_layers(seed=1)[index](x, training=True), y)
    assert not torch.equal(_layers(seed=2)[index](x, training=True), y)
    assert not torch.equal(layer(x, training=True), y)  # the next batch gets new draws
    differences = [float((y[k] - x[k]).abs().mean()) for k in range(16)]
    assert len({round(v, 9) for v in differences}) > 8  # per-image parameters
    layer.eval()
    assert layer(x) is x


@pytest.mark.parametrize("index", range(3))
def test_config_round_trip(index):
    layer = _layers(seed=3)[index]
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    x = _images()
    assert torch.equal(type(layer).from_config(config)(x, training=True), again(x, training=True))


def test_inside_a_model_predict_is_identity_fit_runs_and_save_load(tmp_path):
    x = _images(n=8).float().numpy()
    model = Sequential([RandomShear(0.2, 0.2, fill_mode="constant", input_shape=(7, 9, 2)),
                        RandomPerspective(scale=0.3, interpolation="nearest", fill_value=0.1),
                        RandomElasticTransform(scale=0.5, fill_mode="nearest", value_range=(0, 1)),
                        Flatten(), Dense(3)])
    model.compile("sgd", "mse")
    plain = Sequential([Flatten(input_shape=(7, 9, 2)), Dense(3)])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(model.predict(x), plain.predict(x), rtol=1e-6, atol=1e-6)
    model.fit(x, np.zeros((8, 3), np.float32), epochs=1, verbose=0)
    path = tmp_path / "warp.brainnet"
    model.save(path)
    again = load_model(path)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_errors():
    with pytest.raises(ValueError, match=r"RandomShear: expected x_factor to be a number in \[0, 1\] or a pair "
                                         r"\(low, high\) within \[0, 1\], got 1.5.*Fix: RandomShear\(x_factor=0.2\)"):
        RandomShear(x_factor=1.5)
    with pytest.raises(ValueError, match=r"RandomShear: expected y_factor.*got \(-0.2, 0.3\).*Fix"):
        RandomShear(y_factor=(-0.2, 0.3))
    for layer, arg in ((RandomShear, "x_factor"), (RandomRotation, "factor")):  # a negative number: (0.2, -0.2)
        with pytest.raises(ValueError, match=rf"{layer.__name__}: expected {arg} with low ≤ high \(a number f means "
                                             rf"\(−f, f\), so f ≥ 0\), got -0\.2\. Fix: "
                                             rf"{layer.__name__}\({arg}=0\.2\), which draws from \(-0\.2, 0\.2\)\."):
            layer(**{arg: -0.2})
    with pytest.raises(ValueError, match="RandomShear: expected fill_mode 'reflect', 'mirror', 'nearest' or "
                                         "'constant', got 'wrap'.*Fix: RandomShear"):
        RandomShear(0.1, fill_mode="wrap")
    with pytest.raises(ValueError, match=r"RandomPerspective: expected scale to be a number in \[0, 1\], got 2.*"
                                         r"Fix: RandomPerspective\(scale=0.3\)"):
        RandomPerspective(scale=2)
    with pytest.raises(ValueError, match=r"RandomPerspective: expected factor within \[0, 1\].*Fix"):
        RandomPerspective(factor=1.5)
    with pytest.raises(ValueError, match="RandomPerspective: expected interpolation to be one of 'bilinear', "
                                         "'nearest', got 'bicubic'.*Fix"):
        RandomPerspective(interpolation="bicubic")
    with pytest.raises(ValueError, match="RandomPerspective: expected fill_value to be a number, got 'black'.*Fix"):
        RandomPerspective(fill_value="black")
    with pytest.raises(ValueError, match=r"RandomElasticTransform: expected scale within \[0, 1\].*Fix: "
                                         r"RandomElasticTransform\(scale=0.5\)"):
        RandomElasticTransform(scale=2.0)
    with pytest.raises(ValueError, match="RandomElasticTransform: expected fill_mode 'reflect', 'mirror', 'nearest' "
                                         "or 'constant', got 'wrap'.*Fix"):
        RandomElasticTransform(fill_mode="wrap")
    with pytest.raises(ValueError, match=r"RandomElasticTransform: expected value_range as a pair.*Fix"):
        RandomElasticTransform(value_range=(255, 0))


# -------------------------------------------------------------- elastic
def _np_gaussian_smooth(field: np.ndarray, sigma: float) -> np.ndarray:
    """G_σ ∗ field with Keras's int(6σ) | 1 taps, g[t] ∝ exp(−t²/(2σ²)), zeros outside, one output
    at a time."""
    k = int(6 * sigma) | 1
    g = np.exp(-0.5 * ((np.arange(k) - (k - 1) / 2) / max(sigma, 1e-6)) ** 2)
    kernel = np.outer(g, g) / g.sum() ** 2
    h, w = field.shape
    out = np.zeros_like(field)
    for i, j in np.ndindex(h, w):
        for s, t in np.ndindex(k, k):
            ii, jj = i + s - k // 2, j + t - k // 2
            if 0 <= ii < h and 0 <= jj < w:
                out[i, j] += kernel[s, t] * field[ii, jj]
    return out


@pytest.mark.parametrize("mode", ["reflect", "constant"])
def test_elastic_matches_the_numpy_equation_with_the_draws_replayed(mode):
    n, h, w, seed = 6, 20, 24, 4
    x = _images(n=n, h=h, w=w) * 255
    y = RandomElasticTransform((0.6, 0.6), (0.5, 1.0), fill_mode=mode, fill_value=300.0, value_range=(10, 250),
                               seed=seed)(x, training=True).numpy()
    g = torch.Generator().manual_seed(seed)  # the layer's draws in its order: p, u, f, the noise (e_x, e_y)
    p = 0.6 + 0.0 * torch.rand((n,), generator=g, dtype=torch.float64)
    apply = (torch.rand((n,), generator=g, dtype=torch.float64) < p).numpy()
    f = (0.5 + 0.5 * torch.rand((n,), generator=g, dtype=torch.float64)).numpy()
    e = torch.randn((n, h, w, 2), generator=g, dtype=torch.float64).numpy()
    assert 0 < apply.sum() < n
    i, j = np.meshgrid(np.arange(h, dtype=float), np.arange(w, dtype=float), indexing="ij")
    for k in range(n):
        alpha, sigma = 0.1 * max(h, w) * f[k], 0.05 * min(h, w) * f[k]
        dx = alpha * _np_gaussian_smooth(sigma * e[k, :, :, 0], sigma)
        dy = alpha * _np_gaussian_smooth(sigma * e[k, :, :, 1], sigma)
        expected = _sample(x[k].numpy(), i + dy, j + dx, mode, 300.0) if apply[k] else x[k].numpy()
        np.testing.assert_allclose(y[k], np.clip(expected, 10, 250), rtol=0, atol=1e-9)


def test_elastic_zero_factor_or_scale_returns_the_inputs_and_tiny_scale_barely_moves():
    x = _images(n=8, h=16, w=16) * 300  # some values above 255: nothing clips them when the layer is off
    assert RandomElasticTransform(factor=0.0)(x, training=True) is x
    assert RandomElasticTransform(scale=0.0)(x, training=True) is x
    y = RandomElasticTransform((1.0, 1.0), scale=(0.01, 0.01), value_range=(0, 300), seed=0)(x, training=True)
    assert 0 < float((y - x).abs().max()) < 3.0  # displacements of about α·σ ≈ 10⁻⁴ pixels
