"""A ``Lambda`` whose function captures a tensor that autograd computed.

    table = Embedding(49, 32)(torch.arange(49))        # a tensor with a grad_fn
    Lambda(lambda t: t + table)                         # refused, with the fix

In Keras (tf.keras and Keras 3) such a tensor, computed outside the model,
is a constant of the graph. In torch it still carries the graph that made it:
the first ``backward`` frees that graph and the second step fails with
"Trying to backward through the graph a second time". So the ``Lambda`` is
refused when it is made, and the error gives the two ways out: ``.detach()``
for Keras's constant, or a layer of one's own whose weight is trained.
"""

from __future__ import annotations

from typing import Any

import torch


def check_captured_tensors(function: Any) -> None:
    """Raise when ``function``'s closure holds a tensor with a ``grad_fn``."""
    names = getattr(getattr(function, "__code__", None), "co_freevars", ())
    for name, cell in zip(names, getattr(function, "__closure__", None) or ()):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet filled
            continue
        if isinstance(value, torch.Tensor) and value.grad_fn is not None:
            raise ValueError(
                f"Lambda: expected the tensors its function uses to be constants, got {name!r} "
                f"{tuple(value.shape)} computed with autograd (grad_fn={type(value.grad_fn).__name__}): "
                "the first training step frees the graph behind it and the second fails. Fix: "
                f"{name} = {name}.detach() for a constant (what Keras makes of a tensor computed outside "
                "the model), or a layer of your own that holds it as a weight (self.add_weight) to train it."
            )
