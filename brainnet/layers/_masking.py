"""Masks carried on tensors, as Keras 3 carries them: ``x._keras_mask``.

A layer called by hand (outside a model) on a tensor that carries a mask
gets that mask as its ``mask=`` argument when its ``call`` takes one and
none was given; its output carries the mask its ``compute_mask`` gives
(for layers that support masking: ``supports_masking = True`` or their own
``compute_mask``). So ``Embedding(..., mask_zero=True)(x)._keras_mask`` is
``x != 0`` and ``LSTM(32)(Embedding(..., mask_zero=True)(x))`` skips the
padding, as in Keras.

Inside a ``Sequential`` or functional model the model hands each layer its
mask itself (``models/sequential.py``, ``models/functional.py``), so the
layer it drives skips this (no second ``compute_mask`` per step, nothing for
``torch.compile`` or a CUDA graph to trace).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import torch

class _Driven(threading.local):
    layer: Any = None  # the layer a model's run is calling now (it passes the mask itself)


_DRIVEN = _Driven()


def driven_by_model(layer: Any) -> None:
    """Say that the next call of ``layer`` is a model's: it leaves masks to the model."""
    _DRIVEN.layer = layer


def mask_of(x: Any) -> Any:
    """The mask a tensor carries (``x._keras_mask``), or None."""
    return getattr(x, "_keras_mask", None)


def _first(inputs: Any) -> Any:
    return inputs[0] if isinstance(inputs, (list, tuple)) and inputs else inputs


def takes_part(layer: Any, inputs: Any) -> bool:
    """Whether this call passes masks on tensors: not a model's own call of the
    layer, not traced by ``torch.compile``, not recorded into a CUDA graph."""
    if _DRIVEN.layer is layer:
        _DRIVEN.layer = None
        return False
    if torch.compiler.is_compiling():
        return False
    first = _first(inputs)
    return not (isinstance(first, torch.Tensor) and first.is_cuda and torch.cuda.is_current_stream_capturing())


def fill_mask_argument(layer: Any, inputs: Any, kwargs: dict[str, Any]) -> Any:
    """Give ``call`` the inputs' masks as ``mask=`` when it takes one and none was
    given; return the previous mask (the one ``compute_mask`` starts from)."""
    if kwargs.get("mask") is not None:
        return kwargs["mask"]
    if isinstance(inputs, (list, tuple)):
        masks = [mask_of(t) for t in inputs]
        previous = masks if any(m is not None for m in masks) else None
    else:
        previous = mask_of(inputs)
    if previous is not None and layer._call_takes_mask:
        kwargs["mask"] = previous
    return previous


def warn_mask_dropped(layer: Any, stacklevel: int) -> None:
    """Keras 3's warning: a layer that does not support masking was given a mask
    (``stacklevel`` counts the frames up to the user's call of the layer)."""
    warnings.warn(
        f"Layer '{layer.name}' ({type(layer).__name__}) was given inputs that carry a time-step mask, but it does "
        "not support masking, so the layers after it see no mask. Fix: for a layer of your own that keeps the "
        "time axis, set self.supports_masking = True in its __init__ (or give it compute_mask(inputs, mask)); "
        "otherwise read the mask before it, with a layer that does (an RNN, GlobalAveragePooling1D).",
        stacklevel=stacklevel + 1,
    )


def pass_masks(layer: Any, inputs: Any, outputs: Any, previous: Any) -> None:
    """Set ``_keras_mask`` on each output from ``layer.compute_mask(inputs, previous)``
    for a layer that supports masking (Keras 3: ``supports_masking``, which a
    layer of its own ``compute_mask`` has by default); warn, as Keras, when a
    layer that does not is given a mask."""
    if not (layer._own_compute_mask or layer.supports_masking):
        from .symbolic import probing  # symbolic.py imports this module

        # As Keras 3, only for a mask the inputs carry: a mask= given to the layer's
        # own call is an argument of its own (Swin's window attention mask), not dropped.
        carried = any(mask_of(t) is not None for t in (inputs if isinstance(inputs, (list, tuple)) else [inputs]))
        if carried and not probing():  # a graph's trial run: symbolic_call warns once
            warn_mask_dropped(layer, stacklevel=5)  # pass_masks, forward, torch's two call frames, the user's
        return
    if previous is None and not layer._own_compute_mask:
        return  # supports masking, but no mask came in: none goes out
    masks = layer.compute_mask(inputs, previous)
    if masks is None:
        return
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    masks = list(masks) if isinstance(masks, (list, tuple)) else [masks]
    for out, mask in zip(outs, masks):
        if isinstance(out, torch.Tensor) and mask is not None and mask_of(out) is None:
            out._keras_mask = torch.as_tensor(mask, device=out.device)
