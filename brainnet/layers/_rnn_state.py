"""Cross-batch statefulness of the recurrent layers (``stateful=True``), as Keras 3.

A stateful layer starts each call from the final states of its previous call
(zeros the first time) instead of zeros, so a long sequence can be fed in
consecutive pieces: sample ``i`` of a batch continues sample ``i`` of the
batch before. The kept states are ``layer.states`` (a list, in the order of
``return_state``; not weights, so not saved or trained) and
``layer.reset_states()`` sets them back to zeros. No gradient flows from one
call into the next (Keras keeps them in variables), and a call given
``initial_state`` starts from it.

``SimpleRNN``, ``LSTM``, ``GRU`` (``_rnn_cells.RecurrentBase``) and ``RNN``
call these plain functions.
"""

from __future__ import annotations

from typing import Any

import torch

from ._call_inputs import capturing


def check_stateful(kind: str, stateful: Any) -> bool:
    """The ``stateful`` argument, which must be True or False."""
    if stateful is True or stateful is False:
        return stateful
    raise ValueError(
        f"{kind}: expected stateful to be True or False, got {stateful!r}. Fix: {kind}(32, stateful=True) to carry "
        "the states from one batch to the next, or leave it out."
    )


def _probing() -> bool:
    from .symbolic import probing  # symbolic.py imports the layers

    return probing()


def kept_states(layer: Any, initial_state: Any, x: torch.Tensor) -> Any:
    """``initial_state`` as given, or, for a stateful layer called without one
    after an earlier call, the states that call ended with."""
    if not layer.stateful:
        return initial_state
    if torch.compiler.is_compiling() or capturing(x):
        # A compiled step or a CUDA graph would read the states it was traced with at every replay.
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}, stateful=True): expected an eager step (the states "
            "a stateful layer carries from batch to batch live outside the step), got a step compiled by "
            "jit_compile=True. Fix: model.compile(..., jit_compile=False) for a model with a stateful layer."
        )
    if initial_state is not None or layer.states is None or _probing():
        return initial_state
    batch, kept = x.shape[0], layer.states[0].shape[0]
    if kept != batch:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}, stateful=True): expected batches of {kept} sequences "
            f"(sample i of a batch continues sample i of the previous batch), got {batch}. Fix: give every "
            f"batch {kept} sequences (fit(..., batch_size={kept}) with a number of samples that {kept} divides), "
            "or build a new layer for another batch size."
        )
    return list(layer.states)


def keep_states(layer: Any, states: list[torch.Tensor]) -> None:
    """Remember the final states of a stateful layer's call (detached: no gradient
    flows into the next call), except in the trial runs that build a graph."""
    if layer.stateful and not _probing():
        layer.states = [s.detach().clone() for s in states]


def reset_states(layer: Any) -> None:
    """Set the kept states back to zeros (nothing to do before the first call)."""
    if layer.states is not None:
        layer.states = [torch.zeros_like(s) for s in layer.states]
