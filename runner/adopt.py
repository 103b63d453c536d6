"""Moving computed runs to the code-print fingerprint without retraining them.

Before the code print (runner.codeprint), a run's fingerprint hashed the bytes of its notebook
and of every library module it imported. A run recorded that way moves to the new fingerprint
when, and only when, the code it was computed with has today's code print:
- its record still matches today's files under the old rule (the bytes it ran are today's), or
- its record matches the files of its recorded git commit under the old rule (so that commit is
  what it ran, whatever else was uncommitted then), and that commit's code print is today's.
Anything else stays stale, listed with the reason. Parameters and data are checked too: the
old fingerprint covered both, and it is recomputed with today's.

When the figures' code left the fingerprint (runner.codeprint.run_prints), a run recorded under
the one print before (its record has `code_manifest` and no `figures_code`) moves to the
training print when its recorded manifest, without its presentation entries, gives today's
training print, and its parameters and data are today's (`split`). Its figures print is the
one it was drawn with (those presentation entries): when that is not today's, its figures are
redrawn from its record by the next `runner run`, nothing trained.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from analysis import paths
from analysis.training.provenance import write_json
from runner import codeprint, layout, state


# The old rule, kept only to recognise what it recorded.
def _imported(source: str) -> set[str]:
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "analysis" and not node.level:
            found.update(f"analysis.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis."):
            found.add(node.module)
            # `from analysis.training import train`: a sub-package's module (a name that is
            # not a module has no file, and is skipped below as in the flat layout)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("analysis."))
    return found


def legacy_library_hash(notebook: Path, root: Path) -> str:
    """The bytes of every library module `notebook` imports, transitively (under `root`)."""
    lib = root / "analysis"
    todo, seen = _imported(state.notebook_source(notebook)), {"analysis"}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = lib / (name.split(".", 1)[1].replace(".", "/") + ".py")
        if file.exists():
            todo |= _imported(file.read_text())
    files = [lib / "__init__.py"]
    files += [lib / (n.split(".", 1)[1].replace(".", "/") + ".py") for n in seen - {"analysis"}]
    h = hashlib.sha256()
    for f in sorted(f for f in files if f.exists()):
        h.update(str(f.relative_to(lib)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def legacy_code_hash(notebook: Path, root: Path) -> str:
    """The `code` the old rule recorded in run.json."""
    h = hashlib.sha256(notebook.read_bytes())
    h.update(legacy_library_hash(notebook, root).encode())
    return h.hexdigest()[:16]


def legacy_fingerprint(run, root: Path, data: str) -> str | None:
    """The fingerprint the old rule gives `run` with the files under `root` (None when its
    notebook is not there): notebook bytes, parameters, the library bytes it imports, data."""
    notebook = root / run.notebook_path.relative_to(paths.ROOT)
    if not notebook.is_file():
        return None
    out = hashlib.sha256()
    out.update(hashlib.sha256(notebook.read_bytes()).digest())
    out.update(json.dumps(run.params, sort_keys=True).encode())
    out.update(legacy_library_hash(notebook, root).encode())
    out.update(data.encode())
    return out.hexdigest()[:24]


def _committed(file: Path) -> bytes:
    """The file as last committed (the comparison module changed with this rule)."""
    rel = file.resolve().relative_to(paths.ROOT)
    try:
        return subprocess.run(
            ["git", "show", f"HEAD:{rel}"], cwd=paths.ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return file.read_bytes()


def legacy_summary_current(profile_dir: Path, plan) -> bool:
    """Whether the cross-run summary was up to date under the old rule (every library module's
    bytes, the runner's comparison module's, every run record's), before any record moves."""
    from runner.report import compare

    summary = compare.read_summary(profile_dir)
    if summary is None:
        return False
    only = compare.current(profile_dir, plan, lambda nb: legacy_code_hash(nb, paths.ROOT))
    # The plan as the summary saw it: entries added since, never computed, aside.
    groups = {
        name: r.group
        for name, r in plan.runs.items()
        if (profile_dir / name / layout.RUN_RECORD).exists()
    }
    h = hashlib.sha256(_committed(Path(compare.__file__)))
    for module in sorted((paths.ROOT / "analysis").glob("*.py")):
        h.update(module.name.encode() + module.read_bytes())
    if compare.REPLICATION.exists():
        h.update(compare.REPLICATION.read_bytes())
    h.update(json.dumps([plan.reference, plan.baseline, groups], sort_keys=True).encode())
    for f in sorted(compare.SCOUT_DIR.glob("*.jsonl")):
        h.update(f.read_bytes())
    for record in sorted(profile_dir.glob("*/run.json")):
        if record.parent.name in only:
            h.update(record.parent.name.encode() + record.read_bytes())
    return summary.get("inputs") == h.hexdigest()[:16] and summary.get(
        "records"
    ) == compare.records_hash(profile_dir, only)


def checkout(commit: str, into: Path, repo: Path = paths.ROOT) -> bool:
    """The library and notebooks of `commit` under `into`; False when git does not know it."""
    try:
        tar = subprocess.run(
            ["git", "archive", "--format=tar", commit, "analysis"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return False
    with tarfile.open(fileobj=BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    return True


@dataclass
class Verdict:
    run: str
    adopted: bool
    reason: str


def commit_of(folder: Path) -> str:
    try:
        prov = json.loads((folder / "metrics.json").read_text())["provenance"]
        return str(prov.get("git_commit") or "").removesuffix("+dirty")
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def recorded_runs(plan):
    """(name, run, folder, its run.json) for each of the plan's runs that has a record."""
    for name, run in plan.runs.items():
        folder = layout.run_dir(plan.profile, name)
        try:
            record = json.loads((folder / layout.RUN_RECORD).read_text())
        except (OSError, ValueError):
            continue
        yield name, run, folder, record


def adopt(plan, data_dir: Path, skip_bad: bool = False, write: bool = True) -> list[Verdict]:
    """Move each of the plan's runs recorded under the old rule whose code is unchanged."""
    now = state.inputs(plan.runs.values(), data_dir, skip_bad)
    profile_dir = layout.profile_dir(plan.profile)
    summary_was_current = legacy_summary_current(profile_dir, plan)
    out = []
    for name, run, folder, record in recorded_runs(plan):
        if "code_manifest" in record or not (folder / "metrics.json").exists():
            continue
        verdict = _judge(run, folder, record, now[name])
        out.append(verdict)
        if verdict.adopted and write:
            record.update(
                fingerprint=now[name].fingerprint,
                code=now[name].code.value,
                code_manifest=now[name].code.manifest,
                adopted={"from": record["fingerprint"], "because": verdict.reason},
            )
            write_json(folder / layout.RUN_RECORD, record)
    if write and any(v.adopted for v in out):
        from runner.report import compare

        compare.adopt_summary(profile_dir, plan, summary_was_current)
    return out


def _judge(run, folder: Path, record: dict, now: state.Inputs, root: Path = paths.ROOT) -> Verdict:
    """Whether a run recorded under the old rule computed what today's code (under `root`)
    computes, and why."""
    recorded = record.get("fingerprint")
    if legacy_fingerprint(run, root, now.data) == recorded:
        return Verdict(run.name, True, "today's files are the ones it ran")
    commit = commit_of(folder)
    if not commit:
        return Verdict(run.name, False, "its metrics.json names no git commit")
    with tempfile.TemporaryDirectory() as tmp:
        if not checkout(commit, Path(tmp)):
            return Verdict(run.name, False, f"git does not know its commit {commit}")
        if legacy_fingerprint(run, Path(tmp), now.data) != recorded:
            return Verdict(
                run.name,
                False,
                f"its record matches neither today's files nor its commit {commit}'s "
                "(with today's parameters and data)",
            )
        notebook = Path(tmp) / run.notebook_path.relative_to(paths.ROOT)
        then = state.code_print(notebook, codeprint.Library(Path(tmp)))
    if then.value != now.code.value:
        diff = "; ".join(codeprint.changes(then.manifest, now.code.manifest))
        return Verdict(run.name, False, f"code changed since commit {commit}: {diff}")
    return Verdict(run.name, True, f"its commit {commit} has today's code print")


def training_part(manifest: dict[str, str], now: state.Inputs) -> dict[str, str]:
    """A manifest recorded under the one print, without its presentation entries: those of
    analysis.figures, and those of a definition that is presentation today and not training
    (moved there: matched by its own name, as a move is). What is left is compared whole with
    today's training print, so an entry wrongly left in (or out) can only keep a run stale,
    never move one."""
    figures = now.figures.manifest if now.figures else {}
    moved = {codeprint.bare(k) for k in figures} - {codeprint.bare(k) for k in now.code.manifest}
    return {
        k: v
        for k, v in manifest.items()
        if not codeprint.is_presentation(codeprint.module_of(k)) and codeprint.bare(k) not in moved
    }


def judge_split(run, record: dict, now: state.Inputs) -> Verdict:
    """Whether a run recorded under the one print computed what today's training code does."""
    if run.fingerprint(record.get("code", ""), now.data) != record.get("fingerprint"):
        return Verdict(run.name, False, "its parameters or data are not today's")
    kept = training_part(record["code_manifest"], now)
    if codeprint.value_of(kept) != now.code.value:
        diff = "; ".join(codeprint.changes(kept, now.code.manifest)) or "the same definitions"
        return Verdict(run.name, False, f"its training code is not today's: {diff}")
    return Verdict(run.name, True, "its recorded code without the figures' is today's training")


def split(plan, data_dir: Path, skip_bad: bool = False, write: bool = True) -> list[Verdict]:
    """Move the plan's runs recorded under the one print to the training print (see above)."""
    now = state.inputs(plan.runs.values(), data_dir, skip_bad)
    out = []
    for name, run, folder, record in recorded_runs(plan):
        if "code_manifest" not in record or "figures_code" in record:
            continue
        if not (folder / "metrics.json").exists() or record["fingerprint"] == now[name].fingerprint:
            continue  # a notebook whose print did not split (eda, shift) is current as it was
        verdict = judge_split(run, record, now[name])
        out.append(verdict)
        if verdict.adopted and write:
            kept = training_part(record["code_manifest"], now[name])
            drawn = {k: v for k, v in record["code_manifest"].items() if k not in kept}
            earlier = record.get("adopted")
            record.update(
                fingerprint=now[name].fingerprint,
                code=now[name].code.value,
                code_manifest=now[name].code.manifest,
                figures_code=codeprint.value_of(drawn),
                figures_manifest=drawn,
                adopted={
                    "from": record["fingerprint"],
                    "because": verdict.reason,
                    **({"earlier": earlier} if earlier else {}),
                },
            )
            write_json(folder / layout.RUN_RECORD, record)
    return out
