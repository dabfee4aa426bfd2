"""Shared test fixtures: where the real data sets are."""

from __future__ import annotations

import os
import random
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# fit's thread count stays as torch's in the tests (and the programs they start), so
# that a test's result does not depend on how busy the machine running it is;
# tests/training/test_cpu_threads.py turns following the load on where it tests it.
os.environ.setdefault("BRAINNET_ADAPTIVE_THREADS", "0")


@pytest.fixture(autouse=True)
def _seed_global_generators(request):
    """Every test starts Python's, NumPy's and torch's global generators from a seed of
    its own (a checksum of its id), so a test that draws without seeding draws the same
    numbers on every machine and in every order: a run that fails can be run again."""
    seed = zlib.crc32(request.node.nodeid.encode())
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
