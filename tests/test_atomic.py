"""Atomic writes keep the old file on failure and give normal permissions."""

from __future__ import annotations

import os

import pytest

from brainnet._atomic import atomic_write


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "model.weights.safetensors"
    target.write_bytes(b"previous")

    def fail(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_written_file_has_the_mode_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f.txt", lambda tmp: open(tmp, "w").write("x"))
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "f.txt").read_text() == "x"
