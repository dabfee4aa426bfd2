"""brainnet.utils.split_dataset: the parts against a naive version of Keras's
rule over many sizes and seeds, for arrays, tuples, lists, tensors and torch
Datasets; errors; and a model trained on one part of real MNIST digits and
evaluated on the other."""

from __future__ import annotations

import doctest
import random

import numpy as np
import pytest
import torch

import brainnet._split
from brainnet import Input, Sequential, datasets
from brainnet.layers import Dense, Flatten, Rescaling
from brainnet.utils import set_random_seed, split_dataset


def naive(n, left_size, right_size, shuffle, seed):
    """The sample indices of each side, as Keras computes them: a float is a
    fraction of n rounded by Python's round, an int a count, None the rest;
    the shuffle is random.seed(seed) then random.shuffle; the left side is
    the first samples, the right side the last."""
    def count(size):
        return None if size is None else round(size * n) if isinstance(size, float) else size

    a, b = count(left_size), count(right_size)
    a = n - b if a is None else a
    b = n - a if b is None else b
    order = list(range(n))
    if shuffle:
        state = random.getstate()
        random.seed(seed)
        random.shuffle(order)
        random.setstate(state)
    return order[:a], order[n - b:]


class Squares(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor([float(i)]), i * i


def test_the_parts_match_keras_rule_for_every_kind_of_dataset():
    checked = refused = 0
    for trial in range(200):
        rng = np.random.default_rng(trial)
        n = int(rng.integers(2, 60))
        kind = trial % 4
        left = [None, float(rng.uniform(0.05, 0.95)), int(rng.integers(1, n))][kind % 3]
        right = [float(rng.uniform(0.05, 0.95)), None, None, int(rng.integers(1, n))][kind]
        if trial % 5 == 4:  # both sizes given
            left, right = float(rng.uniform(0.05, 0.95)), int(rng.integers(1, n))
        want_left, want_right = naive(n, left, right, shuffle=trial % 2 == 1, seed=trial)
        if not want_left or not want_right or len(want_left) + len(want_right) > n \
                or isinstance(left, float) and isinstance(right, float) and left + right > 1:
            with pytest.raises(ValueError, match=r"^split_dataset: expected .*Fix: "):
                split_dataset(np.arange(n), left, right, shuffle=trial % 2 == 1, seed=trial)
            refused += 1
            continue
        x = rng.normal(size=(n, 3)).astype("float32")
        y = np.arange(n)
        kwargs = dict(left_size=left, right_size=right, shuffle=trial % 2 == 1, seed=trial)

        a, b = split_dataset(x, **kwargs)  # an array: two arrays
        np.testing.assert_array_equal(a, x[want_left])
        np.testing.assert_array_equal(b, x[want_right])

        (xa, ya), (xb, yb) = parts = split_dataset((x, y), **kwargs)  # a tuple: two tuples
        assert all(type(p) is tuple for p in parts)
        np.testing.assert_array_equal(xa, x[want_left])
        assert ya.tolist() == want_left and yb.tolist() == want_right
        np.testing.assert_array_equal(xb, x[want_right])

        lists = split_dataset([x, y], **kwargs)  # a list: two lists
        assert all(type(p) is list for p in lists) and lists[1][1].tolist() == want_right

        ta, tb = split_dataset(torch.from_numpy(x), **kwargs)  # a tensor: two tensors
        assert torch.equal(ta, torch.from_numpy(x[want_left])) and torch.equal(tb, torch.from_numpy(x[want_right]))

        sa, sb = split_dataset(Squares(n), **kwargs)  # a Dataset: two Subsets of it
        assert isinstance(sa, torch.utils.data.Subset) and sa.indices == want_left and sb.indices == want_right
        assert [sb[i][1] for i in range(len(sb))] == [j * j for j in want_right]
        checked += 1
    assert checked > 100 and refused > 0


def test_fractions_round_half_to_even_and_the_middle_stays_out_as_in_keras():
    a, b = split_dataset(np.arange(5), left_size=0.5)  # round(2.5) == 2, as Python's (and Keras's) round
    assert a.tolist() == [0, 1] and b.tolist() == [2, 3, 4]
    a, b = split_dataset(np.arange(10), left_size=3, right_size=0.2)  # 3 + 2 of 10: steps 3..7 are in neither
    assert a.tolist() == [0, 1, 2] and b.tolist() == [8, 9]
    a, b = split_dataset(np.arange(10), right_size=np.int64(4))  # NumPy numbers work as Python's
    assert len(a) == 6 and b.tolist() == [6, 7, 8, 9]


def test_shuffling_is_keras_permutation_and_leaves_global_random_alone():
    random.seed(11)
    state = random.getstate()
    a, b = split_dataset(np.arange(20), left_size=0.75, shuffle=True, seed=4)
    assert random.getstate() == state  # Keras reseeds Python's generator; brainnet does not touch it
    keras_order = list(range(20))
    random.seed(4)
    random.shuffle(keras_order)  # what Keras runs
    assert a.tolist() == keras_order[:15] and b.tolist() == keras_order[15:]
    assert sorted(a.tolist() + b.tolist()) == list(range(20))
    set_random_seed(2)
    first = split_dataset(np.arange(20), left_size=0.5, shuffle=True)[0]
    set_random_seed(2)
    assert np.array_equal(first, split_dataset(np.arange(20), left_size=0.5, shuffle=True)[0])  # no seed


def test_the_docstring_example_runs():
    failures, tried = doctest.testmod(brainnet._split, extraglobs={"np": np})
    assert tried > 0 and failures == 0


class Stream(torch.utils.data.IterableDataset):
    def __iter__(self):
        return iter(range(3))


class Endless(torch.utils.data.Dataset):
    def __getitem__(self, i):
        return i


@pytest.mark.parametrize("dataset, kwargs, error, message", [
    ({"x": np.zeros(3)}, {"left_size": 0.5}, TypeError,
     r"expected dataset a NumPy array, a tuple or list of arrays of one length, or a torch Dataset, got dict\. "
     r"Fix: split_dataset\(\(x, y\), left_size=0\.8\)"),
    (Stream(), {"left_size": 0.5}, TypeError, r"expected dataset a map-style torch Dataset .*, got the "
                                              r"IterableDataset Stream\. Fix: read it into arrays first"),
    (Endless(), {"left_size": 0.5}, TypeError, r"expected dataset a torch Dataset with __len__, got Endless without "
                                               r"it\. Fix: define __len__"),
    (np.array(3.0), {"left_size": 0.5}, ValueError, r"expected dataset an array with one sample per row, got a "
                                                      r"scalar\. Fix: "),
    ((), {"left_size": 0.5}, ValueError, r"expected dataset a non-empty tuple of arrays, got an empty tuple\. Fix: "),
    ([np.zeros(3), [1, 2, 3]], {"left_size": 0.5}, ValueError,
     r"expected dataset a list of NumPy arrays \(or tensors\), got list at index 1\. Fix: np\.asarray each part"),
    ((np.zeros(3), np.zeros(4)), {"left_size": 0.5}, ValueError,
     r"expected dataset a tuple of arrays of one length \(one row per sample\), got lengths \[3, 4\]\. Fix: "),
    (np.zeros(0), {"left_size": 0.5}, ValueError, r"expected dataset at least 2 samples, got an empty dataset\. Fix: "),
    (np.zeros(10), {"left_size": "half"}, TypeError,
     r"expected left_size an int \(a number of samples\), a float \(a fraction\) or None, got 'half'\. "
     r"Fix: left_size=0\.8"),
    (np.zeros(10), {"right_size": True}, TypeError, r"expected right_size an int .*, got True\. Fix: right_size=0\.8"),
    (np.zeros(10), {}, ValueError, r"expected left_size or right_size \(at least one\), got left_size=None and "
                                   r"right_size=None\. Fix: split_dataset\(data, left_size=0\.8\)"),
    (np.zeros(10), {"left_size": 0, "right_size": 0}, ValueError,
     r"expected left_size and right_size not both zero, got left_size=0 and right_size=0\. Fix: "),
    (np.zeros(10), {"left_size": 1.0}, ValueError,
     r"expected left_size a fraction between 0 and 1 \(exclusive\), got 1\.0\. Fix: left_size=0\.8"),
    (np.zeros(10), {"right_size": 10}, ValueError,
     r"expected right_size a number of samples between 1 and 9 \(the dataset has 10\), got 10\. Fix: right_size=8"),
    (np.zeros(10), {"left_size": 0}, ValueError, r"expected left_size a number of samples between 1 and 9"),
    (np.zeros(10), {"left_size": 0.6, "right_size": 0.5}, ValueError,
     r"expected left_size \+ right_size at most 1, got 0\.6 \+ 0\.5\. Fix: fractions that add up to 1 or less"),
    (np.zeros(10), {"left_size": 6, "right_size": 0.5}, ValueError,
     r"expected left_size \+ right_size at most the dataset's length 10, got 6 \+ 5 samples\. Fix: smaller sizes"),
    (np.zeros(10), {"left_size": 0.01}, ValueError,
     r"expected a non-empty left side \(with left_size=0\.01, right_size=None of 10 samples\), got 0 samples\. "
     r"Fix: a larger fraction"),
])
def test_datasets_and_sizes_that_cannot_be_split_are_refused(dataset, kwargs, error, message):
    with pytest.raises(error, match=r"^split_dataset: " + message):
        split_dataset(dataset, **kwargs)


def test_a_model_learns_on_the_left_part_of_real_mnist_and_is_scored_on_the_right(mnist_dir):
    """2,000 real MNIST test digits split 80/20 as arrays, and again as a torch
    Dataset, whose Subsets fit batches itself: the same split, the same model
    results."""
    _, (images, labels) = datasets.mnist.load_data(path=mnist_dir)
    x, y = images[:2000, :, :, None], labels[:2000].astype(np.int64)
    (x_train, y_train), (x_test, y_test) = split_dataset((x, y), left_size=0.8, shuffle=True, seed=0)
    assert len(x_train) == 1600 and len(x_test) == 400
    train, test = split_dataset(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                left_size=0.8, shuffle=True, seed=0)
    np.testing.assert_array_equal(test[:][1].numpy(), y_test)  # the Dataset is cut where the arrays are

    scores = []
    for fit_data, test_data in (((x_train, y_train), (x_test, y_test)), ((train,), (test,))):
        set_random_seed(0)
        model = Sequential([Input((28, 28, 1)), Rescaling(1 / 255), Flatten(), Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
        model.fit(*fit_data, epochs=5, batch_size=32, shuffle=False, verbose=0)
        scores.append(model.evaluate(*test_data, verbose=0))
    assert scores[0][1] > 0.75  # chance is 0.1
    assert scores[1] == pytest.approx(scores[0], rel=1e-5)
