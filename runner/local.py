"""The local backend: execute a run's notebook with Papermill in a real Jupyter kernel."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from analysis import paths
from runner.plan import Run

KERNEL = "msl-study"  # installed into the venv by `make venv`; see README


class NotebookFailed(Exception):
    def __init__(self, run: Run, message: str, notebook: Path):
        super().__init__(message)
        self.run, self.notebook = run, notebook


def rel(path: Path) -> str:
    """Paths recorded in executed notebooks stay readable and machine-independent."""
    try:
        relative = os.path.relpath(path, paths.ROOT)
    except ValueError:
        return str(path)
    return str(Path(path).resolve()) if relative.startswith("../..") else relative


def first_line(source: str, width: int = 60) -> str:
    line = next((x for x in source.splitlines() if x.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def execute(run: Run, out_dir: Path, injected: dict, kernel: str = KERNEL) -> Path:
    """Run the notebook into `out_dir`; the executed copy is `<notebook>.ipynb` there."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    logging.getLogger("papermill").setLevel(logging.INFO)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernel inherits it: less noise
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{run.notebook}.ipynb"
    params = {**run.params, **injected, "output_dir": rel(out_dir)}
    try:
        papermill.execute_notebook(
            str(run.notebook_path),
            str(executed),
            parameters=params,
            kernel_name=kernel,
            cwd=str(paths.ROOT),
            progress_bar=True,
            log_output=True,
            request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as exc:
        raise NotebookFailed(
            run,
            f"run {run.name!r} failed in cell {exc.cell_index} (execution count "
            f"{exc.exec_count}: `{first_line(exc.source)}`) of {rel(run.notebook_path)}: "
            f"{exc.ename}: {exc.evalue}",
            executed,
        ) from None
    return executed
