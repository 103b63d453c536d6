"""Shared fixtures: the real data set (a slice), tiny generated MSL-layout folders, temp dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from analysis import paths
from tests.fakes import make_msl

REAL_DATA = Path(os.environ.get("DATA_DIR") or paths.ROOT.parent / "shared" / "msl-images")


@pytest.fixture(scope="session")
def real_data() -> Path:
    root = REAL_DATA.resolve()
    if not (root / paths.SYNSET_FILE).exists():
        pytest.fail(f"the real data set is needed at {root} (set DATA_DIR)")
    return root


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Tests never touch the repository's cache/ or results/."""
    monkeypatch.setenv("CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path_factory.getbasetemp() / "results"))


@pytest.fixture
def tiny_msl(tmp_path) -> Path:
    return make_msl(tmp_path / "msl-images")
