"""The results layout, in one place: where a profile's runs, their temporary and failed folders,
the cross-run study folder, the lock, the SageMaker ledger and the published-results marker live,
and which folders count as runs. The runner, the renderer and the MkDocs hook all read it here.

    results/<profile>/
        <run>/              a complete run (run.json written last)
        .<run>.partial/     a run being written; discarded on the next start
        <run>.failed/       what a failed run left (the executed notebook, run.log)
        <run>.seeds/        the seeds an interrupted run finished (runner.resume); removed
                            when the run completes
        _study/             cross-run comparisons (summary.json, figures)
        .lock               held while a runner works on the profile
        .sagemaker-jobs.json  SageMaker jobs submitted and not yet collected
    report/.published.json  which results folder the rendered pages show

Only the standard library and analysis.paths are imported: the MkDocs hook loads this module.
"""

from __future__ import annotations

from pathlib import Path

from analysis import paths

STUDY_DIR = "_study"
PUBLISHED = ".published.json"
RUN_RECORD = "run.json"  # written last into a run folder; its presence marks a complete run
RUN_LOG = "run.log"  # the full Papermill, kernel and TensorFlow log of a local run
LOCK = ".lock"
NOTEBOOK_CSS = "notebook.css"  # in a profile folder: the stylesheet every run's notebook.html links
LEDGER = ".sagemaker-jobs.json"
PARTIAL_SUFFIX = ".partial"
FAILED_SUFFIX = ".failed"
SEEDS_SUFFIX = ".seeds"


def profile_dir(profile: str, results: Path | None = None) -> Path:
    return (results or paths.results_dir()) / profile


def run_dir(profile: str, run: str) -> Path:
    return profile_dir(profile) / run


def partial_dir(profile: str, run: str) -> Path:
    return profile_dir(profile) / f".{run}{PARTIAL_SUFFIX}"


def failed_dir(profile: str, run: str) -> Path:
    return profile_dir(profile) / f"{run}{FAILED_SUFFIX}"


def seeds_dir(profile: str, run: str) -> Path:
    return profile_dir(profile) / f"{run}{SEEDS_SUFFIX}"


def study_dir(folder: Path) -> Path:
    return folder / STUDY_DIR


def lock_file(profile: str) -> Path:
    return profile_dir(profile) / LOCK


def ledger_file(profile: str) -> Path:
    return profile_dir(profile) / LEDGER


def partials(profile: str) -> list[Path]:
    return sorted(profile_dir(profile).glob(f".*{PARTIAL_SUFFIX}"))


def is_run_folder(folder: Path) -> bool:
    """A run's results, not a temporary, failed, hidden or cross-run folder."""
    name = folder.name
    return not name.startswith((".", "_")) and not name.endswith((FAILED_SUFFIX, SEEDS_SUFFIX))


def run_folders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and is_run_folder(p))


def published_folders(folder: Path, runs=None) -> list[tuple[str, Path]]:
    """(site folder, results folder) for everything the site publishes: each run under
    runs/<run>/ (those named in `runs`, when given), the cross-run study under study/."""
    out = [(f"runs/{p.name}", p) for p in run_folders(folder) if runs is None or p.name in runs]
    if study_dir(folder).is_dir():
        out.append(("study", study_dir(folder)))
    return out


PUBLISHED_FILES = ("metrics.json", "notebook.html")  # of a run folder, beside its figures


def published_files(folder: Path, runs=None) -> list[tuple[str, Path]]:
    """(site path, file) for every file the site takes from a results folder: each published
    folder's metrics, executed notebook and figures, and the notebooks' shared stylesheet."""
    out = []
    for target, src_dir in published_folders(folder, runs):
        sources = [src_dir / name for name in PUBLISHED_FILES if (src_dir / name).exists()]
        sources += sorted((src_dir / "figures").glob("*.png"))
        out += [(f"{target}/{src.relative_to(src_dir).as_posix()}", src) for src in sources]
    if (folder / NOTEBOOK_CSS).exists():  # runs/<run>/notebook.html links ../notebook.css
        out.append((f"runs/{NOTEBOOK_CSS}", folder / NOTEBOOK_CSS))
    return out
