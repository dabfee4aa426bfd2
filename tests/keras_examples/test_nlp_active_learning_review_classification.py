"""keras.io example "Review Classification using Active Learning"
(https://keras.io/examples/nlp/active_learning_review_classification/), its
Keras 3 version, ported as a learner would: ``import brainnet as keras`` and
``from brainnet import layers`` in place of the Keras imports, the example's
``TextVectorization(3000, standardize="lower_and_strip_punctuation", ...)``,
its bidirectional-LSTM classifier, ``train_full_model`` and
``train_active_learning_models`` (RMSprop, ``BinaryAccuracy``,
``FalseNegatives``, ``FalsePositives``, ``EarlyStopping``, one
``ModelCheckpoint(save_best_only=True)`` shared by every round, the best
checkpoint loaded with ``keras.models.load_model``) as the example writes
them.

Replaced: IMDB (``tfds.load("imdb_reviews")``) cannot be downloaded here, so
the two classes are two Debian fortune files (tests/keras_examples/
_fortune_classes.py): ``computers`` (1,051 fortunes, the negatives, 0) and
``politics`` (703, the positives, 1), in a seeded shuffled order (tfds gives
IMDB shuffled; the fortune files are not). The ``tf.data`` pipelines are
NumPy arrays: ``Dataset.from_tensor_slices((x, y))`` is the pair ``(x, y)``,
``.map(vectorize_text)`` the vectorizer on the whole array,
``pool.take(n)`` / ``pool.skip(n)`` slices ``[:n]`` / ``[n:]``,
``concatenate`` ``np.concatenate``, ``.cache().shuffle(20000).batch(256)``
``fit(..., batch_size=BATCH_SIZE)`` (fit shuffles), ``ops.where(ops.greater(p, 0.5),
1, 0)`` is ``torch.where(torch.as_tensor(p) > 0.5, 1, 0)``; the plots are left
out. ``train_active_learning_models`` also appends what each round computed
to a list the test reads (the example prints it).

Shortened for CI: 100 fortunes per class for validation and for testing and
150 per class to start from (the example: 2,500, 2,500 and 7,500 reviews),
so the pools hold the other 353 positives and 701 negatives; sequences of 64
tokens (the example: 150; a fortune's median is 19 words); an embedding of
32 (the example: 128; at 128 the 300 to 750 labelled fortunes overfit
within a few epochs, and the shared checkpoint kept the first round's
model in some seeds); at most 10 epochs a fit with ``patience=3`` (the
example: 20 and 4) on batches of 32 (the example: 256; so few fortunes make
too few steps of 256); 3 rounds (as written) of ``sampling_size=150`` (the
example: 5,000). The whole file takes about 8 s on one core.

Measured over seeds: the full model's test accuracy was 0.77 to 0.84
(seeds 0-5), the active-learning model's 0.605 to 0.765 (seeds 1-8), on a
balanced test set of 200 where chance is 0.5 ± 0.035; the tests assert
0.7 and 0.57 (two standard deviations above chance) and run seeds 0 and 1,
the active-learning rounds on one thread as they were measured (a CI run on
two threads, which sum in another order, gave 0.600).

What the example does and the test checks: each round's query is the ratio
rule, not a per-sample uncertainty score. The model's false negatives and
false positives on the test set set how many of the ``sampling_size`` new
samples come from each class's pool (zeros: FN / (FN + FP), ones: FP / (FN
+ FP), half and half when either count is 0), and those are the next ones
of each pool. The tests check the splits; the vectorizer against a Python
tokenization; the classifier's shapes and weight count; the full model's
checkpoint giving the best validation loss and accuracy above chance; and
in every round of active learning, the FN and FP that ``evaluate`` reports
against NumPy counts from ``predict``'s probabilities, the sample ratios and
counts from them, the pools shrinking and the labelled set growing by
exactly those samples, the model reloaded from the best checkpoint, and the
final model's test accuracy well above chance.
"""

from __future__ import annotations

import os
import re
import string

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers

from ._fortune_classes import texts_and_labels

val_split = 100  # the example: 2,500
test_split = 100  # the example: 2,500
train_split = 150  # the example: 7,500
SEQUENCE_LENGTH = 64  # the example: 150
EPOCHS = 10  # the example: 20
PATIENCE = 3  # the example: 4
SAMPLING_SIZE = 150  # the example: 5,000
BATCH_SIZE = 32  # the example: 256
EMBEDDING_DIM = 32  # the example: 128


@pytest.fixture(scope="module")
def splits():
    """Section "Loading and preprocessing the data": balanced validation, test and
    training sets, and the rest of each class as its unlabelled pool."""
    reviews, labels = texts_and_labels()
    order = np.random.default_rng(0).permutation(len(reviews))
    reviews, labels = reviews[order], labels[order]
    x_positives, y_positives = reviews[labels == 1], labels[labels == 1]
    x_negatives, y_negatives = reviews[labels == 0], labels[labels == 0]
    a, b, c = val_split, val_split + test_split, val_split + test_split + train_split
    x_val = np.concatenate((x_positives[:a], x_negatives[:a]))
    y_val = np.concatenate((y_positives[:a], y_negatives[:a]))
    x_test = np.concatenate((x_positives[a:b], x_negatives[a:b]))
    y_test = np.concatenate((y_positives[a:b], y_negatives[a:b]))
    x_train = np.concatenate((x_positives[b:c], x_negatives[b:c]))
    y_train = np.concatenate((y_positives[b:c], y_negatives[b:c]))
    pool_positives = (x_positives[c:], y_positives[c:])
    pool_negatives = (x_negatives[c:], y_negatives[c:])
    return dict(reviews=reviews, labels=labels, train=(x_train, y_train), val=(x_val, y_val),
                test=(x_test, y_test), pool_positives=pool_positives, pool_negatives=pool_negatives)


@pytest.fixture(scope="module")
def vectorized(splits):
    """Section "Fitting the TextVectorization layer": adapted on the training texts only."""
    vectorizer = layers.TextVectorization(
        3000, standardize="lower_and_strip_punctuation", output_sequence_length=SEQUENCE_LENGTH
    )
    vectorizer.adapt(splits["train"][0])

    def vectorize_text(text, label):
        text = np.asarray(vectorizer(text))
        return text, label

    names = ("train", "val", "test", "pool_positives", "pool_negatives")
    return vectorizer, {name: vectorize_text(*splits[name]) for name in names}


def append_history(losses, val_losses, accuracy, val_accuracy, history):
    losses = losses + history.history["loss"]
    val_losses = val_losses + history.history["val_loss"]
    accuracy = accuracy + history.history["binary_accuracy"]
    val_accuracy = val_accuracy + history.history["val_binary_accuracy"]
    return losses, val_losses, accuracy, val_accuracy


def create_model():
    model = keras.models.Sequential(
        [
            layers.Input(shape=(SEQUENCE_LENGTH,)),
            layers.Embedding(input_dim=3000, output_dim=EMBEDDING_DIM),
            layers.Bidirectional(layers.LSTM(32, return_sequences=True)),
            layers.GlobalMaxPool1D(),
            layers.Dense(20, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.summary()
    return model


def _compile(model):
    model.compile(
        loss="binary_crossentropy",
        optimizer="rmsprop",
        metrics=[
            keras.metrics.BinaryAccuracy(),
            keras.metrics.FalseNegatives(),
            keras.metrics.FalsePositives(),
        ],
    )


def train_full_model(full_train_dataset, val_dataset, test_dataset):
    """Section "Training on the entire dataset"."""
    model = create_model()
    _compile(model)
    history = model.fit(
        *full_train_dataset,
        batch_size=BATCH_SIZE,
        epochs=EPOCHS,
        validation_data=val_dataset,
        callbacks=[
            keras.callbacks.EarlyStopping(patience=PATIENCE, verbose=1),
            keras.callbacks.ModelCheckpoint("FullModelCheckpoint.keras", verbose=1, save_best_only=True),
        ],
        verbose=0,
    )
    model = keras.models.load_model("FullModelCheckpoint.keras")
    print("Test set evaluation: ", model.evaluate(*test_dataset, verbose=0, return_dict=True))
    return model, history


def train_active_learning_models(train_dataset, pool_negatives, pool_positives, val_dataset, test_dataset,
                                 num_iterations=3, sampling_size=SAMPLING_SIZE, record=None):
    """Section "Training via Active Learning", as written; ``record`` gets what each round computed."""
    losses, val_losses, accuracies, val_accuracies = [], [], [], []
    model = create_model()
    _compile(model)
    checkpoint = keras.callbacks.ModelCheckpoint("AL_Model.keras", save_best_only=True, verbose=1)
    early_stopping = keras.callbacks.EarlyStopping(patience=PATIENCE, verbose=1)

    print(f"Starting to train with {len(train_dataset[0])} samples")
    history = model.fit(*train_dataset, batch_size=BATCH_SIZE, epochs=EPOCHS, validation_data=val_dataset,
                        callbacks=[checkpoint, early_stopping], verbose=0)
    losses, val_losses, accuracies, val_accuracies = append_history(
        losses, val_losses, accuracies, val_accuracies, history
    )

    for iteration in range(num_iterations):
        predictions = model.predict(test_dataset[0], verbose=0)
        rounded = torch.where(torch.as_tensor(predictions) > 0.5, 1, 0)
        _, _, false_negatives, false_positives = model.evaluate(*test_dataset, verbose=0)

        # Number of ones/zeros to sample = Number of ones/zeros incorrectly classified / Total incorrectly classified
        if false_negatives != 0 and false_positives != 0:
            total = false_negatives + false_positives
            sample_ratio_ones, sample_ratio_zeros = (
                false_positives / total,
                false_negatives / total,
            )
        else:
            sample_ratio_ones, sample_ratio_zeros = 0.5, 0.5

        n_zeros, n_ones = int(sample_ratio_zeros * sampling_size), int(sample_ratio_ones * sampling_size)
        sampled_dataset = tuple(np.concatenate((neg[:n_zeros], pos[:n_ones]))
                                for neg, pos in zip(pool_negatives, pool_positives))
        if record is not None:
            record.append(dict(predictions=predictions, rounded=rounded.numpy(), false_negatives=false_negatives,
                               false_positives=false_positives, ratios=(sample_ratio_zeros, sample_ratio_ones),
                               pool_negatives=pool_negatives, pool_positives=pool_positives,
                               train_dataset=train_dataset, sampled_dataset=sampled_dataset))

        pool_negatives = tuple(part[n_zeros:] for part in pool_negatives)
        pool_positives = tuple(part[n_ones:] for part in pool_positives)
        train_dataset = tuple(np.concatenate(parts) for parts in zip(train_dataset, sampled_dataset))
        print(f"Starting training with {len(train_dataset[0])} samples")

        # We recompile the model to reset the optimizer states and retrain the model
        _compile(model)
        history = model.fit(*train_dataset, batch_size=BATCH_SIZE, validation_data=val_dataset, epochs=EPOCHS,
                            callbacks=[checkpoint, keras.callbacks.EarlyStopping(patience=PATIENCE, verbose=1)],
                            verbose=0)
        losses, val_losses, accuracies, val_accuracies = append_history(
            losses, val_losses, accuracies, val_accuracies, history
        )
        model = keras.models.load_model("AL_Model.keras")
        if record is not None:
            record[-1].update(after_train_dataset=train_dataset, best=checkpoint.best, model=model)

    print("Test set evaluation: ", model.evaluate(*test_dataset, verbose=0, return_dict=True))
    return model, (losses, val_losses, accuracies, val_accuracies)


def test_the_splits_are_balanced_and_the_pools_hold_the_rest(splits):
    """Section "Loading and preprocessing the data"."""
    for name, size in (("val", val_split), ("test", test_split), ("train", train_split)):
        x, y = splits[name]
        assert len(x) == 2 * size and y.sum() == size  # as many ones as zeros
    n_pos, n_neg = (splits["labels"] == 1).sum(), (splits["labels"] == 0).sum()
    used = val_split + test_split + train_split
    assert len(splits["pool_positives"][0]) == n_pos - used and set(splits["pool_positives"][1]) == {1}
    assert len(splits["pool_negatives"][0]) == n_neg - used and set(splits["pool_negatives"][1]) == {0}
    texts = np.concatenate([splits[n][0] for n in ("train", "val", "test", "pool_positives", "pool_negatives")])
    np.testing.assert_array_equal(np.sort(texts), np.sort(splits["reviews"]))  # every fortune once


def test_the_vectorizer_maps_words_to_training_vocabulary_indices(splits, vectorized):
    """Section "Fitting the TextVectorization layer": lowercase, punctuation out, then indices."""
    vectorizer, data = vectorized
    vocab = vectorizer.get_vocabulary()
    assert vocab[:2] == ["", "[UNK]"] and len(vocab) <= 3000
    punctuation = re.compile(f"[{re.escape(string.punctuation)}]")

    def words(text):
        return punctuation.sub("", text.lower()).split()

    counts = {}
    for text in splits["train"][0]:
        for w in words(text):
            counts[w] = counts.get(w, 0) + 1
    assert [counts[w] for w in vocab[2:]] == sorted((counts[w] for w in vocab[2:]), reverse=True)
    assert set(vocab[2:]) <= set(counts) and len(vocab) == min(3000, len(counts) + 2)
    index = {w: i for i, w in enumerate(vocab)}
    for text, row in zip(splits["test"][0][:50], data["test"][0][:50]):
        ids = [index.get(w, 1) for w in words(text)][:SEQUENCE_LENGTH]
        np.testing.assert_array_equal(row, ids + [0] * (SEQUENCE_LENGTH - len(ids)))


def test_the_bidirectional_lstm_classifier_has_the_examples_shape():
    """Section "Creating the Model"."""
    model = create_model()
    out = model.predict(np.zeros((3, SEQUENCE_LENGTH), dtype="int64"), verbose=0)
    assert out.shape == (3, 1) and np.all((out > 0) & (out < 1))
    lstm = 4 * 32 * (EMBEDDING_DIM + 32 + 1)  # four gates, each W_x, W_h and b
    assert model.count_params() == 3000 * EMBEDDING_DIM + 2 * lstm + (64 * 20 + 20) + (20 + 1)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The example writes its checkpoints to the working directory."""
    old, new = os.getcwd(), tmp_path_factory.mktemp("active_learning")
    os.chdir(new)
    yield new
    os.chdir(old)


@pytest.fixture(scope="module")
def full_model(vectorized, workdir):
    _, data = vectorized
    keras.utils.set_random_seed(0)
    full_train_dataset = tuple(np.concatenate(parts) for parts in
                               zip(data["train"], data["pool_positives"], data["pool_negatives"]))
    return train_full_model(full_train_dataset, data["val"], data["test"])


def test_the_full_model_keeps_its_best_checkpoint_and_beats_chance(vectorized, full_model):
    """Section "Training on the entire dataset": the loaded checkpoint is the epoch of least val_loss."""
    _, data = vectorized
    model, history = full_model
    val_loss = model.evaluate(*data["val"], verbose=0)[0]
    np.testing.assert_allclose(val_loss, min(history.history["val_loss"]), rtol=1e-4)
    assert history.history["loss"][-1] < history.history["loss"][0]
    scores = model.evaluate(*data["test"], verbose=0, return_dict=True)
    assert set(scores) == {"loss", "binary_accuracy", "false_negatives", "false_positives"}
    assert scores["binary_accuracy"] > 0.7, scores  # balanced 200: chance is 0.5 ± 0.035; 0.785 when written


@pytest.fixture(scope="module")
def active_learning(vectorized, workdir):
    _, data = vectorized
    keras.utils.set_random_seed(1)
    record = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the rounds as measured (below); other thread counts sum in another order
    try:
        model, curves = train_active_learning_models(data["train"], data["pool_negatives"], data["pool_positives"],
                                                     data["val"], data["test"], record=record)
    finally:
        torch.set_num_threads(threads)
    return model, curves, record


def test_each_round_samples_by_the_ratio_of_its_false_negatives_and_positives(vectorized, active_learning):
    """Section "Training via Active Learning": the query, from the model's own test predictions."""
    _, data = vectorized
    _, _, record = active_learning
    y_test = data["test"][1]
    assert len(record) == 3
    for r in record:
        p = r["predictions"][:, 0]
        np.testing.assert_array_equal(r["rounded"][:, 0], (p > 0.5).astype(int))
        fn, fp = np.sum((p <= 0.5) & (y_test == 1)), np.sum((p > 0.5) & (y_test == 0))
        assert (r["false_negatives"], r["false_positives"]) == (fn, fp)
        ratios = (fn / (fn + fp), fp / (fn + fp)) if fn and fp else (0.5, 0.5)
        np.testing.assert_allclose(r["ratios"], ratios)
        n_zeros, n_ones = int(ratios[0] * SAMPLING_SIZE), int(ratios[1] * SAMPLING_SIZE)
        x_sampled, y_sampled = r["sampled_dataset"]
        np.testing.assert_array_equal(y_sampled, [0] * n_zeros + [1] * n_ones)
        np.testing.assert_array_equal(x_sampled[:n_zeros], r["pool_negatives"][0][:n_zeros])  # the next ones
        np.testing.assert_array_equal(x_sampled[n_zeros:], r["pool_positives"][0][:n_ones])


def test_the_pools_shrink_and_the_labelled_set_grows_by_the_samples(vectorized, active_learning):
    _, data = vectorized
    _, (losses, val_losses, _, _), record = active_learning
    for before, after in zip(record, record[1:]):
        n_zeros, n_ones = (int(x * SAMPLING_SIZE) for x in before["ratios"])
        assert len(after["pool_negatives"][0]) == len(before["pool_negatives"][0]) - n_zeros
        assert len(after["pool_positives"][0]) == len(before["pool_positives"][0]) - n_ones
        np.testing.assert_array_equal(after["pool_negatives"][0], before["pool_negatives"][0][n_zeros:])
        np.testing.assert_array_equal(after["pool_positives"][0], before["pool_positives"][0][n_ones:])
    sizes = [len(r["train_dataset"][0]) for r in record] + [len(record[-1]["after_train_dataset"][0])]
    assert sizes[0] == 2 * train_split
    assert all(b - a == len(r["sampled_dataset"][0]) > 0 for a, b, r in zip(sizes, sizes[1:], record))
    for r in record:  # the old labelled set stays, the samples are added after it
        for old, new, sampled in zip(r["train_dataset"], r["after_train_dataset"], r["sampled_dataset"]):
            np.testing.assert_array_equal(new, np.concatenate((old, sampled)))
    assert len(losses) == len(val_losses) >= 4  # one history per fit, appended


def test_active_learning_reloads_the_best_checkpoint_and_beats_chance(vectorized, active_learning):
    """The checkpoint is shared by every fit, so each round reloads the best model so far."""
    _, data = vectorized
    model, (_, val_losses, _, _), record = active_learning
    bests = [r["best"] for r in record]
    assert bests == sorted(bests, reverse=True)  # the best val_loss so far only falls
    np.testing.assert_allclose(bests[-1], min(val_losses), rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(*data["val"], verbose=0)[0], bests[-1], rtol=1e-4)
    loss, accuracy, fn, fp = model.evaluate(*data["test"], verbose=0)
    # balanced 200: chance is 0.5 ± 0.035, so 0.57 is two standard deviations above it. 0.765 when written;
    # 0.605-0.765 over seeds 1-8 with one thread; 0.600 in a CI run on two threads
    assert accuracy > 0.57, (accuracy, fn, fp)
    p = model.predict(data["test"][0], verbose=0)[:, 0]
    np.testing.assert_allclose(accuracy, np.mean((p > 0.5) == data["test"][1]), atol=1e-6)
