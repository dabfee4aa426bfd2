"""What the plot functions accept, and the refusals that say what to pass instead.

The trap they guard against: a file name passed by position lands in a
title, a list of titles or a count (``plot_heatmaps(x, maps, "cam.png")``
fills ``titles``), which would draw letters or raise a raw NumPy error
instead of writing the file. A single string is never split into one name
per image or class, and a file name where text or a number belongs is
refused with the call that writes it (``path=...``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

# A string ending like this where a title or a number belongs is a file name in the wrong place.
_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".pdf")


def is_file_name(value: Any) -> bool:
    """Whether ``value`` is a Path, or a string ending in an image or document suffix."""
    return isinstance(value, os.PathLike) or (isinstance(value, str) and value.lower().endswith(_FILE_SUFFIXES))


def names_list(values: Any, count: int | None, what: str, argument: str, call: str) -> list[str] | None:
    """``values`` as a list of strings, one per image or class (``count`` of
    them when given), or None.

    A single string is refused, not split into letters: a file name with the
    call that writes it (``call``, with ``{path}`` for the file), other text
    with the list to pass."""
    if values is None:
        return None
    each = "class" if argument == "class_names" else "image"
    expected = f"a list of one string per {each}" + ("" if count is None else f" ({count})")
    if isinstance(values, (str, os.PathLike)):
        fix = (call.format(path=repr(str(values))) if is_file_name(values)
               else f"{argument}=[{str(values)!r}, ...] with one string per {each}")
        raise ValueError(f"{what}: expected {argument} as {expected}, got the string {str(values)!r}. Fix: {fix}.")
    try:
        names = [str(v) for v in values]
    except TypeError:
        raise TypeError(
            f"{what}: expected {argument} as {expected}, got {type(values).__name__} {values!r}. "
            f"Fix: name the arguments, {what}(..., {argument}=[...], path='picture.png')."
        ) from None
    if count is not None and len(names) != count:
        raise ValueError(
            f"{what}: expected {argument} as {expected}, got {len(names)} strings. "
            f"Fix: pass {count} strings, or {argument}=None."
        )
    return names


def layer_arrays(maps: Any, ndim: int, what: str, shape: str, fix: str) -> list[tuple[str, np.ndarray]]:
    """``maps`` (``{layer name: array}``) as ``(name, array)`` pairs, each array of ``ndim`` axes."""
    if not isinstance(maps, Mapping):
        got = type(maps).__name__ + (f" of shape {maps.shape}" if isinstance(maps, np.ndarray) else "")
        raise TypeError(f"{what}: expected maps as a dict {{layer name: {shape}}}, got {got}. Fix: {fix}.")
    pairs = [(str(name), np.asarray(values)) for name, values in maps.items()]
    for name, values in pairs:
        if values.ndim != ndim:
            raise ValueError(f"{what}: expected maps as a dict {{layer name: {shape}}}, got {name!r} of shape "
                             f"{values.shape}. Fix: {fix}.")
    return pairs


def image_batch(x: np.ndarray, what: str, argument: str) -> None:
    """Refuses ``x`` unless it is ``(N, H, W)`` or ``(N, H, W, 1 or 3)``."""
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise ValueError(
            f"{what}: expected {argument} of shape (N, H, W) or (N, H, W, 1 or 3), got {x.shape}. "
            f"Fix: pass a batch of images, e.g. x_test[:8] (one image: x[None])."
        )


def whole_number(value: Any, what: str, argument: str, meaning: str, path_call: str, named_call: str) -> int:
    """``value`` as an int; a file name given here by position, or anything else, is
    refused with the call that was meant (``path_call`` takes ``{path}``)."""
    if is_file_name(value):
        raise ValueError(f"{what}: expected {argument} as {meaning}, got the string {str(value)!r}. "
                         f"Fix: {path_call.format(path=repr(str(value)))}.")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what}: expected {argument} as {meaning}, got {type(value).__name__} {value!r}. "
                        f"Fix: {named_call}.")
    return int(value)
