"""Keep freed memory for the next training step (Linux with glibc, CPU only).

Each training step allocates and frees the same large tensors: the
activations, their gradients, the zero-filled gradient of a max-pooling. glibc
returns large freed blocks to the kernel at once (blocks over its mmap
threshold, and heap tops over its trim threshold), so the next step gets
fresh pages and pays a page fault, and a kernel zero-fill, for every 4 KiB of
them. ``fit()`` on a CPU therefore asks glibc (``mallopt``) to keep blocks
up to ``MMAP_THRESHOLD`` on its heap and to keep up to ``TRIM_THRESHOLD`` of
freed heap for reuse. ``tests/training/test_malloc.py`` measures the page
faults per step of the seed CNN at batch 64 in a new process: 229–2,672
without this (glibc's own thresholds adapt differently from run to run), 0–85
with it. glibc raises its own thresholds as a run goes on, so over hundreds
of steps the difference shrinks. This is what allocators such as jemalloc or tcmalloc, which
PyTorch's CPU tuning guides preload for the same reason, do by default.

The cost is memory held but unused between steps, at most the training's
own peak (BENCHMARKS.md records the peak resident memory with it).
It is done once per process. Left alone when ``BRAINNET_MALLOC=system``, when
the user has set glibc's own ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``, on other systems and C libraries, and on GPUs.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 256 * 2**20


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc once to keep freed blocks for reuse; True if it is in effect."""
    if os.environ.get("BRAINNET_MALLOC", "").lower() == "system":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False  # the user tuned glibc already
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
