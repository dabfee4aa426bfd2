"""Models on disk: one file, JSON and safetensors only, written atomically.

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

``save_weights`` / ``load_weights`` write and read the weights alone as a
plain safetensors file.
"""

from __future__ import annotations

import errno
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import load_file, save, save_file

from .. import _registry
from ..distributed import is_main_process
from .._atomic import atomic_write

FORMAT = "brainnet-weights"  # metadata of save_weights files
VERSION = "1"
ARCHIVE_FORMAT = "brainnet"
ARCHIVE_VERSION = 1
_ENTRIES = {
    "model": {"metadata.json", "config.json", "model.weights.safetensors", "optimizer.json", "optimizer.safetensors"},
    "backup": {"metadata.json", "model.weights.safetensors", "optimizer.json", "optimizer.safetensors",
               "training_state.json", "training_state.safetensors"},
}
_REQUIRED = {"model": {"config.json", "model.weights.safetensors"}, "backup": {"model.weights.safetensors"}}


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


# ------------------------------------------------------------------ model
def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True, include_optimizer: bool = True) -> None:
    """Write ``model`` (architecture, weights, compile settings and, with
    ``include_optimizer``, the optimizer's state) to one file, atomically.
    Under torchrun only rank 0 writes; the other processes return at once.

    Raises:
        ValueError: the model is not built yet.
        FileExistsError: ``overwrite=False`` and the file exists.
        OSError: the file could not be written (the previous one is kept).
    """
    from ..training import state

    _require_built(model, "model.save")
    if not overwrite and Path(filepath).exists():
        raise FileExistsError(
            f"model.save: expected a new file, got an existing {filepath} and overwrite=False. "
            "Fix: model.save(path, overwrite=True) or choose another path."
        )
    if not is_main_process():  # under torchrun only rank 0 writes (the processes hold the same model)
        return
    config = model_config(model, "model.save")
    trainer = model.trainer
    entries = {"model.weights.safetensors": tensor_bytes(model.state_dict())}
    if include_optimizer and config["compile_config"] is not None and trainer.optimizer.built:
        tensors, info = state.optimizer_state(trainer.optimizer)
        entries["optimizer.json"] = _json_bytes(info)
        entries["optimizer.safetensors"] = tensor_bytes(tensors)
    entries = {"config.json": _json_bytes(config), **entries}
    write_archive(filepath, "model", entries, "model.save")


def load_model(filepath: str | os.PathLike, custom_objects: dict[str, Any] | None = None, compile: bool = True) -> Any:
    """Rebuild a model saved with ``model.save``: same layers, same weights,
    compiled as it was (with its optimizer state, so ``fit`` continues).

    Args:
        filepath: a file written by ``model.save``.
        custom_objects: ``{name: class or function}`` for your own layers,
            models, losses or metrics that are not registered with
            ``@brainnet.saving.register_serializable()``.
        compile: restore the compile settings (default True).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated, corrupted, of a newer format
            version, or names a class that is neither brainnet's nor
            registered (the message names the file and the fix).
    """
    from ..training import state

    path, what = Path(filepath), "load_model"
    entries = read_archive(path, "model", what)
    config = read_json(entries, "config.json", path, what)
    weights = read_tensors(entries, "model.weights.safetensors", path, what)
    with _registry.custom_objects(custom_objects):
        where = f"{what}: {path}"
        model = _rebuild(config, where)
        _restore_usage(model, config, where)
        assign_weights(model, weights, where)
        if compile and _compile_as_saved(model, config, where):
            if "optimizer.json" in entries and "optimizer.safetensors" in entries:
                info = read_json(entries, "optimizer.json", path, what)
                tensors = read_tensors(entries, "optimizer.safetensors", path, what)
                model.trainer.build_optimizer()
                state.load_optimizer_state(model.trainer.optimizer, tensors, info, where)
    return model


def model_config(model: Any, what: str, holder: str = "the file", stacklevel: int = 4) -> dict[str, Any]:
    """What ``config.json`` holds (and ``model.to_json()`` writes): the class,
    its ``get_config()``, the input shape it was built for, the compile
    settings (None when not compiled, or with a warning when a custom loss or
    metric cannot be named), ``preprocessing`` and ``class_names``."""
    from ..training import state

    config = {"class_name": _registry.name_of(type(model), "layer"), "config": model.get_config(),
              "build_input_shape": _json_shape(model.built_input_shape), "compile_config": None,
              **_usage_config(model)}
    trainer = model.trainer
    if trainer is not None and trainer.optimizer is not None:
        try:
            config["compile_config"] = state.compile_config(trainer)
        except ValueError as err:
            warnings.warn(f"{what}: {holder} holds no compile settings: {err}", stacklevel=stacklevel)
    return config


def model_from_config(config: Any, custom_objects: dict[str, Any] | None = None, compile: bool = True) -> Any:
    """Rebuild a model, with fresh weights, from the dictionary that
    ``json.loads(model.to_json())`` gives (Keras's ``model_from_config``):
    ``{"class_name": ..., "config": {...}}``, and optionally the input shape
    it was built for and the compile settings, which are restored as Keras 3
    restores them (``compile=False`` leaves the model uncompiled).

    Raises:
        TypeError: ``config`` is not a dictionary.
        ValueError: an unknown or unregistered class (the same message and
            fix as ``load_model``), or a damaged config.
    """
    what = "model_from_config"
    if not isinstance(config, dict):
        hint = ("a list: the layers of a Sequential? Sequential.from_config({'layers': [...]}) takes those"
                if isinstance(config, list) else "json.loads(text) turns a JSON string into one")
        raise TypeError(
            f"{what}: expected a dictionary {{'class_name': ..., 'config': {{...}}}} as json.loads(model.to_json()) "
            f"gives, got {type(config).__name__}. Fix: {hint}; for the string itself use model_from_json."
        )
    with _registry.custom_objects(custom_objects):
        model = _rebuild(config, what)
        _restore_usage(model, config, what, "the config")
        if compile:
            _compile_as_saved(model, config, what)
    return model


def model_from_json(json_string: str | bytes, custom_objects: dict[str, Any] | None = None) -> Any:
    """Rebuild a model from ``model.to_json()``'s string, with fresh weights
    (Keras's ``model_from_json``): then ``model.load_weights(path)``.

    The JSON names each class as ``load_model``'s files do, so a registered
    layer of your own (``@brainnet.saving.register_serializable()``) comes
    back, and one that is not needs ``custom_objects={name: class}``.
    Compile settings in the JSON are restored, as Keras 3 does.

    Raises:
        TypeError: ``json_string`` is not a string.
        ValueError: text that is not JSON, an unknown class (the same
            message and fix as ``load_model``), or a damaged config.
    """
    what = "model_from_json"
    if not isinstance(json_string, (str, bytes, bytearray)):
        fix = "model_from_config(config)" if isinstance(json_string, dict) else "model_from_json(open('model.json').read())"
        raise TypeError(f"{what}: expected the string model.to_json() returned, got {type(json_string).__name__}. "
                        f"Fix: {fix}.")
    try:
        config = json.loads(json_string)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{what}: expected the JSON text of model.to_json(), got text that is not JSON ({err}; it starts "
            f"{str(json_string[:40])!r}). Fix: pass the whole string to_json() returned, e.g. "
            "model_from_json(open('model.json').read())."
        ) from None
    if not isinstance(config, dict):
        raise ValueError(f"{what}: expected a JSON object from model.to_json(), got a JSON {type(config).__name__}. "
                         "Fix: pass the string model.to_json() returned.")
    with _registry.custom_objects(custom_objects):
        model = _rebuild(config, what)
        _restore_usage(model, config, what, "the JSON")
        _compile_as_saved(model, config, what)
    return model


def _compile_as_saved(model: Any, config: dict, where: str) -> bool:
    """Compile ``model`` with the settings in ``config`` (if any); whether it did."""
    from ..training import state

    compile_config = config.get("compile_config") if isinstance(config, dict) else None
    if not compile_config:
        return False
    try:
        model.compile(**state.compile_arguments(compile_config))
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{where}: the compile settings cannot be restored: {err}") from None
    return True


def _rebuild(config: Any, where: str) -> Any:
    from .model import Model

    try:
        if not isinstance(config, dict):
            raise ValueError("config.json is not an object")
        model = _registry.deserialize(config, "layer", Model)
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build_from_shape([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ValueError(f"{where}: {err}") from None
    return model


def _usage_config(model: Any) -> dict[str, Any]:
    """``preprocessing`` and ``class_names`` of ``model`` as JSON values (checked)."""
    from ..preprocessing import ImagePreprocessing

    preprocessing, names = model.preprocessing, model.class_names
    if preprocessing is not None and not isinstance(preprocessing, ImagePreprocessing):
        raise TypeError(
            f"model.save: expected model.preprocessing to be an ImagePreprocessing or None, got "
            f"{type(preprocessing).__name__}. Fix: model.preprocessing = "
            "brainnet.preprocessing.ImagePreprocessing(size=(28, 28), background='dark')."
        )
    if names is not None:
        names = _check_class_names(names, "model.save: model.class_names")
    return {"preprocessing": None if preprocessing is None else preprocessing.get_config(), "class_names": names}


def _check_class_names(names: Any, what: str) -> list[str]:
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(
            f"{what}: expected a list of strings (one name per output unit) or None, got {names!r}. "
            "Fix: model.class_names = ['cat', 'dog'] (or list(brainnet.datasets.fashion_mnist.CLASS_NAMES))."
        )
    return list(names)


def _restore_usage(model: Any, config: dict, where: str, source: str = "config.json") -> None:
    """Sets ``model.preprocessing`` and ``model.class_names`` from ``config``."""
    from ..preprocessing import ImagePreprocessing

    try:
        if config.get("preprocessing") is not None:
            model.preprocessing = ImagePreprocessing.from_config(config["preprocessing"])
        if config.get("class_names") is not None:
            model.class_names = _check_class_names(config["class_names"], "class_names")
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {source} was altered or damaged: {err}") from None


def _json_shape(shape: Any) -> Any:
    if shape is None:
        return None
    return [list(s) for s in shape] if isinstance(shape, list) else list(shape)


def _require_built(model: Any, what: str) -> None:
    if not getattr(model, "built", True):
        raise ValueError(
            f"{what}: expected a built model, got '{model.name}' with no weights yet. "
            "Fix: train it or give input_shape= to its first layer before saving."
        )


# ------------------------------------------------------------------ weights
def assign_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``tensors`` into the model's weights (names and shapes must match).

    Raises:
        ValueError: names or shapes that do not fit the model, with details.
    """
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape)]
    if missing or unexpected or wrong:
        details = "; ".join(
            part for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {unexpected}" if unexpected else "",
                ", ".join(f"{k}: model {tuple(own[k].shape)} vs file {tuple(tensors[k].shape)}" for k in wrong),
            ) if part
        )
        raise ValueError(
            f"{source}: expected weights for this model's layers, got a file that does not "
            f"fit ({details}). Fix: build the same architecture (same layers and input_shape) "
            "that saved the file."
        )
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(tensors[key])


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write all weights of ``model`` to ``path`` (safetensors), atomically
    (under torchrun, rank 0 only)."""
    _require_built(model, "save_weights")
    if not is_main_process():  # under torchrun only rank 0 writes
        return
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write: Callable[[str], None] = lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT, "version": VERSION})  # noqa: E731
    atomic_write(path, write)


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Copy the weights stored in ``path`` into ``model`` (names and shapes must match).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a safetensors file, or the weights do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_weights: expected a weights file, got no file at {path}.")
    if _first_bytes(path, 4) == b"PK\x03\x04":
        raise ValueError(
            f"load_weights: expected a safetensors weights file, got {path}, a whole-model archive "
            "(or another ZIP file). Fix: brainnet.models.load_model(path) for files from model.save()."
        )
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"load_weights: expected a safetensors weights file, got {path} that cannot be read "
            f"({err}). Fix: pass a file written by model.save_weights()."
        ) from None
    if not getattr(model, "built", True) and set(tensors) - set(model.state_dict()):
        raise ValueError(
            f"load_weights: expected a built model, got '{model.name}', whose layers have no weights yet "
            f"({len(tensors)} tensors in {path} have nowhere to go). Fix: call the model once on a batch "
            "(model(x[:1])), or model.build((None, ...)), or give input_shape= to its first layer, "
            "then load_weights."
        )
    assign_weights(model, tensors, f"load_weights: {path}")


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json", "model_from_config"]
