"""brainnet's dropout masks (layers/_dropout.py): m_i = 1/(1 − rate) with
probability 1 − rate, else 0, cut on the CPU from 16-bit uniforms of torch's
generator.

Statistical checks use 5σ bounds of the binomial counts involved, so a correct
mask fails them with probability below 1e-6; a wrong one (a stuck bit, a
wrong threshold, a shared draw) misses them by tens of σ.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainnet.layers import Dropout, SpatialDropout1D
from brainnet.layers._dropout import dropout, fast_mask, keep_mask, uniform16

CPU = torch.device("cpu")


def five_sigma(p: float, n: int) -> float:
    return 5 * math.sqrt(p * (1 - p) / n)


def test_every_bit_of_the_16_bit_uniforms_is_random():
    # torch's random_() on int64 leaves the sign bit 0; the mask must not use that form.
    torch.manual_seed(0)
    u = uniform16((100_003,)).numpy().view(np.uint16)
    n = u.size
    for bit in range(16):
        assert abs(((u >> bit) & 1).mean() - 0.5) < five_sigma(0.5, n), bit
    # and the four lanes of one 64-bit word are not the same number
    assert (u[0::4] != u[1::4]).mean() > 0.99


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9, 0.01])
def test_keep_mask_values_and_keep_fraction(rate):
    torch.manual_seed(1)
    n = 400_000
    m = keep_mask((400, 1000), rate, torch.float32, CPU)
    assert m.dtype == torch.float32 and m.shape == (400, 1000)
    kept = m != 0
    assert torch.all(m[kept] == torch.tensor(1 / (1 - rate), dtype=torch.float32))
    levels = round((1 - rate) * 65536) / 65536
    assert abs(levels - (1 - rate)) <= 2 ** -17  # the documented rounding
    assert abs(kept.double().mean().item() - levels) < five_sigma(levels, n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_an_entry_is_kept_exactly_when_its_uniform_is_below_the_threshold(dtype):
    # kept ⇔ u < K − 2¹⁵ (the lowest K of the 2¹⁶ levels), K = round((1 − rate)·2¹⁶)
    rate = 0.37
    torch.manual_seed(9)
    u = uniform16((300, 301))
    torch.manual_seed(9)
    m = keep_mask((300, 301), rate, dtype, CPU)
    assert torch.equal(m != 0, u < round((1 - rate) * 65536) - 32768)
    assert not torch.signbit(m).any()  # no −0.0


def test_keep_mask_is_reproducible_with_the_torch_seed_and_fresh_each_draw():
    torch.manual_seed(3)
    a = keep_mask((64, 64), 0.3, torch.float64, CPU)
    b = keep_mask((64, 64), 0.3, torch.float64, CPU)
    torch.manual_seed(3)
    assert torch.equal(keep_mask((64, 64), 0.3, torch.float64, CPU), a)
    assert not torch.equal(a, b)


def test_neighbouring_entries_are_independent():
    # P(both kept) for entries i and i+1 (same 64-bit word or not) is (1 − rate)².
    torch.manual_seed(4)
    kept = (keep_mask((1_000_000,), 0.5, torch.float32, CPU) != 0).numpy()
    both = (kept[:-1] & kept[1:]).mean()
    assert abs(both - 0.25) < five_sigma(0.25, kept.size)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dropout_forward_and_gradient_against_numpy(dtype):
    # y = x·m, dL/dx = g·m, with m read back from y (x has no zeros).
    rng = np.random.default_rng(0)
    x_np = np.abs(rng.normal(size=(50, 60))) + 0.5
    g_np = rng.normal(size=(50, 60))
    x = torch.tensor(x_np, dtype=dtype, requires_grad=True)
    torch.manual_seed(5)
    y = dropout(x, 0.25)
    y.backward(torch.tensor(g_np, dtype=dtype))
    torch.manual_seed(5)
    m = keep_mask((50, 60), 0.25, dtype, CPU)
    np.testing.assert_array_equal(y.detach().double().numpy(), (x.detach() * m).double().numpy())
    scale = (torch.tensor(1 / 0.75, dtype=dtype)).double().item()
    kept = m.double().numpy() != 0
    np.testing.assert_allclose(y.detach().double().numpy()[kept], (x.detach().double().numpy() * scale)[kept],
                               rtol=1e-2 if dtype == torch.bfloat16 else 1e-6)
    np.testing.assert_array_equal(x.grad.double().numpy(), (torch.tensor(g_np, dtype=dtype) * m).double().numpy())


def test_rates_too_near_0_or_1_and_other_devices_use_torchs_draw():
    assert fast_mask(CPU, torch.float32, 0.1)
    assert not fast_mask(CPU, torch.float32, 1e-6)  # would round to "keep all"
    assert not fast_mask(CPU, torch.float32, 1 - 1e-6)  # would round to "keep none"
    assert not fast_mask(torch.device("meta"), torch.float32, 0.1)
    x = torch.ones(100_000)
    torch.manual_seed(6)
    y = dropout(x, 1e-6)
    torch.manual_seed(6)
    torch.testing.assert_close(y, F.dropout(x, 1e-6, training=True), rtol=0, atol=0)


def test_layers_draw_the_fast_mask():
    x = torch.ones(8, 5, 6)
    torch.manual_seed(7)
    y = Dropout(0.5)(x, training=True)
    torch.manual_seed(7)
    assert torch.equal(y, keep_mask((8, 5, 6), 0.5, torch.float32, CPU))
    torch.manual_seed(8)
    y = SpatialDropout1D(0.5)(x, training=True)
    torch.manual_seed(8)
    assert torch.equal(y, keep_mask((8, 1, 6), 0.5, torch.float32, CPU).expand(8, 5, 6))
