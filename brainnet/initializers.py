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

* ``Zeros``, ``Ones``, ``Constant(value)``: w = 0, 1, value.
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

Example:
    >>> from brainnet import initializers, layers
    >>> dense = layers.Dense(64, activation="relu", kernel_initializer="he_normal")
    >>> initializers.get("he_normal")
    HeNormal(seed=None)
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Callable

import torch

Tensor = torch.Tensor
Shape = tuple

_TRUNCATION_STD = 0.87962566103423978  # std of N(0, 1) cut at ±2


def compute_fans(shape: Shape) -> tuple[int, int]:
    """Keras's ``(fan_in, fan_out)`` of a weight shape: ``(1, 1)`` for a scalar,
    ``(n, n)`` for ``(n,)``, ``(in, out)`` for a matrix, and for a kernel
    ``(..., in, out)`` both times the product of the leading (window) sizes."""
    shape = tuple(int(d) for d in shape)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _dtype(dtype: Any) -> torch.dtype:
    if dtype is None:
        return torch.get_default_dtype()
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def _number(cls: str, arg: str, value: Any, *, positive: bool = False, example: str = "") -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or (positive and value <= 0):
        want = "a number > 0" if positive else "a finite number"
        raise ValueError(
            f"{cls}: expected {arg} to be {want}, got {value!r}. Fix: {cls}({example or f'{arg}=1.0'})."
        )
    return float(value)


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns the initial tensor.

    Subclass it and override ``__call__`` (and ``get_config`` for saving,
    with ``@brainnet.saving.register_serializable()``) for an initializer of
    your own; a plain function ``fn(shape, dtype=None)`` works too.
    """

    elementwise = False  # draws every entry alike and independently (any axis order has the same law)

    def __call__(self, shape: Shape, dtype: Any = None) -> Tensor:
        return self.sample(tuple(int(d) for d in shape), compute_fans(shape), dtype)

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        """The values for ``shape`` with the given fans (an elementwise
        initializer of a kernel stored in another axis order gets the fans of
        its Keras shape)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


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
    """w = value (a number).

    Args:
        value: the constant (default 0.0).
    """

    elementwise = True

    def __init__(self, value: float = 0.0) -> None:
        self.value = _number("Constant", "value", value, example="value=0.1")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return torch.full(shape, self.value, dtype=_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class _Random(Initializer):
    """An initializer with Keras's ``seed`` (an integer, or None for torch's generator)."""

    elementwise = True

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            name = type(self).__name__
            raise ValueError(
                f"{name}: expected seed to be an integer or None, got {seed!r}. Fix: {name}(seed=42), or "
                "seed=None to draw from torch's generator (set by brainnet.utils.set_random_seed)."
            )
        self.seed = None if seed is None else int(seed)

    def _generator(self) -> torch.Generator | None:
        """A fresh generator at ``seed`` (so every call repeats its values), or None."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomNormal(_Random):
    """w ~ N(mean, stddev²).

    Args:
        mean: default 0.0; stddev: default 0.05 (> 0); seed: integer or None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("RandomNormal", "mean", mean, example="mean=0.0, stddev=0.05")
        self.stddev = _number("RandomNormal", "stddev", stddev, positive=True, example="mean=0.0, stddev=0.05")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return torch.empty(shape, dtype=_dtype(dtype)).normal_(self.mean, self.stddev, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Random):
    """w ~ U(minval, maxval).

    Args:
        minval: default -0.05; maxval: default 0.05 (> minval); seed: integer or None.
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval = _number("RandomUniform", "minval", minval, example="minval=-0.05, maxval=0.05")
        self.maxval = _number("RandomUniform", "maxval", maxval, example="minval=-0.05, maxval=0.05")
        if self.maxval <= self.minval:
            raise ValueError(
                f"RandomUniform: expected minval < maxval, got minval={minval!r}, maxval={maxval!r}. "
                "Fix: RandomUniform(minval=-0.05, maxval=0.05)."
            )

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        t = torch.empty(shape, dtype=_dtype(dtype))
        return t.uniform_(self.minval, self.maxval, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


def _truncated(shape: Shape, mean: float, std: float, dtype: Any, generator: torch.Generator | None) -> Tensor:
    """N(mean, std²) cut at mean ± 2·std (the law of Keras's redrawn values)."""
    t = torch.empty(shape, dtype=_dtype(dtype))
    return torch.nn.init.trunc_normal_(t, mean, std, mean - 2 * std, mean + 2 * std, generator=generator)


class TruncatedNormal(_Random):
    """N(mean, stddev²) with values beyond mean ± 2·stddev drawn again
    (their spread is then about 0.88·stddev).

    Args:
        mean: default 0.0; stddev: default 0.05 (> 0); seed: integer or None.
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean = _number("TruncatedNormal", "mean", mean, example="mean=0.0, stddev=0.05")
        self.stddev = _number("TruncatedNormal", "stddev", stddev, positive=True, example="mean=0.0, stddev=0.05")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        return _truncated(shape, self.mean, self.stddev, dtype, self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Random):
    """Values of variance scale/n, n from the weight's fans (see the module's docstring).

    Args:
        scale: > 0 (default 1.0).
        mode: ``"fan_in"`` (default), ``"fan_out"`` or ``"fan_avg"``.
        distribution: ``"truncated_normal"`` (default; ``"normal"`` is taken
            for it, as Keras), ``"untruncated_normal"`` or ``"uniform"``.
        seed: integer or None.
    """

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.scale = _number("VarianceScaling", "scale", scale, positive=True, example="scale=2.0")
        if mode not in _MODES:
            raise ValueError(
                f"VarianceScaling: expected mode among {', '.join(map(repr, _MODES))}, got {mode!r}. "
                "Fix: VarianceScaling(mode='fan_in') (He and LeCun) or mode='fan_avg' (Glorot)."
            )
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in _DISTRIBUTIONS:
            raise ValueError(
                f"VarianceScaling: expected distribution among {', '.join(map(repr, _DISTRIBUTIONS))}, got "
                f"{distribution!r}. Fix: VarianceScaling(distribution='truncated_normal') or 'uniform'."
            )
        self.mode, self.distribution = mode, dist

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        fan_in, fan_out = fans
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated(shape, 0.0, math.sqrt(variance) / _TRUNCATION_STD, dtype, self._generator())
        t = torch.empty(shape, dtype=_dtype(dtype))
        if self.distribution == "untruncated_normal":
            return t.normal_(0.0, math.sqrt(variance), generator=self._generator())
        limit = math.sqrt(3.0 * variance)
        return t.uniform_(-limit, limit, generator=self._generator())

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _Named(VarianceScaling):
    """A VarianceScaling whose only argument is the seed."""

    settings: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self.settings, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_Named):
    """U(−l, l), l = √(6 / (fan_in + fan_out)) (Xavier; Keras's default kernel)."""

    settings = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Named):
    """Truncated normal of variance 2 / (fan_in + fan_out)."""

    settings = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_Named):
    """Truncated normal of variance 2 / fan_in (He et al. 2015, for ReLU)."""

    settings = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Named):
    """U(−l, l), l = √(6 / fan_in)."""

    settings = (2.0, "fan_in", "uniform")


class LecunNormal(_Named):
    """Truncated normal of variance 1 / fan_in (for SELU)."""

    settings = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Named):
    """U(−l, l), l = √(3 / fan_in)."""

    settings = (1.0, "fan_in", "uniform")


def _check_2d(cls: str, shape: Shape, rank: str, fix: str) -> None:
    if len(shape) < 2 or (rank == "exactly" and len(shape) != 2):
        raise ValueError(
            f"{cls}: expected a shape of {rank} 2 axes (a matrix), got {tuple(shape)}. Fix: {fix}."
        )


class Orthogonal(_Random):
    """An orthogonal matrix (times ``gain``): shape flattened to
    (Π shape[:-1], shape[-1]); orthonormal columns, or rows when there are
    fewer rows than columns (Keras's recurrent kernels).

    Args:
        gain: factor (default 1.0); seed: integer or None.
    """

    elementwise = False

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = _number("Orthogonal", "gain", gain, example="gain=1.0")

    def sample(self, shape: Shape, fans: tuple[int, int], dtype: Any = None) -> Tensor:
        _check_2d("Orthogonal", shape, "at least",
                  "use Orthogonal on kernels (matrices or convolution kernels), 'zeros' for biases")
        flat = torch.empty(math.prod(shape[:-1]), shape[-1], dtype=_dtype(dtype))
        return torch.nn.init.orthogonal_(flat, gain=self.gain, generator=self._generator()).reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


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
