"""Data-parallel training with ``torch.distributed``, started by ``torchrun``.

The same program and the same ``model.fit()`` call run in one process or in
many: ``torchrun --nproc_per_node 2 train.py``. When ``WORLD_SIZE`` > 1,
the first ``fit`` (or ``evaluate``, or ``barrier()``) joins the process group
that torchrun describes, unless the program already did: gloo when the model
is on the CPU, nccl on CUDA, where each process uses ``cuda:LOCAL_RANK``.

What holds, with W processes:

* ``batch_size`` is the global batch, as in Keras's distribution API: each
  process computes batch_size / W samples per step (an error if W does not
  divide it). Every process draws the epoch's permutation (rank 0's is
  broadcast, so it does not matter how they were seeded) and takes its
  contiguous part of each global batch; a last, smaller batch is split as
  evenly as it goes (a process may get none).
* Each process's loss is the mean over its part; before the update its
  gradient is weighted by its share of the global batch (n_r / n) and the
  gradients are summed over processes in one all-reduce: the gradient of
  the mean loss over the global batch, the same update as one process
  makes, up to the order of float32 sums.
* At the start of ``fit`` the weights are broadcast from rank 0, so every
  process starts from the same model. At the end of each epoch the sums
  behind the loss and the metrics are added over processes; validation and
  ``evaluate`` give each process a contiguous part of the data and add the
  sums the same way. Every process reports the same logs, so callbacks
  that act on them (EarlyStopping, ReduceLROnPlateau) decide alike. (The
  running values of batch hooks and of the progress bar within an epoch
  are each process's own part.)
* Data may also come as a DataLoader whose sampler is a
  ``DistributedSampler`` (PyTorch's recipe; ``training/streaming.py``):
  each process reads its part, ``batch_size`` of the loader is the
  per-process batch, and the loaders must give every process as many
  batches of the same size (checked at the start of ``fit``), so each
  gradient weighs 1 / W.
* Only rank 0 prints (progress bar, ``evaluate``'s line, callbacks'
  messages) and writes (``model.save``, ``save_weights``,
  ``ModelCheckpoint``, ``CSVLogger``, ``TensorBoard``, ``BackupAndRestore``,
  ``History.plot``, the recipes' outputs). Your own ``print`` and files run
  in every process: guard them with ``is_main_process()``.

Why an all-reduce of the gradients and not a ``DistributedDataParallel``
wrapper: the loop stays one plain step on the model itself (its compiled
forward, fused loss and optimizer untouched), and the exact weighting of
uneven last batches, empty parts included, is one multiplication. The cost:
the all-reduce starts after the backward pass instead of overlapping it in
buckets, as DDP does; for the models here (under a million weights) it is
one collective of a few megabytes per step (0.9 MB for the seed CNN). With
``jit_compile=True`` on CUDA the step is not captured as a CUDA graph (the
all-reduce sits between backward and update); the forward pass is still
compiled.

BatchNormalization normalizes each process's part with that part's own
statistics (plain DDP behaviour, no SyncBatchNorm), so a model with it
trains like one process with batches of batch_size / W, not exactly like
the single-process run. Each process updates its moving mean and variance
from its own parts; at the end of every epoch (before validation) they are
averaged over the processes, so every process, and the saved model, holds
the same statistics. (Averaged variances of the parts miss the spread
between the parts' means: slightly lower than a global batch's variance.)

Dropout and augmentation layers draw from each process's own generator:
seeded alike, the processes draw alike for their different samples.

Every process must make the same calls in the same order: ``fit``,
``evaluate`` and the callbacks given to them (pass the same callbacks
everywhere; they know to write only on rank 0). ``predict`` runs in each
process alone on all the data it is given (on a loader: what that
process's sampler gives it). A stop asked in the middle of an
epoch (``model.stop_training = True`` in a batch hook, or Ctrl-C, which
torchrun passes on to every process) is agreed while the next batch runs
and takes effect after it, on every process alike.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

import torch
import torch.distributed as dist

_control_groups: dict[int, Any] = {}  # id of the default group -> gloo group for the flags


# ------------------------------------------------------------------ who am I
def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def world_size() -> int:
    """Number of processes training together (1 without torchrun)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    """This process's index among them, 0 to world_size() − 1."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return _env_int("RANK", 0)


def local_rank() -> int:
    """This process's index on its machine (torchrun's ``LOCAL_RANK``)."""
    return _env_int("LOCAL_RANK", 0)


def is_main_process() -> bool:
    """True in rank 0, the process that prints and writes files (and
    always without torchrun).

    Example:
        >>> from brainnet.distributed import is_main_process
        >>> if is_main_process():
        ...     print("written once")
        written once
    """
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in one
    process). Under torchrun it joins the process group first if no fit
    has yet: nccl when CUDA is available, else gloo."""
    if world_size() == 1:
        return
    if not dist.is_initialized():
        init_process_group(local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu")))
    dist.barrier()


def local_device(device: torch.device) -> torch.device:
    """``cuda`` without an index becomes ``cuda:LOCAL_RANK`` under torchrun,
    so that each process of a machine has its own GPU."""
    if device.type == "cuda" and device.index is None and world_size() > 1:
        return torch.device("cuda", local_rank())
    return device


def init_process_group(device: torch.device) -> None:
    """Join the process group torchrun describes (gloo for the CPU, nccl for
    CUDA), and leave it when the program ends.

    Raises:
        ValueError: ``WORLD_SIZE`` is set but not the other variables
            torchrun sets.
    """
    missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if not os.environ.get(v)]
    if missing:
        raise ValueError(
            f"distributed: WORLD_SIZE={os.environ.get('WORLD_SIZE')} asks for several processes, "
            f"expected torchrun's variables too, got none for {', '.join(missing)}. "
            "Fix: start the program with torchrun --nproc_per_node 2 program.py (or unset WORLD_SIZE)."
        )
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_leave)


def _leave() -> None:
    _control_groups.clear()
    if dist.is_initialized():
        dist.destroy_process_group()


def _control_group() -> Any:
    """The group for the stop flags: the default one (None) under gloo, a
    gloo group beside nccl (so agreeing on a flag never waits for the GPU)."""
    if dist.get_backend() == "gloo":
        return None
    key = id(dist.group.WORLD)
    if key not in _control_groups:
        _control_groups[key] = dist.new_group(backend="gloo")
    return _control_groups[key]


def split(total: int, parts: int, index: int) -> tuple[int, int]:
    """``[start, stop)`` of part ``index`` when ``total`` items are cut into
    ``parts`` contiguous pieces as evenly as they go (the first ones get
    one more)."""
    base, extra = divmod(total, parts)
    start = index * base + min(index, extra)
    return start, start + base + (1 if index < extra else 0)


def check_batch_size(batch_size: int, processes: int) -> None:
    """Raise unless ``processes`` divides the global ``batch_size``."""
    if batch_size % processes:
        low = max(processes, batch_size - batch_size % processes)
        raise ValueError(
            f"fit: batch_size is the global batch, split over {processes} processes, so expected a "
            f"multiple of {processes}, got batch_size={batch_size}. Fix: batch_size={low} or "
            f"{low + processes} ({low // processes} or {low // processes + 1} per process)."
        )


# The trainer's helper lives in its own module and calls these functions
# through this module (so a test that patches ``distributed.world_size``
# reaches it too); imported last, since it imports this module.
from ._data_parallel import DataParallel  # noqa: E402

__all__ = ["world_size", "rank", "local_rank", "is_main_process", "barrier", "local_device",
           "init_process_group", "split", "check_batch_size", "DataParallel"]
