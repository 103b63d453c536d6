"""analysis/study/cost.py: where a run's time went (from its records), its floor and contention."""

from __future__ import annotations

import json

import pytest

from analysis import paths
from analysis.study import cost

T0 = "2026-01-01T00:00:00+00:00"


def stamp(seconds: float) -> str:
    return f"2026-01-01T00:{int(seconds) // 60:02d}:{seconds % 60:06.3f}+00:00"


def notebook(cells: list[tuple[str, float, str]], lead: float = 2.0) -> dict:
    """A Papermill-executed notebook: (source, duration, printed text) per code cell."""
    out, t = [], lead
    for source, duration, text in cells:
        out.append(
            {
                "cell_type": "code",
                "source": source,
                "metadata": {"papermill": {"duration": duration, "start_time": stamp(t)}},
                "outputs": [{"name": "stdout", "text": text}] if text else [],
            }
        )
        t += duration
    out.insert(0, {"cell_type": "markdown", "source": "# x", "metadata": {}})
    return {"cells": out, "metadata": {"papermill": {"start_time": T0, "duration": t}}}


EPOCHS = "Epoch 1/2\n4/4 - 2s - 500ms/step - loss: 1\nEpoch 2/2\n2/4 - 1s\n4/4 - 1s - 250ms/step\n"


def metrics(**timing) -> dict:
    return {
        "model": {"name": "cnn_3", "parameters": 10, "flops_per_image": 1_000_000},
        "shift": {"per_class": [{"train": 60, "val": 30, "test": 10}, {"train": 40, "val": 0}]},
        "translation": {"shifts": [0, 3]},
        "timing": {
            "train_seconds": 10.0,
            "epochs_run": [2, 2],
            "inference_ms_per_image": 10.0,
            **timing,
        },
    }


def model_notebook() -> dict:
    return notebook(
        [
            ("run_name = 'x'", 0.0, ""),
            ("from analysis import experiment", 5.0, ""),
            ("data = experiment.load_data(None)", 3.0, ""),
            ("model_summary = models.summary(build(0))", 1.0, ""),
            ("results = experiment.train_seeds(build, data, params)", 30.0, EPOCHS + EPOCHS),
            ("figs = experiment.run_figures(metrics)", 2.0, ""),
            ("experiment.save_predictions(out)", 1.0, ""),
        ]
    )


def test_breakdown_from_the_notebook_adds_up_to_the_run():
    nb = model_notebook()
    b = cost.breakdown({"seconds": 45.0}, metrics(), nb)
    p = b["phases"]
    assert set(p) == set(cost.PHASES)
    assert sum(p.values()) == pytest.approx(45.0)
    assert p["start"] == pytest.approx(2.0 + 5.0)  # kernel start + the import cell
    assert p["data_load"] == 3.0 and p["figures"] == 2.0 and p["save"] == 1.0
    assert p["export"] == pytest.approx(45.0 - 44.0)  # run.json beyond Papermill's duration
    # Two seeds × 10 s in fit; val scoring: 30 val images × 4 epochs × 10 ms.
    assert p["val_scoring"] == pytest.approx(1.2)
    assert p["training"] == pytest.approx(20.0 - 1.2)
    # The training cell's other 10 s: 2 seeds × 140 images predicted, 2 × 10 test images × 5
    # shifted copies, the rest building the later seeds' models.
    assert p["test_evaluation"] == pytest.approx(2.8)
    assert p["translation_test"] == pytest.approx(1.0)
    assert p["build"] == pytest.approx(1.0 + 10.0 - 2.8 - 1.0)
    assert b["estimated"] == ["val_scoring", "test_evaluation", "translation_test"]


def test_estimates_never_exceed_the_time_measured():
    m = metrics(inference_ms_per_image=1000.0)
    p = cost.breakdown({"seconds": 45.0}, m, model_notebook())["phases"]
    assert p["val_scoring"] == pytest.approx(20.0)  # capped at the fit's time
    assert p["training"] == 0
    assert p["test_evaluation"] == pytest.approx(10.0)  # capped at the cell's rest
    assert p["translation_test"] == p["build"] - 1.0 == 0
    assert sum(p.values()) == pytest.approx(45.0)


def test_recorded_phases_are_preferred():
    phases = {
        "data_load": 3.0,
        "build": 1.5,
        "training": 15.0,
        "val_scoring": 5.0,
        "test_evaluation": 2.0,
        "translation_test": 1.0,
        "figures": 2.0,
        "learned_figures": 0.5,
        "save": 1.0,
        "something_new": 0.25,
    }
    b = cost.breakdown({"seconds": 45.0}, metrics(phases=phases), model_notebook())
    p = b["phases"]
    assert b["source"] == "timing.phases" and b["estimated"] == []
    for name, seconds in phases.items():
        if name != "something_new":
            assert p[name] == seconds
    assert p["start"] == pytest.approx(7.0)
    assert p["other"] == pytest.approx(45.0 - 7.0 - 1.0 - sum(phases.values()) + 0.25)
    assert sum(p.values()) == pytest.approx(45.0)


def test_epoch_seconds_read_from_the_final_progress_line_of_each_epoch():
    assert cost.epoch_seconds(model_notebook()) == [2.0, 1.0, 2.0, 1.0]
    assert cost.epoch_seconds(notebook([("train_seeds(", 1.0, "118/118 - 2s - 1s/step\n")])) == [
        118.0
    ]


def test_floor_and_contention():
    m = metrics()
    # 3 × 1 MFLOP × 100 images × 4 epochs = 1.2 GFLOP.
    assert cost.training_flops(m) == pytest.approx(1.2e9)
    row = {
        "name": "cnn",
        "runs": ["cnn"],
        "model": "cnn_3",
        "parameters": 10,
        "flops_per_image": 1_000_000,
        "plain_gflops": 0.6,
        "idle_epoch_seconds": 1.5,
    }
    bench = {"networks": [row], "split": {"train": 100}}
    assert cost.floor_seconds(m, row) == pytest.approx(2.0)
    assert cost.idle_epoch_seconds(m, row, bench) == pytest.approx(1.5)
    assert cost.contention([2.0, 1.0, 2.0, 1.0], 1.5) == pytest.approx(1.0)
    r = cost.run_cost("cnn", {"seconds": 45.0}, m, model_notebook(), bench)
    assert r["floor_seconds"] == pytest.approx(2.0)
    assert r["ratio"] == pytest.approx(20.0 / 2.0)
    assert r["corrected_fit_seconds"] == pytest.approx(19.0)
    assert r["corrected_seconds"] == pytest.approx(44.0)
    # Another run of the same network (same Keras model and parameters) finds its row ...
    assert cost.network_for(bench, "recipe-x", m) is row
    # ... another network does not; nor does a smoke check's or an old benchmark's figures.
    other = {**m, "model": {**m["model"], "parameters": 11}}
    assert cost.network_for(bench, "wide", other) is None
    assert cost.network_for({**bench, "quick": True}, "cnn", m) is None
    assert cost.network_for({"training": [row]}, "cnn", m) is None
    no_bench = cost.run_cost("cnn", {"seconds": 45.0}, m, model_notebook(), None)
    assert no_bench["floor_seconds"] is None and "ratio" not in no_bench


def test_totals_and_what_is_noteworthy():
    m = metrics()
    a = cost.run_cost("a", {"seconds": 45.0}, m, model_notebook(), None)
    t = cost.totals([a, a], "two")
    assert t["seconds"] == 90.0 and t["fit_seconds"] == 40.0
    assert t["phases"]["training"] == pytest.approx(2 * a["phases"]["training"])
    assert t["floor_seconds"] is None
    # start (7 of 45 s) and build (8.2) are above 10 %; data_load (3 of 45) is not.
    assert cost.noteworthy([a]) == {"start": ["a"], "build": ["a"]}
    assert cost.noteworthy([a], share=0.01)["data_load"] == ["a"]


def test_the_published_records():
    """Every computed model run of the published profile: its parts add up to its recorded
    time, its epochs are all read, and training is most of it."""
    from runner.plan import load

    plan = load(profile="standard")
    results = paths.ROOT / "results" / "standard"
    s = cost.study(results, {n: r.group for n, r in plan.runs.items()}, None)
    assert {r["name"] for r in s["rows"]} >= {"cnn", "baseline", "kernel-7x7", "cnn-permuted"}
    assert "kernel-3x3" not in {r["name"] for r in s["rows"]}  # computed once, as cnn
    for r in s["rows"] + s["recipe_rows"]:
        assert sum(r["phases"].values()) == pytest.approx(r["seconds"], abs=0.5)
        # Training is most of a run, except in a run of a minute or two, where the kernel's
        # start, the evaluation and the figures take about as long.
        # A resumed run's reused seeds ("earlier") were training in another process.
        trained = r["shares"]["training"] + r["shares"]["earlier"]
        assert trained > 0.5 or r["seconds"] < 120, r["name"]
        record = json.loads((results / r["name"] / "run.json").read_text())
        nb = json.loads((results / r["name"] / f"{record['notebook']}.ipynb").read_text())
        assert len(cost.epoch_seconds(nb)) == r["epochs"] - r["reused_epochs"]
    assert s["study"]["runs"] == len(s["rows"])
    mech = [r for r in s["rows"] if r["group"] in ("mechanisms", "data-size")]
    assert mech and s["mechanisms"]["runs"] == len(mech)
    assert s["mechanisms"]["seconds"] == pytest.approx(sum(r["seconds"] for r in mech))
    assert s["mechanisms"]["seconds"] < s["study"]["seconds"]


def test_a_resumed_run_counts_its_reused_seeds_once_and_estimates_only_what_it_ran():
    """Seed 0 came from an interrupted process's store: its fit time (every seed's recorded fit
    less the epochs printed here) is added to the run as "earlier", and val scoring, evaluation
    and the translation test are estimated for seed 1 alone."""
    m = metrics()
    m["per_seed"] = [{"seed": 0, "epochs_run": 2}, {"seed": 1, "epochs_run": 2}]
    reused = "--- seed 0: reused from results/x.seeds (an interrupted run finished it) ---\n"
    nb = notebook(
        [
            ("from analysis import experiment", 5.0, ""),
            ("results = experiment.train_seeds(build, data, params)", 15.0, reused + EPOCHS),
        ]
    )
    assert cost.reused_seeds(nb) == [0] and cost.reused_seeds(model_notebook()) == []
    assert cost.earlier_seconds(m, nb) == pytest.approx(20.0 - 3.0)
    b = cost.breakdown({"seconds": 25.0}, m, nb)
    p = b["phases"]
    assert b["seconds"] == pytest.approx(25.0 + 17.0) and sum(p.values()) == pytest.approx(42.0)
    assert p["earlier"] == pytest.approx(17.0)
    assert p["val_scoring"] == pytest.approx(30 * 2 * 0.01)  # seed 1's two epochs only
    assert p["training"] == pytest.approx(3.0 - 0.6)
    assert p["test_evaluation"] == pytest.approx(140 * 0.01)  # one seed, not two
    row = cost.run_cost("x", {"seconds": 25.0}, m, nb, None)
    assert row["reused_seeds"] == [0] and row["reused_epochs"] == 2 and row["epochs"] == 4
    assert row["fit_seconds"] == pytest.approx(20.0)  # every seed's training, reused included
    assert "earlier" not in cost.noteworthy([row])  # it was training, in another process
