"""Render the report pages (Markdown) from one profile's results with the Jinja templates.

Templates read metrics.json / summary.json values and nothing else; they never compute a metric.
A page is rewritten only when its text changes, so `make` sees an unchanged site as up to date.
"""

from __future__ import annotations

import json
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from analysis import paths
from runner import layout
from runner.compare import load_runs
from runner.layout import PUBLISHED  # tells the MkDocs hook which results folder the pages show
from runner.local import rel
from runner.plan import Plan

HAND_WRITTEN = ("reproduce.md",)  # pages of report/ written by hand, not rendered


class RenderError(Exception):
    pass


def pct(value: float, digits: int = 1) -> str:
    return f"{100 * value:.{digits}f}\u00a0%"  # no line break inside a number


def num(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(paths.TEMPLATES_DIR),
        undefined=StrictUndefined,  # a field missing from metrics.json breaks the render
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(pct=pct, num=num, si=si, duration=duration)
    return env


def context(plan: Plan, results: Path, allow_failed: bool) -> dict:
    found = load_runs(results)
    runs = {n: found[n] for n in plan.runs if n in found}  # plan order
    missing = [n for n in plan.runs if n not in runs]
    failed = [n for n in plan.runs if (results / f"{n}{layout.FAILED_SUFFIX}").exists()]
    if (missing or failed) and not allow_failed:
        raise RenderError(
            f"results/{plan.profile} is incomplete (missing: {', '.join(missing) or 'none'}; "
            f"failed: {', '.join(failed) or 'none'}); run `make results PROFILE={plan.profile}` "
            "first, or render with --allow-failed to publish the rest with these marked"
        )
    summary_file = layout.study_dir(results) / "summary.json"
    summary = (
        json.loads(summary_file.read_text())
        if summary_file.exists()
        else {"comparisons": [], "figures": {}}
    )
    info = {
        name: {"title": r.title, "group": r.group, "notebook": r.notebook}
        for name, r in plan.runs.items()
    }
    models = {n: m for n, m in runs.items() if "model" in m}
    bench_file = paths.ROOT / "bench" / "results.json"
    records = [
        json.loads((p / layout.RUN_RECORD).read_text())
        for p in layout.run_folders(results)
        if (p / layout.RUN_RECORD).exists()
    ]
    fresh = [r for r in records if not r.get("same_computation_as")]
    return {
        "profile": plan.profile,
        "plan": info,
        "runs": runs,
        "models": models,
        "eda": runs.get("eda"),
        "reference": plan.reference,
        "baseline": plan.baseline,
        "summary": summary,
        "missing": missing,
        "failed": failed,
        "kernel_runs": [n for n, r in plan.runs.items() if r.group == "kernels" and n in runs],
        "bench": json.loads(bench_file.read_text()) if bench_file.exists() else None,
        "profile_seconds": {"runs": len(fresh), "seconds": sum(r["seconds"] for r in fresh)}
        if fresh
        else None,
        "standard_timed": standard_timed(results, plan) if plan.profile == "quick" else [],
    }


def standard_timed(results: Path, plan: Plan) -> list[dict]:
    """Runs of the `standard` profile finished beside the published quick results: their
    measured times, shown on the performance page until the whole profile is published."""
    timed = []
    for name, m in load_runs(results.parent / "standard").items():
        record = results.parent / "standard" / name / layout.RUN_RECORD
        if "timing" not in m or not record.exists() or name not in plan.runs:
            continue
        t = m["timing"]
        timed.append(
            {
                "title": plan.runs[name].title,
                "seconds": json.loads(record.read_text())["seconds"],
                "train_seconds": t["train_seconds"],
                "epochs": t["epochs_run"][0],
                "max_epochs": m["params"]["epochs"],
                "best_epoch": t["best_epoch"][0],
                "test_accuracy": m["test"]["accuracy"],
                "val_accuracy": m["val"]["accuracy"],
                "machine": m["provenance"]["machine"],
                "finished": m["provenance"]["finished"],
                "code": m["provenance"]["git_commit"],
            }
        )
    return timed


def pages(ctx: dict) -> dict[str, tuple[str, dict]]:
    """Output page -> (template, extra context). Every artifact of the report, declared once."""
    out = {
        "index.md": ("index.md.j2", {}),
        "kernels.md": ("kernels.md.j2", {}),
        "runs/index.md": ("runs.md.j2", {}),
        "performance.md": ("performance.md.j2", {}),
    }
    if ctx["reference"] in ctx["models"]:
        out["design.md"] = ("design.md.j2", {})
    if ctx["baseline"] in ctx["models"] and ctx["reference"] in ctx["models"]:
        out["baseline.md"] = ("baseline.md.j2", {})
        out["interpretation.md"] = ("interpretation.md.j2", {})
    if ctx["eda"]:
        out["dataset.md"] = ("dataset.md.j2", {"m": ctx["eda"]})
    for name, m in ctx["models"].items():
        out[f"runs/{name}.md"] = ("run.md.j2", {"name": name, "m": m})
    return out


def render(
    plan: Plan,
    report_dir: Path = paths.REPORT_DIR,
    allow_failed: bool = False,
    results: Path | None = None,
) -> list[Path]:
    results = results or paths.results_dir() / plan.profile
    ctx = context(plan, results, allow_failed)
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
        "runs": [{"name": n, "title": ctx["plan"][n]["title"]} for n in ctx["models"]],
    }
    _write_if_changed(report_dir / PUBLISHED, json.dumps(published, indent=2) + "\n")
    return written


def _write_if_changed(path: Path, text: str) -> Path:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path
