"""model.summary(): a table of layers, output shapes and parameter counts."""

from __future__ import annotations

import numbers
import re
import shutil
import textwrap
from itertools import zip_longest
from typing import Any, Callable

from ..layers.base import shape_str


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def _once(rows: list[tuple[Any, Any, str]]) -> list[tuple[Any, Any, str]]:
    """One row per layer, as Keras 3 lists a layer called at several nodes (a shared
    layer, a sub-model called twice): where it was first called, with the output shape
    of its last call and, connected to it, the layers that fed any of its calls. Rows of
    no graph (a Sequential's list, a subclassed model's layers) are kept as they are."""
    if not any(connected for _, _, connected in rows):
        return rows
    merged: dict[int, list[Any]] = {}
    for layer, shape, connected in rows:
        row = merged.setdefault(id(layer), [layer, shape, []])
        row[1] = shape
        row[2] += [name for name in connected.split(", ") if name and name not in row[2]]
    return [(layer, shape, ", ".join(names)) for layer, shape, names in merged.values()]


def _nested_rows(rows: list[tuple[Any, Any, str]], depth: int = 0) -> list[tuple[Any, Any, str, int]]:
    """Rows with each nested model's own rows after it, one level deeper."""
    out = []
    for layer, shape, connected in rows:
        out.append((layer, shape, connected, depth))
        if hasattr(layer, "summary_rows") and layer is not None and getattr(layer, "built", False):
            out += _nested_rows(_once(layer.summary_rows()), depth + 1)
    return out


def _bounds(names: list[str], layer_range: Any) -> tuple[int, int] | None:
    """Keras's slice of ``names``: from the first name matching ``layer_range[0]`` (a
    regular expression, ``re.match``) to the last one matching ``layer_range[1]``,
    the two swapped when the second comes first; None when either matches nothing."""
    lower = [i for i, n in enumerate(names) if re.match(layer_range[0], n)]
    upper = [i for i, n in enumerate(names) if re.match(layer_range[1], n)]
    if not lower or not upper:
        return None
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _rows(model: Any, layer_range: Any, expand_nested: bool) -> list[tuple[Any, Any, str, int]]:
    """The summary's rows: ``layer_range`` picks the model's own layers as Keras does
    (each nested model's rows follow it when ``expand_nested``); with
    ``expand_nested`` it may also name layers inside nested models."""
    top = _once(model.summary_rows())
    expand = _nested_rows if expand_nested else (lambda rows: [(*r, 0) for r in rows])
    if layer_range is None:
        return expand(top)
    if not (isinstance(layer_range, (list, tuple)) and len(layer_range) == 2
            and all(isinstance(p, str) for p in layer_range)):
        raise ValueError(
            f"summary: expected layer_range as two layer names (or patterns), first and last to show, got "
            f"{layer_range!r}. Fix: model.summary(layer_range=['conv2d', 'dense'])."
        )
    bounds = _bounds([row[0].name for row in top], layer_range)
    if bounds is not None:
        return expand(top[bounds[0]:bounds[1]])
    rows = expand(top)
    bounds = _bounds([row[0].name for row in rows], layer_range) if expand_nested else None
    if bounds is None:
        names = [row[0].name for row in rows]
        missing = [p for p in layer_range if not any(re.match(p, n) for n in names)] or list(layer_range)
        inside = "" if expand_nested else " (layers inside nested models count with expand_nested=True)"
        raise ValueError(
            f"summary: expected layer_range's names (or patterns) to match layers of the model, got "
            f"{missing[0]!r}, which matches none{inside}. Fix: use names from {names}."
        )
    return rows[bounds[0]:bounds[1]]


def _positioned_widths(positions: Any, line_length: int | None, header: tuple[str, ...],
                       show_trainable: bool) -> list[int]:
    """Column widths from Keras's ``positions``: the right edge of each column, as
    fractions of ``line_length`` (the last ≤ 1, Keras 3) or in characters (Keras 2's
    absolute stops); ``show_trainable`` adds its column as Keras does."""
    columns = len(header) - int(show_trainable)
    example = [0.45, 0.8, 1.0] if columns == 3 else [0.3, 0.56, 0.74, 1.0]
    is_number = lambda p: isinstance(p, numbers.Real) and not isinstance(p, bool)  # noqa: E731
    if not (isinstance(positions, (list, tuple)) and len(positions) == columns
            and all(is_number(p) and p > 0 for p in positions)):
        raise ValueError(
            f"summary: expected positions as {columns} positive column stops, one for the right edge of each "
            f"column ({', '.join(header[:columns])}), got {positions!r}. Fix: model.summary(positions={example}) "
            "(fractions of line_length)."
        )
    if positions[-1] <= 1:
        if line_length is None:  # Keras's default width, at most the terminal's
            default = (88 if columns == 3 else 108) + (12 if show_trainable else 0)
            line_length = min(default, shutil.get_terminal_size().columns - 4)
        fractions = [p * 0.9 for p in positions] + [1.0] if show_trainable else list(positions)
        stops = [int(p * line_length) for p in fractions]
    else:
        stops = [int(p) for p in positions] + ([int(positions[-1]) + 12] if show_trainable else [])
    widths = [b - a for a, b in zip([0] + stops, stops)]
    if min(widths) < 4:
        raise ValueError(
            f"summary: expected each column at least 4 characters wide, got widths {widths} from "
            f"positions={positions!r} and line_length={line_length}. Fix: increasing stops at least 4 characters apart "
            f"(e.g. positions={example}), or a larger line_length."
        )
    return widths


def _equation_text(layer: Any) -> str:
    """The equation a layer computes, as the summary shows it: ``equation_text`` where a layer's
    ``equation`` attribute holds one of its arguments (EinsumDense's einsum string, Keras's name), else
    ``equation``."""
    return getattr(layer, "equation_text", None) or layer.equation


def print_summary(model: Any, show_equations: bool, print_fn: Callable[[str], Any], line_length: int | None = None,
                  expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None,
                  positions: Any = None) -> None:
    """Print the summary of ``model`` (see ``Model.summary``)."""
    if line_length is not None and (isinstance(line_length, bool) or not isinstance(line_length, int)
                                    or line_length <= 0):
        raise ValueError(
            f"summary: expected line_length to be a positive number of characters, got {line_length!r}. "
            "Fix: model.summary(line_length=100)."
        )
    unbuilt = model.input_shape is None
    rows = _rows(model, layer_range, expand_nested)
    graph = any(connected for _, _, connected, _ in rows)
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if graph else ()) + (
        ("Trainable",) if show_trainable else ())

    def trainable_mark(layer: Any) -> str:
        if not layer.weights:
            return "-"
        return "Y" if getattr(layer, "trainable", True) else "N"

    table = [
        ("   " * depth + "└ " * bool(depth) + f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
         f"{layer.count_params():,}" if getattr(layer, "built", True) else "0 (unbuilt)")
        + ((connected,) if graph else ()) + ((trainable_mark(layer),) if show_trainable else ())
        for layer, shape, connected, depth in rows
    ]
    if positions is not None:  # Keras's column stops; a longer text wraps inside its column
        widths = _positioned_widths(positions, line_length, header, show_trainable)
    else:  # each column as wide as its text
        widths = [max(len(r[i]) for r in table + [header]) + 2 for i in range(len(header))]
        if line_length is not None and sum(widths) < line_length:
            widths[0] += line_length - sum(widths)  # as wide as asked: the names' column takes the rest
    width = sum(widths)

    def lines(cells: tuple[str, ...]) -> list[str]:
        room = [w - 2 for w in widths[:-1]] + [widths[-1]]  # two spaces between columns, none after the last
        wrapped = [textwrap.wrap(c, r, break_on_hyphens=False) or [""] for c, r in zip(cells, room)]
        return ["".join(
            c.rjust(w - 2) + "  " if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(parts, widths))
        ).rstrip() for parts in zip_longest(*wrapped, fillvalue="")]

    print_fn(f'Model: "{model.name}"')
    print_fn("=" * width)
    for text in lines(header):
        print_fn(text)
    print_fn("=" * width)
    for (layer, _, _, _), cells in zip(rows, table):
        for text in lines(cells):
            print_fn(text)
        if show_equations and layer.equation:
            for line in _equation_text(layer).splitlines():  # a stack of cells: one line per cell
                print_fn(f"    {line}")
        print_fn("-" * width)
    trainable = sum(int(w.numel()) for w in model.trainable_weights)
    total = model.count_params()
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
    if unbuilt:  # as Keras 3 prints it, '?' and '(unbuilt)', with how to see the rest
        print_fn(f"'{model.name}' is not built yet, so its shapes and weights are not known: give "
                 "input_shape= to the first layer (or start with Input(shape=...)), or call the model "
                 "on data (fit, predict, model(x)) or model.build((None, ...)), then summary() again.")
