"""``model.optimizer = ...`` after compile, as Keras 3 allows: a compile
override that calls ``super().compile()`` and then sets its own optimizer
(the Zero-DCE example's ``ZeroDCE.compile``)."""

from __future__ import annotations

import numpy as np
import pytest

from brainnet import optimizers
from brainnet.layers import Dense
from brainnet.models import Model, Sequential
from brainnet.utils import set_random_seed


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")


def regressor() -> Sequential:
    set_random_seed(0)
    return Sequential([Dense(1, input_shape=(4,))])


def fitted_weights(model: Sequential) -> list[np.ndarray]:
    model.fit(*data(), epochs=2, batch_size=8, shuffle=False, verbose=0)
    return model.get_weights()


def test_an_optimizer_set_after_compile_is_the_one_fit_steps_with():
    replaced = regressor()
    replaced.compile(optimizer="sgd", loss="mse", device="cpu")
    replaced.optimizer = optimizers.Adam(learning_rate=0.05)
    assert isinstance(replaced.optimizer, optimizers.Adam)
    direct = regressor()
    direct.compile(optimizer=optimizers.Adam(learning_rate=0.05), loss="mse", device="cpu")
    for got, want in zip(fitted_weights(replaced), fitted_weights(direct)):
        np.testing.assert_array_equal(got, want)
    replaced.optimizer = "rmsprop"  # a name, as compile takes
    assert isinstance(replaced.optimizer, optimizers.RMSprop)


class OwnOptimizer(Model):
    """The Keras 3 pattern: compile takes a learning rate and sets its own optimizer."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = Dense(1)

    def call(self, x):
        return self.dense(x)

    def compile(self, learning_rate, **kwargs):
        super().compile(**kwargs)
        self.optimizer = optimizers.Adam(learning_rate=learning_rate)


def test_a_compile_override_sets_its_own_optimizer_and_fit_trains_with_it():
    set_random_seed(0)
    model = OwnOptimizer()
    model.compile(learning_rate=0.1, loss="mse")
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    history = model.fit(*data(), epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.optimizer.iterations == 20


def test_an_optimizer_set_before_compile_is_refused_with_the_fix():
    model = regressor()
    with pytest.raises(ValueError, match=r"Sequential.optimizer = \.\.\.: expected a compiled model, got one "
                                         r"not compiled yet\. Fix: model.compile\(optimizer=\.\.\.\)"):
        model.optimizer = optimizers.Adam()
