"""Ragged rows of strings for the lookup layers: each sample a list of its own length.

Keras feeds ``StringLookup`` a ``tf.ragged.constant(rows)`` where samples hold
different numbers of strings (the multi-label example's label lists:
``[["cs.LG"], ["cs.CV", "cs.LG", "stat.ML"]]``). brainnet has no ragged tensor:
the same rows come as they are, a list of lists (or the NumPy object array of
lists that ``pandas.Series.values`` gives). A vocabulary learns from every
string of every row, each row one document; the bag-of-tokens modes
(``multi_hot``, ``count``, ``tf_idf``) give one vector per row, ``(batch,
depth)``, as Keras does for a ragged batch. An index per string
(``int``, ``one_hot``) would itself be ragged and is refused with the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_ROW_TYPES = (list, tuple, np.ndarray)


def ragged_rows(inputs: Any) -> list[list[Any]] | None:
    """``inputs`` as a list of rows when it is a sequence (or a 1-D object
    array) whose items are themselves sequences of tokens of unequal lengths,
    or a 1-D object array of sequences (``Series.values``); else ``None``
    (rectangular data, which the layers read as an array)."""
    if isinstance(inputs, (str, bytes, torch.Tensor)):
        return None
    if isinstance(inputs, np.ndarray):
        if inputs.dtype != object or inputs.ndim != 1:
            return None
        items = inputs.tolist()
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
    else:
        return None
    if not items or not all(isinstance(item, _ROW_TYPES) for item in items):
        return None
    rows = [list(np.asarray(item, dtype=object).reshape(-1)) if isinstance(item, np.ndarray) else list(item)
            for item in items]
    if isinstance(inputs, np.ndarray) or len({len(row) for row in rows}) > 1:
        return rows
    return None


def rectangular(layer: str, output_mode: str, rows: list[list[str]]) -> np.ndarray:
    """Rows of one length as a ``(batch, k)`` array of str, for a mode that
    gives one index per string; rows of several lengths refused."""
    lengths = sorted({len(row) for row in rows})
    if len(lengths) == 1:
        array = np.empty((len(rows), lengths[0]), dtype=object)
        array[...] = rows
        return array
    raise ValueError(
        f"{layer}: expected rows of one length for output_mode={output_mode!r} (one index per string, and "
        f"brainnet has no ragged tensor), got rows of lengths {lengths[:6]}{' ...' if len(lengths) > 6 else ''}. "
        "Fix: output_mode='multi_hot' (one vector per row), or pad the rows to one length with the mask token "
        "(StringLookup(mask_token='', ...) and rows + [''] * k)."
    )
