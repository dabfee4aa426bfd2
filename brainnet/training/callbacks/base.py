"""The Callback base class, History, the progress bar and LambdaCallback.

The loop calls, in order: ``on_train_begin``; per epoch ``on_epoch_begin``,
per batch ``on_train_batch_begin`` / ``on_train_batch_end`` (which call
``on_batch_begin`` / ``on_batch_end`` unless overridden, as in Keras 3), then
``on_test_begin``, per batch ``on_test_batch_begin`` / ``on_test_batch_end``,
``on_test_end`` for validation, then ``on_epoch_end`` with the epoch's logs
(``{"loss": ..., "accuracy": ..., "val_loss": ...}``); finally
``on_train_end``. ``evaluate`` calls the same ``on_test_*`` hooks;
``predict`` calls ``on_predict_begin``, per batch ``on_predict_batch_begin``
/ ``on_predict_batch_end`` (logs ``{"outputs": the batch's outputs}``, torch
tensors), then ``on_predict_end``. Each hook gets its logs as the last
positional argument (a dict; ``{}`` where Keras has none). Callbacks run in the order given, after the progress bar and before
History (Keras's order), so History records what callbacks add to the logs.

A callback stops training by setting ``self.model.stop_training = True``;
the loop stops after the current batch (batch hooks) or epoch.

Batch hooks cost time on every step, so the loop calls them only for
callbacks that define them. Their logs are the running means of the epoch
so far, read from the device only when a callback looks at them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import MutableMapping
from typing import Any, Callable, Iterable, Iterator

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
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)  # Keras's older names still work, as in Keras 3

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


def overrides_batch_hooks(callback: Callback, kind: str = "train") -> bool:
    """True when the callback defines its own ``on_<kind>_batch_begin`` or
    ``_end`` (kind: ``"train"``, ``"test"``, ``"predict"``; for ``"train"`` also
    Keras's older ``on_batch_begin`` / ``_end``), in its class or as functions
    given to LambdaCallback."""
    hooks = (f"on_{kind}_batch_begin", f"on_{kind}_batch_end")
    if kind == "train":
        hooks += ("on_batch_begin", "on_batch_end")
    return any(getattr(getattr(callback, h), "__func__", None) is not getattr(Callback, h) for h in hooks)


def test_batch_end(batch_cbs: list[Callback], step: int, read: Callable[[], dict[str, float]]) -> None:
    """``on_test_batch_end`` of each callback in ``batch_cbs``, with the running
    loss and metrics that ``read`` gives (called only if a callback looks)."""
    if batch_cbs:
        logs = BatchLogs(read)
        for cb in batch_cbs:
            cb.on_test_batch_end(step, logs)


def predict_batches(cbs: list[Callback], batches: Iterable[Any], run: Callable[[Any], Any]) -> list[Any]:
    """``run(batch)`` for each batch, between the ``on_predict_*`` hooks of
    ``cbs`` (``on_predict_batch_end`` gets ``{"outputs": run's result}``, as
    Keras 3); the results, in order."""
    for cb in cbs:
        cb.on_predict_begin({})
    batch_cbs = [cb for cb in cbs if overrides_batch_hooks(cb, "predict")]
    outputs = []
    for step, batch in enumerate(batches):
        for cb in batch_cbs:
            cb.on_predict_batch_begin(step, {})
        outputs.append(run(batch))
        for cb in batch_cbs:
            cb.on_predict_batch_end(step, {"outputs": outputs[-1]})
    for cb in cbs:
        cb.on_predict_end({})
    return outputs


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

    def plot(self, path: str | os.PathLike | None = None, title: str | None = None) -> Any:
        """Loss and every metric per epoch, train and validation, one panel each.

        Args:
            path: the file to write, atomically (a PNG, or the format of its
                suffix: .pdf, .svg, .jpg); None: only return the figure.
            title: the figure's title; None: none.

        Returns:
            The ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state).

        Example:
            >>> history = model.fit(x, y, epochs=3)  # doctest: +SKIP
            >>> history.plot("curves.png")  # doctest: +SKIP
        """
        from brainnet.distributed import is_main_process
        from brainnet.explain.plots import plot_history  # training does not depend on explain at import

        return plot_history(self.history, title, path if is_main_process() else None)  # torchrun: rank 0 writes


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
            shown = logs or self.model.trainer.running_logs()  # fit's (lazy) logs; a custom train_step's dict
            self.bar.set_postfix_str(format_logs(dict(shown)), refresh=False)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.bar is not None:  # interrupted inside an epoch
            self.bar.close()
            self.bar = None

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


class BatchLogs(MutableMapping):
    """The logs given to batch hooks: the running loss and metrics, read
    from the device only if a callback looks at them."""

    def __init__(self, read: Callable[[], dict[str, float]]) -> None:
        self._read = read
        self._logs: dict[str, float] | None = None

    def _get(self) -> dict[str, float]:
        if self._logs is None:
            self._logs = self._read()
        return self._logs

    def __getitem__(self, key: str) -> float:
        return self._get()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._get()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))
_ALIASES = {"on_batch_begin": "on_train_batch_begin", "on_batch_end": "on_train_batch_end"}  # Keras 2


class LambdaCallback(Callback):
    """A callback made of functions, one per hook, as Keras's.

    Each function takes the hook's arguments: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``, ``on_train_batch_begin(batch, logs)``,
    ``on_train_batch_end(batch, logs)``; other hooks (``on_test_end=...``)
    by keyword.

    Raises:
        TypeError: a keyword that is not a hook name.

    Example:
        >>> print_loss = LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin: Callable | None = None,
        on_epoch_end: Callable | None = None,
        on_train_begin: Callable | None = None,
        on_train_end: Callable | None = None,
        on_train_batch_begin: Callable | None = None,
        on_train_batch_end: Callable | None = None,
        **kwargs: Callable,
    ) -> None:
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin, "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin, "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in kwargs.items():
            hook = _ALIASES.get(name, name)
            if hook not in _HOOKS:
                raise TypeError(
                    f"LambdaCallback: expected hook names ({', '.join(_HOOKS)}), got {name!r}. "
                    "Fix: LambdaCallback(on_epoch_end=lambda epoch, logs: ...)."
                )
            hooks[hook] = fn
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
