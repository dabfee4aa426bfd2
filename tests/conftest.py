"""Shared test fixtures: where the real data sets are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path | None:
    """$BRAINNET_DATA_DIR, else ../shared/datasets beside the repository."""
    env = os.environ.get("BRAINNET_DATA_DIR")
    for candidate in (env, REPO.parent / "shared" / "datasets"):
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    root = shared_datasets_dir()
    if root is None:
        pytest.skip("real MNIST not found: set BRAINNET_DATA_DIR to a folder holding mnist/")
    return root / "mnist"


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    path = Path("/usr/share/datasets/fashion-mnist")
    if not path.is_dir():
        pytest.skip("real Fashion-MNIST not found: apt-get install dataset-fashion-mnist")
    return path
