"""model.summary(): a table of layers, output shapes and parameter counts."""

from __future__ import annotations

from typing import Any, Callable

from ..layers.base import shape_str


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return ", ".join(shape_str(s) for s in shape)
    return shape_str(shape)


def print_summary(model: Any, show_equations: bool, print_fn: Callable[[str], Any]) -> None:
    """Print the summary of ``model`` (see ``Model.summary``)."""
    unbuilt = model.input_shape is None
    rows = model.summary_rows()
    graph = any(connected for _, _, connected in rows)
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if graph else ())
    table = [
        (f"{layer.name} ({type(layer).__name__})", _shape_text(shape),
         f"{layer.count_params():,}" if getattr(layer, "built", True) else "0 (unbuilt)")
        + ((connected,) if graph else ())
        for layer, shape, connected in rows
    ]
    widths = [max(len(r[i]) for r in table + [header]) + 2 for i in range(len(header))]
    width = sum(widths)
    line = lambda cells: "".join(  # noqa: E731
        c.rjust(w - 2) + "  " if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    print_fn(f'Model: "{model.name}"')
    print_fn("=" * width)
    print_fn(line(header))
    print_fn("=" * width)
    for (layer, _, _), cells in zip(rows, table):
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
