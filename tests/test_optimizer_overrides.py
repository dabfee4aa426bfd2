"""An optimizer subclass's own ``apply`` runs at every step of fit (Keras 3's
standard step calls it), and Keras 2's ``get_gradients`` hook, which Keras 3
never calls, is refused with the fix."""

from __future__ import annotations

import numpy as np
import pytest

import brainnet
from brainnet import layers
from brainnet.optimizers import SGD, RMSprop


def test_a_keras2_get_gradients_override_is_refused_with_the_fix():
    with pytest.raises(TypeError, match=r"Centred defines get_gradients\(loss, params\), Keras 2's hook.*"
                                        r"Fix: def apply\(self, grads, trainable_variables=None\)"):
        class Centred(RMSprop):
            def get_gradients(self, loss, params):
                return []


class HalvedSGD(SGD):
    calls = 0

    def apply(self, grads, trainable_variables=None):
        HalvedSGD.calls += 1
        return super().apply([g / 2 for g in grads], trainable_variables)


@pytest.mark.parametrize("how", ["fit", "train_on_batch"])
def test_fit_and_train_on_batch_call_the_optimizers_own_apply(how):
    """SGD on halved gradients is SGD at half the rate: the same weights after one step."""
    brainnet.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(8, 1)).astype("float32")
    halved = brainnet.Sequential([brainnet.Input((3,)), layers.Dense(1)])
    plain = brainnet.models.clone_model(halved)
    plain.set_weights(halved.get_weights())
    initial = halved.get_weights()[0]
    halved.compile(optimizer=HalvedSGD(learning_rate=0.1), loss="mse")
    plain.compile(optimizer=SGD(learning_rate=0.05), loss="mse")
    HalvedSGD.calls = 0
    for model in (halved, plain):
        if how == "fit":
            model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        else:
            model.train_on_batch(x, y)
    assert HalvedSGD.calls == (2 if how == "fit" else 1)
    for a, b in zip(halved.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert not np.allclose(halved.get_weights()[0], initial)  # the step moved the weights
