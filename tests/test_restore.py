"""`runner restore-model`: a missing network comes back by training its seed again, and is kept
only when that seed reproduces the run's record (the smoke profile, real Papermill and Keras)."""

from __future__ import annotations

import json
import shutil

import keras
import numpy as np
import pytest

from runner import __main__ as cli
from runner import execute, layout, restore
from runner.plan import load


@pytest.fixture(scope="module")
def trained(real_data, tmp_path_factory):
    """The smoke profile's kernel-5x5 run, computed once for this file (not the session's smoke
    fixture: these tests then run beside the smoke profile's, on another worker)."""
    results = tmp_path_factory.mktemp("restore") / "results"
    mp = pytest.MonkeyPatch()
    mp.setenv("RESULTS_DIR", str(results))
    mp.setenv("CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))  # as the smoke run's
    plan = load(profile="smoke")
    outcome = execute.run_plan(plan, ["kernel-5x5"], real_data, summary=False)
    mp.undo()
    assert outcome.failed == [], outcome.messages
    return plan, results / "smoke"


@pytest.fixture
def results(trained, tmp_path, monkeypatch):
    """A copy of the run, which a test may change."""
    plan, folder = trained
    copy = tmp_path / "results"
    shutil.copytree(folder, copy / "smoke")
    monkeypatch.setenv("RESULTS_DIR", str(copy))
    return plan, copy / "smoke"


def weights(path):
    return keras.saving.load_model(path, compile=False).get_weights()


def test_a_deleted_network_is_trained_again_and_kept_when_it_reproduces(results, real_data):
    plan, folder = results
    model = folder / "kernel-5x5" / restore.MODEL_FILE
    before = weights(model)
    model.unlink()
    said = []
    assert restore.restore(plan, "kernel-5x5", real_data, said.append) == model
    assert all(np.array_equal(a, b) for a, b in zip(before, weights(model), strict=True))
    assert "reproduced its record" in said[-1]
    assert not list(folder.glob(".*restore*"))
    # there already: nothing is trained
    assert restore.restore(plan, "kernel-5x5", real_data, said.append) == model
    assert "already there" in said[-1]


def test_a_seed_that_differs_from_its_record_keeps_nothing(results, real_data, capsys):
    plan, folder = results
    (folder / "kernel-5x5" / restore.MODEL_FILE).unlink()
    record = json.loads((folder / "kernel-5x5" / "metrics.json").read_text())
    record["per_seed"][0]["val"]["accuracy"] += 0.5  # not what this code computes
    (folder / "kernel-5x5" / "metrics.json").write_text(json.dumps(record))
    code = cli.main(["restore-model", "kernel-5x5", "--profile", "smoke"])
    assert code == 1
    err = capsys.readouterr().err
    assert "does not reproduce its record" in err and "val accuracy" in err
    assert not (folder / "kernel-5x5" / restore.MODEL_FILE).exists()
    assert not list(folder.glob(".*restore*"))


def test_a_run_that_is_not_up_to_date_or_not_in_the_plan_is_refused(results, real_data):
    plan, folder = results
    (folder / "kernel-5x5" / restore.MODEL_FILE).unlink()
    record = json.loads((folder / "kernel-5x5" / layout.RUN_RECORD).read_text())
    record["fingerprint"] = "0" * 24
    (folder / "kernel-5x5" / layout.RUN_RECORD).write_text(json.dumps(record))
    with pytest.raises(restore.RestoreError, match="not up to date"):
        restore.restore(plan, "kernel-5x5", real_data)
    with pytest.raises(restore.RestoreError, match="no run 'nope'"):
        restore.restore(plan, "nope", real_data)


def test_differences_name_each_number_that_moved():
    a = {"train": {"accuracy": 0.5}, "val": {"accuracy": 0.4, "macro_f1": 0.3}, "test": {}}
    b = {"train": {"accuracy": 0.5}, "val": {"accuracy": 0.4, "macro_f1": 0.31}, "test": {"x": 1}}
    assert restore.differences(a, a) == []
    assert restore.differences(a, b) == [
        "val macro_f1: recorded 0.3, retrained 0.31",
        "test x: recorded None, retrained 1",
    ]
