"""keras.io example "Trainer pattern"
(https://keras.io/examples/keras_recipes/trainer_pattern/), ported as a
learner would: ``import brainnet as keras`` in place of ``import keras`` (and
of the TensorFlow backend setting), and the ``tf.GradientTape`` block of
``train_step`` written in torch: ``self.zero_grad()``, the forward pass, the
loss, ``loss.backward()``, then the gradients read as ``v.grad`` of
``self.trainable_variables`` and handed to ``apply_gradients`` as written.
Shortened for CI: 6,000 training images and 1,000 test images (the
validation data), 2 epochs in place of 5. The tests check that one Trainer
class trains both a Sequential and a functional model, that the metrics it
lists are the ones fit reports, that the reported validation accuracy is
the accuracy of the trained model's predictions, and accuracy far above
chance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras


class MyTrainer(keras.Model):
    def __init__(self, model):
        super().__init__()
        self.model = model
        # the loss and metrics live in the trainer, not in compile
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self.accuracy_metric = keras.metrics.SparseCategoricalAccuracy()

    @property
    def metrics(self):
        # what fit resets each epoch and reports
        return [self.accuracy_metric]

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self.model(x, training=True)  # forward pass
        loss = self.loss_fn(y, y_pred)
        loss.backward()
        trainable_vars = self.trainable_variables
        gradients = [v.grad for v in trainable_vars]
        self.optimizer.apply_gradients(zip(gradients, trainable_vars))
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        x, y = data
        y_pred = self.model(x, training=False)  # inference
        for metric in self.metrics:
            metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}

    def call(self, x):
        # the wrapped model's call
        x = self.model(x)
        return x


@pytest.fixture(scope="module")
def data(mnist_dir):
    """Section "Setup", as written (float64 pixels in [0, 1], no channel axis)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
        mnist = keras.datasets.mnist
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train, x_test = x_train / 255.0, x_test / 255.0
    assert x_train.dtype == np.float64 and x_train.shape == (60000, 28, 28)
    return x_train[:6000], y_train[:6000], x_test[:1000], y_test[:1000]


def _models():
    """Section "Define multiple models to share the custom training step"."""
    model_a = keras.models.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    func_input = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Flatten()(func_input)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dropout(0.4)(x)
    func_output = keras.layers.Dense(10, activation="softmax")(x)
    model_b = keras.Model(func_input, func_output)
    return model_a, model_b


@pytest.mark.parametrize("which", ["sequential_with_sgd", "functional_with_adam"])
def test_one_trainer_class_trains_two_kinds_of_model(data, which):
    """Sections "Create Trainer class objects from the models" and "Compile and
    fit the models to the MNIST dataset"."""
    x_train, y_train, x_test, y_test = data
    keras.utils.set_random_seed(0)
    model_a, model_b = _models()
    if which == "sequential_with_sgd":
        trainer = MyTrainer(model_a)
        trainer.compile(optimizer=keras.optimizers.SGD())
        wanted = 0.6  # plain SGD at 0.01 learns slowest: 0.75 measured
    else:
        trainer = MyTrainer(model_b)
        trainer.compile(optimizer=keras.optimizers.Adam())
        wanted = 0.85  # 0.90 measured
    before = [w.copy() for w in trainer.model.get_weights()] if trainer.model.built else None
    history = trainer.fit(x_train, y_train, epochs=2, batch_size=64, validation_data=(x_test, y_test), verbose=0)
    assert sorted(history.history) == ["sparse_categorical_accuracy", "val_sparse_categorical_accuracy"]
    # the trainer's variables are the wrapped model's, and training moved them
    assert all(a is b for a, b in zip(trainer.trainable_variables, trainer.model.trainable_variables))
    assert len(trainer.trainable_variables) == 4
    if before is not None:
        assert all(not np.allclose(a, b) for a, b in zip(before, trainer.model.get_weights()))
    # val accuracy: the trained model's predictions on the test images, counted in NumPy
    probabilities = trainer.model.predict(x_test, verbose=0)
    np.testing.assert_allclose(trainer.predict(x_test, verbose=0), probabilities, rtol=1e-6)
    accuracy = np.mean(probabilities.argmax(axis=1) == y_test)
    assert history.history["val_sparse_categorical_accuracy"][-1] == pytest.approx(accuracy)
    assert history.history["sparse_categorical_accuracy"][1] > history.history["sparse_categorical_accuracy"][0]
    assert accuracy > wanted  # chance is 0.1


def test_the_train_step_is_one_step_of_the_optimizer_on_the_cross_entropy(data):
    """Section "Define the Trainer class": one train_step, against the same step in plain torch."""
    x_train, y_train, _, _ = data
    keras.utils.set_random_seed(1)
    model_a, _ = _models()
    trainer = MyTrainer(model_a)
    trainer.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    x, y = torch.from_numpy(x_train[:64]).float(), torch.from_numpy(y_train[:64]).long()
    trainer.model(x)  # build
    trainer.model.layers[2].rate = 0.0  # no dropout, so that the step is deterministic
    start = [w.detach().clone().double().requires_grad_(True) for w in trainer.trainable_variables]
    logs = trainer.train_step((x, y))
    kernel_1, bias_1, kernel_2, bias_2 = start
    probabilities = torch.softmax(torch.relu(x.double().reshape(64, -1) @ kernel_1 + bias_1) @ kernel_2 + bias_2, dim=1)
    cross_entropy = -torch.log(probabilities[torch.arange(64), y]).mean()
    cross_entropy.backward()
    for got, w in zip(trainer.trainable_variables, start):
        np.testing.assert_allclose(got.detach().numpy(), (w - 0.1 * w.grad).detach().numpy(), rtol=1e-4, atol=1e-6)
    assert float(logs["sparse_categorical_accuracy"]) == pytest.approx(
        float((probabilities.argmax(dim=1) == y).double().mean()))
