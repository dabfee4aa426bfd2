"""What every picture of ``plots.py`` shares: a grid of panels, an image
scaled for ``imshow``, and the last step, laying the figure out and writing
it atomically in the format the file name's suffix names."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from brainnet._atomic import atomic_write

PathLike = str | os.PathLike | None


def finish_figure(fig: Figure, path: PathLike, what: str) -> Figure:
    """Lays the figure out and, given a path, writes it: as a PNG, or in the
    format the path's suffix names when matplotlib writes it (``.pdf``, ``.svg``)."""
    fig.tight_layout()
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"{what}: expected path as a file name (a str or a Path), got {type(path).__name__} {path!r}. "
                f"Fix: name the arguments, {what}(..., path='picture.png')."
            )
        suffix = Path(path).suffix.lower().lstrip(".")
        kind = suffix if suffix in fig.canvas.get_supported_filetypes() else "png"
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=kind))
    return fig


def panel_grid(count: int, columns: int, cell: float = 1.6) -> tuple[Figure, np.ndarray]:
    """A figure of ``count`` square panels, ``columns`` per row, axes off."""
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    fig = Figure(figsize=(cell * columns, cell * rows + 0.4), dpi=100)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes:
        ax.axis("off")
    return fig, axes


def as_picture(image: Any) -> np.ndarray:
    """An image ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` as imshow takes it, scaled to [0, 1]."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)
