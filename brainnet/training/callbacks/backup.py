"""BackupAndRestore: continue a killed training run exactly where it was."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ...distributed import is_main_process
from .base import Callback


class BackupAndRestore(Callback):
    """Back up the training state regularly; a new ``fit`` with this callback
    continues from the last backup.

    A backup holds the weights, the optimizer's state, the epoch and batch
    reached, the states of the random generators (PyTorch, NumPy, Python),
    the shuffling order and running metrics of an epoch in progress, and the
    History so far (see ``brainnet.training.state``). So a run killed at
    any moment and restarted with the same program ends with exactly the
    weights, bit for bit on CPU, and the History of a run never interrupted.

    Restarting needs the same program: same model, compile settings, data,
    ``batch_size`` and ``shuffle`` (the last three are checked). Other
    callbacks start afresh (EarlyStopping's patience count,
    ReduceLROnPlateau's wait), as in Keras.

    Under torchrun every process reads the backup (so ``backup_dir`` must
    be on a file system all machines share; ``fit`` refuses processes that
    would start at different places) and only rank 0 writes it.

    Each backup replaces the previous one atomically, so a kill during a
    backup leaves the previous one usable. The backup is deleted when
    ``fit`` ends normally (also by EarlyStopping), and kept when it ends
    with an error, a kill or Ctrl-C.

    Args:
        backup_dir: folder for the backup file ``training_backup.brainnet``.
        save_freq: ``"epoch"`` (at the end of every epoch) or a number of
            batches between backups.
        delete_checkpoint: delete the backup when training ends normally.

    Raises:
        ValueError: a bad ``save_freq``; on restore, a backup made for
            another model or another fit (other data, batch size, shuffle).

    Example:
        >>> backup = BackupAndRestore(backup_dir="/tmp/backup")  # model.fit(..., callbacks=[backup])
    """

    FILENAME = "training_backup.brainnet"

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = "epoch", delete_checkpoint: bool = True) -> None:
        super().__init__()
        if not os.fspath(backup_dir):
            raise ValueError("BackupAndRestore: expected a backup_dir, got an empty path. Fix: backup_dir='backup'.")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(
                f"BackupAndRestore: expected save_freq 'epoch' or a number of batches ≥ 1, got "
                f"{save_freq!r}. Fix: save_freq='epoch' or save_freq=100."
            )
        self.backup_dir = Path(backup_dir)
        self.path = self.backup_dir / self.FILENAME
        self.save_freq, self.delete_checkpoint = save_freq, bool(delete_checkpoint)
        self.restored: tuple[int, int] | None = None  # (epoch, batch) the last fit went on from
        self._epoch, self._batches = 0, 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._batches, self.restored = 0, None
        if self.path.exists():
            self._restore()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save(self._epoch, batch + 1, None)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0, (epoch, dict(logs or {})))

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.delete_checkpoint and not self.model.trainer.interrupted and is_main_process():
            self.path.unlink(missing_ok=True)

    # --------------------------------------------------------------- files
    def _save(self, epoch: int, step: int, finished: tuple[int, dict] | None) -> None:
        """Back up the state from which training goes on at batch ``step``
        of ``epoch``; ``finished`` is the epoch that just ended and its logs,
        which History records only after this callback."""
        from ...models import saving
        from .. import state

        trainer = self.model.trainer
        if step > 0:  # under torchrun: the epoch's running sums so far, gathered on rank 0
            trainer.parallel.sum_metrics(trainer, onto_rank0=True)
        if not is_main_process():  # under torchrun every process reads the backup, rank 0 writes it
            return
        tensors, info = state.training_state(trainer, epoch, step)
        history = info["history"]
        if finished is not None and history is not None and finished[0] not in history["epoch"]:
            history["epoch"].append(finished[0])
            for key, value in finished[1].items():
                history["history"].setdefault(key, []).append(value)
        opt_tensors, opt_info = state.optimizer_state(trainer.optimizer)
        entries = {
            "model.weights.safetensors": saving.tensor_bytes(self.model.state_dict()),
            "optimizer.json": _json(opt_info),
            "optimizer.safetensors": saving.tensor_bytes(opt_tensors),
            "training_state.json": _json(info),
            "training_state.safetensors": saving.tensor_bytes(tensors),
        }
        saving.write_archive(self.path, "backup", entries, "BackupAndRestore")

    def _restore(self) -> None:
        from ...models import saving
        from .. import state

        trainer, what = self.model.trainer, "BackupAndRestore"
        source = f"{what}: {self.path}"
        entries = saving.read_archive(self.path, "backup", what)
        for name in ("optimizer.json", "optimizer.safetensors", "training_state.json", "training_state.safetensors"):
            if name not in entries:
                raise ValueError(f"{source} is incomplete: it lacks {name}. Fix: delete it to start over.")
        saving.assign_weights(self.model, saving.read_tensors(entries, "model.weights.safetensors", self.path, what), source)
        state.load_optimizer_state(
            trainer.optimizer, saving.read_tensors(entries, "optimizer.safetensors", self.path, what),
            saving.read_json(entries, "optimizer.json", self.path, what), source,
        )
        info = saving.read_json(entries, "training_state.json", self.path, what)
        tensors = saving.read_tensors(entries, "training_state.safetensors", self.path, what)
        state.restore_training_state(trainer, tensors, info, source)
        self.restored = (int(info["epoch"]), int(info["step"]))


def _json(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")
