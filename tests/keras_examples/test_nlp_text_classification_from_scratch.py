"""keras.io example "Text classification from scratch"
(https://keras.io/examples/nlp/text_classification_from_scratch/), ported as
a learner would: ``import brainnet as keras`` / ``from brainnet import
layers``, the ``tf.strings`` calls of ``custom_standardization`` written with
Python's ``str.lower`` and ``re.sub`` (brainnet's ``TextVectorization`` hands
the function one ``str`` per text), and the rest as the example has it:
``keras.utils.text_dataset_from_directory`` with a validation split and
``class_names``, ``TextVectorization`` adapted on the texts alone, the
Embedding + two strided ``Conv1D`` + ``GlobalMaxPooling1D`` model with a
sigmoid output, and the end-to-end model on a string ``Input`` that wraps the
trained model.

Where the port writes other spellings: ``raw_ds.map(vectorize_text)`` then
``.cache()`` is a ``keras.utils.PyDataset`` holding the vectorized batches
(the loaders are PyTorch ``DataLoader`` s; docs/keras.md); ``tf.expand_dims``
is ``np.expand_dims`` on the NumPy array of texts a batch holds.

Shortened for CI: IMDB is not here (nothing downloads), so the two classes
are two of Debian's fortune files, ``computers`` and ``politics`` (about
1,050 and 700 fortunes), written as one ``.txt`` file per fortune in
``train/<class>/`` and ``test/<class>/`` (every fifth fortune goes to test).
Fortunes are short, so sequences are 100 tokens (the example: 500) over a
vocabulary of 5,000 (the example: 20,000); the widths (128) and the 3 epochs
are the example's.
"""

from __future__ import annotations

import os
import re
import string

import numpy as np
import pytest

import brainnet as keras
from brainnet import layers
from brainnet.datasets import fortunes

CLASSES = ["computers", "politics"]
batch_size = 32
max_features = 5000  # the example: 20,000
embedding_dim = 128
sequence_length = 100  # the example: 500


def custom_standardization(input_data):
    """Lower case, HTML line breaks to spaces, punctuation removed."""
    lowercase = input_data.lower()
    stripped_html = re.sub("<br />", " ", lowercase)
    return re.sub(f"[{re.escape(string.punctuation)}]", "", stripped_html)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    """The aclImdb-shaped folder: one text file per fortune, one subfolder per class."""
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in CLASSES):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    root = tmp_path_factory.mktemp("fortunes_by_file")
    for name in CLASSES:
        for i, text in enumerate(fortunes.load_fortunes([name])):
            folder = root / ("test" if i % 5 == 4 else "train") / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.txt").write_text(text, encoding="utf-8")
    return str(root)


@pytest.fixture(scope="module")
def raw_datasets(dataset_dir):
    """Section "Load the data"."""
    train_dir = os.path.join(dataset_dir, "train")
    test_dir = os.path.join(dataset_dir, "test")
    raw_train_ds = keras.utils.text_dataset_from_directory(
        train_dir, batch_size=batch_size, validation_split=0.2, subset="training", seed=1337, class_names=CLASSES)
    raw_val_ds = keras.utils.text_dataset_from_directory(
        train_dir, batch_size=batch_size, validation_split=0.2, subset="validation", seed=1337, class_names=CLASSES)
    raw_test_ds = keras.utils.text_dataset_from_directory(test_dir, batch_size=batch_size)
    return raw_train_ds, raw_val_ds, raw_test_ds


def make_vectorize_layer(raw_train_ds):
    """Section "Prepare the data": the layer, adapted on the training texts only."""
    vectorize_layer = keras.layers.TextVectorization(
        standardize=custom_standardization,
        max_tokens=max_features,
        output_mode="int",
        output_sequence_length=sequence_length,
    )
    text_ds = (x for x, y in raw_train_ds)  # raw_train_ds.map(lambda x, y: x)
    vectorize_layer.adapt(text_ds)
    return vectorize_layer


class VectorizedBatches(keras.utils.PyDataset):
    """``raw_ds.map(vectorize_text).cache()``: every batch vectorized once, then replayed."""

    def __init__(self, raw_ds, vectorize_text):
        super().__init__()
        self.batches = [vectorize_text(text, label) for text, label in raw_ds]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def build_model():
    """Section "Build a model", as written."""
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(max_features, embedding_dim)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def test_the_standardization_lowercases_and_drops_breaks_and_punctuation():
    assert custom_standardization("Don't PANIC!<br />It's 42, (really).") == "dont panic its 42 really"
    assert custom_standardization("a<br />b") == "a b"
    assert all(custom_standardization(c) == "" for c in string.punctuation)


def test_the_loaders_split_the_files_as_the_example_does(raw_datasets, dataset_dir):
    """Section "Load the data": counts, class names, and a look at a few samples."""
    raw_train_ds, raw_val_ds, raw_test_ds = raw_datasets
    files = {part: {c: len(os.listdir(os.path.join(dataset_dir, part, c))) for c in CLASSES}
             for part in ("train", "test")}
    n_train_files = sum(files["train"].values())
    n_val = int(0.2 * n_train_files)
    assert len(raw_val_ds.file_paths) == n_val and len(raw_train_ds.file_paths) == n_train_files - n_val
    assert not set(raw_train_ds.file_paths) & set(raw_val_ds.file_paths)
    assert len(raw_train_ds) == -(-(n_train_files - n_val) // batch_size)  # the batches the example prints
    assert raw_train_ds.class_names == CLASSES and raw_test_ds.class_names == CLASSES  # test: alphabetical
    assert len(raw_test_ds.file_paths) == sum(files["test"].values())
    text_batch, label_batch = next(iter(raw_train_ds))  # the example prints 5 of these
    assert len(text_batch) == batch_size and all(isinstance(text, str) for text in text_batch)
    contents = {p: open(p, encoding="utf-8").read() for p in raw_train_ds.file_paths}
    for text, label in zip(text_batch, label_batch.numpy()):  # each label is the folder its text came from
        matches = [p for p, content in contents.items() if content == text]
        assert matches and all(os.path.basename(os.path.dirname(p)) == CLASSES[label] for p in matches)


def test_the_vectorized_batches_are_vocabulary_indices(raw_datasets):
    """Section "Two options to vectorize the data": vectorize_text on a batch."""
    raw_train_ds, _, _ = raw_datasets
    vectorize_layer = make_vectorize_layer(raw_train_ds)
    vocab = vectorize_layer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"] and len(vocab) == max_features

    def vectorize_text(text, label):
        text = np.expand_dims(text, -1)
        return vectorize_layer(text), label

    texts, labels = next(iter(raw_train_ds))
    x, y = vectorize_text(texts, labels)
    assert tuple(x.shape) == (batch_size, sequence_length) and y is labels
    index = {word: i for i, word in enumerate(vocab)}
    for row, text in zip(np.asarray(x), texts):
        ids = [index.get(word, 1) for word in custom_standardization(text).split()][:sequence_length]
        np.testing.assert_array_equal(row, ids + [0] * (sequence_length - len(ids)))


@pytest.fixture(scope="module")
def trained(raw_datasets):
    """Sections "Build a model" and "Train the model": 3 epochs, validation each epoch."""
    raw_train_ds, raw_val_ds, raw_test_ds = raw_datasets
    keras.utils.set_random_seed(0)
    vectorize_layer = make_vectorize_layer(raw_train_ds)

    def vectorize_text(text, label):
        text = np.expand_dims(text, -1)
        return vectorize_layer(text), label

    train_ds = VectorizedBatches(raw_train_ds, vectorize_text)
    val_ds = VectorizedBatches(raw_val_ds, vectorize_text)
    test_ds = VectorizedBatches(raw_test_ds, vectorize_text)
    model = build_model()
    epochs = 3
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, verbose=0)
    return vectorize_layer, model, history, test_ds


def test_the_convnet_learns_which_file_a_fortune_comes_from(trained, raw_datasets):
    """Section "Evaluate the model on the test set": held-out accuracy above chance."""
    _, model, history, test_ds = trained
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    labels = np.concatenate([np.asarray(y) for _, y in test_ds.batches])
    majority = max(labels.mean(), 1 - labels.mean())  # always answering the larger file
    assert accuracy > majority + 0.1, (accuracy, majority)  # 0.82 against 0.60 when written
    assert history.history["val_accuracy"][-1] > majority
    # evaluate's accuracy is the share of sigmoid outputs on the right side of 0.5
    probabilities = np.concatenate([model.predict(x, verbose=0)[:, 0] for x, _ in test_ds.batches])
    np.testing.assert_allclose(accuracy, np.mean((probabilities > 0.5) == labels), atol=1e-6)
    assert 0.0 < loss < np.log(2) + 0.05


def test_the_end_to_end_model_on_raw_strings_equals_the_vectorized_one(trained, raw_datasets):
    """Section "Make an end-to-end model": a string Input, the vectorize layer, the trained model."""
    vectorize_layer, model, _, test_ds = trained
    _, _, raw_test_ds = raw_datasets
    inputs = keras.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = keras.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    raw_scores = end_to_end_model.evaluate(raw_test_ds, verbose=0)
    np.testing.assert_allclose(raw_scores, model.evaluate(test_ds, verbose=0), rtol=1e-5)
    texts = np.array([t for batch, _ in raw_test_ds for t in batch], dtype=object)
    vectorized = np.asarray(vectorize_layer(np.expand_dims(texts, -1)))
    np.testing.assert_allclose(end_to_end_model.predict(texts, verbose=0), model.predict(vectorized, verbose=0),
                               atol=1e-6)
    np.testing.assert_allclose(end_to_end_model.predict(texts[:, None], verbose=0),
                               model.predict(vectorized, verbose=0), atol=1e-6)
    # one string at a time, as a served model gets them
    one = end_to_end_model.predict(texts[:3], verbose=0)
    np.testing.assert_allclose([end_to_end_model.predict(texts[i:i + 1], verbose=0)[0] for i in range(3)], one,
                               atol=1e-6)
