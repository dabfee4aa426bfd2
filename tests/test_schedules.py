"""Learning-rate schedules: each against its formula, and driving a real optimizer."""

from __future__ import annotations

import math

import pytest
import torch

from brainnet.optimizers import SGD, Adam
from brainnet.optimizers.schedules import (
    CosineDecay,
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)


def test_exponential_decay_formula_and_staircase():
    smooth = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert smooth(0) == pytest.approx(0.1)
    assert smooth(5) == pytest.approx(0.1 * 0.5**0.5)
    assert smooth(20) == pytest.approx(0.025)
    stairs = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [stairs(t) for t in (0, 9, 10, 19, 20)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_decay_formula_floor_and_warmup():
    cos = CosineDecay(1.0, decay_steps=100, alpha=0.1)
    for t in (0, 25, 50, 99, 100, 250):
        expected = 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 100) / 100)) + 0.1
        assert cos(t) == pytest.approx(expected)
    assert cos(1000) == pytest.approx(0.1)  # stays at alpha·η₀ after decay_steps
    warm = CosineDecay(0.0, decay_steps=100, warmup_target=1.0, warmup_steps=10)
    assert [warm(t) for t in (0, 5, 10)] == pytest.approx([0.0, 0.5, 1.0])
    assert warm(60) == pytest.approx(0.5)  # halfway through the cosine after the warm-up


def test_piecewise_constant_decay_uses_closed_upper_bounds():
    pw = PiecewiseConstantDecay(boundaries=[10, 20], values=[1.0, 0.5, 0.1])
    assert [pw(t) for t in (0, 10, 11, 20, 21, 99)] == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]


def test_polynomial_decay_formula_floor_and_cycle():
    poly = PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.1, power=2.0)
    for t in (0, 3, 5, 10, 25):
        assert poly(t) == pytest.approx(0.9 * (1 - min(t, 10) / 10) ** 2 + 0.1)
    assert PolynomialDecay(0.5, decay_steps=4)(2) == pytest.approx((0.5 - 0.0001) * 0.5 + 0.0001)  # Keras's defaults
    cyc = PolynomialDecay(1.0, decay_steps=10, end_learning_rate=0.0, cycle=True)
    # T becomes 10·⌈t/10⌉ (10 at t = 0): each cycle restarts from a lower rate
    assert [cyc(t) for t in (0, 5, 10, 15, 20, 25)] == pytest.approx([1.0, 0.5, 0.0, 0.25, 0.0, 1 / 6])


def test_inverse_time_decay_formula_and_staircase():
    inv = InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert [inv(t) for t in (0, 5, 10, 40)] == pytest.approx([0.1, 0.1 / 1.25, 0.1 / 1.5, 0.1 / 3])
    stairs = InverseTimeDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    assert [stairs(t) for t in (9, 10, 19, 20)] == pytest.approx([0.1, 0.1 / 1.5, 0.1 / 1.5, 0.05])
    opt = SGD(learning_rate=inv)  # a schedule the guide lists, by name in a saved config too
    assert opt.get_config()["learning_rate"] == {
        "class_name": "InverseTimeDecay",
        "config": {"initial_learning_rate": 0.1, "decay_steps": 10.0, "decay_rate": 0.5, "staircase": False},
    }


def test_optimizer_steps_at_the_scheduled_rates():
    # SGD without momentum: θ_t+1 = θ_t − η(t)·g with g = 1 for loss = sum(θ).
    schedule = PiecewiseConstantDecay(boundaries=[1, 3], values=[0.5, 0.25, 0.125])
    opt = SGD(learning_rate=schedule)
    theta = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt.build([theta])
    rates = []
    for _ in range(4):
        rates.append(opt.learning_rate)
        opt.zero_grad()
        theta.sum().backward()
        opt.step()
    assert rates == [0.5, 0.5, 0.25, 0.25]
    assert theta.item() == pytest.approx(-(0.5 + 0.5 + 0.25 + 0.25))
    assert opt.iterations == 4


def test_scheduled_optimizer_config_and_fixed_rate_error():
    opt = Adam(learning_rate=CosineDecay(0.001, decay_steps=50))
    assert opt.get_config()["learning_rate"] == {
        "class_name": "CosineDecay",
        "config": {"initial_learning_rate": 0.001, "decay_steps": 50.0, "alpha": 0.0,
                   "warmup_target": None, "warmup_steps": 0.0},
    }
    with pytest.raises(TypeError, match=r"expected a constant learning rate to set, got an optimizer driven by "
                                        r"CosineDecay\(.*Fix: build the optimizer with learning_rate=<number>"):
        opt.learning_rate = 0.01


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5),
         r"ExponentialDecay: expected decay_steps to be a number > 0, got 0. Fix: ExponentialDecay\("),
        (lambda: CosineDecay(-1.0, decay_steps=10),
         r"CosineDecay: expected initial_learning_rate to be a number ≥ 0, got -1.0. Fix: CosineDecay\("),
        (lambda: PiecewiseConstantDecay([10, 5], [1.0, 0.5, 0.1]),
         r"expected increasing boundaries and one more value than boundaries, got 2 boundaries \[10, 5\]"),
        (lambda: PolynomialDecay(0.1, decay_steps=0),
         r"PolynomialDecay: expected decay_steps to be a number > 0, got 0. Fix: PolynomialDecay\("),
        (lambda: InverseTimeDecay(0.1, decay_steps=10, decay_rate=-1),
         r"InverseTimeDecay: expected decay_rate to be a number ≥ 0, got -1. Fix: InverseTimeDecay\("),
        (lambda: PiecewiseConstantDecay([10], [1.0]),
         r"got 1 boundaries \[10\] and 1 values. Fix: PiecewiseConstantDecay\(boundaries="),
    ],
)
def test_bad_schedule_arguments_say_expected_got_fix(make, message):
    with pytest.raises(ValueError, match=message):
        make()
