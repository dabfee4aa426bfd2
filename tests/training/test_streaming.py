"""fit / evaluate / predict on DataLoaders, Datasets, PyDatasets and generators.

The reference is always the array path: the same data in the same batch
order must give the same History, weights, evaluate and predict results.
Tolerance: the two paths run the same float32 operations on the same
batches, so they agree to float32 rounding (measured: equal to the last
bit on the CPU; allowed 1e-6 absolute and relative).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler

from brainnet.callbacks import BackupAndRestore, Callback, EarlyStopping, ModelCheckpoint
from brainnet.layers import Concatenate, Dense, Input
from brainnet.models import Model, Sequential
from brainnet.optimizers import SGD
from brainnet.utils import PyDataset, set_random_seed

N, BATCH = 100, 16  # 7 batches, the last one of 4 samples


def data(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype("int64")


def model(metrics: list | None = None) -> Sequential:
    set_random_seed(0)
    m = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    m.compile(SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=metrics or ["accuracy"],
              device="cpu")
    return m


def loader(x: np.ndarray, y: np.ndarray, *more: np.ndarray, batch_size: int = BATCH) -> DataLoader:
    return DataLoader(TensorDataset(*(torch.from_numpy(a) for a in (x, y, *more))), batch_size=batch_size)


def assert_same(history_a, history_b, model_a, model_b) -> None:
    assert history_a.history.keys() == history_b.history.keys()
    for key in history_a.history:
        np.testing.assert_allclose(history_b.history[key], history_a.history[key], rtol=1e-6, atol=1e-6)
    for a, b in zip(model_a.get_weights(), model_b.get_weights()):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


class Steps(Callback):
    """Counts the batch hooks of each epoch and keeps params."""

    def __init__(self) -> None:
        super().__init__()
        self.per_epoch: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        assert batch == self.per_epoch[-1]  # numbered from 0 within the epoch
        self.per_epoch[-1] += 1


# ------------------------------------------------------------------ same results as arrays
def test_a_dataloader_trains_as_the_arrays_do_with_validation_from_a_loader():
    x, y = data()
    xv, yv = data(30, seed=1)
    arrays = model()
    h_arrays = arrays.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, validation_data=(xv, yv), verbose=0)
    loaded = model()
    steps = Steps()
    h_loaded = loaded.fit(loader(x, y), epochs=3, validation_data=loader(xv, yv, batch_size=7), callbacks=[steps],
                          verbose=0)
    assert_same(h_arrays, h_loaded, arrays, loaded)
    assert "val_accuracy" in h_loaded.history and steps.per_epoch == [7, 7, 7]
    assert steps.params["steps"] == 7 and h_loaded.params["batch_size"] == BATCH


def test_a_bare_dataset_is_batched_with_fit_batch_size_and_shuffle():
    x, y = data()
    arrays, streamed = model(), model()
    h_arrays = arrays.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    steps = Steps()
    h_streamed = streamed.fit(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=10, epochs=2,
                              shuffle=False, callbacks=[steps], verbose=0)
    assert_same(h_arrays, h_streamed, arrays, streamed)
    assert steps.per_epoch == [10, 10]


def test_an_endless_generator_with_steps_per_epoch_trains_as_the_arrays_do():
    x, y = data()

    def batches():
        while True:
            for start in range(0, N, BATCH):
                yield x[start:start + BATCH], y[start:start + BATCH]

    arrays, streamed = model(), model()
    h_arrays = arrays.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    steps = Steps()
    h_streamed = streamed.fit(batches(), steps_per_epoch=math.ceil(N / BATCH), epochs=3, callbacks=[steps], verbose=0)
    assert_same(h_arrays, h_streamed, arrays, streamed)
    assert steps.per_epoch == [7, 7, 7] and steps.params["steps"] == 7


def test_a_generator_that_runs_out_stops_training_with_a_warning():
    x, y = data()
    batches = ((x[s:s + BATCH], y[s:s + BATCH]) for s in range(0, N, BATCH))  # 7 batches in all
    steps = Steps()
    with pytest.warns(UserWarning, match=r"fit: the generator ran out of data after 1 batch\(es\) of this epoch; "
                                         r"training stops here \(as Keras\)\. Fix: make it yield at least "
                                         r"steps_per_epoch × epochs batches"):
        history = model().fit(batches, steps_per_epoch=3, epochs=5, callbacks=[steps], verbose=0)
    assert steps.per_epoch == [3, 3, 1] and history.epoch == [0, 1, 2]


def test_steps_per_epoch_goes_on_through_a_dataloader_across_epochs():
    x, y = data()
    seen = []

    class Recorded(torch.utils.data.Dataset):
        def __len__(self):
            return N

        def __getitem__(self, i):
            seen.append(i)
            return x[i], y[i]

    steps = Steps()
    model().fit(DataLoader(Recorded(), batch_size=BATCH), steps_per_epoch=5, epochs=3, callbacks=[steps], verbose=0)
    assert steps.per_epoch == [5, 5, 5] and steps.params["steps"] == 5
    # 15 batches: a pass of 7, a second pass of 7, then the first batch of a third
    assert seen == list(range(N)) * 2 + list(range(BATCH))


def test_sample_weights_in_the_batches_equal_sample_weight_on_arrays():
    x, y = data()
    w = np.random.default_rng(3).uniform(0, 2, N).astype("float32")
    arrays, streamed = model(), model()
    h_arrays = arrays.fit(x, y, sample_weight=w, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    h_streamed = streamed.fit(loader(x, y, w), epochs=2, verbose=0)
    assert_same(h_arrays, h_streamed, arrays, streamed)
    assert arrays.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(
        streamed.evaluate(loader(x, y, w, batch_size=30), verbose=0), rel=1e-6)


def test_class_weight_with_a_loader_equals_class_weight_on_arrays():
    x, y = data()
    arrays, streamed = model(), model()
    h_arrays = arrays.fit(x, y, class_weight={0: 1.0, 1: 3.0}, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    h_streamed = streamed.fit(loader(x, y), class_weight={0: 1.0, 1: 3.0}, epochs=2, verbose=0)
    assert_same(h_arrays, h_streamed, arrays, streamed)


def test_evaluate_and_predict_on_a_loader_equal_those_on_arrays():
    x, y = data()
    trained = model(["accuracy", "sparse_top_k_categorical_accuracy"])
    trained.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_allclose(trained.evaluate(loader(x, y, batch_size=33), verbose=0),
                               trained.evaluate(x, y, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(trained.predict(loader(x, y, batch_size=33)), trained.predict(x), rtol=1e-6)
    only_x = DataLoader(torch.from_numpy(x), batch_size=33)  # batches of x alone
    np.testing.assert_allclose(trained.predict(only_x), trained.predict(x), rtol=1e-6)
    np.testing.assert_allclose(trained.evaluate(loader(x, y, batch_size=10), steps=3, verbose=0),
                               trained.evaluate(x[:30], y[:30], verbose=0), rtol=1e-6)
    assert trained.predict(only_x, steps=2).shape == (66, 2)


def test_a_pydataset_trains_as_the_arrays_do_and_hears_of_each_epoch():
    x, y = data()

    class Batches(PyDataset):
        def __init__(self):
            super().__init__()
            self.ends = 0

        def __len__(self):
            return math.ceil(N / BATCH)

        def __getitem__(self, i):
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

        def on_epoch_end(self):
            self.ends += 1

    arrays, streamed = model(), model()
    batches = Batches()
    h_arrays = arrays.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0)
    h_streamed = streamed.fit(batches, epochs=3, shuffle=False, verbose=0)
    assert_same(h_arrays, h_streamed, arrays, streamed)
    assert batches.ends == 3

    order = []

    class Logged(Batches):
        def __getitem__(self, i):
            order.append(i)
            return super().__getitem__(i)

    set_random_seed(5)
    model().fit(Logged(), epochs=2, verbose=0)  # shuffle=True: a new order of the batches each epoch
    assert sorted(order[:7]) == sorted(order[7:]) == list(range(7)) and order[:7] != order[7:]


def test_inputs_by_name_in_dict_batches():
    x, y = data()
    a, b = Input(shape=(2,), name="a"), Input(shape=(2,), name="b")
    set_random_seed(0)
    two = Model([a, b], Dense(2, activation="softmax")(Concatenate()([Dense(4)(a), Dense(4)(b)])))
    two.compile(SGD(0.1), "sparse_categorical_crossentropy", device="cpu")
    weights = two.get_weights()
    h_arrays = two.fit({"a": x[:, :2], "b": x[:, 2:]}, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    after = two.get_weights()
    two.set_weights(weights)
    two.compile(SGD(0.1), "sparse_categorical_crossentropy", device="cpu")
    batches = [({"a": x[s:s + BATCH, :2], "b": x[s:s + BATCH, 2:]}, y[s:s + BATCH]) for s in range(0, N, BATCH)]
    h_streamed = two.fit(iter(batches * 2), steps_per_epoch=7, epochs=2, verbose=0)
    np.testing.assert_allclose(h_streamed.history["loss"], h_arrays.history["loss"], rtol=1e-6)
    for w_a, w_b in zip(after, two.get_weights()):
        np.testing.assert_allclose(w_b, w_a, rtol=1e-6, atol=1e-6)


def test_early_stopping_and_checkpoints_work_on_a_loader(tmp_path):
    x, y = data()
    stop = EarlyStopping(monitor="loss", min_delta=10.0, patience=1)  # no epoch improves by 10
    path = tmp_path / "best.weights.safetensors"
    history = model().fit(loader(x, y), epochs=10, callbacks=[stop, ModelCheckpoint(str(path), save_weights_only=True)],
                          verbose=0)
    assert history.epoch == [0, 1] and path.exists()


def test_the_progress_bar_counts_the_loaders_batches(capsys):
    x, y = data()
    model().fit(loader(x, y), epochs=1, verbose=1)
    assert "7/7" in capsys.readouterr().out


# ------------------------------------------------------------------ errors
def test_a_generator_without_steps_per_epoch_is_refused():
    x, y = data()
    with pytest.raises(ValueError, match=r"fit: expected steps_per_epoch with a generator, which is read once and "
                                         r"may never end, got steps_per_epoch=None\. Fix: steps_per_epoch=N"):
        model().fit(((x, y) for _ in range(3)), epochs=2, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data: expected validation_steps with a generator"):
        model().fit(loader(x, y), validation_data=((x, y) for _ in range(3)), verbose=0)


def test_validation_split_y_and_sample_weight_are_refused_with_a_loader():
    x, y = data()
    with pytest.raises(ValueError, match=r"fit: expected validation_split=0 with x a DataLoader \(Keras refuses it "
                                         r"too.*Fix: pass validation_data=val_loader"):
        model().fit(loader(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"fit: expected y=None with x a DataLoader, whose batches carry the labels, "
                                         r"got y as a ndarray\. Fix: make each batch \(x, y\)"):
        model().fit(loader(x, y), y, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: expected sample_weight=None with x a DataLoader"):
        model().evaluate(loader(x, y), sample_weight=np.ones(N), verbose=0)
    with pytest.raises(ValueError, match=r"fit: expected no batch_size with a DataLoader, which makes its own "
                                         r"batches, got batch_size=32\. Fix: leave batch_size out"):
        model().fit(loader(x, y), batch_size=32, verbose=0)


@pytest.mark.parametrize("batch, got", [
    (lambda x, y: (x, y, y, y), "a tuple of 4 elements"),
    (lambda x, y: (), "a tuple of 0 elements"),
    (lambda x, y: "pixels", "a str"),
])
def test_a_batch_that_is_not_x_or_a_tuple_of_one_to_three_is_refused(batch, got):
    x, y = data()
    with pytest.raises(ValueError, match=rf"fit: expected each batch as x, \(x,\), \(x, y\) or \(x, y, "
                                         rf"sample_weight\), got {got}\. Fix: make the dataset's __getitem__"):
        model().fit(iter([batch(x, y)] * 2), steps_per_epoch=1, verbose=0)


def test_batches_are_checked_as_arrays_are():
    x, y = data()
    with pytest.raises(ValueError, match=r"expected shape \(None, 4\), got \(16, 3\)"):
        model().fit(loader(x[:, :3].copy(), y), verbose=0)
    bad = y.copy()
    bad[40] = 7
    with pytest.raises(ValueError, match=r"y: expected class labels in 0\.\.1 .*got label 7"):
        model().fit(loader(x, bad), verbose=0)
    with pytest.raises(ValueError, match=r"fit: expected batches \(x, y\) or \(x, y, sample_weight\), got batches "
                                         r"of inputs only.*Fix: make the dataset return \(x, y\) pairs"):
        model().fit(DataLoader(torch.from_numpy(x), batch_size=10), verbose=0)


def test_an_empty_source_is_refused():
    with pytest.raises(ValueError, match=r"fit: expected at least one batch, got an empty DataLoader\. Fix: check "
                                         r"that its dataset holds samples"):
        model().fit(DataLoader(TensorDataset(torch.zeros(0, 4), torch.zeros(0))), verbose=0)

    x, y = data()

    class Dwindles(PyDataset):
        n = 2

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return x[:8], y[:8]

        def on_epoch_end(self):
            self.n = 0

    with pytest.raises(ValueError, match=r"fit: expected batches, got an empty pass of the Dwindles\. Fix: check "
                                         r"that its dataset still holds samples"):
        model().fit(Dwindles(), steps_per_epoch=3, epochs=2, shuffle=False, verbose=0)


def test_steps_arguments_with_a_loader_are_checked():
    """evaluate's and predict's steps with arrays are their first batches (test_steps_per_epoch.py)."""
    x, y = data()
    with pytest.raises(ValueError, match=r"steps_per_epoch: expected a positive number of batches or None, got 0\. "
                                         r"Fix: steps_per_epoch=100"):
        model().fit(loader(x, y), steps_per_epoch=0, verbose=0)


def test_a_loader_given_as_labels_is_refused():
    x, y = data()
    with pytest.raises(ValueError, match=r"y: expected an array \(NumPy, torch tensor, pandas or a list\), got a "
                                         r"DataLoader, which gives batches; .*Fix: model\.fit\(loader\) with batches"):
        model().fit(x, loader(x, y), verbose=0)


# ------------------------------------------------------------------ DistributedSampler
def under_torchrun(monkeypatch, rank: int = 0) -> None:
    """As the variables torchrun sets (no process group: the checks come before fit joins one)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", str(rank))


def split_loader(x: np.ndarray, y: np.ndarray, replicas: int = 2, rank: int = 0, batch_size: int = BATCH,
                 **sampler_args) -> DataLoader:
    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    sampler = DistributedSampler(dataset, num_replicas=replicas, rank=rank, **sampler_args)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


RECIPE = (r"Fix: sampler = DistributedSampler\(dataset, num_replicas=world_size\(\), rank=rank\(\)\); "
          r"loader = DataLoader\(dataset, batch_size=per_process_batch, sampler=sampler\)")


def test_a_loader_without_a_distributed_sampler_under_torchrun_is_refused(monkeypatch):
    under_torchrun(monkeypatch)
    x, y = data()
    shuffled = DataLoader(TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=BATCH, shuffle=True)
    with pytest.raises(ValueError, match=r"fit: expected arrays, or a DataLoader whose sampler is a "
                                         r"DistributedSampler, with 2 processes \(torchrun, or a "
                                         r"torch\.distributed group\), got a DataLoader whose sampler is a "
                                         r"RandomSampler: every process would read all of the batches\. " + RECIPE):
        model().fit(shuffled, verbose=0)
    with pytest.raises(ValueError, match=r"evaluate: expected arrays, .* got a DataLoader whose sampler is a "
                                         r"SequentialSampler: .*" + RECIPE):
        model().evaluate(loader(x, y), verbose=0)
    with pytest.raises(ValueError, match=r"validation_data: expected arrays, .* got a DataLoader whose sampler "
                                         r"is a SequentialSampler: .*" + RECIPE):
        model().fit(x, y, batch_size=BATCH, validation_data=loader(x, y), verbose=0)


def test_a_generator_a_pydataset_and_a_bare_dataset_under_torchrun_are_refused(monkeypatch):
    under_torchrun(monkeypatch)
    x, y = data()

    class Batches(PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH]

    generator = ((x[s:s + BATCH], y[s:s + BATCH]) for s in range(0, N, BATCH))
    for source, got in ((generator, "generator"), (Batches(), "Batches"),
                        (TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), "TensorDataset")):
        with pytest.raises(ValueError, match=rf"fit: expected arrays, or a DataLoader whose sampler is a "
                                             rf"DistributedSampler, with 2 processes \(torchrun, or a torch\.distributed group\), "
                                             rf"got a {got}: "
                                             rf"every process would read all of the batches\. " + RECIPE):
            model().fit(source, steps_per_epoch=2 if got == "generator" else None, verbose=0)


def test_a_distributed_sampler_for_other_processes_is_refused(monkeypatch):
    under_torchrun(monkeypatch, rank=1)
    x, y = data()
    with pytest.raises(ValueError, match=r"fit: expected a DistributedSampler that splits over the 2 processes, "
                                         r"this one as rank 1, got num_replicas=1, rank=0\. Fix: sampler = "
                                         r"DistributedSampler\(dataset, num_replicas=world_size\(\), "
                                         r"rank=rank\(\)\) \(world_size and rank from brainnet\.distributed\)"):
        model().fit(split_loader(x, y, replicas=1, rank=0), verbose=0)


def test_set_epoch_is_called_with_each_epoch_so_each_pass_has_its_own_order(tmp_path):
    x, y = data()
    calls: list[int] = []
    read: list[int] = []

    class Recorded(DistributedSampler):
        def set_epoch(self, epoch):
            calls.append(epoch)
            super().set_epoch(epoch)

    class Remembered(TensorDataset):
        def __getitem__(self, i):
            read.append(int(i))
            return super().__getitem__(i)

    def order(epoch: int) -> list[int]:  # what the sampler gives in that epoch
        sampler = DistributedSampler(range(N), num_replicas=1, rank=0, shuffle=True, seed=3)
        sampler.set_epoch(epoch)
        return list(sampler)

    dataset = Remembered(torch.from_numpy(x), torch.from_numpy(y))
    shuffled = DataLoader(dataset, batch_size=BATCH, sampler=Recorded(dataset, num_replicas=1, rank=0, seed=3))
    model().fit(shuffled, epochs=3, verbose=0)
    assert calls == [0, 1, 2]
    assert read == order(0) + order(1) + order(2) and order(0) != order(1)

    # A later start (initial_epoch, or a restored backup) reads that epoch's order from its first batch.
    calls.clear()
    read.clear()
    model().fit(shuffled, epochs=4, initial_epoch=2, verbose=0)
    assert calls == [2, 3] and read == order(2) + order(3)
    # A backup restored at epoch 2: the first batch, read for epoch 0's checks, is read again in epoch 2's order.
    model().fit(shuffled, epochs=2, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)], verbose=0)
    calls.clear()
    read.clear()
    model().fit(shuffled, epochs=4, callbacks=[BackupAndRestore(tmp_path, delete_checkpoint=False)], verbose=0)
    assert calls == [0, 2, 3] and read == order(0)[:BATCH] + order(2) + order(3)


def test_evaluate_leaves_out_the_sample_the_distributed_sampler_repeats():
    # 99 samples over 2 processes: rank 1 gets the odd ones (49) and, to even
    # out the parts, sample 0 again as its last; evaluate counts it in rank 0 only.
    x, y = data(99)
    reference = model()
    for rank in (0, 1):
        part = reference.evaluate(x[rank::2], y[rank::2], return_dict=True, verbose=0)
        got = reference.evaluate(split_loader(x, y, rank=rank, shuffle=False, batch_size=7), return_dict=True,
                                 verbose=0)
        assert got.keys() == part.keys()
        np.testing.assert_allclose(list(got.values()), list(part.values()), rtol=1e-6, atol=1e-6)
    # Its last batch is the repeated sample alone: left out entirely.
    alone = reference.evaluate(split_loader(x, y, rank=1, shuffle=False, batch_size=49), return_dict=True, verbose=0)
    part = reference.evaluate(x[1::2], y[1::2], return_dict=True, verbose=0)
    np.testing.assert_allclose(list(alone.values()), list(part.values()), rtol=1e-6, atol=1e-6)


def test_jit_compile_trains_a_loader_whose_last_batch_is_smaller():
    x, y = data()  # batches of 16, the last of 4: torch.compile compiles that shape once more
    eager = model().fit(loader(x, y), epochs=2, verbose=0)
    set_random_seed(0)
    compiled = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(2, activation="softmax")])
    compiled.compile(SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu",
                     jit_compile=True)
    history = compiled.fit(loader(x, y), epochs=2, verbose=0)
    np.testing.assert_allclose(history.history["loss"], eager.history["loss"], rtol=1e-5)
