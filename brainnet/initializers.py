"""Weight initializers, as Keras 3 names them.

An initializer makes a weight's first value from its shape:
``init(shape, dtype=None)`` returns a tensor. Layers take them as
``kernel_initializer=``, ``bias_initializer=`` (and ``recurrent_initializer=``,
``embeddings_initializer=``, ``gamma_initializer=``, ...), by name
(``"he_normal"``, ``"HeNormal"``) or as an object (``HeNormal(seed=0)``).

``fan_in`` and ``fan_out`` are Keras's (``compute_fans``), on the kernel's
*Keras* shape: a Dense kernel ``(in, out)`` has fans ``in`` and ``out``; a
convolution kernel ``(kh, kw, in, out)`` has ``kh·kw·in`` and ``kh·kw·out``
(the window's positions count), even though brainnet stores a Conv2D kernel
in PyTorch's order ``(out, in, kh, kw)``; a vector ``(n,)`` has ``n`` and ``n``.

* ``Zeros``, ``Ones``, ``Constant(value)``: w = 0, 1, value (a number, or an
  array broadcast to the weight's shape).
* ``RandomNormal(mean=0, stddev=0.05)``: w ~ N(mean, stddev²).
* ``RandomUniform(minval=-0.05, maxval=0.05)``: w ~ U(minval, maxval).
* ``TruncatedNormal(mean=0, stddev=0.05)``: N(mean, stddev²) with the values
  beyond mean ± 2·stddev drawn again.
* ``VarianceScaling(scale=1, mode="fan_in", distribution="truncated_normal")``:
  with n = fan_in, fan_out or (fan_in + fan_out)/2 (``mode``, each at least 1),
  a truncated normal of standard deviation √(scale/n) / 0.87962566103423978
  (the factor makes the variance *after* the cut scale/n), an
  ``"untruncated_normal"`` of σ = √(scale/n), or ``"uniform"`` on ±√(3·scale/n).
* ``GlorotUniform`` (Keras's default kernel), ``GlorotNormal``: scale 1, fan_avg;
  ``HeNormal``, ``HeUniform``: scale 2, fan_in (for ReLU networks);
  ``LecunNormal``, ``LecunUniform``: scale 1, fan_in (for SELU).
* ``Orthogonal(gain=1)``: the shape flattened to (Π shape[:-1], shape[-1]),
  made orthogonal (rows or columns orthonormal, from the QR decomposition of a
  normal matrix), times ``gain`` (Keras's recurrent kernels).
* ``Identity(gain=1)``: ``gain`` times the identity matrix (2-D shapes only).

``seed``: an integer makes an initializer give the same values at every call
(as Keras 3); ``None`` draws from torch's generator, so
``brainnet.utils.set_random_seed`` makes a model's weights reproducible. (An
unseeded Keras 3 initializer draws a seed when it is made and also repeats its
values; brainnet's draws new values at each call, as weights of several
layers sharing one object would expect.)

Where the code lives: ``_initializer_base.py`` (``Initializer``,
``compute_fans``), ``_random_initializers.py`` (the random ones, from
``RandomNormal`` to ``Orthogonal``); this module holds the deterministic
ones (``Zeros``, ``Ones``, ``Constant``, ``Identity``), the lookup by name
(``get``, ``serialize``) and what layers use to make their first weights.

Example:
    >>> from brainnet import initializers, layers
    >>> dense = layers.Dense(64, activation="relu", kernel_initializer="he_normal")
    >>> initializers.get("he_normal")
    HeNormal(seed=None)
"""

from __future__ import annotations

import difflib
import numbers
from typing import Any, Callable

import numpy as np
import torch

from ._initializer_base import Initializer, Shape, Tensor, _check_2d, _dtype, _number, compute_fans
from ._random_initializers import (
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    LecunNormal,
    LecunUniform,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
)


class Zeros(Initializer):
    """w = 0."""

    elementwise = True

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return torch.zeros(shape, dtype=_dtype(dtype))


class Ones(Initializer):
    """w = 1."""

    elementwise = True

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return torch.ones(shape, dtype=_dtype(dtype))


class Constant(Initializer):
    """w = value: a number, or (as Keras 3 computes ``value · ones(shape)``)
    an array broadcast to the weight's Keras shape, e.g. a Dense bias that
    starts as a flattened identity matrix, ``Constant(np.eye(3).flatten())``.

    Args:
        value: the constant (default 0.0): a finite number, or an array-like
            of finite numbers whose shape broadcasts to the weight's.

    Raises:
        ValueError: a value that is not numbers, or an array whose shape does
            not broadcast to the weight's shape.
    """

    elementwise = True

    def __init__(self, value: Any = 0.0) -> None:
        if isinstance(value, numbers.Real) or not hasattr(value, "__len__") and not hasattr(value, "shape"):
            self.value = _number("Constant", "value", value, example="value=0.1")
            return
        self.value = _finite_array(value)
        self.elementwise = False  # the array is laid out along the Keras shape's axes

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        if isinstance(self.value, float):
            return torch.full(shape, self.value, dtype=_dtype(dtype))
        try:
            return torch.broadcast_to(self.value.to(_dtype(dtype)), shape).clone()
        except RuntimeError:
            raise ValueError(
                f"Constant: expected a value whose shape broadcasts to the weight's shape {tuple(shape)}, got "
                f"an array of shape {tuple(self.value.shape)}. Fix: give an array of shape {tuple(shape)} "
                f"(e.g. np.eye(k).flatten() for a Dense(k * k) bias) or a number."
            ) from None

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value if isinstance(self.value, float) else self.value.tolist()}


def _finite_array(value: Any) -> Tensor:
    """``value`` as a float64 tensor, refused unless it is finite numbers."""
    try:
        array = torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        array = None
    if array is None or not bool(torch.isfinite(array).all()):
        raise ValueError(
            f"Constant: expected value to be a finite number or an array of finite numbers, got {value!r}. "
            "Fix: Constant(value=0.1) or Constant(np.eye(3).flatten())."
        )
    return array


class Identity(Initializer):
    """``gain`` times the identity matrix (ones on the diagonal of a 2-D shape).

    Args:
        gain: factor (default 1.0).
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number("Identity", "gain", gain, example="gain=1.0")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        _check_2d("Identity", shape, "exactly", "use Identity on Dense or recurrent kernels only")
        return self.gain * torch.eye(*shape, dtype=_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# Keras's snake_case names (and its short aliases "normal", "uniform").
_BY_NAME: dict[str, type[Initializer]] = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_normal": HeNormal,
    "he_uniform": HeUniform, "lecun_normal": LecunNormal, "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal, "identity": Identity, "normal": RandomNormal, "uniform": RandomUniform,
}
_CLASSES: dict[str, type[Initializer]] = {c.__name__: c for c in set(_BY_NAME.values())}
_CLASSES.update({"OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity})  # Keras 3's other names
_NAME_OF = {cls: name for name, cls in reversed(list(_BY_NAME.items()))}  # the class → its snake_case name

# Keras's lower-case functions, as aliases of the classes.
zeros, ones, constant, random_normal, random_uniform = Zeros, Ones, Constant, RandomNormal, RandomUniform
truncated_normal, variance_scaling, orthogonal, identity = TruncatedNormal, VarianceScaling, Orthogonal, Identity
glorot_uniform, glorot_normal, he_normal, he_uniform = GlorotUniform, GlorotNormal, HeNormal, HeUniform
lecun_normal, lecun_uniform = LecunNormal, LecunUniform


def get(identifier: Any, *, argument: str | None = None, layer: str | None = None) -> Initializer | Callable | None:
    """An initializer from a name (``"he_normal"`` or ``"HeNormal"``), a saved
    ``{"class_name": ..., "config": ...}``, an instance, a class, a function
    ``fn(shape, dtype=None)``, or None (returned as None).

    Args:
        identifier: what the user gave.
        argument: the layer argument it was given as (``"kernel_initializer"``),
            for the error message; layer: the layer's class name, likewise.

    Raises:
        ValueError: an unknown name, or something that is not an initializer.
    """
    from . import _registry

    found = None if identifier is None else _registry.resolve(identifier, Initializer, "initializer", _BY_NAME,
                                                               _CLASSES)
    if identifier is None or found is not None:
        return found
    _refuse(identifier, argument, layer)


def _refuse(identifier: Any, argument: str | None, layer: str | None) -> None:
    """The error for something that is no initializer, with the closest name as the fix."""
    close = []
    if isinstance(identifier, str):  # a name it begins (in Keras's order: 'glorot' → 'glorot_uniform'), or a close one
        close = [n for n in _BY_NAME if identifier and n.startswith(identifier.lower())]
        close = close or difflib.get_close_matches(identifier.lower(), list(_BY_NAME), n=1, cutoff=0.5)
    suggestion = close[0] if close else ("zeros" if argument == "bias_initializer" else "glorot_uniform")
    where = f"{layer}: expected {argument}" if layer and argument else "initializers.get: expected an initializer"
    raise ValueError(
        f"{where} among {', '.join(n for n in _BY_NAME if n not in ('normal', 'uniform'))} (or Keras's class "
        f"names), a brainnet.initializers.Initializer or a function fn(shape, dtype=None), got {identifier!r}. "
        f"Fix: {argument or 'initializer'}={suggestion!r}."
    )


def serialize(initializer: Any) -> str | dict[str, Any]:
    """For a layer's config: Keras's snake_case name for one of brainnet's
    initializers with its default settings (``"he_normal"``), else
    ``{"class_name": ..., "config": ...}``.

    Raises:
        ValueError: a plain function (it has no config to save).
    """
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"save: expected a brainnet.initializers.Initializer, got the function {initializer!r}, which "
            "cannot be written to a file. Fix: subclass brainnet.initializers.Initializer with __call__ and "
            "get_config(), decorated with @brainnet.saving.register_serializable()."
        )
    cls = type(initializer)
    if cls in _NAME_OF and initializer.get_config() == cls().get_config():
        return _NAME_OF[cls]
    from . import _registry

    return {"class_name": _registry.registered_name(cls) or cls.__name__, "config": initializer.get_config()}


def config_of(layer: Any, *kinds: str) -> dict[str, Any]:
    """``{"<kind>_initializer": serialize(...)}`` for ``get_config`` (None, which a
    layer never holds but a copy being configured may, is left out)."""
    found = {k: getattr(layer, f"{k}_initializer") for k in kinds}
    return {f"{k}_initializer": serialize(i) for k, i in found.items() if i is not None}


def layer_initializer(layer: str, argument: str, value: Any) -> Initializer | Callable:
    """``get`` for a layer argument, which cannot be None."""
    if value is None:
        _refuse(value, argument, layer)
    return get(value, argument=argument, layer=layer)


def initial_value(layer: str, initializer: Any, keras_shape: Shape, order: tuple[int, ...] | None = None) -> Tensor:
    """A weight's first value: ``initializer`` applied to its Keras shape, the
    result's axes then put in brainnet's storage ``order`` (a permutation of
    the Keras axes, e.g. ``(3, 2, 0, 1)`` for a Conv2D kernel (kh, kw, in, out)
    stored (out, in, kh, kw)); an elementwise initializer draws directly in
    the stored order, with the fans of the Keras shape.

    Raises:
        ValueError: a function returned a value of another shape.
    """
    keras_shape = tuple(int(d) for d in keras_shape)
    stored = keras_shape if order is None else tuple(keras_shape[i] for i in order)
    if isinstance(initializer, Initializer) and initializer.elementwise:
        return initializer.sample(stored, compute_fans(keras_shape))
    if isinstance(initializer, Initializer):
        value = initializer(keras_shape)
    else:
        value = torch.as_tensor(initializer(keras_shape), dtype=torch.get_default_dtype())
    if tuple(value.shape) != keras_shape:
        raise ValueError(
            f"{layer}: expected the initializer {initializer!r} to return a value of shape {keras_shape}, got "
            f"{tuple(value.shape)}. Fix: return a tensor or array of the shape it is given, e.g. "
            "def init(shape, dtype=None): return torch.randn(shape) * 0.01."
        )
    return value if order is None else value.permute(order)
