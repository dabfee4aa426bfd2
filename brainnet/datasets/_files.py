"""Locate, verify, download and cache the four IDX files of an MNIST-style data set.

Shared by ``mnist`` and ``fashion_mnist``. ``load_idx_dataset`` looks in each
folder in turn; the first folder that holds all four files wins:

1. the explicit ``path=`` folder;
2. ``$BRAINNET_DATA_DIR/<name>/`` (each spelling in ``folder_names``);
3. the system folder ``SYSTEM_DIR/<name>/`` (``/usr/share/datasets``: Debian's
   ``dataset-fashion-mnist`` installs ``/usr/share/datasets/fashion-mnist/``);
4. the cache ``<cache>/datasets/<name>/``, where ``<cache>`` is
   ``$BRAINNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/brainnet``, else
   ``~/.cache/brainnet``;
5. a download into the cache, unless ``BRAINNET_OFFLINE=1``. Mirrors are
   tried in order per file, ``$BRAINNET_DATASET_MIRROR`` first.

Each file may be gzip-compressed (``name.gz``) or raw (``name``). Every file is
checked, on every load, against the SHA-256 of its UNCOMPRESSED IDX bytes.
Hashing the content rather than the ``.gz`` is deliberate: Debian re-compresses
the Fashion-MNIST ``.gz`` files, so their bytes differ from the canonical
download while the IDX content is identical; a content hash verifies both (and
raw copies). Decompressing and hashing all four files takes well under a second.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.request
import warnings
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from brainnet._atomic import atomic_write
from brainnet.datasets import _idx

FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SYSTEM_DIR = Path("/usr/share/datasets")  # module-level so tests can move it
DOWNLOAD_TIMEOUT = 30.0  # seconds without data before a mirror is given up
_CHUNK = 1 << 20

log = logging.getLogger(__name__)


class DatasetNotFoundError(FileNotFoundError):
    """No folder holds the four files and they could not be downloaded."""


class ChecksumError(ValueError):
    """A data set file is damaged: its content is not the expected IDX file."""


def cache_root() -> Path:
    """Returns brainnet's cache: ``$BRAINNET_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/brainnet``, else ``~/.cache/brainnet``."""
    root = os.environ.get("BRAINNET_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = os.path.join(xdg, "brainnet") if xdg else "~/.cache/brainnet"
    return Path(root).expanduser()


def cache_dir() -> Path:
    """Returns brainnet's data set cache, ``<cache root>/datasets``."""
    return cache_root() / "datasets"


def offline() -> bool:
    """True when ``$BRAINNET_OFFLINE`` forbids downloads."""
    return os.environ.get("BRAINNET_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _find(folder: Path, stem: str) -> Path | None:
    """Returns ``folder/stem.gz`` or ``folder/stem``, whichever exists."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _fix(file: Path) -> str:
    return (
        f" Fix: delete {file} and call load_data() again to re-download it, "
        "or set BRAINNET_DATA_DIR to a folder holding a good copy."
    )


def _verified_idx(data: bytes, name: Path | str, sha256: str, fix: str = "") -> bytes:
    """Returns the uncompressed IDX bytes of ``data`` if their SHA-256 matches."""
    try:
        raw = _idx.decompress(data, str(name))
    except ValueError as e:
        raise ChecksumError(
            f"{e} Its content cannot match the expected SHA-256 {sha256}.{fix}"
        ) from e
    actual = hashlib.sha256(raw).hexdigest()
    if actual != sha256:
        raise ChecksumError(
            f"{name}: SHA-256 mismatch of the uncompressed IDX content: expected "
            f"{sha256}, got {actual}; the file is damaged or not the right file.{fix}"
        )
    return raw


def download(url: str, target: Path, check: Callable[[str], None] | None = None) -> None:
    """Downloads ``url`` to ``target`` atomically, if ``check`` accepts the bytes.

    The bytes go to a temporary file beside ``target``; ``check(tmp_path)``,
    if given, raises to refuse them; the file is then fsynced and renamed. On
    any failure (a connection lost, fewer bytes than announced, a refused
    check) the temporary file is removed, so ``target`` never holds a partial
    or bad file and a previous ``target`` is untouched.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "brainnet"})

    def fetch(tmp: str) -> None:
        with open(tmp, "wb") as f:
            with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
                announced = response.headers.get("Content-Length")
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
            if announced is not None and f.tell() != int(announced):
                raise OSError(f"download interrupted: received {f.tell()} of {announced} bytes")
        if check is not None:
            check(tmp)

    atomic_write(target, fetch)


def _download(url: str, folder: Path, filename: str, sha256: str) -> None:
    """Downloads ``url`` to ``folder/filename`` if its IDX content's hash matches."""
    download(url, folder / filename, lambda tmp: _verified_idx(Path(tmp).read_bytes(), filename, sha256))


def _download_all(
    folder: Path, sha256: Mapping[str, str], mirrors: Sequence[str]
) -> list[str]:
    """Downloads the missing files into ``folder``; returns the failures."""
    env_mirror = os.environ.get("BRAINNET_DATASET_MIRROR")
    bases = ([env_mirror] if env_mirror else []) + list(mirrors)
    if not bases:
        return ["no mirror is configured"]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create the cache folder {folder}: {e}"]
    for stem in FILES:
        if _find(folder, stem):
            continue
        failures = []
        for base in bases:
            url = base.rstrip("/") + f"/{stem}.gz"
            log.info("Downloading %s", url)
            try:
                _download(url, folder, f"{stem}.gz", sha256[stem])
                break
            except (OSError, ValueError, http.client.HTTPException) as e:
                failures.append(f"{url}: {type(e).__name__}: {e}")
        else:
            return failures
    return []


def _search_list(
    path: str | os.PathLike | None, folder_names: Sequence[str]
) -> list[tuple[Path | None, str]]:
    """Returns ``(folder, why)`` in search order, the cache last; None: unset."""
    folders = []
    if path is not None:
        folders.append((Path(path).expanduser(), "path="))
    data_dir = os.environ.get("BRAINNET_DATA_DIR")
    if data_dir:
        for name in folder_names:
            folders.append((Path(data_dir).expanduser() / name, "$BRAINNET_DATA_DIR"))
    else:
        unset = f"$BRAINNET_DATA_DIR/{folder_names[0]}/: BRAINNET_DATA_DIR is not set"
        folders.append((None, unset))
    for name in folder_names:
        folders.append((SYSTEM_DIR / name, "system folder"))
    folders.append((cache_dir() / folder_names[0], "cache"))
    return folders


def _load_folder(
    folder: Path, sha256: Mapping[str, str]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None:
    """Returns the verified arrays if ``folder`` holds all four files, else None."""
    files = [_find(folder, stem) for stem in FILES]
    if not all(files):
        return None
    log.info("Loading %s", folder)
    arrays = []
    for file, stem in zip(files, FILES):
        raw = _verified_idx(file.read_bytes(), file, sha256[stem], _fix(file))
        arrays.append(_idx.parse_idx(raw, str(file)))
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def _warn_path_unused(title: str, path: str | os.PathLike, used: Path) -> None:
    given = Path(path).expanduser()
    got = "a file" if given.is_file() else "a folder without them" if given.is_dir() else "nothing (no such path)"
    warnings.warn(
        f"load_data: expected path={str(path)!r} to be a folder holding the four {title} files, got "
        f"{got}; loaded them from {used} instead. Fix: path='/folder/with/the/files', or leave path out "
        "(unlike Keras's, brainnet's path is a folder, not a file name in the cache).",
        stacklevel=4,
    )


def load_idx_dataset(
    title: str,
    folder_names: Sequence[str],
    sha256: Mapping[str, str],
    mirrors: Sequence[str],
    path: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Finds (or downloads), verifies and parses the four IDX files.

    Args:
        title: the data set's name for messages, e.g. ``"MNIST"``.
        folder_names: folder spellings under ``$BRAINNET_DATA_DIR`` and the
            system folder; the first is the canonical one, used in the cache.
        sha256: SHA-256 of each file's uncompressed IDX bytes, by stem.
        mirrors: base URLs tried in order after ``$BRAINNET_DATASET_MIRROR``.
        path: an explicit folder searched first, or None.

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays.

    Raises:
        ChecksumError: a file in the folder used is truncated or damaged.
        DatasetNotFoundError: no folder holds the files and the download was
            skipped (``BRAINNET_OFFLINE=1``) or failed on every mirror.
    """
    searched = _search_list(path, folder_names)
    for folder, why in searched:
        arrays = _load_folder(folder, sha256) if folder else None
        if arrays is not None:
            if path is not None and why != "path=":
                _warn_path_unused(title, path, folder)
            return arrays
    cache = searched[-1][0]
    if offline():
        failures = ["skipped: BRAINNET_OFFLINE is set"]
    else:
        failures = _download_all(cache, sha256, mirrors)
        arrays = None if failures else _load_folder(cache, sha256)
        if arrays is not None:
            return arrays
    name = folder_names[0]
    lines = [f"{title} not found. load_data() needs the four files"]
    lines += [f"    {stem}.gz" for stem in FILES]
    lines.append("(or the same names without .gz, uncompressed), and looked in:")
    lines += [f"    {folder}  ({why})" if folder else f"    {why}" for folder, why in searched]
    lines.append("Download:")
    lines += [f"    {failure}" for failure in failures]
    lines.append(
        f"Fix: put the four files in {cache}, or set "
        f"BRAINNET_DATA_DIR=/path/to/datasets (a folder holding {name}/), or "
        "call load_data(path='/folder/with/the/files'), or connect to the "
        "internet and call load_data() again."
    )
    raise DatasetNotFoundError("\n".join(lines))
