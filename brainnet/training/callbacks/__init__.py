"""Callbacks: objects that watch the training loop, with Keras's names,
arguments and hook order (``base`` describes the order)."""

from .backup import BackupAndRestore
from .base import (BatchLogs, Callback, History, LambdaCallback, ProgressBar, format_logs, overrides_batch_hooks,
                   predict_batches, test_batch_end)
from .learning_rate_scheduler import LearningRateScheduler
from .loggers import CSVLogger, TensorBoard, TerminateOnNaN
from .monitors import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

__all__ = [
    "Callback", "History", "ProgressBar", "LambdaCallback",
    "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
    "CSVLogger", "TensorBoard", "TerminateOnNaN", "BackupAndRestore",
    "BatchLogs", "format_logs", "overrides_batch_hooks", "predict_batches", "test_batch_end",
]
