"""Shared fixtures: the real data set (a slice), tiny generated MSL-layout folders, temp dirs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from analysis import paths
from runner import execute
from runner.plan import load
from runner.report import render, site
from tests.fakes import make_msl

# The smoke profile's runs the tests execute: every code path of the plan (EDA, both model kinds,
# a kernel experiment, a shared computation, the permutation controls, a recipe variant) without
# the runs that only change parameters (tests/test_study.py covers their findings).
SMOKE_RUNS = [
    "eda",
    "baseline",
    "cnn",
    "kernel-3x3",
    "kernel-5x5",
    "baseline-permuted",
    "cnn-permuted",
    "recipe-unweighted",
]
# tests.aws: the AWS fixtures (moto server, loopback only); tests.xdist_groups: which tests share
# a pytest-xdist worker under `make test`.
pytest_plugins = ("tests.aws", "tests.xdist_groups")

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


@pytest.fixture(scope="session")
def smoke(real_data, tmp_path_factory):
    """Run the whole smoke profile once per session, into a temp results folder."""
    results = tmp_path_factory.getbasetemp() / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("RESULTS_DIR", str(results))
    mp.setenv("CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    plan = load(profile="smoke")
    outcome = execute.run_plan(plan, SMOKE_RUNS, real_data)
    mp.undo()
    assert outcome.failed == [], outcome.messages
    return plan, results / "smoke", outcome


@pytest.fixture
def use_results(smoke, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(smoke[1].parent))
    return smoke


@pytest.fixture(scope="session")
def smoke_site(smoke, tmp_path_factory) -> Path:
    """The smoke results rendered into a temp report folder and built with the real mkdocs.yml."""
    plan, results, _ = smoke
    tmp = tmp_path_factory.mktemp("smoke-site")
    report = tmp / "report"
    for page in render.HAND_WRITTEN:
        (report / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.REPORT_DIR / page, report / page)
    render.render(plan, report, results=results)
    return site.build(report, tmp / "site")


@pytest.fixture(scope="session")
def committed_site(tmp_path_factory) -> Path:
    """The committed report built once per session (`mkdocs build --strict`), for every test
    that reads or browses the published site."""
    from tests import site_text

    return site_text.build_committed(tmp_path_factory.mktemp("committed"))


@pytest.fixture(scope="session")
def fresh_clone(tmp_path_factory) -> Path:
    """A reader's `git clone` of the committed repository: committed pages, no run executed,
    the venv linked in (tests/fresh_clone.py)."""
    from tests import fresh_clone

    return fresh_clone.make_clone(tmp_path_factory.mktemp("reader") / "msl-study")
