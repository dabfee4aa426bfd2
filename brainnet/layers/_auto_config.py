"""Keras 3's automatic config: a layer class of the user's that writes no
``get_config`` is still saved when the arguments it was made with are plain
values (str, int, float, bool, None, and lists, tuples or dicts of them).

``Layer.__new__`` records those arguments (``record``), defaults filled in;
``Layer.get_config`` returns them (``config_of``) where the class inherits
both ``get_config`` and ``from_config`` from ``Layer``, so that
``from_config(config)``, which is ``cls(**config)``, makes the same layer.
The common entries (``name``, ``trainable``, ``dtype``, ``input_shape``)
stay only where ``__init__`` can take them back: by name, or through
``**kwargs``. Anything else (an argument that is a layer, an array, a
function) records nothing, and ``save`` refuses the class with the
``get_config`` to write, as before (``brainnet._registry``).
"""

from __future__ import annotations

import inspect
from typing import Any

_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    return isinstance(value, _PLAIN)


def record(cls: type, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """The arguments of ``cls(*args, **kwargs)`` by name, defaults filled in and
    ``**kwargs`` spread out (``name`` left to the common entries), or None where
    they cannot be given back as ``cls(**config)``: brainnet's own classes (which
    write their ``get_config``), positional-only or extra positional arguments,
    arguments that do not fit the signature, and values that are not plain."""
    if cls.__module__.startswith("brainnet."):
        return None
    signature = inspect.signature(cls.__init__)
    parameters = list(signature.parameters.values())[1:]  # without self
    if any(p.kind == p.POSITIONAL_ONLY for p in parameters):
        return None
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError:
        return None  # __init__ will say what is wrong
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    for p in parameters:
        value = bound.arguments.get(p.name)
        if p.kind == p.VAR_POSITIONAL:
            if value:
                return None
        elif p.kind == p.VAR_KEYWORD:
            arguments.update(value or {})
        else:
            arguments[p.name] = value
    arguments.pop("name", None)
    return arguments if _plain(arguments) else None


def applies(layer: Any) -> bool:
    """Whether ``layer``'s config is the automatic one: arguments were recorded and its
    class takes ``get_config`` and ``from_config`` from ``Layer`` (``save`` then needs no
    ``get_config`` of the user's)."""
    from .base import Layer

    cls = type(layer)
    return isinstance(layer, Layer) and layer.__dict__.get("_auto_config") is not None \
        and cls.get_config is Layer.get_config and cls.from_config.__func__ is Layer.from_config.__func__


def config_of(layer: Any, common: dict[str, Any]) -> dict[str, Any]:
    """``Layer.get_config``: ``layer``'s automatic config (the common entries its
    ``__init__`` takes back, then the recorded arguments), else ``common``."""
    if not applies(layer):
        return common
    parameters = inspect.signature(type(layer).__init__).parameters
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    kept = {key: value for key, value in common.items() if takes_any or key in parameters}
    return {**kept, **layer.__dict__["_auto_config"]}
