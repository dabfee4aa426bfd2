"""IMDB's stand-in for the keras.io text-classification examples: which of
two Debian fortune files a fortune comes from.

``load_data`` answers like ``keras.datasets.imdb.load_data(num_words=...)``:
lists of word indices (unpadded, for ``keras.utils.pad_sequences``) and 0/1
labels. The indices are a ``TextVectorization`` adapted on the training
fortunes only: 0 is padding, 1 the out-of-vocabulary word, then the words by
falling frequency (``imdb`` has its start token 1 and out-of-vocabulary 2).
"""

from __future__ import annotations

import numpy as np
import pytest

from brainnet.datasets import fortunes
from brainnet.layers import TextVectorization

CLASSES = ("computers", "politics")  # label 0 (1,051 fortunes), label 1 (703)


def texts_and_labels(classes=CLASSES):
    """Every fortune of the files in order, and the index of its file; skips when the files are absent."""
    if not all((fortunes.SYSTEM_DIR / name).is_file() for name in classes):
        pytest.skip(f"Debian's fortunes are not in {fortunes.SYSTEM_DIR}: apt-get install fortunes")
    texts = [fortunes.load_fortunes([name]) for name in classes]
    labels = np.concatenate([np.full(len(t), i) for i, t in enumerate(texts)])
    return np.array(sum(texts, [])), labels


def split(n, test_size=350, seed=0):
    """Indices of the held-out and the training fortunes: a seeded permutation's first ``test_size`` and the rest."""
    order = np.random.default_rng(seed).permutation(n)
    return order[:test_size], order[test_size:]


def load_data(num_words=20000, classes=CLASSES, test_size=350, seed=0):
    """``((x_train, y_train), (x_val, y_val), vocabulary)``: x as lists of word-index arrays, y as 0/1."""
    texts, labels = texts_and_labels(classes)
    val, train = split(len(texts), test_size, seed)
    vectorize = TextVectorization(max_tokens=num_words)
    vectorize.adapt(texts[train])
    sequences = [row[row != 0] for row in np.asarray(vectorize(texts))]  # padding dropped
    x_train, x_val = [sequences[i] for i in train], [sequences[i] for i in val]
    return (x_train, labels[train]), (x_val, labels[val]), vectorize.get_vocabulary()
