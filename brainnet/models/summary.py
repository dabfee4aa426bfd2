"""model.summary(): a table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any, Callable

from ..layers.base import shape_str


def _rows(model: Any) -> list[tuple[Any, tuple | None]]:
    """(layer, output shape) for each top-level layer of the model."""
    layers = list(model.layers)
    shape = model.input_shape
    rows = []
    for layer in layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        rows.append((layer, shape))
    return rows


def print_summary(model: Any, show_equations: bool, print_fn: Callable[[str], Any]) -> None:
    """Print the summary of ``model`` (see ``Model.summary``)."""
    if model.input_shape is None:
        raise ValueError(
            f"summary: expected a built model, got '{model.name}' whose input shape is not "
            "known yet. Fix: give input_shape=(28, 28, 1) (your sample shape) to the first "
            "layer, or call the model on data (fit, predict) first."
        )
    rows = _rows(model)
    header = ("Layer (type)", "Output Shape", "Param #")
    table = [(f"{l.name} ({type(l).__name__})", shape_str(s) if s else "?", f"{l.count_params():,}") for l, s in rows]
    widths = [max(len(r[i]) for r in table + [header]) + 2 for i in range(3)]
    width = sum(widths)
    line = lambda cells: "".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
    )
    print_fn(f'Model: "{model.name}"')
    print_fn("=" * width)
    print_fn(line(header))
    print_fn("=" * width)
    for (layer, _), cells in zip(rows, table):
        print_fn(line(cells))
        if show_equations and layer.equation:
            print_fn(f"    {layer.equation}")
        print_fn("-" * width)
    trainable = sum(int(w.numel()) for w in model.trainable_weights)
    total = model.count_params()
    print_fn(f"Total params: {total:,}")
    print_fn(f"Trainable params: {trainable:,}")
    print_fn(f"Non-trainable params: {total - trainable:,}")
