"""A model that overrides train_step / test_step / predict_step (Keras 3's
"customizing what happens in fit()", PyTorch version of the guide).

The three patterns of the guide: compute_loss with self.metrics; trackers of
the model's own with an overridden ``metrics`` and no compiled loss; a GAN
with two optimizers. References: the built-in fit on the same seed (equal to
float32 rounding, 1e-6), and NumPy / plain torch written out here.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import brainnet
from brainnet import layers, metrics, optimizers
from brainnet.callbacks import BackupAndRestore, EarlyStopping
from brainnet.losses import BinaryCrossentropy
from brainnet.models import Model, Sequential
from brainnet.utils import set_random_seed


class GuideStep(Sequential):
    """The guide's first train_step: compute_loss, then every metric of self.metrics."""

    def train_step(self, data):
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            (x, y), sample_weight = data, None
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.compute_loss(y=y, y_pred=y_pred, sample_weight=sample_weight)
        loss.backward()
        weights = self.trainable_weights
        self.optimizer.apply([v.grad for v in weights], weights)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}


class SuperStep(Sequential):
    """Overrides train_step and test_step by calling Keras's standard ones."""

    def train_step(self, data):
        return super().train_step(data)

    def test_step(self, data):
        return super().test_step(data)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8)).astype("float32"), rng.random((n, 1)).astype("float32")


def _model(cls, loss="mse", metrics_=("mae",), optimizer="adam"):
    set_random_seed(1)
    model = cls([layers.Input((8,)), layers.Dense(4, activation="relu"), layers.Dense(1)])
    model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics_))
    return model


def _max_diff(a, b):
    return max(float((p - q).detach().abs().max()) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize("shuffle", [False, True])
def test_guide_step_trains_as_the_builtin_fit(shuffle):
    x, y = _data()
    custom, builtin = _model(GuideStep), _model(Sequential)
    set_random_seed(2)
    h_custom = custom.fit(x, y, batch_size=16, epochs=3, shuffle=shuffle, validation_split=0.25, verbose=0)
    set_random_seed(2)
    h_builtin = builtin.fit(x, y, batch_size=16, epochs=3, shuffle=shuffle, validation_split=0.25, verbose=0)
    assert list(h_custom.history) == ["loss", "mae", "val_loss", "val_mae"]
    for key in h_builtin.history:
        np.testing.assert_allclose(h_custom.history[key], h_builtin.history[key], rtol=1e-6)
    assert _max_diff(custom, builtin) < 1e-6
    np.testing.assert_allclose(custom.evaluate(x, y, verbose=0), builtin.evaluate(x, y, verbose=0), rtol=1e-6)


def test_super_steps_weigh_batches_by_size_as_the_builtin_fit():
    x, y = _data(60)  # batches of 16, 16, 16, 12: the loss tracker counts samples
    custom, builtin = _model(SuperStep), _model(Sequential)
    h_custom = custom.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=(x[:20], y[:20]), verbose=0)
    h_builtin = builtin.fit(x, y, batch_size=16, epochs=2, shuffle=False, validation_data=(x[:20], y[:20]), verbose=0)
    for key in h_builtin.history:
        np.testing.assert_allclose(h_custom.history[key], h_builtin.history[key], rtol=1e-6)
    assert _max_diff(custom, builtin) < 1e-6
    got = custom.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(list(got.values()), builtin.evaluate(x, y, verbose=0), rtol=1e-6)
    assert list(got) == ["loss", "mae"]
    pred = custom(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got["loss"], np.mean((pred - y) ** 2), rtol=1e-5)


class OwnTrackers(Sequential):
    """The guide's lower-level pattern: no compiled loss, trackers of its own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = metrics.Mean(name="loss")
        self.mae_metric = metrics.MeanAbsoluteError(name="mae")
        self.seen = []  # each batch's loss, by epoch

    def train_step(self, data):
        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = ((y_pred - y) ** 2).mean()
        loss.backward()
        self.optimizer.apply_gradients(zip([v.grad for v in self.trainable_weights], self.trainable_weights))
        self.seen[-1].append((float(loss.detach()), float((y_pred - y).detach().abs().mean())))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {"loss": self.loss_tracker.result(), "mae": self.mae_metric.result()}

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


class NewEpoch(brainnet.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.model.seen.append([])


def test_own_trackers_are_reset_at_each_epoch_and_by_evaluate():
    x, y = _data(48)
    set_random_seed(1)
    model = OwnTrackers([layers.Input((8,)), layers.Dense(1)])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1))
    history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, callbacks=[NewEpoch()], verbose=0)
    for epoch, batches in enumerate(model.seen):  # each epoch's mean of its own three batches only
        assert len(batches) == 3
        np.testing.assert_allclose(history.history["loss"][epoch], np.mean([b[0] for b in batches]), rtol=1e-6)
        np.testing.assert_allclose(history.history["mae"][epoch], np.mean([b[1] for b in batches]), rtol=1e-6)
    assert model.loss_tracker.count == 3
    model.reset_metrics()
    assert model.loss_tracker.count == 0 and model.mae_metric.result() == 0.0


class Discriminating(Model):
    """A small GAN as the guide's: own compile, two optimizers, own trackers."""

    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.d_loss_tracker = metrics.Mean(name="d_loss")
        self.g_loss_tracker = metrics.Mean(name="g_loss")
        self.noise = torch.Generator().manual_seed(1337)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    def train_step(self, real):
        if isinstance(real, tuple):
            real = real[0]
        n = real.shape[0]
        fake = self.generator(torch.randn(n, self.latent_dim, generator=self.noise))
        labels = torch.cat([torch.ones(n, 1), torch.zeros(n, 1)])
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(torch.cat([fake, real])))
        d_loss.backward()
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply([v.grad for v in d_weights], d_weights)
        self.zero_grad()
        z = torch.randn(n, self.latent_dim, generator=self.noise)
        g_loss = self.loss_fn(torch.zeros(n, 1), self.discriminator(self.generator(z)))
        g_loss.backward()
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply([v.grad for v in g_weights], g_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


def _gan_parts():
    set_random_seed(3)
    d = Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"), layers.Dense(1)])
    g = Sequential([layers.Input((2,)), layers.Dense(4)])
    return d, g


def test_gan_with_two_optimizers_matches_a_plain_torch_loop():
    real = np.random.default_rng(5).random((16, 4)).astype("float32")
    d, g = _gan_parts()
    d_ref, g_ref = copy.deepcopy(d), copy.deepcopy(g)
    gan = Discriminating(d, g, latent_dim=2)
    gan.compile(optimizers.SGD(learning_rate=0.1), optimizers.SGD(learning_rate=0.05),
                BinaryCrossentropy(from_logits=True))
    history = gan.fit(real, batch_size=8, epochs=2, shuffle=False, verbose=0)

    # The same GAN written as a plain PyTorch loop.
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    noise = torch.Generator().manual_seed(1337)
    d_opt = torch.optim.SGD(d_ref.parameters(), lr=0.1)
    g_opt = torch.optim.SGD(g_ref.parameters(), lr=0.05)
    expected = {"d_loss": [], "g_loss": []}
    for _ in range(2):
        losses = []
        for start in (0, 8):
            batch = torch.as_tensor(real[start:start + 8])
            fake = g_ref(torch.randn(8, 2, generator=noise))
            d_ref.zero_grad(), g_ref.zero_grad()
            d_loss = bce(d_ref(torch.cat([fake, batch])), torch.cat([torch.ones(8, 1), torch.zeros(8, 1)]))
            d_loss.backward()
            d_opt.step()
            d_ref.zero_grad(), g_ref.zero_grad()
            g_loss = bce(d_ref(g_ref(torch.randn(8, 2, generator=noise))), torch.zeros(8, 1))
            g_loss.backward()
            g_opt.step()
            losses.append((float(d_loss.detach()), float(g_loss.detach())))
        expected["d_loss"].append(np.mean([a for a, _ in losses]))
        expected["g_loss"].append(np.mean([b for _, b in losses]))
    for key in expected:
        np.testing.assert_allclose(history.history[key], expected[key], rtol=1e-5)
    assert _max_diff(d, d_ref) < 1e-6 and _max_diff(g, g_ref) < 1e-6
    assert {id(p) for grp in gan.d_optimizer.torch_optimizer.param_groups for p in grp["params"]} == {
        id(p) for p in d.parameters()}


class Recording(Sequential):
    """Keeps the data each step gets; trains with the standard step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches, self.tested = [], []

    def train_step(self, data):
        self.batches.append(data)
        return super().train_step(data)

    def test_step(self, data):
        self.tested.append(data)
        x, y = data
        y_pred = self(x, training=False)
        return {"loss": self.compute_loss(y=y, y_pred=y_pred), "samples": float(len(x)), "seen": len(self.tested)}


def test_sample_weight_reaches_data_and_weighs_compute_loss():
    x, y = _data(32)
    w = np.linspace(0.0, 2.0, 32).astype("float32")
    model = _model(Recording, optimizer=optimizers.SGD(learning_rate=0.0))
    model.fit(x, y, sample_weight=w, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert [len(b) for b in model.batches] == [3, 3]
    bx, by, bw = model.batches[1]
    np.testing.assert_array_equal(bw.cpu().numpy(), w[16:])
    np.testing.assert_array_equal(bx.cpu().numpy(), x[16:])
    pred = model(torch.as_tensor(x[16:])).detach().numpy()
    loss = float(model.compute_loss(y=by, y_pred=torch.as_tensor(pred), sample_weight=bw))
    np.testing.assert_allclose(loss, np.sum(w[16:, None] * (pred - y[16:]) ** 2) / 16, rtol=1e-5)


def test_test_step_runs_evaluate_and_validation():
    x, y = _data(40)
    model = _model(Recording)
    history = model.fit(x, y, batch_size=20, epochs=2, validation_data=(x[:30], y[:30]), verbose=0)
    assert list(history.history) == ["loss", "mae", "val_loss", "val_samples", "val_seen"]
    assert history.history["val_samples"] == [30.0, 30.0]  # one batch of 256 holds all 30
    assert history.history["val_seen"] == [1, 2]
    loss, samples, seen = model.evaluate(x, y, batch_size=16, verbose=0)
    assert (samples, seen) == (8.0, 5)  # the last batch's dict: 40 = 16 + 16 + 8
    pred = model(torch.as_tensor(x[32:])).detach().numpy()
    np.testing.assert_allclose(loss, np.mean((pred - y[32:]) ** 2), rtol=1e-5)


def test_data_without_labels_is_x_alone_and_dataloaders_give_tuples():
    x, y = _data(24)
    model = _model(Recording, loss=None, metrics_=())

    class Seen(Recording):
        def train_step(self, data):
            self.batches.append(data)
            return {"n": float(len(data[0]) if isinstance(data, tuple) else len(data))}

    model = Seen([layers.Input((8,)), layers.Dense(1)])
    model.compile(optimizer="sgd")
    history = model.fit(x, batch_size=10, epochs=1, shuffle=False, verbose=0)
    assert all(isinstance(b, torch.Tensor) for b in model.batches) and history.history["n"] == [4.0]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y)),
                                         batch_size=8)
    model.batches.clear()
    history = model.fit(loader, epochs=2, verbose=0)
    assert len(model.batches) == 6 and all(isinstance(b, tuple) and len(b) == 2 for b in model.batches)
    assert history.history["n"] == [8.0, 8.0]


def test_predict_step_and_early_stopping():
    x, y = _data(20)

    class TwoOutputs(GuideStep):
        def predict_step(self, data):
            out = self(data, training=False)
            return {"value": out, "positive": out > 0}

    model = _model(TwoOutputs)
    got = model.predict(x, batch_size=8)
    expected = model(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(got["value"], expected, rtol=1e-6)
    np.testing.assert_array_equal(got["positive"], expected > 0)
    stop = EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 2  # no improvement of 10 after the first epoch


def test_predict_on_batch_runs_the_models_own_predict_step_once():
    x, _ = _data(10)

    class Recorded(Sequential):
        def predict_step(self, data):
            self.seen.append((type(data).__name__, tuple(data.shape), self.training, torch.is_grad_enabled()))
            out = self(data, training=False)
            return {"value": 2.0 * out, "positive": out > 0}

    set_random_seed(1)
    model = Recorded([layers.Input((8,)), layers.Dense(4, activation="relu"), layers.Dropout(0.5), layers.Dense(1)])
    model.seen = []
    model.train()  # a mode of the user's own: predict_on_batch infers, then puts it back
    got = model.predict_on_batch(x)  # no compile needed, as predict
    k1, b1, k2, b2 = (w.astype("float64") for w in model.get_weights())
    expected = 2.0 * (np.maximum(x @ k1 + b1, 0.0) @ k2 + b2)  # the override's equation, dropout off
    np.testing.assert_allclose(got["value"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got["positive"], got["value"] > 0)
    assert model.seen == [("Tensor", (10, 8), False, False)]  # once, the whole batch, inference mode, no grad
    assert model.training  # put back as it was
    np.testing.assert_array_equal(got["value"], model.predict(x)["value"])
    model.compile(loss="mse", jit_compile=True)
    with pytest.raises(ValueError, match=r"predict_on_batch: expected jit_compile='auto' or False for a model that "
                                         r"overrides predict_step.*Fix: model.compile\(..., jit_compile=False\)"):
        model.predict_on_batch(x)


def test_models_without_a_step_of_their_own_keep_the_builtin_loop():
    x, y = _data(32)
    model = _model(Sequential)
    assert type(model).train_step is Model.train_step
    model.fit(x, y, epochs=1, verbose=0)
    assert model.trainer.compile_metrics is None  # custom_step's container was never made


def test_errors_say_what_and_the_fix(monkeypatch):
    x, y = _data(32)
    model = _model(GuideStep)
    with pytest.raises(ValueError, match=r"expected sample_weight, not class_weight.*Fix: pass the class weights"):
        model.fit(x, y, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(ValueError, match=r"expected no BackupAndRestore.*Fix: use ModelCheckpoint"):
        model.fit(x, y, callbacks=[BackupAndRestore("/tmp/none")], verbose=0)
    with pytest.raises(ValueError, match=r"validation_split to leave samples.*Fix: use more data"):
        model.fit(x[:3], y[:3], validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split in \[0, 1\).*Fix: validation_split=0.1"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match=r"same number of samples, got lengths x \[32\], y \[30\].*Fix: pass"):
        model.fit(x, y[:30], verbose=0)
    with pytest.raises(ValueError, match=r"expected x as an array.*Fix: model.fit\(x, y\)"):
        model.fit(None, verbose=0)
    with pytest.raises(ValueError, match=r"train_step: expected data as x.*tuple of 4 elements.*Fix: make each"):
        brainnet.training.custom_step.unpack((x, y, y, y))
    jit = _model(GuideStep)
    jit.compile(optimizer="adam", loss="mse", jit_compile=True)
    with pytest.raises(ValueError, match=r"jit_compile='auto' or False.*got jit_compile=True.*Fix: model.compile"):
        jit.fit(x, y, verbose=0)
    monkeypatch.setattr(brainnet.distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match=r"expected one process.*got 2 under torchrun.*Fix: run the script"):
        model.fit(x, y, verbose=0)


def test_step_and_loss_errors_say_what_and_the_fix():
    x, y = _data(16)

    class NoDict(Sequential):
        def train_step(self, data):
            return None

    model = _model(NoDict)
    with pytest.raises(TypeError, match=r"train_step: expected the step to return a dict.*got NoneType.*Fix: end"):
        model.fit(x, y, verbose=0)
    bare = _model(OwnTrackers, loss=None, metrics_=())
    out = bare(torch.as_tensor(x))
    with pytest.raises(ValueError, match=r"compute_loss: expected a loss to compute.*Fix: model.compile"):
        bare.compute_loss(y=torch.as_tensor(y), y_pred=out)
    with pytest.raises(ValueError, match=r"expected labels y for the loss.*got y=None.*Fix: self.compute_loss"):
        model.compute_loss(y=None, y_pred=out)


def test_several_outputs_take_y_per_output():
    inp = layers.Input((8,))
    two = Model(inp, [layers.Dense(1, name="a")(inp), layers.Dense(1, name="b")(inp)])
    two.compile(optimizer="sgd", loss="mse", loss_weights=[1.0, 0.5])
    x, y = _data(8)
    a, b = (t.detach() for t in two(torch.as_tensor(x)))
    got = float(two.compute_loss(y={"a": y, "b": 2 * y}, y_pred=[a, b]))
    expected = np.mean((a.numpy() - y) ** 2) + 0.5 * np.mean((b.numpy() - 2 * y) ** 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"y: expected labels for outputs.*none for \['b'\].*Fix: y="):
        two.compute_loss(y={"a": y}, y_pred=[a, b])
    with pytest.raises(ValueError, match=r"expected a list of 2 label arrays, got a list of 3.*Fix: "):
        two.compute_loss(y=[y, y, y], y_pred=[a, b])
    with pytest.raises(ValueError, match=r"y: the model has 2 outputs.*got one ndarray.*Fix: .*\[y_a, y_b\]"):
        two.compute_loss(y=y, y_pred=[a, b])
    with pytest.raises(ValueError, match=r"sample_weight: expected an entry for each output.*none for \['b'\].*Fix: "):
        two.compute_loss(y=[y, y], y_pred=[a, b], sample_weight={"a": np.ones(8)})
    with pytest.raises(ValueError, match=r"sample_weight: expected 2 entries \(one per output.*got 3.*Fix: pass one"):
        two.compute_loss(y=[y, y], y_pred=[a, b], sample_weight=[np.ones(8)] * 3)


def test_optimizer_apply_errors_say_what_and_the_fix():
    layer = torch.nn.Linear(2, 1)
    weights = list(layer.parameters())
    opt = optimizers.SGD(learning_rate=0.1)
    with pytest.raises(ValueError, match=r"SGD.apply: expected the weights with the first gradients.*Fix: "):
        opt.apply([torch.ones(1, 2), torch.ones(1)])
    with pytest.raises(ValueError, match=r"expected one gradient per weight, got 1 gradients for 2.*Fix: grads"):
        opt.apply([torch.ones(1, 2)], weights)
    before = [w.detach().clone() for w in weights]
    opt.apply([torch.ones(1, 2), None], weights)  # None: that weight stays
    np.testing.assert_allclose(weights[0].detach().numpy(), before[0].numpy() - 0.1, rtol=1e-6)
    np.testing.assert_array_equal(weights[1].detach().numpy(), before[1].numpy())
    other = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match=r"expected the weights this optimizer was built for.*Fix: give each"):
        opt.apply([torch.ones(1, 2)], [other.weight])


class FunctionalGuideStep(Model):
    """The guide's very first model: a plain Model subclass built as CustomModel(inputs, outputs)."""

    train_step = GuideStep.train_step


class PassesArguments(Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.note = "own attribute"


class TakesTwoNetworks(Model):
    """A GAN-like constructor of two positional arguments that calls super().__init__() bare."""

    def __init__(self, first, second):
        super().__init__()
        self.first, self.second = first, second

    def call(self, x):
        return self.second(self.first(x))


def _graph():
    inputs = layers.Input((8,))
    hidden = layers.Dense(4, activation="relu")(inputs)
    return inputs, layers.Dense(1)(hidden)


def test_model_subclass_built_from_inputs_and_outputs_is_functional(tmp_path):
    x, y = _data()
    set_random_seed(1)
    custom = FunctionalGuideStep(*_graph())
    set_random_seed(1)
    builtin = Model(*_graph())
    assert isinstance(custom, FunctionalGuideStep) and isinstance(custom, brainnet.models.Functional)
    assert type(custom).__name__ == "FunctionalGuideStep" and custom.name == "functional_guide_step"
    for model in (custom, builtin):
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    set_random_seed(2)
    h_custom = custom.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    set_random_seed(2)
    h_builtin = builtin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert _max_diff(custom, builtin) < 1e-6
    for key in ("loss", "mae"):
        np.testing.assert_allclose(h_custom.history[key], h_builtin.history[key], rtol=1e-6)

    kept = PassesArguments(*_graph())
    assert kept.note == "own attribute" and len(kept.layers) == 3  # its InputLayer and two Dense
    path = tmp_path / "m.keras"
    kept.save(path)
    back = brainnet.models.load_model(path, custom_objects={"PassesArguments": PassesArguments})
    assert type(back).__name__ == "PassesArguments" and back.note == "own attribute"
    np.testing.assert_allclose(back.predict(x[:5]), kept.predict(x[:5]), rtol=1e-6)

    # Two positional arguments of the subclass's own, with a bare super().__init__(): not a graph.
    pair = TakesTwoNetworks(layers.Dense(3), layers.Dense(1))
    assert not isinstance(pair, brainnet.models.Functional)
    assert pair.predict(x[:2]).shape == (2, 1)


class RawTensorLogs(Model):
    """A step returning its loss tensor itself (the keras.io WGAN-GP's ``{"d_loss": d_loss, ...}``)."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)
        self.last = []

    def train_step(self, x):
        self.zero_grad()
        loss = torch.mean(self.dense(x) ** 2)
        loss.backward()
        self.optimizer.apply_gradients(zip([v.grad for v in self.dense.trainable_weights],
                                           self.dense.trainable_weights))
        self.last.append(float(loss.detach()))
        return {"loss": loss, "one": torch.ones(1), "np": np.float32(2.5), "pair": [1, 2]}


class SeeLogs(brainnet.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        self.logs = dict(logs)


def test_tensors_a_step_returns_reach_the_history_and_callbacks_as_floats():
    # np.size(tensor) reads Tensor.size (a method), so a scalar check must use numel.
    x = np.random.default_rng(0).random((8, 3)).astype("float32")
    set_random_seed(0)
    model = RawTensorLogs()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1))
    seen = SeeLogs()
    history = model.fit(x, batch_size=4, epochs=2, shuffle=False, callbacks=[seen], verbose=0).history
    assert all(type(v) is float for key in ("loss", "one", "np") for v in history[key])
    assert history["loss"] == pytest.approx([model.last[1], model.last[3]])  # each epoch's last batch
    assert history["one"] == [1.0, 1.0] and history["np"] == [2.5, 2.5] and history["pair"] == [[1, 2], [1, 2]]
    assert type(seen.logs["loss"]) is float and seen.logs["loss"] == pytest.approx(model.last[-1])
    logs = model.train_on_batch(x, return_dict=True)
    assert type(logs["loss"]) is float and logs["loss"] == pytest.approx(model.last[-1])
