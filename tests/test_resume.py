"""Long runs survive an interruption (runner.resume): finished seeds are kept, never recomputed,
and the resumed run's numbers are an uninterrupted run's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from analysis import experiment, models, paths
from runner import resume
from tests.test_experiment import data  # noqa: F401  (the tiny StudyData fixture)

PARAMS = {
    "seeds": [0, 1],
    "epochs": 2,
    "batch_size": 4,
    "learning_rate": 0.002,
    "warmup_epochs": 0,
    "schedule": "cosine",
    "weight_decay": 0.0001,
    "label_smoothing": 0.1,
    "class_weighting": "sqrt",
    "class_weight_cap": 10,
    "augment": "none",
    "patience": 0,
    "shift_fraction": 0.25,
}


def build(seed):
    return models.build_cnn(4, 3, (3, 3), (4, 8), seed=seed)


@pytest.fixture
def wrapped(monkeypatch):
    """train_seeds as the runner's cell leaves it, undone after the test."""
    original = experiment.train_seeds
    yield lambda store: resume.install(str(store))
    monkeypatch.setattr(experiment, "train_seeds", original)


class Interrupt(Exception):
    pass


def test_a_resumed_run_equals_an_uninterrupted_one(data, wrapped, tmp_path):  # noqa: F811
    plain = experiment.train_seeds(build, data, PARAMS, log=lambda s: None)
    wrapped(tmp_path / "store")

    def stop_at_seed_1(line):
        if line.startswith("--- seed 1"):
            raise Interrupt  # Ctrl-C as the second seed starts

    with pytest.raises(Interrupt):
        experiment.train_seeds(build, data, PARAMS, log=stop_at_seed_1)
    assert resume.finished(tmp_path / "store") == [0]

    lines = []
    resumed = experiment.train_seeds(build, data, PARAMS, log=lines.append)
    assert any("seed 0: reused" in x for x in lines)
    assert not any(x.startswith("--- seed 0 ---") for x in lines)  # never trained again
    assert resume.finished(tmp_path / "store") == [0, 1]
    for a, b in zip(plain, resumed, strict=True):
        assert a.seed == b.seed
        assert a.fit.history == b.fit.history
        assert (a.fit.best_epoch, a.fit.plateaued) == (b.fit.best_epoch, b.fit.plateaued)
        for split in ("train", "val", "test"):
            np.testing.assert_array_equal(a.predictions[split], b.predictions[split])
        np.testing.assert_array_equal(a.test_probabilities, b.test_probabilities)
        assert a.translation == b.translation
        for wa, wb in zip(a.model.get_weights(), b.model.get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
    metrics = [experiment.model_metrics(data, r) for r in (plain, resumed)]
    for m in metrics:
        m.pop("timing", None)
    assert json.dumps(metrics[0], sort_keys=True, default=str) == json.dumps(
        metrics[1], sort_keys=True, default=str
    )


def test_a_store_of_another_fingerprint_is_emptied(tmp_path):
    store = tmp_path / "run.seeds"
    (store / "seed-0").mkdir(parents=True)
    (store / "seed-0" / resume.RESULT).write_text("{}")
    (store / resume.FINGERPRINT).write_text("old")
    assert resume.prepare(store, "old") == [0]
    assert resume.prepare(store, "new") == []
    assert not (store / "seed-0").exists()


def test_the_cell_goes_after_the_parameters_and_the_notebook_on_disk_is_untouched(tmp_path):
    notebook = paths.NOTEBOOKS_DIR / "model.ipynb"
    before = notebook.read_bytes()
    copy = resume.with_resume_cell(notebook, tmp_path / "model.ipynb", "results/x/cnn.seeds")
    cells = json.loads(copy.read_text())["cells"]
    tags = [c["metadata"].get("tags", []) for c in cells]
    at = next(i for i, t in enumerate(tags) if "parameters" in t)
    assert resume.TAG in tags[at + 1]
    assert "results/x/cnn.seeds" in "".join(cells[at + 1]["source"])
    assert notebook.read_bytes() == before


@pytest.mark.reliability
def test_the_runner_resumes_at_the_next_unfinished_seed(real_data, tmp_path):
    """The real runner, interrupted with SIGINT once seed 0 is stored, then run again."""
    plan = yaml.safe_load(paths.PLAN_FILE.read_text())
    plan["profiles"]["smoke"]["seeds"] = [0, 1]
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(plan, sort_keys=False))
    env = {
        **os.environ,
        "RESULTS_DIR": str(tmp_path / "results"),
        "CACHE_DIR": os.environ.get("CACHE_DIR", str(tmp_path / "cache")),
        "DATA_DIR": str(real_data),
    }
    cmd = [sys.executable, "-m", "runner", "run", "cnn", "--profile", "smoke"]
    cmd += ["--plan", str(plan_file)]
    store = tmp_path / "results" / "smoke" / "cnn.seeds"
    proc = subprocess.Popen(cmd, env=env, cwd=paths.ROOT, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (store / "seed-0" / resume.RESULT).exists():
        assert proc.poll() is None, "the run ended before its first seed was stored"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    first, _ = proc.communicate(timeout=120)
    assert proc.returncode == 3, first
    assert not (tmp_path / "results" / "smoke" / "cnn" / "metrics.json").exists()

    again = subprocess.run(cmd, env=env, cwd=paths.ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "seed 0 reused from an interrupted run" in again.stdout
    metrics = json.loads((tmp_path / "results" / "smoke" / "cnn" / "metrics.json").read_text())
    assert [s["seed"] for s in metrics["per_seed"]] == [0, 1]
    assert not store.exists()  # a completed run leaves no store behind
