"""Render the report pages (Markdown) from one profile's results with the Jinja templates.

Templates read metrics.json / summary.json values and nothing else; they never compute a metric.
A page is rewritten only when its text changes, so `make` sees an unchanged site as up to date.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from analysis import paths
from analysis.figures import display
from analysis.study import claims
from analysis.study import replication as backends
from runner import layout
from runner.backends.local import rel
from runner.layout import PUBLISHED  # tells the MkDocs hook which results folder the pages show
from runner.plan import Plan
from runner.report import compare, planned
from runner.report.compare import load_runs

# report/ files written by hand (the glossary is appended to every page by mkdocs.yml)
HAND_WRITTEN = ("reproduce.md", "stylesheets/tables.css", "includes/glossary.md")
# A run without a model has no run page of its own: the page (and section) that shows it.
# A link to runs/<data run>.md would break every strict build (issue 31); a run that is in
# neither this table nor the models gets no link at all.
DATA_RUN_PAGES = {"eda": "dataset.md", "data-shift": "dataset.md#data-shift"}


class RenderError(Exception):
    pass


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(paths.TEMPLATES_DIR),
        undefined=StrictUndefined,  # a field missing from metrics.json breaks the render
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    display.register(env)  # the one number format and run names of every page
    env.globals.update(claims.GLOBALS)  # a "same recipe" or "every run" is checked, not typed
    env.globals["rules"] = claims.rules()  # thresholds the prose names, from the code using them
    return env


def context(plan: Plan, results: Path, allow_failed: bool, refresh: bool = True) -> dict:
    from analysis.study import cost  # the Performance page's; no run imports it

    found = load_runs(results, compare.current(results, plan))  # results of another plan: pending
    runs = {n: found[n] for n in plan.runs if n in found}  # plan order
    pending = [n for n in plan.runs if n not in runs]
    failed = [n for n in plan.runs if (results / f"{n}{layout.FAILED_SUFFIX}").exists()]
    if failed and not allow_failed:
        raise RenderError(
            f"results/{plan.profile} has failed runs ({', '.join(failed)}); rerun them with "
            f"`make results PROFILE={plan.profile}`, or render with --allow-failed to publish "
            "the rest with these marked"
        )
    if not runs:
        raise RenderError(
            f"results/{plan.profile} holds no finished run; run `make results "
            f"PROFILE={plan.profile}` first"
        )
    # Pending runs are listed on every page; the findings that need them are left out.
    # `refresh=False` reads the summary as it is (the staleness test checks it separately).
    summary = (compare.refresh(results, plan) if refresh else compare.read_summary(results)) or {
        "findings": {},
        "figures": {},
        "scout": {},
    }
    info = {
        name: {"title": r.title, "group": r.group, "notebook": r.notebook, "params": r.params}
        for name, r in plan.runs.items()
    }
    models = {n: m for n, m in runs.items() if "model" in m}
    bench_file = paths.ROOT / "bench" / "results.json"
    bench = json.loads(bench_file.read_text()) if bench_file.exists() else None
    records = [
        json.loads((p / layout.RUN_RECORD).read_text())
        for p in layout.run_folders(results)
        if (p / layout.RUN_RECORD).exists() and p.name in runs
    ]
    fresh = [r for r in records if not r.get("same_computation_as")]
    table = {r["run"]: r for r in summary["findings"].get("table", [])}
    ref = runs.get(plan.reference, {})
    val_counts = [c["val"] for c in ref.get("shift", {}).get("per_class", [])]
    return {
        "profile": plan.profile,
        "published": plan.published,
        "plan": info,
        "runs": runs,
        "models": models,
        # what each pending decision-family network will be, built from its plan entry
        "planned": planned.networks(info, runs, plan.reference),
        "table": table,
        "seeds": plan.runs[plan.reference].params.get("seeds", []),
        "eda": runs.get("eda"),
        "run_pages": run_pages(runs, models),
        "reference": plan.reference,
        "baseline": plan.baseline,
        "summary": summary,
        "scout": summary.get("scout", {}),
        "pending": pending,
        "missing": pending,
        "failed": failed,
        "kernel_runs": [n for n, r in plan.runs.items() if r.group == "kernels" and n in runs],
        "recipe_runs": [n for n, r in plan.runs.items() if r.group == "recipe"],
        "class_names": {c["id"]: c["name"] for c in ref.get("per_class", [])},
        "val_majority_share": max(val_counts) / sum(val_counts) if val_counts else None,
        "bench": bench,
        # Where each computed run's time went, and the floor at the benchmark's rate.
        "cost": cost.study(results, {n: r.group for n, r in plan.runs.items()}, bench),
        "backends": backend_check(models, plan),
        "timed": timed(results, runs),
        "profile_seconds": profile_seconds(plan, fresh, pending) if fresh else None,
    }


def run_pages(runs: dict, models: dict) -> dict[str, str | None]:
    """Each finished run's page, relative to report/: its run page, or for a data run the
    page that shows it, or None (no page: its name is shown without a link)."""
    return {n: f"runs/{n}.md" if n in models else DATA_RUN_PAGES.get(n) for n in runs}


def nav_title(name: str, ctx: dict) -> str:
    """A run page's title in the navigation: its display name; a plan entry that shares
    another run's computation is named by its id, not as a second model."""
    if ctx["models"][name].get("same_computation_as"):
        return f"{name} (same run)"
    return display.name(name, ctx["plan"][name]["title"])


def profile_seconds(plan: Plan, records: list[dict], pending: list[str]) -> list[dict]:
    """The profile's measured wall time in its two parts: the study's runs (several seeds, the
    time budget) and the one-seed recipe search on top, each with what is still to compute."""
    parts = {"study": "The study's runs", "recipe": "The recipe search (one seed per variant)"}
    out = []
    for part, label in parts.items():
        names = {n for n, r in plan.runs.items() if (r.group == "recipe") == (part == "recipe")}
        done = [r for r in records if r["run"] in names]
        out.append(
            {
                "part": label,
                "runs": len(done),
                "seconds": sum(r["seconds"] for r in done),
                "pending": [n for n in pending if n in names],
            }
        )
    return out


def backend_check(models: dict, plan: Plan) -> dict | None:
    """bench/backend.json (published runs retrained on another machine) beside the runs."""
    file = paths.ROOT / "bench" / "backend.json"
    other = json.loads(file.read_text()) if file.exists() else None
    if not other or other.get("profile") != plan.profile:
        return None
    sizes = {r["params"]["image_size"] for r in other["runs"].values()}
    return {
        **{k: other.get(k) for k in ("device", "python", "matmul_precision", "source")},
        "image_size": "/".join(str(s) for s in sorted(sizes)),
        **backends.comparison(models, other, set(plan.runs)),
        # For the pages: does a comparison's replication (its Welch verdict, in the summary)
        # contradict the comparison's own verdict?
        "disagrees": lambda here: backends.disagrees(here.get("replication"), here),
    }


def timed(results: Path, runs: dict) -> list[dict]:
    """Each computed model run's measured times, from its run.json and metrics.json."""
    out = []
    for name, m in runs.items():
        record = results / name / layout.RUN_RECORD
        if "timing" not in m or not record.exists():
            continue
        r = json.loads(record.read_text())
        if r.get("same_computation_as"):
            continue
        out.append(
            {
                "name": name,
                "seeds": len(m["seeds"]),
                "seconds": r["seconds"],
                "train_seconds": m["timing"]["train_seconds"],
                "epochs": max(m["timing"]["epochs_run"]),
                "machine": m["provenance"]["machine"],
            }
        )
    return out


def pages(ctx: dict) -> dict[str, tuple[str, dict]]:
    """Output page -> (template, extra context). Every artifact of the report, declared once;
    a page whose runs are pending says so instead of disappearing from the nav."""
    out = {
        "index.md": ("index.md.j2", {}),
        "provenance.md": ("provenance.md.j2", {}),
        "recipe.md": ("recipe.md.j2", {}),
        "design.md": ("design.md.j2", {}),
        "baseline.md": ("baseline.md.j2", {}),
        "kernels.md": ("kernels.md.j2", {}),
        "interpretation.md": ("interpretation.md.j2", {}),
        "mechanisms.md": ("mechanisms.md.j2", {}),
        "statistics.md": ("statistics.md.j2", {}),
        "runs/index.md": ("runs.md.j2", {}),
        "performance.md": ("performance.md.j2", {}),
        "dataset.md": ("dataset.md.j2", {"m": ctx["eda"]}),
        "predictions.md": (
            "predictions.md.j2",
            {"gallery": ctx["summary"].get("predictions"), "figure_dir": "study/figures/"},
        ),
        "learned.md": (
            "learned.md.j2",
            {"learned": ctx["summary"].get("learned"), "figure_dir": "study/figures/"},
        ),
    }
    for name, m in ctx["models"].items():
        out[f"runs/{name}.md"] = ("run.md.j2", {"name": name, "m": m})
    return out


def render(
    plan: Plan,
    report_dir: Path = paths.REPORT_DIR,
    allow_failed: bool = False,
    results: Path | None = None,
    refresh: bool = True,
) -> list[Path]:
    results = results or paths.results_dir() / plan.profile
    ctx = context(plan, results, allow_failed, refresh)
    env = environment()
    written = []
    wanted = pages(ctx)
    for rel_path, (template, extra) in wanted.items():
        text = env.get_template(template).render(**ctx, **extra)
        written.append(_write_if_changed(report_dir / rel_path, text))
    for stale in (report_dir / "runs").glob("*.md"):
        if f"runs/{stale.name}" not in wanted and stale.name != "index.md":
            stale.unlink()
    published = {
        "profile": plan.profile,
        "results": rel(results),
        "runs": [{"name": n, "title": nav_title(n, ctx)} for n in display.ordered(ctx["models"])],
        # The run folders the site publishes: not those of an earlier plan, left out above.
        "folders": sorted(ctx["runs"]),
    }
    _write_if_changed(report_dir / PUBLISHED, json.dumps(published, indent=2) + "\n")
    if plan.profile == plan.published and report_dir == paths.REPORT_DIR:
        written.append(update_readme(readme_block(plan, results, refresh)))
    return written


README_START = "<!-- headline: rendered by `make pages`, do not edit -->"
README_END = "<!-- /headline -->"


def readme_block(plan: Plan, results: Path, refresh: bool = True) -> str:
    """The README's headline: the published profile's table and two figures."""
    ctx = context(plan, results, allow_failed=True, refresh=refresh)
    return environment().get_template("readme.md.j2").render(**ctx).strip() + "\n"


def update_readme(block: str, readme: Path = paths.ROOT / "README.md") -> Path:
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(README_START), text.index(README_END)
    new = text[: start + len(README_START)] + "\n" + block + text[end:]
    return _write_if_changed(readme, new)


def _write_if_changed(path: Path, text: str) -> Path:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path
