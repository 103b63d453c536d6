"""The local backend: execute a run's notebook with Papermill in a real Jupyter kernel.

Everything the execution prints (Papermill's cell log, the notebook's output, the kernel's own
stderr with TensorFlow's C++ messages) goes to run.log in the run folder; the console shows one
live line per run. With `verbose`, Papermill's log goes to the console as well, as it used to.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from analysis import paths
from runner import layout, resume
from runner.backends.base import Task
from runner.console import Console, RunProgress
from runner.lifecycle import RunFailed
from runner.loadwatch import LoadWatch
from runner.plan import Run

KERNEL = "msl-study"  # installed into the venv by `make venv`; see README

# The kernel's environment: TensorFlow's C++ and gRPC logging above warnings only. These only
# change what is printed, never what is computed (oneDNN and thread settings stay as they are).
QUIET_KERNEL_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "2",
}


class NotebookFailed(RunFailed):
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


class _LogTap(logging.Handler):
    """Papermill's log records (cell markers, the notebook's stdout and stderr) into run.log,
    and into the run's progress."""

    def __init__(self, log: TextIO, progress: RunProgress | None, console: Console | None):
        super().__init__(logging.DEBUG)
        self.log, self.progress, self.console = log, progress, console

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        try:
            self.log.write(text if text.endswith("\n") else text + "\n")
            self.log.flush()
        except (OSError, ValueError):
            pass
        if self.progress is not None:
            self.progress.feed(text if text.endswith("\n") else text + "\n")
            if self.console is not None:
                self.console.refresh()


def _kernel_manager(log: TextIO | None):
    """A kernel manager whose kernel writes its own stdout and stderr (TensorFlow's C++ log,
    the kernel's warnings) to `log`, in the quiet environment."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd, **kw):
            env = dict(kw.get("env") or os.environ)
            for key, value in QUIET_KERNEL_ENV.items():
                env.setdefault(key, value)
            kw["env"] = env
            if log is not None:
                kw["stdout"] = kw["stderr"] = log
            return await super()._async_launch_kernel(kernel_cmd, **kw)

    return QuietKernelManager


def execute(
    run: Run,
    out_dir: Path,
    injected: dict,
    kernel: str = KERNEL,
    console: Console | None = None,
    progress: RunProgress | None = None,
    store: Path | None = None,
) -> Path:
    """Run the notebook into `out_dir`; the executed copy is `<notebook>.ipynb` there and the
    full log `run.log`."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    verbose = console is None or console.verbose
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{run.notebook}.ipynb"
    params = {**run.params, **injected, "output_dir": rel(out_dir)}
    source = run.notebook_path
    if store is not None:  # finished seeds survive an interruption (runner.resume)
        tmp = tempfile.TemporaryDirectory(prefix="msl-notebook-")
        source = resume.with_resume_cell(source, Path(tmp.name) / source.name, rel(store))
    pm_log = logging.getLogger("papermill")
    with open(out_dir / "run.log", "a", encoding="utf-8", buffering=1) as log:
        tap = _LogTap(log, progress, console)
        pm_log.addHandler(tap)
        pm_log.setLevel(logging.INFO)
        propagate, pm_log.propagate = pm_log.propagate, verbose
        try:
            papermill.execute_notebook(
                str(source),
                str(executed),
                parameters=params,
                kernel_name=kernel,
                cwd=str(paths.ROOT),
                progress_bar=verbose,
                log_output=True,
                request_save_on_cell_execute=True,
                kernel_manager_class=_kernel_manager(None if verbose else log),
            )
        except PapermillExecutionError as exc:
            raise NotebookFailed(
                run,
                f"run {run.name!r} failed in cell {exc.cell_index} (execution count "
                f"{exc.exec_count}: `{first_line(exc.source)}`) of {rel(run.notebook_path)}: "
                f"{exc.ename}: {exc.evalue}",
                executed,
            ) from None
        finally:
            pm_log.removeHandler(tap)
            pm_log.propagate = propagate
    return executed


def _source(notebook: Path) -> str:
    try:
        return notebook.read_text()
    except OSError:
        return ""


def _cells(notebook: Path) -> int:
    try:
        import nbformat

        return len(nbformat.read(notebook, as_version=4).cells) + 1  # + injected parameters
    except Exception:  # only for the progress line
        return 0


class LocalBackend:
    """Runs one notebook at a time here, in the order submitted."""

    independent = False

    def __init__(self, kernel: str = KERNEL):
        self.kernel = kernel
        self.queue: list[Task] = []
        self.injected: dict = {}
        self.say: Callable[[str], object] = print
        self.console: Console | None = None

    def start(self, tasks: list[Task], injected: dict, console: Callable[[str], object]) -> None:
        """`console`: a Console shows a live line per run; any other callable gets the lines."""
        self.injected, self.say = injected, console
        self.console = console if isinstance(console, Console) else None

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def wait(self) -> Iterator[Task]:
        total = len(self.queue)
        for i, task in enumerate(list(self.queue), start=1):
            run, console = task.run, self.console
            also = f" (also {', '.join(r.name for r in task.shared)})" if task.shared else ""
            self.say(f"[{i}/{total}] {task.label}{also}: {run.notebook}.ipynb")
            seeds = run.params.get("seeds")
            progress = RunProgress(
                task.label,
                epochs=run.params.get("epochs") if isinstance(run.params.get("epochs"), int) else 0,
                seeds=len(seeds) if isinstance(seeds, list) else 1,
                cells=_cells(run.notebook_path),
            )
            if console is not None:
                console.live(progress)
            store = None
            if "train_seeds" in _source(run.notebook_path):
                store = layout.seeds_dir(run.profile, run.name)
                reused = resume.prepare(store, task.fingerprint)
                if reused:
                    self.say(
                        f"{task.label}: seed{'s' if len(reused) > 1 else ''} "
                        f"{', '.join(map(str, reused))} reused from an interrupted run "
                        f"({rel(store)}); training the others"
                    )
            start = time.perf_counter()
            watch = LoadWatch(self.say, task.label)
            try:
                with watch:
                    execute(
                        run,
                        task.folder.begin(),
                        {**self.injected, "run_name": run.name},
                        self.kernel,
                        console,
                        progress,
                        store,
                    )
            except RunFailed as exc:
                task.error = exc
            finally:
                task.seconds = time.perf_counter() - start
                task.cpu = watch.summary()
                task.note = progress.summary()
                if console is not None:
                    console.live(None)
            self.queue.remove(task)
            yield task

    def collect(self, task: Task) -> float:
        if task.error is not None:
            raise task.error
        return task.seconds

    def stop(self) -> None:
        """Ctrl-C reaches the kernel as well; nothing else runs."""
        self.queue.clear()

    def close(self) -> list[str]:
        return []
