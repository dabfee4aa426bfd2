"""How ``layer.input`` and ``layer.output`` find the symbolic tensors of a
layer's first call on ``Input``s (Keras 3's rule), and give way to what a
subclass stored under those names itself (``self.output = Dense(10)``, as
PyTorch code often does). The graph itself lives in ``symbolic.py``.
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
