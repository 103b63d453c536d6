"""The committed report pages are exactly what the templates make of the committed results."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from analysis import paths
from analysis.study import findings
from runner import layout, state
from runner.plan import load
from runner.report import compare, render


def published():
    info = json.loads((paths.REPORT_DIR / render.PUBLISHED).read_text())
    return info["profile"], paths.ROOT / info["results"]


def test_committed_pages_are_up_to_date(tmp_path):
    profile, results = published()
    if not results.exists():
        pytest.fail(f"report/ was rendered from {results}, which is not in the repository")
    plan = load(profile=profile)
    groups = {n: r.group for n, r in plan.runs.items()}
    only = compare.current(results, plan)
    assert compare.is_current(results, plan.reference, plan.baseline, groups, only), (
        f"results/{profile}/_study/summary.json is out of date with the runs or the study code: "
        f"run `make pages PROFILE={profile}` and commit it"
    )
    render.render(plan, tmp_path, results=results, refresh=False)
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
    readme = (paths.ROOT / "README.md").read_text()
    block = readme[readme.index(render.README_START) + len(render.README_START) :]
    assert block[: block.index(render.README_END)].strip() == (
        render.readme_block(plan, results, refresh=False).strip()
    ), "the README's headline is out of date: run `make pages` and commit README.md"
    committed_runs = {p.name for p in (paths.REPORT_DIR / "runs").glob("*.md")}
    assert committed_runs == {p.name for p in (tmp_path / "runs").glob("*.md")}


def test_render_refuses_empty_or_failed_results_and_lists_pending_runs(tmp_path):
    profile, results = published()
    plan = load(profile=profile)
    partial = tmp_path / "results" / profile
    partial.mkdir(parents=True)
    with pytest.raises(render.RenderError, match="holds no finished run"):
        render.render(plan, tmp_path / "report", results=partial)
    shutil.copytree(results / "eda", partial / "eda")
    render.render(plan, tmp_path / "report", results=partial)
    index = (tmp_path / "report" / "index.md").read_text()
    assert "Runs still to compute" in index and "kernel-7x7" in index
    (partial / "cnn.failed").mkdir()
    with pytest.raises(render.RenderError, match="failed runs \\(cnn\\)"):
        render.render(plan, tmp_path / "report2", results=partial)


def test_runs_of_an_earlier_plan_are_left_out_as_pending(smoke, tmp_path):
    """A plan edit makes a run's results stale: the pages and the findings leave it out (it
    is listed as still to compute) instead of comparing runs of two recipes."""
    plan, results, _ = smoke
    raw = yaml.safe_load(paths.PLAN_FILE.read_text())
    raw["profiles"]["smoke"]["runs"] = {"baseline-permuted": {"learning_rate": 0.001}}
    edited = tmp_path / "plan.yaml"
    edited.write_text(yaml.safe_dump(raw, sort_keys=False))
    changed = load(edited, "smoke")
    copy = tmp_path / "results" / "smoke"
    shutil.copytree(results, copy)
    assert "baseline-permuted" in compare.current(copy, plan)
    assert "baseline-permuted" not in compare.current(copy, changed)
    assert "baseline" in compare.current(copy, changed)

    render.render(changed, tmp_path / "report", results=copy)
    index = (tmp_path / "report" / "index.md").read_text()
    note = index[index.index("Runs still to compute") :].split("\n\n")[0]
    assert "baseline-permuted" in note
    assert not (tmp_path / "report" / "runs" / "baseline-permuted.md").exists()
    assert (tmp_path / "report" / "runs" / "baseline.md").exists()
    summary = json.loads((copy / compare.SUMMARY_DIR / "summary.json").read_text())
    assert "baseline-permuted" not in summary["runs"] and "baseline" in summary["runs"]
    # Nor does the site publish its folder (the MkDocs hook reads what render wrote).
    info = json.loads((tmp_path / "report" / render.PUBLISHED).read_text())
    published = {uri for uri, _ in layout.published_files(copy, info["folders"])}
    assert "runs/baseline/metrics.json" in published and "runs/notebook.css" in published
    assert not [uri for uri in published if uri.startswith("runs/baseline-permuted/")]


def test_runs_of_older_code_are_left_out_as_pending(smoke, tmp_path):
    """A run records the code it executed; once the notebook or a library module it runs has
    changed, the pages leave it out even though its parameters still match the plan."""
    plan, results, _ = smoke
    copy = tmp_path / "results" / "smoke"
    shutil.copytree(results, copy)
    record_file = copy / "baseline-permuted" / layout.RUN_RECORD
    record = json.loads(record_file.read_text())
    assert record["code"] == state.code_hash(plan.runs["baseline-permuted"].notebook_path)
    assert "baseline-permuted" in compare.current(copy, plan)

    record["code"] = "0" * 16  # as if computed before the last change to analysis/training/train.py
    record_file.write_text(json.dumps(record))
    assert "baseline-permuted" not in compare.current(copy, plan)
    assert "baseline" in compare.current(copy, plan)
    del record["code"]  # a record from before runs recorded their code: parameters decide
    record_file.write_text(json.dumps(record))
    assert "baseline-permuted" in compare.current(copy, plan)


def _fake_results(src, dest, scale, plan):
    """A copy of real results whose test accuracies are rescaled, summarised again."""
    from runner.report import compare

    shutil.copytree(src, dest)
    for metrics in dest.glob("*/metrics.json"):
        m = json.loads(metrics.read_text())
        if "test" in m:
            for i, r in enumerate(m["per_seed"]):
                acc = r["test"]["accuracy"] * scale + 0.01 * len(m["run"]) + 0.001 * i
                r["test"]["accuracy"] = min(1.0, acc)
            m["test"]["accuracy"] = sum(r["test"]["accuracy"] for r in m["per_seed"]) / len(
                m["per_seed"]
            )
        metrics.write_text(json.dumps(m))
    compare.summarize(
        dest, plan.reference, plan.baseline, {n: r.group for n, r in plan.runs.items()}
    )
    return dest


def test_interpretation_numbers_follow_the_results(smoke, smoke_site, tmp_path):
    """The interpretation page of the smoke results (rendered by the smoke_site fixture) and of
    a copy whose test accuracies are rescaled: each page's numbers are its own results'."""
    plan, results, _ = smoke
    fake = _fake_results(results, tmp_path / "set" / "smoke", 2.0, plan)
    render.render(plan, tmp_path / "report", results=fake)
    pages = []
    for folder, page in (
        (results, smoke_site.parent / "report" / "interpretation.md"),
        (fake, tmp_path / "report" / "interpretation.md"),
    ):
        text = page.read_text()
        cnn = json.loads((folder / "cnn" / "metrics.json").read_text())
        perm = json.loads((folder / "cnn-permuted" / "metrics.json").read_text())
        assert f"**{100 * cnn['test']['accuracy']:.1f}" in text
        # The original − permuted difference, computed here from the two runs' seeds.
        change = cnn["per_seed"][0]["test"]["accuracy"] - perm["per_seed"][0]["test"]["accuracy"]
        assert f"{100 * change:+.1f} points" in text
        assert "**one seed: no test**" in text  # one seed: no Welch test, no verdict
        # The val→test gap on the shared classes, split into its two steps from the run's shift.
        g = findings.gap_decomposition(cnn["shift"])
        assert f"{-100 * g['appearance']:+.1f} points: **appearance**" in text
        assert f"{-100 * g['mix']:+.1f} points: **class mix**" in text
        pages.append(text)
    assert pages[0] != pages[1]


def test_profile_time_is_split_into_the_study_and_the_recipe_search():
    plan = load(profile="standard")
    records = [{"run": "cnn", "seconds": 100.0}, {"run": "recipe-64px", "seconds": 30.0}]
    study, recipe = render.profile_seconds(plan, records, ["kernel-7x7", "recipe-96px"])
    assert (study["runs"], study["seconds"], study["pending"]) == (1, 100.0, ["kernel-7x7"])
    assert (recipe["runs"], recipe["seconds"], recipe["pending"]) == (1, 30.0, ["recipe-96px"])


def test_a_data_run_links_to_the_page_that_shows_it_or_to_nothing():
    """A run without a model has no run page: the pages link it to the section that shows it
    (a link to runs/data-shift.md once broke `mkdocs serve`), or name it without a link."""
    runs = {"eda": {}, "data-shift": {}, "cnn": {"model": {}}, "new-data": {}}
    pages = render.run_pages(runs, {"cnn": runs["cnn"]})
    assert pages == {
        "eda": "dataset.md",
        "data-shift": "dataset.md#data-shift",
        "cnn": "runs/cnn.md",
        "new-data": None,
    }
    links = render.environment().from_string(
        '{% import "_macros.md.j2" as mac %}'
        '{{ mac.run_link("new-data", p) }} {{ mac.run_link("data-shift", p, "../") }}'
    )
    assert links.render(p=pages) == "new-data [data-shift](../dataset.md#data-shift)"
    # The section the link names is the Dataset page's own heading anchor.
    assert "{ #data-shift }" in (paths.TEMPLATES_DIR / "dataset.md.j2").read_text()
