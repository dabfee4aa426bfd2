"""A ``Regularizer`` subclass of one's own in a saved model: saved and loaded
when it defines ``get_config``; refused at save time, as Keras 3 refuses it,
when its ``__init__`` takes arguments that the base class's ``get_config``
cannot know (loading could not make it again)."""

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Scaled(keras.regularizers.Regularizer):
    def __init__(self, factor, power=2):
        self.factor, self.power = factor, power

    def __call__(self, x):
        return self.factor * torch.sum(torch.abs(x) ** self.power)


@keras.saving.register_serializable(package="regularizer_subclass_test")
class SavableScaled(Scaled):
    def get_config(self):
        return {"factor": self.factor, "power": self.power}


class NoArguments(keras.regularizers.Regularizer):
    def __call__(self, x):
        return torch.sum(x**2)


def _model(reg):
    return keras.Sequential([keras.Input(shape=(3,)), layers.Dense(2, kernel_regularizer=reg)])


def test_a_subclass_without_get_config_is_refused_at_save_with_its_arguments_in_the_fix(tmp_path):
    model = _model(Scaled(0.5))
    with pytest.raises(ValueError, match=r"save: expected the regularizer Scaled to define get_config\(\) returning "
                                         r"its constructor arguments, got a subclass that keeps the base class's.*"
                                         r"Fix: def get_config\(self\): return \{'factor': self\.factor, "
                                         r"'power': self\.power\}, with @brainnet\.saving\.register_serializable"):
        model.save(tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists()


def test_a_subclass_with_get_config_or_without_arguments_saves_and_loads(tmp_path):
    model = _model(SavableScaled(0.5, power=3))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    reg = loaded.layers[0].kernel_regularizer
    assert type(reg) is SavableScaled and (reg.factor, reg.power) == (0.5, 3)
    want = 0.5 * np.sum(np.abs(model.layers[0].kernel.detach().numpy()) ** 3)
    assert float(loaded.losses[0].detach()) == pytest.approx(want, rel=1e-5)

    _model(NoArguments()).save(tmp_path / "n.keras")  # {} makes it again
    loaded = keras.models.load_model(tmp_path / "n.keras", custom_objects={"NoArguments": NoArguments})
    assert type(loaded.layers[0].kernel_regularizer) is NoArguments
