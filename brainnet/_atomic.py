"""Atomic file writes: a crash or a full disk never leaves a half-written file.

``atomic_write(path, write)`` lets ``write`` fill a temporary file in the
target's folder, fsyncs it, gives it the mode a plain ``open()`` would
(0666 minus the umask; ``mkstemp`` alone would leave it owner-only), and
renames it over ``path``. On any error the temporary file is removed and the
previous ``path``, if any, is untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)``, fsync the file, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
