"""Functional models: ``Model(inputs, outputs)`` over a graph of layer calls.

    inputs = Input(shape=(28, 28))
    h = LSTM(64, return_sequences=True)(inputs)
    outputs = Dense(10, activation="softmax")(GlobalAveragePooling1D()(h))
    model = Model(inputs=inputs, outputs=outputs)

Calling layers on symbolic tensors records nodes (``brainnet.layers.symbolic``);
the model keeps the nodes in dependency order and replays them on real
tensors. A layer used twice is one module, so its weights are shared; a model
can be called inside another like any layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import _registry, activations
from ..layers import _added_losses
from ..layers._masking import driven_by_model
from ..layers.base import Layer
from ..layers.input_layer import input_layer_of
from ..layers.input_spec import InputSpec
from ..layers.symbolic import Input, Node, SymbolicTensor, _map, flatten, is_symbolic
from . import _fusion, _graph_cut, _nested_masks, _nested_outputs, _text_heads
from ..training.text_inputs import VectorizedText
from .model import Model, config_scope


_INPUT_DTYPES = {"float16", "bfloat16", "float32", "float64", "int32", "int64", "bool", "string"}


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_symbolic(where: str, tensors: list) -> None:
    for t in tensors:
        if not is_symbolic(t):
            raise TypeError(
                f"Model: expected {where} to be symbolic tensors from Input(...) or from layers "
                f"called on them, got {type(t).__name__}. Fix: inputs = Input(shape=...); "
                "outputs = SomeLayer(...)(inputs); Model(inputs=inputs, outputs=outputs)."
            )


def _topological_nodes(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Node]:
    """The nodes between inputs and outputs, each after the nodes it reads."""
    order: list[Node] = []
    seen: set[int] = set()
    input_ids = {id(t) for t in inputs}

    def visit(t: SymbolicTensor) -> None:
        if id(t) in input_ids:
            return
        if t.node is None:
            raise ValueError(
                f"Model: output depends on {t.name!r} {t.shape}, an Input that is not in "
                "inputs=. Fix: pass every Input the outputs use, e.g. Model(inputs=[a, b], outputs=y)."
            )
        if id(t.node) in seen:
            return
        seen.add(id(t.node))
        for parent in t.node.parents():
            visit(parent)
        order.append(t.node)

    for t in outputs:
        visit(t)
    return order


def _check_input_keys(inputs: dict) -> None:
    """Inputs given as a dict: each key the name of its Input (as Keras 3 asks), so that
    data keyed by the same names reaches the right Input."""
    _check_symbolic("inputs", list(inputs.values()))
    wrong = [(k, t.name) for k, t in inputs.items() if k != t.name]
    if wrong or not inputs:
        key, name = wrong[0] if wrong else ("", "")
        raise ValueError(
            f"Model: expected inputs as a dict to map each Input's name to that Input, got "
            f"{'an empty dict' if not inputs else f'key {key!r} for the Input named {name!r}'}. "
            f"Fix: Input(..., name={key or 'name'!r}) for that key, or inputs as a list."
        )


class Functional(Model):
    """A model defined by ``Model(inputs=..., outputs=...)`` (Keras's Functional).

    Args:
        inputs: a symbolic tensor from ``Input``, a list of them, or (Keras 3)
            a dict ``{name: Input(..., name=name)}``: the model then also
            takes a dict of data keyed by those names.
        outputs: a symbolic tensor (or list, its items lists too) computed from the inputs.
        name: model name.
    """

    def __init__(self, inputs: Any, outputs: Any, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        # Keras 3: outputs={"name": tensor, ...} names the outputs; the model then returns
        # (and predict gives) a dict, and losses, metrics and y may be keyed by those names.
        self._output_keys: list[str] | None = None
        if isinstance(outputs, dict):
            bad = [k for k in outputs if not isinstance(k, str)]
            if bad or not outputs:
                raise TypeError(
                    f"Model: expected outputs as a dict to map names (strings) to symbolic tensors, got "
                    f"{'an empty dict' if not outputs else 'keys ' + repr(bad)}. Fix: "
                    "Model(inputs, outputs={'digit': digit_output, 'parity': parity_output})."
                )
            self._output_keys = list(outputs)
            outputs = list(outputs.values())
        # Keras 3: inputs={"name": Input(name="name"), ...}; the model then also takes its data as a
        # dict keyed by those names (fit, evaluate and predict match dicts to the Inputs by name).
        self._input_keys: list[str] | None = None
        if isinstance(inputs, dict):
            inputs, outputs = _graph_cut.cut_at(inputs, outputs, _topological_nodes)
            _check_input_keys(inputs)
            self._input_keys = list(inputs)
            inputs = list(inputs.values())
        outputs, self._output_structure = _nested_outputs.split(outputs)  # Keras 3: [[a, b], [c]] kept flat
        self._multi_input = isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        self._inputs = _as_list(inputs)
        self._outputs = _as_list(outputs)
        _check_symbolic("inputs", self._inputs)
        _check_symbolic("outputs", self._outputs)
        self._nodes = _topological_nodes(self._inputs, self._outputs)
        self._pool_pairs = _fusion.pool_first_nodes(self._nodes, self._outputs)  # see _run
        unique: list[nn.Module] = []
        for node in self._nodes:
            if all(node.layer is not m for m in unique):
                unique.append(node.layer)
        self._graph_layers = nn.ModuleList(unique)
        # Keras 3: model.layers starts with an InputLayer per Input (no weights: the state_dict is unchanged;
        # a submodule, so that model.train() and model.eval() reach it as they reach every layer listed).
        self._input_layers = nn.ModuleList([m for m in map(input_layer_of, self._inputs) if m is not None])
        if self._multi_input and any(t.optional for t in self._inputs):  # Input(..., optional=True) may be None
            self.input_spec = [InputSpec(optional=True) if t.optional else None for t in self._inputs]
        self.built = True
        _added_losses.mark_loss_scopes(self, Layer)  # a layer that adds losses: the model's call collects them
        shapes = [(None,) + t.shape[1:] for t in self._inputs]
        self.built_input_shape = shapes if self._multi_input else shapes[0]

    # ------------------------------------------------------------ structure
    @property
    def layers(self) -> list:
        """An ``InputLayer`` per Input (its ``output`` is the Input), then the layers
        of the graph in the order they are first called, as Keras 3's functional
        ``model.layers``."""
        return list(self._input_layers) + list(self._graph_layers)

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self._outputs)

    @property
    def output_names(self) -> list[str]:
        """One name per output: its key when the outputs were given as a dict, else the
        name of the layer that produces it (Keras)."""
        return list(self._output_keys) if self._output_keys else [t.name for t in self._outputs]

    def keyed(self, results: list[Any]) -> Any:
        """One value per output as the model gives them: a dict by name when the outputs
        were given as a dict, in their nesting when given as lists of lists, else as they are."""
        keys, template = self._output_keys, self._output_structure  # template: outputs given as nested lists
        return dict(zip(keys, results)) if keys else _nested_outputs.pack(template, results)

    def input_dtypes(self, count: int) -> list[torch.dtype | None]:
        return [None if t.dtype == "string" or t.dtype.is_floating_point else torch.int64 for t in self._inputs]

    def takes_text(self) -> bool:
        """Whether an Input holds strings (``Input(shape=(1,), dtype="string")``)."""
        return any(t.dtype == "string" for t in self._inputs)

    def text_heads(self) -> list[Any]:
        """Per Input, the text layer (or ``SharedText`` of layers) that reads its strings; None for
        a numeric Input (brainnet.models._text_heads)."""
        if "_text_heads" not in self.__dict__:  # the graph is fixed: found once (the trainer asks at every step)
            self.__dict__["_text_heads"] = _text_heads.find(self)
        return self.__dict__["_text_heads"]

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [t.shape for t in self._outputs]
        return shapes if self._multi_output else shapes[0]

    @property
    def output_activation_name(self) -> str | None:
        if self._multi_output:
            return None
        out = self._outputs[0]
        return _fusion.final_activation(out.node.layer) if out.node is not None and out.index == 0 else None

    def output_activation(self, logits: torch.Tensor) -> torch.Tensor:
        return activations.get(self.output_activation_name)(logits)

    def summary_rows(self) -> list[tuple[Any, Any, str]]:
        """(layer, output shape, connected to) for each InputLayer, then each node, in order."""
        rows: list[tuple[Any, Any, str]] = [(layer, layer.output.shape, "-") for layer in self._input_layers]
        for node in self._nodes:
            shapes = [t.shape for t in node.outputs]
            parents = ", ".join(dict.fromkeys(p.name for p in node.parents()))
            rows.append((node.layer, shapes if len(shapes) > 1 else shapes[0], parents))
        return rows

    # ------------------------------------------------------------- config
    def get_config(self) -> dict[str, Any]:
        """The graph as JSON: the Inputs, each distinct layer once, the nodes
        in order (which layer, called on which tensors), and the outputs.

        A tensor is referred to as ``{"input": k}`` or ``{"node": j, "index": i}``;
        other call arguments as ``{"value": v}`` (JSON values only).
        """
        layer_index = {id(layer): i for i, layer in enumerate(self._graph_layers)}
        node_index = {id(node): j for j, node in enumerate(self._nodes)}
        input_index = {id(t): k for k, t in enumerate(self._inputs)}

        def ref(value: Any) -> Any:
            if isinstance(value, (list, tuple)):
                return [ref(v) for v in value]
            if is_symbolic(value):
                if id(value) in input_index:
                    return {"input": input_index[id(value)]}
                return {"node": node_index[id(value.node)], "index": value.index}
            if value is None or isinstance(value, (bool, int, float, str)):
                return {"value": value}
            raise ValueError(
                f"Model '{self.name}': cannot save a layer call argument of type "
                f"{type(value).__name__} (only tensors from the graph and plain values). "
                "Fix: make it an Input, or a setting of the layer's constructor."
            )

        return {
            "name": self.name,
            "trainable": self.trainable,
            "inputs": [
                {"name": t.name, "shape": list(t.shape[1:]), "batch_size": t.shape[0],
                 "dtype": str(t.dtype).replace("torch.", ""), **({"optional": True} if t.optional else {})}
                for t in self._inputs
            ],
            "layers": [_registry.serialize(layer, "layer") for layer in self._graph_layers],
            "nodes": [
                {"layer": layer_index[id(n.layer)], "inputs": ref(n.inputs),
                 "kwargs": {k: ref(v) for k, v in n.kwargs.items()}}
                for n in self._nodes
            ],
            "outputs": ref(self._outputs),
            "multi_input": self._multi_input,
            "input_keys": self._input_keys,
            "multi_output": self._multi_output,
            "output_keys": self._output_keys,
            "output_structure": self._output_structure,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> "Functional":
        """Rebuild the graph by calling the layers on new Inputs, in order; your own
        layers are found by name in ``custom_objects`` (as Keras 3's ``from_config``)."""
        with config_scope(custom_objects):
            layers = [_registry.deserialize(spec, "layer") for spec in config["layers"]]
        inputs = []
        for spec in config["inputs"]:
            if spec["dtype"] not in _INPUT_DTYPES:
                raise ValueError(f"Input dtype: expected one of {sorted(_INPUT_DTYPES)}, got {spec['dtype']!r}.")
            inputs.append(Input(shape=tuple(spec["shape"]), batch_size=spec["batch_size"],
                                name=spec["name"], dtype=spec["dtype"], optional=spec.get("optional", False)))
        node_outputs: list[list[SymbolicTensor]] = []

        def resolve(r: Any) -> Any:
            if isinstance(r, list):
                return [resolve(x) for x in r]
            if not isinstance(r, dict):
                raise ValueError(f"expected a tensor reference, got {r!r:.100}.")
            if "input" in r:
                return inputs[r["input"]]
            if "node" in r:
                if not 0 <= r["node"] < len(node_outputs):
                    raise ValueError(f"node {r['node']} is used before it is defined.")
                return node_outputs[r["node"]][r["index"]]
            return r["value"]

        for node in config["nodes"]:
            layer = layers[node["layer"]]
            out = layer(resolve(node["inputs"]), **{k: resolve(v) for k, v in node["kwargs"].items()})
            node_outputs.append(list(out) if isinstance(out, (list, tuple)) else [out])
        outputs = resolve(config["outputs"])
        if config.get("input_keys"):
            inputs = dict(zip(config["input_keys"], inputs))
        outputs = _nested_outputs.pack(config.get("output_structure"), outputs)
        if config.get("output_keys"):
            outputs = dict(zip(config["output_keys"], outputs))
            config = {**config, "multi_output": True}
        return cls(
            inputs if config["multi_input"] else inputs[0],
            outputs if config["multi_output"] else outputs[0],
            name=config["name"],
            trainable=config.get("trainable", True),
        )

    # ------------------------------------------------------------ running
    def forward(self, inputs: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if isinstance(inputs, dict) and self._multi_input:  # a dict of data, keyed by the Inputs' names
            names = [t.name for t in self._inputs]
            if sorted(map(str, inputs)) != sorted(names):
                raise ValueError(
                    f"Model '{self.name}': expected a dict with one value per Input, keyed {names}, got keys "
                    f"{list(inputs)}. Fix: model({{{', '.join(f'{n!r}: ...' for n in names)}}}), or a list in "
                    "the order of the inputs."
                )
            inputs = [inputs[n] for n in names]
        if isinstance(inputs, (list, tuple)) and any(x is None for x in inputs):
            self._check_absent(inputs)
        return super().forward(inputs, training, **kwargs)

    def _check_absent(self, inputs: list[Any]) -> None:
        """Refuse None for an Input that is not ``optional=True`` (Keras 3's rule)."""
        for x, t in zip(inputs, self._inputs):
            if x is None and not t.optional:
                raise ValueError(
                    f"Model '{self.name}': the Input {t.name!r} is not optional, expected a tensor for it, got None. "
                    f"Fix: pass an array for {t.name!r}; for an input that may be missing, declare it "
                    f"Input(shape=..., name={t.name!r}, optional=True) and read it with a layer whose input_spec "
                    "entry for it is InputSpec(optional=True)."
                )

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        out = self._run(inputs, training, pre_activation=False, mask=mask)
        return self.keyed(out) if self._multi_output else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The masks its graph gives its outputs (Keras 3; see ``_nested_masks``)."""
        return _nested_masks.output_masks(self, inputs, mask)

    def call_pre_activation(self, inputs: Any) -> Any:
        return self._run(inputs, None, pre_activation=True)

    def _run(self, inputs: Any, training: bool | None, pre_activation: bool, mask: Any = None) -> Any:
        given = _as_list(inputs)
        if len(given) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}': expected {len(self._inputs)} input(s) "
                f"({', '.join(t.name for t in self._inputs)}), got {len(given)}. "
                "Fix: pass a list with one array per Input, in the order of inputs=."
            )
        values: dict[int, torch.Tensor] = {id(s): v for s, v in zip(self._inputs, given)}
        masks: dict[int, torch.Tensor | None] = _nested_masks.input_masks(self, mask)
        last = self._outputs[0].node if pre_activation else None
        lookup = lambda s: values[id(s)] if is_symbolic(s) else s  # noqa: E731
        early = {id(producer): id(reader) for producer, reader in self._pool_pairs
                 if _fusion.pool_first(producer.layer, reader.layer)}
        relu_after: dict[int, Any] = {}  # id(pool node) -> the ReLU it applies (see _fusion)
        for node in self._nodes:
            args = _map(node.inputs, lookup)
            if isinstance(args, VectorizedText):  # a text layer's output, made once by fit (text_inputs)
                values[id(node.outputs[0])] = _text_heads.head_output(self, node, args.tensor)
                continue
            kwargs = {k: _map(v, lookup) for k, v in node.kwargs.items()}
            # training= given when the graph was made (base_model(x, training=False)) wins, as in Keras.
            node_training = kwargs.pop("training", training)
            in_masks = _map(node.inputs, lambda s: masks.get(id(s)) if is_symbolic(s) else None)
            if node.layer._call_takes_mask and any(m is not None for m in flatten(in_masks)):
                kwargs.setdefault("mask", in_masks)
            reader = early.get(id(node))
            pool_next = reader is not None and all(m is None for m in flatten(in_masks))
            driven_by_model(node.layer)  # this loop passes the masks (not x._keras_mask)
            out = node.layer(args, training=node_training, pre_activation=pool_next or node is last, **kwargs)
            if pool_next:
                relu_after[reader] = node.layer.activation
            if id(node) in relu_after:
                out = relu_after.pop(id(node))(out)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            out_mask = node.layer.compute_mask(args, in_masks)
            for i, (sym, value) in enumerate(zip(node.outputs, outs)):
                values[id(sym)] = value
                masks[id(sym)] = out_mask[i] if isinstance(out_mask, (list, tuple)) else (out_mask if i == 0 else None)
        results = [values[id(t)] for t in self._outputs]
        if not pre_activation:
            _nested_masks.remember(self, given, [masks.get(id(t)) for t in self._outputs])
        return results if self._multi_output else results[0]

