"""The learned figures survive a clone without the locally connected network's file."""

from __future__ import annotations

import json

from analysis.figures import learned
from runner.report import compare


def summary_with(profile_dir, learned_block):
    (profile_dir / compare.SUMMARY_DIR).mkdir(parents=True)
    (profile_dir / compare.SUMMARY_DIR / "summary.json").write_text(
        json.dumps({"learned": learned_block})
    )


def setup(tmp_path, monkeypatch):
    profile_dir = tmp_path / "standard"
    for name in ("cnn", learned.LOCAL_RUN):
        (profile_dir / name).mkdir(parents=True)
        (profile_dir / name / "metrics.json").write_text(json.dumps({"run": name}))
    drawn = []
    monkeypatch.setattr(learned, "study", lambda *a, **k: drawn.append(a) or {"local": None})
    return profile_dir, drawn


def test_figures_drawn_from_the_same_inputs_are_kept(tmp_path, monkeypatch):
    profile_dir, drawn = setup(tmp_path, monkeypatch)
    key = compare.learned_inputs(profile_dir, "cnn")
    summary_with(profile_dir, {"local": {"run": learned.LOCAL_RUN}, "inputs": key})
    out = compare.learned_figures(profile_dir, "cnn", tmp_path / "figs", None, None)
    assert out["local"] == {"run": learned.LOCAL_RUN} and not drawn


def test_a_changed_record_or_no_record_of_inputs_draws_them_again(tmp_path, monkeypatch):
    profile_dir, drawn = setup(tmp_path, monkeypatch)
    key = compare.learned_inputs(profile_dir, "cnn")
    summary_with(profile_dir, {"local": {"run": learned.LOCAL_RUN}, "inputs": key})
    (profile_dir / "cnn" / "metrics.json").write_text(json.dumps({"run": "cnn", "new": 1}))
    out = compare.learned_figures(profile_dir, "cnn", tmp_path / "figs", None, None)
    assert len(drawn) == 1 and out["inputs"] == compare.learned_inputs(profile_dir, "cnn")
    (profile_dir / compare.SUMMARY_DIR / "summary.json").write_text(json.dumps({"learned": {}}))
    compare.learned_figures(profile_dir, "cnn", tmp_path / "figs", None, None)
    assert len(drawn) == 2


def test_a_saved_network_replaces_figures_drawn_without_it(tmp_path, monkeypatch):
    profile_dir, drawn = setup(tmp_path, monkeypatch)
    key = compare.learned_inputs(profile_dir, "cnn")
    summary_with(profile_dir, {"local": None, "inputs": key})
    (profile_dir / learned.LOCAL_RUN / learned.MODEL_FILE).write_bytes(b"")
    compare.learned_figures(profile_dir, "cnn", tmp_path / "figs", None, None)
    assert len(drawn) == 1


def test_a_summary_drawn_without_the_local_network_is_pending_once_it_is_saved(tmp_path):
    profile_dir = tmp_path / "standard"
    (profile_dir / learned.LOCAL_RUN).mkdir(parents=True)
    without = {"local": None, "inputs": "k"}
    assert not compare.learned_pending(profile_dir, None, without)  # nothing saved
    (profile_dir / learned.LOCAL_RUN / learned.MODEL_FILE).write_bytes(b"")
    assert compare.learned_pending(profile_dir, None, without)
    assert compare.learned_pending(profile_dir, [learned.LOCAL_RUN], without)
    assert not compare.learned_pending(profile_dir, ["cnn"], without)  # its run is not current
    assert not compare.learned_pending(profile_dir, None, {"local": {"run": "x"}})  # drawn with it
    assert not compare.learned_pending(profile_dir, None, None)  # no figures at all yet
