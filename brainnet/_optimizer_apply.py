"""Keras 3's ``optimizer.apply(grads, trainable_variables)`` for a custom
``train_step``: the update of given weights with given gradients, through
the optimizer's own ``step`` (``brainnet/_optimizer_base.py``)."""

from __future__ import annotations

from typing import Any, Iterable

import torch


def apply(optimizer: Any, grads: Iterable[torch.Tensor | None],
          trainable_variables: Iterable[torch.nn.Parameter] | None = None) -> None:
    """One update of ``trainable_variables`` with ``grads`` (one per weight,
    in order), as Keras 3's ``optimizer.apply``, for a custom ``train_step``.
    The first call builds the optimizer for those weights (a GAN gives each
    network its own optimizer); later calls take the same weights or some
    of them. Weights of the optimizer left out of the call are not
    updated; a gradient of None leaves its weight as it is.

    Raises:
        ValueError: grads and weights of different lengths, no weights on
            the first call, or weights the optimizer was not built for.
    """
    grads = list(grads)
    if trainable_variables is None:
        if optimizer.torch_optimizer is None:
            raise ValueError(
                f"{type(optimizer).__name__}.apply: expected the weights with the first gradients, got "
                "trainable_variables=None on an optimizer not built yet. Fix: "
                "optimizer.apply(grads, model.trainable_weights)."
            )
        weights = [p for g in optimizer.torch_optimizer.param_groups for p in g["params"]]
    else:
        weights = list(trainable_variables)
    if len(grads) != len(weights):
        raise ValueError(
            f"{type(optimizer).__name__}.apply: expected one gradient per weight, got {len(grads)} gradients for "
            f"{len(weights)} weights. Fix: grads = [v.grad for v in weights]; optimizer.apply(grads, weights)."
        )
    if optimizer.torch_optimizer is None:
        optimizer.build(weights)
    own = [p for g in optimizer.torch_optimizer.param_groups for p in g["params"]]
    known = {id(p) for p in own}
    if any(id(w) not in known for w in weights):
        raise ValueError(
            f"{type(optimizer).__name__}.apply: expected the weights this optimizer was built for ({len(own)} "
            "weights), got others. Fix: give each set of weights its own optimizer (in a GAN, d_optimizer "
            "for the discriminator and g_optimizer for the generator)."
        )
    given = {id(w) for w in weights}
    left_out = [(p, p.grad) for p in own if id(p) not in given and p.grad is not None]
    for p, _ in left_out:  # not asked for: torch.optim would step them too
        p.grad = None
    with torch.no_grad():
        for w, g in zip(weights, grads):
            if g is not w.grad:
                w.grad = None if g is None else g.detach()
    try:
        optimizer.step()
    finally:
        for p, g in left_out:
            p.grad = g
