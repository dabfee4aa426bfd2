"""Keras 3's serialization utilities over brainnet's one registry (``brainnet._registry``):
``custom_object_scope`` (``CustomObjectScope``), ``get_custom_objects``,
``get_registered_object``, ``get_registered_name``, ``serialize_keras_object``
and ``deserialize_keras_object``; public in ``brainnet.saving`` and ``brainnet.utils``.

The format is the one brainnet's files already write: an object is
``{"class_name": ..., "config": {...}}`` (a registered class under its
``"package>Name"``), with ``"module"`` added to say which family the name is
looked up in (``"brainnet.layers"``, ``"brainnet.losses"``, ...), since a
loss and a metric may share a class name. A function is ``{"function": name}``
(plus ``"module"`` for one of brainnet's own). Everything is JSON; nothing is
pickled, and loading never imports a module a config names.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from . import _registry

PLAIN_TYPES = (str, int, float, bool)
_FUNCTION_FAMILIES = {"brainnet.activations": "activation", "brainnet.losses": "loss", "brainnet.metrics": "metric"}


def _families() -> list[tuple[str, str, type]]:
    """(module, registry kind, base class) of each family of objects, the most specific first."""
    from . import constraints, initializers, losses, metrics, optimizers, regularizers, schedules
    from .layers.base import Layer
    from .models import Model

    return [("brainnet.models", "layer", Model), ("brainnet.layers", "layer", Layer),
            ("brainnet.optimizers.schedules", "schedule", schedules.LearningRateSchedule),
            ("brainnet.optimizers", "optimizer", optimizers.Optimizer), ("brainnet.losses", "loss", losses.Loss),
            ("brainnet.metrics", "metric", metrics.Metric),
            ("brainnet.initializers", "initializer", initializers.Initializer),
            ("brainnet.regularizers", "regularizer", regularizers.Regularizer),
            ("brainnet.constraints", "constraint", constraints.Constraint)]


def _checked(objects: Any, where: str) -> dict[str, Any]:
    if objects is None:
        return {}
    if not isinstance(objects, dict) or not all(isinstance(k, str) and callable(v) for k, v in objects.items()):
        raise TypeError(
            f"{where}: expected a dict of name → class or function, got {objects!r:.120}. "
            f"Fix: {where}({{'MyLayer': MyLayer, 'my_loss': my_loss}})."
        )
    return objects


class CustomObjectScope:
    """A ``with`` block in which loading finds your classes and functions by name.

    Inside, ``load_model``, ``model_from_json``, ``deserialize_keras_object``
    and every ``from_config`` find the objects given here under their names
    (a name ``"package>Name"`` in a file is also found under ``"Name"``),
    before the registry and brainnet's own classes. Nested scopes add to the
    ones outside (Keras 3's inner scope hides the outer ones).

    Args:
        custom_objects: ``{name: class or function}``, or None.

    Raises:
        TypeError: ``custom_objects`` is not a dict of names to classes or functions.

    Example:
        >>> from brainnet.layers import Layer
        >>> class Twice(Layer):
        ...     def call(self, x):
        ...         return 2 * x
        >>> spec = {"module": "brainnet.layers", "class_name": "Twice", "config": {"name": "t"}}
        >>> with custom_object_scope({"Twice": Twice}):
        ...     layer = deserialize_keras_object(spec)
        >>> type(layer).__name__
        'Twice'
    """

    def __init__(self, custom_objects: dict[str, Any] | None) -> None:
        self.custom_objects = dict(_checked(custom_objects, "custom_object_scope"))
        self._scope: contextlib.AbstractContextManager | None = None

    def __enter__(self) -> CustomObjectScope:
        self._scope = _registry.custom_objects(self.custom_objects)
        self._scope.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._scope is not None, "__exit__ without __enter__"
        self._scope.__exit__(*exc)
        self._scope = None


custom_object_scope = CustomObjectScope  # Keras's two names for one thing


def get_custom_objects() -> dict[str, Any]:
    """The registry itself, ``{"package>Name": class or function}``: what
    ``@register_serializable()`` filled in, live (an entry added here by hand
    is found by loading under its key; the objects of a ``custom_object_scope``
    are not in it).

    Example:
        >>> "Custom>NeverRegistered" in get_custom_objects()
        False
    """
    return _registry._REGISTERED


def get_registered_name(obj: Any) -> str:
    """The name a file uses for a registered class or function
    (``"package>Name"``), else its ``__name__``.

    Args:
        obj: a class or a function.

    Raises:
        TypeError: ``obj`` is an instance (it has no ``__name__``).

    Example:
        >>> get_registered_name(np.mean)
        'mean'
    """
    name = _registry.registered_name(obj) or getattr(obj, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(
            f"get_registered_name: expected a class or a function, got an instance of {type(obj).__name__}. "
            f"Fix: get_registered_name(type(obj))."
        )
    return name


def get_registered_object(name: str, custom_objects: dict[str, Any] | None = None,
                          module_objects: dict[str, Any] | None = None) -> Any:
    """The class or function ``name`` stands for, or None, looked up as Keras
    does: in the ``custom_object_scope`` in force, the registry, then
    ``custom_objects``, then ``module_objects``.

    Args:
        name: e.g. ``"Custom>Scale"``.
        custom_objects: ``{name: object}`` to look in after the registry.
        module_objects: ``{name: object}`` to look in last.

    Example:
        >>> get_registered_object("Twice", module_objects={"Twice": len})
        <built-in function len>
    """
    found = _registry.find_custom(name)
    for objects in (custom_objects, module_objects):
        if found is None and objects and name in objects:
            found = objects[name]
    return found


def serialize_keras_object(obj: Any) -> Any:
    """A JSON-safe description of ``obj`` that ``deserialize_keras_object`` turns back into it.

    A layer, model, optimizer (with its learning-rate schedule), schedule,
    loss, metric, initializer, regularizer or constraint becomes
    ``{"module": "brainnet.<family>", "class_name": ..., "config": {...}}``;
    a function (a loss, metric or activation) ``{"function": name}`` (with
    ``"module"`` for brainnet's own); None, str, int, float and bool stay as
    they are, NumPy scalars become Python numbers, lists, tuples and dicts
    are serialized item by item.

    Raises:
        TypeError: an object of another type (a tensor, an array, a class).
        ValueError: a lambda, or a user class with a brainnet class's name or
            whose ``get_config`` leaves out ``__init__`` arguments.

    Example:
        >>> from brainnet.layers import Dense
        >>> spec = serialize_keras_object(Dense(3, name="d"))
        >>> spec["module"], spec["class_name"], spec["config"]["units"]
        ('brainnet.layers', 'Dense', 3)
    """
    from . import losses, metrics
    from .training import state

    if obj is None or isinstance(obj, PLAIN_TYPES):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(x) for x in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if type(obj) is losses.Loss or type(obj) is metrics._FunctionMetric:  # a function wrapped by compile
        return _function_spec(obj.fn)
    for module, kind, base in _families():
        if isinstance(obj, base):
            spec = state.optimizer_spec(obj) if kind == "optimizer" else _registry.serialize(obj, kind)
            return {"module": module, **spec}
    if callable(obj) and not isinstance(obj, type):
        return _function_spec(obj)
    raise TypeError(
        f"serialize_keras_object: expected a brainnet layer, model, optimizer, schedule, loss, metric, initializer, "
        f"regularizer, constraint, a function, or None/str/int/float/bool/list/tuple/dict of them, got "
        f"{'the class ' + obj.__name__ if isinstance(obj, type) else type(obj).__name__}. Fix: pass an instance "
        "(serialize_keras_object(MyLayer())); arrays and tensors go as lists (x.tolist()) or as weights (save_weights)."
    )


def _function_spec(fn: Any) -> dict[str, str]:
    for module, kind in _FUNCTION_FAMILIES.items():
        name = next((n for n, known in _registry._builtins(kind).items() if known is fn), None)
        if name is not None:
            return {"module": module, "function": name}
    name = _registry.registered_name(fn) or getattr(fn, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise ValueError(
            f"serialize_keras_object: expected a function a file can name, got {fn!r}. Fix: define it with def and "
            "decorate it with @brainnet.saving.register_serializable()."
        )
    return {"function": name}


def deserialize_keras_object(config: Any, custom_objects: dict[str, Any] | None = None) -> Any:
    """The object ``serialize_keras_object`` described, rebuilt.

    Names are looked up in ``custom_objects``, the ``custom_object_scope`` in
    force, the registry and brainnet's own classes of the family that
    ``"module"`` names (without ``"module"``, the one family that knows the
    name); never imported. A string that names a custom or registered object
    gives that object, any other plain value itself; a dict without
    ``class_name`` and ``config`` is rebuilt value by value, a list or tuple
    item by item (as a list).

    Args:
        config: what ``serialize_keras_object`` returned (or its JSON, parsed).
        custom_objects: ``{name: class or function}`` for your own, unregistered ones.

    Raises:
        ValueError: an unknown name (with the fix), an unknown ``"module"``,
            a name several families know without ``"module"``, or a class
            its config does not rebuild.
        TypeError: ``config`` or ``custom_objects`` of the wrong type.

    Example:
        >>> from brainnet.optimizers import Adam
        >>> deserialize_keras_object(serialize_keras_object(Adam(learning_rate=0.01))).learning_rate
        0.01
    """
    with _registry.custom_objects(_checked(custom_objects, "deserialize_keras_object")):
        return _rebuild(config)


def _rebuild(config: Any) -> Any:
    from . import optimizers

    if isinstance(config, str):
        found = _registry.find_custom(config)
        return config if found is None else found
    if config is None or isinstance(config, PLAIN_TYPES):
        return config
    if isinstance(config, (list, tuple)):
        return [_rebuild(x) for x in config]
    if not isinstance(config, dict):
        raise TypeError(
            f"deserialize_keras_object: expected what serialize_keras_object returns (a dict, list or plain value), "
            f"got {type(config).__name__}. Fix: deserialize_keras_object(serialize_keras_object(obj))."
        )
    if "function" in config and set(config) <= {"function", "module"}:
        return _function_from(config["function"], config.get("module"))
    if "class_name" not in config or "config" not in config:
        return {key: _rebuild(value) for key, value in config.items()}
    kind, base = _family(config.get("module"), config["class_name"])
    spec = {"class_name": config["class_name"], "config": config["config"]}
    if kind == "optimizer":  # its learning-rate schedule, if any, is rebuilt too
        return optimizers.get(spec)
    return _registry.deserialize(spec, kind, base)


def _function_from(name: Any, module: Any) -> Any:
    if module is None:
        for kind in ("function", "activation", "loss"):  # custom or registered first, then brainnet's own
            with contextlib.suppress(ValueError):
                return _registry.lookup(name, kind)
        return _registry.lookup(name, "function")  # raises the error that says how to make it known
    if module not in _FUNCTION_FAMILIES:
        raise ValueError(
            f"deserialize_keras_object: expected a function's 'module' to be one of {sorted(_FUNCTION_FAMILIES)}, "
            f"got {module!r}. Fix: use the spec serialize_keras_object wrote, or leave 'module' out."
        )
    return _registry.lookup(name, _FUNCTION_FAMILIES[module])


def _family(module: Any, name: Any) -> tuple[str, type]:
    """The registry kind and base class a class name is looked up as."""
    families = _families()
    if module is not None:
        for family, kind, base in families:
            if family == module:
                return kind, base
        raise ValueError(
            f"deserialize_keras_object: expected 'module' to be one of {[f for f, _, _ in families]}, got "
            f"{module!r} (files never import code by name). Fix: use the spec serialize_keras_object wrote, "
            "or leave 'module' out."
        )
    found = _registry.find_custom(name) if isinstance(name, str) else None
    if isinstance(found, type):
        for _, kind, base in families:
            if issubclass(found, base):
                return kind, base
    known = {kind: (family, base) for family, kind, base in families[1:] if name in _registry._builtins(kind)}
    if len(known) > 1:
        choices = " or ".join(repr(family) for family, _ in known.values())
        raise ValueError(
            f"deserialize_keras_object: expected a 'module' with {name!r}, which names a class in several families "
            f"({', '.join(known)}), got none. Fix: add \"module\": {choices} to the spec."
        )
    kind = next(iter(known), "layer")
    return kind, (known[kind][1] if known else families[1][2])
