"""The Layer: a ``torch.nn.Module`` that builds its weights on first call.

A brainnet layer follows Keras's life cycle:

* ``__init__`` takes hyperparameters only (plain values, validated at once);
* ``build(input_shape)`` creates the weights from the first input's shape, so
  nobody computes fan-in by hand;
* ``call(inputs)`` computes; ``forward`` (what ``layer(x)`` runs) checks the
  input's rank, builds if needed, then calls ``call``;
* ``compute_output_shape(input_shape)`` gives the output shape without data;
* ``get_config()`` returns the constructor arguments, JSON-safe, and
  ``from_config(cfg)`` rebuilds the layer from them.

Shapes follow Keras: the batch axis is first, images are
``(batch, height, width, channels)`` and sequences ``(batch, time, features)``;
``None`` in a shape means "any size".
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import re
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from .. import activations, initializers

Shape = tuple  # a shape with None for unknown sizes, batch axis first

_NAME_COUNTERS: dict[str, itertools.count] = defaultdict(itertools.count)


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """Keras-style unique names: ``dense``, ``dense_1``, ``dense_2``, ..."""
    n = next(_NAME_COUNTERS[base])
    return base if n == 0 else f"{base}_{n}"


def shape_of(inputs: Any) -> Shape | list[Shape]:
    """Shape of a tensor, or list of shapes of a list of tensors."""
    if isinstance(inputs, (list, tuple)):
        return [tuple(t.shape) for t in inputs]
    return tuple(inputs.shape)


def _normalize_shape(shape: Any) -> Shape | list[Shape]:
    """A shape as a tuple, or several shapes as a list of tuples."""
    if isinstance(shape, list) and shape and isinstance(shape[0], (tuple, list)):
        return [tuple(s) for s in shape]
    return tuple(shape)


def shape_str(shape: Iterable) -> str:
    """Format a shape the way Keras prints it: ``(None, 28, 28, 1)``."""
    dims = tuple(shape)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


_MISSING = object()

# Initializers (Keras defaults: glorot_uniform kernels, zero biases); brainnet.initializers makes the values.
_UNNAMED = "weight_"  # add_weight without a name: weight_0, weight_1, ... until assigned to an attribute
_INITIALIZERS = ("zeros", "ones", "glorot_uniform", "glorot_normal", "random_normal", "normal", "random_uniform",
                 "uniform", "truncated_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
                 "orthogonal")


_WEIGHT_OF = {"recurrent": "recurrent_kernel"}  # argument prefix → weight name, where they differ


def _initial_value(layer: str, shape: tuple[int, ...], initializer: Any) -> torch.Tensor:
    """Keras's initializers, by name (``"he_normal"``, ``"HeNormal"``), as an
    object or a function of the shape, with Keras's fans (``compute_fans``)."""
    return initializers.initial_value(
        layer, initializers.layer_initializer(f"{layer}.add_weight", "initializer", initializer), shape)


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int) -> torch.Tensor:
    """U(−l, l) with l = √(6 / (fan_in + fan_out)), for the given fans."""
    return initializers.GlorotUniform().sample(shape, (fan_in, fan_out))


class Layer(nn.Module):
    """Base class of every brainnet layer (and of ``Model``).

    Subclass it and override ``build`` (make weights with ``add_weight``) and
    ``call`` (compute). Declare ``call(self, inputs, training=None)`` to get
    the training flag (``None`` means "follow ``model.train()/eval()``").

    Args:
        name: layer name; unique by default (``dense``, ``dense_1``, ...).
        input_shape: shape of one sample, without the batch axis. Given to the
            first layer of a ``Sequential`` model, it builds the model at once.
        trainable: whether the weights are updated by training.

    Class attributes a subclass may set:
        equation: the equation the layer computes, in the teaching notation;
            ``model.summary(show_equations=True)`` prints it.
        input_rank: the exact rank (batch axis included) the layer accepts,
            or ``None`` for any rank of at least ``min_rank``.
        rank_hint: what the axes of that rank mean, for error messages.
        input_dtype: the integer dtype the layer takes (Embedding: int64), or
            None for floating inputs.
        supports_masking: whether the layer passes a time-step mask on
            unchanged (layers that change it override ``compute_mask``).
        activation: the final activation ``f`` of layers that have one; such
            layers implement ``call_pre_activation`` and inherit ``call``.
        fixed_axes: input axes whose size the weights depend on (checked on
            every call after build, e.g. ``(-1,)`` for Dense).
        kernel_layout: the channel axes that lead a convolution kernel in
            PyTorch's layout (``("out", "in")``; transposed convolutions
            ``("in", "out")``), for set_weights's hint on Keras's layout;
            kernel_layouts: the same by weight name, for a layer of several kernels.
    """

    equation: str = ""
    input_dtype: torch.dtype | None = None
    supports_masking: bool = False
    activation: Callable[[torch.Tensor], torch.Tensor] | None = None
    fixed_axes: tuple[int, ...] = ()
    kernel_layout: tuple[str, str] = ("out", "in")
    kernel_layouts: dict[str, tuple[str, str]] = {}  # a layer of several kernels: the layout by weight name
    input_rank: int | None = None
    min_rank: int = 1
    rank_hint: str = ""
    rank_fix: str = "reshape the input (for one-channel images: x[..., None] gives (N, H, W, 1))"
    activity_regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None
    _weight_kinds: tuple[str, ...] = ()  # weights with <kind>_initializer/_regularizer/_constraint arguments
    _weight_names: dict[str, str] = {}  # this class's argument prefix → weight name, where they differ
    _activity_loss: torch.Tensor | None = None  # R(output) of the last call

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = inspect.signature(cls.call).parameters
        cls._call_takes_training = "training" in params
        cls._call_takes_mask = "mask" in params

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Iterable[int | None] | None = None,
        trainable: bool = True,
        input_dim: int | None = None,
        dtype: Any = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        kind = type(self).__name__
        if unknown:
            arg = next(iter(unknown))
            raise TypeError(
                f"{kind}: expected the layer's own arguments or name, input_shape, input_dim, trainable, dtype, "
                f"got {arg}={unknown[arg]!r}. Fix: check {arg!r} against help(brainnet.layers.{kind}); "
                "brainnet may not have this Keras option."
            )
        if dtype not in (None, "float32", torch.float32):
            raise ValueError(
                f"{kind}: expected dtype='float32' (this layer computed in float32 under a mixed-precision "
                f"policy, as Keras's output layers often are) or None, got {dtype!r}. Fix: dtype='float32', "
                "or set the policy of the whole model with brainnet.mixed_precision.set_global_policy(...)."
            )
        self.float32 = dtype is not None  # computes in float32 even under autocast
        self.name = name or unique_name(_snake_case(kind))
        if input_dim is not None:  # the older Keras spelling of input_shape=(input_dim,)
            if input_shape is not None:
                raise ValueError(
                    f"{type(self).__name__}: expected input_shape or input_dim, got both "
                    f"(input_shape={input_shape!r}, input_dim={input_dim!r}). Fix: keep one, e.g. "
                    f"input_shape=({input_dim!r},)."
                )
            input_shape = (input_dim,)
        self.input_shape_arg = None if input_shape is None else _check_input_shape_arg(type(self).__name__, input_shape)
        self.built = False
        self.built_input_shape: Shape | None = None
        self._trainable = bool(trainable)
        self._non_trainable: list[str] = []
        self._inbound_nodes: list[Any] = []  # its calls on symbolic tensors (graph nodes), first first
        self.__dict__["_sequential"] = None  # the Sequential model it was last added to

    # ------------------------------------------------------------ graph
    def _first_node(self, what: str) -> Any:
        nodes = self.__dict__.get("_inbound_nodes") or []
        owner = self.__dict__.get("_sequential")
        if not nodes and owner is not None and self in owner.layers:
            owner._symbolic_graph()  # a Sequential's layers get their symbolic tensors when first asked
            nodes = self.__dict__.get("_inbound_nodes") or []
        if not nodes:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): expected a layer called on a symbolic input for "
                f"its {what}, got one never called on an Input (and not in a Sequential model whose input "
                f"shape is known). Fix: x = Input(shape=...); y = {self.name}(x), or give input_shape= to the "
                "first layer of its Sequential model; then layer." + what + "."
            )
        return nodes[0]

    def _own(self, name: str) -> Any:
        """What a subclass stored under ``name`` itself (``self.output = Dense(10)``,
        as PyTorch code often does), which the graph properties below give way to."""
        for table in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(table, {})
            if name in found:
                return found[name]
        return self.__dict__.get(name, _MISSING)

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's first call on symbolic tensors (Keras 3's
        rule), e.g. to build a feature extractor:
        ``Model(model.inputs, [layer.output for layer in model.layers])``."""
        own = self._own("output")
        if own is not _MISSING:
            return own
        node = self._first_node("output")
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    @output.setter
    def output(self, value: Any) -> None:
        self.__dict__["output"] = value

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's first call on symbolic tensors."""
        own = self._own("input")
        return own if own is not _MISSING else self._first_node("input").inputs

    @input.setter
    def input(self, value: Any) -> None:
        self.__dict__["input"] = value

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        name: str | None = None,
        value: torch.Tensor | None = None,
        trainable: bool = True,
        *,
        shape: Iterable[int] | None = None,
        initializer: str | Callable[[tuple[int, ...]], torch.Tensor] = "glorot_uniform",
    ) -> torch.Tensor:
        """Register ``value`` as a weight named ``name`` and return it; or, in
        Keras's form, ``add_weight(shape=(n,), initializer="zeros", name="w")``
        makes the value with one of ``brainnet.initializers`` by name
        (``"glorot_uniform"``, Keras's default, ``"zeros"``, ``"ones"``,
        ``"he_normal"``, ``"orthogonal"``, ...), an ``Initializer`` object
        or a function ``fn(shape, dtype=None)``; fans as Keras computes them.

        Trainable weights are ``nn.Parameter``s; non-trainable ones (such as
        BatchNormalization's moving statistics) are buffers, so both follow
        ``.to(device)`` and ``state_dict()``.
        """
        kind = type(self).__name__
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
        if name is None:  # renamed after the attribute it is assigned to (see __setattr__)
            name = f"{_UNNAMED}{len(list(self.named_parameters(recurse=False))) + len(self._non_trainable)}"
        if trainable:
            param = nn.Parameter(value, requires_grad=self._trainable)
            self.register_parameter(name, param)
            return param
        self.register_buffer(name, value)
        self._non_trainable.append(name)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # self.kernel = self.add_weight(shape=...) (Keras's form, no name): the weight
        # takes the attribute's name instead of being registered twice.
        if isinstance(value, nn.Parameter) and not name.startswith(_UNNAMED):
            params = self.__dict__.get("_parameters", {})
            unnamed = [k for k, p in params.items() if p is value and k.startswith(_UNNAMED)]
            for key in unnamed:
                del params[key]
        super().__setattr__(name, value)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in self.parameters():
            p.requires_grad_(self._trainable)

    @property
    def weights(self) -> list[torch.Tensor]:
        """All weights, trainable first (Keras order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        frozen = [p for p in self.parameters() if not p.requires_grad]
        return frozen + [
            getattr(m, n) for m in self.modules() if isinstance(m, Layer) for n in m._non_trainable
        ]

    def weight_regularizers(self) -> dict[str, Any]:
        """Weight name → regularizer (or None) for this layer's own weights:
        those of ``_weight_kinds`` (``kernel_regularizer=`` and the like);
        layers may override it."""
        return {self._weight_name(k): getattr(self, f"{k}_regularizer") for k in self._weight_kinds}

    def weight_constraints(self) -> dict[str, Any]:
        """Weight name → constraint (or None) for this layer's own weights
        (``kernel_constraint=`` and the like, of ``_weight_kinds``)."""
        return {self._weight_name(k): getattr(self, f"{k}_constraint") for k in self._weight_kinds}

    def _weight_name(self, kind: str) -> str:
        """The weight that ``<kind>_initializer`` (``_regularizer``, ``_constraint``) is for."""
        return self._weight_names.get(kind) or _WEIGHT_OF.get(kind, kind)

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        """The permutation that shows weight ``weight`` in Keras's axis order
        (``stored.permute(order)``), or None when brainnet stores it so already."""
        return None

    def initial_value(self, kind: str, keras_shape: tuple[int, ...]) -> torch.Tensor:
        """The first value of the weight ``kind`` (``"kernel"``, ``"bias"``, ...) from
        ``<kind>_initializer``, for its Keras shape, in brainnet's axis order."""
        order = self.keras_order(self._weight_name(kind))
        stored = None if order is None else tuple(int(i) for i in np.argsort(order))
        return initializers.initial_value(type(self).__name__, getattr(self, f"{kind}_initializer"),
                                          keras_shape, stored)

    @property
    def losses(self) -> list[torch.Tensor]:
        """The regularization penalties of this layer and the layers inside it
        (Keras's ``layer.losses``): ``R(w)`` of each regularized trainable
        weight, computed now, then ``R(y)`` of each activity-regularized
        layer's output at its last call. Training adds their sum to the loss."""
        from ..regularizers import weight_penalties

        found: list[torch.Tensor] = []
        for layer in self.modules():
            if isinstance(layer, Layer):
                found += weight_penalties(layer, layer.weight_regularizers())
                if layer.activity_regularizer is not None and layer._activity_loss is not None:
                    found.append(layer._activity_loss)
        return found

    def count_params(self) -> int:
        """Number of scalars in all weights, trainable or not."""
        return sum(int(w.numel()) for w in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in the order of ``weights``."""
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, arrays: list[Any]) -> None:
        """Copy arrays into the weights, in the order of ``weights``.

        Raises:
            ValueError: wrong number of arrays or a wrong shape.
        """
        weights = self.weights
        names = {id(t): n for n, t in [*self.named_parameters(), *self.named_buffers()]}
        if len(arrays) != len(weights):
            raise ValueError(
                f"Layer '{self.name}' set_weights: expected {len(weights)} arrays "
                f"(shapes {[tuple(w.shape) for w in weights]}), got {len(arrays)}. "
                "Fix: pass the list that get_weights() returns."
            )
        with torch.no_grad():
            for w, a in zip(weights, arrays):
                t = torch.as_tensor(np.asarray(a))
                if tuple(t.shape) != tuple(w.shape):
                    keras = {4: (3, 2, 0, 1), 3: (2, 1, 0)}.get(w.dim())  # Keras kernel → PyTorch's
                    if keras is not None and tuple(t.permute(*keras).shape) == tuple(w.shape):
                        first, second = self.kernel_layouts.get(names.get(id(w), ""), self.kernel_layout)
                        raise ValueError(
                            f"Layer '{self.name}' set_weights: expected shape {tuple(w.shape)} (PyTorch's "
                            f"kernel layout: {first}, {second}, then the window), got {tuple(t.shape)}, Keras's "
                            f"layout (the window, {second}, {first}). Fix: np.transpose(kernel, {keras})."
                        )
                    raise ValueError(
                        f"Layer '{self.name}' set_weights: expected shape "
                        f"{tuple(w.shape)}, got {tuple(t.shape)}. "
                        "Fix: pass arrays shaped like get_weights()."
                    )
                w.copy_(t)

    # ----------------------------------------------------------- life cycle
    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first)."""

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        """Compute the output. Layers with an ``activation`` get
        ``activation(call_pre_activation(inputs))`` from here."""
        if self.activation is None:
            raise NotImplementedError(f"{type(self).__name__} must implement call(inputs).")
        return self.activation(self.call_pre_activation(inputs))

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        """The output before the final activation (used to fuse softmax with
        cross-entropy). Layers without an activation return ``call(inputs)``."""
        if self.activation is None:
            return self.call(inputs)
        raise NotImplementedError(f"{type(self).__name__} must implement call_pre_activation(inputs).")

    @property
    def activation_name(self) -> str | None:
        """Keras name of the layer's final activation, or None."""
        return None if self.activation is None else activations.serialize(self.activation)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        """Output shape for an input shape (batch axis first); default: same."""
        return tuple(input_shape)

    def build_from_shape(self, input_shape: Shape | list[Shape]) -> None:
        """Check the input shape, then build once for it."""
        input_shape = _normalize_shape(input_shape)
        self.check_input_shape(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.built_input_shape = (
                [(None,) + s[1:] for s in input_shape]
                if isinstance(input_shape, list)
                else (None,) + input_shape[1:]
            )

    def check_input_shape(self, shape: Shape | list[Shape]) -> None:
        """Raise a teaching error when the input has the wrong rank, or, once
        built, a different size on an axis the weights depend on. Layers that
        take a list of inputs check them in ``build``/``call`` instead."""
        if isinstance(shape, list):
            return
        self._check_rank(shape)
        if not self.built or self.built_input_shape is None:
            return
        for axis in self.fixed_axes:
            want, got = self.built_input_shape[axis], shape[axis]
            if want is not None and got is not None and want != got:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) was built for inputs of "
                    f"shape {shape_str(self.built_input_shape)}, got {shape_str(shape)} "
                    f"(axis {axis}: expected {want}, got {got}). Fix: give inputs of the "
                    "shape the layer was built for, or create a new layer."
                )

    def _check_rank(self, shape: Shape) -> None:
        """Raise on a wrong rank, or on an empty axis (size 0) other than the batch."""
        rank = len(shape)
        ok = rank == self.input_rank if self.input_rank is not None else rank >= self.min_rank
        if ok:
            empty = [axis for axis, size in enumerate(shape) if axis > 0 and size == 0]
            if empty:
                raise ValueError(self.empty_axis_message(shape, empty[0]))
            return
        want = self.input_rank if self.input_rank is not None else f"at least {self.min_rank}"
        hint = f" {self.rank_hint}" if self.rank_hint else ""
        if self.input_shape_arg is not None and tuple(shape[1:]) == self.input_shape_arg:
            # The shape is the layer's own input_shape argument: the fix is there, not in the data.
            example = ""
            if self.input_rank is not None and len(self.input_shape_arg) == self.input_rank - 2:
                example = f", e.g. input_shape={self.input_shape_arg + (1,)} (one channel or feature last)"
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expected input of rank {want}{hint}, got "
                f"input_shape={self.input_shape_arg}, which makes inputs of rank {rank}. Fix: give "
                f"input_shape the sample's shape without the batch axis{example}."
            )
        raise ValueError(
            f"Layer '{self.name}' ({type(self).__name__}) expected input of rank {want}"
            f"{hint}, got shape {shape_str(shape)} of rank {rank}. "
            f"Fix: {self.rank_fix} or put a Reshape/Flatten layer before '{self.name}'."
        )

    def empty_axis_message(self, shape: Shape, axis: int) -> str:
        """The error for an input with nothing along ``axis`` (a layer may say it better)."""
        return (
            f"Layer '{self.name}' ({type(self).__name__}) expected at least one value along every axis "
            f"but the batch, got shape {shape_str(shape)} (axis {axis} is empty). Fix: look at what "
            "made this input (a slice, a Reshape or a pooling that left nothing, an empty sequence) "
            "and give it at least one entry on that axis."
        )

    def forward(
        self, inputs: Any, training: bool | None = None, *, pre_activation: bool = False, **kwargs: Any
    ) -> Any:
        """Check, build on first use, then compute (``layer(x)`` runs this).

        ``inputs`` is a tensor, or a list of tensors for layers that take
        several (their shapes are then a list too). Other keyword arguments
        (``mask=``, ``initial_state=``, ...) go to ``call``. Called on
        symbolic tensors (``Input``), it records a graph node instead.
        """
        from .symbolic import any_symbolic, symbolic_call

        if any_symbolic(inputs, kwargs):
            return symbolic_call(self, inputs, kwargs)
        if isinstance(inputs, np.ndarray) or (
            isinstance(inputs, (list, tuple)) and any(isinstance(t, np.ndarray) for t in inputs)
        ):
            inputs = self._from_numpy(inputs)
        shape = shape_of(inputs)
        if self.built:
            self.check_input_shape(shape)
        else:
            self.build_from_shape(shape)
            # Weights follow the first input's device and floating dtype (texts have neither).
            first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            if isinstance(first, torch.Tensor):
                self.to(device=first.device, dtype=first.dtype if first.is_floating_point() else None)
        if self._call_takes_training and not pre_activation:
            kwargs["training"] = self.training if training is None else training
        if self.float32:  # dtype='float32': outside autocast, in float32
            with self._in_float32(inputs) as inputs:
                out = self.call_pre_activation(inputs) if pre_activation else self.call(inputs, **kwargs)
        else:
            out = self.call_pre_activation(inputs) if pre_activation else self.call(inputs, **kwargs)
        if self.activity_regularizer is not None:
            # Keras 3: R(y) of the output after the activation, at every call;
            # a layer with several outputs (return_state=True) adds R of each.
            y = self.activation(out) if pre_activation and self.activation is not None else out
            reg = self.activity_regularizer
            self._activity_loss = reg(y) if isinstance(y, torch.Tensor) else sum(reg(t) for t in y)
        return out

    @contextlib.contextmanager
    def _in_float32(self, inputs: Any) -> Any:
        """``dtype='float32'``: autocast off for this layer and its floating inputs in float32."""
        first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        device = first.device.type
        if not autocast_enabled(device):
            yield inputs
            return

        def up(t: Any) -> Any:
            return t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t

        with torch.autocast(device_type=device, enabled=False):
            yield [up(t) for t in inputs] if isinstance(inputs, (list, tuple)) else up(inputs)

    def _from_numpy(self, inputs: Any) -> Any:
        """NumPy arrays as tensors, as Keras takes them in ``layer(x)``: floats in
        the weights' dtype (float32 before the layer is built), integers as they
        are (token indices), on the weights' device."""
        weight = next(itertools.chain(self.parameters(), self.buffers()), None)
        device = weight.device if weight is not None else None
        float_dtype = weight.dtype if weight is not None and weight.is_floating_point() else torch.get_default_dtype()

        def one(a: Any) -> Any:
            if not isinstance(a, np.ndarray):
                return a
            if a.dtype.kind in "US" or (a.dtype.kind == "O" and a.size and isinstance(a.flat[0], (str, bytes))):
                # texts: only for a layer (or a model whose first layer) takes them
                if self.takes_text():
                    return a
                raise TypeError(
                    f"Layer '{self.name}' ({type(self).__name__}): expected numbers, got strings (dtype {a.dtype}). "
                    "Fix: turn texts into indices first with brainnet.layers.TextVectorization (adapt(texts), "
                    "then x = vectorize(texts)), or put that layer first in the model."
                )
            t = torch.as_tensor(a, device=device)
            return t.to(float_dtype) if t.is_floating_point() else t

        return [one(a) for a in inputs] if isinstance(inputs, (list, tuple)) else one(inputs)

    def takes_text(self) -> bool:
        """Whether the layer takes strings (TextVectorization, StringLookup; a
        Sequential model starting with one), so ``layer(texts)`` keeps them as they are."""
        return False

    def compute_mask(self, inputs: Any, mask: torch.Tensor | None) -> torch.Tensor | None:
        """The mask of the output (``(batch, time)`` booleans, True = real step)
        given the input's. Default: passed on by layers that support masking."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------ config
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-safe. Subclasses add theirs."""
        config: dict[str, Any] = {"name": self.name, "trainable": self._trainable}
        if self.input_shape_arg is not None:
            config["input_shape"] = list(self.input_shape_arg)
        if self.float32:
            config["dtype"] = "float32"
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


def autocast_enabled(device: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device`` (``"cpu"``, ``"cuda"``)."""
    try:
        return torch.is_autocast_enabled(device)  # PyTorch ≥ 2.4
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device == "cpu" else torch.is_autocast_enabled()


def capturing(t: torch.Tensor) -> bool:
    """Whether ``t``'s kernels are being recorded into a CUDA graph: then no value
    may be read back to the host (a check such as ``bool(t.any())`` must wait
    for the eager steps, which run the same batches' shapes before capture)."""
    return t.is_cuda and torch.cuda.is_current_stream_capturing()


def _check_input_shape_arg(layer: str, input_shape: Any) -> tuple:
    """``input_shape`` as a tuple of sizes (None: any), or an error that shows the tuple."""
    if isinstance(input_shape, (int, np.integer)) and not isinstance(input_shape, bool):
        raise ValueError(
            f"{layer}: expected input_shape as a tuple (the shape of one sample), got the number "
            f"{input_shape}. Fix: input_shape=({int(input_shape)},)."
        )
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            f"{layer}: expected input_shape as a tuple of sizes (the shape of one sample), got "
            f"{input_shape!r}. Fix: input_shape=(28, 28, 1) for 28×28 one-channel images."
        ) from None
    if not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
               for d in shape):
        raise ValueError(
            f"{layer}: expected input_shape of positive whole sizes (or None for any), got "
            f"{input_shape!r}. Fix: input_shape=(28, 28, 1) for 28×28 one-channel images."
        )
    return tuple(None if d is None else int(d) for d in shape)


def check_model_input(received: Shape, expected: Shape) -> None:
    """Raise when ``received`` (batch first) does not match ``expected``."""
    if len(received) == len(expected) and all(
        e is None or e == r for e, r in zip(expected[1:], received[1:])
    ):
        return
    fix = _reshape_fix(received, expected)
    raise ValueError(
        f"Model input: expected shape {shape_str(expected)}, got {shape_str(received)}. "
        f"Fix: {fix}"
    )


def _reshape_fix(received: Shape, expected: Shape) -> str:
    if tuple(received) == tuple(expected[1:]):
        return "this looks like one sample without the batch axis; use x[None] (or x_test[:1])."
    if len(expected) == 4 and expected[3] == 1 and tuple(received) == tuple(expected[1:3]):
        return "this looks like one image without the batch and channel axes; use x[None, ..., None]."
    if (len(received) == len(expected) == 4 and expected[3] not in (None, 1)
            and tuple(received[1:]) == (expected[3], expected[1], expected[2])):
        return ("these look like channels-first images (samples, channels, height, width); brainnet, like "
                "Keras, takes (samples, height, width, channels): x = x.transpose(0, 2, 3, 1) (a torch "
                "tensor: x.permute(0, 2, 3, 1)). A reshape would scramble the pixels.")
    known = [d for d in expected[1:] if d is not None]
    if len(known) == len(expected) - 1 and np.prod(known) == np.prod(received[1:] or (0,)):
        target = ", ".join(str(d) for d in expected[1:])
        return f"x = x.reshape(-1, {target})"
    return "give inputs of the shape the first layer was built for (its input_shape)."

