"""The ``.brainnet`` archive: one ZIP file of JSON and safetensors entries,
written atomically and read with every byte checked.

``model.save("model.brainnet")`` writes one file, a ZIP archive whose
entries are stored uncompressed::

    metadata.json              {"format": "brainnet", "kind": "model",
                                "format_version": 1, "brainnet_version": "0.1.0"}
    config.json                {"class_name": "Sequential", "config": {...},
                                "build_input_shape": [null, 28, 28, 1],
                                "compile_config": {...} or null,
                                "preprocessing": {...} or null,
                                "class_names": ["0", ..., "9"] or null}
    model.weights.safetensors  every weight (the model's state_dict)
    optimizer.json             optional (include_optimizer=True, after training):
    optimizer.safetensors        the optimizer's state (moments, step counts)

``config.json`` holds the architecture (each layer's ``get_config``; for a
functional model, the graph of layer calls) and the compile settings
(optimizer name and config, losses, metrics, loss weights). Two optional
keys say how to use the model on raw data, for ``brainnet predict``:
``preprocessing`` is ``model.preprocessing`` (an
``ImagePreprocessing``'s ``get_config()``: input size, colour mode,
background, the normalisation ``(x − mean) / std``, channel axis) and
``class_names`` is ``model.class_names`` (one name per output unit); both
are plain JSON values, checked on loading, and absent (null) unless set.
Class names are
looked up among brainnet's own classes and those registered with
``@brainnet.saving.register_serializable()``; nothing is ever imported by
name and nothing is unpickled, so a crafted file cannot run code.

``BackupAndRestore`` writes the same kind of archive (kind ``"backup"``)
with the training state (``training_state.json``/``.safetensors``) instead
of ``config.json``.

Every write goes to a temporary file in the same folder, is fsynced and then
renamed over the target (``brainnet._atomic``): a save killed at any point,
or one that fills the disk, leaves the previous file as it was (a killed
save may leave its ``.<name>.*.tmp`` file behind). Reading checks the
archive's CRC-32 checksums, the format version and every entry, and each
error names the file and what is wrong with it.

This module writes and reads the archive and its entries (and names no
model class); ``brainnet.models.saving`` decides what ``config.json`` holds
and rebuilds a model from it, and ``BackupAndRestore`` fills a ``"backup"``
archive with its training state.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save

from .._atomic import atomic_write

ARCHIVE_FORMAT = "brainnet"
ARCHIVE_VERSION = 1
_ENTRIES = {
    "model": {"metadata.json", "config.json", "model.weights.safetensors", "optimizer.json", "optimizer.safetensors",
              "own_variables.safetensors"},  # the stores of layers that override save_own_variables
    "backup": {"metadata.json", "model.weights.safetensors", "optimizer.json", "optimizer.safetensors",
               "training_state.json", "training_state.safetensors"},
    "feature_space": {"metadata.json", "config.json", "feature_space.safetensors"},  # FeatureSpace.save
}
_REQUIRED = {"model": {"config.json", "model.weights.safetensors"}, "backup": {"model.weights.safetensors"},
             "feature_space": {"config.json", "feature_space.safetensors"}}


# ------------------------------------------------------------------ archive
def write_archive(path: str | os.PathLike, kind: str, entries: dict[str, bytes], what: str) -> None:
    """Write ``metadata.json`` and ``entries`` as one ZIP file, atomically.

    Raises:
        OSError: the file could not be written (disk full, no permission);
            the previous file at ``path`` is unchanged.
    """
    metadata = {"format": ARCHIVE_FORMAT, "kind": kind, "format_version": ARCHIVE_VERSION,
                "brainnet_version": _version()}
    files = {"metadata.json": _json_bytes(metadata), **entries}

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, data in files.items():
                archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)

    try:
        atomic_write(path, write)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        fix = "free some disk space or save elsewhere" if err.errno == errno.ENOSPC else "check the folder and its permissions"
        raise type(err)(
            err.errno, f"{what}: could not write {path} ({reason}); the previous file, if any, is "
            f"unchanged. Fix: {fix}."
        ) from err


def read_archive(path: str | os.PathLike, kind: str, what: str) -> dict[str, bytes]:
    """Every entry of a brainnet archive of ``kind``, checked.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a brainnet archive, truncated, corrupted, of another
            kind, of a newer format version, or with unexpected entries.
    """
    path = Path(path)
    if not path.is_file():
        hint = " (model.save(path) writes one; `brainnet run` writes brainnet-out/<recipe>/model.brainnet)"
        raise FileNotFoundError(f"{what}: expected a file, got nothing at {path}. Fix: check the "
                                f"path{hint if kind == 'model' else ''}.")
    head = _first_bytes(path, 8)
    if not head.startswith(b"PK\x03\x04"):
        raise ValueError(f"{what}: {path} is not a brainnet file: {_guess(head, kind)}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ValueError(f"{what}: {path} is damaged or altered: it holds an entry twice.")
            unexpected = sorted(set(names) - _ENTRIES[kind])
            if unexpected:
                raise ValueError(
                    f"{what}: {path} holds unexpected entries {unexpected} (brainnet writes only "
                    f"{sorted(_ENTRIES[kind])}); it was altered or not written by brainnet, and is "
                    "not read. Fix: load a file written by model.save()."
                )
            if any(i.compress_type != zipfile.ZIP_STORED for i in infos):
                raise ValueError(f"{what}: {path} was altered: brainnet stores its entries uncompressed.")
            entries = {i.filename: archive.read(i) for i in infos}  # checks each CRC-32
    except (zipfile.BadZipFile, EOFError, RuntimeError) as err:
        damage = (f"entry {str(err).split('file ')[-1]} fails its CRC-32 check" if "CRC" in str(err)
                  else "the directory at the end of the archive is missing" if "not a zip file" in str(err)
                  else str(err))
        raise ValueError(
            f"{what}: {path} is truncated or corrupted ({damage}). Fix: save it again, or use a "
            "backup copy; brainnet's own saves never leave a half-written file."
        ) from None
    _check_metadata(entries, path, kind, what)
    missing = sorted(_REQUIRED[kind] - set(entries))
    if missing:
        raise ValueError(f"{what}: {path} is incomplete: it lacks {missing}. Fix: save the model again.")
    return entries


def archive_kind(path: str | os.PathLike) -> str | None:
    """The ``kind`` in a brainnet archive's metadata.json, or None when that
    cannot be read (``read_archive`` then says what is wrong)."""
    try:
        with zipfile.ZipFile(path) as archive:
            meta = json.loads(archive.read("metadata.json").decode("utf-8"))
        return meta.get("kind") if isinstance(meta, dict) else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError, RuntimeError):
        return None


def _check_metadata(entries: dict[str, bytes], path: Path, kind: str, what: str) -> None:
    if "metadata.json" not in entries:
        raise ValueError(
            f"{what}: {path} is a ZIP archive but not a brainnet file (no metadata.json; a "
            "torch.save() or Keras file, perhaps). Fix: load a file written by model.save()."
        )
    meta = read_json(entries, "metadata.json", path, what)
    if not isinstance(meta, dict) or meta.get("format") != ARCHIVE_FORMAT:
        raise ValueError(f"{what}: {path} is not a brainnet file (metadata.json has no brainnet format).")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > ARCHIVE_VERSION or version < 1:
        raise ValueError(
            f"{what}: {path} has format version {version!r} (written by brainnet "
            f"{meta.get('brainnet_version', '?')}), this brainnet {_version()} reads version "
            f"{ARCHIVE_VERSION}. Fix: pip install --upgrade brainnet, then load it again."
        )
    if meta.get("kind") != kind:
        fix = ("pass it to BackupAndRestore(backup_dir=...) to continue training" if meta.get("kind") == "backup"
               else "load it with brainnet.models.load_model()")
        raise ValueError(f"{what}: {path} holds a brainnet {meta.get('kind')!r}, expected a {kind!r}. Fix: {fix}.")


def _first_bytes(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _guess(head: bytes, kind: str) -> str:
    if len(head) < 8:
        return "it is empty or truncated. Fix: save the model again."
    if head[:2] == b"\x80\x04" or head[:1] == b"\x80":
        return "it is a Python pickle, which brainnet never loads (unpickling can run code). Fix: save with model.save()."
    header_len = int.from_bytes(head, "little")
    if 2 <= header_len < 100_000_000 and kind == "model":
        return ("it looks like a weights file (safetensors) written by save_weights. "
                "Fix: build the model, then model.load_weights(path).")
    return f"it does not start like a brainnet archive (first bytes {head!r}). Fix: load a file written by model.save()."


def read_json(entries: dict[str, bytes], name: str, path: Path, what: str) -> Any:
    try:
        return json.loads(entries[name].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{what}: {path} is corrupted: {name} is not valid JSON ({err}).") from None


def read_tensors(entries: dict[str, bytes], name: str, path: Path, what: str) -> dict[str, torch.Tensor]:
    try:
        return load_safetensors_bytes(entries[name])
    except (SafetensorError, ValueError, OSError) as err:
        raise ValueError(
            f"{what}: {path} is corrupted: {name} is not a valid safetensors block ({err}). "
            "Fix: save the model again."
        ) from None


def tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()})


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=1, allow_nan=True).encode("utf-8")


def _version() -> str:
    from .. import __version__

    return __version__
