"""Keras 3's guide "Writing a training loop from scratch in PyTorch"
(keras-io guides/writing_a_custom_training_loop_in_torch.py), ported with
only its import lines changed (``import brainnet as keras``) and shortened:
a slice of real MNIST, one epoch.

What runs unchanged: the model, ``load_data``, ``to_categorical``, torch
``TensorDataset``/``DataLoader``s, a torch optimizer and loss on the model's
``parameters()``, Keras losses called ``loss_fn(targets, logits)``,
``optimizer.apply(gradients, trainable_weights)`` under ``torch.no_grad()``,
the metrics' ``update_state``/``result``/``reset_state``, ``model(x,
training=False)``, and (since this port) ``self.add_loss`` with
``model.losses``. What differs on purpose: the guide's ``v.value.grad`` is
``v.grad`` here (weights are ``torch.nn.Parameter``s; docs/keras.md).
The last test runs the GAN loop that ends the guide's TensorFlow and JAX
versions, written with torch as the PyTorch version writes its loops.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet.utils import set_random_seed

BATCH_SIZE = 32  # the guide's


def get_model() -> keras.Model:
    """The guide's MNIST model, verbatim."""
    inputs = keras.Input(shape=(784,), name="digits")
    x1 = keras.layers.Dense(64, activation="relu")(inputs)
    x2 = keras.layers.Dense(64, activation="relu")(x1)
    outputs = keras.layers.Dense(10, name="predictions")(x2)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


class ActivityRegularizationLayer(keras.layers.Layer):
    """The guide's layer, verbatim: it adds 1e-2 · Σ inputs as a loss."""

    def call(self, inputs):
        self.add_loss(1e-2 * torch.sum(inputs))
        return inputs


@pytest.fixture(scope="module")
def loaders(mnist_dir):
    """The guide's data preparation (unscaled pixels, one-hot labels, the last
    10,000 training images for validation), on 2,000 + 1,000 of them."""
    (x_train, y_train), _ = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train = np.reshape(x_train, (-1, 784)).astype("float32")
    y_train = keras.utils.to_categorical(y_train)
    x_val, y_val = x_train[-10000:][:1000], y_train[-10000:][:1000]
    x_train, y_train = x_train[:2000], y_train[:2000]
    train_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train))
    val_dataset = torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val))
    train_dataloader = torch.utils.data.DataLoader(
        train_dataset, batch_size=BATCH_SIZE, shuffle=True, generator=torch.Generator().manual_seed(0))
    val_dataloader = torch.utils.data.DataLoader(val_dataset, batch_size=BATCH_SIZE, shuffle=False)
    return train_dataloader, val_dataloader


def _val_accuracy(model, val_dataloader) -> float:
    with torch.no_grad():
        hits = [(model(x, training=False).argmax(1) == y.argmax(1)).float() for x, y in val_dataloader]
    return float(torch.cat(hits).mean())


def _keras_loop(model, loader, optimizer, loss_fn, metric=None) -> list[float]:
    """The guide's loop with a Keras optimizer and loss, one epoch; the batch losses."""
    seen = []
    for step, (inputs, targets) in enumerate(loader):
        logits = model(inputs)
        loss = loss_fn(targets, logits)
        if model.losses:
            loss = loss + torch.sum(*model.losses)
        model.zero_grad()
        trainable_weights = [v for v in model.trainable_weights]
        loss.backward()
        gradients = [v.grad for v in trainable_weights]  # the guide: v.value.grad
        with torch.no_grad():
            optimizer.apply(gradients, trainable_weights)
        if metric is not None:
            metric.update_state(targets, logits)
        seen.append(float(loss.detach().numpy()))
    return seen


def test_first_end_to_end_example_trains_with_a_torch_optimizer_and_loss(loaders):
    """Section "A first end-to-end example": torch.optim.Adam on
    model.parameters(), torch.nn.CrossEntropyLoss()(logits, targets)."""
    train_dataloader, val_dataloader = loaders
    set_random_seed(1)
    model = get_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    seen = []
    for step, (inputs, targets) in enumerate(train_dataloader):
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        model.zero_grad()
        loss.backward()
        optimizer.step()
        seen.append(float(loss.detach().numpy()))
    assert np.mean(seen[-10:]) < np.mean(seen[:3]) / 5
    assert _val_accuracy(model, val_dataloader) > 0.6  # one epoch on 2,000 unscaled images (chance: 0.1)


def test_keras_loss_takes_targets_first_and_matches_torch_and_numpy(loaders):
    """Section "A first end-to-end example", its "big gotcha": a Keras loss is
    loss_fn(targets, logits), torch's loss_fn(logits, targets); same value."""
    inputs, targets = next(iter(loaders[0]))
    logits = get_model()(inputs)
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=True)(targets, logits)
    torch_loss = torch.nn.CrossEntropyLoss()(logits, targets)
    z = logits.detach().double().numpy()
    log_softmax = z - z.max(1, keepdims=True) - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True))
    expected = -(targets.double().numpy() * log_softmax).sum(1).mean()
    np.testing.assert_allclose(float(keras_loss.detach()), expected, rtol=1e-5)
    np.testing.assert_allclose(float(torch_loss.detach()), expected, rtol=1e-5)


def test_keras_optimizer_apply_trains_the_model(loaders):
    """Section "A first end-to-end example", the loop with keras.optimizers.Adam
    and optimizer.apply(gradients, trainable_weights) under torch.no_grad()."""
    train_dataloader, val_dataloader = loaders
    set_random_seed(2)
    model = get_model()
    before = [w.detach().clone() for w in model.trainable_weights]
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    seen = _keras_loop(model, train_dataloader, optimizer, loss_fn)
    assert all(not torch.equal(b, w) for b, w in zip(before, model.trainable_weights))
    assert optimizer.iterations == len(train_dataloader)
    assert np.mean(seen[-10:]) < np.mean(seen[:3]) / 5
    assert _val_accuracy(model, val_dataloader) > 0.6


def test_low_level_handling_of_metrics(loaders):
    """Section "Low-level handling of metrics": CategoricalAccuracy's
    update_state per batch, result() at the epoch's end, then reset_state();
    the validation loop with model(x, training=False)."""
    train_dataloader, val_dataloader = loaders
    set_random_seed(3)
    model = get_model()
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    train_acc_metric = keras.metrics.CategoricalAccuracy()
    val_acc_metric = keras.metrics.CategoricalAccuracy()
    _keras_loop(model, train_dataloader, optimizer, loss_fn, train_acc_metric)
    train_acc = float(train_acc_metric.result())
    assert 0.5 < train_acc <= 1.0
    train_acc_metric.reset_state()
    assert float(train_acc_metric.result()) == 0.0
    logits, labels = [], []
    for x_batch_val, y_batch_val in val_dataloader:
        val_logits = model(x_batch_val, training=False)
        val_acc_metric.update_state(y_batch_val, val_logits)
        logits.append(val_logits.detach().numpy())
        labels.append(y_batch_val.numpy())
    expected = np.mean(np.concatenate(logits).argmax(1) == np.concatenate(labels).argmax(1))
    np.testing.assert_allclose(float(val_acc_metric.result()), expected, rtol=1e-6)
    assert expected > 0.6
    val_acc_metric.reset_state()
    assert float(val_acc_metric.result()) == 0.0


def _regularized_model() -> keras.Model:
    """The guide's model with ActivityRegularizationLayer after the first Dense
    (kept as ``model.first``)."""
    inputs = keras.Input(shape=(784,), name="digits")
    first = keras.layers.Dense(64, activation="relu")
    x = first(inputs)
    x = ActivityRegularizationLayer()(x)
    x = keras.layers.Dense(64, activation="relu")(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.first = first
    return model


def _first_activations(model, x: np.ndarray) -> np.ndarray:
    """relu(x W + b) of the first Dense, in NumPy (float64)."""
    kernel, bias = (w.detach().double().numpy() for w in model.first.weights)
    return np.maximum(x.astype(np.float64) @ kernel + bias, 0.0)


def test_losses_tracked_by_the_model_are_those_of_the_last_forward_pass(loaders):
    """Section "Low-level handling of losses tracked by the model": add_loss in
    call; model.losses holds 1e-2 · Σ relu(x W + b) of the last call only
    (none once the model is built, before any call)."""
    set_random_seed(4)
    model = _regularized_model()
    assert model.losses == []
    batches = iter(loaders[0])
    first, second = next(batches)[0], next(batches)[0]
    for inputs in (first, second, second):
        model(inputs)
        assert len(model.losses) == 1
        expected = 1e-2 * _first_activations(model, inputs.numpy()).sum()
        np.testing.assert_allclose(float(model.losses[0].detach()), expected, rtol=1e-5)
    assert model.first.losses == []


def test_training_loop_adds_the_models_losses(loaders):
    """Section "Low-level handling of losses tracked by the model": the loop
    adds torch.sum(*model.losses) to the loss; the penalty's gradient reaches
    the first Dense, so training drives the penalized activations down."""
    train_dataloader, _ = loaders
    set_random_seed(5)
    model = _regularized_model()
    inputs, targets = next(iter(train_dataloader))
    logits = model(inputs)
    penalty_only = torch.sum(*model.losses)
    penalty_only.backward()
    kernel = model.first.kernel
    h = _first_activations(model, inputs.numpy())
    # d(1e-2 Σ relu(xW + b))/dW = 1e-2 · xᵀ · 1[xW + b > 0], in brainnet's (out, in) layout.
    expected = 1e-2 * (inputs.double().numpy().T @ (h > 0).astype(np.float64))
    grad = kernel.grad.double().numpy()
    np.testing.assert_allclose(grad.T if grad.shape != expected.shape else grad, expected, rtol=1e-4, atol=1e-6)
    model.zero_grad()
    del logits
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    penalty_before = float(model.losses[0].detach())
    seen = _keras_loop(model, train_dataloader, optimizer, loss_fn)
    model(inputs)
    assert float(model.losses[0].detach()) < penalty_before / 10
    assert np.mean(seen[-10:]) < seen[0] / 10


def test_add_loss_joins_fit_and_evaluate_as_in_keras():
    """Beyond the guide's loop: compile/fit/evaluate add the add_loss terms to
    the loss (Keras's compute_loss adds model.losses): one batch of evaluate is
    CE + 1e-2 · Σ relu(x W + b), in NumPy."""
    set_random_seed(6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 784)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, size=16), 10)
    model = _regularized_model()
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    got = model.evaluate(x, y, batch_size=16, verbose=0)
    z = model.predict(x, verbose=0).astype(np.float64)
    log_softmax = z - z.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    expected = -(y * log_softmax).sum(1).mean() + 1e-2 * _first_activations(model, x).sum()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    penalty_before = 1e-2 * _first_activations(model, x).sum()
    history = model.fit(x, y, batch_size=16, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
    assert 1e-2 * _first_activations(model, x).sum() < penalty_before / 2  # fit minimized the added loss too


def _gan(width: int = 8, latent_dim: int = 32):
    """The guide's DCGAN (its TensorFlow and JAX versions' last section), with
    ``width`` filters where the guide has 64 and 2·width where it has 128, so
    a CPU runs a few steps in a second."""
    discriminator = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(width, (3, 3), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Conv2D(2 * width, (3, 3), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(1),
        ],
        name="discriminator",
    )
    generator = keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            keras.layers.Dense(7 * 7 * 2 * width),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Reshape((7, 7, 2 * width)),
            keras.layers.Conv2DTranspose(2 * width, (4, 4), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Conv2DTranspose(2 * width, (4, 4), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )
    return discriminator, generator


def _bce_from_logits(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean of max(z, 0) − z·y + log(1 + e^−|z|), float64."""
    z = logits.astype(np.float64)
    return float(np.mean(np.maximum(z, 0) - z * labels + np.log1p(np.exp(-np.abs(z)))))


def test_gan_training_loop_from_scratch(loaders, tmp_path):
    """Section "End-to-end example: a GAN training loop from scratch" (in the
    guide's TensorFlow and JAX versions), written as a torch loop: torch.randn
    for tf.random.normal, torch.cat for tf.concat, loss.backward() then
    optimizer.apply for the GradientTape; six steps on real digits. Each step
    trains the discriminator alone, then the generator alone (each update
    leaves the other model's weights as they were); the losses are BCE on
    logits, checked in NumPy."""
    set_random_seed(7)
    batch_size, latent_dim = 32, 32
    discriminator, generator = _gan(latent_dim=latent_dim)
    d_optimizer = keras.optimizers.Adam(learning_rate=0.0003)
    g_optimizer = keras.optimizers.Adam(learning_rate=0.0004)
    loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def train_step(real_images):
        random_latent_vectors = torch.randn(batch_size, latent_dim)
        generated_images = generator(random_latent_vectors)
        combined_images = torch.cat([generated_images, real_images], dim=0)
        labels = torch.cat([torch.ones((batch_size, 1)), torch.zeros((real_images.shape[0], 1))], dim=0)
        labels += 0.05 * torch.rand(labels.shape)
        g_before = [w.detach().clone() for w in generator.trainable_weights]
        predictions = discriminator(combined_images)
        d_loss = loss_fn(labels, predictions)
        discriminator.zero_grad()
        d_loss.backward()
        grads = [v.grad for v in discriminator.trainable_weights]
        with torch.no_grad():
            d_optimizer.apply(grads, discriminator.trainable_weights)
        assert all(torch.equal(b, w) for b, w in zip(g_before, generator.trainable_weights))
        np.testing.assert_allclose(float(d_loss.detach()), _bce_from_logits(
            labels.numpy(), predictions.detach().numpy()), rtol=1e-5)

        random_latent_vectors = torch.randn(batch_size, latent_dim)
        misleading_labels = torch.zeros((batch_size, 1))
        d_before = [w.detach().clone() for w in discriminator.trainable_weights]
        predictions = discriminator(generator(random_latent_vectors))
        g_loss = loss_fn(misleading_labels, predictions)
        np.testing.assert_allclose(float(g_loss.detach()), _bce_from_logits(
            misleading_labels.numpy(), predictions.detach().numpy()), rtol=1e-5)
        generator.zero_grad()
        g_loss.backward()
        grads = [v.grad for v in generator.trainable_weights]
        with torch.no_grad():
            g_optimizer.apply(grads, generator.trainable_weights)
        # the generator's step leaves the discriminator as it was
        assert all(torch.equal(b, w) for b, w in zip(d_before, discriminator.trainable_weights))
        return float(d_loss.detach()), float(g_loss.detach()), generated_images.detach()

    x_train = loaders[0].dataset.tensors[0].numpy()  # the real digits, as load_data gives them, flattened
    all_digits = np.reshape(x_train[:192].astype("float32") / 255.0, (-1, 28, 28, 1))
    dataset = torch.utils.data.DataLoader(torch.from_numpy(all_digits), batch_size=batch_size, shuffle=True,
                                          generator=torch.Generator().manual_seed(0))
    g_start = [w.detach().clone() for w in generator.trainable_weights]
    for step, real_images in enumerate(dataset):
        d_loss, g_loss, generated_images = train_step(real_images)
        if step == 0:
            img = keras.utils.array_to_img(generated_images[0].numpy() * 255.0, scale=False)
            img.save(tmp_path / f"generated_img_{step}.png")
    assert generated_images.shape == (batch_size, 28, 28, 1)
    assert 0.0 <= float(generated_images.min()) and float(generated_images.max()) <= 1.0
    assert (tmp_path / "generated_img_0.png").stat().st_size > 0
    assert d_optimizer.iterations == g_optimizer.iterations == len(dataset)
    assert all(not torch.equal(b, w) for b, w in zip(g_start, generator.trainable_weights))
