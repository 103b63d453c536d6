"""Moving runs to the code print without retraining (runner.adopt), and `status --why`."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from analysis import paths
from runner import adopt, codeprint, layout, state
from runner.plan import load


@pytest.fixture(scope="module")
def plan():
    return load(profile="smoke")


def inputs_under(root: Path, run, data: str = "data") -> state.Inputs:
    notebook = root / run.notebook_path.relative_to(paths.ROOT)
    code, figures = state.prints(notebook, codeprint.Library(root))
    return state.Inputs(code, data, run.fingerprint(code.value, data), figures)


def committed_tree(tmp_path: Path) -> tuple[Path, str]:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=paths.ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    tree = tmp_path / "head"
    assert adopt.checkout(head, tree)
    return tree, head


def legacy_run_folder(tmp_path: Path, run, fingerprint: str, commit: str) -> Path:
    folder = tmp_path / "results" / run.name
    folder.mkdir(parents=True)
    (folder / layout.RUN_RECORD).write_text(json.dumps({"fingerprint": fingerprint}))
    prov = {"provenance": {"git_commit": commit + "+dirty"}}
    (folder / "metrics.json").write_text(json.dumps(prov))
    return folder


def edited_copy(tree: Path, into: Path, old: str, new: str) -> Path:
    shutil.copytree(tree, into)
    train = into / "analysis" / "training" / "train.py"
    text = train.read_text()
    assert old in text
    train.write_text(text.replace(old, new, 1))
    return into


def test_a_run_of_todays_files_is_adopted(tmp_path, plan):
    run = plan.runs["cnn"]
    tree, head = committed_tree(tmp_path)
    fp = adopt.legacy_fingerprint(run, tree, "data")
    folder = legacy_run_folder(tmp_path, run, fp, "0" * 12)  # its commit is not even known
    verdict = adopt._judge(run, folder, {"fingerprint": fp}, inputs_under(tree, run), tree)
    assert verdict.adopted and "today's files" in verdict.reason


def test_a_run_of_an_older_commit_is_adopted_when_its_code_computes_the_same(tmp_path, plan):
    """Today's train.py has one more comment: the old rule would retrain, the print does not."""
    run = plan.runs["cnn"]
    tree, head = committed_tree(tmp_path)
    fp = adopt.legacy_fingerprint(run, tree, "data")
    folder = legacy_run_folder(tmp_path, run, fp, head[:12])
    today = edited_copy(tree, tmp_path / "today", "PLATEAU_GAIN =", "# why\nPLATEAU_GAIN =")
    assert adopt.legacy_fingerprint(run, today, "data") != fp
    verdict = adopt._judge(run, folder, {"fingerprint": fp}, inputs_under(today, run), today)
    assert verdict.adopted and head[:12] in verdict.reason


def test_a_run_whose_code_changed_stays_stale_and_says_what_changed(tmp_path, plan):
    run = plan.runs["cnn"]
    tree, head = committed_tree(tmp_path)
    fp = adopt.legacy_fingerprint(run, tree, "data")
    folder = legacy_run_folder(tmp_path, run, fp, head[:12])
    today = edited_copy(tree, tmp_path / "today", "PLATEAU_GAIN = ", "PLATEAU_GAIN = 1 + ")
    verdict = adopt._judge(run, folder, {"fingerprint": fp}, inputs_under(today, run), today)
    assert not verdict.adopted
    assert "analysis.training.train.PLATEAU_GAIN changed" in verdict.reason


def test_other_data_or_parameters_keep_a_run_stale(tmp_path, plan):
    run = plan.runs["cnn"]
    tree, head = committed_tree(tmp_path)
    fp = adopt.legacy_fingerprint(run, tree, "data")
    folder = legacy_run_folder(tmp_path, run, fp, head[:12])
    for other, data in [
        (run, "other data"),
        (run.with_params({**run.params, "epochs": 2}), "data"),
    ]:
        verdict = adopt._judge(other, folder, {"fingerprint": fp}, inputs_under(tree, other, data))
        assert not verdict.adopted and "matches neither" in verdict.reason


def test_a_record_without_a_commit_stays_stale(tmp_path, plan):
    run = plan.runs["cnn"]
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    now = inputs_under(paths.ROOT, run)
    verdict = adopt._judge(run, folder, {"fingerprint": "x"}, now)
    assert not verdict.adopted and "no git commit" in verdict.reason


def record(folder: Path, run, now: state.Inputs, **extra) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text("{}")
    body = {
        "run": run.name,
        "fingerprint": now.fingerprint,
        "notebook": run.notebook,
        "params": run.params,
        "code": now.code.value,
        "code_manifest": now.code.manifest,
        "figures_code": now.figures.value,
        "figures_manifest": now.figures.manifest,
        **extra,
    }
    (folder / layout.RUN_RECORD).write_text(json.dumps(body))


def test_why_names_each_cause_on_its_own_line(tmp_path, plan):
    run = plan.runs["cnn"]
    now = inputs_under(paths.ROOT, run)
    folder = tmp_path / "cnn"
    record(folder, run, now)
    assert state.why(run, folder, now) == []
    # a parameter
    changed = run.with_params({**run.params, "epochs": 3})
    later = state.Inputs(now.code, now.data, changed.fingerprint(now.code.value, now.data))
    assert state.why(changed, folder, later) == [f"parameter epochs: {run.params['epochs']!r} -> 3"]
    # a definition
    manifest = dict(now.code.manifest)
    manifest["analysis.training.train.fit"] = "0" * 16
    code = codeprint.Print(manifest, "other")
    later = state.Inputs(code, now.data, run.fingerprint("other", now.data))
    assert state.why(run, folder, later) == ["code: analysis.training.train.fit changed"]
    # the data
    later = state.Inputs(now.code, "new data", run.fingerprint(now.code.value, "new data"))
    assert state.why(run, folder, later) == ["data: the images or split lists it reads changed"]


def test_why_for_a_run_never_computed_or_under_the_old_rule(tmp_path, plan):
    run = plan.runs["cnn"]
    now = inputs_under(paths.ROOT, run)
    assert "not computed" in state.why(run, tmp_path / "nothing", now)[0]
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    (folder / layout.RUN_RECORD).write_text(json.dumps({"fingerprint": "x"}))
    assert "runner adopt" in state.why(run, folder, now)[0]


def test_the_prints_kept_in_a_process_follow_the_code_on_disk(tmp_path, monkeypatch, tiny_msl):
    """state.inputs keeps each notebook's prints by the text of the notebook and the library:
    a comment reuses them, a changed literal of a reached function does not."""
    shipped = load(profile="smoke").runs["cnn"]
    notebook = tmp_path / shipped.notebook_path.relative_to(paths.ROOT)
    shutil.copytree(paths.ROOT / "analysis", tmp_path / "analysis")
    notebook.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(shipped.notebook_path, notebook)
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    run = dataclasses.replace(shipped, notebook_path=notebook)
    first = state.inputs([run], tiny_msl)["cnn"].fingerprint
    train = tmp_path / "analysis" / "training" / "train.py"
    train.write_text(train.read_text() + "\n# a comment\n")
    assert state.inputs([run], tiny_msl)["cnn"].fingerprint == first
    text = train.read_text()
    assert "PLATEAU_GAIN = " in text
    train.write_text(re.sub(r"PLATEAU_GAIN = ([0-9.e-]+)", r"PLATEAU_GAIN = \g<1>1", text, count=1))
    assert state.inputs([run], tiny_msl)["cnn"].fingerprint != first
