"""Keras 3's saving hooks a layer or model of yours may define, and where
``model.save`` / ``load_model`` call them (the guide "Customizing Saving and
Serialization"):

* ``get_build_config()`` / ``build_from_config(config)``: a layer whose
  ``build`` takes more than the input shape saves what it needs; loading
  builds it with ``build_from_config`` before the model is built, so the
  model's build leaves it as it is. Kept in ``config.json`` under
  ``"build_configs"``, by the layer's path in the model.
* ``get_compile_config()`` / ``compile_from_config(config)``: a model whose
  ``compile`` takes other arguments saves them (serialized, as
  ``serialize_keras_object`` writes them) under ``"custom_compile_config"``;
  loading calls ``compile_from_config`` instead of ``compile(**saved)``.
* ``save_own_variables(store)`` / ``load_own_variables(store)``: a layer
  that overrides them writes its arrays into ``store`` (a dict), kept in the
  ``own_variables.safetensors`` entry under ``"<path>/<key>"``; loading
  hands the layer the same dict after the weights are in place. ``Layer``'s
  own versions store its weights as ``"0"``, ``"1"``, ... (Keras's;
  ``layers/_weights.py``).

``save_assets`` / ``load_assets`` (files beside the weights) are refused at
save: brainnet's archive holds only JSON and safetensors entries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _defines(obj: Any, method: str) -> bool:
    """Whether ``obj``'s class (one of the user's) defines ``method`` itself, not brainnet."""
    for cls in type(obj).__mro__:
        if method in cls.__dict__:
            return not cls.__module__.startswith("brainnet.")
    return False


def _layers(model: torch.nn.Module, method: str) -> list[tuple[str, Any]]:
    from ..layers.base import Layer

    return [(path, m) for path, m in model.named_modules() if isinstance(m, Layer) and _defines(m, method)]


def check_savable(model: torch.nn.Module, what: str) -> None:
    """Refuse a model whose layers keep files with ``save_assets``, which the archive cannot hold."""
    for path, layer in _layers(model, "save_assets") + _layers(model, "load_assets"):
        raise ValueError(
            f"{what}: expected layers whose state is JSON or arrays, got '{layer.name}' ({type(layer).__name__}) "
            "with save_assets/load_assets: brainnet's file holds only its config (JSON) and tensors (safetensors), "
            "never other files. Fix: keep the value in get_config() (a vocabulary as a list of strings, a text as a "
            "string) or in arrays with save_own_variables(store)/load_own_variables(store)."
        )


def config_entries(model: torch.nn.Module) -> dict[str, Any]:
    """What ``config.json`` adds for the hooks: ``build_configs`` and ``custom_compile_config``."""
    from .. import _registry
    from .._serialization import serialize_keras_object

    entries: dict[str, Any] = {}
    built = {path: _registry._objects_serialized(layer.get_build_config())
             for path, layer in _layers(model, "get_build_config") if layer.built}
    if built:
        entries["build_configs"] = built
    if _defines(model, "get_compile_config") and getattr(model, "trainer", None) is not None:
        entries["custom_compile_config"] = serialize_keras_object(model.get_compile_config())
    return entries


def build_from_configs(model: torch.nn.Module, config: dict[str, Any]) -> None:
    """Build the layers that saved a build config, before the model is built."""
    for path, build_config in (config.get("build_configs") or {}).items():
        model.get_submodule(path).build_from_config(build_config)


def compile_from_config(model: Any, config: dict[str, Any]) -> bool:
    """Call the model's ``compile_from_config`` with what it saved; whether it did."""
    if "custom_compile_config" not in config or not _defines(model, "compile_from_config"):
        return False
    model.compile_from_config(config["custom_compile_config"])
    return True


def own_variables(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The stores of the layers that override ``save_own_variables``, flat: ``"<path>/<key>"``."""
    tensors: dict[str, torch.Tensor] = {}
    for path, layer in _layers(model, "save_own_variables"):
        store: dict[str, Any] = {}
        layer.save_own_variables(store)
        for key, value in store.items():
            # A copy each: a store may hold one array twice (a weight under "2" and under its own name).
            value = value.detach().cpu().clone() if isinstance(value, torch.Tensor) else torch.tensor(np.asarray(value))
            tensors[f"{path}/{key}"] = value.contiguous()
    return tensors


def load_own_variables(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Hand each layer that saved a store its dict of NumPy arrays back."""
    stores: dict[str, dict[str, np.ndarray]] = {}
    for name, value in tensors.items():
        path, key = name.rsplit("/", 1)
        stores.setdefault(path, {})[key] = value.numpy()
    for path, store in stores.items():
        model.get_submodule(path).load_own_variables(store)
