"""The cross-run summary (`_study/summary.json`) is recomputed when the contents of any run's
metrics.json change (rewritten in place), or a run stops or starts counting (its run.json says
other parameters or code), not only when a run folder appears or disappears; a run.json's own
bookkeeping (its time, an adoption of a new fingerprint) changes nothing the summary reads, and
a summary that matches its records is read, not recomputed."""

from __future__ import annotations

import json
import shutil

from analysis import paths
from runner import layout
from runner.plan import load
from runner.report import compare


def records_copy(tmp_path):
    """The published profile's run records (metrics.json, run.json), nothing else."""
    info = json.loads((paths.REPORT_DIR / layout.PUBLISHED).read_text())
    source = paths.ROOT / info["results"]
    dest = tmp_path / source.name
    for f in [*source.glob("*/metrics.json"), *source.glob("*/run.json")]:
        (dest / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest / f.parent.name / f.name)
    return load(profile=info["profile"]), dest


def test_the_summary_follows_the_contents_of_every_record(tmp_path, monkeypatch):
    plan, results = records_copy(tmp_path)
    summarized = []

    def summarize(profile_dir, reference, baseline, groups, data_dir=None, only=None):
        # The bookkeeping summarize() writes, without drawing the study's figures.
        summarized.append(sorted(only or []))
        summary = {
            "inputs": compare.inputs_hash(profile_dir, reference, baseline, groups, only),
            "records": compare.records_hash(profile_dir, only),
        }
        out = profile_dir / compare.SUMMARY_DIR / "summary.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary))
        return summary

    monkeypatch.setattr(compare, "summarize", summarize)
    compare.refresh(results, plan)
    compare.refresh(results, plan)
    assert len(summarized) == 1  # current: read, not recomputed
    assert summarized[0], "the published runs count for the summary"

    run = summarized[0][0]
    metrics = results / run / "metrics.json"
    m = json.loads(metrics.read_text())
    m["test"]["accuracy"] = 0.123  # rewritten in place: same folders, same run.json
    metrics.write_text(json.dumps(m))
    compare.refresh(results, plan)
    assert len(summarized) == 2

    record = results / run / layout.RUN_RECORD
    r = json.loads(record.read_text())
    r["seconds"] = (r.get("seconds") or 0) + 1  # bookkeeping: the summary reads none of it
    record.write_text(json.dumps(r))
    compare.refresh(results, plan)
    assert len(summarized) == 2
    r["params"] = {**r["params"], "epochs": 999}  # recorded under another plan: no longer counts
    record.write_text(json.dumps(r))
    compare.refresh(results, plan)
    assert len(summarized) == 3 and run not in summarized[-1]
    compare.refresh(results, plan)
    assert len(summarized) == 3


def test_a_summary_from_before_records_were_hashed_is_judged_by_its_inputs(tmp_path):
    plan, results = records_copy(tmp_path)
    groups = {n: r.group for n, r in plan.runs.items()}
    only = compare.current(results, plan)
    out = results / compare.SUMMARY_DIR / "summary.json"
    out.parent.mkdir(parents=True)
    inputs = compare.inputs_hash(results, plan.reference, plan.baseline, groups, only)
    out.write_text(json.dumps({"inputs": inputs}))
    assert compare.is_current(results, plan.reference, plan.baseline, groups, only)
    out.write_text(json.dumps({"inputs": inputs, "records": "0" * 16}))
    assert not compare.is_current(results, plan.reference, plan.baseline, groups, only)
