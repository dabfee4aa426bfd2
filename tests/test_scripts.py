"""scripts/setup.sh in a checkout whose .venv is a link to another checkout's
environment (clones sharing one): it must leave that environment alone, since
`pip install -e .` there would point the other checkout's editable brainnet
at this clone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _checkout(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of scripts/ in a fresh folder whose .venv links to another folder,
    whose python fails loudly if anything runs it (a pip install would)."""
    clone, shared = tmp_path / "clone", tmp_path / "shared-venv"
    shutil.copytree(REPO / "scripts", clone / "scripts")
    (shared / "bin").mkdir(parents=True)
    python = shared / "bin" / "python"
    python.write_text("#!/bin/sh\necho 'the shared python was run' >&2\nexit 3\n")
    python.chmod(0o755)
    (clone / ".venv").symlink_to(shared)
    return clone, shared


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def test_setup_leaves_a_linked_environment_alone(tmp_path):
    clone, shared = _checkout(tmp_path)
    (shared / "brainnet-env.sh").write_text("export BRAINNET_DATA_DIR=/somewhere\n")
    before = _snapshot(shared)
    result = subprocess.run(["bash", str(clone / "scripts" / "setup.sh")], capture_output=True, text=True,
                            env={**os.environ, "PYTHON": str(shared / "bin" / "python")}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "another checkout's environment; left as it is" in result.stderr
    assert "the shared python was run" not in result.stderr
    assert _snapshot(shared) == before


def test_setup_refuses_a_linked_environment_that_was_never_set_up(tmp_path):
    clone, shared = _checkout(tmp_path)
    result = subprocess.run(["bash", str(clone / "scripts" / "setup.sh")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "expected the linked environment" in result.stderr and "got no brainnet-env.sh" in result.stderr
    assert "Fix: run scripts/setup.sh in the checkout it belongs to." in result.stderr
    assert not (shared / "brainnet-env.sh").exists()
