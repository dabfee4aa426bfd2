"""keras.io example "Using pre-trained word embeddings"
(https://keras.io/examples/nlp/pretrained_word_embeddings/), its Keras 3
version, ported as a learner would: ``import brainnet as keras`` and ``from
brainnet import layers`` in place of the Keras imports, the rest as the
example writes it: the folder-per-class reading that drops each file's first
10 (header) lines, the two seeded ``RandomState`` shuffles and the 20 %
validation split, ``TextVectorization`` adapted on the training texts,
``word_index`` from ``get_vocabulary()``, the GloVe text file parsed with
``line.split(maxsplit=1)`` and ``np.fromstring``, the embedding matrix built
row by row (padding, out-of-vocabulary and missing words all zeros), a frozen
``Embedding`` given the matrix (both ways: ``build((1,))`` then
``set_weights`` as the Keras 3 version does, and
``embeddings_initializer=keras.initializers.Constant(embedding_matrix)`` as
the tf.keras version did), the Conv1D / MaxPooling1D classifier with
``rmsprop`` and ``sparse_categorical_crossentropy``, and the end-to-end model
on a string ``Input``. ``keras.ops.convert_to_tensor([[text]])`` is a NumPy
array of strings (brainnet's string inputs are NumPy arrays of ``str``).

Replaced, since nothing downloads: the 20 Newsgroups are three of Debian's
fortune files (``computers``, ``politics``, ``science``; 2,379 fortunes),
written as one file per fortune under a folder per class, each with a
10-line newsgroup-style header that names its class (the leak the example
strips). GloVe is replaced by word vectors the test computes from all English
fortunes (about 15,000 texts): co-occurrence counts of words up to 30 apart
(most of a fortune, so the vectors are about topics as LSA's are; a window
of 4 gave vectors on which the classifier barely beat chance), positive
pointwise mutual information, and a rank-50 truncated SVD (a
randomized range finder), the 4,000 most frequent words written to
``glove.fortunes.50d.txt`` in GloVe's format (a word, then its 50 numbers,
space-separated), so words outside those 4,000 are the "misses".

Shortened for CI: 50-dimensional vectors (the example: 100), sequences of 150
tokens (the example: 200; 149 is the least the three valid convolutions and
two poolings of 5 allow), 32 filters and 32 dense units (the example: 128), 12
epochs (the example: 20).

The tests check the header stripping and the split, the vectorized test
sentence against ``word_index``, the parsed vectors against the file, the
embedding matrix against a NumPy build from the file and the vocabulary, that
the two ways of loading it agree, that fit leaves the frozen embedding
unchanged while the convolutions move, that the loss falls and validation
accuracy is well above always answering the largest class, and that the
end-to-end string model gives the integer model's probabilities.
"""

from __future__ import annotations

import collections
import os
import re

import numpy as np
import pytest
import torch

import brainnet as keras
from brainnet import layers
from brainnet.datasets import fortunes

CLASSES = ["computers", "politics", "science"]  # the example's 20 newsgroups
GLOVE_WORDS = 4000
WINDOW = 30  # words either side: most of a fortune, so the vectors are about topics
embedding_dim = 50  # the example: 100
sequence_length = 150  # the example: 200
filters = 32  # the example: 128
epochs = 12  # the example: 20


def words_of(text):
    """The words TextVectorization's default standardization and split give: lower case, punctuation dropped."""
    return re.sub(r"[!\"#$%&()*+,\-./:;<=>?@\[\\\]^_`{|}~']", "", text.lower()).split()


def write_word_vectors(path):
    """GloVe's stand-in: PPMI co-occurrence vectors of the English fortunes, in GloVe's text format."""
    texts = fortunes.load_fortunes("english")
    counts = collections.Counter(w for t in texts for w in words_of(t))
    vocab = [w for w, _ in counts.most_common(GLOVE_WORDS)]
    index = {w: i for i, w in enumerate(vocab)}
    rows, cols = [], []
    for text in texts:
        ids = [index.get(w, -1) for w in words_of(text)]
        for offset in range(1, WINDOW + 1):  # WINDOW words each side
            for a, b in zip(ids, ids[offset:]):
                if a >= 0 and b >= 0:
                    rows += [a, b]
                    cols += [b, a]
    cooc = np.zeros((len(vocab), len(vocab)))
    np.add.at(cooc, (rows, cols), 1.0)
    total = cooc.sum()
    expected = np.outer(cooc.sum(1), cooc.sum(0)) / total
    with np.errstate(divide="ignore"):
        ppmi = np.maximum(np.log(np.where(cooc > 0, cooc * 1.0, 1.0) / np.maximum(expected, 1e-12)), 0.0)
    # randomized range finder with two power iterations, then the SVD of the small projection
    q, _ = np.linalg.qr(ppmi @ np.random.default_rng(0).standard_normal((len(vocab), embedding_dim + 10)))
    for _ in range(2):
        q, _ = np.linalg.qr(ppmi @ (ppmi.T @ q))
    u, s, _ = np.linalg.svd(q.T @ ppmi, full_matrices=False)
    vectors = (q @ u[:, :embedding_dim]) * np.sqrt(s[:embedding_dim])
    with open(path, "w") as f:
        for word, vector in zip(vocab, vectors):
            f.write(word + " " + " ".join(f"{v:.5f}" for v in vector) + "\n")
    return vocab, vectors


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The 20_newsgroup folder's stand-in: a folder per class, a file per fortune with a 10-line header."""
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in fortunes.ENGLISH):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    root = tmp_path_factory.mktemp("fortune_groups")
    for name in CLASSES:
        (root / name).mkdir()
        for i, text in enumerate(fortunes.load_fortunes([name])):
            header = [f"Newsgroup: {name}", "Path: fortunes", f"From: {name}@fortunes.debian.org",
                      f"Subject: {name} fortune {i}", f"Organization: {name}"] + ["X-Header: none"] * 5
            (root / name / str(i)).write_text("\n".join(header) + "\n" + text, encoding="latin-1", errors="replace")
    return root


def load_samples(data_dir):
    """Section "Let's take a look at the data", as written."""
    samples = []
    labels = []
    class_names = []
    class_index = 0
    for dirname in sorted(os.listdir(data_dir)):
        class_names.append(dirname)
        dirpath = data_dir / dirname
        fnames = os.listdir(dirpath)
        for fname in fnames:
            fpath = dirpath / fname
            f = open(fpath, encoding="latin-1")
            content = f.read()
            lines = content.split("\n")
            lines = lines[10:]
            content = "\n".join(lines)
            samples.append(content)
            labels.append(class_index)
        class_index += 1
    return samples, labels, class_names


def shuffle_and_split(samples, labels):
    """Section "Shuffle and split the data into training & validation sets", as written."""
    seed = 1337
    rng = np.random.RandomState(seed)
    rng.shuffle(samples)
    rng = np.random.RandomState(seed)
    rng.shuffle(labels)
    validation_split = 0.2
    num_validation_samples = int(validation_split * len(samples))
    train_samples = samples[:-num_validation_samples]
    val_samples = samples[-num_validation_samples:]
    train_labels = labels[:-num_validation_samples]
    val_labels = labels[-num_validation_samples:]
    return train_samples, val_samples, train_labels, val_labels


@pytest.fixture(scope="module")
def prepared(data_dir, tmp_path_factory):
    """Sections up to "Load pre-trained word embeddings": the split, the vocabulary, the vectors file."""
    samples, labels, class_names = load_samples(data_dir)
    train_samples, val_samples, train_labels, val_labels = shuffle_and_split(samples, labels)
    vectorizer = layers.TextVectorization(max_tokens=20000, output_sequence_length=sequence_length)
    vectorizer.adapt(np.array(train_samples))  # tf_data.Dataset.from_tensor_slices(train_samples).batch(128)
    voc = vectorizer.get_vocabulary()
    word_index = dict(zip(voc, range(len(voc))))
    path_to_glove_file = tmp_path_factory.mktemp("glove") / f"glove.fortunes.{embedding_dim}d.txt"
    write_word_vectors(path_to_glove_file)
    return dict(samples=samples, labels=labels, class_names=class_names, train_samples=train_samples,
                val_samples=val_samples, train_labels=train_labels, val_labels=val_labels,
                vectorizer=vectorizer, voc=voc, word_index=word_index, glove=path_to_glove_file)


def read_embeddings_index(path_to_glove_file):
    """Section "Load pre-trained word embeddings": the word -> vector dict, as written."""
    embeddings_index = {}
    with open(path_to_glove_file) as f:
        for line in f:
            word, coefs = line.split(maxsplit=1)
            coefs = np.fromstring(coefs, "f", sep=" ")
            embeddings_index[word] = coefs
    return embeddings_index


def build_embedding_matrix(voc, word_index, embeddings_index):
    """The example's loop: row i is the vector of the vocabulary's word i, zeros where there is none."""
    num_tokens = len(voc) + 2
    hits = 0
    misses = 0
    embedding_matrix = np.zeros((num_tokens, embedding_dim))
    for word, i in word_index.items():
        embedding_vector = embeddings_index.get(word)
        if embedding_vector is not None:
            embedding_matrix[i] = embedding_vector
            hits += 1
        else:
            misses += 1
    return embedding_matrix, hits, misses


def build_model(embedding_layer, class_names):
    """Section "Build the model", narrower."""
    int_sequences_input = keras.Input(shape=(None,), dtype="int32")
    embedded_sequences = embedding_layer(int_sequences_input)
    x = layers.Conv1D(filters, 5, activation="relu")(embedded_sequences)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(filters, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(filters, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(filters, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    preds = layers.Dense(len(class_names), activation="softmax")(x)
    return keras.Model(int_sequences_input, preds)


def test_the_headers_are_stripped_and_the_split_keeps_pairs(data_dir, prepared):
    """Sections "Let's take a look at the data" and "Shuffle and split": no header left, labels still match."""
    class_names, samples, labels = prepared["class_names"], prepared["samples"], prepared["labels"]
    assert class_names == sorted(CLASSES)
    texts = {name: set(fortunes.load_fortunes([name])) for name in CLASSES}
    assert len(samples) == sum(len(fortunes.load_fortunes([name])) for name in CLASSES)
    assert not any("Newsgroup:" in s or "Organization:" in s for s in samples)
    matched = [s in texts[class_names[y]] for s, y in zip(samples, labels)]  # a few fortunes have non-latin-1 letters
    assert np.mean(matched) > 0.98
    n_val = int(0.2 * len(samples))
    assert len(prepared["val_samples"]) == n_val == len(prepared["val_labels"])
    assert prepared["train_samples"] + prepared["val_samples"] == samples  # shuffled in place, then sliced
    assert len(set(labels[:50])) == len(CLASSES)  # shuffled: the classes are no longer in blocks


def test_the_vectorizer_indexes_the_training_vocabulary(prepared):
    """Section "Create a vocabulary index": the test sentence against word_index."""
    vectorizer, voc, word_index = prepared["vectorizer"], prepared["voc"], prepared["word_index"]
    assert voc[:2] == ["", "[UNK]"]
    counts = collections.Counter(w for s in prepared["train_samples"] for w in words_of(s))
    assert voc[2] == counts.most_common(1)[0][0] == "the"
    output = vectorizer([["the cat sat on the mat"]])
    test = ["the", "cat", "sat", "on", "the", "mat"]
    assert np.asarray(output).shape == (1, sequence_length)
    np.testing.assert_array_equal(np.asarray(output)[0, :6], [word_index.get(w, 1) for w in test])
    assert np.asarray(output)[0, 0] == 2 and not np.asarray(output)[0, 6:].any()


def test_the_embedding_matrix_is_the_file_s_vectors_in_vocabulary_order(prepared):
    """Section "Load pre-trained word embeddings": the parsed file and the matrix against NumPy."""
    embeddings_index = read_embeddings_index(prepared["glove"])
    assert len(embeddings_index) == GLOVE_WORDS
    table = np.loadtxt(prepared["glove"], dtype=str, comments=None)  # a second reading: words, then numbers
    np.testing.assert_allclose(embeddings_index[table[7, 0]], table[7, 1:].astype(np.float32))
    voc, word_index = prepared["voc"], prepared["word_index"]
    embedding_matrix, hits, misses = build_embedding_matrix(voc, word_index, embeddings_index)
    vectors = {row[0]: row[1:].astype(np.float64) for row in table}
    expected = np.stack([vectors.get(w, np.zeros(embedding_dim)) for w in voc] + [np.zeros(embedding_dim)] * 2)
    np.testing.assert_allclose(embedding_matrix, expected, atol=1e-6)
    assert not embedding_matrix[0].any() and not embedding_matrix[1].any()  # padding and [UNK]
    assert hits == sum(w in vectors for w in voc) and hits + misses == len(voc)
    assert hits == len(set(voc) & set(vectors)) and misses > hits  # rare words have no vector
    counts = collections.Counter(w for s in prepared["train_samples"] for w in words_of(s))
    covered = sum(c for w, c in counts.items() if w in vectors) / sum(counts.values())
    assert covered > 0.8, covered  # but the words with vectors are most of the running text
    # the vectors mean something: "computer" is nearer "computers"-like words than "senator" is
    unit = {w: v / np.linalg.norm(v) for w, v in vectors.items()}
    assert unit["computer"] @ unit["software"] > unit["computer"] @ unit["senator"]


@pytest.fixture(scope="module")
def trained(prepared):
    """Sections "Build the model" and "Train the model"."""
    keras.utils.set_random_seed(0)
    embeddings_index = read_embeddings_index(prepared["glove"])
    voc, word_index, class_names = prepared["voc"], prepared["word_index"], prepared["class_names"]
    embedding_matrix, _, _ = build_embedding_matrix(voc, word_index, embeddings_index)
    num_tokens = len(voc) + 2
    embedding_layer = layers.Embedding(num_tokens, embedding_dim, trainable=False)
    embedding_layer.build((1,))
    embedding_layer.set_weights([embedding_matrix])
    model = build_model(embedding_layer, class_names)
    vectorizer = prepared["vectorizer"]
    x_train = np.asarray(vectorizer(np.array([[s] for s in prepared["train_samples"]])))
    x_val = np.asarray(vectorizer(np.array([[s] for s in prepared["val_samples"]])))
    y_train = np.array(prepared["train_labels"])
    y_val = np.array(prepared["val_labels"])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"])
    conv_before = [w.copy() for w in model.layers[2].get_weights()]
    history = model.fit(x_train, y_train, batch_size=128, epochs=epochs, validation_data=(x_val, y_val), verbose=0)
    return dict(model=model, embedding_layer=embedding_layer, embedding_matrix=embedding_matrix,
                conv_before=conv_before, history=history, x_val=x_val, y_val=y_val)


def test_the_initializer_spelling_gives_the_same_frozen_layer(prepared, trained):
    """The tf.keras version's ``embeddings_initializer=Constant(embedding_matrix)`` equals ``set_weights``."""
    embedding_matrix = trained["embedding_matrix"]
    embedding_layer = layers.Embedding(
        len(prepared["voc"]) + 2,
        embedding_dim,
        embeddings_initializer=keras.initializers.Constant(embedding_matrix),
        trainable=False,
    )
    ids = np.arange(len(prepared["voc"]) + 2)[None, :]
    np.testing.assert_allclose(np.asarray(embedding_layer(ids))[0], embedding_matrix, atol=1e-6)
    assert embedding_layer.trainable_weights == [] and len(embedding_layer.non_trainable_weights) == 1


def test_fit_leaves_the_frozen_embeddings_and_learns_the_classes(trained):
    """Section "Train the model": the embedding unchanged, the rest trained, accuracy above chance."""
    model, embedding_layer = trained["model"], trained["embedding_layer"]
    assert embedding_layer.trainable_weights == []
    np.testing.assert_array_equal(embedding_layer.get_weights()[0], trained["embedding_matrix"].astype(np.float32))
    assert not np.allclose(model.layers[2].get_weights()[0], trained["conv_before"][0])  # the convolution moved
    history = trained["history"].history
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    y_val = trained["y_val"]
    majority = np.bincount(y_val).max() / len(y_val)
    assert history["val_acc"][-1] > majority + 0.1, (history["val_acc"], majority)  # 0.59-0.62 over seeds 0-3, 0.44
    predicted = model.predict(trained["x_val"], verbose=0).argmax(-1)
    np.testing.assert_allclose(np.mean(predicted == y_val), history["val_acc"][-1], atol=1e-6)


def test_the_end_to_end_model_takes_strings(prepared, trained):
    """Section "Export an end-to-end model": a string Input, the vectorizer, the trained model."""
    vectorizer, model, class_names = prepared["vectorizer"], trained["model"], prepared["class_names"]
    string_input = keras.Input(shape=(1,), dtype="string")
    x = vectorizer(string_input)
    preds = model(x)
    end_to_end_model = keras.Model(string_input, preds)
    probabilities = end_to_end_model(np.array([["this message is about computer software and programs"]]))
    probabilities = np.asarray(torch.as_tensor(probabilities).detach())
    assert probabilities.shape == (1, len(class_names))
    np.testing.assert_allclose(probabilities.sum(), 1.0, rtol=1e-5)
    sentence = np.asarray(vectorizer(np.array([["this message is about computer software and programs"]])))
    np.testing.assert_allclose(probabilities, model.predict(sentence, verbose=0), atol=1e-6)
    texts = np.array([[s] for s in prepared["val_samples"][:64]])
    np.testing.assert_allclose(end_to_end_model.predict(texts, verbose=0),
                               model.predict(trained["x_val"][:64], verbose=0), atol=1e-6)
