"""Keras 3's ``get_file``: download a file once into brainnet's cache, check its hash, extract archives.

The download, its atomic write and the cache folder are those of the data
sets (``brainnet.datasets._files``): the default folder is
``<cache root>/datasets``, the root being ``$BRAINNET_CACHE_DIR``, else
``$XDG_CACHE_HOME/brainnet``, else ``~/.cache/brainnet``, and
``BRAINNET_OFFLINE=1`` forbids downloads there as here.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import warnings
import zipfile
from pathlib import Path
from typing import Sequence

log = logging.getLogger(__name__)

HASH_ALGORITHMS = ("auto", "sha256", "md5")
ARCHIVE_FORMATS = ("tar", "zip")
_CHUNK = 1 << 20


def _hasher(algorithm: str, file_hash: str) -> tuple[str, "hashlib._Hash"]:
    """Keras's rule: ``"auto"`` is SHA-256 for a 64-digit hash, else MD5."""
    if algorithm == "sha256" or (algorithm == "auto" and len(file_hash) == 64):
        return "sha256", hashlib.sha256()
    return "md5", hashlib.md5()


def _file_hash(path: str | os.PathLike, algorithm: str, file_hash: str) -> tuple[str, str]:
    """Returns ``(algorithm name, hex digest)`` of the file at ``path``."""
    name, hasher = _hasher(algorithm, file_hash)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return name, hasher.hexdigest()


def _archive_formats(archive_format: str | Sequence[str] | None) -> list[str]:
    if archive_format is None:
        return []
    formats = list(ARCHIVE_FORMATS) if archive_format == "auto" else (
        [archive_format] if isinstance(archive_format, str) else list(archive_format))
    for kind in formats:
        if kind not in ARCHIVE_FORMATS:
            raise ValueError(f"get_file: expected archive_format 'auto', 'tar', 'zip', a list of them or None, got "
                             f"{archive_format!r}. Fix: archive_format='auto' tries tar (.tar, .tar.gz, .tar.bz2) "
                             "then zip.")
    return formats


def _writable_base(base: Path) -> Path:
    """``base``, created if needed; a folder in the temporary directory if it cannot be written (as Keras)."""
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / "brainnet"
    log.warning("get_file: %s cannot be written; using %s instead", base, fallback)
    return fallback


def _inside(root: Path, name: str) -> bool:
    path = (root / name).resolve()
    return path == root or root in path.parents


def _extract(archive: Path, destination: Path, formats: list[str]) -> None:
    """Extracts ``archive`` into a new folder renamed to ``destination`` once complete.

    A member whose path would leave ``destination`` is skipped with a
    warning, as Keras does; tar members are also checked by Python's
    ``"data"`` filter (no devices, no links out of the folder).
    """
    kind = next((k for k in formats if (tarfile.is_tarfile if k == "tar" else zipfile.is_zipfile)(archive)), None)
    if kind is None:
        tried = " or ".join(formats) or "no"
        raise ValueError(f"get_file: expected {archive} to be a {tried} archive to extract, got a file that is "
                         "not one. Fix: extract=False to keep the file as it was downloaded, or "
                         "archive_format='auto' to try tar and zip.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)).resolve()
    try:
        with (tarfile.open(archive) if kind == "tar" else zipfile.ZipFile(archive)) as opened:
            members = opened.getmembers() if kind == "tar" else opened.infolist()
            safe = []
            for member in members:
                name = member.name if kind == "tar" else member.filename
                if _inside(tmp, name):
                    safe.append(member)
                else:
                    warnings.warn(f"get_file: skipped {name!r} of {archive.name}: it would be written outside "
                                  f"{destination}.", stacklevel=3)
            extra = {"filter": "data"} if kind == "tar" and hasattr(tarfile, "data_filter") else {}
            opened.extractall(tmp, members=safe, **extra)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is owner-only
        old = None
        if destination.exists() or destination.is_symlink():
            old = destination.with_name(f".{destination.name}.{os.getpid()}.old")
            os.replace(destination, old)
        os.replace(tmp, destination)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def get_file(fname: str | os.PathLike | None = None, origin: str | None = None, untar: bool = False,
             md5_hash: str | None = None, file_hash: str | None = None, cache_subdir: str | os.PathLike = "datasets",
             hash_algorithm: str = "auto", extract: bool = False,
             archive_format: str | Sequence[str] | None = "auto", cache_dir: str | os.PathLike | None = None,
             force_download: bool = False) -> str:
    """Download ``origin`` into the cache unless it is there already; return the file's (or folder's) path.

    The file goes to ``<cache_dir>/<cache_subdir>/<fname>``, by default
    ``~/.cache/brainnet/datasets/<fname>``, the folder brainnet's data sets
    are cached in. A cached file is used as it is, without a request; with a
    ``file_hash`` it is checked first and downloaded again if it does not
    match. A download is written atomically (a temporary file, checked, then
    renamed), so the cache never holds a partial or damaged file.

    With ``extract=True`` a tar (``.tar``, ``.tar.gz``, ``.tar.bz2``) or zip
    archive is unpacked, on every call, and the folder is returned: the
    archive is kept as ``<fname>`` and unpacked into
    ``<fname up to its first dot>_extracted`` when ``fname`` has a dot, else
    kept as ``<fname>_archive`` and unpacked into ``<fname>``.

    Args:
        fname: the file's name in the cache (no folders); None (default)
            takes the last part of ``origin``'s path.
        origin: the URL to download from (required).
        untar: the older spelling of ``extract=True`` with
            ``archive_format="tar"``.
        md5_hash: the older spelling of ``file_hash`` with ``hash_algorithm="md5"``.
        file_hash: the file's expected SHA-256 or MD5, as hexadecimal
            (``sha256sum FILE`` prints it); None (default) checks nothing.
        cache_subdir: the folder under ``cache_dir`` (default
            ``"datasets"``); an absolute path is used as it is.
        hash_algorithm: ``"auto"`` (default: SHA-256 for a 64-digit hash, else
            MD5), ``"sha256"`` or ``"md5"``.
        extract: unpack the archive and return its folder (default False).
        archive_format: ``"auto"`` (default, tar then zip), ``"tar"``,
            ``"zip"``, a list of them, or None (extract nothing).
        cache_dir: the cache's root; None (default) is brainnet's,
            ``$BRAINNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/brainnet``, else
            ``~/.cache/brainnet``. A folder that cannot be written is
            replaced by ``<temporary directory>/brainnet``, as Keras does.
        force_download: download even if the file is cached (default False).

    Returns:
        The path of the file, or of the extraction folder, as a string.

    Raises:
        ValueError: no ``origin``, a ``fname`` with folders or none to take
            from ``origin``, an unknown ``hash_algorithm`` or ``archive_format``,
            or, with ``extract``, a file that is not an archive of those formats.
        brainnet.datasets.ChecksumError: the downloaded file does not have
            ``file_hash`` (a ``ValueError``; the file is not kept).
        OSError: the download failed, or is needed while ``BRAINNET_OFFLINE`` is set.

    Example:
        >>> path = get_file(origin="https://example.com/flowers.tgz", extract=True)  # doctest: +SKIP
        >>> dataset = image_dataset_from_directory(path, image_size=(180, 180))  # doctest: +SKIP
    """
    from brainnet.datasets import _files

    if not isinstance(origin, str) or not origin:
        raise ValueError(f"get_file: expected origin, the URL to download, got {origin!r}. "
                         "Fix: get_file('data.csv', origin='https://example.com/data.csv').")
    if hash_algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"get_file: expected hash_algorithm one of {list(HASH_ALGORITHMS)}, got "
                         f"{hash_algorithm!r}. Fix: hash_algorithm='auto' (SHA-256 for a 64-digit file_hash, "
                         "else MD5).")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    formats = ["tar"] if untar else _archive_formats(archive_format)
    given_name = fname is not None and os.fspath(fname) != ""
    if given_name:
        fname = os.fspath(fname)
        if os.sep in fname or "/" in fname:
            raise ValueError(f"get_file: expected fname to be a file name, got the path {fname!r}. "
                             f"Fix: get_file({os.path.basename(fname)!r}, origin=..., "
                             f"cache_dir={os.path.dirname(fname)!r}) to choose the folder.")
    else:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"get_file: expected origin to end in a file name, or fname, got origin={origin!r} "
                             "and no fname. Fix: get_file('data.zip', origin=...) to name the file.")
    root = Path(cache_dir).expanduser() if cache_dir is not None else _files.cache_root()
    datadir = _writable_base(root) / cache_subdir
    datadir.mkdir(parents=True, exist_ok=True)

    if not (extract or untar):
        target = extraction_dir = datadir / fname
    elif given_name and "." in fname:
        target, extraction_dir = datadir / fname, datadir / f"{fname[:fname.index('.')]}_extracted"
    else:
        target, extraction_dir = datadir / f"{fname}_archive", datadir / fname

    download = force_download or not target.exists()
    if not download and file_hash is not None:
        algorithm, actual = _file_hash(target, hash_algorithm, file_hash)
        if actual != file_hash.lower():
            warnings.warn(f"get_file: the cached {target} has the {algorithm} hash {actual}, not the file_hash "
                          f"{file_hash}: it is incomplete or outdated, so it is downloaded again.", stacklevel=2)
            download = True
    if download:
        if _files.offline():
            raise OSError(f"get_file: expected to download {origin} into {target}, got BRAINNET_OFFLINE set. "
                          f"Fix: unset BRAINNET_OFFLINE, or put the file at {target}.")

        def check(tmp: str) -> None:
            algorithm, actual = _file_hash(tmp, hash_algorithm, file_hash)
            if actual != file_hash.lower():
                raise _files.ChecksumError(
                    f"get_file: expected {origin} to have the {algorithm} hash {file_hash}, got {actual}; the "
                    f"download is incomplete, damaged or another file, and was not kept. Fix: call get_file "
                    f"again; if it fails again, check origin and file_hash ({algorithm}sum FILE prints a hash).")

        log.info("Downloading %s", origin)
        try:
            _files.download(origin, target, check if file_hash is not None else None)
        except (OSError, http.client.HTTPException) as e:
            raise OSError(f"get_file: expected to download {origin}, got {type(e).__name__}: {e}. Fix: check the "
                          f"URL and the connection, or put the file at {target} yourself.") from e
    if extract or untar:
        _extract(target, extraction_dir, formats)
    return str(extraction_dir)
