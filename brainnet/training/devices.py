"""Where fit, evaluate and predict run: the device, and cuDNN's autotuning on it.

``resolve_device`` turns what ``compile(device=...)`` was given into a
``torch.device`` (CUDA when there is one, unless ``$BRAINNET_DEVICE`` says
otherwise; under torchrun each process's own GPU). ``cudnn_autotune`` lets
cuDNN time its convolution algorithms while a loop runs on CUDA.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from .. import distributed


def default_device() -> torch.device:
    """CUDA when available, else CPU; ``$BRAINNET_DEVICE`` overrides."""
    name = os.environ.get("BRAINNET_DEVICE")
    if name:
        return resolve_device(name)
    return distributed.local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``/"auto"/"cpu"/"cuda"/"cuda:1"/"mps" into a usable device."""
    if device is None or device == "auto":
        return default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}. "
            "Fix: device='cpu'."
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: expected a device this machine has, got {device!r} but CUDA is not "
            "available here. Fix: device='cpu' (or 'auto')."
        )
    return distributed.local_device(dev)  # under torchrun "cuda" is cuda:LOCAL_RANK


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Any:
    """On CUDA: let cuDNN time its convolution algorithms for each new input
    shape and keep the fastest (``torch.backends.cudnn.benchmark``, as
    TensorFlow autotunes by default); the setting is put back afterwards.
    Left as it is off CUDA and when ``torch.use_deterministic_algorithms(True)``
    or ``cudnn.deterministic`` asks for reproducible kernels (autotuning may
    pick different algorithms from run to run)."""
    cudnn = torch.backends.cudnn
    if device.type != "cuda" or torch.are_deterministic_algorithms_enabled() or cudnn.deterministic:
        yield
        return
    before = cudnn.benchmark
    cudnn.benchmark = True
    try:
        yield
    finally:
        cudnn.benchmark = before


def move_to(model: torch.nn.Module, device: torch.device) -> None:
    """``model.to(device)``, which evaluate and predict run at every call, skipped
    when every weight and buffer is on the CPU already and ``device`` is the CPU
    (``to`` walks every module: about 1 ms for a U-Net of 177 modules). Other
    devices always take ``to``, as "cuda" and "cuda:0" name one device."""
    if device.type == "cpu" and all(t.device.type == "cpu" for t in model.parameters()) and all(
            t.device.type == "cpu" for t in model.buffers()):
        return
    model.to(device)
