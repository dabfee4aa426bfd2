"""Keras 3's optimizer (de)serialization: ``Optimizer.from_config(get_config())``
and ``optimizers.serialize``/``deserialize`` give back an optimizer that is
configured and steps as the original (checked by config equality and by the
weights two copies reach on the same gradients)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import optimizers
from brainnet.optimizers import SGD, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop
from brainnet.schedules import ExponentialDecay

BUILT_IN = [  # factories: each test steps a fresh original beside its copy
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
    lambda: RMSprop(learning_rate=0.002, rho=0.8, momentum=0.1, centered=True),
    lambda: Adam(learning_rate=0.003, beta_1=0.8, amsgrad=True, clipvalue=0.5),
    lambda: AdamW(learning_rate=0.004, weight_decay=0.01),
    lambda: Adagrad(learning_rate=0.02),
    lambda: Adamax(learning_rate=0.01, global_clipnorm=2.0),
    lambda: Nadam(learning_rate=0.005, use_ema=True, ema_momentum=0.9),
]
IDS = ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adamax", "Nadam"]


def _steps(optimizer, steps: int = 5) -> np.ndarray:
    """The weights after ``steps`` updates on fixed gradients."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    optimizer.build([w])
    for k in range(steps):
        w.grad = torch.tensor([0.3, -0.1, 0.2]) * (k + 1)
        optimizer.apply([w.grad], [w])
    return w.detach().numpy().copy()


@pytest.mark.parametrize("make", BUILT_IN, ids=IDS)
def test_from_config_gives_back_the_same_optimizer(make):
    optimizer = make()
    config = optimizer.get_config()
    copy = type(optimizer).from_config(config)
    assert type(copy) is type(optimizer) and copy.get_config() == config
    np.testing.assert_array_equal(_steps(copy), _steps(optimizer))


@pytest.mark.parametrize("make", BUILT_IN, ids=IDS)
def test_serialize_and_deserialize_round_trip(make):
    optimizer = make()
    spec = optimizers.serialize(optimizer)
    assert spec["class_name"] == type(optimizer).__name__ and spec["config"] == optimizer.get_config()
    copy = optimizers.deserialize(spec)
    assert type(copy) is type(optimizer) and copy.get_config() == optimizer.get_config()
    np.testing.assert_array_equal(_steps(copy), _steps(optimizer))


def test_a_schedule_in_the_config_is_rebuilt():
    schedule = ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    config = SGD(learning_rate=schedule).get_config()
    assert config["learning_rate"]["class_name"] == "ExponentialDecay"
    copy = SGD.from_config(config)
    assert isinstance(copy.schedule, ExponentialDecay) and copy.schedule.get_config() == schedule.get_config()
    np.testing.assert_array_equal(_steps(copy), _steps(SGD(learning_rate=ExponentialDecay(0.1, 2, 0.5))))


def test_deserialize_takes_a_lowercase_name_and_custom_objects():
    assert type(optimizers.deserialize({"class_name": "adam", "config": {"learning_rate": 0.01}})) is Adam

    class Scaled(SGD):
        """SGD whose rate is scaled by ``factor``."""

        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    spec = optimizers.serialize(Scaled(factor=3.0, learning_rate=0.1))
    copy = optimizers.deserialize(spec, custom_objects={"Scaled": Scaled})
    assert type(copy) is Scaled and copy.factor == 3.0 and copy.get_config() == spec["config"]


def test_serialize_refuses_what_is_not_an_optimizer():
    with pytest.raises(ValueError, match=r"optimizers\.serialize: expected a brainnet optimizer, got a torch\.optim\.adam\.Adam\. "
                                         r"Fix: serialize\(brainnet\.optimizers\.Adam\(learning_rate=1e-3\)\)"):
        optimizers.serialize(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]))
