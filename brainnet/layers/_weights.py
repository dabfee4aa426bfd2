"""A layer's weights: how ``add_weight`` makes and registers them, how
``set_weights`` copies arrays in (and spots Keras's kernel layout), and the
regularization penalties ``layer.losses`` collects. ``Layer``'s methods of
the same names call these functions.

Trainable weights are ``nn.Parameter``s; non-trainable ones (such as
BatchNormalization's moving statistics) are buffers, so both follow
``.to(device)`` and ``state_dict()``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

import numpy as np

import torch
from torch import nn

from .. import initializers

# Initializers (Keras defaults: glorot_uniform kernels, zero biases); brainnet.initializers makes the values.
UNNAMED = "weight_"  # add_weight without a name: weight_0, weight_1, ... until assigned to an attribute
INITIALIZERS = ("zeros", "ones", "glorot_uniform", "glorot_normal", "random_normal", "normal", "random_uniform",
                "uniform", "truncated_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
                "orthogonal")

WEIGHT_OF = {"recurrent": "recurrent_kernel"}  # argument prefix → weight name, where they differ


def _initial_value(layer: str, shape: tuple[int, ...], initializer: Any) -> torch.Tensor:
    """Keras's initializers, by name (``"he_normal"``, ``"HeNormal"``), as an
    object or a function of the shape, with Keras's fans (``compute_fans``)."""
    return initializers.initial_value(
        layer, initializers.layer_initializer(f"{layer}.add_weight", "initializer", initializer), shape)


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int) -> torch.Tensor:
    """U(−l, l) with l = √(6 / (fan_in + fan_out)), for the given fans."""
    return initializers.GlorotUniform().sample(shape, (fan_in, fan_out))


def add_weight(
    layer: Any,
    name: str | None,
    value: torch.Tensor | None,
    trainable: bool,
    shape: Iterable[int] | None,
    initializer: str | Callable[[tuple[int, ...]], torch.Tensor] | None,
    regularizer: Any = None,
    constraint: Any = None,
    dtype: Any = None,
) -> torch.Tensor:
    """``Layer.add_weight``: the value given, or made from ``shape`` with
    ``initializer``: one of ``brainnet.initializers`` by name
    (``"glorot_uniform"``, Keras's default, also for None, ``"zeros"``,
    ``"ones"``, ``"he_normal"``, ``"orthogonal"``, ...), an ``Initializer``
    object or a function ``fn(shape, dtype=None)``, with the fans Keras
    computes; cast to ``dtype`` (``"float32"``, ``"int64"``, ... or a torch
    dtype) when given. It is registered as an ``nn.Parameter`` (trainable) or
    a buffer (non-trainable, such as BatchNormalization's moving statistics),
    so both follow ``.to(device)`` and ``state_dict()``. A trainable weight's
    ``regularizer`` (``"l2"``, a ``Regularizer``: ``R(w)`` joins ``losses``)
    and ``constraint`` (projects ``w`` after each update) are kept for
    ``weight_regularizers`` and ``weight_constraints`` (``rules_by_name``), as Keras 3."""
    from .. import constraints, regularizers

    kind = type(layer).__name__
    if name is not None and not isinstance(name, str):
        raise ValueError(
            f"{kind}.add_weight: expected a name (a string) as the first positional argument (brainnet's order: "
            f"name, value, trainable), got {name!r}, Keras's positional shape. Fix: give the shape by keyword, "
            f"self.add_weight(shape={tuple(name) if isinstance(name, (list, tuple)) else name!r}, "
            "initializer='glorot_uniform')."
        )
    wanted = _weight_dtype(kind, dtype, trainable)
    rules = (regularizers.get(regularizer, argument="regularizer"), constraints.get(constraint))
    initializer = "glorot_uniform" if initializer is None else initializer
    if value is None:
        if shape is None:
            raise ValueError(
                f"{kind}.add_weight: expected a value or a shape, got neither. Fix: "
                "self.add_weight(shape=(units,), initializer='zeros', name='bias') or "
                "self.add_weight('bias', torch.zeros(units))."
            )
        value = _initial_value(kind, tuple(int(d) for d in shape), initializer)
    elif shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{kind}.add_weight: expected a value of shape {tuple(shape)}, got {tuple(value.shape)}. "
            "Fix: give either the value or the shape and initializer."
        )
    if wanted is not None:
        value = value.to(wanted)
    if name is None:  # renamed after the attribute it is assigned to (see Layer.__setattr__)
        name = f"{UNNAMED}{len(list(layer.named_parameters(recurse=False))) + len(layer._non_trainable)}"
    if trainable:
        param = nn.Parameter(value, requires_grad=layer._trainable)
        layer.register_parameter(name, param)
        if rules != (None, None):
            layer.__dict__.setdefault("_weight_rules", []).append((param, *rules))
        return param
    layer.register_buffer(name, value)
    layer._non_trainable.append(name)
    return value


def drop_unnamed(layer: Any, value: nn.Parameter) -> None:
    """``self.kernel = self.add_weight(shape=...)`` (Keras's form, no name):
    the weight registered as ``weight_<i>`` takes the attribute's name instead
    of being registered twice (``Layer.__setattr__``)."""
    params = layer.__dict__.get("_parameters", {})
    for key in [k for k, p in params.items() if p is value and k.startswith(UNNAMED)]:
        del params[key]


def weight_attribute(layer: Any, name: str, value: nn.Parameter) -> bool:
    """``Layer.__setattr__`` of a weight. ``self.kernel = self.add_weight(shape=...)``
    (no name): the weight registered as ``weight_<i>`` takes the attribute's
    name. ``self.v_params = self.add_weight(name="v", ...)`` (Keras's form with
    a name): True, the weight stays registered once, as ``v``, and the
    attribute only refers to it, so ``state_dict()`` and saved weights hold it once."""
    if name.startswith(UNNAMED):
        return False
    drop_unnamed(layer, value)
    params = layer.__dict__.get("_parameters", {})
    return name not in params and any(p is value for p in params.values())


def set_trainable(layer: nn.Module, value: bool, layer_class: type) -> None:
    """``layer.trainable = value``: as Keras 3, freezing (or unfreezing) a layer
    does the same to every ``layer_class`` inside it and to all its parameters."""
    for module in layer.modules():
        if isinstance(module, layer_class):
            module._trainable = value
    for p in layer.parameters():
        p.requires_grad_(value)


def in_keras_order(layer: nn.Module, layer_class: type) -> list[torch.Tensor]:
    """``layer.weights`` in Keras 3's order: layer by layer (``layer`` first,
    then the layers inside it), each layer's own parameters, then its
    non-trainable state (moving means, ...). Freezing a layer does not move its
    weights, so ``get_weights()`` of a model lines up with ``set_weights`` of a
    copy whatever is frozen in either."""
    found: list[torch.Tensor] = []
    seen: set[int] = set()
    for module in layer.modules():
        own = list(module.parameters(recurse=False))
        if isinstance(module, layer_class):
            own += [getattr(module, n) for n in module._non_trainable]
        for w in own:
            if id(w) not in seen:
                seen.add(id(w))
                found.append(w)
    return found


def initial_value(layer: Any, kind: str, keras_shape: tuple[int, ...]) -> torch.Tensor:
    """``Layer.initial_value``: the weight ``kind``'s first value from the layer's
    ``<kind>_initializer``, drawn for its Keras shape (Keras's fans), then
    stored in brainnet's axis order (the inverse of ``layer.keras_order``)."""
    order = layer.keras_order(weight_name(layer, kind))
    stored = None if order is None else tuple(int(i) for i in np.argsort(order))
    return initializers.initial_value(type(layer).__name__, getattr(layer, f"{kind}_initializer"),
                                      keras_shape, stored)


def weight_name(layer: Any, kind: str) -> str:
    """The weight that ``<kind>_initializer`` (``_regularizer``, ``_constraint``)
    is for: ``kind`` itself, or the layer class's ``_weight_names`` entry, or
    ``WEIGHT_OF``'s (``recurrent`` → ``recurrent_kernel``)."""
    return layer._weight_names.get(kind) or WEIGHT_OF.get(kind, kind)


def own_rules(layer: Any, rule: str) -> dict[str, Any]:
    """``Layer.weight_regularizers`` (``rule="regularizer"``) and
    ``weight_constraints`` (``"constraint"``): weight name → the
    ``<kind>_<rule>`` argument of each of the layer class's ``_weight_kinds``,
    then what ``add_weight(regularizer=..., constraint=...)`` was given."""
    own = {weight_name(layer, k): getattr(layer, f"{k}_{rule}") for k in layer._weight_kinds}
    return {**own, **rules_by_name(layer, 0 if rule == "regularizer" else 1)}


def rules_by_name(layer: Any, which: int) -> dict[str, Any]:
    """Weight name → the regularizer (``which=0``) or constraint (1) given to
    ``add_weight`` for that weight (its name is the attribute it was assigned to)."""
    rules = layer.__dict__.get("_weight_rules")
    if not rules:
        return {}
    names = {id(p): n for n, p in layer.named_parameters(recurse=False)}
    return {names[id(rule[0])]: rule[1 + which] for rule in rules if id(rule[0]) in names}


def _weight_dtype(kind: str, dtype: Any, trainable: bool) -> torch.dtype | None:
    """``add_weight``'s ``dtype`` (Keras's: a name such as ``"float32"``, or a torch dtype) as a torch dtype."""
    if dtype is None:
        return None
    resolved = dtype if isinstance(dtype, torch.dtype) else getattr(torch, str(dtype), None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(
            f"{kind}.add_weight: expected dtype to be a dtype name such as 'float32' or 'int64' (or a torch.dtype), "
            f"got {dtype!r}. Fix: self.add_weight(shape=..., initializer=..., dtype='float32')."
        )
    if trainable and not resolved.is_floating_point:
        raise ValueError(
            f"{kind}.add_weight: expected a floating dtype for a trainable weight (gradients need one), got "
            f"dtype={dtype!r}. Fix: add_weight(..., dtype='float32'), or trainable=False for a weight of counts."
        )
    return resolved


def set_weights(layer: Any, arrays: list[Any]) -> None:
    """``Layer.set_weights``: copy ``arrays`` into ``layer.weights``, in order,
    or raise naming the shapes (and the transpose for a Keras-layout kernel)."""
    weights = layer.weights
    if len(arrays) != len(weights):
        raise ValueError(
            f"Layer '{layer.name}' set_weights: expected {len(weights)} arrays "
            f"(shapes {[tuple(w.shape) for w in weights]}), got {len(arrays)}. "
            "Fix: pass the list that get_weights() returns."
        )
    with torch.no_grad():
        for w, a in zip(weights, arrays):
            copy_checked(layer, w, a, "set_weights")


def copy_checked(layer: Any, weight: torch.Tensor, array: Any, method: str) -> None:
    """Copy ``array`` into ``weight`` (one of ``layer``'s, under ``no_grad``) for
    ``method`` (``set_weights``, ``load_own_variables``), or raise naming the two
    shapes, and the transpose when ``array`` is a kernel in Keras's layout."""
    t = torch.as_tensor(np.asarray(array))
    if tuple(t.shape) != tuple(weight.shape):
        keras = {5: (4, 3, 0, 1, 2), 4: (3, 2, 0, 1), 3: (2, 1, 0)}.get(weight.dim())  # Keras kernel → PyTorch's
        if keras is not None and t.dim() == weight.dim() and tuple(t.permute(*keras).shape) == tuple(weight.shape):
            names = {id(w): n for n, w in [*layer.named_parameters(), *layer.named_buffers()]}
            first, second = layer.kernel_layouts.get(names.get(id(weight), ""), layer.kernel_layout)
            raise ValueError(
                f"Layer '{layer.name}' {method}: expected shape {tuple(weight.shape)} (PyTorch's "
                f"kernel layout: {first}, {second}, then the window), got {tuple(t.shape)}, Keras's "
                f"layout (the window, {second}, {first}). Fix: np.transpose(kernel, {keras})."
            )
        raise ValueError(
            f"Layer '{layer.name}' {method}: expected shape "
            f"{tuple(weight.shape)}, got {tuple(t.shape)}. "
            "Fix: pass arrays shaped like get_weights()."
        )
    weight.copy_(t)


def penalties(layer: nn.Module, layer_class: type) -> list[torch.Tensor]:
    """``layer.losses``: ``R(w)`` of each regularized trainable weight of every
    ``layer_class`` inside ``layer`` (itself included), computed now, then the
    activity penalty ``R(y)`` each activity-regularized one kept at its last
    call, and what each one's last call gave ``add_loss``. Training adds their
    sum to the loss."""
    from ..regularizers import weight_penalties

    found: list[torch.Tensor] = []
    for module in layer.modules():
        if isinstance(module, layer_class):
            found += weight_penalties(module, module.weight_regularizers())
            if module.activity_regularizer is not None and module._activity_loss is not None:
                found.append(module._activity_loss)
            found += module._added_losses
    return found


def activity_penalty(layer: Any, out: Any, pre_activation: bool) -> torch.Tensor:
    """``R(y)`` of an activity-regularized layer's output ``y`` after the
    activation (``out`` is before it when ``pre_activation``), at every call,
    as Keras 3; a layer with several outputs (``return_state=True``) adds R of each."""
    y = layer.activation(out) if pre_activation and layer.activation is not None else out
    reg = layer.activity_regularizer
    return reg(y) if isinstance(y, torch.Tensor) else sum(reg(t) for t in y)


# Keras 3's Variable methods, and their torch spelling on a brainnet weight (a tensor).
_VARIABLE_METHODS = {
    "assign": "w.copy_(value)",
    "assign_add": "w.add_(value)",
    "assign_sub": "w.sub_(value)",
    "value": "w itself (a brainnet weight is the tensor, there is no w.value)",
}
_NO_ATTRIBUTE = re.compile(r"^'(Tensor|Parameter)' object has no attribute '(\w+)'")


def variable_method_error(layer: Any, err: AttributeError) -> AttributeError | None:
    """The teaching error for a Keras ``Variable`` method (``assign_add`` ...)
    called on a weight in ``call``, or None for any other AttributeError."""
    found = _NO_ATTRIBUTE.match(str(err))
    if found is None or found.group(2) not in _VARIABLE_METHODS:
        return None
    method = found.group(2)
    return AttributeError(
        f"Layer '{layer.name}' ({type(layer).__name__}): expected torch operations on weights, got Keras's "
        f"Variable method .{method} on a {found.group(1)}: brainnet weights are torch tensors (trainable ones "
        f"nn.Parameter), without assign methods. Fix: {_VARIABLE_METHODS[method]}; on a trainable weight, "
        "inside `with torch.no_grad():`. (Keras's assign is w.copy_(value), assign_add w.add_(value), "
        "assign_sub w.sub_(value).)"
    )


def own_weights(layer: Any) -> list[torch.Tensor]:
    """A layer's own weights (not those of the layers inside it), trainable first, as Keras orders them."""
    params = [p for _, p in layer.named_parameters(recurse=False)]
    trainable = [p for p in params if p.requires_grad]
    return trainable + [p for p in params if not p.requires_grad] + [getattr(layer, n) for n in layer._non_trainable]


def save_store(layer: Any, store: dict[str, Any]) -> None:
    """``Layer.save_own_variables``: the layer's own weights (not those of the
    layers inside it) as ``store["0"]``, ``store["1"]``, ... NumPy arrays,
    trainable first, as Keras 3; a layer may override it (with
    ``load_own_variables``) to save more, and ``model.save`` keeps what it stores."""
    for i, weight in enumerate(own_weights(layer)):
        store[str(i)] = weight.detach().cpu().numpy()


def load_store(layer: Any, store: dict[str, Any]) -> None:
    """``Layer.load_own_variables``: the layer's own weights from ``store["0"]``,
    ``store["1"]``, ...; ``load_model`` calls a layer's override with what it saved."""
    weights = own_weights(layer)
    numbered = [k for k in store if k.isdigit()]
    if len(numbered) != len(weights):
        raise ValueError(
            f"Layer '{layer.name}' load_own_variables: expected {len(weights)} arrays stored under '0'..'"
            f"{len(weights) - 1}' (its own weights), got {len(numbered)}. Fix: load the file into the same "
            "architecture that saved it, or override load_own_variables to read what save_own_variables wrote."
        )
    with torch.no_grad():
        for i, weight in enumerate(weights):
            copy_checked(layer, weight, store[str(i)], "load_own_variables")  # set_weights' shape check and error


def marks_built(build: Callable[..., None]) -> Callable[..., None]:
    """A user's ``build`` that marks the layer built when called by hand
    (``layer.build((None, 8))``, or with arguments of its own), as Keras 3
    does, so that its first call does not build it again."""
    import functools

    @functools.wraps(build)
    def built_by_hand(self: Any, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        self.built = True

    return built_by_hand
