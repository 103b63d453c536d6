"""The committed report pages are exactly what the templates make of the committed results."""

from __future__ import annotations

import json

import pytest

from analysis import paths
from runner import render
from runner.plan import load


def published():
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    return info["profile"], paths.ROOT / info["results"]


def test_committed_pages_are_up_to_date(tmp_path):
    profile, results = published()
    if not results.exists():
        pytest.fail(f"report/ was rendered from {results}, which is not in the repository")
    render.render(load(profile=profile), tmp_path, results=results)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "nothing rendered"
    stale = [
        str(rel)
        for rel in generated
        if not (paths.REPORT_DIR / rel).exists()
        or (paths.REPORT_DIR / rel).read_text() != (tmp_path / rel).read_text()
    ]
    assert not stale, (
        f"report pages out of date with templates/results: {stale}; run "
        f"`make pages PROFILE={profile}` and commit report/"
    )
    committed_runs = {p.name for p in (paths.REPORT_DIR / "runs").glob("*.md")}
    assert committed_runs == {p.name for p in (tmp_path / "runs").glob("*.md")}


def test_render_refuses_incomplete_results(tmp_path):
    profile, results = published()
    partial = tmp_path / "results" / profile
    partial.mkdir(parents=True)
    with pytest.raises(render.RenderError, match="incomplete.*missing: eda"):
        render.render(load(profile=profile), tmp_path / "report", results=partial)


def _fake_results(src, dest, scale):
    """A copy of real results whose test accuracies are rescaled, summarised again."""
    import shutil

    from runner import compare

    shutil.copytree(src, dest)
    for metrics in dest.glob("*/metrics.json"):
        m = json.loads(metrics.read_text())
        if "test" in m:
            m["test"]["accuracy"] = min(1.0, m["test"]["accuracy"] * scale + 0.01 * len(m["run"]))
            if "translation" in m:
                m["translation"]["accuracy"] = [a * scale for a in m["translation"]["accuracy"]]
        metrics.write_text(json.dumps(m))
    compare.summarize(dest, "cnn", "baseline")
    return dest


def test_interpretation_numbers_follow_the_results(smoke, tmp_path):
    plan, results, _ = smoke
    pages = []
    for i, scale in enumerate((0.5, 2.0)):
        fake = _fake_results(results, tmp_path / f"set{i}" / "smoke", scale)
        render.render(plan, tmp_path / f"report{i}", results=fake)
        text = (tmp_path / f"report{i}" / "interpretation.md").read_text()
        cnn = json.loads((fake / "cnn" / "metrics.json").read_text())
        assert render.pct(cnn["test"]["accuracy"]) in text
        summary = json.loads((fake / "_study" / "summary.json").read_text())
        change = summary["findings"]["permutation"]["cnn"]["change"]
        assert f"{100 * change:+.1f} pts" in text
        pages.append(text)
    assert pages[0] != pages[1]
