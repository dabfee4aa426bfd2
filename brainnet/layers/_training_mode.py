"""A layer's training mode, as Keras 3 resolves it: the ``training`` flag a
call without ``training=`` runs with (``training_left_out``, which ``Layer``
takes as its method of that name and ``forward`` asks at each call whose
``call`` takes ``training``), ``train`` (``Layer.train``, likewise), and how
a module assigned to a layer takes the layer's mode (``take_mode``, from
``Layer.__setattr__``).

A layer starts in inference mode: ``layer(x)`` and ``model(x)`` without
``training=`` infer. A flag given to a call reaches the layers called inside
it (``CALL_FLAG``), as Keras 3's call context does. ``fit`` puts the model in ``train()`` mode and each
layer's mode back afterwards (``training/inference.py``); ``train`` records
that a mode was chosen (``_mode_chosen``).
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn

# Keras 3's call context: the training flag given to the innermost call that had one
# (``model(x, training=True)``, or a flag an enclosing call took that way). A layer called
# inside it without ``training=`` takes it, even through a layer of one's own whose ``call``
# has no ``training`` argument (Layer.forward sets it for the time of each call). One per
# thread, as Keras keeps its call context: a call in one thread never sets another's flag.
class ThreadSlot(threading.local):
    """One value per thread, ``slot.value`` (None at first in each thread)."""

    value: Any = None


CALL_FLAG = ThreadSlot()


def enter(training: bool | None) -> tuple[bool | None, bool | None]:
    """The flag a call runs with, ``training`` or else the enclosing call's, and
    the enclosing call's, which ``Layer.forward`` puts back when the call ends;
    a flag given to this call becomes the one the layers inside it take."""
    outer = CALL_FLAG.value
    if training is None:
        return outer, outer
    CALL_FLAG.value = training
    return training, outer


def train(layer: Any, mode: bool = True) -> Any:
    """torch's ``train()`` / ``eval()`` (``eval()`` is ``train(False)``); it
    also records that a mode was chosen (see ``training_left_out``).
    (``Layer.train``; returns the layer.)"""
    layer._mode_chosen = True
    return nn.Module.train(layer, mode)


def training_left_out(layer: Any) -> bool | None:
    """The ``training`` flag a call without ``training=`` runs with, as in
    Keras 3: True in ``train()`` mode (``fit``); otherwise inference, except
    for an augmentation layer on which neither ``train()`` nor ``eval()``
    was called (Keras's augmentation layers default to ``training=True``,
    so ``data_augmentation(images)`` augments), and None for a model,
    which passes it on so that each layer takes its own default."""
    if layer.training:
        return True
    if layer._augments_when_left_out and not layer._mode_chosen:
        return True
    return None if layer._passes_training_on else False


def take_mode(layer: Any, module: nn.Module) -> None:
    """A torch module (or layer) made in ``__init__`` or ``build`` and assigned
    to ``layer`` takes the layer's mode: a new one is in ``train()`` mode,
    which ``layer(x)`` without ``training=`` would follow. Set quietly, module
    by module: ``train()``/``eval()`` would mark a mode as chosen."""
    for m in module.modules():
        m.training = layer.training


def modes_of(module: nn.Module) -> list[tuple[nn.Module, bool, bool | None]]:
    """Each module's ``train()``/``eval()`` mode, and whether one was chosen for
    it (``training_left_out``), for ``put_back``."""
    return [(m, m.training, m.__dict__.get("_mode_chosen")) for m in module.modules()]


def put_back(modes: list[tuple[nn.Module, bool, bool | None]]) -> None:
    """Set the modes ``modes_of`` read, quietly: a module that had no mode
    chosen has none again, so a ``call`` whose default is ``training=True``
    (an augmentation layer) keeps taking it."""
    for m, training, chosen in modes:
        set_quietly(m, training)
        if chosen is None:
            m.__dict__.pop("_mode_chosen", None)
        else:
            m.__dict__["_mode_chosen"] = chosen


def set_quietly(module: nn.Module, training: bool) -> None:
    """``module.training = training``, written straight into a plain module's
    ``__dict__`` (what torch's ``__setattr__`` would store, without its checks)."""
    if _plain(module):
        module.__dict__["training"] = training
    else:
        module.training = training


def _plain(module: nn.Module) -> bool:
    """A module whose ``training`` flag is a plain entry of its ``__dict__`` (not a
    TorchScript module's, kept in C++), and whose class keeps torch's ``train``."""
    return ("training" in module.__dict__ and not isinstance(module, torch.jit.ScriptModule)
            and type(module).train in (nn.Module.train, train))


def set_mode_all(model: nn.Module, training: bool) -> None:
    """``model.train(training)``, which ``predict``, ``evaluate`` and
    ``train_on_batch`` run at every call: each module's flag set and each
    layer marked as having a mode chosen, written into each module's
    ``__dict__`` (torch's recursion through every module's ``__setattr__``
    took about 1 ms for a U-Net of 177 modules). A model holding a module
    whose class has its own ``train``, or a TorchScript module, gets the
    real ``train(training)``, which calls it."""
    modules = list(model.modules())
    if not all(map(_plain, modules)):
        model.train(training)
        return
    for m in modules:
        m.__dict__["training"] = training
        if type(m).train is train:  # a brainnet layer's train() records the choice; torch's does not
            m.__dict__["_mode_chosen"] = True


def eval_all(model: nn.Module) -> None:
    """``model.eval()`` as ``set_mode_all`` does it."""
    set_mode_all(model, False)
