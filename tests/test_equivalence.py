"""Adopting runs whose changed code only builds their networks (runner.equivalence)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analysis import paths
from runner import adopt, equivalence
from runner.plan import load


@pytest.fixture(scope="module")
def published():
    """The published cnn and dense baseline runs (their committed records), nothing else."""
    plan = load(paths.PLAN_FILE, "standard")
    return dataclasses.replace(plan, runs={k: plan.runs[k] for k in ("cnn", "baseline")})


def edited_head(tmp_path: Path, file: str, old: str, new: str) -> Path:
    tree = tmp_path / "today"
    assert adopt.checkout("HEAD", tree)
    f = tree / file
    text = f.read_text()
    assert old in text, old
    f.write_text(text.replace(old, new, 1))
    return tree


@pytest.fixture
def committed_results(monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(paths.ROOT / "results"))


def test_a_builder_change_moves_the_runs_whose_networks_stay_the_same(
    tmp_path, published, real_data, committed_results
):
    """A smaller default dropout in build_cnn: the CNN's network differs (stays stale), the
    dense baseline's, which reaches build_cnn through build_model, does not (moves)."""
    today = edited_head(
        tmp_path, "analysis/models/networks.py", "dropout: float = 0.5,", "dropout: float = 0.4,"
    )
    verdicts = {
        v.run: v
        for v in equivalence.adopt_equivalent(published, real_data, "HEAD", today, write=False)
    }
    assert not verdicts["cnn"].adopted and "build differently" in verdicts["cnn"].reason
    assert verdicts["baseline"].adopted


def test_a_change_outside_the_builders_is_never_moved_by_building(
    tmp_path, published, real_data, committed_results
):
    today = edited_head(
        tmp_path, "analysis/training/train.py", "PLATEAU_GAIN = 0.01", "PLATEAU_GAIN = 0.02"
    )
    verdicts = equivalence.adopt_equivalent(published, real_data, "HEAD", today, write=False)
    assert verdicts and all(not v.adopted for v in verdicts)
    assert all("PLATEAU_GAIN" in v.reason for v in verdicts)


def test_changed_keys_follow_a_definition_by_its_own_name():
    then = {"analysis.a.f": "1", "analysis.a.g": "2"}
    now = {"analysis.b.f": "1", "analysis.a.g": "3", "analysis.a.h": "4"}
    assert equivalence.changed_keys(then, now) == {"analysis.a.g", "analysis.a.h"}


def test_a_record_of_the_one_print_moves_by_building_with_its_figures_kept_apart(
    tmp_path, published, real_data, monkeypatch
):
    """A run trained before the figures left the fingerprint (its record's print covers both),
    and stale since then by a builder change, moves once its training part is the base's and its
    network builds the same; the figures it was drawn with are kept as its figures print."""
    import json
    import shutil

    from runner import codeprint, layout, state

    results = tmp_path / "results"
    folder = results / "standard" / "baseline"
    folder.mkdir(parents=True)
    for f in ("metrics.json", "run.json"):
        shutil.copy(paths.ROOT / "results" / "standard" / "baseline" / f, folder / f)
    monkeypatch.setenv("RESULTS_DIR", str(results))
    run = published.runs["baseline"]
    record = json.loads((folder / "run.json").read_text())
    one = {**record["code_manifest"], **record.pop("figures_manifest")}
    record.pop("figures_code")
    data = state.data_hash(real_data)
    code = codeprint.value_of(one)
    record.update(code=code, code_manifest=one, fingerprint=run.fingerprint(code, data))
    (folder / layout.RUN_RECORD).write_text(json.dumps(record))
    today = edited_head(
        tmp_path, "analysis/models/networks.py", "dropout: float = 0.5,", "dropout: float = 0.4,"
    )
    only = dataclasses.replace(published, runs={"baseline": run})
    (verdict,) = equivalence.adopt_equivalent(only, real_data, "HEAD", today)
    assert verdict.adopted, verdict.reason
    moved = json.loads((folder / "run.json").read_text())
    kept = {k: v for k, v in one.items() if k not in moved["code_manifest"]}
    assert kept and moved["figures_manifest"] == kept
    assert moved["figures_code"] == codeprint.value_of(kept)
