"""runner.loadwatch: a local run warns when another process shares the CPU, and records it."""

from __future__ import annotations

import json
import time

import nbformat

from runner import lifecycle
from runner.loadwatch import LoadWatch
from runner.plan import Run


def watch(loads: list[float], cores: int = 2, settle: float = 0.0) -> tuple[LoadWatch, list]:
    said: list[str] = []
    values = iter(loads)
    w = LoadWatch(
        said.append,
        "standard/cnn",
        every=60.0,
        settle=settle,
        cores=cores,
        load=lambda: next(values),
    )
    return w, said


def test_a_load_above_the_cores_warns_once_and_is_recorded():
    w, said = watch([1.9, 3.4, 3.8, 3.6])
    for _ in range(4):
        w._sample()
    assert len(said) == 1 and "standard/cnn" in said[0] and "3.4" in said[0]
    s = w.summary()
    assert s["samples"] == 4 and s["load_max"] == 3.8 and s["load_mean"] == 3.17
    assert s["shared"] is True and s["cores"] == 2 and s["rule"]


def test_the_runs_own_load_is_not_a_warning():
    w, said = watch([2.0, 2.3, 2.5, 1.1])  # 2 cores: the run itself, and its input pipeline
    for _ in range(4):
        w._sample()
    assert said == [] and w.summary()["shared"] is False


def test_one_busy_sample_warns_but_a_mostly_idle_run_is_not_shared():
    w, said = watch([2.0, 2.0, 5.0, 1.5, 1.5, 1.5])
    for _ in range(6):
        w._sample()
    assert len(said) == 1 and w.summary()["shared"] is False  # mean 2.25 < 2 cores + 0.5


def test_the_watch_samples_from_start_to_end():
    w, said = watch([4.0, 4.0, 4.0])
    with w:
        time.sleep(0.5)  # a sample when it starts, one when it ends (the next is a minute away)
    assert w.summary()["samples"] == 2 and len(said) == 1


def test_a_run_shorter_than_a_minute_is_recorded_but_not_announced():
    w, said = watch([4.0, 4.0], settle=60.0)
    with w:
        pass  # the 1-minute average would still describe what ran before this run
    assert w.summary()["samples"] == 1 and w.summary()["shared"] is True and said == []


def test_run_json_records_the_load(tmp_path):
    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), notebook)
    run = Run("r", notebook, "R", "", "loadwatch", {})
    folder = lifecycle.RunFolder(run)
    partial = folder.begin()
    (partial / "nb.ipynb").write_bytes(notebook.read_bytes())
    (partial / "metrics.json").write_text("{}")
    cpu = {"cores": 2, "load_mean": 3.1, "load_max": 3.9, "samples": 9, "shared": True}
    folder.complete("fp", 12.0, cpu)
    record = json.loads((folder.final / "run.json").read_text())
    assert record["cpu"] == cpu and record["seconds"] == 12.0

    partial = folder.begin()  # a backend that did not watch (SageMaker) records nothing
    (partial / "nb.ipynb").write_bytes(notebook.read_bytes())
    (partial / "metrics.json").write_text("{}")
    folder.complete("fp", 12.0)
    assert "cpu" not in json.loads((folder.final / "run.json").read_text())


def test_the_local_backend_watches_every_run(tmp_path, monkeypatch):
    from runner.backends import local
    from runner.backends.base import Task

    notebook = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), notebook)
    run = Run("r", notebook, "R", "", "loadwatch", {"epochs": 1})
    monkeypatch.setattr(local, "execute", lambda *a, **k: None)
    monkeypatch.setattr("runner.loadwatch.os.getloadavg", lambda: (9.0, 0.0, 0.0))
    said: list[str] = []
    backend = local.LocalBackend()
    backend.start([], {}, said.append)
    task = Task(run, "fp", lifecycle.RunFolder(run))
    backend.submit(task)
    [done] = list(backend.wait())
    assert done.cpu["shared"] is True and done.cpu["load_max"] == 9.0
    assert not any(line.startswith("warning:") for line in said)  # over within its first minute
