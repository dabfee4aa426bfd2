"""A subclassed model with its own ``train_step`` and ``test_step`` on images
alone, as keras.io's DDIM example trains its diffusion model (Keras 3):
``self.loss`` is compile's loss as given, ``validation_data`` may be the
validation inputs alone (``test_step`` then gets them alone), and the model,
never called itself, saves and loads its weights after ``fit``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers


class Denoiser(keras.Model):
    """Learns to predict the noise added to x; no call() of its own."""

    def __init__(self):
        super().__init__()
        self.network = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(4)])
        self.loss_tracker = keras.metrics.Mean(name="n_loss")
        self.seen = []

    @property
    def metrics(self):
        return [self.loss_tracker]

    def _noise_loss(self, x):
        noises = torch.randn(x.shape)
        return torch.mean(self.loss(noises, self.network(x + noises)))

    def train_step(self, data):
        self.zero_grad()
        loss = self._noise_loss(data)
        loss.backward()
        weights = self.network.trainable_weights
        self.optimizer.apply_gradients(zip([w.grad for w in weights], weights))
        self.loss_tracker.update_state(loss.detach())
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        self.seen.append(data)
        self.loss_tracker.update_state(self._noise_loss(data))
        return {m.name: m.result() for m in self.metrics}


def test_self_loss_is_the_loss_given_to_compile():
    model = Denoiser()
    model.compile(optimizer="adam", loss=keras.losses.mean_absolute_error)
    assert model.loss is keras.losses.mean_absolute_error
    model.compile(optimizer="adam", loss="mse")
    assert model.loss == "mse"


@pytest.mark.parametrize("as_tensor", [False, True])
def test_validation_data_may_be_the_inputs_alone_for_an_own_test_step(as_tensor):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, x_val = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(8, 4)).astype("float32")
    model = Denoiser()
    model.compile(optimizer="adam", loss=keras.losses.mean_absolute_error)
    history = model.fit(x, epochs=2, batch_size=16, validation_data=torch.from_numpy(x_val) if as_tensor else x_val,
                        verbose=0).history
    assert sorted(history) == ["n_loss", "val_n_loss"] and len(history["val_n_loss"]) == 2
    # test_step got the validation inputs alone, one batch of 8 per epoch
    assert len(model.seen) == 2 and all(isinstance(d, torch.Tensor) for d in model.seen)
    np.testing.assert_array_equal(model.seen[0].numpy(), x_val)


def test_a_model_trained_by_its_own_step_saves_and_loads_its_weights(tmp_path):
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    model = Denoiser()
    model.compile(optimizer="adam", loss=keras.losses.mean_absolute_error)
    model.fit(x, epochs=1, batch_size=16, verbose=0)
    path = str(tmp_path / "denoiser.weights.h5")
    model.save_weights(path)
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.network.layers[0].kernel.add_(1.0)
    model.load_weights(path)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, saved[name], rtol=0, atol=0)


def test_a_model_without_weights_still_refuses_to_save(tmp_path):
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match=r"save_weights: expected a built model, got 'sequential\w*' with no weights "
                                         r"yet\. Fix: train it or give input_shape= to its first layer"):
        model.save_weights(str(tmp_path / "m.weights.h5"))


def test_model_loss_is_a_plain_attribute_that_adds_no_layer():
    inputs = keras.Input(shape=(3,))
    model = keras.Model(inputs, [layers.Dense(2, name="a")(inputs), layers.Dense(1, name="b")(inputs)])
    losses = {"a": "mse", "b": keras.losses.MeanAbsoluteError()}
    model.compile("adam", loss=losses)
    assert model.loss is losses  # the dict given, not a tracked copy
    torch_loss = torch.nn.MSELoss()
    model.compile("adam", loss=torch_loss)
    assert model.loss is torch_loss
    assert torch_loss not in list(model.modules()) and not any("loss" in k for k in model.state_dict())
