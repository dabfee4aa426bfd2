"""model.summary(): a table of layers, output shapes and parameter counts."""

from __future__ import annotations

import re
from typing import Any, Callable

from ..layers.base import shape_str


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def _nested_rows(rows: list[tuple[Any, Any, str]], depth: int = 0) -> list[tuple[Any, Any, str, int]]:
    """Rows with each nested model's own rows after it, one level deeper."""
    out = []
    for layer, shape, connected in rows:
        out.append((layer, shape, connected, depth))
        if hasattr(layer, "summary_rows") and layer is not None and getattr(layer, "built", False):
            out += _nested_rows(layer.summary_rows(), depth + 1)
    return out


def _in_range(rows: list[Any], layer_range: Any) -> list[Any]:
    """The rows from the first layer whose name matches ``layer_range[0]`` (a regular
    expression, as Keras) to the first one after it matching ``layer_range[1]``."""
    if not (isinstance(layer_range, (list, tuple)) and len(layer_range) == 2
            and all(isinstance(p, str) for p in layer_range)):
        raise ValueError(
            f"summary: expected layer_range as two layer names (or patterns), first and last to show, got "
            f"{layer_range!r}. Fix: model.summary(layer_range=['conv2d', 'dense'])."
        )
    names = [row[0].name for row in rows]
    start = next((i for i, n in enumerate(names) if re.match(layer_range[0], n)), None)
    end = None if start is None else next((i for i in range(start, len(names)) if re.match(layer_range[1], names[i])), None)
    if start is None or end is None:
        missing = layer_range[0] if start is None else layer_range[1]
        raise ValueError(
            f"summary: expected layer_range's names to match layers of the model in order, got {missing!r}, which "
            f"matches none{'' if start is None else ' after ' + repr(names[start])}. Fix: use names from "
            f"{names}."
        )
    return rows[start:end + 1]


def print_summary(model: Any, show_equations: bool, print_fn: Callable[[str], Any], line_length: int | None = None,
                  expand_nested: bool = False, show_trainable: bool = False, layer_range: Any = None) -> None:
    """Print the summary of ``model`` (see ``Model.summary``)."""
    if line_length is not None and (isinstance(line_length, bool) or not isinstance(line_length, int)
                                    or line_length <= 0):
        raise ValueError(
            f"summary: expected line_length to be a positive number of characters, got {line_length!r}. "
            "Fix: model.summary(line_length=100)."
        )
    unbuilt = model.input_shape is None
    rows = _nested_rows(model.summary_rows()) if expand_nested else [(*r, 0) for r in model.summary_rows()]
    if layer_range is not None:
        rows = _in_range(rows, layer_range)
    graph = any(connected for _, _, connected, _ in rows)
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if graph else ()) + (
        ("Trainable",) if show_trainable else ())

    def trainable_mark(layer: Any) -> str:
        if not any(True for _ in layer.parameters()):
            return "-"
        return "Y" if getattr(layer, "trainable", True) else "N"

    table = [
        ("  " * depth + f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
         f"{layer.count_params():,}" if getattr(layer, "built", True) else "0 (unbuilt)")
        + ((connected,) if graph else ()) + ((trainable_mark(layer),) if show_trainable else ())
        for layer, shape, connected, depth in rows
    ]
    widths = [max(len(r[i]) for r in table + [header]) + 2 for i in range(len(header))]
    if line_length is not None and sum(widths) < line_length:
        widths[0] += line_length - sum(widths)  # as wide as asked: the names' column takes the rest
    width = sum(widths)
    line = lambda cells: "".join(  # noqa: E731
        c.rjust(w - 2) + "  " if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    print_fn(f'Model: "{model.name}"')
    print_fn("=" * width)
    print_fn(line(header))
    print_fn("=" * width)
    for (layer, _, _, _), cells in zip(rows, table):
        print_fn(line(cells))
        if show_equations and layer.equation:
            print_fn(f"    {layer.equation}")
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
