"""A subclassed model's inputs as a structure: a dict of arrays, a list or tuple
of them, or lists and dicts inside one another, which Keras 3's ``fit``,
``evaluate`` and ``predict`` cut into batches and hand to ``call`` as they are.

Inside, the trainer keeps inputs as a flat list of tensors (one per leaf, all
cut the same way); ``flat`` makes that list and a template of the structure,
and ``rebuilt`` puts a batch's tensors back in it before the model is called.
Sequential and functional models keep their own rules (``prepare.inputs``):
their inputs are named and shaped by their ``Input``s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

LEAF = None  # where a tensor goes in a template


def takes_structure(model: Any, x: Any) -> bool:
    """Whether ``x`` is a structure of arrays for a model without a graph of its
    own (a subclass of ``Model`` with its own ``call``): a dict, lists or dicts
    inside a list, or a list or tuple of arrays for a model not yet built (one
    built for a list takes it on the list path, one built for one array stacks
    a list of samples as before)."""
    if hasattr(type(model), "inputs"):  # Sequential and functional models: their Inputs say
        return False
    if isinstance(x, dict):
        return bool(x)
    if not isinstance(x, (list, tuple)) or not x or not all(_array_tree(v) for v in x):
        return False  # numbers, nested lists of numbers: one array, as before
    if any(isinstance(v, (list, tuple, dict)) for v in x):
        return True
    return not model.built or isinstance(model.built_input_shape, dict)


def _array_tree(value: Any) -> bool:
    """An array (NumPy, torch, pandas: one with a shape and a batch axis), or a list,
    tuple or dict of them."""
    if isinstance(value, dict):
        return bool(value) and all(_array_tree(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_array_tree(v) for v in value)
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return value.ndim > 0
    shape = getattr(value, "shape", None)
    return isinstance(shape, tuple) and len(shape) > 0


def flat(x: Any, what: str = "x") -> tuple[list[tuple[str, Any]], Any]:
    """The leaves of ``x`` as ``(name, array)`` pairs (``x['inputs']``, ``x[0][1]``),
    in order, and the template ``rebuilt`` fills."""
    leaves: list[tuple[str, Any]] = []

    def visit(value: Any, name: str) -> Any:
        if isinstance(value, dict):
            return {k: visit(v, f"{name}[{k!r}]") for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(visit(v, f"{name}[{i}]") for i, v in enumerate(value))
        leaves.append((name, value))
        return LEAF

    return leaves, visit(x, what)


def rebuilt(template: Any, tensors: list[Any]) -> Any:
    """``tensors`` (in the order of ``flat``'s leaves) in the structure of ``template``."""
    it = iter(tensors)

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(fill(v) for v in node)
        return next(it)

    return fill(template)


def shapes_in(template: Any, shapes: list[Any]) -> Any:
    """``shapes`` in the structure of ``template`` as a layer's ``build`` takes it
    (``shape_of``'s convention: dicts and lists, a tuple of inputs as a list)."""
    it = iter(shapes)

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return [fill(v) for v in node]
        return next(it)

    return fill(template)


def template_of_shapes(shape: Any) -> Any:
    """The template of a structure of shapes (a shape, a tuple, is a leaf)."""
    if isinstance(shape, dict):
        return {k: template_of_shapes(s) for k, s in shape.items()}
    if isinstance(shape, list):
        return [template_of_shapes(s) for s in shape]
    return LEAF


def same_structure(a: Any, b: Any) -> bool:
    """Whether two templates have the same containers and keys."""
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b) \
            and all(same_structure(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b) \
            and all(same_structure(u, v) for u, v in zip(a, b))
    return a is LEAF and b is LEAF


def describe(template: Any) -> str:
    """A template as the user would write its structure: ``{'a': x, 'b': [x, x]}``."""
    if isinstance(template, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in template.items()) + "}"
    if isinstance(template, (list, tuple)):
        inner = ", ".join(describe(v) for v in template)
        return f"({inner},)" if isinstance(template, tuple) and len(template) == 1 else \
            f"({inner})" if isinstance(template, tuple) else f"[{inner}]"
    return "array"
