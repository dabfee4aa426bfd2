"""Model: a Layer that can compile, fit, evaluate and predict.

The model describes structure; ``brainnet.training.Trainer`` owns the loop.
``Sequential`` is the Model most tutorials use; subclass ``Model`` and
define ``call`` for anything else.

This file holds the class and what describes the model (shapes, layers,
saving, summary). Its methods that are Keras 3's trainer API are plain
functions in private modules, bound here by name: ``_training_methods``
(compile, fit, evaluate, predict, the ``*_on_batch`` methods) and
``_step_methods`` (train_step, test_step, predict_step, compute_loss, ...);
``_structure`` finds layers and a subclassed model's shapes, and
``_keras_compat`` holds the Keras 3 rules at the edges (the ``(inputs,
outputs)`` constructor of a subclass, compile's and fit's Keras-only
arguments).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ..layers._graph_access import MISSING, own
from .. import _registry
from ..layers.base import Layer, Shape
from ..training.callbacks import History
from ..training.trainer import Trainer
from . import _keras2_steps, _step_methods, _structure, _training_methods
from ._keras_compat import functional_arguments, with_functional
from .saving import load_weights, model_config, save_model, save_weights
from .summary import print_summary


class Model(Layer):
    """A Layer with the training API: ``compile``, ``fit``, ``evaluate``,
    ``predict`` and ``summary``, as in Keras.

    Two attributes tell ``brainnet predict`` how to use a saved model on raw
    pictures; ``save`` stores them and ``load_model`` restores them:

    * ``preprocessing``: a ``brainnet.preprocessing.ImagePreprocessing``
      (input size, colours, background, normalisation), or None;
    * ``class_names``: one name per output unit, or None (classes are then
      shown by index).
    """

    _passes_training_on = True  # training left out: each layer inside takes its own default (Keras 3)

    preprocessing: Any = None  # an ImagePreprocessing, or None
    casts_integer_inputs = False  # integer inputs reach the layers, which decide (Embedding keeps them)
    class_names: list[str] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        # Model(inputs, outputs) builds a functional model, as in Keras.
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if functional_arguments(args, kwargs):
            # A subclass built as CustomModel(inputs, outputs) (Keras 3's rule: the functional
            # constructor's arguments reaching Model.__init__): the object becomes a functional
            # model of a class that keeps the subclass's methods (its train_step, say).
            from .functional import Functional

            if not isinstance(self, Functional):
                self.__class__ = with_functional(type(self), Functional)
            Functional.__init__(self, *args, **kwargs)
            return
        super().__init__(*args, **kwargs)
        self.trainer: Trainer | None = None
        self.stop_training = False  # a callback sets it to True to end fit (Keras)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Model":
        """Rebuild from ``get_config()``; a functional model's graph config given to a
        subclass (one built as ``CustomModel(inputs, outputs)``) rebuilds the graph and
        passes it to the subclass as ``(inputs, outputs)``, as Keras 3 does.

        ``custom_objects`` (``{name: class or function}``) finds your own layers
        by the names the config gives them, as in ``load_model``:
        ``Model.from_config(config, custom_objects={"CustomDense": CustomDense})``.
        """
        from .functional import Functional

        if not issubclass(cls, Functional) and isinstance(config, dict) and {"layers", "nodes", "inputs"} <= set(config):
            return Functional.from_config.__func__(cls, config, custom_objects)
        with config_scope(custom_objects):
            return super().from_config(config)

    # -------------------------------------------------------- structure
    @property
    def input_shape(self) -> Shape | None:
        """Shape the model accepts, batch axis first (None before it is known)."""
        return self.built_input_shape

    @property
    def output_shape(self) -> Shape | list[Shape]:
        """Shape of the output (a list of them for several), batch axis first (Keras)."""
        if self.input_shape is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected a built model for output_shape, got one whose "
                "input shape is not known yet. Fix: give input_shape= to the first layer, call "
                "model.build((None, ...)), or fit/predict once."
            )
        return self.compute_output_shape(self.input_shape)

    def _graph_end(self, attr: str, what: str) -> Any:
        stored = own(self, what)
        if stored is not MISSING:
            return stored
        if not hasattr(type(self), attr):  # a subclassed model: no graph of its own
            return getattr(Layer, what).fget(self)
        ends = getattr(self, attr)
        return ends[0] if len(ends) == 1 else ends

    @property
    def output(self) -> Any:
        """The symbolic output (a list of them for several) of a Sequential or
        functional model, as Keras's ``model.output``."""
        return self._graph_end("outputs", "output")

    @output.setter
    def output(self, value: Any) -> None:
        self.__dict__["output"] = value

    @property
    def input(self) -> Any:
        """The symbolic input (a list of them for several) of a Sequential or functional model."""
        return self._graph_end("inputs", "input")

    @input.setter
    def input(self, value: Any) -> None:
        self.__dict__["input"] = value

    @property
    def output_activation_name(self) -> str | None:
        """Keras name of the activation applied last (softmax, sigmoid, ...)."""
        return None

    def output_activation(self, logits: torch.Tensor) -> torch.Tensor:
        """Apply the final activation to pre-activation outputs."""
        raise NotImplementedError

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs, for per-output losses and logs."""
        return ["output"]

    def input_dtypes(self, count: int) -> list[torch.dtype | None]:
        """Per input: the integer dtype it needs (token indices), or None for
        the model's floating dtype."""
        return [None] * count

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the weights (float32 unless changed)."""
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        return torch.get_default_dtype()

    @property
    def optimizer(self) -> Any:
        return None if self.trainer is None else self.trainer.optimizer

    @optimizer.setter
    def optimizer(self, value: Any) -> None:
        # Keras 3 lets a compile override replace it (Zero-DCE: super().compile(), then self.optimizer = Adam(lr))
        _training_methods.set_optimizer(self, value)

    @property
    def history(self) -> History | None:
        """The ``History`` of the last ``fit`` (the one it returned), as Keras
        sets ``model.history``; None before the first fit."""
        return None if self.trainer is None else self.trainer.history

    @property
    def metrics_names(self) -> list[str]:
        """Names of the values ``evaluate`` returns, in its order: ``"loss"``,
        then the metrics as the History and ``return_dict=True`` name them
        (several outputs: ``loss``, ``<output>_loss`` each, ``<output>_<metric>``
        each). Empty before ``compile``."""
        return [] if self.trainer is None or self.trainer.optimizer is None else [n for n, _ in self.trainer.logged()]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer of the model by its ``name`` or by its ``index`` (the order
        of ``summary()``; negative counts from the end), as in Keras.

        Raises:
            ValueError: no layer of that name, an index out of range, or both
                or neither of ``name`` and ``index`` given. The message lists
                the layers' names.
        """
        return _structure.find_layer(self, name, index)

    def build(self, input_shape: Shape) -> None:
        """Build a subclassed model by calling it once on zeros of that shape
        (Sequential builds layer by layer from shapes alone). Called by you, as
        in Keras (``model.build((None, 10))``), it also records the input shape,
        so that ``summary`` and ``output_shape`` work."""
        if self.built or getattr(self, "_building", False):
            try:
                _structure.probe(self, input_shape)  # batch 1: cheap
            except Exception:  # noqa: BLE001 - the input's own shape decides, as Keras 3 runs it
                # e.g. one unbatched (H, W, C) image, whose first axis is no batch
                _structure.probe(self, input_shape, whole=True)
            return
        self._building = True
        try:
            self.build_from_shape(input_shape)  # which calls this again, then marks the model built
        finally:
            self._building = False

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) of a subclassed model, found by two runs on zeros
        (unknown sizes 2, then 3: an output axis that follows them is unknown)."""
        return _structure.probed_output_shape(self, input_shape)

    @property
    def layers(self) -> list[Layer]:
        """The layers directly inside the model, as Keras 3's ``Model.layers``: a
        subclassed model's layer attributes, and the layers in its list, tuple or
        dict attributes, in the order they were assigned."""
        return _structure.top_layers(self)

    def summary_rows(self) -> list[tuple[Any, Any, str]]:
        """(layer, output shape or None, connected to) per row of summary().

        A subclassed model's layers report the shapes they gave in two runs on
        zeros (unknown sizes 2, then 3: an axis that follows them is unknown);
        a layer that did not run, or gave several outputs, shows ``?``."""
        layers = _structure.top_layers(self)
        shapes = _structure.layer_output_shapes(self, layers) if self.input_shape is not None else {}
        return [(m, shapes.get(m), "") for m in layers]

    # --------------------------------------------------------- training
    # Keras 3's trainer API, documented where it is defined (_training_methods.py).
    compile = _training_methods.compile
    fit = _training_methods.fit
    evaluate = _training_methods.evaluate
    predict = _training_methods.predict
    train_on_batch = _training_methods.train_on_batch
    test_on_batch = _training_methods.test_on_batch
    predict_on_batch = _training_methods.predict_on_batch

    def _require_compiled(self, what: str) -> Trainer:
        if self.trainer is None or self.trainer.optimizer is None:
            raise RuntimeError(
                f"{what}: expected a compiled model, got one that was never compiled. Fix: call "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
                f"metrics=['accuracy']) before model.{what}()."
            )
        return self.trainer

    # ------------------------------------------- the steps fit runs (Keras 3)
    # Override any of them in a subclass to train your own way (a GAN, a VAE);
    # documented where they are defined (_step_methods.py).
    train_step = _step_methods.train_step
    test_step = _step_methods.test_step
    predict_step = _step_methods.predict_step
    compute_loss = _step_methods.compute_loss
    compute_metrics = _step_methods.compute_metrics
    get_metrics_result = _step_methods.get_metrics_result
    metrics = property(_step_methods.metrics)
    reset_metrics = _step_methods.reset_metrics
    compiled_loss = _keras2_steps.compiled_loss  # Keras 2's names, deprecated (_keras2_steps.py)
    compiled_metrics = property(_keras2_steps.compiled_metrics)

    # ------------------------------------------------------- saving
    def save(self, filepath: str, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write the whole model to one file: architecture, weights, compile
        settings and (``include_optimizer``) the optimizer's state.

        The file (``model.brainnet`` by convention) is a ZIP of JSON and
        safetensors, written atomically; ``brainnet.models.load_model(path)``
        rebuilds the model, ready to predict or to continue ``fit``.
        Subclassed layers and models need
        ``@brainnet.saving.register_serializable()``.

        Raises:
            ValueError: the model is not built yet.
            OSError: the file could not be written (the previous one is kept).
        """
        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def to_json(self, **kwargs: Any) -> str:
        """The model's architecture as a JSON string, without weights (Keras's
        ``to_json``): what ``config.json`` of ``model.save``'s file holds, so
        the class of each layer, its settings, the graph of a functional
        model, the input shape it was built for, and the compile settings
        when compiled. ``brainnet.models.model_from_json(text)`` rebuilds it
        with fresh weights; ``load_weights`` then gives it trained ones.
        ``kwargs`` go to ``json.dumps`` (``indent=2``, ``sort_keys=True``).

        Raises:
            ValueError: a layer of your own whose name clashes with
                brainnet's, or whose ``get_config`` misses ``__init__``
                arguments (as ``save``).
        """
        import json

        return json.dumps(model_config(self, "model.to_json", "the JSON", stacklevel=3), **kwargs)

    def save_weights(self, filepath: str) -> None:
        """Write all weights to ``filepath`` as safetensors (atomic; no pickle)."""
        save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        """Load weights written by ``save_weights`` into this (built) model."""
        load_weights(self, filepath)

    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Callable[[str], Any] | None = None, expand_nested: bool = False,
                show_trainable: bool = False, layer_range: Any = None, show_equations: bool = False) -> None:
        """Print layers, output shapes and parameter counts, Keras 3's arguments in
        Keras's order, and brainnet's ``show_equations=True`` (the equation each
        layer computes under its row).

        ``line_length``: the table at least this wide (each column is as wide
        as its text); ``positions``: Keras's column stops instead, the right
        edge of each column as a fraction of ``line_length`` (by default
        Keras's 88 characters, 108 with a "Connected to" column, 12 more with
        ``show_trainable``, at most the terminal's width − 4), or in
        characters when the last is above 1; a longer text wraps inside its
        column. ``print_fn``: called with each line (default ``print``);
        ``expand_nested``: each model used as a layer followed by its own
        layers, marked ``└``; ``show_trainable``: a column Y/N (``-`` for a
        layer without weights); ``layer_range``: two names or regular
        expressions, as Keras from the first layer matching the first to the
        last layer matching the second (with ``expand_nested``, layers
        inside nested models may be named too); the totals stay the whole
        model's.

        Raises:
            ValueError: a line_length that is not a positive int, positions
                that are not one positive stop per column or leave a column
                under 4 characters, or a layer_range that is not two strings
                or matches no layer.

        Example:
            >>> from brainnet.layers import Dense
            >>> from brainnet.models import Sequential
            >>> model = Sequential([Dense(4, input_shape=(3,), name="hidden")], name="demo")
            >>> model.summary(positions=[0.45, 0.8, 1.0], line_length=50)
            Model: "demo"
            ==================================================
            Layer (type)          Output Shape       Param #
            ==================================================
            hidden (Dense)        (None, 4)               16
            --------------------------------------------------
            Total params: 16
            Trainable params: 16
            Non-trainable params: 0
        """
        print_summary(self, show_equations, print_fn or print, line_length, expand_nested, show_trainable,
                      layer_range, positions)


def config_scope(custom_objects: Any) -> Any:
    """The lookup scope of a model's ``from_config(config, custom_objects)``.

    Raises:
        TypeError: ``custom_objects`` is not None or a dict of names to classes or functions.
    """
    if custom_objects is not None and not (
        isinstance(custom_objects, dict) and all(isinstance(k, str) and callable(v) for k, v in custom_objects.items())
    ):
        raise TypeError(
            f"from_config: expected custom_objects to be a dict of name → class or function, got "
            f"{custom_objects!r:.120}. Fix: Model.from_config(config, custom_objects={{'CustomDense': CustomDense}})."
        )
    return _registry.custom_objects(custom_objects)
