"""The smoke profile end to end on a slice of the real data: real Papermill and kernel, real
TensorFlow training, the real renderer and a real `mkdocs build --strict`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from analysis import paths
from analysis.stats import verdicts
from analysis.training import record, train
from runner import execute, layout, state
from runner.plan import load
from tests.conftest import SMOKE_RUNS

pytestmark = pytest.mark.e2e
FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"

MODEL_FIELDS = {
    "per_seed",
    "training",
    "shift",
    "artifact",
    "history",
    "run",
    "profile",
    "notebook",
    "params",
    "provenance",
    "model",
    "seeds",
    "train",
    "val",
    "test",
    "per_class",
    "confusion_matrix",
    "baselines",
    "timing",
    "figures",
}
PROVENANCE = {
    "git_commit",
    "data_sha256",
    "machine",
    "python",
    "tensorflow",
    "keras",
    "started",
    "finished",
}


def by_hand(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and balanced accuracy from counts, over the classes present in
    y_true (a class only predicted costs precision, never adds a term)."""
    f1s, recalls = [], []
    for c in np.unique(y_true):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        f1s.append(2 * tp / (2 * tp + fp + fn))
        recalls.append(tp / (tp + fn))
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "macro_f1": float(np.mean(f1s)),
        "balanced_accuracy": float(np.mean(recalls)),
    }


def test_every_run_is_executed_once(smoke):
    plan, folder, outcome = smoke
    assert sorted(outcome.executed + outcome.copied) == sorted(SMOKE_RUNS)
    assert outcome.copied == ["kernel-3x3"]  # identical to cnn: one computation
    for name in SMOKE_RUNS:
        run_dir = folder / name
        assert (run_dir / "metrics.json").exists() and (run_dir / "run.json").exists()
        assert (run_dir / f"{plan.runs[name].notebook}.ipynb").exists()
        assert (run_dir / "notebook.html").exists()
    assert not list(folder.glob(".*.partial"))


def test_model_metrics_follow_the_contract(smoke, real_data):
    plan, folder, _ = smoke
    for name in SMOKE_RUNS:
        run = plan.runs[name]
        m = json.loads((folder / name / "metrics.json").read_text())
        record.read(folder / name / "metrics.json")  # the typed record accepts it
        assert m["run"] == name and m["profile"] == "smoke"
        assert set(m["provenance"]) >= PROVENANCE, name
        assert len(m["provenance"]["data_sha256"]) == 64
        for fig in m["figures"].values():
            assert (folder / name / fig).stat().st_size > 1000
        if run.notebook == "eda":
            assert {"classes", "splits", "missing_classes", "images"} <= set(m)
            assert m["splits"]["train"]["images"] == 3746  # the lists, not the slice
            continue
        assert set(m) >= MODEL_FIELDS, name
        for split in ("train", "val", "test"):
            for key in ("accuracy", "macro_f1", "balanced_accuracy"):
                assert 0 <= m[split][key] <= 1
        t = m["test"]
        assert t["accuracy_ci95"][0] <= t["accuracy"] <= t["accuracy_ci95"][1]
        assert t["accuracy_per_seed"] and len(t["accuracy_per_seed"]) == len(m["seeds"])
        assert m["model"]["parameters"] > 0 and m["model"]["flops_per_image"] > 0
        assert m["timing"]["train_seconds"] > 0 and m["timing"]["inference_ms_per_image"] > 0
        assert 0 < m["baselines"]["chance"] < 1 and 0 <= m["baselines"]["majority_class"] <= 1
        # Confusion matrix rows sum to each class's test support.
        support = {c["id"]: c["support"] for c in m["per_class"]}
        cm = m["confusion_matrix"]
        for label, row in zip(cm["labels"], cm["counts"], strict=True):
            assert sum(row) == support[label]
        assert sum(support.values()) == run.params["max_per_split"]
        with np.load(folder / name / "predictions.npz") as z:
            assert z["y_pred"].shape == (len(m["seeds"]), run.params["max_per_split"])
            per_seed = [np.mean(row == z["y_true"]) for row in z["y_pred"]]
            assert np.mean(per_seed) == pytest.approx(t["accuracy"])
            probs = z["test_probabilities"].astype(float)
            assert np.allclose(probs.sum(axis=-1), 1, atol=1e-2)
            # The saved probabilities (float16) give each seed's answer its top probability.
            rows = np.arange(len(probs[0]))
            picked = np.searchsorted(z["class_ids"], z["y_pred"][0])
            assert np.allclose(probs[0][rows, picked], probs[0].max(axis=1), atol=2e-3)
            # Each seed's test scores, recomputed from its predictions by counting.
            for r, y_pred in zip(m["per_seed"], z["y_pred"], strict=True):
                for key, value in by_hand(z["y_true"], y_pred).items():
                    assert r["test"][key] == pytest.approx(value), (name, key)
        # The per-class F1 values published (first seed) average to that seed's macro-F1.
        present = [c["f1"] for c in m["per_class"] if c["support"] > 0]
        assert np.mean(present) == pytest.approx(m["per_seed"][0]["test"]["macro_f1"])
        # Per seed and in the mean: what the model did in inference mode beside what training
        # measured, and what ended each seed's training.
        for split in ("train", "val", "test"):
            assert m[split]["accuracy"] == pytest.approx(
                np.mean([r[split]["accuracy"] for r in m["per_seed"]])
            )
        for r in m["per_seed"]:
            assert r["stop_reason"] in train.STOP_REASONS
            assert 0 <= r["train"]["accuracy_during_training"] <= 1
            assert 1 <= r["best_epoch"] <= r["epochs_run"] <= run.params["epochs"]
        assert m["training"]["selection_metric"] == train.SELECTION_METRIC
        # The selected seed's model is saved with what a user needs to feed it.
        assert (folder / name / m["artifact"]["file"]).stat().st_size > 10_000
        assert m["artifact"]["image_size"] == run.params["image_size"]
        assert len(m["artifact"]["class_names"]) == len(m["artifact"]["class_ids"])


def test_summary_recomputes_from_the_saved_predictions(smoke):
    """The study's paired tests, recomputed here from two runs' predictions.npz."""
    from analysis.stats import evaluate

    plan, folder, _ = smoke
    summary = json.loads((folder / "_study" / "summary.json").read_text())
    c = summary["findings"]["cnn_vs_baseline"]
    with (
        np.load(folder / "cnn" / "predictions.npz") as a,
        np.load(folder / "baseline" / "predictions.npz") as b,
    ):
        assert (a["files"] == b["files"]).all()
        expected = evaluate.mcnemar(a["y_true"], a["y_pred"][0], b["y_pred"][0])
        diff = np.mean(a["y_pred"][0] == a["y_true"]) - np.mean(b["y_pred"][0] == b["y_true"])
    assert c["mcnemar"][0] == {"seed": 0, **expected}
    assert c["accuracy"]["difference"] == pytest.approx(diff)
    assert c["accuracy"]["verdict"] == verdicts.ONE_SEED  # smoke trains one seed: no verdict
    kernels = summary["findings"]["kernels"]
    assert "kernel-3x3" not in kernels["runs"]  # the same computation as the reference
    assert kernels["against_reference"]["kernel-5x5"]["mcnemar"][0]["seed"] == 0


def test_site_builds_with_every_page_and_image(smoke, smoke_site):
    plan, _, _ = smoke
    pages = [
        "index.html",
        "dataset.html",
        "kernels.html",
        "reproduce.html",
        "runs/index.html",
        "baseline.html",
        "design.html",
        "interpretation.html",
        "performance.html",
        "recipe.html",
    ]
    pages += [f"runs/{n}.html" for n in SMOKE_RUNS if n != "eda"]
    pages += [f"runs/{n}/notebook.html" for n in SMOKE_RUNS]  # figures beside the notebook
    for page in pages:
        html = (smoke_site / page).read_text()
        for ref in re.findall(r'(?:src|href)="([^"#?]+)', html):
            if re.match(r"^[a-z]+:", ref) or ref.startswith("//"):
                continue
            target = (smoke_site / page).parent / ref
            assert target.exists(), f"{page} links to missing {ref}"
    run_page = (smoke_site / "runs" / "kernel-5x5.html").read_text()
    # The run page shows the cross-run step's legible redraw; the notebook's own figure is
    # published beside the executed notebook.
    assert 'src="../study/figures/confusion_matrix_kernel-5x5.png"' in run_page
    assert (smoke_site / "study" / "figures" / "confusion_matrix_kernel-5x5.png").exists()
    assert (smoke_site / "runs" / "kernel-5x5" / "figures" / "confusion_matrix.png").exists()
    assert "smoke" in (smoke_site / "index.html").read_text()


def test_run_pages_show_the_scores_recomputed_from_the_predictions(smoke, smoke_site):
    """The test row of each model's page, against scores computed here from predictions.npz
    (smoke trains one seed, so the page shows no ± part)."""
    _, folder, _ = smoke
    report = smoke_site.parent / "report"
    for name in ("cnn", "baseline", "kernel-5x5"):
        with np.load(folder / name / "predictions.npz") as z:
            s = by_hand(z["y_true"], z["y_pred"][0])
        row = (
            f"| test | {100 * s['accuracy']:.1f}&nbsp;% | {s['macro_f1']:.3f} | "
            f"{100 * s['balanced_accuracy']:.1f}&nbsp;% |"
        )
        assert row in (report / "runs" / f"{name}.md").read_text(), (name, row)


def test_second_run_executes_nothing(use_results, real_data):
    plan, folder, _ = use_results
    outcome = execute.run_plan(plan, SMOKE_RUNS, real_data)
    assert outcome.executed == [] and outcome.copied == []
    assert sorted(outcome.skipped) == sorted(SMOKE_RUNS)
    # A shared run asked for alone is copied from the run that holds its computation.
    shutil.rmtree(folder / "kernel-3x3")
    outcome = execute.run_plan(plan, ["kernel-3x3"], real_data)
    assert (outcome.executed, outcome.copied) == ([], ["kernel-3x3"])
    assert (folder / "kernel-3x3" / "metrics.json").exists()


def _plan_with(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(paths.PLAN_FILE.read_text())
    edit(raw)
    file = tmp_path / "plan.yaml"
    file.write_text(yaml.safe_dump(raw, sort_keys=False))
    return file


def test_changing_one_parameter_reruns_only_that_run(smoke, real_data, tmp_path, monkeypatch):
    # A copy of the session's results: the change below must not reach the other tests.
    shutil.copytree(smoke[1], tmp_path / "results" / "smoke")
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    file = _plan_with(
        tmp_path,
        lambda raw: raw["profiles"]["smoke"].update(runs={"baseline": {"learning_rate": 0.002}}),
    )
    outcome = execute.run_plan(load(file, "smoke"), SMOKE_RUNS, real_data)
    assert outcome.executed == ["baseline"] and outcome.failed == []
    # Back to the plan as committed: baseline is the one run out of date (what `run` would
    # execute; running it again would only repeat the first half).
    plan = load(profile="smoke")
    fingerprints = state.fingerprints(plan.runs.values(), real_data)
    stale = [
        name
        for name in SMOKE_RUNS
        if not state.is_current(layout.run_dir("smoke", name), fingerprints[name])
    ]
    assert stale == ["baseline"]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "raises.ipynb",
            r"run 'broken' failed in cell 4 \(execution count 4: `raise ValueError"
            r".*`\) of .*raises\.ipynb: ValueError: deliberate failure in broken",
        ),
        ("no_metrics.ipynb", r"run 'broken' finished without writing metrics.json"),
    ],
)
def test_failing_notebook_stops_the_runner_and_keeps_everything(
    use_results, real_data, tmp_path, fixture, expected
):
    _, folder, _ = use_results
    file = _plan_with(
        tmp_path, lambda raw: raw["runs"].update({"broken": {"notebook": str(FIXTURES / fixture)}})
    )
    before = {p: p.stat().st_mtime_ns for p in folder.glob("*/metrics.json")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "run",
            "broken",
            "eda",
            "--plan",
            str(file),
            "--profile",
            "smoke",
            "--data-dir",
            str(real_data),
            "--force",
        ],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
    )
    assert proc.returncode == 1
    assert re.search(expected, proc.stderr), proc.stderr[-2000:]
    kept = folder / "broken.failed" / Path(fixture).name
    assert kept.exists() and f"broken.failed/{Path(fixture).name}"[:14] in proc.stderr
    # The full Papermill and kernel log is kept beside it, and named.
    assert (folder / "broken.failed" / "run.log").exists()
    assert "full log: " in proc.stderr and "broken.failed/run.log" in proc.stderr
    assert "0 executed" in proc.stdout  # it stopped before eda
    assert not (folder / "broken").exists()
    assert {p: p.stat().st_mtime_ns for p in folder.glob("*/metrics.json")} == before
