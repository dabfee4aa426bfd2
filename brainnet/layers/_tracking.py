"""Layers held in a list, tuple or dict attribute belong to the layer, as in
Keras 3: ``self.blocks = [Dense(64), Dense(64)]`` (or ``self.blocks = []``
then ``self.blocks.append(Dense(64))``) makes the blocks' weights the
layer's, trained, saved and listed by ``model.layers``, which a plain Python
list hides from torch.

The attribute keeps a list (dict, tuple) of the user's values; a private
``Held`` module registered under the same name holds the torch modules in it,
so ``state_dict()`` keys read ``blocks.0.kernel`` as with ``nn.ModuleList``.
Lists and dicts are wrapped in ``TrackedList``/``TrackedDict``, which update
the ``Held`` module after each change. ``Layer.__setattr__`` calls ``takes``.
"""

from __future__ import annotations

from typing import Any, Iterator

from torch import nn

from . import _training_mode, _weights


class Held(nn.Module):
    """The modules inside one container attribute (not a Layer: ``model.layers`` looks through it)."""

    def forward(self, *args: Any) -> None:
        raise TypeError(
            "a layer's list or dict of layers was called: expected each layer in it to be called, got a call of "
            "the container. Fix: for layer in self.blocks: x = layer(x)."
        )


def _modules_in(value: Any, path: str = "") -> Iterator[tuple[str, nn.Module]]:
    """(path, module) for each torch module in a nested list, tuple or dict, in order."""
    if isinstance(value, nn.Module):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _modules_in(v, f"{path}_{i}" if path else str(i))
    elif isinstance(value, dict):
        for k, v in value.items():
            key = str(k).replace(".", "_")  # a dot would split the state_dict key
            yield from _modules_in(v, f"{path}_{key}" if path else key)


class _Tracked:
    """What TrackedList and TrackedDict share: the owner to update after a change."""

    _owner: Any = None
    _name: str = ""

    def _changed(self) -> None:
        owner = self._owner
        if owner is not None and owner.__dict__.get(self._name) is self:
            _register(owner, self._name, self)


def _wrap(value: Any, owner: Any, name: str) -> Any:
    """Lists and dicts (nested too) wrapped so that changes reach ``owner``; tuples rebuilt around them."""
    if type(value) in (list, TrackedList):
        out: Any = TrackedList(_wrap(v, owner, name) for v in value)
    elif type(value) in (dict, TrackedDict):
        out = TrackedDict((k, _wrap(v, owner, name)) for k, v in value.items())
    elif type(value) is tuple:
        return tuple(_wrap(v, owner, name) for v in value)
    else:  # other types (a namedtuple, an OrderedDict, ...) are kept as they are
        return value
    out._owner, out._name = owner, name
    return out


def _root_changed(method: str, base: type) -> Any:
    def changed(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = getattr(base, method)(self, *args, **kwargs)
        root = self._owner.__dict__.get(self._name) if self._owner is not None else None
        if isinstance(root, _Tracked):
            root._changed()  # a change deep inside updates the whole attribute
        return result

    changed.__name__ = method
    return changed


class TrackedList(_Tracked, list):
    """A list whose layers belong to the layer holding it (Keras 3's TrackedList)."""

    def __iadd__(self, other: Any) -> TrackedList:
        self.extend(other)
        return self


class TrackedDict(_Tracked, dict):
    """A dict whose layers belong to the layer holding it (Keras 3's TrackedDict)."""


for _method in ("append", "extend", "insert", "pop", "remove", "clear", "__setitem__", "__delitem__"):
    setattr(TrackedList, _method, _root_changed(_method, list))
for _method in ("__setitem__", "__delitem__", "update", "pop", "popitem", "clear", "setdefault"):
    setattr(TrackedDict, _method, _root_changed(_method, dict))


def _register(owner: Any, name: str, value: Any) -> None:
    """(Re)fill the Held module under ``name`` with the modules in ``value``,
    leaving out those already the owner's own attributes; no module, no Held."""
    modules = owner.__dict__.get("_modules")
    if modules is None:  # a copy being made: its Held modules are copied with it
        return
    own = {id(m) for k, m in modules.items() if k != name}
    found = [(p, m) for p, m in _modules_in(value) if id(m) not in own]
    held = modules.get(name)
    if not found:
        if isinstance(held, Held):
            del modules[name]
        return
    if not isinstance(held, Held):
        held = modules[name] = Held()
    new = [m for _, m in found if all(m is not old for old in held._modules.values())]
    held._modules.clear()
    for path, module in found:
        held._modules[path] = module
    for module in new:  # a new module takes the owner's mode, as a module assigned directly does
        for m in module.modules():
            m.training = owner.training


def takes(owner: Any, name: str, value: Any) -> bool:
    """``Layer.__setattr__``: a list, tuple or dict (not a subclass such as a
    namedtuple or OrderedDict) is stored, wrapped, and its modules registered;
    True when done. Anything else assigned over such an attribute drops its
    Held module; False, for torch's own assignment."""
    held = owner.__dict__.get("_modules", {}).get(name)
    if type(value) not in (list, tuple, dict, TrackedList, TrackedDict):
        if isinstance(held, Held):
            del owner._modules[name]
        return False
    if name in owner.__dict__.get("_modules", {}) and not isinstance(held, Held):
        return False  # a module attribute given a list: torch's error
    if name.startswith("_") and not any(True for _ in _modules_in(value)):
        return False  # brainnet's own bookkeeping (names with _) stays plain unless it holds modules
    value = _wrap(value, owner, name)
    object.__setattr__(owner, name, value)
    _register(owner, name, value)
    return True


def type_name(value: Any) -> str:
    """The name an error message gives ``value``'s type: a tracked list or dict
    is the ``list`` or ``dict`` the user assigned."""
    if isinstance(value, _Tracked):
        return "list" if isinstance(value, list) else "dict"
    return type(value).__name__



# Attributes set before super().__init__(): Keras 3 takes them (keras.io's Switch Transformer sets its
# router's Dense before calling it); torch refuses a module then. They are kept as plain attributes, so
# that __init__ can read them back, and set again through Layer.__setattr__ once the layer exists.
_EARLY = "_attributes_before_init"


def hold_early(owner: Any, name: str, value: Any) -> None:
    """``Layer.__setattr__`` before ``nn.Module.__init__``: keep ``value`` plainly, to be set again."""
    owner.__dict__.setdefault(_EARLY, []).append(name)
    owner.__dict__[name] = value  # not through a property's setter, which needs the layer to exist


def set_early(owner: Any) -> None:
    """End of ``Layer.__init__``: each attribute kept by ``hold_early`` set as if assigned now (its layers,
    lists of layers and weights registered)."""
    for name in dict.fromkeys(owner.__dict__.pop(_EARLY, ())):
        if name in owner.__dict__:  # not replaced by Layer.__init__ itself
            setattr(owner, name, owner.__dict__.pop(name))


def unshadow(owner: Any, name: str, value: Any) -> None:
    """``Layer.__setattr__`` after torch's: a module assigned to a name that the class also defines
    (``self.activation = layers.Activation(...)``, Layer's ``activation`` being None; a method's name) is
    kept by torch in ``_modules`` only, which Python reads after the class attribute, so the attribute
    read back would be the class's. A copy in the instance's ``__dict__`` makes it the module, as in
    Keras 3 (a property is left to its setter)."""
    if not (value is None or isinstance(value, nn.Module)):
        return
    modules = owner.__dict__["_modules"]
    if name not in modules:
        return
    for klass in type(owner).__mro__:
        if name in klass.__dict__:
            if not hasattr(klass.__dict__[name], "__set__"):  # a plain value or a method, not a property
                owner.__dict__[name] = modules[name]
            return


def set_attribute(layer: Any, name: str, value: Any, layer_class: type) -> None:
    """``Layer.__setattr__``: an attribute set before ``Layer.__init__`` is held until the
    layer exists; a layer assigned to a frozen layer is frozen (Keras 3: it has no trainable
    weights, nor those it gets later); an ``add_weight`` result keeps its one weight; a
    module made in ``__init__`` or ``build`` takes the layer's mode; a list, tuple or dict
    of layers is tracked (Keras 3); then torch's ``__setattr__``, and ``unshadow``."""
    if "_modules" not in layer.__dict__ and name != "__class__":  # __class__ is set at once: Model's
        return hold_early(layer, name, value)  # functional-subclass rule swaps it before its init
    if isinstance(value, layer_class) and not layer.__dict__.get("_trainable", True):
        value.trainable = False
    if isinstance(value, nn.Parameter) and _weights.weight_attribute(layer, name, value):
        return object.__setattr__(layer, name, value)  # self.v_params = self.add_weight(name="v"): one weight
    elif isinstance(value, nn.Module) and value.training != layer.training:
        _training_mode.take_mode(layer, value)  # a new module is in train() mode
    elif takes(layer, name, value):  # a list, tuple or dict: its layers are this layer's
        return
    super(layer_class, layer).__setattr__(name, value)  # torch's (what follows Layer in the class order)
    unshadow(layer, name, value)  # self.activation = layers.Activation(...): the module, not Layer's None
