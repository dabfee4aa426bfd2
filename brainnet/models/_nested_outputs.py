"""Functional outputs nested in lists (Keras 3): ``Model(x, [[a, b], [c, d]])``.

The model keeps its outputs flat (``model.outputs`` is ``[a, b, c, d]``, as in
Keras 3) and a template of their places, ``[[0, 1], [2, 3]]``; calling the
model and ``predict`` give the values back in the nesting the outputs were
given in. A list of one layer's several outputs (``layer.output``) is the
common case: ``Model(model.input, [layer.output for layer in chosen])``.
"""

from __future__ import annotations

from typing import Any


def split(outputs: Any) -> tuple[Any, list | None]:
    """(the outputs flat, their template) for a list that holds lists; (outputs, None) otherwise."""
    if not isinstance(outputs, (list, tuple)) or not any(isinstance(o, (list, tuple)) for o in outputs):
        return outputs, None
    flat: list[Any] = []

    def place(item: Any) -> Any:
        if isinstance(item, (list, tuple)):
            return [place(x) for x in item]
        flat.append(item)
        return len(flat) - 1

    return flat, place(outputs)


def pack(template: list | None, values: list[Any]) -> Any:
    """The flat values put back in the template's nesting (the values as they are without one)."""
    if template is None:
        return values

    def fill(item: Any) -> Any:
        return [fill(x) for x in item] if isinstance(item, list) else values[item]

    return fill(template)
