"""brainnet.utils.timeseries_dataset_from_array: the windows against a naive
Python loop over many argument combinations, Keras's documented examples,
shuffling, errors, and a Conv1D model fit on windows of a real series (the
pixels of real MNIST test digits, read row after row)."""

from __future__ import annotations

import doctest
import warnings

import numpy as np
import pytest
import torch

import brainnet._timeseries
from brainnet import Input, Sequential, datasets
from brainnet.layers import Conv1D, Dense, Flatten
from brainnet.utils import set_random_seed, timeseries_dataset_from_array


def naive(data, targets, length, stride=1, rate=1, start=None, end=None):
    """The windows as Keras documents them, one at a time: a window every
    ``stride`` steps from ``start``, ``length`` steps ``rate`` apart, that
    must end before ``end``; no more windows than targets; the target of the
    window starting at step b is targets[b] (None past the end of targets,
    where Keras fails when it reads the window)."""
    start = 0 if start is None else start
    end = len(data) if end is None else end
    xs, ys = [], []
    for offset in range(0, end - start, stride):
        b = start + offset
        if b + (length - 1) * rate >= end or (targets is not None and offset >= len(targets)):
            break
        xs.append(np.stack([data[b + k * rate] for k in range(length)]))
        if targets is not None:
            ys.append(targets[b] if b < len(targets) else None)
    return xs, ys


def read_all(loader, with_targets):
    """Every window (and target) a loader yields, in order, as NumPy arrays, with the batch sizes."""
    xs, ys, sizes = [], [], []
    for batch in loader:
        x, y = batch if with_targets else (batch, None)
        sizes.append(len(x))
        xs.append(x.numpy())
        if with_targets:
            ys.append(y.numpy())
    return np.concatenate(xs), (np.concatenate(ys) if with_targets else None), sizes


def test_the_windows_match_the_naive_loop_over_many_arguments():
    checked = refused = empty = 0
    for trial in range(300):
        rng = np.random.default_rng(trial)
        steps = int(rng.integers(6, 80))
        shape = (steps,) + tuple(rng.integers(1, 4, size=int(rng.integers(0, 3))))
        dtype = ["float32", "float64", "int64"][trial % 3]
        data = (rng.normal(size=shape) * 10).astype(dtype)
        targets = None if trial % 4 == 0 else rng.normal(size=(int(rng.integers(1, steps + 5)),) + shape[2:])
        length = int(rng.integers(1, 9))
        stride = int(rng.integers(1, min(6, steps)))
        rate = int(rng.integers(1, min(5, steps)))
        start = None if trial % 5 == 0 else int(rng.integers(0, steps // 2))
        end = None if trial % 3 == 0 else int(rng.integers((start or 0) + 1, steps))
        batch = None if trial % 7 == 0 else int(rng.integers(1, 20))
        want_x, want_y = naive(data, targets, length, stride, rate, start, end)
        kwargs = dict(sequence_stride=stride, sampling_rate=rate, batch_size=batch, start_index=start, end_index=end)
        if any(y is None for y in want_y):  # Keras fails on these when it reads them; brainnet refuses them
            with pytest.raises(ValueError, match=r"expected targets to reach the step where the last window starts"):
                timeseries_dataset_from_array(data, targets, length, **kwargs)
            refused += 1
            continue
        if not want_x:
            with pytest.raises(ValueError, match=r"expected data long enough for one window"):
                timeseries_dataset_from_array(data, targets, length, **kwargs)
            empty += 1
            continue
        loader = timeseries_dataset_from_array(data, targets, length, **kwargs)
        if batch is None:  # unbatched: one window at a time
            got = list(loader)
            got_x = np.stack([(w[0] if targets is not None else w).numpy() for w in got])
            got_y = np.stack([w[1].numpy() for w in got]) if targets is not None else None
            sizes = []
        else:
            got_x, got_y, sizes = read_all(loader, targets is not None)
            assert all(s == batch for s in sizes[:-1]) and 0 < sizes[-1] <= batch
        assert got_x.dtype == data.dtype  # the data's dtype, as Keras
        np.testing.assert_array_equal(got_x, np.stack(want_x))
        assert got_x.shape == (len(want_x), length) + shape[1:]
        if targets is not None:
            np.testing.assert_array_equal(got_y, np.stack(want_y))
        assert len(loader.dataset) == len(want_x)
        checked += 1
    assert checked > 150 and refused > 0 and empty > 0  # most combinations make windows; each path is taken


def test_keras_documented_examples():
    # Example 1: steps 0..98, sequence_length=10, sampling_rate=2, sequence_stride=3
    x, _, _ = read_all(timeseries_dataset_from_array(np.arange(99), None, 10, sequence_stride=3, sampling_rate=2),
                       False)
    assert x[0].tolist() == list(range(0, 20, 2))
    assert x[1].tolist() == list(range(3, 23, 2))
    assert x[-1].tolist() == list(range(78, 98, 2))  # the next window would need step 99
    # Example 2: the past 10 steps predict the next
    series = np.random.default_rng(0).normal(size=100).astype("float32")
    inputs, targets = next(iter(timeseries_dataset_from_array(series[:-10], series[10:], sequence_length=10)))
    np.testing.assert_array_equal(inputs[0].numpy(), series[:10])
    assert targets[0].item() == series[10]
    assert len(inputs) == 81 and targets.shape == (81,)  # fewer than batch_size=128: one batch
    # Example 3: many-to-many, windows that do not overlap
    X, Y = np.arange(100), np.arange(100) * 2
    xs = timeseries_dataset_from_array(X, None, sequence_length=20, sequence_stride=20)
    ys = timeseries_dataset_from_array(Y, None, sequence_length=20, sequence_stride=20)
    x_batch, y_batch = next(iter(zip(xs, ys)))
    np.testing.assert_array_equal(x_batch[0].numpy(), X[:20])
    np.testing.assert_array_equal(y_batch[1].numpy(), Y[20:40])


def test_keras_preprocessing_spelling_gives_the_same_builders():
    # Keras 3 exports the data-set builders as keras.preprocessing.* too; its weather
    # forecasting tutorial calls keras.preprocessing.timeseries_dataset_from_array.
    import brainnet as keras
    import brainnet.utils

    for name in ("timeseries_dataset_from_array", "image_dataset_from_directory", "text_dataset_from_directory"):
        assert getattr(keras.preprocessing, name) is getattr(brainnet.utils, name)
    series = np.arange(40, dtype="float32").reshape(20, 2)
    x, y, _ = read_all(keras.preprocessing.timeseries_dataset_from_array(
        series, series[3:, 0], sequence_length=3, sampling_rate=2, batch_size=4), True)
    xs, ys = naive(series, series[3:, 0], 3, rate=2)
    np.testing.assert_array_equal(np.stack(x), np.stack(xs))
    np.testing.assert_array_equal(np.asarray(y), np.asarray(ys))


def test_the_docstring_example_runs():
    failures, tried = doctest.testmod(brainnet._timeseries, extraglobs={"np": np})
    assert tried > 0 and failures == 0


def test_windows_are_cut_from_the_array_itself_when_read():
    data = np.random.default_rng(1).normal(size=(500, 3)).astype("float32")
    loader = timeseries_dataset_from_array(data, None, 50, batch_size=32)
    windows = loader.dataset
    assert np.shares_memory(windows.data.numpy(), data)  # no copy of the series, let alone of each window
    assert len(windows) == 451 and windows.starts.shape == (451,)
    batch = windows.__getitems__([3, 0, 450])  # the batch path (one gather) agrees with one window at a time
    for got, i in zip(batch, [3, 0, 450]):
        np.testing.assert_array_equal(got.numpy(), windows[i].numpy())
        np.testing.assert_array_equal(got.numpy(), data[i:i + 50])
    data[10] = 99.0  # a change to the array shows in the windows read afterwards
    assert next(iter(loader))[0, 10, 0].item() == 99.0


def test_a_tensor_a_list_and_a_reversed_view_give_the_same_windows():
    base = np.arange(40, dtype=np.float32)
    want, _, _ = read_all(timeseries_dataset_from_array(base[::-1].copy(), None, 4, sampling_rate=3), False)
    for data in (base[::-1], torch.from_numpy(base[::-1].copy()), base[::-1].tolist()):
        got, _, _ = read_all(timeseries_dataset_from_array(data, None, 4, sampling_rate=3), False)
        np.testing.assert_array_equal(got, want)


def test_a_read_only_array_is_shared_without_a_warning():
    """pandas' ``.values`` (copy-on-write) and ``np.broadcast_to`` give read-only
    arrays: the windows only read them, so torch's warning about writing to one
    would only alarm the user."""
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    data.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loader = timeseries_dataset_from_array(data, data[:, 0], 4, batch_size=None)
    assert np.shares_memory(loader.dataset.data.numpy(), data)
    window, target = next(iter(loader))
    np.testing.assert_array_equal(window.numpy(), data[:4])
    assert target.item() == 0.0


def test_shuffling_with_a_seed_repeats_and_keeps_every_window():
    data = np.arange(300, dtype=np.float32)[:, None]
    targets = np.arange(300)

    def epochs(seed, n=2):
        loader = timeseries_dataset_from_array(data, targets, 5, batch_size=16, shuffle=True, seed=seed)
        return [read_all(loader, True)[1] for _ in range(n)]

    first, again = epochs(7), epochs(7)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # the same seed: the same order, epoch after epoch
    assert not np.array_equal(first[0], first[1])  # a new order each epoch
    assert not np.array_equal(first[0], epochs(8, 1)[0])
    assert sorted(first[0].tolist()) == list(range(296))  # every window once
    ordered = read_all(timeseries_dataset_from_array(data, targets, 5, batch_size=16, shuffle=True, seed=7), True)
    for x, y in zip(ordered[0], ordered[1]):  # each window still with its own target
        assert x[0, 0] == y
    set_random_seed(3)
    unseeded = read_all(timeseries_dataset_from_array(data, targets, 5, shuffle=True), True)[1]
    set_random_seed(3)
    np.testing.assert_array_equal(read_all(timeseries_dataset_from_array(data, targets, 5, shuffle=True), True)[1],
                                  unseeded)  # no seed: set_random_seed repeats it


@pytest.mark.parametrize("kwargs, message", [
    ({"sequence_length": 0}, r"expected sequence_length an integer ≥ 1, got 0\. Fix: sequence_length=10"),
    ({"sequence_length": 2.5}, r"expected sequence_length an integer ≥ 1, got 2\.5"),
    ({"sequence_stride": 0}, r"expected sequence_stride an integer ≥ 1, got 0\. Fix: sequence_stride=1"),
    ({"sampling_rate": -1}, r"expected sampling_rate an integer ≥ 1, got -1\. Fix: sampling_rate=1"),
    ({"batch_size": 0}, r"expected batch_size an integer ≥ 1 or None, got 0\. Fix: batch_size=128"),
    ({"start_index": -1}, r"expected start_index an integer ≥ 0 or None, got -1"),
    ({"end_index": 0}, r"expected end_index an integer ≥ 1 or None, got 0\. Fix: leave end_index out"),
    ({"seed": "a"}, r"expected seed an integer ≥ 0, got 'a'\. Fix: seed=1337"),
    ({"start_index": 20}, r"expected start_index lower than the length of the data \(20\), got 20\. Fix: "),
    ({"start_index": 8, "end_index": 8}, r"expected end_index higher than start_index \(8\), got 8\. Fix: "),
    ({"end_index": 20}, r"expected end_index lower than the length of the data \(20\), as in Keras, got 20\. "
                        r"Fix: leave end_index out \(None\)"),
    ({"sampling_rate": 20}, r"expected sampling_rate lower than the length of the data \(20\), got 20\. Fix: "),
    ({"sequence_stride": 25}, r"expected sequence_stride lower than the length of the data \(20\), got 25\. "
                              r"Fix: sequence_stride=3 for windows that follow each other"),
])
def test_arguments_that_cannot_be_right_are_refused(kwargs, message):
    args = {"sequence_length": 3, **kwargs}
    with pytest.raises(ValueError, match=r"^timeseries_dataset_from_array: " + message):
        timeseries_dataset_from_array(np.zeros(20), np.zeros(20), **args)


def test_data_that_cannot_make_windows_are_refused():
    with pytest.raises(ValueError, match=r"expected data an array of numbers, got dtype <U1\. Fix: data = np\."):
        timeseries_dataset_from_array(np.array(list("abcdef")), None, 2)
    with pytest.raises(ValueError, match=r"expected targets an array with time on axis 0, got a scalar 3\.0\. Fix: "):
        timeseries_dataset_from_array(np.zeros(10), 3.0, 2)
    with pytest.raises(ValueError, match=r"expected data long enough for one window \(sequence_length=6 with "
                                         r"sampling_rate=2 covers 11 steps\), got 10 steps from step 0 to 10\. "
                                         r"Fix: a shorter sequence_length"):
        timeseries_dataset_from_array(np.zeros(10), None, 6, sampling_rate=2)
    with pytest.raises(ValueError, match=r"expected targets to reach the step where the last window starts "
                                         r"\(step 9\), got 5 targets\. Fix: one target per step of data \(20\)"):
        timeseries_dataset_from_array(np.zeros(20), np.zeros(5), 3, start_index=5)


def test_a_conv1d_model_predicts_the_next_pixel_of_real_mnist_digits(mnist_dir):
    """The series: the pixels of the first 40 MNIST test digits, row after
    row, scaled to 0–1 (31,360 steps). Each window holds the 29 pixels before
    a pixel (so the one above it and the one to its left); the model predicts
    it. The first 80 % of the windows train, the rest validate."""
    _, (images, _) = datasets.mnist.load_data(path=mnist_dir)
    series = (images[:40].reshape(-1) / 255).astype("float32")
    L = 29
    data, targets = series[:-L, None], series[L:]  # targets[j]: the step after the window that starts at j
    split = int(0.8 * len(data))
    train = timeseries_dataset_from_array(data, targets, L, end_index=split, shuffle=True, seed=0)
    val = timeseries_dataset_from_array(data, targets, L, start_index=split, batch_size=256)
    set_random_seed(0)
    model = Sequential([Input((L, 1)), Conv1D(16, 3, activation="relu"), Flatten(), Dense(1)])
    model.compile("adam", "mse", device="cpu")
    history = model.fit(train, validation_data=val, epochs=3, verbose=0)

    want_x, want_y = naive(data, targets, L, start=split)
    want_x, want_y = np.stack(want_x), np.asarray(want_y)
    repeat_last = float(np.mean((want_x[:, -1, 0] - want_y) ** 2))  # baseline: the pixel to the left
    assert history.history["val_loss"][-1] < repeat_last < float(want_y.var())
    predictions = model.predict(val, verbose=0)
    assert predictions.shape == (len(want_y), 1)
    mse = float(np.mean((predictions[:, 0].astype(np.float64) - want_y) ** 2))
    assert model.evaluate(val, verbose=0) == pytest.approx(mse, rel=1e-4)
    assert history.history["val_loss"][-1] == pytest.approx(mse, rel=1e-4)
