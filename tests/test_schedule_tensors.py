"""A learning-rate schedule of one's own may return a 0-d tensor, as Keras's
do (keras.io's warm-up cosine builds its rate with ``tf.cos``/``tf.where``);
anything but one number is refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet.optimizers import SGD
from brainnet.optimizers.schedules import LearningRateSchedule


class Halving(LearningRateSchedule):
    def __call__(self, step):
        return torch.where(torch.as_tensor(step < 2), torch.tensor(0.5), torch.tensor(0.25))


class NumpyRate(LearningRateSchedule):
    def __call__(self, step):
        return np.float32(0.1) * np.ones(())


class Vector(LearningRateSchedule):
    def __call__(self, step):
        return torch.tensor([0.1, 0.2])


def test_a_schedule_returning_a_0d_tensor_sets_the_rate_of_each_update():
    opt = SGD(learning_rate=Halving())
    assert opt.learning_rate == 0.5
    w = torch.nn.Parameter(torch.zeros(1))
    for want in (-0.5, -1.0, -1.25):  # steps 0, 1 at 0.5, step 2 at 0.25, gradient 1
        opt.apply([torch.ones(1)], [w])
        assert float(w.detach()) == pytest.approx(want)
    assert SGD(learning_rate=NumpyRate()).learning_rate == pytest.approx(0.1)


def test_a_schedule_returning_more_than_one_number_is_refused():
    with pytest.raises(ValueError, match=r"Vector: expected __call__\(step\) to return the learning rate as one "
                                         r"number.*got tensor\(\[0.1000, 0.2000\]\) for step 0. Fix: return a float"):
        SGD(learning_rate=Vector())
