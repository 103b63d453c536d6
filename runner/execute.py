"""Run the plan: skip what is current, execute the rest, move results into place atomically."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from analysis import paths
from analysis.provenance import git_commit, now, write_json
from runner import compare, local, state
from runner.plan import Plan, Run


class RunnerError(Exception):
    pass


# Set by SIGINT/SIGTERM. Libraries on the way (nbclient's event loop) may swallow the
# KeyboardInterrupt; the flag still stops the runner before a run is recorded as complete.
INTERRUPTED = threading.Event()


def install_signal_handlers() -> None:
    def handler(signum, frame):
        INTERRUPTED.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def check_interrupted() -> None:
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt


@dataclass
class Outcome:
    executed: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def profile_dir(profile: str) -> Path:
    return paths.results_dir() / profile


def lock(profile: str) -> FileLock:
    folder = profile_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(folder / ".lock", timeout=0)


def acquire(profile: str) -> FileLock:
    lk = lock(profile)
    try:
        lk.acquire()
    except Timeout:
        raise RunnerError(
            f"another runner is working on {profile_dir(profile)} (lock file "
            f"{profile_dir(profile) / '.lock'}); wait for it to finish, then rerun"
        ) from None
    return lk


def clean_partials(profile: str) -> None:
    """Folders left by an interrupted run are discarded; the run restarts cleanly."""
    for stale in profile_dir(profile).glob(".*.partial"):
        shutil.rmtree(stale, ignore_errors=True)


def swap_into_place(src: Path, dst: Path) -> None:
    """Replace dst by src with renames only, so dst is always complete (old or new)."""
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        dst.rename(old)
    src.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


def to_html(notebook: Path, out: Path) -> None:
    """The executed notebook as a standalone page beside its figures: no scripts or fonts
    from other hosts, and figure links relative to the run folder."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    # The notebook showed its figures under its output_dir, the temporary .partial folder
    # that has since been renamed: point them at figures/ beside this page instead.
    out_dir = nb.metadata.get("papermill", {}).get("parameters", {}).get("output_dir")
    if out_dir:
        prefix = str(out_dir).rstrip("/") + "/"
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                text = output.get("data", {}).get("text/markdown")
                if text:
                    output["data"]["text/markdown"] = text.replace(f"]({prefix}", "](")
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.mathjax_url = ""
    exporter.require_js_url = ""
    exporter.widget_renderer_url = ""
    exporter.mermaid_js_url = ""
    exporter.mermaid_layout_elk_js_url = ""
    body, _ = exporter.from_notebook_node(nb)
    out.write_text(body, encoding="utf-8")


def finish(run: Run, folder: Path, fingerprint: str, seconds: float) -> None:
    """Check the notebook delivered its metrics, then record the run as complete."""
    executed = folder / f"{run.notebook}.ipynb"
    if not (folder / "metrics.json").exists():
        raise local.NotebookFailed(
            run, f"run {run.name!r} finished without writing metrics.json", executed
        )
    to_html(executed, folder / "notebook.html")
    write_json(
        folder / state.RUN_RECORD,
        {
            "run": run.name,
            "fingerprint": fingerprint,
            "notebook": run.notebook,
            "params": run.params,
            "seconds": round(seconds, 1),
            "finished": now(),
        },
    )


def copy_result(src_run: Run, src: Path, run: Run, fingerprint: str) -> None:
    """A run whose inputs equal another's shares its computation: copy, relabel."""
    tmp = profile_dir(run.profile) / f".{run.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    metrics = json.loads((tmp / "metrics.json").read_text())
    metrics["run"] = run.name
    metrics["same_computation_as"] = src_run.name
    write_json(tmp / "metrics.json", metrics)
    record = json.loads((tmp / state.RUN_RECORD).read_text())
    record.update(run=run.name, same_computation_as=src_run.name, fingerprint=fingerprint)
    write_json(tmp / state.RUN_RECORD, record)
    swap_into_place(tmp, profile_dir(run.profile) / run.name)


def run_plan(
    plan: Plan,
    names: list[str] | None,
    data_dir: Path,
    force: bool = False,
    keep_going: bool = False,
    skip_bad_entries: bool = False,
    backend=None,
    log=print,
) -> Outcome:
    """Execute the selected runs that are not current. Raises nothing for a failed notebook:
    the Outcome lists it, and the caller decides the exit code."""
    selected = plan.select(names)
    code_version = git_commit()
    fingerprints = state.fingerprints(selected, data_dir, skip_bad_entries)
    groups: dict[str, list[Run]] = defaultdict(list)
    for r in selected:
        groups[fingerprints[r.name]].append(r)

    out = Outcome()
    lk = acquire(plan.profile)
    try:
        clean_partials(plan.profile)
        todo = []
        for fp, runs in groups.items():
            current = [r for r in runs if state.is_current(profile_dir(r.profile) / r.name, fp)]
            if current and not force:
                out.skipped += [r.name for r in current]
                stale = [r for r in runs if r not in current]
                for r in stale:
                    copy_result(current[0], profile_dir(r.profile) / current[0].name, r, fp)
                    out.copied.append(r.name)
                continue
            todo.append((fp, runs))
        for r in out.skipped:
            log(f"up to date: {plan.profile}/{r}")

        injected_base = {
            "profile": plan.profile,
            "data_dir": local.rel(data_dir),
            "code_version": code_version,
            "skip_bad_entries": skip_bad_entries,
        }
        if backend is not None and todo:
            # Remote backends run every job at once and return the folders they filled.
            backend.run_all([(fp, runs[0]) for fp, runs in todo], injected_base, out, log)
            done = [(fp, runs) for fp, runs in todo if runs[0].name not in out.failed]
        else:
            done = []
            for i, (fp, runs) in enumerate(todo, start=1):
                run = runs[0]
                also = f" (also {', '.join(r.name for r in runs[1:])})" if runs[1:] else ""
                log(f"[{i}/{len(todo)}] {plan.profile}/{run.name}{also}: {run.notebook}.ipynb")
                tmp = profile_dir(run.profile) / f".{run.name}.partial"
                start = time.perf_counter()
                try:
                    local.execute(run, tmp, {**injected_base, "run_name": run.name})
                    check_interrupted()
                    finish(run, tmp, fp, time.perf_counter() - start)
                except local.NotebookFailed as exc:
                    check_interrupted()  # Ctrl-C reaches the kernel too: not a failure
                    failed_dir = profile_dir(run.profile) / f"{run.name}.failed"
                    shutil.rmtree(failed_dir, ignore_errors=True)
                    if tmp.exists():
                        tmp.rename(failed_dir)
                    msg = f"{exc}\n  executed notebook kept at {local.rel(failed_dir)}/"
                    out.failed.append(run.name)
                    out.messages.append(msg)
                    log(f"FAILED: {msg}")
                    if not keep_going:
                        break
                    continue
                check_interrupted()
                swap_into_place(tmp, profile_dir(run.profile) / run.name)
                shutil.rmtree(profile_dir(run.profile) / f"{run.name}.failed", ignore_errors=True)
                log(f"done: {plan.profile}/{run.name} in {time.perf_counter() - start:.0f} s")
                done.append((fp, runs))
        for fp, runs in done:
            out.executed.append(runs[0].name)
            for r in runs[1:]:
                copy_result(runs[0], profile_dir(r.profile) / runs[0].name, r, fp)
                out.copied.append(r.name)
        compare.refresh(profile_dir(plan.profile), plan)
    finally:
        lk.release()
    return out
