"""utils.get_file against a local HTTP server on 127.0.0.1 (this folder's
``serve`` fixture; ``hermetic`` gives each test an empty cache and
BRAINNET_OFFLINE=1, which the downloading tests lift): the download, the
cache hit without a request, force_download, hash checks, the extraction of
a .tar.gz and a .zip with Keras's names, and each error's text."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from brainnet.datasets import ChecksumError
from brainnet.datasets._files import cache_dir
from brainnet.utils import get_file

BODY = b"sepal_length,species\n5.1,setosa\n7.0,versicolor\n" * 100
SHA256 = hashlib.sha256(BODY).hexdigest()
MD5 = hashlib.md5(BODY).hexdigest()


@pytest.fixture
def online(monkeypatch):
    monkeypatch.delenv("BRAINNET_OFFLINE", raising=False)


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def test_download_then_cache_hit_without_a_request(serve, online):
    server = serve({"iris.csv": BODY})
    path = get_file(origin=server.url + "iris.csv")
    assert path == str(cache_dir() / "iris.csv")  # the data sets' cache, as Keras's ~/.keras/datasets
    assert Path(path).read_bytes() == BODY
    assert server.requests == ["/data/iris.csv"]
    assert get_file(origin=server.url + "iris.csv", file_hash=SHA256) == path
    assert get_file("iris.csv", server.url + "iris.csv", md5_hash=MD5) == path
    assert len(server.requests) == 1  # cached, and the hashes match: no second request
    assert [p.name for p in cache_dir().iterdir()] == ["iris.csv"]  # no temporary file left
    get_file(origin=server.url + "iris.csv", force_download=True)
    assert len(server.requests) == 2


def test_fname_cache_dir_and_cache_subdir(serve, online, tmp_path):
    server = serve({"iris.csv": BODY})
    path = get_file("flowers.csv", origin=server.url + "iris.csv", cache_dir=tmp_path / "mine", cache_subdir="tables")
    assert path == str(tmp_path / "mine" / "tables" / "flowers.csv")
    absolute = tmp_path / "elsewhere"
    path = get_file(origin=server.url + "iris.csv", cache_dir=tmp_path / "mine", cache_subdir=absolute)
    assert path == str(absolute / "iris.csv") and Path(path).read_bytes() == BODY


def test_hash_mismatch_is_refused_and_nothing_kept(serve, online):
    server = serve({"iris.csv": BODY})
    wrong = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(ChecksumError, match=rf"get_file: expected {server.url}iris.csv to have the sha256 hash "
                                            rf"{wrong}, got {SHA256}; .*was not kept\. Fix: call get_file again"):
        get_file(origin=server.url + "iris.csv", file_hash=wrong)
    assert not cache_dir().exists() or list(cache_dir().iterdir()) == []
    with pytest.raises(ValueError, match=r"the md5 hash 0{32}, got " + MD5):
        get_file(origin=server.url + "iris.csv", file_hash="0" * 32)  # auto: 32 digits are MD5
    with pytest.raises(ValueError, match=r"the md5 hash " + SHA256):
        get_file(origin=server.url + "iris.csv", file_hash=SHA256, hash_algorithm="md5")
    assert get_file(origin=server.url + "iris.csv", file_hash=SHA256.upper(), hash_algorithm="sha256")


def test_damaged_cached_file_is_downloaded_again(serve, online):
    server = serve({"iris.csv": BODY})
    path = Path(get_file(origin=server.url + "iris.csv"))
    path.write_bytes(BODY[:50])  # truncated
    assert get_file(origin=server.url + "iris.csv") == str(path) and len(server.requests) == 1  # no hash: kept
    with pytest.warns(UserWarning, match=r"get_file: the cached .*iris.csv has the sha256 hash .*not the "
                                         r"file_hash .*downloaded again"):
        get_file(origin=server.url + "iris.csv", file_hash=SHA256)
    assert path.read_bytes() == BODY and len(server.requests) == 2


def test_interrupted_download_keeps_the_previous_file(serve, online):
    server = serve({"iris.csv": (BODY[:100], len(BODY))})  # announces the whole file, sends 100 bytes
    with pytest.raises(OSError, match=r"get_file: expected to download .*iris.csv, got .*Fix: check the URL"):
        get_file(origin=server.url + "iris.csv")
    assert not (cache_dir() / "iris.csv").exists()
    with pytest.raises(OSError, match=r"got HTTPError: HTTP Error 404.*Fix: check the URL and the connection"):
        get_file(origin=server.url + "missing.csv")


def test_extract_tar_gz_and_zip_with_keras_names(serve, online):
    members = {"flowers/roses/a.txt": b"rose", "flowers/tulips/b.txt": b"tulip"}
    server = serve({"flowers.tar.gz": _tar_gz(members), "flowers.zip": _zip(members)})
    # no fname: the archive is kept as <name>_archive, extracted into <name>
    folder = get_file(origin=server.url + "flowers.tar.gz", extract=True)
    assert folder == str(cache_dir() / "flowers.tar.gz")
    assert (cache_dir() / "flowers.tar.gz_archive").is_file()
    assert (Path(folder) / "flowers/tulips/b.txt").read_bytes() == b"tulip"
    # fname with a dot: kept as fname, extracted into <fname up to the dot>_extracted
    folder = get_file("pictures.zip", origin=server.url + "flowers.zip", extract=True)
    assert folder == str(cache_dir() / "pictures_extracted")
    assert (cache_dir() / "pictures.zip").is_file()
    assert sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*.txt")) == [
        "flowers/roses/a.txt", "flowers/tulips/b.txt"]
    # fname without a dot: extracted into fname; untar is extract with tar; a second call is a cache hit
    # that extracts again, over a folder damaged in between
    folder = get_file("petals", origin=server.url + "flowers.tar.gz", untar=True)
    assert folder == str(cache_dir() / "petals") and (cache_dir() / "petals_archive").is_file()
    requests = len(server.requests)
    (Path(folder) / "flowers/roses/a.txt").unlink()
    assert get_file("petals", origin=server.url + "flowers.tar.gz", untar=True) == folder
    assert (Path(folder) / "flowers/roses/a.txt").read_bytes() == b"rose" and len(server.requests) == requests
    assert not [p for p in cache_dir().iterdir() if p.name.startswith(".")]  # no temporary folders left
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(folder).st_mode & 0o777 == 0o777 & ~umask  # a plain mkdir's mode, not mkdtemp's 0o700


def test_extract_skips_members_outside_the_folder(serve, online, tmp_path):
    server = serve({"evil.tar.gz": _tar_gz({"../escaped.txt": b"x", "ok.txt": b"fine"})})
    with pytest.warns(UserWarning, match=r"get_file: skipped '\.\./escaped.txt' of evil.tar.gz_archive: it would "
                                         r"be written outside"):
        folder = Path(get_file(origin=server.url + "evil.tar.gz", extract=True))
    assert (folder / "ok.txt").read_bytes() == b"fine" and not (folder.parent / "escaped.txt").exists()


def test_errors_say_what_and_the_fix(serve, monkeypatch):
    with pytest.raises(ValueError, match=r"get_file: expected origin, the URL to download, got None\. Fix: "):
        get_file("data.csv")
    with pytest.raises(ValueError, match=r"get_file: expected hash_algorithm one of \['auto', 'sha256', 'md5'\], "
                                         r"got 'sha1'\. Fix: hash_algorithm='auto'"):
        get_file(origin="http://127.0.0.1:9/x.csv", file_hash="ab", hash_algorithm="sha1")
    with pytest.raises(ValueError, match=r"get_file: expected archive_format 'auto', 'tar', 'zip'.*got 'rar'\. "
                                         r"Fix: archive_format='auto'"):
        get_file(origin="http://127.0.0.1:9/x.rar", extract=True, archive_format="rar")
    with pytest.raises(ValueError, match=r"get_file: expected fname to be a file name, got the path 'sub/x.csv'\. "
                                         r"Fix: get_file\('x.csv', origin=\.\.\., cache_dir='sub'\)"):
        get_file("sub/x.csv", origin="http://127.0.0.1:9/x.csv")
    with pytest.raises(ValueError, match=r"get_file: expected origin to end in a file name, or fname, got "
                                         r"origin='http://127.0.0.1:9/' and no fname\. Fix: get_file\('data.zip'"):
        get_file(origin="http://127.0.0.1:9/")
    server = serve({"iris.csv": BODY})
    with pytest.raises(OSError, match=r"get_file: expected to download .*iris.csv into .*iris.csv, got "
                                      r"BRAINNET_OFFLINE set\. Fix: unset BRAINNET_OFFLINE, or put the file at"):
        get_file(origin=server.url + "iris.csv")
    assert server.requests == []
    monkeypatch.delenv("BRAINNET_OFFLINE")
    with pytest.raises(ValueError, match=r"get_file: expected .*iris.csv_archive to be a tar or zip archive to "
                                         r"extract, got a file that is not one\. Fix: extract=False"):
        get_file(origin=server.url + "iris.csv", extract=True)
    with pytest.raises(ValueError, match=r"to be a zip archive to extract"):
        get_file(origin=server.url + "iris.csv", extract=True, archive_format=["zip"])


def test_unwritable_cache_dir_falls_back_to_the_temporary_directory(serve, online, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")  # a folder cannot be made there
    server = serve({"iris.csv": BODY})
    path = get_file(origin=server.url + "iris.csv", cache_dir=blocker)
    assert path == str(tmp_path / "tmp" / "brainnet" / "datasets" / "iris.csv") and Path(path).read_bytes() == BODY
