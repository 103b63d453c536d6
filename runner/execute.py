"""Run the plan: skip what is current, hand the rest to a backend, and take each result through
the one run-folder lifecycle (runner.lifecycle), whichever backend computed it."""

from __future__ import annotations

import json
import signal
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from analysis.training.provenance import git_commit
from runner import layout, lifecycle, resume, state
from runner.backends import local
from runner.backends.base import Backend, RunFailed, Task
from runner.console import elapsed, table
from runner.plan import Plan, Run
from runner.report import compare


class RunnerError(Exception):
    pass


# Set by SIGINT, SIGTERM and SIGHUP (a closed terminal). Libraries on the way (nbclient's event
# loop) may swallow the KeyboardInterrupt; the flag still stops the runner before a run is
# recorded as complete.
INTERRUPTED = threading.Event()
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_shielded = threading.Event()


def install_signal_handlers() -> None:
    def handler(signum, frame):
        INTERRUPTED.set()
        if not _shielded.is_set():  # a second signal must not cut the clean-up short
            raise KeyboardInterrupt

    for sig in SIGNALS:
        signal.signal(sig, handler)


def check_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@dataclass
class Outcome:
    executed: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    redrawn: list[str] = field(default_factory=list)  # up to date; figures drawn again
    failed: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)  # the summary table
    report: list[str] = field(default_factory=list)  # the backend's closing lines (cost)


def acquire(profile: str) -> FileLock:
    folder = layout.profile_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    lk = FileLock(layout.lock_file(profile), timeout=0)
    try:
        lk.acquire()
    except Timeout:
        raise RunnerError(
            f"another runner is working on {folder} (lock file {layout.lock_file(profile)}); "
            "wait for it to finish, then rerun"
        ) from None
    return lk


def _val_accuracy(folder: Path) -> str:
    try:
        value = json.loads((folder / "metrics.json").read_text())["val"]["accuracy"]
        return f"{value:.3f}"
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def run_plan(
    plan: Plan,
    names: list[str] | None,
    data_dir: Path,
    force: bool = False,
    keep_going: bool = False,
    skip_bad_entries: bool = False,
    backend: Backend | None = None,
    log=None,
    summary: bool = True,
) -> Outcome:
    """Execute the selected runs that are not current. Raises nothing for a failed notebook:
    the Outcome lists it, and the caller decides the exit code. `log` is a Console or any
    callable taking one line. `summary=False` leaves the cross-run summary to the next run or
    `runner render`, which recompute it when its inputs changed."""
    say = log if log is not None else print
    backend = backend or local.LocalBackend()
    selected = plan.select(names)
    # Every run's fingerprint, not only the selected ones': a selected run whose computation
    # another run of the plan already holds is copied from it, not computed again.
    inputs = state.inputs(plan.runs.values(), data_dir, skip_bad_entries)
    everyone = {name: i.fingerprint for name, i in inputs.items()}
    fingerprints = {r.name: everyone[r.name] for r in selected}
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in selected:
        groups[fingerprints[r.name]].append(r)

    out = Outcome()
    lk = acquire(plan.profile)
    try:
        lifecycle.clean_partials(plan.profile)
        tasks: list[Task] = []
        for fp, runs in groups.items():
            current = [r for r in runs if state.is_current(layout.run_dir(r.profile, r.name), fp)]
            source = current or [
                r
                for r in plan.runs.values()
                if r not in runs
                and everyone[r.name] == fp
                and state.is_current(layout.run_dir(r.profile, r.name), fp)
            ]
            if source and not force:
                out.skipped += [r.name for r in current]
                for r in current:  # only figure code changed: redrawn from the record
                    folder = layout.run_dir(r.profile, r.name)
                    if state.figures_current(folder, inputs[r.name]):
                        continue
                    try:
                        lifecycle.RunFolder(r).redraw(inputs[r.name].figures)
                        out.redrawn.append(r.name)
                    except lifecycle.RunFailed as exc:
                        out.skipped.remove(r.name)
                        out.failed.append(r.name)
                        out.messages.append(str(exc))
                        out.rows.append([r.name, "FAILED", "", "figures", ""])
                        say(f"FAILED: {exc}")
                for r in runs:
                    if r not in current:
                        lifecycle.RunFolder(r).share(source[0], fp)
                        out.copied.append(r.name)
                continue
            tasks.append(Task(runs[0], fp, lifecycle.RunFolder(runs[0]), shared=runs[1:]))
        for r in out.skipped:
            done = "up to date, figures redrawn" if r in out.redrawn else "up to date"
            say(f"{done}: {plan.profile}/{r}")
            out.rows.append([r, done, "", "", _val_accuracy(layout.run_dir(plan.profile, r))])

        if tasks:
            injected = {
                "profile": plan.profile,
                "data_dir": local.rel(data_dir),
                "code_version": git_commit(),
                "skip_bad_entries": skip_bad_entries,
            }
            _run_tasks(tasks, backend, injected, keep_going, say, out)
        if summary:
            compare.refresh(layout.profile_dir(plan.profile), plan, data_dir)
    finally:
        lk.release()
    return out


def _run_tasks(tasks, backend, injected, keep_going, say, out: Outcome) -> None:
    submitted = False
    try:
        backend.start(tasks, injected, say)
        for task in tasks:
            submitted = True
            backend.submit(task)
        for task in backend.wait():
            check_interrupted()
            if not _finish(task, backend, say, out) and not (keep_going or backend.independent):
                break
    except BaseException:
        if submitted:
            # Ctrl-C, SIGTERM, SIGHUP or a crash after the first submit: stop what still runs,
            # whatever else happens meanwhile (remote jobs would bill with nobody to collect).
            _shielded.set()
            try:
                backend.stop()
            finally:
                _shielded.clear()
        raise
    finally:
        out.report = backend.close()
        for line in out.report:
            say(line)


def _finish(task: Task, backend: Backend, say, out: Outcome) -> bool:
    """One ended task through the lifecycle: complete, or kept as failed. True if it succeeded."""
    folder = task.folder
    try:
        seconds = backend.collect(task)
        check_interrupted()
        folder.complete(task.fingerprint, seconds, task.cpu)
        resume.discard(layout.seeds_dir(task.run.profile, task.run.name))
    except RunFailed as exc:
        check_interrupted()  # Ctrl-C reaches the kernel too: not a failure
        kept = folder.fail()
        message = str(exc)
        if kept is not None:
            notebook = kept / f"{task.run.notebook}.ipynb"
            what = "executed notebook" if notebook.exists() else "output"
            message += f"\n  {what} kept at {local.rel(kept)}/"
            if (kept / layout.RUN_LOG).exists():
                message += f"\n  full log: {local.rel(kept / layout.RUN_LOG)}"
        out.failed.append(task.run.name)
        out.messages.append(message)
        out.rows.append([task.run.name, "FAILED", elapsed(task.seconds), task.note, ""])
        say(f"FAILED: {message}")
        return False
    out.executed.append(task.run.name)
    val = _val_accuracy(folder.final)
    out.rows.append([task.run.name, "done", elapsed(seconds), task.note, val])
    say(
        f"done: {task.label} in {seconds:.0f} s"
        + (f" ({task.note})" if task.note else "")
        + (f", val accuracy {val}" if val else "")
    )
    for r in task.shared:
        lifecycle.RunFolder(r).share(task.run, task.fingerprint)
        out.copied.append(r.name)
        out.rows.append([r.name, f"shared with {task.run.name}", "", "", val])
    return True


def summary_table(out: Outcome) -> str:
    return table(out.rows, ["run", "result", "time", "detail", "val acc"])


def recompute_hint(plan: Plan, names: list[str]) -> str:
    """What it would take to recompute up-to-date runs: the flag, and the time their recorded
    runs took (run.json), on the machines that ran them."""
    seconds, machines = 0.0, set()
    for name in names:
        try:
            record = json.loads(
                (layout.run_dir(plan.profile, name) / layout.RUN_RECORD).read_text()
            )
            metrics = json.loads((layout.run_dir(plan.profile, name) / "metrics.json").read_text())
        except (OSError, ValueError):
            continue
        if not record.get("same_computation_as"):
            seconds += record.get("seconds", 0.0)
            machines.add(metrics.get("provenance", {}).get("machine", "unknown machine"))
    took = f"{seconds / 3600:.1f} h" if seconds >= 7200 else f"{seconds / 60:.0f} min"
    return (
        f"every selected run is up to date; to recompute them: make all ARGS=--force "
        f"PROFILE={plan.profile} (they took {took} on "
        f"{'; '.join(sorted(machines)) or 'an unrecorded machine'})"
    )
