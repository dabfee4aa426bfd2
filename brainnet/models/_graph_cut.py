"""A functional model whose dict of inputs holds a layer's output, not only ``Input``s.

Keras 3 takes ``Model({"age": normalizer(age_input), "sex": sex_input}, y)``:
the graph is cut at such a tensor, which becomes a new ``Input`` of its shape
and dtype, and the layers between the cut and the outputs are called again
on the new inputs (their weights shared), so the model starts where the
user's dict says. The layers before the cut are not in the model; its data
is what those layers would have given. brainnet names the new ``Input`` by
its key, since a model matches a dict of data to its ``Input``s by name.
"""

from __future__ import annotations

from typing import Any, Callable

from ..layers.symbolic import Input, SymbolicTensor, _map, is_symbolic


def cut_at(inputs: dict[Any, Any], outputs: Any,
           topological_nodes: Callable[[list, list], list]) -> tuple[dict[Any, Any], Any]:
    """``(inputs, outputs)`` with every non-``Input`` tensor of ``inputs`` made an
    ``Input`` named by its key and the nodes after it called again on that Input;
    unchanged when every value is an ``Input`` (or not symbolic: refused later)."""
    cut = {k for k, t in inputs.items() if is_symbolic(t) and t.node is not None}
    listed = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if not cut or not all(is_symbolic(t) for t in listed):
        return inputs, outputs
    swap: dict[int, SymbolicTensor] = {}
    new_inputs = {}
    for key, t in inputs.items():
        if key in cut:
            new = Input(shape=t.shape[1:], batch_size=t.shape[0], dtype=t.dtype, name=str(key))
            swap[id(t)] = new
            new_inputs[key] = new
        else:
            new_inputs[key] = t
    moved = lambda s: swap.get(id(s), s) if is_symbolic(s) else s  # noqa: E731
    for node in topological_nodes(list(inputs.values()), listed):
        out = node.layer(_map(node.inputs, moved), **{k: _map(v, moved) for k, v in node.kwargs.items()})
        for old, new in zip(node.outputs, out if isinstance(out, (list, tuple)) else [out]):
            swap[id(old)] = new
    return new_inputs, [moved(t) for t in listed] if listed is outputs else moved(outputs)
