"""load_data(): real files, search order, integrity, download and cache, errors."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from brainnet.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    _files,
    fashion_mnist,
    mnist,
)

FILES = [f"{stem}.gz" for stem in _files.FILES]
# Label counts published in shared/datasets/mnist/SOURCE.md.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def link_copy(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> Path:
    """Makes ``dst`` a folder of symlinks to ``src``'s four files."""
    dst.mkdir(parents=True)
    for name in FILES:
        if name not in skip:
            (dst / name).symlink_to(_files._find(src, name[:-3]))
    return dst


def decoy(dst: Path) -> Path:
    """A folder holding the four names with junk content: using it must fail."""
    dst.mkdir(parents=True)
    for name in FILES:
        (dst / name).write_bytes(gzip.compress(b"junk"))
    return dst


@pytest.fixture(scope="module")
def mnist_arrays(mnist_dir):
    """The reference arrays, parsed here without brainnet."""

    def read(stem, header):
        raw = gzip.decompress((mnist_dir / f"{stem}.gz").read_bytes())
        return np.frombuffer(raw, np.uint8, offset=header)

    x_train, y_train, x_test, y_test = (
        read(stem, 16 if "images" in stem else 8) for stem in _files.FILES
    )
    return ((x_train.reshape(-1, 28, 28), y_train), (x_test.reshape(-1, 28, 28), y_test))


def assert_same(a, b):
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        assert xa.dtype == ya.dtype == np.uint8


# Real data ------------------------------------------------------------------


def test_mnist_real_shapes_dtypes_and_label_counts(mnist_dir, monkeypatch):
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(mnist_dir.parent))
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9]
    assert x_train.min() == 0 and x_train.max() == 255
    assert mnist.CLASS_NAMES == tuple("0123456789")


def test_fashion_mnist_real_from_system_folder(fashion_dir):
    # No path, no BRAINNET_DATA_DIR, empty cache, offline: only the system folder.
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert {a.dtype for a in (x_train, y_train, x_test, y_test)} == {np.dtype(np.uint8)}
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"
    assert len(fashion_mnist.CLASS_NAMES) == 10


def test_fashion_mnist_underscore_folder_in_data_dir(
    fashion_dir, tmp_path, monkeypatch, no_system_dir
):
    link_copy(fashion_dir, tmp_path / "data" / "fashion_mnist")
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(tmp_path / "data"))
    (_, y_train), _ = fashion_mnist.load_data()
    assert np.bincount(y_train).tolist() == [6000] * 10


# Search order ---------------------------------------------------------------


@pytest.mark.parametrize("winner", ["path", "data_dir", "system", "cache"])
def test_search_order(winner, mnist_dir, mnist_arrays, tmp_path, monkeypatch):
    """The winner holds good files, every later folder holds junk that would fail."""
    order = ["path", "data_dir", "system", "cache"]
    folders = {
        "path": tmp_path / "explicit",
        "data_dir": tmp_path / "data" / "mnist",
        "system": tmp_path / "system" / "mnist",
        "cache": tmp_path / "cache" / "datasets" / "mnist",
    }
    for place in order[order.index(winner):]:
        if place == winner:
            link_copy(mnist_dir, folders[place])
        else:
            decoy(folders[place])
    # An earlier folder missing one file is skipped, not used.
    for place in order[: order.index(winner)]:
        link_copy(mnist_dir, folders[place], skip=(FILES[-1],))
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(_files, "SYSTEM_DIR", tmp_path / "system")
    if winner == "path":
        assert_same(mnist.load_data(path=str(folders["path"])), mnist_arrays)
    else:  # the path= folder lacks a file: the data come from further on, with a warning that says so
        with pytest.warns(UserWarning, match=r"got a folder without them; loaded them from "):
            assert_same(mnist.load_data(path=str(folders["path"])), mnist_arrays)


def test_decoy_would_be_detected(tmp_path):
    folder = decoy(tmp_path / "junk")
    with pytest.raises(ChecksumError):
        mnist.load_data(path=folder)


def test_uncompressed_files_are_accepted(mnist_dir, mnist_arrays, tmp_path):
    folder = link_copy(mnist_dir, tmp_path / "mixed", skip=FILES[1:3])
    for name in FILES[1:3]:  # train labels and test images, uncompressed
        (folder / name[:-3]).write_bytes(gzip.decompress((mnist_dir / name).read_bytes()))
    assert_same(mnist.load_data(path=folder), mnist_arrays)


# Integrity --------------------------------------------------------------------


def test_wrong_content_raises_checksum_error_with_both_hashes(mnist_dir, tmp_path):
    folder = link_copy(mnist_dir, tmp_path / "bad", skip=(FILES[3],))
    raw = bytearray(gzip.decompress((mnist_dir / FILES[3]).read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed: still a valid IDX file
    (folder / FILES[3]).write_bytes(gzip.compress(bytes(raw)))
    actual = hashlib.sha256(raw).hexdigest()
    expected = mnist.SHA256["t10k-labels-idx1-ubyte"]
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: SHA-256 mismatch") as info:
        mnist.load_data(path=folder)
    message = str(info.value)
    assert isinstance(info.value, ChecksumError)
    assert expected in message and actual in message
    assert f"delete {folder / FILES[3]}" in message and "BRAINNET_DATA_DIR" in message


def test_truncated_gz_raises_checksum_error_not_eof(mnist_dir, tmp_path):
    folder = link_copy(mnist_dir, tmp_path / "cut", skip=(FILES[0],))
    data = (mnist_dir / FILES[0]).read_bytes()
    (folder / FILES[0]).write_bytes(data[: len(data) // 2])
    expected = r"train-images-idx3-ubyte\.gz: the gzip data is truncated"
    with pytest.raises(ChecksumError, match=expected) as info:
        mnist.load_data(path=folder)
    assert mnist.SHA256["train-images-idx3-ubyte"] in str(info.value)
    assert "delete" in str(info.value)


# Nothing found ----------------------------------------------------------------


def test_offline_nothing_found_names_files_folders_and_variable(
    tmp_path, monkeypatch, no_system_dir, serve
):
    server = serve({})
    monkeypatch.setenv("BRAINNET_DATASET_MIRROR", server.url)
    monkeypatch.setenv("BRAINNET_DATA_DIR", str(tmp_path / "data"))
    cache = tmp_path / "cache" / "datasets" / "mnist"
    with pytest.raises(DatasetNotFoundError, match=r"train-images-idx3-ubyte\.gz") as info:
        mnist.load_data(path=tmp_path / "mine")
    message = str(info.value)
    for needle in FILES + [str(tmp_path / "mine"), str(tmp_path / "data" / "mnist"),
                           str(no_system_dir / "mnist"), str(cache), "BRAINNET_DATA_DIR=",
                           "BRAINNET_OFFLINE"]:
        assert needle in message
    assert isinstance(info.value, FileNotFoundError)
    assert server.requests == []  # offline: no download attempted


def test_unset_data_dir_is_named_in_error(no_system_dir):
    with pytest.raises(OSError, match=r"BRAINNET_DATA_DIR is not set"):
        fashion_mnist.load_data()


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINNET_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _files.cache_dir() == tmp_path / "a" / "datasets"
    monkeypatch.delenv("BRAINNET_CACHE_DIR")
    assert _files.cache_dir() == tmp_path / "xdg" / "brainnet" / "datasets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _files.cache_dir() == tmp_path / "home" / ".cache" / "brainnet" / "datasets"


# Download ---------------------------------------------------------------------


def real_files(mnist_dir: Path) -> dict[str, bytes]:
    return {name: (mnist_dir / name).read_bytes() for name in FILES}


@pytest.fixture
def online(monkeypatch, no_system_dir, tmp_path):
    """Downloads allowed; returns the (empty) cache folder for MNIST."""
    monkeypatch.delenv("BRAINNET_OFFLINE")
    return tmp_path / "cache" / "datasets" / "mnist"


def test_download_into_cache_then_load_from_cache(
    mnist_dir, mnist_arrays, online, serve, monkeypatch
):
    files = real_files(mnist_dir)
    server = serve(files)
    monkeypatch.setenv("BRAINNET_DATASET_MIRROR", server.url)
    assert_same(mnist.load_data(), mnist_arrays)
    assert sorted(server.requests) == sorted(f"/data/{name}" for name in FILES)
    assert sorted(p.name for p in online.iterdir()) == sorted(FILES)  # no temp file left
    assert all((online / name).read_bytes() == files[name] for name in FILES)

    server.close()  # the second load must not need the server
    assert_same(mnist.load_data(), mnist_arrays)
    assert len(server.requests) == 4


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


@pytest.mark.parametrize(
    "damage", ["flipped gz byte", "flipped idx byte", "truncated", "interrupted"]
)
def test_bad_download_leaves_nothing_in_cache(damage, mnist_dir, online, serve, monkeypatch):
    files = real_files(mnist_dir)
    good = files[FILES[0]]
    if damage == "flipped gz byte":
        bad = flip(good, len(good) // 2)
    elif damage == "flipped idx byte":  # a valid gzip of wrong content
        bad = gzip.compress(flip(gzip.decompress(good), 1000), compresslevel=1)
    elif damage == "truncated":
        bad = good[: len(good) // 2]
    else:  # announces the full length, sends half, closes the connection
        bad = (good[: len(good) // 2], len(good))
    server = serve({**files, FILES[0]: bad})
    monkeypatch.setenv("BRAINNET_DATASET_MIRROR", server.url)
    with pytest.raises(DatasetNotFoundError, match=r"train-images-idx3-ubyte\.gz") as info:
        mnist.load_data()
    message = str(info.value)
    assert server.url + FILES[0] in message
    if damage == "interrupted":
        assert f"interrupted: received {len(good) // 2} of {len(good)} bytes" in message
    else:
        assert mnist.SHA256["train-images-idx3-ubyte"] in message
    if damage == "flipped idx byte":
        assert "SHA-256 mismatch" in message
    assert list(online.iterdir()) == []  # no final file, no temp file


def test_corrupt_first_mirror_then_good_second(mnist_dir, mnist_arrays, online, serve, monkeypatch):
    files = real_files(mnist_dir)
    bad = serve({name: flip(data, len(data) - 3) for name, data in files.items()})
    good = serve(files)
    monkeypatch.setenv("BRAINNET_DATASET_MIRROR", bad.url)
    monkeypatch.setattr(mnist, "MIRRORS", (good.url,))
    assert_same(mnist.load_data(), mnist_arrays)
    assert len(bad.requests) == 4 and len(good.requests) == 4
    assert sorted(p.name for p in online.iterdir()) == sorted(FILES)


def test_all_mirrors_failing_lists_each_failure(mnist_dir, online, serve, monkeypatch):
    files = real_files(mnist_dir)
    missing = serve({})
    corrupt = serve({name: data[:100] for name, data in files.items()})
    monkeypatch.setenv("BRAINNET_DATASET_MIRROR", missing.url)
    monkeypatch.setattr(mnist, "MIRRORS", (corrupt.url,))
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data()
    message = str(info.value)
    assert f"{missing.url}{FILES[0]}: HTTPError: HTTP Error 404" in message
    assert f"{corrupt.url}{FILES[0]}: ChecksumError:" in message
    assert "truncated" in message
    assert list(online.iterdir()) == []
