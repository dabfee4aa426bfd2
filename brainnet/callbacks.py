"""Callbacks, by Keras name (the loop that calls them is brainnet.training)."""

from .training.callbacks import (
    BackupAndRestore,
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgressBar,
    ReduceLROnPlateau,
    TensorBoard,
    TerminateOnNaN,
)

__all__ = [
    "Callback", "History", "ProgressBar", "LambdaCallback",
    "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LearningRateScheduler",
    "CSVLogger", "TensorBoard", "TerminateOnNaN", "BackupAndRestore",
]
