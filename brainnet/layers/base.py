"""The Layer: a ``torch.nn.Module`` that builds its weights on first call.

A brainnet layer follows Keras's life cycle:

* ``__init__`` takes hyperparameters only (plain values, validated at once);
* ``build(input_shape)`` creates the weights from the first input's shape (no fan-in by hand);
* ``call(inputs)`` computes; ``forward`` (what ``layer(x)`` runs) checks the input's rank, builds if needed;
* ``compute_output_shape(input_shape)`` gives the output shape without data;
* ``get_config()`` returns the constructor arguments, JSON-safe; ``from_config(cfg)`` rebuilds from them.

Shapes follow Keras: the batch axis is first, images are ``(batch, height, width,
channels)`` and sequences ``(batch, time, features)``; ``None`` means "any size".

``Layer`` keeps the life cycle and the hot path (``forward``); its methods call
plain functions in private modules, one family each: ``_layer_args`` (name,
input_shape/input_dim, dtype, and their config), ``_layer_class`` (what a
subclass's ``call`` takes), ``_weights`` (add_weight, the weights' order,
set_weights, the penalties of ``losses``), ``_shapes`` (shapes, the input check
and its errors, the build), ``_call_inputs`` (NumPy and text inputs, the
first call, float32 under autocast, CUDA-graph capture), ``_training_mode``
(``train``, training left out), ``_graph_access`` (``layer.input``/``output``).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from .. import activations
from . import _added_losses, _auto_config, _call_inputs, _layer_class, _shapes, _tracking, _training_mode, _weights
from ._layer_metrics import layer_metrics
from ._call_inputs import autocast_enabled, capturing, from_numpy, in_float32, integers_as_float
from ._masking import fill_mask_argument, pass_masks, takes_part
from .input_spec import check_input_spec, check_none_inputs
from ._graph_access import MISSING as _MISSING, graph_input, graph_output
from ._layer_args import NAME_COUNTERS as _NAME_COUNTERS, common_config, take_common_args, unique_name
from ._shapes import Shape, check_model_input, shape_of, shape_str
from ._weights import INITIALIZERS as _INITIALIZERS, glorot_uniform

# Names other modules import from here (the Layer's module), defined in the private modules above.
__all__ = ["Layer", "Shape", "shape_of", "shape_str", "unique_name", "check_model_input", "glorot_uniform",
           "autocast_enabled", "capturing", "_INITIALIZERS", "_MISSING", "_NAME_COUNTERS"]


class Layer(nn.Module):
    """Base class of every brainnet layer (and of ``Model``).

    Subclass it and override ``build`` (make weights with ``add_weight``) and
    ``call`` (compute). Declare ``call(self, inputs, training=None)`` to get
    the training flag: left out (``None``), it follows the module's mode,
    ``train()`` or ``eval()``. A layer starts in inference mode (``eval()``),
    so ``layer(x)`` and ``model(x)`` without ``training=`` infer, as in
    Keras 3; ``fit`` trains in ``train()`` mode and puts each layer's mode
    back afterwards; a flag given to a call reaches the layers called in it.

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
        casts_integer_inputs: whether integer/bool inputs become the dtype of the
            layer's own floating weights before ``call``; False: kept (Model, wrappers).
        float_math: for a layer without floating weights, whether integer/bool
            inputs become float32 (Softmax, an average); False: kept (Flatten, ReLU).
        supports_masking: whether the layer passes a time-step mask on
            unchanged (layers that change it override ``compute_mask``).
        activation: the final activation ``f`` of layers that have one; such
            layers implement ``call_pre_activation`` and inherit ``call``.
        fixed_axes: input axes whose size the weights depend on (checked on
            every call after build, e.g. ``(-1,)`` for Dense).
        kernel_layout: the channel axes that lead a convolution kernel in PyTorch's
            layout, ``("out", "in")`` (transposed: ``("in", "out")``), for set_weights's
            hint on Keras's layout; kernel_layouts: the same by weight name (several kernels).
    """

    equation: str = ""
    input_dtype: torch.dtype | None = None
    casts_integer_inputs: bool = True
    float_math: bool = False  # no floating weights, yet float results (softmax, a mean): integers → float32
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
    _adds_losses: bool = False  # does call use add_loss? (set per class, and by add_loss itself)
    _collects_losses: bool = False  # adds losses or holds a layer that does (_added_losses.mark_loss_scopes)
    _added_losses: tuple[torch.Tensor, ...] | list[torch.Tensor] = ()  # add_loss values since the outermost call
    input_spec: Any = None  # an InputSpec (or a list of them) that each call checks (input_spec.py)
    _augments_when_left_out = False  # Keras's augmentation layers: call(..., training=True) by default
    _passes_training_on = False  # models: training left out goes on as None, each layer takes its own default
    _mode_chosen = False  # train() or eval() was called (fit, predict, the user), not just a new layer's eval

    def __new__(cls, *args: Any, **kwargs: Any) -> "Layer":
        layer = super().__new__(cls)
        layer.__dict__["_auto_config"] = _auto_config.record(cls, args, kwargs)  # Keras 3: plain arguments saved
        return layer

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _layer_class.learn(cls, Layer)  # what its call takes, add_loss, compute_mask; a user's build marks built

    def __init__(self, *, name: str | None = None, input_shape: Iterable[int | None] | None = None,
                 trainable: bool = True, input_dim: int | None = None, dtype: Any = None, **unknown: Any) -> None:
        super().__init__()
        self.training = False  # inference until fit, train() or training=True (Keras 3: training left out infers)
        take_common_args(self, name, input_shape, input_dim, dtype, unknown)  # name, input_shape_arg, float32
        self.built = False
        self.built_input_shape: Shape | None = None
        self._trainable = bool(trainable)
        self._non_trainable: list[str] = []
        self._inbound_nodes: list[Any] = []  # its calls on symbolic tensors (graph nodes), first first
        self.__dict__["_sequential"] = None  # the Sequential model it was last added to
        _tracking.set_early(self)  # attributes a subclass set before super().__init__() (Keras 3 takes them)

    # ------------------------------------------------------------ graph
    # layer.output / layer.input: the symbolic tensors of its first call on Inputs
    # (Keras 3's rule), unless the layer stored its own under the name (_graph_access.py).
    output = graph_output
    input = graph_input

    # ----------------------------------------------------------------- weights
    def add_weight(
        self,
        name: str | None = None,
        value: torch.Tensor | None = None,
        trainable: bool = True,
        *,
        shape: Iterable[int] | None = None,
        initializer: str | Callable[[tuple[int, ...]], torch.Tensor] | None = "glorot_uniform",
        regularizer: Any = None,
        constraint: Any = None,
        dtype: Any = None,
    ) -> torch.Tensor:
        """Register ``value`` as the weight ``name`` and return it, or make it as Keras does,
        ``add_weight(shape=(n,), initializer="zeros", name="w")``; ``regularizer``,
        ``constraint`` and ``dtype`` as Keras 3 (``_weights.add_weight`` says more).

        Raises:
            ValueError: neither a value nor a shape, a value of another shape, an
                unknown dtype, or a trainable weight of a dtype that is not floating.
        """
        return _weights.add_weight(self, name, value, trainable, shape, initializer, regularizer, constraint, dtype)

    def __setattr__(self, name: str, value: Any) -> None:
        _tracking.set_attribute(self, name, value, Layer)  # early attributes, frozen layers, modes, lists of layers

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        _weights.set_trainable(self, bool(value), Layer)  # Keras 3: and every layer inside it

    @property
    def weights(self) -> list[torch.Tensor]:
        """All weights in Keras 3's order: layer by layer, each layer's own (parameters,
        then state such as moving means) before those inside it, frozen or not."""
        return _weights.in_keras_order(self, Layer)

    @property
    def trainable_weights(self) -> list[torch.Tensor]:
        return [p for p in self.parameters() if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[torch.Tensor]:
        """The weights that are not trained (frozen ones, moving statistics), in the order of ``weights``."""
        return [w for w in self.weights if not (isinstance(w, nn.Parameter) and w.requires_grad)]

    # Keras 3's other names for these lists (its variables add seed-generator states, which brainnet has not)
    variables, trainable_variables, non_trainable_variables = weights, trainable_weights, non_trainable_weights

    def weight_regularizers(self) -> dict[str, Any]:
        """Weight name → regularizer (or None) for this layer's own weights (``kernel_regularizer=``
        and the like, ``add_weight(regularizer=)``); layers may override it."""
        return _weights.own_rules(self, "regularizer")

    def weight_constraints(self) -> dict[str, Any]:
        """Weight name → constraint (or None) for this layer's own weights, as ``weight_regularizers``."""
        return _weights.own_rules(self, "constraint")

    def keras_order(self, weight: str) -> tuple[int, ...] | None:
        """The permutation that shows weight ``weight`` in Keras's axis order
        (``stored.permute(order)``), or None when brainnet stores it so already."""
        return None

    def initial_value(self, kind: str, keras_shape: tuple[int, ...]) -> torch.Tensor:
        """The first value of the weight ``kind`` (``"kernel"``, ``"bias"``, ...) from
        ``<kind>_initializer``, for its Keras shape, in brainnet's axis order."""
        return _weights.initial_value(self, kind, keras_shape)

    @property
    def losses(self) -> list[torch.Tensor]:
        """The penalties of this layer and those inside it (Keras's ``layer.losses``): ``R(w)``
        computed now, ``R(y)`` of the last call, and ``add_loss`` of each call since the
        outermost one (a shared layer: both calls); training adds their sum."""
        return _weights.penalties(self, Layer)

    metrics = property(layer_metrics)  # Keras 3's: the Metrics it and its layers keep as attributes

    def add_loss(self, loss: torch.Tensor | list[torch.Tensor]) -> None:
        """Inside ``call``: add ``loss`` (a tensor, or a list of them; each counts by its
        sum) to what training minimizes, as Keras 3. The outermost call (the model's, or the
        layer's own when called alone) starts a new list, and every call inside it adds to it.

        Raises:
            ValueError: ``loss`` is not a torch tensor or a list of them.

        Example:
            >>> class ActivityPenalty(Layer):
            ...     def call(self, inputs):
            ...         self.add_loss(0.1 * inputs.sum())
            ...         return inputs
            >>> layer = ActivityPenalty()
            >>> _ = layer(torch.ones(2, 3))
            >>> [round(float(v), 4) for v in layer.losses]
            [0.6]
        """
        _added_losses.add_loss(self, loss)

    def save_own_variables(self, store: dict[str, Any]) -> None:
        """This layer's own weights into ``store`` as ``"0"``, ``"1"``, ... (Keras 3);
        override it, with ``load_own_variables``, to save more (``_weights.save_store``)."""
        _weights.save_store(self, store)

    def load_own_variables(self, store: dict[str, Any]) -> None:
        """Copy ``store["0"]``, ``store["1"]``, ... into this layer's own weights (Keras 3).

        Raises:
            ValueError: ``store`` holds another number of arrays, or one of another
                shape than its weight (``set_weights``' error).
        """
        _weights.load_store(self, store)

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
        _weights.set_weights(self, arrays)

    # ----------------------------------------------------------- life cycle
    def build(self, input_shape: Shape) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis first)."""

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        """Compute the output. Layers with an ``activation`` get
        ``activation(call_pre_activation(inputs))`` from here."""
        if self.activation is None and type(self).call_pre_activation is Layer.call_pre_activation:
            raise NotImplementedError(f"{type(self).__name__} must implement call(inputs).")
        return (self.activation or activations.linear)(self.call_pre_activation(inputs))  # None set later: linear

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
        was_built = self.built
        _shapes.build_once(self, input_shape)
        if not was_built:  # the layers inside now exist: does one add losses?
            _added_losses.mark_loss_scopes(self, Layer)

    # Plain functions taken as the methods (a layer may override them), so forward's calls cost no more:
    # the input check (rank, then each fixed axis's built size) and its empty-axis error (_shapes.py);
    # train(mode), which records that a mode was chosen, and the training flag of a call without
    # training= by Keras 3's rule (_training_mode.py).
    check_input_shape = _shapes.check_input_shape
    empty_axis_message = _shapes.empty_axis_message
    train = _training_mode.train
    training_left_out = _training_mode.training_left_out

    def forward(self, inputs: Any = _call_inputs.BY_NAME, training: bool | None = None, *more: Any,
                pre_activation: bool = False, **kwargs: Any) -> Any:
        """Check, build on first use, then compute (``layer(x)`` runs this). ``inputs``: a tensor, or a
        list for layers that take several (or named as call's first argument, ``layer(images=x)``); other
        keyword arguments (``mask=``, ...) go to ``call``; on ``Input``s it records a graph node."""
        from .symbolic import any_symbolic, symbolic_call

        if inputs is _call_inputs.BY_NAME:
            inputs = _call_inputs.inputs_by_name(self, kwargs)
        if more or not (training is None or training is True or training is False or isinstance(training, np.bool_)):
            training = _call_inputs.positional_arguments(self, training, more, kwargs)  # layer(a, b): call's b
        if inputs is None or isinstance(inputs, (list, tuple)):
            check_none_inputs(self, inputs)  # None only where an optional InputSpec takes it
        if any_symbolic(inputs, kwargs):
            return symbolic_call(self, inputs, kwargs, training)  # a graph node, keeping a training= given
        if isinstance(inputs, np.ndarray) or (
            isinstance(inputs, (list, tuple)) and any(isinstance(t, np.ndarray) for t in inputs)
        ):
            inputs = from_numpy(self, inputs)
        if self.input_spec is not None:
            check_input_spec(self, inputs)
        shape = shape_of(inputs)
        if self.built:
            self.check_input_shape(shape)
        else:
            _call_inputs.build_on_first_call(self, inputs, shape)  # weights then on the input's device, dtype
        # x._keras_mask, as Keras (_masking.py): read before the integer cast makes new tensors
        masks_on_tensors = not pre_activation and takes_part(self, inputs)
        previous_mask = fill_mask_argument(self, inputs, kwargs) if masks_on_tensors else None
        if self.casts_integer_inputs and _call_inputs.may_cast(inputs):
            inputs = integers_as_float(self, inputs)  # int/bool/float64 × float32 weights → float32, as Keras 3
        # Keras 3: the outermost call empties the losses of the layers inside it; each call then adds
        outermost = self._collects_losses and _added_losses.enter_loss_call(self, Layer)
        training, outer = _training_mode.enter(training)  # none given: an enclosing call's (Keras 3's context)
        try:
            if self._call_takes_training and not pre_activation:
                kwargs["training"] = self.training_left_out() if training is None else training
            if self.float32:  # dtype='float32': outside autocast, in float32
                with in_float32(inputs) as inputs:
                    out = self.call_pre_activation(inputs) if pre_activation else self.call(inputs, **kwargs)
            else:
                out = self.call_pre_activation(inputs) if pre_activation else self.call(inputs, **kwargs)
        except AttributeError as err:  # w.assign_add(...) (Keras's Variable) on a torch weight: its torch spelling
            better = _weights.variable_method_error(self, err)
            if better is None:
                raise
            raise better from err
        finally:
            _training_mode.CALL_FLAG.value = outer
            if outermost:
                _added_losses.LOSS_CALL.value = None
        if self.activity_regularizer is not None:
            self._activity_loss = _weights.activity_penalty(self, out, pre_activation)  # R(y), as Keras 3
        if masks_on_tensors:
            pass_masks(self, inputs, out, previous_mask)  # out._keras_mask, as Keras (_masking.py)
        return out

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
        """Constructor arguments, JSON-safe. Subclasses add theirs (else Keras 3's auto-config, _auto_config)."""
        return _auto_config.config_of(self, common_config(self))

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
