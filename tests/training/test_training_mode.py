"""``training`` left out means inference, as in Keras 3.

A layer or model is created in ``eval()`` mode, so ``layer(x)`` and
``model(x)`` without ``training=`` infer (dropout off, batch normalization on
its moving statistics); ``fit`` trains in ``train()`` mode and afterwards
(also after an error, Ctrl-C or an early stop) puts each layer's mode back;
``evaluate``, ``predict`` and ``train_on_batch`` do the same. ``train()`` and
``training=True`` still train, as torch and Keras users expect. References:
NumPy written out here (batch normalization with the moving statistics), and
the eager step for the (simulated) CUDA-graph step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainnet import layers
from brainnet.callbacks import Callback, LambdaCallback
from brainnet.models import Model, Sequential
from brainnet.optimizers import SGD
from brainnet.utils import set_random_seed

from test_graph_step import use_simulated_graphs


def _x(n=32, features=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, features)).astype("float32")


def _model(dropout=0.5):
    set_random_seed(0)
    model = Sequential([layers.Input((6,)), layers.Dense(8), layers.BatchNormalization(),
                        layers.Dropout(dropout), layers.Dense(1)])
    model.compile("adam", "mse")
    return model


def _modes(model):
    return [m.training for m in model.modules()]


def _bn_model_numpy(model, x):
    """The model's equation at inference, in float64: Dense, γ·(h − μ_mov)/√(σ²_mov + ε) + β, Dense."""
    dense1, bn, _, dense2 = model.layers
    k1, b1 = (w.astype("float64") for w in dense1.get_weights())
    gamma, beta, mean, var = (w.astype("float64") for w in bn.get_weights())
    k2, b2 = (w.astype("float64") for w in dense2.get_weights())
    h = x.astype("float64") @ k1 + b1
    h = gamma * (h - mean) / np.sqrt(var + bn.epsilon) + beta
    return h @ k2 + b2


# ------------------------------------------------------------------ called directly
def test_new_layers_called_directly_infer():
    x = _x()
    assert np.array_equal(layers.Dropout(0.5)(x).numpy(), x)
    assert np.array_equal(layers.GaussianNoise(1.0)(x).numpy(), x)
    assert np.array_equal(layers.SpatialDropout1D(0.5)(x[:, :, None]).numpy(), x[:, :, None])
    bn = layers.BatchNormalization()
    out = bn(x).detach().numpy()
    # Moving statistics μ = 0, σ² = 1 at first: y = x / √(1 + ε), and they do not move.
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    assert np.array_equal(bn.moving_mean.numpy(), np.zeros(6))
    assert np.array_equal(bn.moving_variance.numpy(), np.ones(6))
    wrapped = layers.TorchModuleWrapper(torch.nn.Dropout(0.5))
    assert not wrapped.module.training and torch.equal(wrapped(torch.from_numpy(x)), torch.from_numpy(x))


def test_custom_dropout_of_the_guide_and_torch_modules_made_in_build_infer():
    class CustomDropout(layers.Layer):  # Keras's "making new layers" guide
        def __init__(self, rate, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate

        def call(self, inputs, training=None):
            if training:
                return torch.nn.functional.dropout(inputs, p=self.rate)
            return inputs

    class TorchInside(layers.Layer):  # a torch module made in build: it takes the layer's mode
        def build(self, input_shape):
            self.drop = torch.nn.Dropout(0.5)
            self.inner = layers.Dropout(0.5)

        def call(self, inputs):
            return self.inner(self.drop(inputs))

    x = torch.from_numpy(_x())
    assert torch.equal(CustomDropout(0.5)(x), x)
    layer = TorchInside()
    assert torch.equal(layer(x), x) and not any(_modes(layer))
    layer = TorchInside().train()
    assert not torch.equal(layer(x), x) and all(_modes(layer))  # built in train() mode: its modules train too


def test_new_model_called_directly_infers_and_equals_predict():
    model, x = _model(), _x()
    assert not any(_modes(model))
    first = model(x).detach().numpy()
    np.testing.assert_array_equal(model(x).detach().numpy(), first)  # no dropout: the same twice
    np.testing.assert_allclose(model.predict(x, verbose=0), first, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(first, _bn_model_numpy(model, x), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ after fit
def test_model_after_fit_infers_with_the_moving_statistics_and_equals_predict():
    model, x = _model(), _x(64)
    y = x[:, :1] * 2.0
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, validation_split=0.25)
    assert not model.training and not any(_modes(model))
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean.numpy(), 0.0)  # fit trained: the statistics moved
    direct = model(x).detach().numpy()
    np.testing.assert_allclose(direct, _bn_model_numpy(model, x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, verbose=0), direct, rtol=1e-6, atol=1e-6)
    assert not any(_modes(model))  # predict left it as it was


def test_train_mode_and_training_true_drop():
    model, x = _model(dropout=0.9), _x()
    inferred = model(x).detach().numpy()
    assert not np.allclose(model(x, training=True).detach().numpy(), inferred)  # training=True always wins
    assert not any(_modes(model))
    model.train()  # a torch user's own loop
    assert all(_modes(model))
    dropped = layers.Dropout(0.9).train()(torch.ones(1000))
    assert (dropped == 0).float().mean() > 0.8
    assert not np.allclose(model(x).detach().numpy(), inferred)  # dropped, and normalized with the batch
    model.eval()
    moved = model.layers[1].moving_mean.numpy()
    assert not np.allclose(moved, 0.0)  # the train() call moved the statistics, as fit's steps do
    np.testing.assert_allclose(model(x).detach().numpy(), _bn_model_numpy(model, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call", ["fit", "evaluate", "predict", "train_on_batch"])
def test_each_layers_mode_is_put_back(call):
    model, x = _model(), _x()
    y = x[:, :1]
    model.train()
    model.layers[2].eval()  # a mixed state: every layer's own mode comes back, not one for all
    before = _modes(model)
    if call == "predict":
        model.predict(x, verbose=0)
    elif call == "train_on_batch":
        model.train_on_batch(x, y)
    else:
        getattr(model, call)(x, y, verbose=0)
    assert _modes(model) == before


class _Raise(Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error
        self.seen = []

    def on_train_batch_end(self, batch, logs=None):
        self.seen.append(self.model.training)  # False: a user's batch hook infers, as Keras 3 (the steps train)
        if batch == 1:
            raise self.error


def test_mode_is_put_back_when_a_callback_raises_or_ctrl_c_or_an_early_stop_ends_fit():
    model, x = _model(), _x()
    y = x[:, :1]
    raising = _Raise(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[raising])
    assert raising.seen == [False, False] and not any(_modes(model))
    with pytest.warns(UserWarning):  # Ctrl-C: fit returns the History so far, with a warning
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[_Raise(KeyboardInterrupt())])
    assert not any(_modes(model))

    class Stop(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    history = model.fit(x, y, batch_size=8, epochs=5, verbose=0, callbacks=[Stop()])
    assert len(history.history["loss"]) == 1 and not any(_modes(model))


def test_custom_train_step_trains_and_the_model_infers_afterwards():
    class OwnStep(Sequential):
        def train_step(self, data):
            x, y = data
            self.zero_grad()
            y_pred = self(x, training=True)  # Keras's pattern
            loss = ((y_pred - y) ** 2).mean()
            loss.backward()
            weights = self.trainable_weights
            self.optimizer.apply([w.grad for w in weights], weights)
            return {"loss": loss}

    set_random_seed(0)
    model = OwnStep([layers.Input((6,)), layers.Dense(8), layers.Dropout(0.9), layers.Dense(1)])
    model.compile("sgd")
    x = _x()
    before = model(x).detach().numpy()
    history = model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and not any(_modes(model))
    after = model(x).detach().numpy()
    assert not np.allclose(after, before)  # it trained
    np.testing.assert_array_equal(model(x).detach().numpy(), after)  # and infers: no dropout


def test_nested_model_called_with_training_false_in_the_graph_stays_in_inference():
    set_random_seed(0)
    base = Sequential([layers.Input((6,)), layers.Dense(8), layers.BatchNormalization(), layers.Dropout(0.5)])
    inputs = layers.Input((6,))
    outputs = layers.Dense(1)(base(inputs, training=False))
    model = Model(inputs, outputs)
    model.compile("adam", "mse")
    x = _x()
    moving = [w.copy() for w in base.layers[1].get_weights()[2:]]
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0)
    for kept, now in zip(moving, base.layers[1].get_weights()[2:]):
        np.testing.assert_array_equal(now, kept)  # training=False held inside fit: the statistics did not move
    np.testing.assert_allclose(model(x).detach().numpy(), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert not any(_modes(model))


# ------------------------------------------------------------------ the graph step
def _fit_batchnorm_model():
    # Batch normalization is what the mode changes in a step without random draws (an
    # unseeded Dropout draws otherwise in a graph than eagerly, so it cannot be compared).
    set_random_seed(0)
    model = Sequential([layers.Input((6,)), layers.Dense(16), layers.BatchNormalization(), layers.Dense(1)])
    model.compile("sgd", "mse", jit_compile=True, device="cpu")
    x = _x(96)
    set_random_seed(1)  # the same shuffling in both runs
    history = model.fit(x, x[:, :1], batch_size=16, epochs=2, verbose=0)
    return model, history, x


def test_graph_step_trains_as_the_eager_step_and_the_model_infers_afterwards(monkeypatch):
    use = use_simulated_graphs(monkeypatch)
    use(False)
    eager, eager_history, x = _fit_batchnorm_model()
    use(True)
    graphed, graphed_history, _ = _fit_batchnorm_model()
    assert graphed.trainer.graph_step is not None and graphed.trainer.graph_step.replays > 0
    np.testing.assert_allclose(graphed_history.history["loss"], eager_history.history["loss"], rtol=1e-5)
    for p, q in zip(graphed.weights, eager.weights):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert not any(_modes(graphed)) and not np.allclose(graphed.layers[1].moving_mean.numpy(), 0.0)
    np.testing.assert_allclose(graphed(x).detach().numpy(), graphed.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


# ------------------------------------------- augmentation layers (Keras 3: call(..., training=True))
def _images(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((n, 8, 8, 1)).astype("float32")


def test_augmentation_layers_called_alone_augment_as_keras_and_training_false_gives_the_images():
    """Keras 3's augmentation layers default to training=True: the guides'
    ``data_augmentation(images)`` (a Sequential of them) augments when called
    alone; training=False, or eval() on it, gives the images back."""
    x = _images()
    flip = layers.RandomFlip("horizontal", seed=1)
    out = flip(x).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) and not np.array_equal(o, i) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    np.testing.assert_array_equal(flip(x, training=False).numpy(), x)
    data_augmentation = Sequential([layers.RandomFlip("horizontal", seed=2), layers.RandomRotation(0.2, seed=3)])
    assert not np.allclose(data_augmentation(x).detach().numpy(), x)
    np.testing.assert_array_equal(data_augmentation(x, training=False).detach().numpy(), x)
    data_augmentation.eval()  # a torch mode chosen by the user: the identity until train()
    np.testing.assert_array_equal(data_augmentation(x).detach().numpy(), x)
    data_augmentation.train()
    assert not np.allclose(data_augmentation(x).detach().numpy(), x)


def test_a_model_with_augmentation_and_dropout_augments_alone_never_in_predict_and_fit_keeps_the_default():
    """Called directly, a model passes training on as left out: its RandomFlip
    augments (its default) while its Dropout infers (its own), as Keras 3;
    predict never augments; after fit and predict the flip still augments alone."""
    x = _images()
    set_random_seed(0)
    model = Sequential([layers.Input((8, 8, 1)), layers.RandomFlip("horizontal", seed=4), layers.Flatten(),
                        layers.Dropout(0.5), layers.Dense(2)])
    flip_only = Sequential([model.layers[0]])
    head = Sequential([layers.Input((8, 8, 1))] + model.layers[1:])
    direct = model(x).detach().numpy()
    # The Dropout inferred: the output is the head's inference output of some flip of each image.
    for i in range(len(x)):
        candidates = [head(im[None], training=False).detach().numpy()[0] for im in (x[i], x[i][:, ::-1].copy())]
        assert any(np.allclose(direct[i], c, atol=1e-6) for c in candidates)
    first = model.predict(x, verbose=0)
    np.testing.assert_allclose(first, model.predict(x, verbose=0))
    np.testing.assert_allclose(first, model(x, training=False).detach().numpy(), atol=1e-6)
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((len(x), 2), "float32"), epochs=1, verbose=0)
    assert not model.layers[0]._mode_chosen and not model.training  # fit put the mode (and its origin) back
    assert not np.allclose(flip_only(x).detach().numpy(), x)


def test_a_callbacks_model_call_at_the_epochs_edges_infers_and_moves_no_statistics():
    """Keras 3 runs callbacks outside the training call, so ``self.model(x)``
    in ``on_epoch_end`` (a GAN monitor, a sample printer) infers: here it
    equals ``predict`` and leaves BatchNormalization's moving statistics as
    they were; the next epoch trains again in train() mode. The same holds for
    a DataLoader and for a custom train_step."""
    x = _images(32)
    y = np.random.default_rng(1).random((32, 2)).astype("float32")

    class Monitor(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            bn = self.model.layers[1]
            before = bn.moving_mean.clone()
            out = self.model(torch.from_numpy(x)).detach().numpy()
            assert torch.equal(before, bn.moving_mean)  # inference: no statistics moved
            self.seen.append((out, self.model.predict(x, verbose=0)))

    class Step(Sequential):
        def train_step(self, data):
            assert self.training  # each epoch's steps still train after the callbacks
            return super().train_step(data)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=8)
    for cls, data in ((Sequential, (x, y)), (Sequential, (loader,)), (Step, (x, y))):
        set_random_seed(0)
        model = cls([layers.Input((8, 8, 1)), layers.Flatten(), layers.BatchNormalization(), layers.Dropout(0.5),
                     layers.Dense(2)])  # layers[1]: the BatchNormalization
        model.compile("sgd", "mse")
        monitor = Monitor()
        model.fit(*data, epochs=2, batch_size=8, verbose=0, callbacks=[monitor]) if len(data) == 2 else \
            model.fit(*data, epochs=2, verbose=0, callbacks=[monitor])
        assert len(monitor.seen) == 2
        for out, predicted in monitor.seen:
            np.testing.assert_allclose(out, predicted, atol=1e-6)
        assert not model.training


class _TrainsByDefault(layers.Layer):
    """A layer of one's own whose call declares training=True: 2x in training, x at inference."""

    def call(self, x, training=True):
        return x * 2 if training else x


class _InheritsTheCall(_TrainsByDefault):
    pass


class _OwnCallNoDefault(_TrainsByDefault):
    def call(self, x, training=None):
        return x * 2 if training else x


def test_a_call_declaring_training_true_takes_that_default_when_left_out_as_keras():
    """Keras 3: a call without training= and no outer flag gets the signature's
    default; so the layer alone and a model holding it train, while
    training=False, predict and evaluate infer, and fit trains (loss on 2x)."""
    x = _x(8, 3)
    layer = _TrainsByDefault()
    np.testing.assert_allclose(layer(x).numpy(), 2 * x)
    np.testing.assert_allclose(layer(x, training=False).numpy(), x)
    np.testing.assert_allclose(_InheritsTheCall()(x).numpy(), 2 * x)
    np.testing.assert_allclose(_OwnCallNoDefault()(x).numpy(), x)  # its own call: no default, inference
    model = Sequential([layers.Input((3,)), _TrainsByDefault(), layers.Dense(3)])
    model.layers[-1].set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])  # y = layer's output
    np.testing.assert_allclose(model(x).detach().numpy(), 2 * x)
    np.testing.assert_allclose(model(x, training=False).detach().numpy(), x)
    np.testing.assert_allclose(model.predict(x, verbose=0), x)
    model.compile(SGD(learning_rate=0.0), "mse")  # the identity Dense stays
    np.testing.assert_allclose(model.evaluate(x, np.zeros_like(x), verbose=0), np.mean(x.astype("float64") ** 2),
                               rtol=1e-5)
    history = model.fit(x, np.zeros_like(x), epochs=1, batch_size=8, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], np.mean((2 * x.astype("float64")) ** 2), rtol=1e-5)
    np.testing.assert_allclose(model(x).detach().numpy(), 2 * x)  # fit put the default back
    model.eval()  # torch's eval() is a chosen mode: calls without training= infer
    np.testing.assert_allclose(model(x).detach().numpy(), x)


def test_a_callbacks_model_call_in_the_batch_hooks_infers_and_the_steps_still_train():
    """Keras 3 runs on_train_batch_begin/_end outside the training call too: a
    user's callback (or a LambdaCallback's function) that calls self.model(x)
    there gets predict's output and moves no BatchNormalization statistics,
    while every step in between trains (its dropout drops: the loss of a
    Dropout(0.9) model differs from the loss without it). Arrays, a DataLoader
    and a custom train_step alike."""
    x = _images(32)
    y = np.random.default_rng(1).random((32, 2)).astype("float32")

    def check(model, seen):
        bn = model.layers[1]
        before = bn.moving_mean.clone()
        out = model(torch.from_numpy(x)).detach().numpy()
        assert torch.equal(before, bn.moving_mean)  # inference: no statistics moved
        seen.append((out, model.predict(x, verbose=0)))

    class Monitor(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_batch_begin(self, batch, logs=None):
            check(self.model, self.seen)

        def on_train_batch_end(self, batch, logs=None):
            check(self.model, self.seen)

    class Step(Sequential):
        def train_step(self, data):
            assert self.training  # the steps train between the hooks
            return super().train_step(data)

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                         batch_size=8)
    for cls, data in ((Sequential, (x, y)), (Sequential, (loader,)), (Step, (x, y))):
        set_random_seed(0)
        model = cls([layers.Input((8, 8, 1)), layers.Flatten(), layers.BatchNormalization(), layers.Dropout(0.5),
                     layers.Dense(2)])  # layers[1]: the BatchNormalization
        model.compile("sgd", "mse")
        monitor, lambda_seen = Monitor(), []
        lam = LambdaCallback(on_batch_end=lambda batch, logs: check(model, lambda_seen))
        kwargs = {"batch_size": 8} if len(data) == 2 else {}
        model.fit(*data, epochs=1, verbose=0, callbacks=[monitor, lam], **kwargs)
        assert len(monitor.seen) == 8 and len(lambda_seen) == 4
        for out, predicted in monitor.seen + lambda_seen:
            np.testing.assert_allclose(out, predicted, atol=1e-6)
        assert not model.training
    set_random_seed(0)
    dropping = Sequential([layers.Input((8, 8, 1)), layers.Flatten(), layers.Dropout(0.9), layers.Dense(2)])
    dropping.compile("sgd", "mse")
    plain_loss = dropping.evaluate(x[:8], y[:8], verbose=0)
    calls = LambdaCallback(on_train_batch_end=lambda batch, logs: dropping(torch.from_numpy(x)))
    trained = dropping.fit(x[:8], y[:8], batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[calls])
    assert trained.history["loss"][0] != pytest.approx(plain_loss, rel=1e-3)  # the step dropped: it trained


def test_the_epochs_hooks_switch_modes_only_for_a_users_callback(monkeypatch):
    """The switch to inference around the epoch hooks walks every module twice;
    fit makes it only when a callback is the user's. brainnet's own (History,
    EarlyStopping, the progress bar) never call the model, so with them alone
    the walks do not grow with the epochs; a user's callback gets them at each
    epoch's begin and end, and sees inference there."""
    from brainnet.callbacks import EarlyStopping
    from brainnet.training import _modes

    walks = []
    real = _modes.modes_of
    monkeypatch.setattr(_modes, "modes_of", lambda model: walks.append(1) or real(model))
    x = np.ones((16, 3), dtype="float32")
    y = np.zeros((16, 1), dtype="float32")

    def count(epochs, callbacks):
        set_random_seed(0)
        model = Sequential([layers.Input((3,)), layers.Dropout(0.5), layers.Dense(1)])
        model.compile("sgd", "mse")
        walks.clear()
        model.fit(x, y, epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks)
        assert not model.training  # put back afterwards either way
        return len(walks)

    own = [EarlyStopping(monitor="loss", patience=100)]
    assert count(1, own) == count(6, own)

    class Modes(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(self.model.layers[0].training)

    users = Modes()
    assert count(6, [users]) - count(1, [Modes()]) == 5 * 2  # begin and end of each further epoch
    assert users.seen == [False] * 6
