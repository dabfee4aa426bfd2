"""Fashion-MNIST: 60,000 training and 10,000 test images of clothing, 28x28.

Xiao, Rasul and Vollgraf (Zalando Research), MIT licence. A drop-in
replacement for MNIST with ten classes, named in ``CLASS_NAMES``. Debian's
package ``dataset-fashion-mnist`` installs it in
``/usr/share/datasets/fashion-mnist/``, which ``load_data`` searches.

    >>> from brainnet.datasets import fashion_mnist
    >>> (x_train, y_train), _ = fashion_mnist.load_data()  # doctest: +SKIP
    >>> fashion_mnist.CLASS_NAMES[y_train[0]]  # doctest: +SKIP
    'Ankle boot'
"""

from __future__ import annotations

import os

import numpy as np

from brainnet.datasets import _files
from brainnet.datasets._files import ChecksumError, DatasetNotFoundError

__all__ = ["CLASS_NAMES", "ChecksumError", "DatasetNotFoundError", "load_data"]

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# SHA-256 of the UNCOMPRESSED IDX bytes, not of the .gz: Debian re-compresses
# these .gz files, so their bytes differ from the canonical download while the
# content is identical. Computed from Debian's files; their uncompressed MD5s
# match those published for the canonical files.
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

# Tried in order, after $BRAINNET_DATASET_MIRROR. The S3 website endpoint
# serves plain http only.
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)


def load_data(
    path: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Loads Fashion-MNIST, as ``keras.datasets.fashion_mnist.load_data()`` does.

    Looks for the four files ``train-images-idx3-ubyte.gz``,
    ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (or the same names uncompressed, without
    ``.gz``) in ``path``, then ``$BRAINNET_DATA_DIR/fashion-mnist/`` (or
    ``fashion_mnist/``), then ``/usr/share/datasets/fashion-mnist/``, then the
    cache ``~/.cache/brainnet/datasets/fashion-mnist/`` (``$BRAINNET_CACHE_DIR``
    or ``$XDG_CACHE_HOME/brainnet`` replace ``~/.cache/brainnet``); the first
    folder holding all four wins. If none does, downloads them into the cache
    (unless ``BRAINNET_OFFLINE=1``). Every file is verified by the SHA-256 of
    its uncompressed content on every load.

    Args:
        path: a FOLDER holding the four files, searched first. Unlike Keras,
            whose ``path`` is a file name inside its cache, this is a folder,
            so a copy you already have can be used where it is. Default None.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x_train`` uint8 of shape
        ``(60000, 28, 28)``, ``y_train`` uint8 of shape ``(60000,)`` with
        values 0-9 (indices into ``CLASS_NAMES``), 6,000 per class;
        ``x_test`` ``(10000, 28, 28)`` and ``y_test`` ``(10000,)``, 1,000 per
        class.

    Raises:
        ChecksumError: (a ``ValueError``) a file is truncated or damaged; the
            message names it, the expected and actual SHA-256, and the fix.
        DatasetNotFoundError: (a ``FileNotFoundError``) no folder holds the
            files and downloading was skipped or failed; the message lists the
            folders searched, each mirror's error, and where to put the files.

    Example:
        >>> (x_train, y_train), _ = load_data()  # doctest: +SKIP
        >>> CLASS_NAMES[y_train[0]]  # doctest: +SKIP
        'Ankle boot'
    """
    return _files.load_idx_dataset(
        "Fashion-MNIST", ("fashion-mnist", "fashion_mnist"), SHA256, MIRRORS, path
    )
