"""Sequential: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from .. import _registry, activations
from . import _fusion
from ..layers import _added_losses
from ..layers._masking import driven_by_model
from ..layers.base import Layer, Shape
from ..layers.symbolic import own_output_shape
from ..training.text_inputs import VectorizedText
from .model import Model, config_scope


class Sequential(Model):
    """A stack of layers: ``y = f_n(… f_2(f_1(x)))``.

    Give the first layer ``input_shape=`` to build the whole model at once
    (then ``summary()`` works before training); otherwise it builds on the
    first batch it sees.

    Args:
        layers: optional list of layers to add in order.
        name: model name (default ``sequential``, ``sequential_1``, ...).

    Example:
        >>> from brainnet.layers import Dense
        >>> model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)])
        >>> model.compute_output_shape((None, 4))
        (None, 3)
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self._stack = nn.ModuleList()
        self._input: Any = None  # a leading Input(...), until the first layer takes its shape
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return list(self._stack)

    def add(self, layer: Layer) -> None:
        """Append a layer; builds it at once when the model's input shape is known.

        ``model.add(Input(shape=(28, 28, 1)))`` first (as Keras 3) gives the
        model its input shape, like ``input_shape=`` on the first layer; so does
        ``InputLayer((28, 28, 1))``, which ``layers`` then leaves out (as Keras).

        Raises:
            TypeError: ``layer`` is not a brainnet Layer (or a leading ``Input``).
        """
        from ..layers.input_layer import InputLayer
        from ..layers.symbolic import SymbolicTensor

        if isinstance(layer, InputLayer):  # Keras's layer form of Input: its tensor is the model's Input
            layer = layer.output
        if isinstance(layer, SymbolicTensor):
            if layer.node is not None or self._stack or self._input is not None:
                raise TypeError(
                    f"Sequential.add: expected a layer, or an Input(...) as the very first entry, got "
                    f"{layer!r}{' after other layers' if self._stack or self._input is not None else ''}. "
                    "Fix: Sequential([Input(shape=(28, 28, 1)), Conv2D(32, 3), ...]) or, for a graph of "
                    "layers, Model(inputs, outputs)."
                )
            self._input = layer
            return
        if not isinstance(layer, Layer):
            got = type(layer).__name__ if not isinstance(layer, type) else f"the class {layer.__name__}"
            raise TypeError(
                f"Sequential.add: expected a brainnet layer instance, got {got}. Fix: "
                "model.add(Dense(10)) with a layer from brainnet.layers (note the parentheses)."
            )
        if not self._stack and self._input is not None:
            if layer.input_shape_arg is not None and layer.input_shape_arg != self._input.shape[1:]:
                raise ValueError(
                    f"Sequential.add: expected the first layer's input_shape to agree with the Input "
                    f"before it, got Input of shape {self._input.shape[1:]} and input_shape="
                    f"{layer.input_shape_arg}. Fix: keep one of the two."
                )
            layer.input_shape_arg = tuple(self._input.shape[1:])
        if not self.trainable:
            layer.trainable = False  # Keras 3: a frozen model has no trainable weights, those added later too
        self._stack.append(layer)
        # For layer.output once the input shape is known; in __dict__, so not a submodule
        # (a plain reference, which pickling and deepcopy follow, where a weak one breaks them).
        layer.__dict__["_sequential"] = self
        if self.built:
            self._build_layer(layer, self._shape_before(len(self._stack) - 1))
            _added_losses.mark_loss_scopes(self, Layer)  # a layer that adds losses: the model's call collects them
        elif len(self._stack) == 1 and layer.input_shape_arg is not None:
            self.build_from_shape((None,) + layer.input_shape_arg)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError("Sequential.pop: expected a model with layers, got an empty one.")
        layer = self._stack[-1]
        del self._stack[-1]
        return layer

    # ------------------------------------------------------ symbolic graph
    def _symbolic_graph(self) -> tuple[Any, Any]:
        """The model as a graph of symbolic tensors, (input, output), as Keras 3
        keeps one for a Sequential model with a known input shape: each layer
        called once on the symbolic output of the one before. Made when first
        asked (``model.inputs``, ``layer.output``) and again after add/pop."""
        x, outputs, traced = self.__dict__.get("_graph") or (None, [], [])
        kept = 0  # the layers traced before and still in place keep their symbolic outputs
        while kept < min(len(traced), len(self._stack)) and traced[kept] is self._stack[kept]:
            kept += 1
        if kept and kept == len(self._stack):
            return x, outputs[kept - 1]
        if not self._stack or self.built_input_shape is None:
            raise ValueError(
                f"Sequential '{self.name}': expected a model whose input shape is known for its symbolic "
                "inputs and outputs (model.inputs, layer.output), got one whose input shape is not known yet. Fix: give "
                "input_shape= to the first layer, start with Input(shape=...), or model.build((None, ...))."
            )
        from ..layers.symbolic import Input

        if not kept:
            shape = tuple(self.built_input_shape)
            if self._input is not None and tuple(self._input.shape[1:]) == shape[1:]:
                x = self._input
            else:
                dtype = "string" if self.takes_text() else self.input_dtypes(1)[0]
                x = Input(shape=shape[1:], dtype=dtype if dtype is not None else "float32")
        outputs = outputs[:kept]
        for layer in self.layers[kept:]:
            outputs.append(layer(outputs[-1] if outputs else x))
        self.__dict__["_graph"] = (x, outputs, self.layers)
        return x, outputs[-1]

    @property
    def inputs(self) -> list[Any]:
        """``[Input]``: the model's symbolic input (see ``_symbolic_graph``)."""
        return [self._symbolic_graph()[0]]

    @property
    def outputs(self) -> list[Any]:
        """``[output]``: the last layer's symbolic output."""
        return [self._symbolic_graph()[1]]

    def _shape_before(self, index: int) -> Shape:
        shape = self.built_input_shape
        for layer in self.layers[:index]:
            _one_output(layer, shape)
            shape = own_output_shape(layer, shape)
        return shape

    def _build_layer(self, layer: Layer, shape: Shape) -> None:
        _one_output(layer, shape)
        layer.build_from_shape(shape)
        device = next((p.device for p in self.parameters()), None)
        if device is not None:
            layer.to(device)

    def build(self, input_shape: Shape) -> None:
        """Build every layer for ``input_shape`` (batch axis first). Called by you, as in
        Keras (``model.build((None, 784))``), it also records the model's input shape."""
        if not self.built and not self.__dict__.get("_building"):
            self.__dict__["_building"] = True
            try:
                self.build_from_shape(input_shape)  # which calls this again, then marks the model built
            finally:
                self.__dict__["_building"] = False
            return
        if not self._stack:
            raise ValueError(
                "Sequential: expected at least one layer, got an empty model. "
                "Fix: model.add(Dense(10, input_shape=(784,)))."
            )
        shape = tuple(input_shape)
        for layer in self.layers:
            _one_output(layer, shape)
            layer.build_from_shape(shape)
            shape = own_output_shape(layer, shape)

    def call(self, inputs: torch.Tensor, training: bool | None = None) -> torch.Tensor:
        return self._run(inputs, training, pre_activation=False)

    def call_pre_activation(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._run(inputs, None, pre_activation=True)

    def _run(self, x: torch.Tensor, training: bool | None, pre_activation: bool) -> torch.Tensor:
        """Each layer in turn; a time-step mask (from Embedding(mask_zero=True))
        goes to the layers whose ``call`` takes ``mask``."""
        mask = None
        stack = list(self._stack)  # a list indexes faster than torch's ModuleList
        last = len(stack) - 1
        relu_after = None  # the ReLU of a layer whose max-pooling runs first (see _fusion)
        for i, layer in enumerate(stack):
            if i == 0 and isinstance(x, VectorizedText):  # the text layer's output, made once by fit (text_inputs)
                x = x.tensor
                continue
            kwargs = {"mask": mask} if mask is not None and layer._call_takes_mask else {}
            early_pool = i < last and mask is None and _fusion.pool_first(layer, stack[i + 1])
            driven_by_model(layer)  # this loop passes the mask (not x._keras_mask)
            y = layer(x, training=training, pre_activation=early_pool or (pre_activation and i == last), **kwargs)
            if relu_after is not None:
                y, relu_after = relu_after(y), None
            if early_pool:
                relu_after = layer.activation
            if i < last:
                mask = layer.compute_mask(x, mask)
            x = y
        return x

    def input_dtypes(self, count: int) -> list[torch.dtype | None]:
        return [self._stack[0].input_dtype if self._stack else None]

    def takes_text(self) -> bool:
        modules = self._stack._modules  # the first layer, without ModuleList's indexing
        return bool(modules) and next(iter(modules.values())).takes_text()

    def text_heads(self) -> list[Layer]:
        """The layer that turns the model's strings into numbers: the first."""
        return [self._stack[0]]

    @property
    def output_activation_name(self) -> str | None:
        modules = self._stack._modules  # the last layer, without ModuleList's indexing (twice a step in fit)
        return _fusion.final_activation(next(reversed(modules.values()))) if modules else None

    def output_activation(self, logits: torch.Tensor) -> torch.Tensor:
        return activations.get(self.output_activation_name)(logits)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = own_output_shape(layer, shape)
        return shape

    def summary_rows(self) -> list[tuple[Any, Any, str]]:
        rows, shape = [], self.input_shape
        for layer in self.layers:
            shape = own_output_shape(layer, shape) if shape is not None else None
            rows.append((layer, shape, ""))
        return rows

    def get_config(self) -> dict[str, Any]:
        """Name, trainable, and each layer as ``{"class_name", "config"}``."""
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": [_registry.serialize(layer, "layer") for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Sequential":
        """Rebuild from ``get_config()``; your own layers are found by name in
        ``custom_objects`` (as Keras 3's ``from_config``)."""
        config = dict(config)
        with config_scope(custom_objects):
            layers = [_registry.deserialize(spec, "layer") for spec in config.pop("layers", [])]
        return cls(layers, **config)


def _one_output(layer: Layer, shape: Any) -> None:
    """A layer in a Sequential gets one tensor: not the several outputs of the one before."""
    if isinstance(shape, list):
        raise ValueError(
            f"Sequential: expected each layer to pass one tensor to the next, got {len(shape)} outputs "
            f"{[tuple(s) for s in shape]} (return_state=True?) before '{layer.name}' ({type(layer).__name__}). "
            "Fix: return_state=False inside a Sequential, or the functional API: "
            "outputs, state = SimpleRNN(4, return_state=True)(inputs)."
        )
