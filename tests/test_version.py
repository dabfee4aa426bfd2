"""brainnet.version() and brainnet.__version__: one version, written once, read by the build."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

import brainnet

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_version_is_dunder_version_and_a_release_number():
    assert brainnet.version() == brainnet.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.dev\d+)?", brainnet.version())
    assert "version" in brainnet.__all__ and "version" in dir(brainnet)


def test_the_build_reads_the_version_from_the_package():
    from setuptools.config.pyprojecttoml import read_configuration

    config = read_configuration(PYPROJECT, expand=True, ignore_option_errors=False)
    assert "version" in config["project"]["dynamic"]
    assert config["project"]["version"] == brainnet.__version__  # what a wheel built now would be called


def test_installed_metadata_agrees():
    try:
        installed = importlib.metadata.version("brainnet")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("brainnet is not installed here (run from a source tree)")
    assert installed == brainnet.__version__, "reinstall: pip install -e ."
