"""Across the runs of one profile: load what they recorded, let the study library
(analysis.study.findings) derive the findings, draw the study's figures, write
`_study/summary.json`.

Part of the runner's collection step: the notebooks never read each other's results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from analysis import paths
from analysis.training.provenance import now, write_json
from runner import codeprint, layout, state
from runner.report import receptive

SUMMARY_DIR = layout.STUDY_DIR
SCOUT_DIR = paths.ROOT / "bench" / "scout"  # the GPU recipe scout's rows (bench/scout.py)


def load_runs(profile_dir: Path, only=None) -> dict[str, dict]:
    """Each run folder's metrics.json by run name (those named in `only`, when given)."""
    runs = {}
    for m in sorted(profile_dir.glob("*/metrics.json")):
        if not layout.is_run_folder(m.parent) or (only is not None and m.parent.name not in only):
            continue
        runs[m.parent.name] = json.loads(m.read_text())
    return runs


def current(profile_dir: Path, plan, code_hash=state.code_hash) -> list[str]:
    """The plan's runs whose results were computed with the parameters the plan gives them now.
    A run recorded with other parameters (the plan changed since) is left out of the findings
    and the pages, as if it were pending, until `make results` computes it again: a site must
    not compare a run of one recipe with a run of another. The same holds for a run recorded
    with other code (its notebook or the library modules it runs changed since); a record
    written before runs recorded their code is judged by its parameters alone."""
    out, code = [], {}
    for name, run in plan.runs.items():
        folder = profile_dir / name
        try:
            record = json.loads((folder / layout.RUN_RECORD).read_text())
        except (OSError, ValueError):
            continue
        wanted = json.loads(json.dumps(run.params))  # as JSON writes it: tuples become lists
        if record.get("params") != wanted or not (folder / "metrics.json").exists():
            continue
        if "code" in record:
            if run.notebook_path not in code:
                code[run.notebook_path] = code_hash(run.notebook_path)
            if record["code"] != code[run.notebook_path]:
                continue
        out.append(name)
    return out


def _predictions(folder: Path) -> dict | None:
    f = folder / "predictions.npz"
    if not f.exists():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def load_scout(folder: Path = SCOUT_DIR) -> dict[str, list[dict]]:
    """Scout rounds by file stem (round1, round2, ...)."""
    return {
        f.stem: [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
        for f in sorted(folder.glob("*.jsonl"))
    }


REPLICATION = paths.ROOT / "bench" / "backend.json"


def replicas(runs: dict) -> dict[str, list[float]]:
    """Published run -> its replication's per-seed test accuracies (bench/backend.json: the
    same parameters trained on another machine), for the verdict rule."""
    if not REPLICATION.exists():
        return {}
    from analysis.study import replication as backends

    other = json.loads(REPLICATION.read_text())["runs"]
    out = {}
    for name in runs:
        twin = backends.counterpart(runs, other, name)
        if twin:
            out[name] = [s["test"]["accuracy"] for s in other[twin]["per_seed"]]
    return out


def inputs_hash(profile_dir: Path, reference: str, baseline: str, groups: dict, only=None) -> str:
    """The code the cross-run step reaches (this module's, and every library definition it
    reaches: runner.codeprint), the plan's roles and groups, the scout rows, the replication on
    another machine and which runs it reads (those in `only`, when given; each run's own
    metrics.json is `records_hash`'s): unchanged means the summary is up to date."""
    lib = codeprint.Library(paths.ROOT)
    h = hashlib.sha256(codeprint.code_print(lib, Path(__file__).read_text()).value.encode())
    if REPLICATION.exists():
        h.update(REPLICATION.read_bytes())
    # Only the groups of the runs it reads: a run added to the plan changes nothing until it has
    # results (the findings read the runs that are there).
    groups = {n: g for n, g in groups.items() if only is None or n in only}
    h.update(json.dumps([reference, baseline, groups], sort_keys=True).encode())
    for f in sorted(SCOUT_DIR.glob("*.jsonl")):
        h.update(f.read_bytes())
    names = sorted(
        r.parent.name
        for r in profile_dir.glob("*/run.json")
        if only is None or r.parent.name in only
    )
    h.update(json.dumps(names).encode())
    return h.hexdigest()[:16]


def records_hash(profile_dir: Path, only=None) -> str:
    """Every run's metrics.json as it is now (of the runs in `only`, when given): a record
    rewritten in place (a recollected job, a hand edit) changes it, as a new run folder does."""
    h = hashlib.sha256()
    for record in sorted(profile_dir.glob("*/metrics.json")):
        if only is not None and record.parent.name not in only:
            continue
        h.update(record.parent.name.encode() + b"\0" + record.read_bytes())
    return h.hexdigest()[:16]


def is_current(profile_dir: Path, reference: str, baseline: str, groups: dict, only=None) -> bool:
    try:
        summary = json.loads((profile_dir / SUMMARY_DIR / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    if summary.get("inputs") != inputs_hash(profile_dir, reference, baseline, groups, only):
        return False
    # A summary written before records were hashed has no "records": judged by its inputs.
    return "records" not in summary or summary["records"] == records_hash(profile_dir, only)


def summarize(
    profile_dir: Path, reference: str, baseline: str, groups: dict, data_dir=None, only=None
) -> dict:
    """The findings (analysis.study.findings) and the study's figures for one profile's results."""
    # SciPy and Matplotlib load here, not at import: a no-op `make all` never gets this far.
    from analysis.figures import mechanisms as mechanism_figures
    from analysis.figures import study as study_figures
    from analysis.study import findings
    from analysis.study import scout as study_scout

    runs = load_runs(profile_dir, only)
    preds = {name: _predictions(profile_dir / name) for name in runs}
    preds = {k: v for k, v in preds.items() if v is not None}
    found = findings.findings(runs, preds, reference, baseline, groups, replicas(runs))
    scout = {name: study_scout.scout_summary(rows) for name, rows in load_scout().items()}
    fig_dir = profile_dir / SUMMARY_DIR / "figures"
    figs = study_figures.draw_all(found, scout, runs, reference, baseline, groups, fig_dir)
    figs.update(mechanism_figures.draw(found, runs, fig_dir))
    summary = {
        "profile": profile_dir.name,
        "reference": reference,
        "baseline": baseline,
        "runs": sorted(runs),
        "findings": found,
        "scout": scout,
        "scout_decisions": study_scout.scout_decisions(scout),
        "predictions": predictions_gallery(profile_dir / reference, fig_dir, data_dir),
        "learned": learned_figures(profile_dir, reference, fig_dir, data_dir, only),
        "receptive": receptive.study(
            profile_dir,
            groups,
            fig_dir,
            data_dir,
            only,
            (read_summary(profile_dir) or {}).get("receptive"),
        ),
        "figures": {
            k: str(Path(p).relative_to(profile_dir / SUMMARY_DIR)) for k, p in figs.items()
        },
        "inputs": inputs_hash(profile_dir, reference, baseline, groups, only),
        "records": records_hash(profile_dir, only),
        "created": now(),
    }
    write_json(profile_dir / SUMMARY_DIR / "summary.json", summary)
    return summary


def predictions_gallery(run_dir: Path, fig_dir: Path, data_dir) -> dict | None:
    """The reference run's predictions gallery (analysis.figures.gallery), drawn into the study's
    figures; None while the run has no test probabilities (the page says it is pending)."""
    if not (run_dir / "predictions.npz").exists():
        return None
    from analysis.figures import gallery

    try:
        return gallery.render(run_dir, fig_dir, paths.data_dir(data_dir))
    except gallery.GalleryError:
        return None


def learned_inputs(profile_dir: Path, reference: str, only=None) -> str:
    """What the learned figures are drawn from: the library code they reach, the reference
    run's record and, when current, the locally connected run's."""
    from analysis.figures import learned

    source = "from analysis.figures import learned\nlearned.study\n"
    h = hashlib.sha256(codeprint.code_print(codeprint.Library(paths.ROOT), source).value.encode())
    for name in (reference, learned.LOCAL_RUN):
        record = profile_dir / name / "metrics.json"
        if (only is None or name in only) and record.exists():
            h.update(name.encode() + b"\0" + record.read_bytes())
    return h.hexdigest()[:16]


def learned_figures(profile_dir: Path, reference: str, fig_dir: Path, data_dir, only):
    """What the networks learned (analysis.figures.learned): the reference CNN's figures and, once
    its network is saved, the locally connected run's; None while the reference run's network or
    the data set is missing (the page says it is pending).

    Kept from the summary before when drawn from the same inputs: the locally connected network
    (406 MB) stays on the machine that trained it, and a clone without it must keep the figures
    drawn from it (committed with the summary), not fall back to the CNN's alone."""
    from analysis.figures import learned

    key = learned_inputs(profile_dir, reference, only)
    before = (read_summary(profile_dir) or {}).get("learned")
    saved = (profile_dir / learned.LOCAL_RUN / learned.MODEL_FILE).exists()
    if before and before.get("inputs") == key and (before.get("local") or not saved):
        return before
    out = learned.study(profile_dir, reference, fig_dir, data_dir, only)
    if out is not None:
        out["inputs"] = key
    return out


def read_summary(profile_dir: Path) -> dict | None:
    try:
        return json.loads((profile_dir / SUMMARY_DIR / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def adopt_summary(profile_dir: Path, plan, was_current: bool) -> bool:
    """After `runner adopt`: a summary that was up to date before, over runs that are all still
    current, records the new inputs hash instead of being computed again (its findings are
    the same numbers). False when it must be recomputed."""
    summary = read_summary(profile_dir)
    only = current(profile_dir, plan)
    if not was_current or summary is None or sorted(only) != sorted(summary.get("runs", [])):
        return False
    groups = {name: r.group for name, r in plan.runs.items()}
    summary["inputs"] = inputs_hash(profile_dir, plan.reference, plan.baseline, groups, only)
    write_json(profile_dir / SUMMARY_DIR / "summary.json", summary)
    return True


def refresh(profile_dir: Path, plan, data_dir=None) -> dict | None:
    """Recompute the summary when its inputs changed; None when the profile has no results."""
    if not profile_dir.is_dir():
        return None
    groups = {name: r.group for name, r in plan.runs.items()}
    only = current(profile_dir, plan)
    if not is_current(profile_dir, plan.reference, plan.baseline, groups, only):
        return summarize(profile_dir, plan.reference, plan.baseline, groups, data_dir, only)
    summary = json.loads((profile_dir / SUMMARY_DIR / "summary.json").read_text())
    # A network saved here since (trained, or restored with `runner restore-model`) is read, and a
    # figure of older drawing code redrawn from the kept maps, without recomputing the findings,
    # which do not read the networks.
    fig_dir = profile_dir / SUMMARY_DIR / "figures"
    changed = False
    before = summary.get("receptive")
    if receptive.pending(profile_dir, groups, only, before) or receptive.figure_stale(before):
        summary["receptive"] = receptive.study(profile_dir, groups, fig_dir, data_dir, only, before)
        changed = True
    if learned_pending(profile_dir, only, summary.get("learned")):
        summary["learned"] = learned_figures(profile_dir, plan.reference, fig_dir, data_dir, only)
        changed = True
    if changed:
        write_json(profile_dir / SUMMARY_DIR / "summary.json", summary)
    return summary


def learned_pending(profile_dir: Path, only, before: dict | None) -> bool:
    """The learned figures were drawn without the locally connected network, which is saved
    here now (and current)."""
    from analysis.figures import learned

    if not before or before.get("local"):
        return False
    saved = (profile_dir / learned.LOCAL_RUN / learned.MODEL_FILE).exists()
    return saved and (only is None or learned.LOCAL_RUN in only)
