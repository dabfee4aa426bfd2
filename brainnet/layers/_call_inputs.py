"""What ``layer(x)`` does to its inputs before ``call`` when they are not
plain tensors of the weights' dtype: NumPy arrays become tensors (texts stay
texts for the layers that take them, and are refused by the others), a
``dtype='float32'`` layer runs outside autocast on float32 inputs; and the
two questions layers ask about how they run (is autocast on, is a CUDA graph
being captured).
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator

import numpy as np
import torch


def from_numpy(layer: Any, inputs: Any) -> Any:
    """NumPy arrays as tensors, as Keras takes them in ``layer(x)``: floats in
    the weights' dtype (float32 before the layer is built), integers as they
    are (token indices), on the weights' device; strings only for a layer that
    takes texts (``layer.takes_text()``)."""
    weight = next(itertools.chain(layer.parameters(), layer.buffers()), None)
    device = weight.device if weight is not None else None
    float_dtype = weight.dtype if weight is not None and weight.is_floating_point() else torch.get_default_dtype()

    def one(a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a
        if a.dtype.kind in "US" or (a.dtype.kind == "O" and a.size and isinstance(a.flat[0], (str, bytes))):
            # texts: only for a layer (or a model whose first layer) takes them
            if layer.takes_text():
                return a
            raise TypeError(
                f"Layer '{layer.name}' ({type(layer).__name__}): expected numbers, got strings (dtype {a.dtype}). "
                "Fix: turn texts into indices first with brainnet.layers.TextVectorization (adapt(texts), "
                "then x = vectorize(texts)), or put that layer first in the model."
            )
        t = torch.as_tensor(a, device=device)
        return t.to(float_dtype) if t.is_floating_point() else t

    return [one(a) for a in inputs] if isinstance(inputs, (list, tuple)) else one(inputs)


@contextlib.contextmanager
def in_float32(inputs: Any) -> Iterator[Any]:
    """``dtype='float32'``: autocast off for this layer and its floating inputs in float32."""
    first = next((t for t in inputs if t is not None), None) if isinstance(inputs, (list, tuple)) else inputs
    if first is None or not autocast_enabled(first.device.type):
        yield inputs
        return

    def up(t: Any) -> Any:
        return t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t

    with torch.autocast(device_type=first.device.type, enabled=False):
        yield [up(t) for t in inputs] if isinstance(inputs, (list, tuple)) else up(inputs)


def autocast_enabled(device: str) -> bool:
    """Whether ``torch.autocast`` is on for ``device`` (``"cpu"``, ``"cuda"``)."""
    try:
        return torch.is_autocast_enabled(device)  # PyTorch ≥ 2.4
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device == "cpu" else torch.is_autocast_enabled()


def capturing(t: torch.Tensor) -> bool:
    """Whether ``t``'s kernels are being recorded into a CUDA graph: then no value
    may be read back to the host (a check such as ``bool(t.any())`` must wait
    for the eager steps, which run the same batches' shapes before capture)."""
    return t.is_cuda and torch.cuda.is_current_stream_capturing()
