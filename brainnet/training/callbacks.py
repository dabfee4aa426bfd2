"""Callbacks: objects that watch the training loop, with Keras's hook names.

The loop calls, in order: ``on_train_begin``; per epoch ``on_epoch_begin``,
per batch ``on_train_batch_begin`` / ``on_train_batch_end``, then
``on_test_begin`` / ``on_test_end`` for validation, then ``on_epoch_end``
with the epoch's logs (``{"loss": ..., "accuracy": ..., "val_loss": ...}``);
finally ``on_train_end``. ``evaluate`` and ``predict`` call ``on_test_*``
and ``on_predict_*``.

Batch hooks cost time on every step, so the loop calls them only for
callbacks that override them.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm.auto import tqdm


class Callback:
    """Base class. Override the hooks you need; ``self.model`` and
    ``self.params`` (epochs, steps, verbose) are set before training."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...


_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end")


def overrides_batch_hooks(callback: Callback) -> bool:
    """True when the callback defines its own batch hooks."""
    return any(getattr(type(callback), h) is not getattr(Callback, h) for h in _BATCH_HOOKS)


class History(Callback):
    """Records the logs of every epoch; ``fit`` returns it.

    Attributes:
        history: ``{"loss": [...], "accuracy": [...], "val_loss": [...], ...}``.
        epoch: the epoch indices trained.
    """

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def format_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


class ProgressBar(Callback):
    """A tqdm progress bar per epoch (verbose=1) or one line per epoch (verbose=2).

    The bar shows the running mean loss and metrics, refreshed at most ten
    times a second (reading them waits for the device, so not every step).
    """

    def __init__(self, verbose: int = 1, file: Any = None) -> None:
        super().__init__()
        self.verbose = verbose
        self.file = file
        self.bar: Any = None
        self._epoch_start = 0.0
        self._last_refresh = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()
        if self.verbose == 1:
            self.bar = tqdm(
                total=self.params.get("steps"),
                desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                unit="step",
                file=self.file or sys.stdout,
                dynamic_ncols=True,
                leave=True,
            )

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        now = time.perf_counter()
        if now - self._last_refresh > 0.1 and self.model is not None:
            self._last_refresh = now
            self.bar.set_postfix_str(format_logs(self.model.trainer.running_logs()), refresh=False)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        seconds = time.perf_counter() - self._epoch_start
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            self.bar.close()
            self.bar = None
        elif self.verbose == 2:
            print(
                f"Epoch {epoch + 1}/{self.params.get('epochs')} - {seconds:.1f}s - "
                f"{format_logs(logs or {})}",
                file=self.file or sys.stdout,
                flush=True,
            )
