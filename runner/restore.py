"""`python -m runner restore-model RUN`: bring back a run's saved network (`model.keras`) where it
is missing (deleted, or a clone that has the records but not the networks, which stay on the
machine that trained them) by training again the one seed the run saved, and keep it only when
that seed reproduces the run's record exactly.

The record is the proof: the retrained seed's train, val and test numbers must equal, to the
last digit, the ones the run recorded for that seed (training here is deterministic op by op).
Anything else (another CPU's kernels, other code) keeps nothing and says what differed. Only an
up-to-date run can be restored: a record of other code would never match.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from analysis import paths
from analysis.training.provenance import git_commit
from runner import layout, state
from runner.backends import local
from runner.backends.base import RunFailed
from runner.errors import ConfigError

MODEL_FILE = "model.keras"
COMPARED = ("train", "val", "test")  # the numbers of a seed that must come back the same


class RestoreError(ConfigError):
    """A run that cannot be restored here, or whose retrained seed differs from its record."""


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RestoreError(f"{path}: cannot be read ({exc})") from None


def source_run(plan, name: str):
    """The run whose folder holds `name`'s network: itself, or the run it shares a computation
    with (runner.execute records `same_computation_as`)."""
    record = _read(layout.run_dir(plan.profile, name) / layout.RUN_RECORD)
    other = record.get("same_computation_as")
    return plan.runs[other] if other in plan.runs else plan.runs[name]


def differences(recorded: dict, retrained: dict) -> list[str]:
    """The numbers of one seed that differ between the record and the retrained seed."""
    out = []
    for part in COMPARED:
        a, b = recorded.get(part, {}), retrained.get(part, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                out.append(f"{part} {key}: recorded {a.get(key)!r}, retrained {b.get(key)!r}")
    return out


def restore(plan, name: str, data_dir: Path, say=print) -> Path:
    """The path of the run's network, trained again when missing; RestoreError when the run is
    not up to date or its seed does not reproduce."""
    if name not in plan.runs:
        raise RestoreError(f"no run {name!r} in the plan's {plan.profile} profile")
    run = source_run(plan, name)
    folder = layout.run_dir(plan.profile, run.name)
    target = folder / MODEL_FILE
    if target.exists():
        say(f"{plan.profile}/{run.name}: {MODEL_FILE} is already there")
        return target
    fingerprint = state.inputs([run], data_dir)[run.name].fingerprint
    if not state.is_current(folder, fingerprint):
        raise RestoreError(
            f"{folder}: not up to date with this checkout; `python -m runner run {run.name}` "
            "computes it (and saves its network)"
        )
    seed = int(_read(folder / "model.json").get("seed", 0))
    metrics = _read(folder / "metrics.json")
    recorded = next((s for s in metrics["per_seed"] if s["seed"] == seed), None)
    if recorded is None:
        raise RestoreError(f"{folder / 'metrics.json'}: no record of seed {seed}")
    work = folder.parent / f".{run.name}.restore"  # hidden: never read as a run folder
    shutil.rmtree(work, ignore_errors=True)
    say(f"{plan.profile}/{run.name}: training seed {seed} again to restore its {MODEL_FILE}")
    injected = {
        "profile": plan.profile,
        "run_name": run.name,
        "data_dir": local.rel(data_dir),
        "code_version": git_commit(),
    }
    try:
        local.execute(run.with_params({**run.params, "seeds": [seed]}), work, injected)
        again = _read(work / "metrics.json")["per_seed"][0]
        diff = differences(recorded, again)
        if diff:
            where = metrics.get("provenance", {})
            raise RestoreError(
                f"{run.name}: seed {seed} trained here does not reproduce its record, so its "
                f"network is not the run's; nothing kept ({len(diff)} numbers differ, e.g. "
                f"{diff[0]}). The record was trained on {where.get('machine', 'a machine')} "
                f"from {where.get('started', '?')[:10]}: another CPU's kernels round "
                "differently; `python -m runner run --force` trains the whole run here"
            )
        (work / MODEL_FILE).replace(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if run.name != name:
        say(f"{plan.profile}/{name} shares {run.name}'s computation: its network is {target}")
    say(f"{plan.profile}/{run.name}: seed {seed} reproduced its record; {target} restored")
    return target


def add_parser(sub) -> None:
    p = sub.add_parser(
        "restore-model",
        help="train again the seed a run saved, to bring back its missing model.keras; kept "
        "only when that seed reproduces the run's record exactly",
    )
    p.add_argument("runs", nargs="+", help="run names")
    p.add_argument("--profile", default="standard")
    p.add_argument("--plan", type=Path, default=paths.PLAN_FILE, help="plan file")
    p.add_argument("--data-dir", default=None)
    p.set_defaults(handler=command)


def command(args) -> int:
    from runner.plan import load

    plan = load(args.plan, args.profile)
    data_dir = paths.data_dir(args.data_dir)
    failed = 0
    for name in args.runs:
        try:
            restore(plan, name, data_dir)
        except (RestoreError, RunFailed) as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0
