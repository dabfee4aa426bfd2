"""Names for classes and functions in saved files, and the way back.

A saved model names each layer, model, optimizer, loss and metric by a plain
string (``"Dense"``, ``"Adam"``, ``"Custom>Scale"``). Loading turns a name
back into a class by looking it up, in this order, in:

1. the ``custom_objects`` given to ``load_model``;
2. the classes and functions registered with ``@register_serializable()``;
3. brainnet's own classes of that kind (``brainnet.layers``, the models,
   ``brainnet.optimizers`` and their schedules, ``brainnet.losses``,
   ``brainnet.metrics``, ``brainnet.activations``, ``brainnet.regularizers``,
   ``brainnet.initializers``, ``brainnet.constraints``;
   a ``Lambda`` layer's function has no built-in names).

Nothing else: a name is never imported as a module path, so a file naming
``os.system`` or ``subprocess.Popen`` gets an error, not a call.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Callable, Iterator

_REGISTERED: dict[str, Any] = {}  # "package>Name" → class or function
_NAME_OF: dict[int, str] = {}  # id(object) → its registered name
_CUSTOM: list[dict[str, Any]] = []  # custom_objects of the load_model calls in progress


def register_serializable(package: str | Any = "Custom", name: str | None = None) -> Any:
    """Register a class or function so that saved models can name it.

    Decorate each subclassed ``Layer`` or ``Model`` (and custom optimizer,
    loss, metric or activation) that a model you save uses, and import it
    before ``load_model``. Its name in files is ``"package>Name"``. A class
    is rebuilt with ``from_config(get_config())``, so its ``get_config``
    must return its constructor arguments. Registering a name again replaces
    the earlier entry (re-running a notebook cell is fine).

    Args:
        package: prefix of the registered name (default ``"Custom"``).
        name: name within the package (default: the class's ``__name__``).

    Example:
        >>> from brainnet.layers import Layer
        >>> @register_serializable()
        ... class Scale(Layer):
        ...     def call(self, inputs):
        ...         return 2 * inputs
    """
    if callable(package) and name is None:  # used bare: @register_serializable
        return register_serializable()(package)
    if not isinstance(package, str) or ">" in package:
        raise ValueError(
            f"register_serializable: expected package to be a string without '>', got {package!r}. "
            "Fix: @register_serializable(package='my_project')."
        )

    def decorate(obj: Any) -> Any:
        if not callable(obj):
            raise TypeError(
                f"register_serializable: expected a class or a function, got {type(obj).__name__}. "
                "Fix: put @register_serializable() on the line above `class ...` or `def ...`."
            )
        key = f"{package}>{name or obj.__name__}"
        _REGISTERED[key] = obj
        _NAME_OF[id(obj)] = key
        return obj

    return decorate


register_keras_serializable = register_serializable  # Keras's name


def registered_name(obj: Any) -> str | None:
    """The name ``obj`` was registered under, or None."""
    key = _NAME_OF.get(id(obj))
    return key if key is not None and _REGISTERED.get(key) is obj else None


@contextlib.contextmanager
def custom_objects(objects: dict[str, Any] | None) -> Iterator[None]:
    """Make ``objects`` (name → class or function) visible to lookups inside."""
    _CUSTOM.append(dict(objects or {}))
    try:
        yield
    finally:
        _CUSTOM.pop()


def _builtins(kind: str) -> dict[str, Any]:
    """brainnet's own classes (or functions) of one kind, by name."""
    if kind == "layer":
        from . import layers, models

        table = {n: c for n in layers.__all__ if isinstance(c := getattr(layers, n), type) and issubclass(c, layers.Layer)}
        table.update({"Sequential": models.Sequential, "Functional": models.Functional, "Model": models.Model})
        return table
    if kind == "optimizer":
        from . import optimizers

        return {c.__name__: c for c in set(optimizers._BY_NAME.values())}
    if kind == "schedule":
        from . import schedules

        return {
            n: c for n, c in vars(schedules).items()
            if isinstance(c, type) and issubclass(c, schedules.LearningRateSchedule)
        }
    if kind == "loss":
        from . import losses

        classes = {c.__name__: c for c in set(losses._CLASSES.values())}
        functions = {f.__name__: f for f in losses._FUNCTIONS}
        return {**classes, **functions}
    if kind == "metric":
        from . import metrics

        return {
            n: c for n, c in vars(metrics).items()
            if isinstance(c, type) and issubclass(c, metrics.Metric) and not n.startswith("_")
        }
    if kind == "activation":
        from . import activations

        return dict(activations._BY_NAME)
    if kind == "function":  # a Lambda layer's function: registered (or in custom_objects) only
        return {}
    if kind == "regularizer":
        from . import regularizers

        return dict(regularizers._CLASSES)
    if kind == "initializer":
        from . import initializers

        return dict(initializers._CLASSES)
    if kind == "constraint":
        from . import constraints

        return dict(constraints._CLASSES)
    raise AssertionError(f"unknown kind {kind!r}")


def builtin_name(obj: Any, kind: str) -> str | None:
    """The name of one of brainnet's own objects of ``kind``, or None."""
    name = getattr(obj, "__name__", None)
    return name if name is not None and _builtins(kind).get(name) is obj else None


def name_of(obj: Any, kind: str) -> str:
    """The name a file uses for ``obj``: registered, built-in, or (for an
    unregistered user class) its ``__name__``, which loading will then need
    to find through registration or ``custom_objects``.

    Raises:
        ValueError: an unregistered user class has the name of a brainnet
            class, so the file could not tell them apart.
    """
    found = registered_name(obj) or builtin_name(obj, kind)
    if found is not None:
        return found
    name = getattr(obj, "__name__", type(obj).__name__)
    if name in _builtins(kind):
        raise ValueError(
            f"save: your {kind} {name!r} has the same name as brainnet's own {name}, so a saved "
            f"file could not tell them apart. Fix: decorate it with "
            f"@brainnet.saving.register_serializable() (its name becomes 'Custom>{name}')."
        )
    return name


def resolve(identifier: Any, base: type, kind: str, by_name: dict[str, Any], classes: dict[str, Any]) -> Any:
    """What a layer argument names, for the small families of Keras-named objects
    (regularizers, initializers, constraints): an instance of ``base`` as it is, a
    subclass made with its defaults, a name (a class name as written, or a
    snake_case name in any case) made with its defaults, a saved
    ``{"class_name": ..., "config": ...}`` rebuilt, or a plain function as it is.
    None when it is none of these: the caller says why, in its own words."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type):
        return identifier() if issubclass(identifier, base) else None
    if isinstance(identifier, str):
        make = classes.get(identifier) or by_name.get(identifier.lower())
        return None if make is None else make()
    if isinstance(identifier, dict):
        cls = lookup(identifier.get("class_name"), kind, base)
        return cls.from_config(identifier.get("config", {}))
    return identifier if callable(identifier) else None


def find_custom(name: str) -> Any:
    """What ``name`` names in the custom objects in force (the innermost first,
    by full or short name) or the registry; None when neither has it."""
    for objects in reversed(_CUSTOM):
        for key in (name, name.split(">")[-1]):
            if key in objects:
                return objects[key]
    return _REGISTERED.get(name)


def lookup(name: Any, kind: str, base: type | None = None) -> Any:
    """The class (or function) a file names, from custom_objects, the
    registry or brainnet's own of ``kind``; never from an import.

    Raises:
        ValueError: the name is unknown, or names something that is not a
            subclass of ``base``.
    """
    if not isinstance(name, str):
        raise ValueError(f"expected a {kind} name (a string), got {type(name).__name__} {name!r}.")
    found = find_custom(name)
    if found is None:
        found = _builtins(kind).get(name)
    if found is None:
        raise ValueError(
            f"unknown {kind} class or function {name!r}: it is not one of brainnet's, not "
            "registered, and not in custom_objects (files never import code by name). Fix: "
            "decorate the class with @brainnet.saving.register_serializable() and import it "
            f"before loading, or pass custom_objects={{{name.split('>')[-1]!r}: ...}} to load_model (or "
            "model_from_json, Model.from_config)."
        )
    if base is not None and not (isinstance(found, type) and issubclass(found, base)):
        raise ValueError(
            f"{name!r} names {found!r}, expected a subclass of {base.__name__} for a {kind}. "
            "Fix: register only the classes the model uses under their own names."
        )
    return found


def serialize(obj: Any, kind: str) -> dict[str, Any]:
    """``{"class_name": ..., "config": obj.get_config()}`` for a layer or model.

    Raises:
        ValueError: a class of the user's whose ``__init__`` takes arguments that
            the ``get_config`` it inherits does not record (a loaded copy would
            silently get their defaults; Keras refuses this too), unless they
            were all plain values (``layers._auto_config``, as Keras 3).
    """
    from .layers._auto_config import applies

    _check_config_covers_init(type(obj), kind, obj)
    spec = {"class_name": name_of(type(obj), kind), "config": _objects_serialized(obj.get_config())}
    if applies(obj) and "name" not in spec["config"]:  # an __init__ without name: kept beside, as Keras's graph keeps it
        spec["name"] = obj.name
    return spec


def _objects_serialized(value: Any) -> Any:
    """A ``get_config()`` result with the objects in it (a sublayer, a
    regularizer ...) replaced by their ``serialize_keras_object`` specs, as
    Keras 3 serializes a config; a ``from_config`` of the user's rebuilds
    them (``brainnet.layers.deserialize(config["sublayer"])``). JSON values,
    and values of no family that serializes, come back as they are."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {key: _objects_serialized(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_objects_serialized(item) for item in value]
        return tuple(items) if isinstance(value, tuple) else items
    from ._serialization import serialize_keras_object

    try:
        return serialize_keras_object(value)
    except TypeError:  # not an object brainnet serializes: left for the JSON writer to judge, as before
        return value


def _check_config_covers_init(cls: type, kind: str, obj: Any = None) -> None:
    from .layers._auto_config import applies

    if cls.__module__.startswith("brainnet.") or (obj is not None and applies(obj)):
        return  # brainnet's classes write their get_config; Keras 3's auto-config records plain arguments
    owner = next((c for c in cls.__mro__ if "get_config" in c.__dict__), None)
    if owner is None or not owner.__module__.startswith("brainnet."):
        return  # the user's own get_config: theirs to get right

    def init_args(c: type) -> set[str]:
        params = inspect.signature(c.__init__).parameters.values()
        return {p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}

    missing = sorted(init_args(cls) - init_args(owner))
    if missing:
        shown = ", ".join(f"{name!r}: self.{name}" for name in missing)
        raise ValueError(
            f"save: expected {kind} class {cls.__name__!r} to record its __init__ arguments {missing} in "
            f"get_config(), got only the get_config() it inherits from {owner.__name__}, so a loaded copy would "
            f"silently take their defaults. Fix: def get_config(self): return {{**super().get_config(), {shown}}}"
        )


def deserialize(spec: Any, kind: str = "layer", base: type | None = None) -> Any:
    """Rebuild an object from ``{"class_name": ..., "config": {...}}``.

    Raises:
        ValueError: a malformed spec, an unknown name, or a class that
            cannot be rebuilt from its config.
    """
    if base is None and kind == "layer":
        from .layers.base import Layer

        base = Layer
    if not isinstance(spec, dict) or not isinstance(spec.get("config", {}), dict):
        raise ValueError(f"expected a {kind} as {{'class_name': ..., 'config': {{...}}}}, got {spec!r:.200}.")
    cls = lookup(spec.get("class_name"), kind, base)
    config = spec.get("config", {})
    build: Callable[..., Any] = getattr(cls, "from_config", None) or (lambda c: cls(**c))
    try:
        made = build(config)
        if "name" in spec and "name" not in config:
            made.name = spec["name"]
        return made
    except TypeError as err:
        raise ValueError(
            f"{kind} class {spec['class_name']!r} could not be rebuilt from its saved config "
            f"({err}). Fix: give the class a get_config() that returns exactly its constructor "
            "arguments (and accept **kwargs for name and trainable)."
        ) from None
