"""``layer.input`` and ``layer.output`` (the properties ``Layer`` takes from
here, ``graph_input`` and ``graph_output``): how they find the symbolic
tensors of a layer's first call on ``Input``s (Keras 3's rule), and give way
to what a subclass stored under those names itself (``self.output =
Dense(10)``, as PyTorch code often does). The graph itself lives in
``symbolic.py``.
"""

from __future__ import annotations

from typing import Any

MISSING = object()  # "the subclass stored nothing under that name"


def own(module: Any, name: str) -> Any:
    """What ``module`` stored under ``name`` itself (a parameter, buffer,
    submodule or plain attribute), or ``MISSING``."""
    for table in ("_parameters", "_buffers", "_modules"):
        found = module.__dict__.get(table, {})
        if name in found:
            return found[name]
    return module.__dict__.get(name, MISSING)


def first_node(layer: Any, what: str) -> Any:
    """The graph node of ``layer``'s first call on symbolic tensors, for its
    ``what`` (``"input"``, ``"output"``); a layer of a Sequential model whose
    input shape is known gets its symbolic tensors when first asked."""
    nodes = layer.__dict__.get("_inbound_nodes") or []
    owner = layer.__dict__.get("_sequential")
    if not nodes and owner is not None and layer in owner.layers:
        owner._symbolic_graph()
        nodes = layer.__dict__.get("_inbound_nodes") or []
    if not nodes:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}): expected a layer called on a symbolic input for "
            f"its {what}, got one never called on an Input (and not in a Sequential model whose input "
            f"shape is known). Fix: x = Input(shape=...); y = {layer.name}(x), or give input_shape= to the "
            "first layer of its Sequential model; then layer." + what + "."
        )
    return nodes[0]


def _output(layer: Any) -> Any:
    """The symbolic output of the layer's first call on symbolic tensors (Keras 3's
    rule), e.g. to build a feature extractor:
    ``Model(model.inputs, [layer.output for layer in model.layers])``."""
    stored = own(layer, "output")
    if stored is not MISSING:
        return stored
    node = first_node(layer, "output")
    return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)


def _set_output(layer: Any, value: Any) -> None:
    layer.__dict__["output"] = value


def _input(layer: Any) -> Any:
    """The symbolic input of the layer's first call on symbolic tensors."""
    stored = own(layer, "input")
    return stored if stored is not MISSING else first_node(layer, "input").inputs


def _set_input(layer: Any, value: Any) -> None:
    layer.__dict__["input"] = value


graph_output = property(_output, _set_output)  # Layer.output
graph_input = property(_input, _set_input)  # Layer.input
