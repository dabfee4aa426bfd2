"""brainnet.utils.text_dataset_from_directory on folders of real fortunes (one
subfolder per fortune file, one .txt file per fortune), checked against a
naive listing; TextVectorization.adapt on its batches; fit on it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from brainnet.datasets import fortunes
from brainnet.layers import Dense, Embedding, GlobalAveragePooling1D, StringLookup, TextVectorization
from brainnet.models import Sequential
from brainnet.utils import set_random_seed, text_dataset_from_directory

FILES = {"startrek": 60, "food": 50, "computers": 40}  # folder -> fortunes written


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fortunes")
    for name, count in FILES.items():
        try:
            found = fortunes.load_fortunes([name])[:count]
        except fortunes.DatasetNotFoundError:
            pytest.skip("the fortunes files are missing (apt-get install fortunes)")
        (root / name).mkdir()
        for k, text in enumerate(found):
            (root / name / f"{k:03d}.txt").write_text(text, encoding="utf-8")
        (root / name / "notes.md").write_text("not a .txt file: left out")
    return root


def _naive(root: Path) -> tuple[list[str], list[int], list[str]]:
    """Keras's listing by hand: classes in alphabetical order, each one's .txt files sorted."""
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    paths, labels = [], []
    for index, name in enumerate(names):
        files = sorted(str(root / name / f) for f in os.listdir(root / name) if f.endswith(".txt"))
        paths += files
        labels += [index] * len(files)
    return paths, labels, names


def _all(loader) -> tuple[list[str], np.ndarray]:
    texts, labels = [], []
    for x, y in loader:
        assert isinstance(x, np.ndarray) and x.dtype == object and x.ndim == 1
        texts += x.tolist()
        labels.append(y.numpy())
    return texts, np.concatenate(labels)


def test_labels_and_class_names_follow_the_folders(folders):
    paths, labels, names = _naive(folders)
    data = text_dataset_from_directory(folders, shuffle=False, batch_size=16)
    assert data.class_names == names == ["computers", "food", "startrek"]
    assert data.file_paths == paths
    texts, got = _all(data)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, labels)
    assert texts == [Path(p).read_text(encoding="utf-8") for p in paths]
    ordered = text_dataset_from_directory(folders, shuffle=False, class_names=["startrek", "food", "computers"])
    _, relabelled = _all(ordered)
    assert relabelled[0] == 0 and Path(ordered.file_paths[0]).parent.name == "startrek"


def test_the_seeded_split_is_keras_s_and_subsets_agree(folders):
    paths, labels, _ = _naive(folders)
    order = np.arange(len(paths))
    np.random.RandomState(5).shuffle(order)  # Keras: the sorted list shuffled once, the last 20 % for validation
    n_val = int(0.2 * len(paths))
    train, val = text_dataset_from_directory(folders, validation_split=0.2, subset="both", seed=5, batch_size=8)
    assert val.file_paths == [paths[i] for i in order[-n_val:]]
    assert train.file_paths == [paths[i] for i in order[:-n_val]]
    alone = text_dataset_from_directory(folders, validation_split=0.2, subset="validation", seed=5)
    assert alone.file_paths == val.file_paths
    training = text_dataset_from_directory(folders, validation_split=0.2, subset="training", seed=5)
    assert training.file_paths == train.file_paths
    texts, got = _all(val)  # the validation batches keep their order
    np.testing.assert_array_equal(got, [labels[i] for i in order[-n_val:]])
    first, _ = _all(train)
    second, _ = _all(train)  # the training batches: the same texts, shuffled again each epoch
    assert sorted(first) == sorted(second) and first != second
    assert sorted(first) == sorted(Path(p).read_text(encoding="utf-8") for p in train.file_paths)


def test_label_modes_max_length_and_given_labels(folders):
    x, y = next(iter(text_dataset_from_directory(folders, label_mode="categorical", shuffle=False, batch_size=4)))
    assert y.dtype == torch.float32 and y.shape == (4, 3) and torch.all(y.sum(1) == 1)
    texts = next(iter(text_dataset_from_directory(folders, label_mode=None, shuffle=False, batch_size=4)))
    assert isinstance(texts, np.ndarray) and texts.tolist() == x.tolist()
    short, _ = next(iter(text_dataset_from_directory(folders, max_length=10, shuffle=False, batch_size=4)))
    assert short.tolist() == [t.encode()[:10].decode("utf-8", errors="replace") for t in x]
    paths, _, _ = _naive(folders)
    given = list(range(len(paths)))  # one label per file in sorted path order
    data = text_dataset_from_directory(folders, labels=given, shuffle=False, batch_size=len(paths))
    _, labels = _all(data)
    np.testing.assert_array_equal(labels, given)


def test_adapt_on_batches_equals_adapt_on_the_concatenated_texts(folders):
    train = text_dataset_from_directory(folders, seed=2, batch_size=16)
    texts = np.concatenate([x for x, _ in train])
    whole, batched = TextVectorization(max_tokens=300, output_mode="tf_idf"), TextVectorization(max_tokens=300,
                                                                                               output_mode="tf_idf")
    whole.adapt(texts)
    batched.adapt(x for x, _ in train)
    assert batched.get_vocabulary() == whole.get_vocabulary()
    np.testing.assert_allclose(batched(texts[:5]).numpy(), whole(texts[:5]).numpy())
    words, by_batch = StringLookup(), StringLookup()
    words.adapt(np.array([t.split()[:1] for t in texts], dtype=object))
    by_batch.adapt(np.array([t.split()[:1] for t in x], dtype=object) for x, _ in train)
    assert by_batch.get_vocabulary() == words.get_vocabulary()
    texts_only = text_dataset_from_directory(folders, label_mode=None, seed=2, batch_size=16)
    loader_adapted = TextVectorization(max_tokens=300, output_mode="tf_idf")
    loader_adapted.adapt(texts_only)  # a DataLoader of texts, as Keras adapts on a dataset of texts
    assert loader_adapted.get_vocabulary() == whole.get_vocabulary()
    with pytest.raises(ValueError, match=r"TextVectorization '.*': expected batches of texts to adapt on, got batches "
                                         r"of 2 parts \(texts, labels\)\. Fix: adapt on the texts alone, "
                                         r"layer.adapt\(texts for texts, labels in loader\)"):
        TextVectorization().adapt(train)


def test_a_model_that_starts_with_text_vectorization_fits_on_the_folders(folders):
    train, val = text_dataset_from_directory(folders, validation_split=0.25, subset="both", seed=1, batch_size=16)
    vectorize = TextVectorization(max_tokens=2000, output_sequence_length=60)
    vectorize.adapt(x for x, _ in train)
    set_random_seed(0)
    model = Sequential([vectorize, Embedding(2000, 16, mask_zero=True), GlobalAveragePooling1D(),
                        Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(train, validation_data=val, epochs=12, verbose=0)
    assert history.history["accuracy"][-1] > 0.7  # chance is at most 0.4
    texts, labels = _all(val)
    predicted = model.predict(np.array(texts, dtype=object), verbose=0).argmax(1)
    assert (predicted == labels).mean() == pytest.approx(history.history["val_accuracy"][-1])
    assert model.evaluate(val, verbose=0, return_dict=True)["accuracy"] == pytest.approx((predicted == labels).mean())


@pytest.mark.parametrize("kwargs, message", [
    ({"label_mode": "sparse"}, r"expected label_mode 'int', 'categorical', 'binary' or None, got 'sparse'"),
    ({"labels": "folders"}, r"expected labels 'inferred', None or a list of integer labels, got 'folders'"),
    ({"max_length": 0}, r"expected max_length None or a positive number of bytes, got 0"),
    ({"validation_split": 0.2}, r"expected subset and validation_split together or not at all"),
    ({"validation_split": 0.2, "subset": "both"}, r"expected seed a number with validation_split and shuffle"),
    ({"label_mode": "binary"}, r"expected label_mode='binary' to have 2 classes, got \['computers', 'food', "),
    ({"class_names": ["food"]}, r"expected class_names the names of the subfolders"),
    ({"labels": [0, 1]}, r"expected labels one per file \(150 found\), got '2 labels'"),
])
def test_arguments_that_cannot_be_right_are_refused(folders, kwargs, message):
    with pytest.raises(ValueError, match=r"text_dataset_from_directory: " + message + r".*Fix: "):
        text_dataset_from_directory(folders, **kwargs)


def test_a_missing_or_empty_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"text_dataset_from_directory: expected directory a folder holding one "
                                         r"subfolder per class, got '.*nowhere'\. Fix: check the path"):
        text_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "pos").mkdir()
    with pytest.raises(ValueError, match=r"expected \.txt files in .*, got 'none'\. Fix: put the texts in one "
                                         r"subfolder per class"):
        text_dataset_from_directory(tmp_path)
