"""``plot_model``: a picture of a model's layers and how they connect, as Keras's
``keras.utils.plot_model``, drawn with matplotlib (no pydot, no graphviz).

Two steps. ``model_layout`` (in ``_plot_layout.py``, re-exported here) turns a
model into boxes (label lines, rank, position and size in inches) and arrows
(which box feeds which, and the points each arrow passes through); it is
plain data, tested on its own. ``plot_model`` draws that layout and writes
the file.

The layout ranks boxes by their depth, the longest path from an input;
boxes of one rank stand side by side, ordered to keep arrows from crossing;
an arrow that skips ranks passes beside the boxes in between, not through
them (each skipped rank holds a point of its route).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ._plot_layout import _FONT, _LINE_H, _MARGIN, _PAD, RANKDIRS, Box, Layout, _check_model, model_layout
from .model import Model

__all__ = ["plot_model", "model_layout", "Box", "Layout", "RANKDIRS"]

# ------------------------------------------------------------------ drawing
_TITLE_FILL, _BODY_FILL, _EDGE = "#263859", "#f3f5fa", "#33384a"
_MARKS = {"Trainable": "#1b7f3b", "Non-trainable": "#b22222"}


def plot_model(model: Model, to_file: str | os.PathLike = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
               expand_nested: bool = False, dpi: float = 200, show_layer_activations: bool = False,
               show_trainable: bool = False) -> str:
    """Draw the model's layers as boxes joined by arrows and write the picture
    to ``to_file``, as Keras's ``keras.utils.plot_model`` (same arguments and
    defaults), with matplotlib instead of pydot and graphviz.

    Each box holds the layer's class (``show_layer_names``: "name (Class)"),
    then, as asked, its activation, its input and output shapes, its output
    dtype, and "Trainable"/"Non-trainable" (layers with weights). A functional
    model shows its ``Input``s as InputLayer boxes, one box per layer call
    (a layer called twice, its weights shared, has two boxes marked
    "Shared: call 1 of 2", where Keras draws one box), and an arrow from each
    box to each call that reads its output; a Sequential is a chain.
    A subclassed model's ``call`` is Python code, not a graph: where Keras
    draws a single box, brainnet draws its layers in the order it holds them,
    without arrows and with output shapes only (as ``summary()``), under a
    note saying so. A model not built yet is drawn
    with '?' shapes, as ``summary()`` prints it.

    Args:
        model: a brainnet ``Sequential``, ``Model(inputs, outputs)`` or subclassed ``Model``.
        to_file: the file to write: ``.png`` (also with no suffix, as Keras),
            ``.pdf``, ``.svg``, ``.jpg`` or another format matplotlib writes.
        show_shapes: input and output shapes in each box.
        show_dtype: each box's output dtype.
        show_layer_names: the layer's name before its class.
        rankdir: ``"TB"`` top to bottom (default), ``"LR"`` left to right
            (also ``"BT"``, ``"RL"``, as graphviz).
        expand_nested: Keras draws a model used as a layer as its layers;
            brainnet draws it as one box and warns (plot the inner model on its own).
        dpi: resolution of PNG and other pixel formats (default 200, as Keras).
        show_layer_activations: the activation of layers that have one.
        show_trainable: "Trainable" or "Non-trainable" on layers with weights.

    Returns:
        The path written, as a string. (Keras returns an IPython ``Image`` when
        IPython is installed; in a notebook, show the picture with
        ``IPython.display.Image(plot_model(model, "model.png"))``.)

    Raises:
        TypeError: ``model`` is not a brainnet model, or ``to_file`` not a file name.
        ValueError: an unknown ``rankdir``, a file suffix matplotlib does not
            write (``.dot``, ``.gif``), or a ``dpi`` that is not a positive number.

    Example:
        >>> from brainnet.layers import Dense
        >>> from brainnet.models import Sequential
        >>> model = Sequential([Dense(8, activation="relu", input_shape=(4,)), Dense(3)])
        >>> plot_model(model, "model.png", show_shapes=True)
        'model.png'
    """
    from matplotlib.backend_bases import FigureCanvasBase

    _check_model(model)
    if not isinstance(to_file, (str, os.PathLike)):
        raise TypeError(
            f"plot_model: expected to_file as a file name (a str or a Path), got {type(to_file).__name__} "
            f"{to_file!r}. Fix: plot_model(model, 'model.png', show_shapes=True)."
        )
    kind = Path(to_file).suffix.lower().lstrip(".") or "png"
    supported = FigureCanvasBase.get_supported_filetypes()
    if kind not in supported:
        raise ValueError(
            f"plot_model: expected a file name ending in one of {', '.join('.' + k for k in sorted(supported))}, "
            f"got {os.fspath(to_file)!r}. Fix: plot_model(model, {Path(to_file).stem + '.png'!r})."
        )
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise ValueError(f"plot_model: expected dpi as a positive number, got {dpi!r}. "
                         "Fix: plot_model(model, 'model.png', dpi=200).")
    layout = model_layout(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                          rankdir=rankdir, show_layer_activations=show_layer_activations,
                          show_trainable=show_trainable)
    nested = [b.layer.name for b in layout.boxes if isinstance(b.layer, Model)]
    if expand_nested and nested:
        warnings.warn(
            f"plot_model: expected to draw the layers inside the nested model(s) {nested}, but brainnet draws "
            "a model used as a layer as one box. Fix: plot that model on its own, "
            f"plot_model(model.get_layer({nested[0]!r}), 'inner.png').", stacklevel=2)
    fig = _draw(layout, dpi)
    path = os.fspath(to_file)
    from .._atomic import atomic_write

    atomic_write(path, lambda tmp: fig.savefig(tmp, format=kind, dpi=dpi))
    return path


def _draw(layout: Layout, dpi: float) -> Any:
    """The layout on a matplotlib Figure (no pyplot, so nothing to close)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle
    from matplotlib.path import Path as MplPath

    fig = Figure(figsize=(layout.width, layout.height), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, layout.width)
    ax.set_ylim(layout.height, 0)  # y runs down, as the layout's
    ax.axis("off")
    text = dict(fontsize=_FONT, family="DejaVu Sans Mono", ha="center", va="center")
    if layout.note:
        ax.text(_MARGIN, _MARGIN, layout.note, **{**text, "ha": "left", "va": "top", "color": "#555555"},
                linespacing=1.5)
    for route in layout.routes:
        ax.add_patch(FancyArrowPatch(path=MplPath(route), arrowstyle="-|>", mutation_scale=9,
                                     linewidth=1.1, color=_EDGE, zorder=1))
    for box in layout.boxes:
        left, top = box.x - box.width / 2, box.y - box.height / 2
        ax.add_patch(Rectangle((left, top), box.width, box.height, facecolor=_BODY_FILL, edgecolor=_TITLE_FILL,
                               linewidth=1.0, zorder=2))
        band = box.height if len(box.lines) == 1 else _PAD + _LINE_H
        ax.add_patch(Rectangle((left, top), box.width, band, facecolor=_TITLE_FILL, edgecolor=_TITLE_FILL,
                               linewidth=1.0, zorder=2))
        for k, line in enumerate(box.lines):
            y = top + _PAD + (k + 0.5) * _LINE_H
            color = "white" if k == 0 else _MARKS.get(line, "black")
            ax.text(box.x, y, line, color=color, weight="bold" if k == 0 or line in _MARKS else "normal",
                    zorder=3, **text)
    return fig
