"""The layout behind ``plot_model`` (``visualization.py``): a model turned into
boxes (label lines, rank, position and size in inches) and arrows (which box
feeds which, and the points each arrow passes through), as plain data that
is tested on its own.

The layout ranks boxes by their depth, the longest path from an input;
boxes of one rank stand side by side, ordered to keep arrows from crossing;
an arrow that skips ranks passes beside the boxes in between, not through
them (each skipped rank holds a point of its route).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..layers.base import Layer
from .functional import Functional
from .model import Model
from .sequential import Sequential
from .summary import _shape_text

RANKDIRS = ("TB", "LR", "BT", "RL")  # as graphviz: top to bottom, left to right, and the reverses
_FONT = 9.0  # points; 72 points to the inch
_CHAR_W = 0.62 * _FONT / 72  # inches per character of DejaVu Sans Mono
_LINE_H = 1.5 * _FONT / 72  # inches per line of text
_PAD = 0.12  # inches of box around the text
_RANK_GAP = 0.45  # inches between ranks
_SIDE_GAP = 0.3  # inches between boxes of one rank
_ROUTE_W = 0.15  # inches a passing arrow takes in a rank it skips
_MARGIN = 0.2  # inches around the drawing


@dataclass
class Box:
    """One layer call (or one ``Input``): its label and where it stands.

    ``x``, ``y`` are the centre in inches from the top-left corner;
    ``lines[0]`` is the title (the class name, or "name (Class)")."""

    lines: list[str]
    rank: int
    layer: Any = None  # the Layer; None for an Input
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


@dataclass
class Layout:
    """Boxes, arrows ``(source, target)`` as indices into ``boxes``, each
    arrow's route (points from the source's border to the target's), the
    drawing's size in inches, and a note drawn above it (or None)."""

    boxes: list[Box]
    edges: list[tuple[int, int]]
    routes: list[list[tuple[float, float]]] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    note: str | None = None


# ------------------------------------------------------------------ the model as a graph
def _dtype_text(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def _labels(layer: Layer | None, title: tuple[str, str], in_shape: Any, out_shape: Any, dtype: Any,
            shared: str | None, options: dict[str, bool], with_input: bool = True) -> list[str]:
    name, kind = title
    lines = [f"{name} ({kind})" if options["show_layer_names"] else kind]
    if options["show_layer_activations"] and layer is not None and getattr(layer, "activation", None) is not None:
        lines.append(f"Activation: {layer.activation_name}")
    if shared:
        lines.append(shared)
    if options["show_shapes"]:
        if layer is not None and with_input:  # an InputLayer has no input shape (Keras)
            lines.append(f"Input shape: {_shape_text(in_shape)}")
        lines.append(f"Output shape: {_shape_text(out_shape)}")
    if options["show_dtype"]:
        lines.append(f"Output dtype: {_dtype_text(dtype) if dtype is not None else '?'}")
    if options["show_trainable"] and layer is not None and layer.weights:
        lines.append("Trainable" if layer.trainable else "Non-trainable")
    return lines


def _functional_graph(model: Functional, options: dict[str, bool]) -> tuple[list[Box], list[tuple[int, int]]]:
    boxes = [Box(_labels(None, (t.name, "InputLayer"), None, t.shape, t.dtype, None, options), 0)
             for t in model.inputs]
    index = {id(t): i for i, t in enumerate(model.inputs)}  # id(input tensor or node) -> box
    calls: dict[int, int] = {}
    for node in model._nodes:
        calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
    seen: dict[int, int] = {}
    edges: list[tuple[int, int]] = []
    for node in model._nodes:
        parents = node.parents()
        sources = list(dict.fromkeys(index[id(p)] if p.node is None else index[id(p.node)] for p in parents))
        seen[id(node.layer)] = seen.get(id(node.layer), 0) + 1
        count = calls[id(node.layer)]
        shared = f"Shared: call {seen[id(node.layer)]} of {count}" if count > 1 else None
        in_shapes = [p.shape for p in parents]
        out_shapes = [t.shape for t in node.outputs]
        labels = _labels(node.layer, (node.layer.name, type(node.layer).__name__),
                         in_shapes if len(in_shapes) != 1 else in_shapes[0],
                         out_shapes if len(out_shapes) != 1 else out_shapes[0],
                         node.outputs[0].dtype if node.outputs else None, shared, options)
        index[id(node)] = len(boxes)
        edges += [(s, len(boxes)) for s in sources]
        boxes.append(Box(labels, 1 + max((boxes[s].rank for s in sources), default=-1), node.layer))
    return boxes, edges


def _stack_graph(model: Model, options: dict[str, bool], chain: bool) -> tuple[list[Box], list[tuple[int, int]]]:
    """A Sequential's layers as a chain; a subclassed model's, in the order it
    holds them, unconnected (its ``call`` is Python code, not a graph)."""
    rows = model.summary_rows()
    boxes: list[Box] = []
    previous = model.input_shape if chain else None
    dtype = model.dtype if model.input_shape is not None else None
    for i, (layer, shape, _) in enumerate(rows):
        boxes.append(Box(_labels(layer, (layer.name, type(layer).__name__), previous, shape, dtype, None, options,
                                 with_input=chain), i, layer))
        previous = shape if chain else None
    edges = [(i, i + 1) for i in range(len(boxes) - 1)] if chain else []
    return boxes, edges


# ------------------------------------------------------------------ placing the boxes
def _size(box: Box) -> None:
    box.width = max(len(line) for line in box.lines) * _CHAR_W + 2 * _PAD
    box.height = len(box.lines) * _LINE_H + 2 * _PAD


def _place(boxes: list[Box], edges: list[tuple[int, int]], rankdir: str) -> tuple[list[list], float, float]:
    """Positions for the boxes and the points of long arrows; returns the
    routes' middle points (one list per edge) and the drawing's size."""
    vertical = rankdir in ("TB", "BT")
    along = (lambda b: b.height) if vertical else (lambda b: b.width)  # noqa: E731 - extent on the rank axis
    across = (lambda b: b.width) if vertical else (lambda b: b.height)  # noqa: E731
    ranks = max((b.rank for b in boxes), default=-1) + 1
    # Items of a rank: ("box", i) or ("via", edge, step). An arrow over k ranks has k - 1 via points.
    items: list[list[tuple]] = [[] for _ in range(ranks)]
    for i, b in enumerate(boxes):
        items[b.rank].append(("box", i))
    preds: dict[tuple, list[tuple]] = {}
    for e, (s, t) in enumerate(edges):
        chain = [("box", s)] + [("via", e, k) for k in range(boxes[s].rank + 1, boxes[t].rank)] + [("box", t)]
        for k, item in enumerate(chain[1:-1], boxes[s].rank + 1):
            items[k].append(item)
        for a, b in zip(chain, chain[1:]):
            preds.setdefault(b, []).append(a)
    succs: dict[tuple, list[tuple]] = {}
    for b, sources in preds.items():
        for a in sources:
            succs.setdefault(a, []).append(b)

    def reorder(r: int, neighbours: dict) -> None:  # barycentre of the neighbours' slots
        slot = {item: k for rank in items for k, item in enumerate(rank)}
        mean = lambda item: (sum(slot[n] for n in neighbours[item]) / len(neighbours[item])  # noqa: E731
                             if neighbours.get(item) else slot[item])
        items[r].sort(key=mean)

    for _ in range(2):
        for r in range(1, ranks):
            reorder(r, preds)
        for r in range(ranks - 2, -1, -1):
            reorder(r, succs)

    extent = lambda item: across(boxes[item[1]]) if item[0] == "box" else _ROUTE_W  # noqa: E731
    centre: dict[tuple, tuple[float, float]] = {}  # item -> (along, across)
    band: list[tuple[float, float]] = []  # per rank, where it starts and ends along the rank axis
    position = 0.0
    for rank in items:
        depth = max((along(boxes[i[1]]) for i in rank if i[0] == "box"), default=_ROUTE_W)
        band.append((position, position + depth))
        total = sum(extent(i) for i in rank) + _SIDE_GAP * (len(rank) - 1)
        side = -total / 2
        for item in rank:
            centre[item] = (position + depth / 2, side + extent(item) / 2)
            side += extent(item) + _SIDE_GAP
        position += depth + _RANK_GAP
    low = min((c[1] - extent(i) / 2 for i, c in centre.items()), default=0.0)
    high = max((c[1] + extent(i) / 2 for i, c in centre.items()), default=0.0)
    length = max(position - _RANK_GAP, 0.0)
    width, height = (high - low, length) if vertical else (length, high - low)

    def xy(a: float, c: float) -> tuple[float, float]:
        c -= low
        x, y = (c, a) if vertical else (a, c)
        return (width - x if rankdir == "RL" else x, height - y if rankdir == "BT" else y)

    for item, (a, c) in centre.items():
        if item[0] == "box":
            boxes[item[1]].x, boxes[item[1]].y = xy(a, c)
    # An arrow crosses a rank it skips straight along the rank axis, beside that rank's boxes.
    middles = [[xy(end, centre[("via", e, k)][1]) for k in range(boxes[s].rank + 1, boxes[t].rank) for end in band[k]]
               for e, (s, t) in enumerate(edges)]
    return middles, width, height


def _ends(boxes: list[Box], edges: list[tuple[int, int]], middles: list[list], rankdir: str) -> list[list]:
    """Each arrow from the side of its source that faces the next rank to the
    facing side of its target; several arrows at one side are spread along it."""
    vertical = rankdir in ("TB", "BT")
    sign = -1.0 if rankdir in ("BT", "RL") else 1.0  # which way the ranks run
    key = (lambda p: p[0]) if vertical else (lambda p: p[1])  # noqa: E731 - order along a side

    def spread(box: Box, toward: list[tuple[float, float]], out: bool) -> list[tuple[float, float]]:
        order = sorted(range(len(toward)), key=lambda k: key(toward[k]))
        points: list[tuple[float, float]] = [(0.0, 0.0)] * len(toward)
        face = sign * (1 if out else -1)
        for slot, k in enumerate(order):
            offset = (slot + 1) / (len(toward) + 1) - 0.5
            if vertical:
                points[k] = (box.x + offset * box.width, box.y + face * box.height / 2)
            else:
                points[k] = (box.x + face * box.width / 2, box.y + offset * box.height)
        return points

    starts: dict[int, tuple[float, float]] = {}
    finishes: dict[int, tuple[float, float]] = {}
    for i, box in enumerate(boxes):
        out = [e for e, (s, _) in enumerate(edges) if s == i]
        into = [e for e, (_, t) in enumerate(edges) if t == i]
        nxt = [(middles[e] or [(boxes[edges[e][1]].x, boxes[edges[e][1]].y)])[0] for e in out]
        prv = [(middles[e] or [(boxes[edges[e][0]].x, boxes[edges[e][0]].y)])[-1] for e in into]
        starts.update(zip(out, spread(box, nxt, True)))
        finishes.update(zip(into, spread(box, prv, False)))
    return [[starts[e]] + middles[e] + [finishes[e]] for e in range(len(edges))]


def model_layout(model: Model, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = False, rankdir: str = "TB", show_layer_activations: bool = False,
                 show_trainable: bool = False) -> Layout:
    """Boxes and arrows of ``plot_model``'s picture, placed (sizes in inches).

    A functional model: one box per ``Input`` (an "InputLayer", as Keras
    draws it) and per layer call, an arrow from each box to the calls that
    read its output, rank = the longest path from an input. A Sequential:
    its layers as a chain, rank = position. A subclassed model: its layers
    in the order it holds them, one per rank, unconnected, with a note.

    Args: as ``plot_model``.

    Raises:
        TypeError: ``model`` is not a brainnet model.
        ValueError: ``rankdir`` is not "TB", "LR", "BT" or "RL".
    """
    _check_model(model)
    if rankdir not in RANKDIRS:
        raise ValueError(
            f"plot_model: expected rankdir 'TB' (top to bottom) or 'LR' (left to right), or 'BT'/'RL', got "
            f"{rankdir!r}. Fix: plot_model(model, 'model.png', rankdir='LR')."
        )
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    note = None
    if isinstance(model, Functional):
        boxes, edges = _functional_graph(model, options)
    else:
        chain = isinstance(model, Sequential)
        boxes, edges = _stack_graph(model, options, chain)
        if not chain:
            note = (f"{type(model).__name__} '{model.name}' is a subclassed model: its call() is Python code, "
                    "not a graph,\nso its layers are shown in the order it holds them, without arrows.")
        if model.input_shape is None:
            note = ((note + "\n") if note else "") + (
                f"'{model.name}' is not built yet, so its shapes are '?':\nbuild it first (input_shape= on the "
                "first layer, model.build((None, ...)) or a call on data).")
        if not boxes:
            note = ((note + "\n") if note else "") + f"'{model.name}' has no layers yet."
    for box in boxes:
        _size(box)
    middles, width, height = _place(boxes, edges, rankdir)
    routes = _ends(boxes, edges, middles, rankdir)
    shift_x = shift_y = _MARGIN
    if note:  # above the drawing, which is centred under it when the note is wider
        lines = note.splitlines()
        shift_y += len(lines) * _LINE_H + _PAD
        shift_x += max(0.0, max(len(line) for line in lines) * _CHAR_W - width) / 2
        width = max(width, max(len(line) for line in lines) * _CHAR_W)
        height += len(lines) * _LINE_H + _PAD
    for box in boxes:
        box.x += shift_x
        box.y += shift_y
    routes = [[(x + shift_x, y + shift_y) for x, y in route] for route in routes]
    return Layout(boxes, edges, routes, width + 2 * _MARGIN, height + 2 * _MARGIN, note)


def _check_model(model: Any) -> None:
    if not isinstance(model, Model):
        got = f"the layer {type(model).__name__} '{model.name}'" if isinstance(model, Layer) else type(model).__name__
        raise TypeError(
            f"plot_model: expected a brainnet model (Sequential, Model(inputs, outputs) or a subclass of Model), "
            f"got {got}. Fix: plot_model(model, 'model.png') with the model, e.g. Sequential([layer]) for one layer."
        )
