"""brainnet.utils.rgb_to_hsv / hsv_to_rgb (Keras 3's keras.ops.image's) against Python's
colorsys, pixel by pixel, and their teaching errors."""

from __future__ import annotations

import colorsys
import doctest

import numpy as np
import pytest
import torch

import brainnet
from brainnet import utils


def _colours(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(2, 5, 7, 3))
    x[0, 0, :3] = [[0.4, 0.4, 0.4], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]  # grays and black: hue and saturation 0
    x[0, 1, :3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]  # the primaries: hue 0, 1/3, 2/3
    return x


def test_rgb_to_hsv_matches_colorsys_pixel_by_pixel():
    x = _colours()
    got = utils.rgb_to_hsv(torch.from_numpy(x)).numpy()
    want = np.array([colorsys.rgb_to_hsv(*p) for p in x.reshape(-1, 3)]).reshape(x.shape)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(got[0, 1, :3, 0], [0.0, 1 / 3, 2 / 3], atol=1e-12)
    assert got.shape == x.shape and 0 <= got.min() and got[..., 0].max() < 1


def test_hsv_to_rgb_matches_colorsys_and_inverts_rgb_to_hsv():
    hsv = np.random.default_rng(1).uniform(0, 1, size=(4, 6, 3))
    got = utils.hsv_to_rgb(torch.from_numpy(hsv)).numpy()
    want = np.array([colorsys.hsv_to_rgb(*p) for p in hsv.reshape(-1, 3)]).reshape(hsv.shape)
    np.testing.assert_allclose(got, want, atol=1e-12)
    x = torch.from_numpy(_colours(2)).float()
    np.testing.assert_allclose(utils.hsv_to_rgb(utils.rgb_to_hsv(x)).numpy(), x.numpy(), atol=1e-6)


def test_color_space_errors_teach():
    with pytest.raises(TypeError, match=r"utils\.rgb_to_hsv: expected floating-point images with values in \[0, 1\], "
                                        r"got dtype torch\.uint8\. Fix: utils\.rgb_to_hsv\(images\.float\(\) / 255\)"):
        utils.rgb_to_hsv(torch.zeros(2, 4, 4, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"utils\.hsv_to_rgb: expected images with 3 channels last \(H, S, V\), got "
                                         r"shape \(2, 3, 4, 4\)\. Fix: put the channels last"):
        utils.hsv_to_rgb(torch.zeros(2, 3, 4, 4))


def test_color_space_docstring_examples_run():
    failures, tried = doctest.testmod(brainnet._color_spaces)
    assert tried >= 4 and failures == 0
