"""Weights on disk: safetensors files, written atomically, read without pickle.

``save_weights`` writes the model's ``state_dict`` (trainable weights and
non-trainable ones such as BatchNormalization's moving statistics) as a
safetensors file: a JSON header and raw tensor bytes, so loading a file can
never run code. The file is written to a temporary name in the same folder,
flushed to disk (fsync) and renamed over the target, so an interrupted save
leaves the previous file intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._atomic import atomic_write

FORMAT = "brainnet-weights"
VERSION = "1"


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Write all weights of ``model`` to ``path`` (safetensors), atomically."""
    if not getattr(model, "built", True):
        raise ValueError(
            f"save_weights: expected a built model, got '{model.name}' with no weights yet. "
            "Fix: train it or give input_shape= to its first layer before saving."
        )
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT, "version": VERSION}))


def load_weights(model: torch.nn.Module, path: str | os.PathLike) -> None:
    """Copy the weights stored in ``path`` into ``model`` (names and shapes must match).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a safetensors file, or the weights do not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_weights: expected a weights file, got no file at {path}.")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"load_weights: expected a safetensors weights file, got {path} that cannot be read "
            f"({err}). Fix: pass a file written by model.save_weights()."
        ) from None
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape)]
    if missing or unexpected or wrong:
        details = "; ".join(
            part for part in (
                f"missing {missing}" if missing else "",
                f"unexpected {unexpected}" if unexpected else "",
                ", ".join(f"{k}: model {tuple(own[k].shape)} vs file {tuple(tensors[k].shape)}" for k in wrong),
            ) if part
        )
        raise ValueError(
            f"load_weights: expected weights for this model's layers, got a file that does not "
            f"fit ({details}). Fix: build the same architecture (same layers and input_shape) "
            "that saved the file."
        )
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(tensors[key])
