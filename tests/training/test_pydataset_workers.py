"""PyDataset(workers=..., use_multiprocessing=..., max_queue_size=...) load
batches ahead in threads or processes, as Keras 3's.

The reference is workers=1 (one batch at a time in fit's thread): the same
batches in the same order give bit-identical weights, History, evaluate and
predict results, so the comparisons are exact. Parallelism is shown by the
number of ``__getitem__`` calls running at once and by the wall time of a
dataset whose batches sleep.
"""

from __future__ import annotations

import doctest
import multiprocessing
import threading
import time

import numpy as np
import pytest

import brainnet.training.sources
from brainnet.callbacks import Callback
from brainnet.layers import Dense
from brainnet.models import Sequential
from brainnet.optimizers import SGD
from brainnet.training._parallel_batches import THREAD_NAME
from brainnet.utils import PyDataset, set_random_seed

BATCHES, BATCH = 10, 8


class Batches(PyDataset):
    """Batch i: 8 rows drawn from seed i (module level, so it pickles for worker processes)."""

    def __init__(self, delay: float = 0.0, batches: int = BATCHES, **loading) -> None:
        super().__init__(**loading)
        self.delay, self.batches = delay, batches

    def __len__(self) -> int:
        return self.batches

    def __getitem__(self, i: int):
        if self.delay:
            time.sleep(self.delay)
        rng = np.random.default_rng(i)
        x = rng.normal(size=(BATCH, 4)).astype("float32")
        return x, (x[:, 0] - x[:, 2] > 0).astype("int64")


class Fails(Batches):
    def __getitem__(self, i: int):
        if i == 5:
            raise RuntimeError("batch 5 is broken")
        return super().__getitem__(i)


def model() -> Sequential:
    set_random_seed(0)
    m = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    m.compile(SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    return m


def trained(dataset: PyDataset, shuffle: bool = False, **fit):
    set_random_seed(1)
    m = model()
    history = m.fit(dataset, epochs=3, shuffle=shuffle, verbose=0, **fit)
    return m, history


def assert_identical(a, b) -> None:
    (model_a, history_a), (model_b, history_b) = a, b
    assert history_a.history == history_b.history
    for wa, wb in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_array_equal(wb, wa)


def loading_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME)]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("loading", [dict(workers=4), dict(workers=3, max_queue_size=2),
                                     dict(workers=2, use_multiprocessing=True),
                                     dict(workers=1, use_multiprocessing=True)])
def test_parallel_loading_trains_exactly_as_one_batch_at_a_time(loading, shuffle):
    serial = trained(Batches(), shuffle)
    assert_identical(serial, trained(Batches(**loading), shuffle))
    assert loading_threads() == [] and multiprocessing.active_children() == []


def test_evaluate_predict_and_validation_read_the_batches_in_order():
    serial, threads, processes = Batches(), Batches(workers=4), Batches(workers=2, use_multiprocessing=True)
    m = model()
    expected = m.predict(serial, verbose=0)
    np.testing.assert_array_equal(m.predict(threads, verbose=0), expected)
    np.testing.assert_array_equal(m.predict(processes, verbose=0), expected)
    assert m.evaluate(threads, verbose=0) == m.evaluate(serial, verbose=0) == m.evaluate(processes, verbose=0)
    assert m.evaluate(threads, steps=3, verbose=0) == m.evaluate(serial, steps=3, verbose=0)
    assert_identical(trained(serial, validation_data=Batches(batches=3)),
                     trained(serial, validation_data=Batches(batches=3, workers=2, use_multiprocessing=True)))
    assert_identical(trained(serial, steps_per_epoch=4), trained(threads, steps_per_epoch=4))
    assert loading_threads() == [] and multiprocessing.active_children() == []


class Events(Callback):
    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def on_epoch_begin(self, epoch, logs=None):
        self.log.append(f"fit epoch {epoch} begins")

    def on_epoch_end(self, epoch, logs=None):
        self.log.append(f"fit epoch {epoch} ends")


class Hooked(Batches):
    def __init__(self, **loading) -> None:
        super().__init__(**loading)
        self.log: list = []

    def on_epoch_begin(self):
        self.log.append("dataset epoch begins")

    def on_epoch_end(self):
        self.log.append("dataset epoch ends")


def test_on_epoch_begin_and_end_come_in_keras_order_with_workers():
    serial, threads = Hooked(), Hooked(workers=4)
    for dataset in (serial, threads):
        model().fit(dataset, epochs=2, verbose=0, callbacks=[Events(dataset.log)])
    assert threads.log == serial.log == ["fit epoch 0 begins", "dataset epoch begins", "dataset epoch ends",
                                         "fit epoch 0 ends", "fit epoch 1 begins", "dataset epoch begins",
                                         "dataset epoch ends", "fit epoch 1 ends"]


class Concurrency(Batches):
    """Counts the ``__getitem__`` calls running at once."""

    def __init__(self, **loading) -> None:
        super().__init__(delay=0.05, batches=20, **loading)
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def __getitem__(self, i: int):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super().__getitem__(i)
        finally:
            with self.lock:
                self.now -= 1


def test_threads_load_several_batches_at_once_up_to_workers_and_queue():
    for loading, most in ((dict(), 1), (dict(workers=4), 4), (dict(workers=4, max_queue_size=2), 2)):
        dataset = Concurrency(**loading)
        model().fit(dataset, epochs=1, verbose=0)
        assert dataset.most == most, loading


def test_threads_are_faster_on_batches_that_wait():
    """20 batches sleeping 0.05 s each: 1 s one at a time, about 0.25 s in 4 threads
    (measured on the 2-core CPU machine: 1.07 s against 0.33 s). Loose bound: 0.75 ×."""
    m = model()
    m.fit(Batches(batches=2), epochs=1, verbose=0)  # built and warmed up
    seconds = {}
    for workers in (1, 4):
        start = time.perf_counter()
        m.fit(Batches(delay=0.05, batches=20, workers=workers), epochs=1, verbose=0)
        seconds[workers] = time.perf_counter() - start
    print(f"20 batches of 0.05 s: workers=1 {seconds[1]:.2f} s, workers=4 {seconds[4]:.2f} s")
    assert seconds[4] < 0.75 * seconds[1]


class Interrupt(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


@pytest.mark.parametrize("loading", [dict(workers=4), dict(workers=2, use_multiprocessing=True)])
def test_workers_stop_when_fit_is_interrupted_or_fails(loading):
    m = model()
    with pytest.warns(UserWarning, match="interrupted"):
        m.fit(Batches(delay=0.01, **loading), epochs=3, verbose=0, callbacks=[Interrupt()])
    assert loading_threads() == [] and multiprocessing.active_children() == []
    with pytest.raises(RuntimeError, match="batch 5 is broken"):
        m.fit(Fails(**loading), epochs=1, verbose=0)
    assert loading_threads() == [] and multiprocessing.active_children() == []
    m.fit(Batches(**loading), epochs=1, verbose=0, callbacks=[EarlyStop()])  # stopped by a callback mid-epoch
    assert loading_threads() == [] and multiprocessing.active_children() == []


class EarlyStop(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            self.model.stop_training = True


def test_loading_errors_say_what_was_expected_and_the_fix():
    with pytest.raises(ValueError, match=r"^Batches: expected workers to be a whole number >= 1, got workers=0\. "
                                         r"Fix: workers=1 loads one batch at a time"):
        Batches(workers=0)
    with pytest.raises(ValueError, match=r"^Batches: expected max_queue_size to be a whole number >= 1, got "
                                         r"max_queue_size=0\. Fix: max_queue_size=10"):
        Batches(workers=2, max_queue_size=0)
    with pytest.raises(ValueError, match=r"^Batches: expected use_multiprocessing to be True or False, got "
                                         r"use_multiprocessing='yes'\. Fix: use_multiprocessing=True"):
        Batches(use_multiprocessing="yes")
    changed = Batches()
    changed.workers = 0  # Keras's settings are attributes: fit checks them again
    with pytest.raises(ValueError, match=r"^Batches: expected workers to be a whole number >= 1, got workers=0"):
        model().fit(changed, verbose=0)

    class Local(Batches):  # defined in a function: pickle cannot find it by name
        pass

    with pytest.raises(ValueError, match=r"^fit: expected a Local that pickles, as use_multiprocessing=True copies "
                                         r"it into each worker process, got one that does not \(AttributeError: "
                                         r".*\)\. Fix: define the class at the top level of a module"):
        model().fit(Local(workers=2, use_multiprocessing=True), verbose=0)
    local = Local(workers=2)  # threads need no pickling
    model().fit(local, verbose=0)


def test_a_subclass_that_skips_super_init_loads_one_batch_at_a_time():
    class Plain(PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return Batches()[i]

    plain = Plain()
    assert (plain.workers, plain.use_multiprocessing, plain.max_queue_size) == (1, False, 10)
    model().fit(plain, verbose=0)


def test_docstring_examples_run():
    failures, tried = doctest.testmod(brainnet.training.sources, extraglobs={"np": np})
    assert tried > 0 and failures == 0


class OwnStep(Sequential):
    """A train_step of the user's (the custom-step loop reads the PyDataset through the same BatchSource)."""

    def train_step(self, data):
        return super().train_step(data)

    def test_step(self, data):
        return super().test_step(data)


def own_step_model() -> OwnStep:
    set_random_seed(0)
    m = OwnStep([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    m.compile(SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    return m


@pytest.mark.parametrize("loading", [dict(workers=4), dict(workers=2, use_multiprocessing=True)])
def test_a_custom_train_step_reads_parallel_batches_as_one_at_a_time(loading):
    results = []
    for dataset, val in ((Batches(), Batches(batches=3)), (Batches(**loading), Batches(batches=3, **loading))):
        m = own_step_model()
        set_random_seed(1)
        history = m.fit(dataset, epochs=2, shuffle=True, validation_data=val, verbose=0)
        results.append((m, history, m.evaluate(dataset, verbose=0), m.evaluate(dataset, steps=2, verbose=0)))
    assert_identical(results[0][:2], results[1][:2])
    assert results[0][2:] == results[1][2:]
    assert loading_threads() == [] and multiprocessing.active_children() == []
