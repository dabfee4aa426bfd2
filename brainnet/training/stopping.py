"""How fit begins and ends, in all three of its loops (arrays, batch
sources, a model's own train_step): the callbacks set up in Keras's order
and told the end, Ctrl-C after the current batch, and an error that teaches
when the loss stops being a finite number."""

from __future__ import annotations

import signal
import threading
import warnings
from typing import Any

import torch

from ._modes import callbacks_infer
from .callbacks import History, ProgressBar


def check_finite_loss(losses: torch.Tensor, first: int, epoch: int, epochs: int, steps: int) -> None:
    """Raise when a batch of this epoch had a NaN or infinite loss (read
    once per epoch, so training never waits for the device in between)."""
    bad = ~torch.isfinite(losses)
    if not bool(bad.any()):
        return
    index = int(bad.nonzero()[0, 0])
    value = float(losses[index])
    raise FloatingPointError(
        f"fit: expected a finite loss, got {value} in epoch {epoch + 1}/{epochs} at batch "
        f"{first + index + 1}/{steps}; the weights are not usable after such a step. Usual "
        "causes: a learning rate too high (try one 10 times smaller, e.g. "
        "optimizer=Adam(learning_rate=1e-4)), or inputs that are not scaled (e.g. pixels "
        "0-255: x = x / 255.0). Fix: lower the learning rate or scale the inputs, then train "
        "again (callbacks=[TerminateOnNaN()] stops without an error instead)."
    )


class CtrlC:
    """While fit runs in the main thread, a first Ctrl-C asks the loop to
    stop after the current batch; a second one interrupts at once."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None

    def __enter__(self) -> "CtrlC":
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.pressed = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def begin_fit(trainer: Any, callbacks: Any, verbose: int, params: dict[str, Any]) -> tuple[list, History]:
    """fit's callbacks in Keras's order (the progress bar first, History last,
    so it sees what callbacks add to the logs, such as learning_rate), each
    given the model and ``params``; the trainer reset for a new fit.
    Returns the callbacks and the History."""
    history = History()
    cbs = ([ProgressBar(verbose)] if verbose else []) + list(callbacks or []) + [history]
    for cb in cbs:
        cb.set_model(trainer.model)
        cb.set_params(params)
    trainer.stop_training = trainer.interrupted = False
    history.params, history.model = params, trainer.model
    trainer.history, trainer.resume_from, trainer.epoch_order, trainer.pass_start = history, None, None, 0
    return cbs, history


def warn_interrupted(trainer: Any, epochs: int, steps: int | None = None) -> None:
    """After Ctrl-C in fit (any of its loops): mark the trainer and say what was
    kept. ``steps``: the epoch's batch count, when it is known."""
    trainer.interrupted = True
    epoch, done = trainer.position
    of = "" if steps is None else f" of {steps}"
    warnings.warn(
        f"fit: interrupted (Ctrl-C) in epoch {epoch + 1}/{epochs} after {done}{of} batches. The History holds "
        f"the {len(trainer.history.epoch)} finished epoch(s); the model keeps its weights and can predict, "
        "evaluate, save or fit again.",
        stacklevel=4,
    )


def end_of_fit(history: Any, callbacks: list, trainer: Any = None) -> Any:
    """The end of fit, however it stopped (all epochs, a callback, Ctrl-C): an
    optimizer with ``use_ema`` writes its averages into the weights (Keras's
    ``finalize_variable_values``, before the callbacks, so EarlyStopping's
    ``restore_best_weights`` still has the last word), then ``on_train_end``
    with the last epoch's logs; returns ``history`` (fit's result)."""
    optimizer = getattr(trainer, "optimizer", None)
    if optimizer is not None and optimizer.built:
        optimizer.finalize_variable_values()
    last_logs = {k: v[-1] for k, v in history.history.items()}
    model = getattr(trainer, "model", None)
    if model is None:
        for cb in callbacks:
            cb.on_train_end(last_logs)
        return history
    with callbacks_infer(model):  # a callback's self.model(x) infers, as in Keras 3
        for cb in callbacks:
            cb.on_train_end(last_logs)
    return history
