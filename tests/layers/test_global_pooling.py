"""The 1-D and 2-D global poolings with and without ``keepdims`` (Keras 3's
argument) against naive NumPy loops over their docstring equations, in
float64, masks included: shapes, compute_output_shape, get_config, save/load.
Tolerance: atol=1e-12 (averages), exact (max).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainnet.layers import (Embedding, GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAvgPool1D,
                             GlobalMaxPooling1D, GlobalMaxPooling2D)
from brainnet.models import Sequential, load_model

RNG = np.random.default_rng(0)


def naive_average_1d(x, mask=None):
    """y[n, c] = Σ_t m[n, t]·x[n, t, c] / Σ_t m[n, t] (0 where no step is real)."""
    n_, t_, c_ = x.shape
    m = np.ones((n_, t_)) if mask is None else mask.astype(float)
    y = np.zeros((n_, c_))
    for n in range(n_):
        real = sum(m[n, t] for t in range(t_))
        for c in range(c_):
            y[n, c] = sum(m[n, t] * x[n, t, c] for t in range(t_)) / max(real, 1.0)
    return y


def naive_max_1d(x):
    """y[n, c] = max_t x[n, t, c]."""
    n_, t_, c_ = x.shape
    return np.array([[max(x[n, t, c] for t in range(t_)) for c in range(c_)] for n in range(n_)])


def naive_average_2d(x):
    """y[n, c] = (1/(H·W)) Σ_{i,j} x[n, i, j, c]."""
    n_, h_, w_, c_ = x.shape
    y = np.zeros((n_, c_))
    for n in range(n_):
        for c in range(c_):
            y[n, c] = sum(x[n, i, j, c] for i in range(h_) for j in range(w_)) / (h_ * w_)
    return y


CASES = [  # layer, sample shape, naive reference, tolerance
    (GlobalAveragePooling1D, (5, 3), naive_average_1d, 1e-12),
    (GlobalMaxPooling1D, (5, 3), naive_max_1d, 0.0),
    (GlobalAveragePooling2D, (4, 5, 6), naive_average_2d, 1e-12),
]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("cls, sample, naive, atol", CASES)
def test_global_pooling_matches_naive_with_keepdims(cls, sample, naive, atol, keepdims):
    x = RNG.normal(size=(3,) + sample)
    layer = cls(keepdims=keepdims)
    y = layer(torch.from_numpy(x))
    expected = naive(x)  # (N, C)
    if keepdims:
        expected = expected.reshape((3,) + (1,) * (len(sample) - 1) + (sample[-1],))  # (N, 1, C) or (N, 1, 1, C)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=0, atol=atol)
    assert layer.compute_output_shape((None,) + sample) == (None,) + tuple(y.shape[1:])
    assert layer.compute_output_shape((None,) * len(sample) + (sample[-1],))[-1] == sample[-1]


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_1d_keeps_its_mask_with_keepdims(keepdims):
    x = RNG.normal(size=(3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)
    y = GlobalAveragePooling1D(keepdims=keepdims)(torch.from_numpy(x), mask=torch.from_numpy(mask)).numpy()
    expected = naive_average_1d(x, mask)
    np.testing.assert_allclose(y, expected[:, None, :] if keepdims else expected, rtol=0, atol=1e-12)
    assert not np.isnan(y).any()  # the sequence with no real step gives zeros, not 0/0


def test_keepdims_mask_from_embedding_in_a_model():
    """Embedding(mask_zero=True) → GlobalAveragePooling1D(keepdims=True): padding is left out."""
    model = Sequential([Embedding(10, 4, mask_zero=True), GlobalAveragePooling1D(keepdims=True)])
    out = model.predict(np.array([[3, 4, 0, 0], [5, 0, 0, 0]]), verbose=0)
    emb = model.layers[0].embeddings.detach().cpu().numpy()
    assert out.shape == (2, 1, 4)
    np.testing.assert_allclose(out[0, 0], emb[[3, 4]].mean(0), rtol=1e-6)
    np.testing.assert_allclose(out[1, 0], emb[5], rtol=1e-6)


@pytest.mark.parametrize("cls, sample", [(GlobalAveragePooling1D, (5, 3)), (GlobalMaxPooling1D, (5, 3)),
                                         (GlobalAveragePooling2D, (4, 5, 6)), (GlobalMaxPooling2D, (4, 5, 6))])
@pytest.mark.parametrize("keepdims", [False, True])
def test_keepdims_config_and_save_load(cls, sample, keepdims, tmp_path):
    layer = cls(keepdims=keepdims, name="gp")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["keepdims"] is keepdims and cls.from_config(config).get_config() == config
    assert cls().keepdims is False  # Keras's default
    model = Sequential([cls(keepdims=keepdims, input_shape=sample)])
    model.save(tmp_path / "m.brainnet")
    loaded = load_model(tmp_path / "m.brainnet")
    assert loaded.layers[0].keepdims is keepdims
    x = RNG.normal(size=(2,) + sample).astype("float32")
    y = loaded.predict(x, verbose=0)
    np.testing.assert_array_equal(y, model.predict(x, verbose=0))
    assert y.shape == ((2,) + (1,) * (len(sample) - 1) + (sample[-1],) if keepdims else (2, sample[-1]))


def test_a_config_saved_without_keepdims_still_loads():
    """Files saved before GlobalAveragePooling1D/2D and GlobalMaxPooling1D took keepdims."""
    config = GlobalAvgPool1D(name="old").get_config()
    del config["keepdims"]
    assert GlobalAveragePooling1D.from_config(config).keepdims is False


def test_docstring_examples_run():
    import doctest

    import brainnet.layers.global_pooling as module

    failures, tried = doctest.testmod(module)
    assert tried > 0 and failures == 0
