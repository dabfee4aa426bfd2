"""What ``Layer.add_loss`` keeps, as Keras 3: the losses of every call of a
layer inside the outermost call in progress (a shared layer adds both calls'),
emptied when the next outermost call starts. ``Layer.forward`` asks
``enter_loss_call`` at the call of a layer whose ``_collects_losses`` is set
(``mark_loss_scopes`` sets it on the layers that add losses or hold one);
``Layer.losses`` (``_weights.penalties``) reads ``_added_losses``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._training_mode import ThreadSlot


# How many layers were found to add losses only when add_loss ran (not named in
# their class's call): a trainer that counted fewer looks for penalties again.
LATE_ADDERS = [0]


# The outermost call in progress of a layer that adds losses or holds one that does
# (``_collects_losses``): as Keras 3, the losses of every layer inside it start afresh
# there, and each call of a layer inside it adds (a shared layer's second call included).
LOSS_CALL = ThreadSlot()  # one per thread: a call in another thread is not inside this one


def enter_loss_call(layer: Any, layer_class: type) -> bool:
    """At the call of a layer that collects losses: when no such call is in
    progress, it is the outermost: empty what the layers inside it added and
    return True (``forward`` then ends the call, ``LOSS_CALL.value = None``)."""
    if LOSS_CALL.value is not None:
        return False
    LOSS_CALL.value = layer
    for module in layer.modules():
        if isinstance(module, layer_class) and module._added_losses:
            module._added_losses = ()
    return True


def mark_loss_scopes(module: nn.Module, layer_class: type) -> bool:
    """Set ``_collects_losses`` on each layer of ``module`` (itself included)
    that holds a layer adding losses, so that its call is the outermost one
    (``enter_loss_call``); whether ``module`` adds or holds one. Run when a
    model or layer is built or gets a layer, and when fit or evaluate starts."""
    found = False
    for child in module.children():
        found = mark_loss_scopes(child, layer_class) or found
    if isinstance(module, layer_class):
        if found and not module._collects_losses:
            module._collects_losses = True
        found = found or module._adds_losses
    return found


def add_loss(layer: Any, loss: Any) -> None:
    """``layer.add_loss(loss)``: keep ``loss`` (a tensor, or a list or tuple of
    them, as Keras 3 takes) with what the other calls inside the same outermost
    call added, until the next outermost call (``enter_loss_call``)."""
    values = list(loss) if isinstance(loss, (list, tuple)) else [loss]
    bad = [v for v in values if not isinstance(v, torch.Tensor)]
    if bad or not values:
        got = "an empty list" if not values else f"{type(bad[0]).__name__} {bad[0]!r}"
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}).add_loss: expected a torch tensor (or a list of them) "
            f"computed in call() from the layer's inputs or weights, got {got}. Fix: compute the loss with torch, "
            "self.add_loss(self.rate * inputs.mean()), or torch.as_tensor(value) for a constant."
        )
    if not layer._adds_losses:  # added from a helper of call: flag it, and tell running trainers (LATE_ADDERS)
        layer._adds_losses = layer._collects_losses = True
        LATE_ADDERS[0] += 1
    if not isinstance(layer._added_losses, list):
        layer._added_losses = []
    layer._added_losses.extend(values)
