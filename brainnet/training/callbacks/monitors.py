"""Callbacks that act on a monitored quantity: EarlyStopping,
ModelCheckpoint, ReduceLROnPlateau. LearningRateScheduler, which sets the
learning rate from a schedule rather than from a quantity, is in
``learning_rate_scheduler.py`` (with the helpers that read and set the
optimizer's rate, which ReduceLROnPlateau uses too) and re-exported here.

The monitored quantity is a key of the epoch's logs (``"val_loss"`` by
default, as in Keras). ``mode="auto"`` takes names with ``acc``, ``auc``,
``precision``, ``recall`` or ``f1`` as "higher is better" and names with
``loss``, ``error``, ``mse``, ``mae`` or ``crossentropy`` as "lower is
better"; for other names give ``mode`` yourself. A quantity missing from an
epoch's logs gives a warning and the callback skips that epoch, as in Keras.
"""

from __future__ import annotations

import difflib
import math
import os
import warnings

import torch

from ...distributed import is_main_process
from .base import Callback
from .learning_rate_scheduler import LearningRateScheduler, _optimizer, _set_learning_rate

__all__ = ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler", "direction", "improved",
           "worst", "warn_missing", "MODEL_ENDINGS", "WEIGHTS_ENDINGS"]

_HIGHER = ("acc", "auc", "precision", "recall", "f1")
_LOWER = ("loss", "error", "mse", "mae", "crossentropy")


def direction(monitor: str, mode: str, who: str) -> str:
    """``"min"`` or ``"max"``: which way ``monitor`` improves.

    Raises:
        ValueError: an unknown mode, or ``"auto"`` with a name it cannot read.
    """
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(
            f"{who}: expected mode 'auto', 'min' or 'max', got {mode!r}. "
            "Fix: mode='min' for a loss, mode='max' for an accuracy."
        )
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if any(word in name for word in _HIGHER):
        return "max"
    if any(word in name for word in _LOWER):
        return "min"
    usual = ["loss", "accuracy", "mae", "mse"]
    close = difflib.get_close_matches(monitor, usual + [f"val_{n}" for n in usual], n=1, cutoff=0.75)
    typo = f"monitor={close[0]!r} if that is the name meant, else " if close else ""
    raise ValueError(
        f"{who}: mode='auto' cannot tell whether {monitor!r} should go down or up. "
        f"Fix: {typo}{who}(monitor={monitor!r}, mode='min') or mode='max'."
    )


def improved(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta``."""
    return value < best - min_delta if mode == "min" else value > best + min_delta


def worst(mode: str) -> float:
    return math.inf if mode == "min" else -math.inf


def warn_missing(who: str, monitor: str, logs: dict, params: dict) -> None:
    close = difflib.get_close_matches(monitor, list(logs), n=1, cutoff=0.6)
    freq = params.get("validation_freq", 1)
    if monitor.startswith("val_") and not any(k.startswith("val_") for k in logs) and freq != 1:
        warnings.warn(  # an epoch fit does not validate (Keras warns and skips it too)
            f"{who}: expected {monitor!r} in the epoch's logs, got only {', '.join(logs) or 'none'}: fit "
            f"validates after some epochs only (validation_freq={freq!r}); skipping this epoch. Fix: "
            "validation_freq=1 to validate after every epoch, or keep it: the validated epochs still count.",
            stacklevel=3,
        )
        return
    if monitor.startswith("val_") and not any(k.startswith("val_") for k in logs):
        fix = "pass validation_data=(x_val, y_val) or validation_split=0.1 to fit"
    elif close:  # val_acc for val_accuracy, a typo
        fix = f"monitor={close[0]!r}"
    else:
        fix = f"monitor one of the logged names, e.g. monitor={next(iter(logs), 'loss')!r}"
    warnings.warn(
        f"{who}: expected {monitor!r} in the epoch's logs, got only {', '.join(logs) or 'none'}; "
        f"skipping this epoch. Fix: {fix}.",
        stacklevel=3,
    )


def _snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop training when the monitored quantity has stopped improving.

    Args:
        monitor: the quantity (default ``"val_loss"``).
        min_delta: smallest change that counts as an improvement (default 0).
        patience: epochs without improvement before stopping (default 0).
        verbose: 1 prints when it stops and restores.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        baseline: a value to beat; training stops after ``patience`` epochs
            that do not beat it.
        restore_best_weights: put back the weights of the best epoch when
            training ends. Unlike Keras, this also happens when training
            ends for another reason (its last epoch, another callback).
        start_from_epoch: epochs to wait before watching (warm-up).

    Attributes:
        stopped_epoch: the epoch (0-based) it stopped at, 0 if it did not.
        best, best_epoch: the best value seen and its epoch.

    Example:
        >>> stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    """

    def __init__(
        self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
        mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.mode = direction(monitor, mode, "EarlyStopping")
        self.min_delta = abs(float(min_delta))
        self.baseline, self.restore_best_weights = baseline, bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best = worst(self.mode)
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            warn_missing("EarlyStopping", self.monitor, logs, self.params)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = _snapshot(self.model)  # something to restore even if nothing improves
        self.wait += 1
        if improved(current, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = _snapshot(self.model)
            if self.baseline is None or improved(current, self.baseline, self.mode, self.min_delta):
                self.wait = 0
                return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose and is_main_process():
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose and is_main_process():
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) at the end of every epoch, or only
    when the monitored quantity improves. Every save is atomic.

    As Keras 3, the name says what the file holds, checked at once: whole
    models (``model.save``) end in ``.keras`` or ``.brainnet``, weights
    (``save_weights_only=True``) in ``.weights.h5`` or ``.safetensors``
    (``best.weights.safetensors``). Either way the file is brainnet's format
    (a ZIP of JSON and safetensors, or a safetensors file), which
    ``brainnet.models.load_model`` and ``model.load_weights`` read; Keras
    itself cannot.

    Args:
        filepath: where to save; may hold ``{epoch:02d}`` (1-based, as
            Keras) and any log name, e.g. ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
        monitor: the quantity for ``save_best_only`` (default ``"val_loss"``).
        verbose: 1 prints each save.
        save_best_only: save only when ``monitor`` improves on the best so far.
        save_weights_only: write ``save_weights`` files (safetensors) instead
            of whole models (``model.save``).
        mode: ``"auto"``, ``"min"`` or ``"max"`` (for ``save_best_only``).
        save_freq: ``"epoch"``, or a number of batches: save after every that
            many training batches (counted across epochs, as Keras), with the
            running logs of the epoch so far; the filepath may then hold
            ``{batch}`` (1-based within the epoch).

    Raises:
        ValueError: a filepath whose ending does not match
            ``save_weights_only`` (``.h5`` and ``.hdf5`` for a whole model
            included: brainnet writes no HDF5); a ``save_freq`` that is
            neither ``"epoch"`` nor a whole number ≥ 1.

    Example:
        >>> keep_best = ModelCheckpoint("best.keras", monitor="val_accuracy", save_best_only=True)
        >>> weights = ModelCheckpoint("ckpt-{epoch:02d}.weights.h5", save_weights_only=True)
        >>> every_100 = ModelCheckpoint("model-loss={loss:.2f}.keras", save_freq=100)
    """

    def __init__(
        self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
        save_best_only: bool = False, save_weights_only: bool = False, mode: str = "auto",
        save_freq: str | int = "epoch",
    ) -> None:
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(
                f"ModelCheckpoint: expected save_freq 'epoch' or a number of batches ≥ 1, got {save_freq!r}. "
                "Fix: save_freq='epoch' or save_freq=100."
            )
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = bool(save_best_only), bool(save_weights_only)
        _check_checkpoint_path(self.filepath, self.save_weights_only)
        self.mode = direction(monitor, mode, "ModelCheckpoint") if save_best_only else mode
        self.best = worst(self.mode) if save_best_only else math.inf
        self.save_freq, self._epoch, self._batches = save_freq, 0, 0
        if save_freq != "epoch":  # a batch hook only when it is needed (batch hooks cost every step)
            self.on_train_batch_end = self._on_batch  # type: ignore[method-assign]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def _on_batch(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1
        if self._batches >= self.save_freq:
            self._batches = 0
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch: int, logs: dict | None, batch: int | None = None) -> None:
        if not is_main_process():  # under torchrun only rank 0 saves
            return
        logs = dict(logs or {})
        path = self._path(epoch, logs, batch)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warn_missing("ModelCheckpoint", self.monitor, logs, self.params)
                return
            if not improved(current, self.best, self.mode):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, saving to {path}")
            self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)

    def _path(self, epoch: int, logs: dict, batch: int | None = None) -> str:
        extra = {} if batch is None or "batch" in logs else {"batch": batch + 1}
        try:
            return self.filepath.format(epoch=epoch + 1, **extra, **logs)
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"ModelCheckpoint: filepath {self.filepath!r} cannot be filled in ({err!r}); the "
                f"names it may use are epoch, {', '.join(logs)}. Fix: e.g. "
                "filepath='ckpt-{epoch:02d}-{loss:.2f}.brainnet'."
            ) from None


MODEL_ENDINGS = (".keras", ".brainnet")
WEIGHTS_ENDINGS = (".weights.h5", ".safetensors")
_KNOWN_ENDINGS = (".weights.h5", ".weights.safetensors", ".safetensors", ".keras", ".brainnet", ".hdf5", ".h5")


def _check_checkpoint_path(filepath: str, weights_only: bool) -> None:
    """Keras 3's rule: a weights checkpoint's name ends in ``.weights.h5``, a whole
    model's in ``.keras``; brainnet's ``.safetensors`` and ``.brainnet`` too."""
    stem = next((filepath[:-len(e)] for e in _KNOWN_ENDINGS if filepath.endswith(e)), filepath)
    if weights_only and not filepath.endswith(WEIGHTS_ENDINGS):
        raise ValueError(
            f"ModelCheckpoint: expected a filepath ending in .weights.h5 (Keras's name) or .safetensors with "
            f"save_weights_only=True (the file holds the weights alone, as safetensors), got {filepath!r}. Fix: "
            f"filepath={stem + '.weights.h5'!r}, or save_weights_only=False to save whole models."
        )
    if not weights_only and not filepath.endswith(MODEL_ENDINGS):
        weights_name = filepath.endswith(WEIGHTS_ENDINGS)
        got = ("a weights file's name" if weights_name else
               "an HDF5 name (brainnet writes no HDF5)" if filepath.endswith((".h5", ".hdf5")) else "another ending")
        other = ", or save_weights_only=True to save the weights alone" if weights_name else ""
        raise ValueError(
            f"ModelCheckpoint: expected a filepath ending in .keras (Keras's name) or .brainnet for whole models "
            f"(model.save), got {filepath!r}, {got}. Fix: filepath={stem + '.keras'!r}{other}."
        )


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when the monitored quantity
    has not improved for ``patience`` epochs.

    Logs ``learning_rate`` (the rate the epoch used) in each epoch's logs.

    Args:
        monitor: the quantity (default ``"val_loss"``).
        factor: new rate = rate × factor, 0 < factor < 1 (default 0.1).
        patience: epochs without improvement before reducing (default 10).
        verbose: 1 prints each reduction.
        mode: ``"auto"``, ``"min"`` or ``"max"``.
        min_delta: smallest change that counts as an improvement (default 1e-4).
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below this (default 0).

    Raises:
        ValueError: ``factor`` not in (0, 1).
    """

    def __init__(
        self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
        mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ValueError(
                f"ReduceLROnPlateau: expected 0 < factor < 1 (the rate is multiplied by it), got "
                f"{factor!r}. Fix: factor=0.5 halves the learning rate."
            )
        self.monitor, self.factor, self.patience, self.verbose = monitor, float(factor), int(patience), verbose
        self.mode = direction(monitor, mode, "ReduceLROnPlateau")
        self.min_delta, self.cooldown, self.min_lr = abs(float(min_delta)), int(cooldown), float(min_lr)
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.cooldown_counter = 0, 0
        self.best = worst(self.mode)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        rate = _optimizer(self.model, "ReduceLROnPlateau").learning_rate
        logs["learning_rate"] = rate
        current = logs.get(self.monitor)
        if current is None:
            warn_missing("ReduceLROnPlateau", self.monitor, logs, self.params)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improved(current, self.best, self.mode, self.min_delta):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience and rate > self.min_lr:
                new = max(rate * self.factor, self.min_lr)
                _set_learning_rate(self.model, new, "ReduceLROnPlateau")
                if self.verbose and is_main_process():
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new:.6g}.")
                self.cooldown_counter, self.wait = self.cooldown, 0
