"""Ready-to-use data sets, returned as NumPy arrays exactly as Keras returns them.

Each submodule has ``load_data(path=None)`` returning
``(x_train, y_train), (x_test, y_test)`` and a ``CLASS_NAMES`` tuple:

- ``mnist``: handwritten digits, 28x28 uint8, labels 0-9.
- ``fashion_mnist``: clothing, 28x28 uint8, labels 0-9.

``fortunes`` is text, not images: ``fortunes.load_data()`` returns the
training and validation text (strings) of Debian's ``fortunes`` packages,
read from ``path=``, ``$BRAINNET_DATA_DIR/fortunes/`` or
``/usr/share/games/fortunes/``; it never downloads.

Files are found in ``path=``, ``$BRAINNET_DATA_DIR/<name>/``,
``/usr/share/datasets/<name>/`` or the cache ``~/.cache/brainnet/datasets/``,
else downloaded into the cache (not with ``BRAINNET_OFFLINE=1``); each is
verified by SHA-256 on every load.

    >>> from brainnet.datasets import mnist
    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
"""

from brainnet.datasets import fashion_mnist, fortunes, mnist
from brainnet.datasets._files import ChecksumError, DatasetNotFoundError

__all__ = ["ChecksumError", "DatasetNotFoundError", "fashion_mnist", "fortunes", "mnist"]


# Keras's other data sets: not here (brainnet reads what it can check offline).
_KERAS_ONLY = ("boston_housing", "california_housing", "cifar10", "cifar100", "imdb", "reuters")


def __getattr__(name: str):
    if name in _KERAS_ONLY:
        raise AttributeError(
            f"module 'brainnet.datasets' has no attribute {name!r}: Keras's keras.datasets.{name} was expected, but "
            "brainnet's data sets are mnist, fashion_mnist (images) and fortunes (text). Fix: train on "
            "brainnet.datasets.fashion_mnist.load_data() (or mnist), or load your own arrays with NumPy."
        )
    raise AttributeError(f"module 'brainnet.datasets' has no attribute {name!r}")
