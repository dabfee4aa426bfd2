"""Models on disk: ``save_model`` / ``load_model``, a model's JSON config
(``model_config``, ``model_from_config``, ``model_from_json``) and the
weights alone (``save_weights`` / ``load_weights``, a plain safetensors
file).

``model.save("model.brainnet")`` writes one ZIP archive: ``metadata.json``,
``config.json`` (the architecture, the compile settings and, when set,
``preprocessing`` and ``class_names``), ``model.weights.safetensors`` and,
after training, the optimizer's state. ``brainnet.models._archive``
describes that format and writes and reads it, atomically and with every
byte checked; this module decides what the entries hold and rebuilds a
model from them. Class names are looked up among brainnet's own classes and
those registered with ``@brainnet.saving.register_serializable()``; nothing
is ever imported by name and nothing is unpickled, so a crafted file cannot
run code.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import _registry
from . import _saving_hooks
from ..distributed import is_main_process
from .._atomic import atomic_write
from ._archive import _first_bytes, _json_bytes, archive_kind, read_archive, read_json, read_tensors, tensor_bytes, write_archive

FORMAT = "brainnet-weights"  # metadata of save_weights files
VERSION = "1"


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
    _saving_hooks.check_savable(model, "model.save")
    config = model_config(model, "model.save")
    trainer = model.trainer
    entries = {"model.weights.safetensors": tensor_bytes(model.state_dict())}
    own = _saving_hooks.own_variables(model)  # the stores of layers that override save_own_variables
    if own:
        entries["own_variables.safetensors"] = tensor_bytes(own)
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
        filepath: a file written by ``model.save`` (or by
            ``FeatureSpace.save``: the feature space comes back, adapted).
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
    if archive_kind(path) == "feature_space":  # FeatureSpace.save wrote it (as Keras, load_model reads it back)
        from .._feature_space_saving import load_feature_space

        return load_feature_space(path, custom_objects)
    entries = read_archive(path, "model", what)
    config = read_json(entries, "config.json", path, what)
    weights = read_tensors(entries, "model.weights.safetensors", path, what)
    with _registry.custom_objects(custom_objects):
        where = f"{what}: {path}"
        model = _rebuild(config, where)
        _restore_usage(model, config, where)
        assign_weights(model, weights, where)
        if "own_variables.safetensors" in entries:
            _saving_hooks.load_own_variables(model, read_tensors(entries, "own_variables.safetensors", path, what))
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
              **_usage_config(model), **_saving_hooks.config_entries(model)}
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
    """Compile ``model`` with the settings in ``config`` (if any), through the
    model's own ``compile_from_config`` when it saved a compile config of its own; whether it did."""
    from ..training import state

    if _saving_hooks.compile_from_config(model, config):
        return True
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
        _saving_hooks.build_from_configs(model, config)  # layers with a build_from_config of their own, first
        shape = config.get("build_input_shape")
        if not model.built and shape is not None:
            model.build_from_shape([tuple(s) for s in shape] if shape and isinstance(shape[0], list) else tuple(shape))
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise ValueError(f"{where}: {err}") from None
    return model


def _usage_config(model: Any) -> dict[str, Any]:
    """``preprocessing`` and ``class_names`` of ``model`` as JSON values (checked)."""
    from ..layers._tracking import type_name
    from ..preprocessing import ImagePreprocessing

    preprocessing, names = model.preprocessing, model.class_names
    if preprocessing is not None and not isinstance(preprocessing, ImagePreprocessing):
        raise TypeError(
            f"model.save: expected model.preprocessing to be an ImagePreprocessing or None, got "
            f"{type_name(preprocessing)}. Fix: model.preprocessing = "
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
    # a subclassed model trained by its own train_step is never called, but its layers' weights exist (Keras 3 saves it)
    params = list(model.parameters())
    made = bool(params) and not any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in params)
    if not getattr(model, "built", True) and not made:
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
    """Copy the weights stored in ``path`` into ``model`` (names and shapes must match):
    a safetensors file from ``save_weights``, or, as Keras 3 reads a ``.keras``
    file, the weights (not the optimizer) of an archive from ``model.save``
    (what ``ModelCheckpoint(save_best_only=True)`` writes).

    Raises:
        FileNotFoundError: no such file.
        ValueError: neither a safetensors file nor a model archive, or the
            weights do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_weights: expected a weights file, got no file at {path}.")
    own = None
    if _first_bytes(path, 4) == b"PK\x03\x04":  # model.save's archive: its weights, as Keras 3 reads a .keras file
        entries = read_archive(path, "model", "load_weights")
        tensors = read_tensors(entries, "model.weights.safetensors", path, "load_weights")
        if "own_variables.safetensors" in entries:
            own = read_tensors(entries, "own_variables.safetensors", path, "load_weights")
    else:
        tensors = _read_weights_file(path)
    if not getattr(model, "built", True) and set(tensors) - set(model.state_dict()):
        raise ValueError(
            f"load_weights: expected a built model, got '{model.name}', whose layers have no weights yet "
            f"({len(tensors)} tensors in {path} have nowhere to go). Fix: call the model once on a batch "
            "(model(x[:1])), or model.build((None, ...)), or give input_shape= to its first layer, "
            "then load_weights."
        )
    assign_weights(model, tensors, f"load_weights: {path}")
    if own is not None:
        _saving_hooks.load_own_variables(model, own)


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"load_weights: expected a safetensors weights file, got {path} that cannot be read "
            f"({err}). Fix: pass a file written by model.save_weights()."
        ) from None


__all__ = ["save_model", "load_model", "save_weights", "load_weights", "model_from_json", "model_from_config"]
