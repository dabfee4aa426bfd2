"""Which text layer reads each string ``Input`` of a functional model (its "head").

fit, evaluate and predict apply a model's text layers once to the strings
(brainnet.training.text_inputs) and hand the model their outputs. A string
``Input`` read by one text layer has that layer as its head. One read by
several (Keras's Wide & Deep example looks a column up twice: one-hot for
the wide part, indices for the embeddings) has a ``SharedText`` head: each
layer is applied once, their outputs side by side in one float32 tensor
``(batch, Σ_k size_k)`` (indices are whole numbers below 2²⁴, exact in
float32), and each reading node takes its own part back in its shape and
dtype (int64 for ``output_mode="int"``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


class SharedText(nn.Module):
    """Several text layers on one string Input, applied as one head (see above)."""

    def __init__(self, nodes: list[Any]) -> None:
        super().__init__()
        self.name = "+".join(n.layer.name for n in nodes)
        self.readers = nn.ModuleList(n.layer for n in nodes)
        self.parts: dict[int, tuple[int, int, tuple, torch.dtype]] = {}  # id(node) -> (start, stop, shape, dtype)
        start = 0
        for n in nodes:
            shape = tuple(n.outputs[0].shape[1:])
            size = math.prod(shape)
            dtype = torch.int64 if getattr(n.layer, "output_mode", "int") == "int" else torch.float32
            self.parts[id(n)] = (start, start + size, shape, dtype)
            start += size

    def forward(self, texts: Any) -> torch.Tensor:
        outs = [layer(texts) for layer in self.readers]
        return torch.cat([o.reshape(len(o), -1).to(torch.float32) for o in outs], dim=1)

    def part(self, node: Any, packed: torch.Tensor) -> torch.Tensor:
        start, stop, shape, dtype = self.parts[id(node)]
        return packed[:, start:stop].reshape((len(packed),) + shape).to(dtype)


def find(model: Any) -> list[Any]:
    """Per Input of ``model``, its text head: None (a numeric Input), the one text layer that
    reads it, or a ``SharedText`` of the several that do, each called on the Input alone
    with an output of known size."""
    heads = []
    for t in model._inputs:
        readers = [n for n in model._nodes if any(p is t for p in n.parents())]
        alone = all(n.inputs is t and not n.kwargs and n.layer.takes_text() for n in readers)
        if t.dtype != "string":
            heads.append(None)
        elif len(readers) == 1 and readers[0].inputs is t and not readers[0].kwargs:
            heads.append(readers[0].layer)
        elif len(readers) > 1 and alone and all(None not in n.outputs[0].shape[1:] for n in readers):
            heads.append(SharedText(readers))
        else:
            raise ValueError(
                f"Model '{model.name}': expected the string Input {t.name!r} to feed TextVectorization or "
                f"StringLookup layers, each called on it alone (several need outputs of a fixed size), got it read "
                f"by {len(readers)} layer call(s) ({', '.join(n.layer.name for n in readers) or 'none'}). Fix: "
                "x = vectorize(text_input), and share its output x among the layers that need it "
                "(TextVectorization: give output_sequence_length to read one Input twice)."
            )
    return heads


def head_output(model: Any, node: Any, packed: torch.Tensor) -> torch.Tensor:
    """What the text layer of ``node`` gave, from the tensor fit made for its Input."""
    head = model.text_heads()[next(i for i, t in enumerate(model._inputs) if t is node.inputs)]
    return head.part(node, packed) if isinstance(head, SharedText) else packed
