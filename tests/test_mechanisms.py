"""One finding per ingredient of convolution (analysis.mechanisms), each decided both ways."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import mechanisms, study
from tests.test_study import predictions, run

MEMBERS = {
    "mechanisms": ["locally-connected", "dense-small", "cnn-flatten", "baseline-cnn-recipe"],
    "data-size": ["cnn-data-10", "baseline-data-10"],
}


def curve(drop):
    return {
        "shifts": [0, 12],
        "image_size": 48,
        "accuracy_per_seed": [[0.6, 0.6 - d] for d in drop],
    }


def study_runs(lc=(0.45, 0.46, 0.44), small_cnn=(0.40, 0.41, 0.42)):
    def with_images(r, n):
        r["timing"]["train_images"] = n
        return r

    runs = {
        "cnn": run([0.56, 0.57, 0.55], translation=curve([0.05, 0.06, 0.05])),
        "baseline": run([0.39, 0.40, 0.38], params={"model": "baseline"}),
        "locally-connected": run(list(lc), params={"model": "locally_connected"}),
        "dense-small": run([0.27, 0.30, 0.25], params={"model": "dense"}),
        "cnn-flatten": run(
            [0.55, 0.56, 0.56], params={"head": "flatten"}, translation=curve([0.2, 0.22, 0.25])
        ),
        "baseline-cnn-recipe": run(
            [0.20, 0.22, 0.21], val_f1=[0.1, 0.12, 0.08], params={"model": "baseline"}
        ),
        "cnn-data-10": run(list(small_cnn), params={"train_fraction": 0.1}),
        "baseline-data-10": run(
            [0.30, 0.31, 0.29], params={"model": "baseline", "train_fraction": 0.1}
        ),
    }
    runs["baseline"]["val"]["macro_f1"] = 0.6
    for r in runs["baseline"]["per_seed"]:
        r["val"]["macro_f1"] = 0.6 + 0.01 * r["seed"]
    runs["cnn"]["timing"]["train_images"] = 3746
    runs["baseline"]["timing"]["train_images"] = 3746
    with_images(runs["cnn-data-10"], 375)
    with_images(runs["baseline-data-10"], 375)
    return runs


def test_the_chain_splits_the_lead_into_locality_and_sharing():
    runs = study_runs()
    f = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)
    assert f["runs"]["locally_connected"] == "locally-connected"
    ws, loc = f["weight_sharing"], f["locality"]
    assert (ws["a"], ws["b"], loc["a"], loc["b"]) == (
        "cnn",
        "locally-connected",
        "locally-connected",
        "baseline",
    )
    assert ws["difference"] + loc["difference"] == pytest.approx(f["shares"]["lead"])
    assert f["shares"]["share"]["locality"] + f["shares"]["share"]["weight_sharing"] == (
        pytest.approx(1.0)
    )
    assert ws["verdict"] == loc["verdict"] == study.DIFFERENCE
    assert ws["primary_metric"] == "test accuracy" and "Welch" in ws["test"]
    # a locally connected network as good as the CNN: sharing adds nothing shown
    f = mechanisms.findings(study_runs(lc=(0.56, 0.55, 0.57)), {}, "cnn", "baseline", MEMBERS)
    assert f["weight_sharing"]["verdict"] == study.NO_DIFFERENCE
    assert f["shares"]["share"]["weight_sharing"] == pytest.approx(0.0, abs=1e-9)


def test_parameter_count_and_pooling_findings():
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    pc = f["parameter_count"]
    assert (pc["a"], pc["b"]) == ("dense-small", "baseline")
    assert pc["difference"] == pytest.approx(np.mean([0.27, 0.30, 0.25]) - 0.39)
    assert pc["verdict"] == study.DIFFERENCE
    assert pc["at_equal_parameters"]["a"] == "cnn"
    pool = f["pooling"]
    assert pool["verdict"] == study.NO_DIFFERENCE  # 0.56 against 0.5567
    t = pool["translation"]  # the flatten head loses more when images shift
    assert t["difference"] == pytest.approx(
        np.mean([0.2, 0.22, 0.25]) - np.mean([0.05, 0.06, 0.05])
    )
    assert t["verdict"] == study.DIFFERENCE and t["max_shift_fraction"] == 0.25


def test_data_size_asks_whether_the_lead_grows_with_less_data():
    runs = study_runs()
    f = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)
    d = f["data_size"]
    # lead at 10 %: 0.41 − 0.30 = 0.11; on all of train: 0.56 − 0.39 = 0.17
    assert d["difference"] == pytest.approx(0.11 - 0.17)
    assert d["runs"] == ["cnn-data-10", "baseline-data-10", "cnn", "baseline"]
    assert d["fraction"] == 0.1 and d["verdict"] == study.DIFFERENCE
    curve_ = f["data_size_curve"]
    assert [r["fraction"] for r in curve_["cnn"]] == [0.1, 1.0]
    assert [r["train_images"] for r in curve_["baseline"]] == [375, 3746]
    # a lead as large at 10 % as on all of train: no difference shown
    same = study_runs(small_cnn=(0.46, 0.47, 0.48))
    assert mechanisms.findings(same, {}, "cnn", "baseline", MEMBERS)["data_size"]["verdict"] == (
        study.NO_DIFFERENCE
    )


def test_recipe_confound_is_decided_on_val():
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    r = f["recipe_confound"]
    assert r["metric"] == "val macro-F1" and r["own_is_better_on_val"]
    assert r["difference"] == pytest.approx(0.61 - 0.1) and r["verdict"] == study.DIFFERENCE


def test_findings_with_predictions_carry_the_hierarchical_interval():
    runs = study_runs()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    files = [f"calibrated/{800 + i // 6:04d}MR{i:06d}_X.JPG" for i in range(60)]
    preds = {
        n: predictions(y, np.where(rng.random((3, 60)) < acc, y, (y + 1) % 3), files=files)
        for n, acc in (("cnn", 0.9), ("locally-connected", 0.6), ("baseline", 0.3))
    }
    f = study.findings(
        runs, preds, "cnn", "baseline", {n: g for g, ns in MEMBERS.items() for n in ns}
    )
    ws = f["mechanisms"]["weight_sharing"]
    assert ws["image_groups"] == f["grouping"]["groupings"][f["grouping"]["chosen"]]["groups"]
    assert ws["ci95"][0] < ws["ci95"][1]
    assert f["rule"]["primary"] == {"split": "test", "metric": "accuracy"}


def test_nothing_without_the_reference_or_the_runs():
    assert mechanisms.findings({}, {}, "cnn", "baseline", MEMBERS) == {}
    runs = {k: v for k, v in study_runs().items() if k in ("cnn", "baseline")}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)
    assert f["runs"] == {} and "weight_sharing" not in f and "data_size" not in f
