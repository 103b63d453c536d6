"""What every backend offers the runner (runner/execute.py), and what it is handed.

    start(tasks, injected, console)  once, before the first submit (upload data, find jobs
                                     already running for these tasks); `console` prints a
                                     line (a runner.console.Console also shows live lines)
    submit(task)                     hand one run over; the backend may start it at once or
                                     queue it (SageMaker: --max-jobs at a time)
    wait()                           yields each task as it ends, in the order they end
    collect(task)                    put its output into the run's temporary folder and
                                     return the seconds it took, or raise RunFailed (the output
                                     it has, such as the executed notebook, is left there first)
    stop()                           on an interrupt: stop whatever still runs
    close()                          lines for the end of the run (SageMaker: the cost)

A backend gets the empty temporary folder it fills from `task.folder.begin()` when it needs it
(local: as the notebook starts; SageMaker: as the output comes back). Everything else about run
folders (complete, failed, shared, discarded) is runner.lifecycle's, driven by runner/execute.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from runner.lifecycle import RunFailed, RunFolder
from runner.plan import Run

__all__ = ["Backend", "RunFailed", "Task"]


@dataclass
class Task:
    """One computation: a run, and the runs with identical inputs that share its result."""

    run: Run
    fingerprint: str
    folder: RunFolder
    shared: list[Run] = field(default_factory=list)
    # Filled in by the backend:
    error: RunFailed | None = None
    seconds: float = 0.0
    note: str = ""  # e.g. the SageMaker job name, for the summary
    cpu: dict | None = None  # the load while a local run executed (runner.loadwatch)

    @property
    def label(self) -> str:
        return f"{self.run.profile}/{self.run.name}"


class Backend(Protocol):
    # A remote backend's jobs run on their own: one failure does not stop the others.
    independent: bool

    def start(
        self, tasks: list[Task], injected: dict, console: Callable[[str], object]
    ) -> None: ...

    def submit(self, task: Task) -> None: ...

    def wait(self) -> Iterator[Task]: ...

    def collect(self, task: Task) -> float: ...

    def stop(self) -> None: ...

    def close(self) -> list[str]: ...
