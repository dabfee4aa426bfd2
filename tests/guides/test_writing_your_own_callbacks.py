"""Keras 3's guide "Writing your own callbacks" (keras-io
guides/writing_your_own_callbacks.py), ported with only its import lines
changed (``import brainnet as keras``), on its own data: 1,000 real MNIST
images, a Dense(1) regression of the digit.

What runs unchanged: the model (``Dense(1, input_dim=784)``, RMSprop, "mean_squared_error",
"mean_absolute_error"), every hook of ``CustomCallback`` in fit (with
``validation_split``), evaluate and predict (since this port: the
``on_test_batch_*`` and ``on_predict_*`` hooks, ``predict(callbacks=)``),
the ``logs`` dict, ``self.model.stop_training``, ``get_weights``/
``set_weights`` and ``self.model.optimizer.learning_rate``. Refused on
purpose: ``steps_per_epoch`` with arrays (the fix, a DataLoader, is what the
two last sections run; docs/keras.md).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet.utils import set_random_seed


def get_model() -> keras.Sequential:
    """The guide's model, verbatim."""
    model = keras.Sequential()
    model.add(keras.layers.Dense(1, input_dim=784))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


@pytest.fixture(scope="module")
def data(mnist_dir):
    """The guide's data: pixels scaled to [0, 1], the first 1,000 of each split."""
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data(path=mnist_dir)
    x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
    x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
    return x_train[:1000], y_train[:1000], x_test[:1000], y_test[:1000]


class CustomCallback(keras.callbacks.Callback):
    """The guide's CustomCallback: every hook, recording (hook, batch, log keys)
    where the guide prints them."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _log(self, hook, logs, batch=None):
        self.seen.append((hook, batch, list(logs.keys())))


for _hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
              "on_predict_end"):
    setattr(CustomCallback, _hook, lambda self, logs=None, _h=_hook: self._log(_h, logs))
for _hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
              "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
    setattr(CustomCallback, _hook, lambda self, batch, logs=None, _h=_hook: self._log(_h, logs, batch))

METRICS = ["loss", "mean_absolute_error"]


def _test_events(batches: int) -> list[tuple]:
    events = [("on_test_begin", None, [])]
    for b in range(batches):
        events += [("on_test_batch_begin", b, []), ("on_test_batch_end", b, METRICS)]
    return events + [("on_test_end", None, METRICS)]


def test_a_basic_example_calls_every_hook_of_fit_evaluate_and_predict_in_keras_order(data):
    """Section "A basic example": CustomCallback in fit (validation_split=0.5),
    evaluate and predict, batch_size=128; the hooks, batches and log keys that
    Keras 3 prints."""
    x_train, y_train, x_test, y_test = data
    set_random_seed(0)
    model = get_model()
    fit_cb, eval_cb, predict_cb = CustomCallback(), CustomCallback(), CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5, callbacks=[fit_cb])
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[eval_cb])
    res = model.predict(x_test, batch_size=128, callbacks=[predict_cb])

    expected = [("on_train_begin", None, []), ("on_epoch_begin", 0, [])]
    for b in range(4):  # 500 training samples in batches of 128
        expected += [("on_train_batch_begin", b, []), ("on_train_batch_end", b, METRICS)]
    # The validation arrays run in batches of 256 (Keras: fit's 128; docs/keras.md): 2 batches of the 500.
    expected += _test_events(2)
    val_keys = METRICS + ["val_loss", "val_mean_absolute_error"]
    expected += [("on_epoch_end", 0, val_keys), ("on_train_end", None, val_keys)]
    assert fit_cb.seen == expected
    assert eval_cb.seen == _test_events(8)  # 1,000 test samples in batches of 128
    predicted = [("on_predict_begin", None, [])]
    for b in range(8):
        predicted += [("on_predict_batch_begin", b, []), ("on_predict_batch_end", b, ["outputs"])]
    assert predict_cb.seen == predicted + [("on_predict_end", None, [])]
    assert res.shape == (1000, 1)
    assert eval_cb.model is model and predict_cb.model is model


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    """The guide's callback; it keeps the numbers it prints."""

    def __init__(self):
        super().__init__()
        self.train_batches, self.test_batches, self.epochs = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train_batches.append(logs["loss"])

    def on_test_batch_end(self, batch, logs=None):
        self.test_batches.append(logs["loss"])

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append((logs["loss"], logs["mean_absolute_error"]))


def test_usage_of_logs_dict_gives_the_running_means(data):
    """Section "Usage of logs dict": the loss in on_test_batch_end is the mean
    over the batches so far (NumPy on the predictions, the weights being
    fixed in evaluate); the epoch's logs are the last batch's."""
    x_train, y_train, x_test, y_test = data
    set_random_seed(1)
    model = get_model()
    cb = LossAndErrorPrintingCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[cb])
    assert len(cb.train_batches) == 16 and len(cb.epochs) == 2
    assert cb.epochs[1][0] == pytest.approx(cb.train_batches[-1], rel=1e-6)
    assert cb.epochs[1][0] < cb.epochs[0][0]

    cb = LossAndErrorPrintingCallback()
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
    errors = (model.predict(x_test, verbose=0)[:, 0].astype(np.float64) - y_test) ** 2
    expected = [errors[: min(128 * (b + 1), 1000)].mean() for b in range(8)]
    np.testing.assert_allclose(cb.test_batches, expected, rtol=1e-5)
    np.testing.assert_allclose(res[0], expected[-1], rtol=1e-5)


@pytest.mark.parametrize("source", ["arrays", "DataLoader", "own steps"])
def test_test_and_predict_batch_hooks_on_every_path(data, source):
    """Section "A basic example", on each of evaluate's and predict's paths
    (arrays, a DataLoader, a model with its own test_step/predict_step):
    on_predict_batch_end's "outputs" are the batch's outputs, which put
    together are predict's result; on_test_batch_end counts the batches."""
    x_train, y_train, x_test, y_test = data
    x, y = x_test[:300], y_test[:300].astype("float32")
    set_random_seed(2)
    if source == "own steps":

        class OwnSteps(keras.Sequential):
            def test_step(self, data):
                x, y = data
                self.compute_loss(y=y, y_pred=self(x, training=False))
                return {"seen": float(len(x))}

            def predict_step(self, data):
                return self(data[0] if isinstance(data, tuple) else data, training=False)

        model = OwnSteps([keras.Input(shape=(784,)), keras.layers.Dense(1)])
        model.compile(optimizer="rmsprop", loss="mean_squared_error")
    else:
        model = get_model()
    outputs, tested = [], []
    cb = keras.callbacks.LambdaCallback(
        on_predict_batch_end=lambda batch, logs: outputs.append(logs["outputs"]),
        on_test_batch_end=lambda batch, logs: tested.append((batch, dict(logs))),
    )
    if source == "DataLoader":
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=128)
        predicted = model.predict(loader, callbacks=[cb])
        model.evaluate(loader, verbose=0, callbacks=[cb])
    else:
        predicted = model.predict(x, batch_size=128, callbacks=[cb])
        model.evaluate(x, y, batch_size=128, verbose=0, callbacks=[cb])
    assert [tuple(o.shape) for o in outputs] == [(128, 1), (128, 1), (44, 1)]
    assert all(isinstance(o, torch.Tensor) for o in outputs)
    np.testing.assert_allclose(torch.cat(outputs).numpy(), predicted, rtol=1e-6)
    assert [b for b, _ in tested] == [0, 1, 2]
    if source == "own steps":
        assert [logs["seen"] for _, logs in tested] == [128.0, 128.0, 44.0]


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """The guide's callback (np.inf for NumPy 2's removed np.Inf), keeping
    what it prints."""

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)


def _batches(x, y, batch_size=64):
    """The arrays as a shuffled DataLoader (its steps_per_epoch=5 goes on into a new pass mid-epoch)."""
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype("float32")))
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                       generator=torch.Generator().manual_seed(0))


def test_steps_per_epoch_with_arrays_goes_on_through_the_arrays_as_keras(data):
    """Sections "Early stopping at minimum loss" and "Learning rate scheduling"
    pass steps_per_epoch=5 with arrays: 1,000 samples are 16 batches of 64, so
    epochs of 5, 5, 5, then the pass's last batch alone, with Keras's warning."""
    x_train, y_train, _, _ = data

    class Count(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.per_epoch = []

        def on_epoch_begin(self, epoch, logs=None):
            self.per_epoch.append(0)

        def on_train_batch_end(self, batch, logs=None):
            self.per_epoch[-1] += 1

    count = Count()
    with pytest.warns(UserWarning, match=r"fit: steps_per_epoch=5 expected 5 batches per epoch, got an epoch of 1"):
        history = get_model().fit(x_train, y_train, batch_size=64, steps_per_epoch=5, epochs=5, verbose=0,
                                  callbacks=[count])
    assert count.per_epoch == [5, 5, 5, 1, 5] and history.params["steps"] == 5
    assert len(history.history["loss"]) == 5


def test_early_stopping_at_minimum_loss(data):
    """Section "Early stopping at minimum loss": the callback stops at the
    first epoch whose loss does not improve (patience=0) and puts back the
    best epoch's weights."""
    x_train, y_train, _, _ = data
    set_random_seed(3)
    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(_batches(x_train, y_train), steps_per_epoch=5, epochs=30, verbose=0,
                        callbacks=[LossAndErrorPrintingCallback(), stopper])
    losses = history.history["loss"]
    assert len(losses) < 30 and stopper.stopped_epoch == len(losses) - 1
    assert all(a > b for a, b in zip(losses[:-2], losses[1:-1])) and losses[-1] >= losses[-2]
    assert stopper.best == min(losses)
    for got, best in zip(model.get_weights(), stopper.best_weights):
        np.testing.assert_array_equal(got, best)


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """The guide's scheduler (Keras 3's version: it reads and assigns
    self.model.optimizer.learning_rate), keeping the rates it prints."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        lr = self.model.optimizer.learning_rate
        scheduled_lr = self.schedule(epoch, lr)
        self.model.optimizer.learning_rate = scheduled_lr
        self.rates.append(float(np.array(scheduled_lr)))


LR_SCHEDULE = [(3, 0.05), (6, 0.01), (9, 0.005), (12, 0.001)]  # (epoch to start, learning rate)


def lr_schedule(epoch, lr):
    """The guide's schedule function, verbatim."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def test_learning_rate_scheduling_sets_the_rate_the_optimizer_uses(data):
    """Section "Learning rate scheduling": the rates of the schedule, epoch by
    epoch; an assigned rate is the one the next updates use (a rate of 0
    from the third epoch on leaves the weights as they were)."""
    x_train, y_train, _, _ = data
    set_random_seed(4)
    model = get_model()
    scheduler = CustomLearningRateScheduler(lr_schedule)
    model.fit(_batches(x_train, y_train), steps_per_epoch=5, epochs=15, verbose=0,
              callbacks=[LossAndErrorPrintingCallback(), scheduler])
    assert scheduler.rates == [0.1] * 3 + [0.05] * 3 + [0.01] * 3 + [0.005] * 3 + [0.001] * 3
    assert model.optimizer.learning_rate == pytest.approx(0.001)

    model = get_model()
    kept = {}
    frozen = CustomLearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else 0.0)
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: kept.__setitem__(epoch, model.get_weights()))
    model.fit(_batches(x_train, y_train), steps_per_epoch=5, epochs=4, verbose=0, callbacks=[frozen, record])
    assert not np.array_equal(kept[0][0], kept[1][0])
    for later in (kept[2], kept[3]):
        for got, before in zip(later, kept[1]):
            np.testing.assert_array_equal(got, before)
