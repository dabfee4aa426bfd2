"""The ``train()``/``eval()`` modes of a model's modules around fit, predict
and the callbacks: ``kept_modes`` puts each module's mode (and whether a mode
was chosen for it, ``Layer.training_left_out``) back as it was, also after an
error; ``callbacks_infer`` runs fit's callback hooks with every module out of
``train()`` mode."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from ..layers._training_mode import modes_of, put_back, set_quietly


@contextlib.contextmanager
def kept_modes(model: torch.nn.Module) -> Any:
    """Each module's ``train()``/``eval()`` mode put back as it was at the end,
    also after an error: ``fit`` trains in ``train()`` mode, and afterwards
    ``model(x)`` infers again (a new model is in ``eval()`` mode, as Keras 3
    infers when ``training`` is left out)."""
    modes = modes_of(model)
    try:
        yield
    finally:
        put_back(modes)


@contextlib.contextmanager
def callbacks_infer(model: torch.nn.Module, callbacks: list[Any] | None = None) -> Any:
    """Around fit's epoch-level callback hooks (``on_train_begin``,
    ``on_epoch_begin``/``_end``, ``on_train_end``) and the user's batch hooks
    (``batch_hooks_infer``): every module out of
    ``train()`` mode, set quietly (no mode marked as chosen), then put back,
    so a callback's ``self.model(x)`` infers as in Keras 3, where callbacks
    run outside the training call (an augmentation layer keeps its own
    default).

    Given the ``callbacks`` the hooks will run, it switches nothing when none
    of them is the user's (``users_callback``): brainnet's own never call the
    model, and the switch costs two walks over the modules at every epoch."""
    if callbacks is not None and not any(map(users_callback, callbacks)):
        yield
        return
    modes = modes_of(model)
    try:
        for m, _, _ in modes:
            set_quietly(m, False)
        yield
    finally:
        put_back(modes)


def users_callback(cb: Any) -> bool:
    """Whether ``cb`` may call the model: its class is defined outside brainnet, or it
    is a ``LambdaCallback`` (whose functions are the user's)."""
    from .callbacks import LambdaCallback

    return isinstance(cb, LambdaCallback) or not type(cb).__module__.startswith("brainnet.")


def batch_hooks_infer(model: torch.nn.Module, callbacks: list[Any]) -> Any:
    """What to run fit's ``on_train_batch_*`` hooks in: ``callbacks_infer`` (so a
    callback's ``self.model(x)`` there infers, as in Keras 3) when one of
    ``callbacks`` is the user's (its class defined outside brainnet, or a
    ``LambdaCallback``'s functions); else a no-op, as brainnet's own batch
    hooks (the progress bar, backups) never call the model and a mode switch
    costs a walk over the modules at every step."""
    if any(map(users_callback, callbacks)):
        return lambda: callbacks_infer(model)
    return contextlib.nullcontext
