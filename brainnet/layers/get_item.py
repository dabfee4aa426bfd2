"""GetItem: ``x[key]`` on a symbolic tensor, recorded as a layer of the graph.

Keras 3 lets a functional model index its symbolic tensors, as the DDPM
example's ``layers.Dense(width)(temb)[:, None, None, :]`` does (its
``ops.GetItem``); brainnet records the same call as a ``GetItem`` layer, so
the model replays, summarises, saves and loads it like any other layer.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import Layer


def _plain(part: Any) -> bool:
    return part is None or part is Ellipsis or (isinstance(part, int) and not isinstance(part, bool))


def _decode(part: Any) -> Any:
    """A key's part as Python indexes it: a saved slice ``{"slice": [a, b, c]}`` and ``"..."`` decoded."""
    if isinstance(part, dict) and set(part) == {"slice"} and len(part["slice"]) == 3:
        part = slice(*part["slice"])
    if isinstance(part, str) and part == "...":
        return Ellipsis
    if isinstance(part, slice) and all(_plain(v) and v is not Ellipsis for v in (part.start, part.stop, part.step)):
        return part
    if _plain(part):
        return part
    raise TypeError(
        f"GetItem: expected a key made of ints, slices, None and ..., got the part {part!r:.80}. Fix: index with "
        "ints, slices, None (a new axis of size 1) and ..., as x[:, None, None, :] or x[..., 0]; for indices "
        "held in a tensor, layers.Lambda(lambda t: t[:, idx])(x)."
    )


def _encode(part: Any) -> Any:
    """A key's part in JSON: a slice as ``{"slice": [start, stop, step]}``, ``...`` as ``"..."``."""
    if isinstance(part, slice):
        return {"slice": [part.start, part.stop, part.step]}
    return "..." if part is Ellipsis else part


class GetItem(Layer):
    """``y = x[key]``: basic indexing of each batch, the batch axis kept whole.

    Equation (NumPy's basic indexing; the key's first part is the batch axis)::

        y[n, ...] = x[n, ...][key[1:]]     key = (:, k_1, ..., k_m)

    where an int ``k_i`` takes one position (and drops that axis), a slice
    ``a:b:c`` takes every c-th position from a up to b, ``None`` inserts an
    axis of size 1 and ``...`` stands for the axes the key leaves out. This
    is the layer a functional graph records for ``symbolic_tensor[key]``, as
    Keras 3's ``ops.GetItem`` is.

    Args:
        key: an int, a slice, ``None``, ``...`` or a tuple of them (a saved
            config holds slices as ``{"slice": [start, stop, step]}`` and
            ``...`` as ``"..."``). The batch axis must be kept whole: the
            key starts with ``:`` or ``...``.

    Input shape: ``(batch, ...)``. Output shape: ``(batch, ...)`` as the key
    selects.

    Raises:
        TypeError: a part of the key that is not an int, slice, None or ...
            (a tensor of indices, a float).
        ValueError: a key that indexes the batch axis (``x[0]``, ``x[None]``,
            ``x[::2]``).

    Example:
        >>> import torch
        >>> GetItem((slice(None), None, None, slice(None)))(torch.zeros(4, 8)).shape
        torch.Size([4, 1, 1, 8])
    """

    equation = "y = x[key], the batch axis kept"

    def __init__(self, key: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = tuple(key) if isinstance(key, (tuple, list)) else (key,)
        self.key = tuple(_decode(p) for p in parts)
        first = self.key[0] if self.key else slice(None)
        if not (first is Ellipsis or first == slice(None)):
            raise ValueError(
                f"GetItem: expected the key to keep the batch axis (the first) whole, with : or ..., got "
                f"[{', '.join(map(_show, self.key))}], whose first part {_show(first)} indexes the batch. "
                "Fix: put : first, as x[:, 0] for position 0 of the axis after the batch; select samples "
                "outside the model (x_train[:10]), not in its graph."
            )

    def call(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs[self.key]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "key": [_encode(p) for p in self.key]}


def _show(part: Any) -> str:
    """A key's part as one writes it in brackets: ``:``, ``1:3``, ``None``, ``...``."""
    if isinstance(part, slice):
        text = ":".join("" if v is None else str(v) for v in (part.start, part.stop))
        return text if part.step is None else f"{text}:{part.step}"
    return "..." if part is Ellipsis else repr(part)
