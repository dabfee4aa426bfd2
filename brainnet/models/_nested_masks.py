"""Masks into and out of a functional model called inside another, as Keras 3.

A functional model called on tensors that carry time-step masks (an
encoder's output, the output of ``Embedding(mask_zero=True)``) takes them
into its graph: each of its ``Input``s starts with the mask of the tensor
given for it, so the layers inside that read it get it as ``mask=``, as if
the model's layers had been called directly. Its ``compute_mask`` gives the
masks its graph computed for its outputs, so the layers after the model see
them too (Keras 3 does the same: ``Functional.call(inputs, training, mask)``
and ``Functional.compute_mask``).

The output masks are made by the run itself; ``compute_mask``, which the
calling graph asks right after the call with the same inputs, reads them
back instead of running the graph a second time (it runs it, without
gradients, only for other inputs, as a graph's trial run asks).
"""

from __future__ import annotations

import weakref
from typing import Any

import torch


def input_masks(model: Any, mask: Any) -> dict[int, Any]:
    """The masks the model's ``Input``s start with: ``mask`` (one tensor, a list
    with one entry per input, or a dict keyed by the inputs' names) by input."""
    if mask is None:
        return {}
    inputs = model._inputs
    if isinstance(mask, dict):
        keys = model._input_keys or [t.name for t in inputs]
        given = [mask.get(k) for k in keys]
    elif isinstance(mask, (list, tuple)):
        given = list(mask)
    else:
        given = [mask] + [None] * (len(inputs) - 1)
    return {id(t): m for t, m in zip(inputs, given) if m is not None}


def remember(model: Any, given: list, out_masks: list) -> None:
    """Keep this run's output masks for ``output_masks``, with weak references
    to its inputs (nothing kept alive, nothing for ``copy.deepcopy`` to copy);
    not while ``torch.compile`` traces the run: a compiled step asks for no masks."""
    if not torch.compiler.is_compiling():
        refs = [weakref.ref(t) if isinstance(t, torch.Tensor) else None for t in given]
        model.__dict__["_last_masks"] = (refs, out_masks)


def _same(refs: list, given: list) -> bool:
    return len(refs) == len(given) and all(
        (r is None and not isinstance(t, torch.Tensor)) or (r is not None and r() is t) for r, t in zip(refs, given))


def output_masks(model: Any, inputs: Any, mask: Any) -> Any:
    """The masks of the model's outputs for ``inputs`` (one, or a list for several)."""
    last = model.__dict__.pop("_last_masks", None)  # read once: nothing kept between steps
    given = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if last is None or not _same(last[0], given):
        with torch.no_grad():
            model._run(inputs, None, pre_activation=False, mask=mask)
        last = model.__dict__.pop("_last_masks")
    masks = last[1]
    if all(m is None for m in masks):
        return None
    return masks if model._multi_output else masks[0]
