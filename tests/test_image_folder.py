"""brainnet.utils.image_dataset_from_directory on folders of real MNIST digits
(and Fashion-MNIST garments, where Debian's package is installed) written
as PNG files by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brainnet.layers import Conv2D, Dense, Flatten, MaxPooling2D, Rescaling
from brainnet.models import Sequential
from brainnet.utils import image_dataset_from_directory, set_random_seed

DIGITS = {"one": 1, "seven": 7, "zero": 0}  # folder name -> digit; alphabetical: one, seven, zero


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _write(root: Path, images: np.ndarray, labels: np.ndarray, classes: dict[str, int], per_class: int) -> None:
    for name, label in classes.items():
        (root / name).mkdir(parents=True)
        for k, image in enumerate(images[labels == label][:per_class]):
            Image.fromarray(image).save(root / name / f"{k:03d}.png")


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_dir) -> Path:
    root = tmp_path_factory.mktemp("digits")
    _write(root, _idx(mnist_dir / "train-images-idx3-ubyte.gz"), _idx(mnist_dir / "train-labels-idx1-ubyte.gz"),
           DIGITS, 60)
    return root


def _all(loader) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*loader)
    return torch.cat(xs).numpy(), torch.cat(ys).numpy()


def test_labels_follow_the_folders_in_alphabetical_order(digits):
    data = image_dataset_from_directory(digits, color_mode="grayscale", image_size=(28, 28), batch_size=50,
                                        shuffle=False)
    assert data.class_names == ["one", "seven", "zero"]
    x, y = _all(data)
    assert x.shape == (180, 28, 28, 1) and x.dtype == np.float32 and y.dtype == np.int32
    assert 0 <= x.min() and x.max() == 255.0  # Keras's scale: 0-255, not 0-1
    for path, label in zip(data.file_paths, y):  # each file's label names its folder
        assert Path(path).parent.name == data.class_names[label]
    first = np.asarray(Image.open(data.file_paths[0]), dtype=np.float32)
    np.testing.assert_array_equal(x[0, :, :, 0], first)  # 28 × 28 in, 28 × 28 out: the pixels as they are


def test_the_seeded_split_is_disjoint_and_keeps_the_last_fraction_for_validation(digits):
    train, val = image_dataset_from_directory(digits, validation_split=0.25, subset="both", seed=7,
                                              image_size=(14, 14), batch_size=32)
    assert len(train.file_paths) == 135 and len(val.file_paths) == 45
    assert not set(train.file_paths) & set(val.file_paths)
    alone = image_dataset_from_directory(digits, validation_split=0.25, subset="validation", seed=7,
                                         image_size=(14, 14))
    assert alone.file_paths == val.file_paths  # two calls with the same seed cut the same list
    # Keras: the sorted list shuffled once with np.random.RandomState(seed), the last 25 % for validation
    files = sorted(str(p) for p in digits.rglob("*.png"))
    order = np.arange(180)
    np.random.RandomState(7).shuffle(order)
    assert val.file_paths == [files[i] for i in order[-45:]]
    x, y = next(iter(train))
    assert x.shape == (32, 14, 14, 3) and y.shape == (32,)  # rgb by default, resized


def test_label_modes_as_keras(digits):
    data = image_dataset_from_directory(digits, label_mode="categorical", color_mode="grayscale",
                                        image_size=(8, 8), batch_size=10, shuffle=False)
    x, y = next(iter(data))
    assert y.dtype == torch.float32 and y.shape == (10, 3) and torch.all(y.sum(1) == 1)
    images_only = image_dataset_from_directory(digits, label_mode=None, image_size=(8, 8), batch_size=10,
                                               shuffle=False)
    assert next(iter(images_only)).shape == (10, 8, 8, 3)


def test_a_small_cnn_learns_the_digits_from_the_folders(digits):
    train, val = image_dataset_from_directory(digits, validation_split=0.25, subset="both", seed=1,
                                              color_mode="grayscale", image_size=(28, 28), batch_size=16)
    set_random_seed(0)
    model = Sequential([Rescaling(1 / 255, input_shape=(28, 28, 1)), Conv2D(8, 3, activation="relu"),
                        MaxPooling2D(), Flatten(), Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(train, validation_data=val, epochs=5, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.8  # chance is 1/3
    predictions = model.predict(val).argmax(1)
    labels = np.concatenate([y.numpy() for _, y in val])
    assert (predictions == labels).mean() == pytest.approx(history.history["val_accuracy"][-1])


def test_fashion_mnist_garments_from_folders(tmp_path, fashion_dir):
    classes = {"sneaker": 7, "trouser": 1}
    _write(tmp_path, _idx(fashion_dir / "t10k-images-idx3-ubyte.gz"), _idx(fashion_dir / "t10k-labels-idx1-ubyte.gz"),
           classes, 40)
    train, val = image_dataset_from_directory(tmp_path, validation_split=0.25, subset="both", seed=3,
                                              label_mode="binary", color_mode="grayscale", image_size=(28, 28),
                                              batch_size=10)
    assert train.class_names == ["sneaker", "trouser"]
    set_random_seed(0)
    model = Sequential([Rescaling(1 / 255, input_shape=(28, 28, 1)), Flatten(), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"], device="cpu")
    history = model.fit(train, validation_data=val, epochs=5, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.8


@pytest.mark.parametrize("kwargs, message", [
    ({"label_mode": "sparse"}, r"expected label_mode 'int', 'categorical', 'binary' or None, got 'sparse'"),
    ({"color_mode": "gray"}, r"expected color_mode 'grayscale', 'rgb' or 'rgba', got 'gray'"),
    ({"validation_split": 0.2}, r"expected subset and validation_split together or not at all"),
    ({"validation_split": 0.2, "subset": "both"}, r"expected seed a number with validation_split and shuffle"),
    ({"subset": "test", "validation_split": 0.2, "seed": 1}, r"expected subset 'training', 'validation' or 'both'"),
    ({"label_mode": "binary"}, r"expected label_mode='binary' to have 2 classes, got \['one', 'seven', 'zero'\]"),
    ({"class_names": ["one", "two"]}, r"expected class_names the names of the subfolders"),
    ({"image_size": (0, 28)}, r"expected image_size \(height, width\) in pixels"),
    ({"interpolation": "bicubic"}, r"expected interpolation 'bilinear' or 'nearest'"),
])
def test_arguments_that_cannot_be_right_are_refused(digits, kwargs, message):
    with pytest.raises(ValueError, match=r"image_dataset_from_directory: " + message + r".*Fix: "):
        image_dataset_from_directory(digits, **kwargs)


def test_a_missing_or_empty_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"expected directory a folder holding one subfolder per class, got "
                                         r"'.*nowhere'\. Fix: check the path"):
        image_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "cats").mkdir()
    with pytest.raises(ValueError, match=r"expected pictures \(\.bmp, \.gif, \.jpeg, \.jpg, \.png\) in .*Fix: put "
                                         r"the pictures in one subfolder per class"):
        image_dataset_from_directory(tmp_path)
