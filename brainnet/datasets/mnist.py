"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28.

LeCun, Cortes and Burges; licensed CC BY-SA 3.0. Ten classes, the digits 0-9.

    >>> from brainnet.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
    >>> x_train.shape, y_train.shape  # doctest: +SKIP
    ((60000, 28, 28), (60000,))
"""

from __future__ import annotations

import os

import numpy as np

from brainnet.datasets import _files
from brainnet.datasets._files import ChecksumError, DatasetNotFoundError

__all__ = ["CLASS_NAMES", "ChecksumError", "DatasetNotFoundError", "load_data"]

CLASS_NAMES = tuple(str(digit) for digit in range(10))

# SHA-256 of the UNCOMPRESSED IDX bytes (see _files for why not of the .gz).
# Computed from the canonical .gz files, whose MD5s (.gz and uncompressed)
# match the published ones.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# Tried in order, after $BRAINNET_DATASET_MIRROR.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def load_data(
    path: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads MNIST, as ``keras.datasets.mnist.load_data()`` does.

    Looks for the four files ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (or the same names uncompressed, without
    ``.gz``) in ``path``, then ``$BRAINNET_DATA_DIR/mnist/``, then
    ``/usr/share/datasets/mnist/``, then the cache
    ``~/.cache/brainnet/datasets/mnist/`` (``$BRAINNET_CACHE_DIR`` or
    ``$XDG_CACHE_HOME/brainnet`` replace ``~/.cache/brainnet``); the first
    folder holding all four wins. If none does, downloads them into the cache
    (unless ``BRAINNET_OFFLINE=1``). Every file is verified by the SHA-256 of
    its uncompressed content on every load.

    Args:
        path: a FOLDER holding the four files, searched first. Unlike Keras,
            whose ``path`` is a file name inside its cache, this is a folder,
            so a copy you already have can be used where it is. Default None.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_train`` uint8 of shape
        ``(60000, 28, 28)`` (0 = background, 255 = ink), ``y_train`` uint8 of
        shape ``(60000,)`` with values 0-9; ``x_test`` ``(10000, 28, 28)`` and
        ``y_test`` ``(10000,)``.

    Raises:
        ChecksumError: (a ``ValueError``) a file is truncated or damaged; the
            message names it, the expected and actual SHA-256, and the fix.
        DatasetNotFoundError: (a ``FileNotFoundError``) no folder holds the
            files and downloading was skipped or failed; the message lists the
            folders searched, each mirror's error, and where to put the files.

    Example:
        >>> (x_train, y_train), _ = load_data()  # doctest: +SKIP
        >>> x_train.dtype, int(y_train[0])  # doctest: +SKIP
        (dtype('uint8'), 5)
    """
    return _files.load_idx_dataset("MNIST", ("mnist",), SHA256, MIRRORS, path)
