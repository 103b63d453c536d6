"""The study's cross-run findings (analysis.study.comparisons), each checked on both sides: a case
where it holds and one where it does not, against values worked out independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats import bootstrap, verdicts
from analysis.study import comparisons as study
from analysis.study import controls, findings, scout


def run(test_acc, val_f1=None, seeds=(0, 1, 2), params=None, parameters=1000, **extra):
    """A hand-made metrics record: per-seed test accuracies (and val macro-F1)."""
    val_f1 = val_f1 if val_f1 is not None else [0.5] * len(test_acc)
    per_seed = [
        {
            "seed": s,
            "train": {"accuracy": 0.99, "macro_f1": 0.9, "balanced_accuracy": 0.9},
            "val": {"accuracy": 0.6, "macro_f1": v, "balanced_accuracy": 0.5},
            "test": {"accuracy": a, "macro_f1": a / 2, "balanced_accuracy": a},
            "stop_reason": "schedule_end",
            "plateaued": True,
            "best_epoch": 20,
            "epochs_run": 24,
        }
        for s, a, v in zip(seeds, test_acc, val_f1, strict=True)
    ]
    mean = float(np.mean(test_acc))
    return {
        "seeds": list(seeds),
        "params": {"model": "cnn", "kernel_sizes": [3, 3, 3, 3], "filters": [32], **(params or {})},
        "model": {"parameters": parameters, "flops_per_image": parameters * 10},
        "per_seed": per_seed,
        "train": {"accuracy": 0.99, "balanced_accuracy": 0.9},
        "val": {
            "accuracy": 0.6,
            "macro_f1": float(np.mean(val_f1)),
            "macro_f1_std": float(np.std(val_f1, ddof=1)) if len(val_f1) > 1 else 0.0,
            "balanced_accuracy": 0.5,
        },
        "test": {"accuracy": mean, "macro_f1": mean / 2, "accuracy_std": 0.0},
        "timing": {"train_seconds": parameters / 100},
        **extra,
    }


def test_paired_matches_scipy_and_calls_a_consistent_gap_a_difference():
    a, b = run([0.50, 0.55, 0.52]), run([0.40, 0.41, 0.45])
    out = study.paired(a, b)
    diffs = np.array([0.10, 0.14, 0.07])
    assert out["difference"] == pytest.approx(diffs.mean())
    assert out["difference_std"] == pytest.approx(diffs.std(ddof=1))
    expected = stats.ttest_rel([0.50, 0.55, 0.52], [0.40, 0.41, 0.45]).pvalue
    assert out["p_value"] == pytest.approx(expected)
    assert out["p_value"] < 0.05 and out["verdict"] == verdicts.DIFFERENCE
    assert study.paired(b, a)["difference"] == pytest.approx(-diffs.mean())  # the sign


def test_paired_does_not_call_noise_a_difference():
    out = study.paired(run([0.50, 0.40, 0.47]), run([0.45, 0.46, 0.44]))
    assert out["p_value"] > 0.05 and out["verdict"] == verdicts.NO_DIFFERENCE
    assert not out["same_sign_all_seeds"]


def test_paired_uses_only_shared_seeds_and_never_tests_one_seed():
    a, b = run([0.5, 0.6], seeds=(0, 1)), run([0.4], seeds=(1,))
    out = study.paired(a, b)
    assert out["seeds"] == [1] and out["difference"] == pytest.approx(0.2)
    assert out["p_value"] is None and out["verdict"] == verdicts.ONE_SEED


def predictions(y_true, rows, seeds=(0, 1, 2), files=None):
    y_true = np.asarray(y_true)
    return {
        "files": np.asarray(files if files is not None else [f"f{i}" for i in range(len(y_true))]),
        "y_true": y_true,
        "y_pred": np.asarray(rows),
        "seeds": np.asarray(seeds),
    }


def test_mcnemar_pairs_seeds_and_refuses_other_images():
    y = [0, 1, 2, 3, 4, 5]
    pa = predictions(y, [[0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 0, 0]], seeds=(0, 1))
    pb = predictions(y, [[0, 0, 0, 0, 4, 5], [0, 1, 2, 3, 4, 5]], seeds=(1, 0))
    rows = study.mcnemar_per_seed(pa, pb)
    # seed 0: a's row 0 (all right) against b's row 1 (all right): no discordant image
    assert rows[0] == {
        "seed": 0,
        "only_a_correct": 0,
        "only_b_correct": 0,
        "statistic": 0.0,
        "p_value": 1.0,
    }
    # seed 1: a gets 4 right (0-3), b gets 0, 4, 5 right: only a 1, 2, 3; only b 4, 5
    assert (rows[1]["only_a_correct"], rows[1]["only_b_correct"]) == (3, 2)
    assert rows[1]["p_value"] == pytest.approx(stats.binomtest(3, 5, 0.5).pvalue)
    other = predictions(y, [[0] * 6], seeds=(0,), files=[f"g{i}" for i in range(6)])
    with pytest.raises(ValueError, match="same test images"):
        study.mcnemar_per_seed(pa, other)


def test_noise_control_and_locality_effect():
    runs = {
        "cnn": run([0.60, 0.62, 0.61]),
        "cnn-permuted": run([0.30, 0.33, 0.31], params={"permute_pixels": True}),
        "baseline": run([0.50, 0.49, 0.52], params={"model": "baseline"}),
        "baseline-permuted": run(
            [0.51, 0.48, 0.52], params={"model": "baseline", "permute_pixels": True}
        ),
    }
    p = controls.permutation_finding(runs, {}, "cnn", "baseline")
    assert p["runs"]["cnn"]["permuted"] == "cnn-permuted"
    assert p["runs"]["cnn"]["comparison"]["accuracy"]["verdict"] == verdicts.DIFFERENCE
    assert p["noise_control"]["permuted"] == "baseline-permuted"
    assert p["noise_control"]["comparison"]["accuracy"]["verdict"] == verdicts.NO_DIFFERENCE
    # per seed: cnn drops 0.30, 0.29, 0.30; baseline -0.01, 0.01, 0.00
    le = p["locality_effect"]
    assert le["difference"] == pytest.approx(np.mean([0.31, 0.28, 0.30]))
    assert le["verdict"] == verdicts.DIFFERENCE


def test_original_of_ignores_runs_that_differ_in_more_than_the_shuffle():
    runs = {
        "cnn": run([0.6] * 3),
        "cnn-wide": run([0.6] * 3, params={"filters": [64]}),
        "wide-permuted": run([0.3] * 3, params={"filters": [64], "permute_pixels": True}),
    }
    assert study.original_of("wide-permuted", runs) == "cnn-wide"


def test_a_permuted_control_that_trains_longer_still_finds_its_original():
    """The plan's cnn-permuted trains 48 epochs against the CNN's 24: still its control. A run
    with the same epochs wins over one that differs in epochs; any other change still excludes."""
    runs = {
        "cnn": run([0.6] * 3, params={"epochs": 24}),
        "cnn-lr": run([0.6] * 3, params={"epochs": 48, "learning_rate": 0.1}),
        "cnn-permuted": run([0.3] * 3, params={"epochs": 48, "permute_pixels": True}),
    }
    assert study.original_of("cnn-permuted", runs) == "cnn"
    runs["cnn-48"] = run([0.6] * 3, params={"epochs": 48})
    assert study.original_of("cnn-permuted", runs) == "cnn-48"  # differs only in the shuffle
    del runs["cnn"], runs["cnn-48"]
    assert study.original_of("cnn-permuted", runs) is None  # cnn-lr changed the learning rate


def test_kernel_finding_chooses_on_val_and_matches_the_capacity_control():
    runs = {
        "cnn": run([0.50, 0.52, 0.51], val_f1=[0.70, 0.71, 0.69], parameters=400),
        "kernel-3x3": {**run([0.5] * 3), "same_computation_as": "cnn"},
        "kernel-5x5": run(
            [0.40, 0.41, 0.42],
            val_f1=[0.72, 0.73, 0.74],
            params={"kernel_sizes": [5] * 4},
            parameters=1100,
        ),
        "kernel-3x3-wide": run([0.55, 0.57, 0.56], params={"filters": [54]}, parameters=1120),
        "kernel-7x7": run([0.3] * 3, params={"kernel_sizes": [7] * 4}, parameters=2100),
    }
    members = ["kernel-3x3", "kernel-5x5", "kernel-3x3-wide", "kernel-7x7"]
    k = controls.kernel_finding(runs, {}, "cnn", members)
    assert k["runs"] == ["cnn", "kernel-5x5", "kernel-3x3-wide", "kernel-7x7"]
    assert k["chosen_on_val"] == "kernel-5x5"  # val, not test, chooses
    assert k["against_reference"]["kernel-5x5"]["accuracy"]["difference"] == pytest.approx(-0.10)
    assert k["cost"]["kernel-7x7"]["parameter_ratio"] == pytest.approx(2100 / 400)
    control = k["capacity_controls"]["kernel-3x3-wide"]
    assert control["matches"] == "kernel-5x5"
    assert control["comparison"]["accuracy"]["difference"] == pytest.approx(0.15)
    assert control["comparison"]["accuracy"]["verdict"] == verdicts.DIFFERENCE
    # the three comparisons with the reference are one family: Holm adjusts their p-values
    raw = {n: c["accuracy"]["p_value"] for n, c in k["against_reference"].items()}
    assert k["holm"].keys() == raw.keys()
    assert {n: h["p_adjusted"] for n, h in k["holm"].items()} == pytest.approx(verdicts.holm(raw))
    assert all(h["p_adjusted"] >= raw[n] for n, h in k["holm"].items())
    # the verdict stated is Holm's: a raw p under 5 % that the correction lifts is not a difference
    for n, c in k["against_reference"].items():
        assert c["accuracy"]["p_holm"] == k["holm"][n]["p_adjusted"]
        assert c["accuracy"]["verdict"] == (
            verdicts.DIFFERENCE if c["accuracy"]["p_holm"] < 0.05 else verdicts.NO_DIFFERENCE
        )


def test_kernel_verdicts_are_holm_adjusted():
    runs = {
        "cnn": run([0.50, 0.52, 0.51]),
        "kernel-5x5": run([0.47, 0.49, 0.485], params={"kernel_sizes": [5] * 4}),  # Welch p 0.027
        "kernel-7x7": run([0.465, 0.49, 0.485], params={"kernel_sizes": [7] * 4}),  # p 0.039
    }
    k = controls.kernel_finding(runs, {}, "cnn", ["kernel-5x5", "kernel-7x7"])
    five, seven = (k["against_reference"][n]["accuracy"] for n in ("kernel-5x5", "kernel-7x7"))
    assert five["p_value"] < 0.05 and seven["p_value"] < 0.05  # alone, each a difference
    assert five["p_holm"] == pytest.approx(2 * five["p_value"])  # smallest of two: times 2
    assert seven["p_holm"] == pytest.approx(2 * five["p_value"])  # kept monotone
    assert five["verdict"] == seven["verdict"] == verdicts.NO_DIFFERENCE
    # one comparison alone is its own family: no adjustment
    k = controls.kernel_finding(runs, {}, "cnn", ["kernel-5x5"])
    assert k["against_reference"]["kernel-5x5"]["accuracy"]["verdict"] == verdicts.DIFFERENCE


def test_translation_compares_the_drops_in_accuracy_points_per_seed():
    def with_curve(rows):
        return run(
            [r[0] for r in rows],
            translation={
                "shifts": [0, 16],
                "image_size": 64,
                "accuracy_per_seed": rows,
            },
        )

    runs = {
        "cnn": with_curve([[0.6, 0.3], [0.6, 0.36], [0.5, 0.25]]),
        "baseline": with_curve([[0.5, 0.45], [0.5, 0.4], [0.4, 0.38]]),
    }
    t = controls.translation_finding(runs, "cnn", "baseline")
    assert t["cnn"]["relative_drop_per_seed"] == pytest.approx([0.5, 0.4, 0.5])  # description
    assert t["cnn"]["max_shift_fraction"] == 0.25
    # one unit: accuracy lost per seed (0.30, 0.24, 0.25 against 0.05, 0.10, 0.02), not shares
    cnn, base = [0.3, 0.24, 0.25], [0.05, 0.1, 0.02]
    c = t["comparison"]
    assert t["cnn"]["drop_per_seed"] == pytest.approx(cnn)
    assert c["difference"] == pytest.approx(np.mean(cnn) - np.mean(base))
    assert c["p_value"] == pytest.approx(stats.ttest_ind(cnn, base, equal_var=False).pvalue)
    # no per-image answers under shift: Welch's own interval over seeds, said to be so
    se2 = np.var(cnn, ddof=1) / 3 + np.var(base, ddof=1) / 3
    df = se2**2 / ((np.var(cnn, ddof=1) / 3) ** 2 / 2 + (np.var(base, ddof=1) / 3) ** 2 / 2)
    half = stats.t.ppf(0.975, df) * np.sqrt(se2)
    assert c["ci95"] == pytest.approx([c["difference"] - half, c["difference"] + half])
    assert c["interval"] == verdicts.SEEDS_ONLY and c["family"] == "translation"
    assert c["detectable"]["difference"] > 0


def test_recipe_finding_reads_val_only_and_names_the_change():
    ref = run([0.5] * 3, val_f1=[0.70, 0.60, 0.65], params={"learning_rate": 0.002})
    variant = run([0.9], val_f1=[0.66], seeds=(0,), params={"learning_rate": 0.001})
    r = scout.recipe_finding({"cnn": ref, "recipe-lr-low": variant}, "cnn", ["recipe-lr-low"])
    assert r["rows"][0]["val_macro_f1"] == 0.70  # the reference's seed 0
    assert r["rows"][1]["change"] == "learning_rate=0.001"
    assert r["best_on_val"] == "cnn"  # a better test score does not matter
    assert "test" not in str(r["rows"])


def test_seed_values_of_a_run_without_seeds_is_empty_and_pairs_nothing():
    assert study.seed_values({}) == {}
    out = study.paired({}, run([0.5], seeds=(0,)))
    assert out["seeds"] == [] and out["a"] == [] and out["b"] == []
    assert out["difference"] is None and out["difference_std"] is None
    assert out["same_sign_all_seeds"] is False
    assert out["p_value"] is None and out["verdict"] == verdicts.ONE_SEED


def test_paired_reports_what_it_paired_and_reads_the_named_split_and_metric():
    a = run([0.50, 0.55, 0.52], val_f1=[0.7, 0.8, 0.9])
    b = run([0.40, 0.41, 0.45], val_f1=[0.6, 0.6, 0.6], seeds=(2, 1, 0))
    out = study.paired(a, b, "val", "macro_f1")
    assert (out["split"], out["metric"]) == ("val", "macro_f1")
    assert out["seeds"] == [0, 1, 2]
    assert out["a"] == [0.7, 0.8, 0.9] and out["b"] == [0.6, 0.6, 0.6]
    assert out["difference"] == pytest.approx(0.2)


def test_paired_with_two_seeds_tests_them_one_seed_has_no_spread():
    a, b = run([0.50, 0.60], seeds=(0, 1)), run([0.40, 0.45], seeds=(0, 1))
    out = study.paired(a, b)
    # diffs 0.10 and 0.15: t = 0.125 / (0.0354 / sqrt 2) = 5 on one degree of freedom, whose
    # t distribution is Cauchy: p = 1 - 2 atan(t) / pi
    assert out["difference_std"] == pytest.approx(np.sqrt(2) * 0.025)
    assert out["p_value"] == pytest.approx(1 - 2 * np.arctan(5.0) / np.pi)
    assert (
        out["verdict"] == verdicts.NO_DIFFERENCE
    )  # p = 0.126: two seeds this close are not enough
    assert out["same_sign_all_seeds"] is True
    one = study.paired(run([0.5], seeds=(0,)), b)
    assert one["difference_std"] is None and one["verdict"] == verdicts.ONE_SEED


def test_paired_same_sign_needs_every_seed_strictly_on_one_side():
    def sign(a, b):
        return study.paired(run(a), run(b))["same_sign_all_seeds"]

    assert sign([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]) is True  # all ahead, by less than 1
    assert sign([0.4, 0.5, 0.6], [0.5, 0.6, 0.7]) is True  # all behind
    assert sign([0.5, 0.6, 0.7], [0.5, 0.5, 0.6]) is False  # a tie on one seed
    assert sign([0.5, 0.5, 0.6], [0.5, 0.6, 0.7]) is False


def test_paired_without_spread_a_constant_gap_is_a_difference_and_no_gap_is_not():
    # dyadic values: every seed's difference is exactly 0.25, the t statistic is undefined
    out = study.paired(run([0.75, 0.5, 0.625]), run([0.5, 0.25, 0.375]))
    assert out["difference_std"] == 0.0
    assert out["p_value"] == 0.0 and out["verdict"] == verdicts.DIFFERENCE
    same = study.paired(run([0.75, 0.5, 0.625]), run([0.75, 0.5, 0.625]))
    assert same["difference"] == 0.0 and same["same_sign_all_seeds"] is False
    assert same["p_value"] == 1.0 and same["verdict"] == verdicts.NO_DIFFERENCE


def test_mcnemar_uses_only_the_seeds_both_runs_predicted_and_says_why_it_refuses():
    y = [0, 1, 2, 3]
    pa = predictions(y, [[0, 1, 2, 3], [0, 0, 0, 0]], seeds=(0, 1))
    pb = predictions(y, [[0, 1, 2, 3], [0, 1, 0, 0]], seeds=(1, 2))
    rows = study.mcnemar_per_seed(pa, pb)
    assert [r["seed"] for r in rows] == [1]
    # seed 1: a right on image 0 only, b on all four: only b right on 1, 2, 3
    assert (rows[0]["only_a_correct"], rows[0]["only_b_correct"]) == (0, 3)
    relabelled = predictions([0, 1, 2, 0], [[0, 1, 2, 3]], seeds=(1,))
    with pytest.raises(
        ValueError, match=r"^paired tests need the same test images in the same order$"
    ):
        study.mcnemar_per_seed(pa, relabelled)


def test_compare_pairs_test_accuracy_macro_f1_and_val_macro_f1():
    runs = {
        "a": run([0.50, 0.55, 0.52], val_f1=[0.60, 0.62, 0.61]),
        "b": run([0.40, 0.41, 0.45], val_f1=[0.50, 0.50, 0.50]),
    }
    c = study.compare("a", "b", runs, {}, family="f")
    assert (c["a"], c["b"]) == ("a", "b")
    assert c["accuracy"]["metric"] == "accuracy"
    assert c["accuracy"]["difference"] == pytest.approx(np.mean([0.10, 0.14, 0.07]))
    assert "verdict" not in c and c["accuracy"]["verdict"] == verdicts.DIFFERENCE
    # the record's test macro-F1 is half its accuracy: half the gap
    assert (c["macro_f1"]["split"], c["macro_f1"]["metric"]) == ("test", "macro_f1")
    assert c["macro_f1"]["difference"] == pytest.approx(np.mean([0.10, 0.14, 0.07]) / 2)
    assert (c["val_macro_f1"]["split"], c["val_macro_f1"]["metric"]) == ("val", "macro_f1")
    assert c["val_macro_f1"]["difference"] == pytest.approx(0.11)
    assert c["mcnemar"] == []  # no predictions


def test_compare_needs_both_runs_and_adds_mcnemar_only_with_both_predictions():
    runs = {"a": run([0.5] * 3), "b": run([0.4] * 3)}
    assert study.compare("a", "missing", runs, {}, family="f") is None
    assert study.compare("missing", "b", runs, {}, family="f") is None
    y = [0, 1, 2, 3]
    pa = predictions(y, [[0, 1, 2, 3]] * 3)
    pb = predictions(y, [[0, 1, 0, 0], [0, 1, 2, 0], [0, 1, 2, 3]])
    assert study.compare("a", "b", runs, {"a": pa}, family="f")["mcnemar"] == []
    assert study.compare("a", "b", runs, {"b": pb}, family="f")["mcnemar"] == []
    m = study.compare("a", "b", runs, {"a": pa, "b": pb}, family="f")["mcnemar"]
    assert [r["seed"] for r in m] == [0, 1, 2]
    # a is always right: only a right on what b missed, 2, 1 and 0 images; never only b
    assert [(r["only_a_correct"], r["only_b_correct"]) for r in m] == [(2, 0), (1, 0), (0, 0)]
    back = study.compare("b", "a", runs, {"a": pa, "b": pb}, family="f")["mcnemar"]
    assert [(r["only_a_correct"], r["only_b_correct"]) for r in back] == [(0, 2), (0, 1), (0, 0)]


def test_differs_only_in_treats_missing_parameters_as_none():
    assert study.differs_only_in({}, {}, set())
    assert study.differs_only_in({}, {"params": {"seeds": [0]}}, {"seeds"})
    assert not study.differs_only_in({"params": {"model": "cnn"}}, {}, {"seeds"})
    assert not study.differs_only_in({}, {"params": {"model": "cnn"}}, set())


def test_original_of_is_never_a_shuffled_run():
    shuffled = {"permute_pixels": True}
    runs = {"p1": run([0.3] * 3, params=shuffled), "p2": run([0.3] * 3, params=shuffled)}
    assert study.original_of("p1", runs) is None
    runs["cnn"] = run([0.6] * 3, params={"permute_pixels": False})
    assert study.original_of("p1", runs) == "cnn"
    assert study.original_of("cnn", {"cnn": runs["cnn"]}) is None  # not itself


def test_summary_row_reads_every_column_from_the_record():
    m = {
        "seeds": [0, 1, 2],
        "test": {"accuracy": 0.61, "accuracy_std": 0.02, "macro_f1": 0.41, "macro_f1_std": 0.03},
        "val": {"accuracy": 0.70, "macro_f1": 0.55, "macro_f1_std": 0.04},
        "model": {"parameters": 1234, "flops_per_image": 56789},
        "timing": {"train_seconds": 321.0},
        "training": {"stop_reason": ["schedule_end", "early_stop"], "converged": True},
    }
    assert study.summary_row("cnn", m) == {
        "run": "cnn",
        "seeds": 3,
        "test_accuracy": 0.61,
        "test_accuracy_std": 0.02,
        "test_macro_f1": 0.41,
        "test_macro_f1_std": 0.03,
        "val_macro_f1": 0.55,
        "val_macro_f1_std": 0.04,
        "val_accuracy": 0.70,
        "parameters": 1234,
        "flops": 56789,
        "train_seconds": 321.0,
        "stop_reason": ["schedule_end", "early_stop"],
        "converged": True,
    }


def test_summary_row_of_a_record_without_spread_or_training_notes():
    m = {
        "seeds": [0],
        "test": {"accuracy": 0.5, "macro_f1": 0.4},
        "val": {"accuracy": 0.6, "macro_f1": 0.3},
        "model": {"parameters": 10, "flops_per_image": 100},
        "timing": {"train_seconds": 1.0},
    }
    row = study.summary_row("one", m)
    assert row["seeds"] == 1
    assert row["test_accuracy_std"] == row["test_macro_f1_std"] == row["val_macro_f1_std"] == 0.0
    assert row["stop_reason"] == [] and row["converged"] is None


def kernel_runs():
    """A reference, a 5×5 and a 7×7 run, and a 3×3 run with more filters (parameters 2000)."""
    runs = {
        "cnn": run([0.50, 0.52, 0.51], val_f1=[0.70, 0.71, 0.69], parameters=400),
        "kernel-5x5": run([0.4] * 3, params={"kernel_sizes": [5] * 4}, parameters=1100),
        "kernel-7x7": run([0.3] * 3, params={"kernel_sizes": [7] * 4}, parameters=2100),
        "kernel-3x3-wide": run(
            [0.55, 0.57, 0.56], params={"filters": [76]}, parameters=2000, val_f1=[0.7] * 3
        ),
    }
    runs["kernel-7x7"]["model"]["flops_per_image"] = 12000  # the reference's: 4000
    runs["kernel-7x7"]["timing"]["train_seconds"] = 6.0  # the reference's: 4.0
    return runs


def test_kernel_finding_costs_and_the_nearest_parameter_match():
    runs = kernel_runs()
    k = controls.kernel_finding(runs, {}, "cnn", ["kernel-5x5", "kernel-7x7", "kernel-3x3-wide"])
    assert sorted(k["rows"]) == ["cnn", "kernel-3x3-wide", "kernel-5x5", "kernel-7x7"]
    assert k["rows"]["kernel-7x7"]["run"] == "kernel-7x7"
    assert k["rows"]["cnn"]["parameters"] == 400
    assert k["cost"]["kernel-7x7"] == {
        "parameter_ratio": pytest.approx(2100 / 400),
        "flops_ratio": pytest.approx(3.0),
        "train_time_ratio": pytest.approx(1.5),
    }
    assert k["cost"]["cnn"] == {"parameter_ratio": 1.0, "flops_ratio": 1.0, "train_time_ratio": 1.0}
    # 2000 parameters: 100 from the 7×7 run, 900 from the 5×5, 1600 from the reference
    control = k["capacity_controls"]["kernel-3x3-wide"]
    assert control["matches"] == "kernel-7x7"
    assert control["parameter_ratio"] == pytest.approx(2000 / 2100)
    assert control["comparison"]["accuracy"]["difference"] == pytest.approx(0.26)
    assert list(k["capacity_controls"]) == ["kernel-3x3-wide"]


def test_kernel_finding_on_a_tie_keeps_the_reference():
    runs = kernel_runs()
    k = controls.kernel_finding(runs, {}, "cnn", ["kernel-3x3-wide"])  # both val macro-F1 0.70
    assert k["runs"] == ["cnn", "kernel-3x3-wide"]
    assert k["chosen_on_val"] == "cnn"
    assert k["capacity_controls"] == {}  # no larger kernel to match


def test_kernel_finding_without_the_reference_compares_nothing():
    runs = kernel_runs()
    del runs["cnn"]
    k = controls.kernel_finding(runs, {}, "cnn", ["kernel-5x5", "kernel-7x7", "kernel-3x3-wide"])
    assert k["runs"] == ["kernel-5x5", "kernel-7x7", "kernel-3x3-wide"]
    assert k["against_reference"] == {}
    assert "cost" not in k
    assert k["capacity_controls"] == {}
    assert controls.kernel_finding(runs, {}, "cnn", []) == {}


def permuted_runs():
    return {
        "cnn": run([0.60, 0.62, 0.61]),
        "cnn-permuted": run([0.30, 0.33, 0.31], params={"permute_pixels": True}),
        "baseline": run([0.50, 0.49, 0.52], params={"model": "baseline"}),
        "baseline-permuted": run(
            [0.51, 0.48], seeds=(0, 1), params={"model": "baseline", "permute_pixels": True}
        ),
    }


def test_permutation_finding_skips_an_orphan_shuffle_and_pairs_shared_seeds():
    runs = {
        "orphan-permuted": run([0.2] * 3, params={"permute_pixels": True, "filters": [8]}),
        **permuted_runs(),
    }
    p = controls.permutation_finding(runs, {}, "cnn", "baseline")
    assert sorted(p["runs"]) == ["baseline", "cnn"]
    # four independent runs, unpaired: each run's own mean, whatever seeds the others have
    le = p["locality_effect"]
    assert le["runs"] == ["cnn", "cnn-permuted", "baseline", "baseline-permuted"]
    expected = (0.61 - np.mean([0.30, 0.33, 0.31])) - (np.mean([0.50, 0.49, 0.52]) - 0.495)
    assert le["difference"] == pytest.approx(expected)
    assert le["p_value"] < 0.05 and le["verdict"] == verdicts.DIFFERENCE


def test_permutation_finding_without_a_shuffled_run_or_a_shuffled_baseline():
    assert controls.permutation_finding({"x": {"seeds": [0]}}, {}, "cnn", "baseline") == {
        "runs": {}
    }
    runs = permuted_runs()
    del runs["baseline-permuted"]
    p = controls.permutation_finding(runs, {}, "cnn", "baseline")
    assert list(p["runs"]) == ["cnn"]
    assert "noise_control" not in p and "locality_effect" not in p


def with_curve(rows, seeds=(0, 1, 2), shifts=(0, 8, 16)):
    return run(
        [r[0] for r in rows],
        seeds=seeds,
        translation={"shifts": list(shifts), "image_size": 64, "accuracy_per_seed": rows},
    )


def test_translation_reads_the_unshifted_and_the_largest_shift():
    # three shifts: the middle column is neither end
    runs = {
        "cnn": with_curve([[0.6, 0.5, 0.3], [0.6, 0.5, 0.36], [0.5, 0.4, 0.25]]),
        "baseline": with_curve([[0.5, 0.2, 0.45], [0.5, 0.2, 0.4], [0.4, 0.1, 0.38]]),
    }
    t = controls.translation_finding(runs, "cnn", "baseline")
    cnn = t["cnn"]
    assert cnn["shifts"] == [0, 8, 16] and cnn["image_size"] == 64
    assert cnn["max_shift_fraction"] == 0.25
    assert cnn["unshifted"] == pytest.approx(np.mean([0.6, 0.6, 0.5]))
    assert cnn["shifted"] == pytest.approx(np.mean([0.3, 0.36, 0.25]))
    assert cnn["drop"] == pytest.approx(np.mean([0.3, 0.24, 0.25]))
    assert cnn["relative_drop"] == pytest.approx(np.mean([0.5, 0.4, 0.5]))
    assert t["baseline"]["relative_drop_per_seed"] == pytest.approx([0.1, 0.2, 0.05])
    assert t["comparison"]["verdict"] == verdicts.DIFFERENCE


def test_translation_reports_a_model_without_the_other():
    curve = [[0.6, 0.5, 0.3], [0.6, 0.5, 0.36], [0.5, 0.4, 0.25]]
    t = controls.translation_finding({"cnn": with_curve(curve)}, "cnn", "baseline")
    assert list(t) == ["cnn"]
    no_curve = {"cnn": run([0.6] * 3), "baseline": with_curve(curve)}
    assert list(controls.translation_finding(no_curve, "cnn", "baseline")) == ["baseline"]


def test_translation_compares_the_two_kinds_unpaired():
    good = [[0.6, 0.5, 0.3], [0.6, 0.5, 0.36], [0.5, 0.4, 0.25]]
    flat = [[0.6, 0.5, 0.58], [0.6, 0.5, 0.59], [0.5, 0.4, 0.49]]
    runs = {"cnn": with_curve(good), "baseline": with_curve(flat[:2], seeds=(0, 1))}
    c = controls.translation_finding(runs, "cnn", "baseline")["comparison"]
    assert c["test"] == "Welch's t-test over seeds"
    assert len(c["a"]) == 3 and len(c["b"]) == 2  # no pairing: the seed sets may differ
    # the CNN loses 0.30, 0.24, 0.25; the flat one 0.02, 0.01
    assert c["difference"] == pytest.approx(np.mean([0.3, 0.24, 0.25]) - 0.015)
    assert c["verdict"] == verdicts.DIFFERENCE


def recipe_run(val_f1, seeds=(0,), params=None, during=0.97):
    m = run([0.5] * len(seeds), val_f1=val_f1, seeds=seeds, params=params)
    for r in m["per_seed"]:
        r["train"]["accuracy_during_training"] = during
    return m


def test_recipe_row_reads_a_seeds_val_scores_and_training():
    ref = recipe_run([0.70], params={"learning_rate": 0.002})
    r = scout.recipe_finding({"cnn": ref}, "cnn", [])
    assert r["rows"] == [
        {
            "run": "cnn",
            "change": "(the reference recipe)",
            "varies": "cnn",
            "model": "cnn",
            "changed": [],
            "seed": 0,
            "val_macro_f1": 0.70,
            "val_accuracy": 0.6,
            "val_balanced_accuracy": 0.5,
            "train_inference": 0.99,
            "train_during_training": 0.97,
            "stop_reason": "schedule_end",
            "plateaued": True,
            "epochs": 24,
        }
    ]
    assert r["best_on_val"] == "cnn" and r["reference_val_macro_f1"] == 0.70


def test_recipe_finding_without_seed_0_uses_the_references_first_seed():
    ref = recipe_run([0.61, 0.62], seeds=(1, 2))
    r = scout.recipe_finding({"cnn": ref}, "cnn", [])
    assert r["rows"][0]["seed"] == 1 and r["reference_val_macro_f1"] == 0.61
    assert scout.recipe_finding({}, "cnn", ["recipe-x"]) == {}


def test_recipe_finding_names_every_change_but_the_seeds_and_skips_missing_runs():
    ref = recipe_run([0.70, 0.60, 0.65], seeds=(0, 1, 2), params={"learning_rate": 0.002})
    ref["params"]["seeds"] = [0, 1, 2]
    runs = {
        "cnn": ref,
        "recipe-two": recipe_run(
            [0.72], params={"learning_rate": 0.001, "augment": "flip", "seeds": [0]}
        ),
        "recipe-pending": {"params": {"learning_rate": 0.01}},  # no per-seed results yet
        "recipe-baseline": recipe_run([0.90], params={"model": "baseline"}),
    }
    members = ["recipe-missing", "recipe-pending", "recipe-two", "recipe-baseline"]
    r = scout.recipe_finding(runs, "cnn", members)
    assert [row["run"] for row in r["rows"]] == ["cnn", "recipe-two", "recipe-baseline"]
    assert r["rows"][1]["change"] == "augment=flip, learning_rate=0.001"
    assert r["rows"][1]["model"] == "cnn"
    assert r["rows"][2]["change"] == "model=baseline" and r["rows"][2]["model"] == "baseline"
    assert r["best_on_val"] == "recipe-two"  # the baseline's 0.90 is not a CNN recipe
    assert r["reference_val_macro_f1"] == 0.70


def test_recipe_finding_compares_the_baselines_variants_with_the_baseline():
    ref = recipe_run([0.70, 0.66, 0.68], seeds=(0, 1, 2), params={"learning_rate": 0.002})
    base = recipe_run(
        [0.60, 0.64, 0.56], seeds=(0, 1, 2), params={"model": "baseline", "learning_rate": 2e-4}
    )
    runs = {
        "cnn": ref,
        "baseline": base,
        "baseline-lr-low": recipe_run([0.61], params={"model": "baseline", "learning_rate": 1e-4}),
        "recipe-lr-high": recipe_run([0.75], params={"learning_rate": 0.004}),
    }
    r = scout.recipe_finding(runs, "cnn", ["baseline-lr-low", "recipe-lr-high"], "baseline")
    assert [row["run"] for row in r["rows"]] == [
        "cnn",
        "baseline",
        "baseline-lr-low",
        "recipe-lr-high",
    ]
    assert r["rows"][1]["change"] == "(the baseline's recipe)" and r["rows"][1]["seed"] == 0
    assert r["rows"][2]["change"] == "learning_rate=0.0001"  # against the baseline, not the CNN
    assert r["rows"][3]["change"] == "learning_rate=0.004"
    # The baseline's variant leads by 0.01, less than the baseline's seed spread (0.04): noise.
    b = r["choice"]["baseline"]
    assert b["best_on_val"] == "baseline-lr-low" and b["gain"] == pytest.approx(0.01)
    assert b["seed_std"] == pytest.approx(0.04) and not b["beyond_spread"]
    # The CNN's variant leads by 0.05, more than one seed against one seed varies:
    # sqrt(2) times the reference's spread (0.02).
    c = r["choice"]["cnn"]
    assert c["best_on_val"] == "recipe-lr-high" and c["gain"] == pytest.approx(0.05)
    assert c["noise"] == pytest.approx(2**0.5 * c["seed_std"])
    # A lead above one seed spread but below sqrt(2) of it is still noise.
    close = scout._choice([{"run": "v", "val_macro_f1": 0.745}], {"val_macro_f1": 0.72}, 0.02)
    assert close["gain"] > 0.02 and not close["beyond_spread"]
    assert c["beyond_spread"] and r["best_on_val"] == "recipe-lr-high"
    # Without a computed baseline its variants are measured against the reference, as before.
    del runs["baseline"]
    r = scout.recipe_finding(runs, "cnn", ["baseline-lr-low"], "baseline")
    assert "baseline" not in r["choice"]
    assert r["rows"][1]["change"] == "learning_rate=0.0001, model=baseline"


def test_a_controls_rates_are_compared_with_the_control_and_chosen_on_val():
    """Each network gets its learning rate the same way: a control's variants stand beside the
    control's seed 0, not the reference's, and val chooses among them."""
    lc = {"model": "locally_connected", "learning_rate": 0.002, "filters": [32, 64]}
    runs = {
        "cnn": recipe_run([0.70, 0.66, 0.68], seeds=(0, 1, 2), params={"learning_rate": 0.002}),
        "lc": recipe_run([0.55, 0.52, 0.54], seeds=(0, 1, 2), params=lc),
        "lc-lr-low": recipe_run([0.60], params={**lc, "learning_rate": 0.001}),
        "lc-lr-lower": recipe_run([0.58], params={**lc, "learning_rate": 0.0005}),
        "recipe-lr-low": recipe_run([0.69], params={"learning_rate": 0.001}),
    }
    members = ["lc-lr-low", "lc-lr-lower", "recipe-lr-low"]
    r = scout.recipe_finding(runs, "cnn", members, None, ["lc"])
    assert [(row["run"], row["varies"]) for row in r["rows"]] == [
        ("cnn", "cnn"),
        ("lc", "lc"),
        ("lc-lr-low", "lc"),
        ("lc-lr-lower", "lc"),
        ("recipe-lr-low", "cnn"),  # one change from the reference, three from the control
    ]
    assert r["rows"][1]["change"] == "(lc's recipe)"
    assert r["rows"][2]["change"] == "learning_rate=0.001"
    assert r["rows"][2]["changed"] == ["learning_rate"]  # a rate of the control, nothing else
    c = r["choice"]["lc"]
    assert c["best_on_val"] == "lc-lr-low" and c["gain"] == pytest.approx(0.05)
    assert (c["learning_rate"], c["seed_std"]) == (0.002, pytest.approx(0.0152753, rel=1e-4))
    assert c["beyond_spread"]  # 0.05 > sqrt(2) x 0.0153
    assert r["choice"]["cnn"]["best_on_val"] == "cnn" and r["best_on_val"] == "cnn"
    # A control no variant varies gets no row and no choice.
    r = scout.recipe_finding(runs, "cnn", ["recipe-lr-low"], None, ["lc"])
    assert [row["run"] for row in r["rows"]] == ["cnn", "recipe-lr-low"]
    assert list(r["choice"]) == ["cnn"]


def test_a_variant_varies_the_run_it_changes_least_and_the_first_listed_on_a_tie():
    centres = {
        "cnn": {"params": {"model": "cnn", "learning_rate": 0.002, "seeds": [0, 1, 2]}},
        "twin": {"params": {"model": "cnn", "learning_rate": 0.002}},
        "dense": {"params": {"model": "dense", "learning_rate": 0.0002}},
    }
    assert scout.varied_run({"model": "cnn", "learning_rate": 0.004}, centres) == "cnn"
    assert scout.varied_run({"model": "dense", "learning_rate": 0.002}, centres) == "dense"
    assert scout.varied_run({"model": "cnn", "seeds": [0]}, centres) == "cnn"
    # A narrow network's rate tried at another length varies the narrow network, though the
    # wide one, listed first, differs from it in as few parameters (its filters and its rate).
    lc = {"model": "lc", "filters": [32], "learning_rate": 0.002, "epochs": 24}
    narrow = {**lc, "filters": [3], "epochs": 36}
    both = {"wide": {"params": lc}, "narrow": {"params": narrow}}
    assert scout.varied_run({**narrow, "learning_rate": 0.001, "epochs": 24}, both) == "narrow"
    assert scout.varied_run({**narrow, "epochs": 24}, both) == "narrow"


def test_consistency_takes_the_largest_gap_either_way_over_seeds_that_measured_it():
    m = run([0.5] * 3)
    measured = zip(m["per_seed"], [0.90, 0.99, 0.80], [0.95, 0.97, None], strict=True)
    for r, inference, during in measured:
        r["train"]["accuracy"] = inference
        if during is not None:
            r["train"]["accuracy_during_training"] = during
    c = findings.consistency(m)
    assert c["per_seed"] == [
        {"seed": 0, "inference": 0.90, "during_training": 0.95},
        {"seed": 1, "inference": 0.99, "during_training": 0.97},
        {"seed": 2, "inference": 0.80, "during_training": None},
    ]
    assert c["largest_gap"] == pytest.approx(0.05)  # below during training on seed 0
    assert findings.consistency(run([0.5] * 3))["largest_gap"] is None  # never measured
    assert findings.consistency({}) == {"per_seed": [], "largest_gap": None}


def study_runs():
    """A reference CNN and its baseline, each also on shuffled pixels and with a translation
    curve; a larger kernel, a run that repeats the reference, a recipe variant, a pending run."""
    curve = [[0.6, 0.5, 0.3], [0.6, 0.5, 0.36], [0.5, 0.4, 0.25]]
    runs = {
        "cnn": with_curve(curve),
        "baseline": with_curve([[0.5, 0.2, 0.45], [0.5, 0.2, 0.4], [0.4, 0.1, 0.38]]),
        "baseline-permuted": run(
            [0.51, 0.48, 0.41], params={"model": "baseline", "permute_pixels": True}
        ),
        "cnn-permuted": run([0.3, 0.3, 0.2], params={"permute_pixels": True}),
        "kernel-5x5": run([0.4] * 3, params={"kernel_sizes": [5] * 4}, parameters=1100),
        "kernel-3x3": {**run([0.6, 0.6, 0.5]), "same_computation_as": "cnn"},
        "recipe-lr-low": recipe_run([0.8], params={"learning_rate": 0.001}),
        "pending": {"params": {"filters": [16]}},
    }
    runs["baseline"]["params"]["model"] = "baseline"
    runs["baseline"]["model"]["parameters"] = 12500  # the reference's: 1000
    runs["baseline"]["train"]["balanced_accuracy"] = 0.8  # val: 0.5
    runs["cnn"]["shift"] = {"test_accuracy_common": 0.4}
    runs["cnn"]["baselines"] = {"chance": 0.04}
    runs["cnn"]["per_seed"][0]["train"]["accuracy_during_training"] = 0.96
    return runs


GROUPS = {
    "cnn": None,
    "baseline": None,
    "baseline-permuted": "locality",
    "cnn-permuted": "locality",
    "kernel-5x5": "kernels",
    "kernel-3x3": "kernels",
    "recipe-lr-low": "recipe",
    "pending": "kernels",
}


def test_findings_gathers_every_statement_from_the_runs_of_its_group():
    runs = study_runs()
    y = [0, 1, 2, 3]
    preds = {
        "cnn": predictions(y, [[0, 1, 2, 3]] * 3),
        "baseline": predictions(y, [[0, 0, 0, 0]] * 3),
    }
    f = findings.findings(runs, preds, "cnn", "baseline", GROUPS)
    c = f["cnn_vs_baseline"]
    assert (c["a"], c["b"]) == ("cnn", "baseline")
    # test accuracy per seed: cnn 0.6, 0.6, 0.5; baseline 0.5, 0.5, 0.4
    assert c["accuracy"]["difference"] == pytest.approx(0.1)
    # paired by seed index the three differences are identical (p 0); unpaired they are not
    assert c["accuracy"]["paired_p_value"] < 0.05
    assert c["accuracy"]["p_value"] > 0.05 and c["accuracy"]["verdict"] == verdicts.NO_DIFFERENCE
    assert [(r["only_a_correct"], r["only_b_correct"]) for r in c["mcnemar"]] == [(3, 0)] * 3
    assert c["parameter_ratio"] == 12.5  # the baseline's parameters per the CNN's
    assert c["train_val_gap_balanced"] == pytest.approx({"cnn": 0.4, "baseline": 0.3})
    assert f["permutation"]["noise_control"]["permuted"] == "baseline-permuted"
    # drops per seed: cnn 0.3, 0.3, 0.3; baseline -0.01, 0.02, -0.01
    assert f["permutation"]["locality_effect"]["difference"] == pytest.approx(0.3)
    assert f["kernels"]["runs"] == ["cnn", "kernel-5x5"]  # not the repeat, not the pending run
    assert f["kernels"]["against_reference"]["kernel-5x5"]["mcnemar"] == []
    # accuracy lost at the largest shift: cnn 0.30, 0.24, 0.25; baseline 0.05, 0.10, 0.02
    assert f["translation"]["comparison"]["difference"] == pytest.approx(
        np.mean([0.3, 0.24, 0.25]) - np.mean([0.05, 0.1, 0.02])
    )
    assert [r["run"] for r in f["recipe"]["rows"]] == ["cnn", "baseline", "recipe-lr-low"]
    assert f["shift"] == {"test_accuracy_common": 0.4}
    assert f["baselines"] == {"chance": 0.04}
    assert f["consistency"]["largest_gap"] == pytest.approx(0.03)
    # the results table: finished runs, not recipe variants nor repeats of another run
    assert [r["run"] for r in f["table"]] == [
        "cnn",
        "baseline",
        "baseline-permuted",
        "cnn-permuted",
        "kernel-5x5",
    ]
    assert f["table"][0] == study.summary_row("cnn", runs["cnn"])


def test_findings_without_groups_or_without_the_reference_or_baseline():
    runs = study_runs()
    f = findings.findings(runs, {}, "cnn", "baseline", {})
    assert f["kernels"]["runs"] == ["cnn"] and f["kernels"]["against_reference"] == {}
    assert [r["run"] for r in f["recipe"]["rows"]] == ["cnn", "baseline"]
    # without groups the recipe variant is an ordinary run of the table
    assert [r["run"] for r in f["table"]] == [
        "cnn",
        "baseline",
        "baseline-permuted",
        "cnn-permuted",
        "kernel-5x5",
        "recipe-lr-low",
    ]
    no_baseline = {n: m for n, m in runs.items() if n != "baseline"}
    f = findings.findings(no_baseline, {}, "cnn", "baseline", GROUPS)
    assert "cnn_vs_baseline" not in f and f["consistency"]["largest_gap"] is not None
    no_reference = {n: m for n, m in runs.items() if n != "cnn"}
    f = findings.findings(no_reference, {}, "cnn", "baseline", GROUPS)
    assert "cnn_vs_baseline" not in f and f["recipe"] == {}
    assert not {"shift", "consistency", "baselines"} & set(f)
    assert [r["run"] for r in f["table"]] == [
        "baseline",
        "baseline-permuted",
        "cnn-permuted",
        "kernel-5x5",
    ]


def test_the_val_test_gap_splits_into_appearance_and_class_mix():
    from analysis.stats import evaluate

    ids, names = [1, 2, 3], {1: "rock", 2: "sky", 3: "drill holes"}
    # class 3 is in val but not in test; the shared classes are recognised half as often on test
    labels = {
        "train": np.array([1, 1, 2, 2, 3]),
        "val": np.array([1, 1, 1, 2, 3, 3]),
        "test": np.array([1, 1, 2, 2]),
    }
    preds = {"val": [np.array([1, 1, 1, 2, 1, 3])], "test": [np.array([1, 2, 1, 2])]}
    g = findings.gap_decomposition(evaluate.split_shift(labels, preds, ids, names))
    assert g["val_common"] == 1.0 and g["test_common"] == 0.5
    assert g["test_at_val_mix"] == pytest.approx(3 / 4 * 0.5 + 1 / 4 * 0.5)
    assert g["appearance"] == pytest.approx(0.5) and g["mix"] == pytest.approx(0.0)
    assert g["larger"] == "appearance"
    assert [c["name"] for c in g["appearance_by_class"]] == ["rock", "sky"]
    assert [c["points"] for c in g["appearance_by_class"]] == pytest.approx([0.375, 0.125])
    assert g["val_only"] == [{"name": "drill holes", "val": 2, "test": 0, "val_recall": 0.5}]
    assert g["val_share_other"] == pytest.approx(2 / 6) and g["val_accuracy_other"] == 0.5
    # the other order: val at test's mix (2/4, 2/4 of classes 1 and 2, both recall 1) first
    assert g["val_at_test_mix"] == pytest.approx(1.0)
    assert g["other_order"] == {"mix": pytest.approx(0.0), "appearance": pytest.approx(0.5)}

    # the other side: the same classes score alike, test just holds more of the hard one
    labels = {
        "train": np.array([1, 2]),
        "val": np.array([1, 1, 1, 2]),
        "test": np.array([1, 2, 2, 2]),
    }
    preds = {"val": [np.array([1, 1, 1, 1])], "test": [np.array([1, 1, 1, 2])]}
    g = findings.gap_decomposition(evaluate.split_shift(labels, preds, ids, names))
    assert g["val_common"] == 0.75 and g["test_common"] == 0.5
    assert g["test_at_val_mix"] == pytest.approx(3 / 4 * 1.0 + 1 / 4 * (1 / 3))
    assert g["larger"] == "mix" and g["val_only"] == [] and g["val_accuracy_other"] is None
    # class mix first: val's recalls (1, 0) at test's mix (1/4, 3/4)
    assert g["val_at_test_mix"] == pytest.approx(0.25)
    assert g["other_order"]["mix"] == pytest.approx(0.5)
    assert g["other_order"]["appearance"] == pytest.approx(-0.25)
    assert g["gap"] == pytest.approx(g["appearance"] + g["mix"])
    assert findings.gap_decomposition(None) is None


def test_holm_adjusts_a_family_of_p_values_step_down():
    adj = verdicts.holm({"a": 0.01, "b": 0.045, "c": 0.12, "d": 0.57, "e": None})
    # sorted 0.01, 0.045, 0.12, 0.57: times 4, 3, 2, 1, kept monotone
    assert adj["a"] == pytest.approx(0.04) and adj["b"] == pytest.approx(0.135)
    assert adj["c"] == pytest.approx(0.24) and adj["d"] == pytest.approx(0.57)
    assert adj["e"] is None
    # monotone: a larger raw p never gets a smaller adjusted one; capped at 1
    adj = verdicts.holm({"a": 0.03, "b": 0.031, "c": 0.9})
    assert adj["a"] == pytest.approx(0.09) and adj["b"] == pytest.approx(0.09)
    assert verdicts.holm({"a": 0.6, "b": 0.7}) == {"a": 1.0, "b": 1.0}


def test_size_and_length_keeps_only_runs_that_change_input_size_or_epochs():
    base = {"learning_rate": 0.002, "image_size": 48, "epochs": 24}
    ref = recipe_run([0.72, 0.70, 0.71], seeds=(0, 1, 2), params={**base, "seeds": [0, 1, 2]})
    runs = {
        "cnn": ref,
        "recipe-96px": recipe_run([0.68], params={**base, "image_size": 96, "epochs": 15}),
        "recipe-short": recipe_run([0.66], params={**base, "epochs": 10}),
        "recipe-lr": recipe_run([0.80], params={**base, "learning_rate": 0.004}),
        "recipe-base": recipe_run([0.60], params={**base, "model": "baseline"}),
        "recipe-pending": {"params": {**base, "epochs": 36}},
    }
    rows = scout.size_and_length(runs, "cnn", [n for n in runs if n != "cnn"] + ["recipe-gone"])
    assert [(r["run"], r["image_size"], r["epochs"]) for r in rows] == [
        ("recipe-short", 48, 10),
        ("cnn", 48, 24),
        ("recipe-96px", 96, 15),
    ]
    assert rows[1]["val_macro_f1"] == 0.72  # seed 0, not the mean over seeds
    assert rows[2]["train_seconds"] == runs["recipe-96px"]["timing"]["train_seconds"]
    assert scout.size_and_length({}, "cnn", ["recipe-96px"]) == []


def test_the_128_px_family_is_judged_against_its_own_3x3_network():
    from analysis.study.findings import sized_reference

    p = {"model": "cnn", "kernel_sizes": [3, 3, 3, 3], "epochs": 24}
    runs = {
        "cnn": {"params": {**p, "image_size": 48}},
        "kernel-128-5x5": {"params": {**p, "kernel_sizes": [5, 5, 5, 5], "image_size": 128}},
        "kernel-128-3x3": {"params": {**p, "image_size": 128}},
    }
    members = ["kernel-128-5x5", "kernel-128-3x3"]
    assert sized_reference(runs, "cnn", members) == "kernel-128-3x3"
    del runs["kernel-128-3x3"]  # not computed yet: no reference, no verdict against a stand-in
    assert sized_reference(runs, "cnn", members) == ""
    runs["kernel-128-3x3"] = {"params": {**p, "image_size": 128, "epochs": 36}}
    assert sized_reference(runs, "cnn", members) == ""  # another recipe is not the reference


def test_each_decision_at_128_px_is_its_own_family_against_the_128_px_reference():
    """Depth, stride and padding: each family compares its members with the 3×3 network at
    128 px (the reference's twin at that size), and Holm adjusts within the family only."""
    at_128 = {"image_size": 128}
    runs = {
        "cnn": run([0.56, 0.57, 0.55]),
        "baseline": run([0.40, 0.41, 0.39], params={"model": "baseline"}),
        "kernel-128-3x3": run([0.51, 0.52, 0.515], params=at_128),
        "depth-128-2": run([0.45, 0.46, 0.44], params={**at_128, "kernel_sizes": [3, 3]}),
        "stride-128-strided": run([0.47, 0.48, 0.46], params={**at_128, "model": "cnn_strided"}),
        "stride-128-stem2": run([0.50, 0.52, 0.51], params={**at_128, "model": "cnn_stem2"}),
        "padding-128-valid": run([0.505, 0.52, 0.51], params={**at_128, "model": "cnn_valid"}),
    }
    groups = {
        "kernel-128-3x3": "kernels-128",
        "depth-128-2": "depth-128",
        "stride-128-strided": "stride-128",
        "stride-128-stem2": "stride-128",
        "padding-128-valid": "padding-128",
    }
    out = findings.findings(runs, {}, "cnn", "baseline", groups)
    expected = {
        "depth_128": ("depth at 128 px", ["depth-128-2"]),
        "stride_128": ("stride at 128 px", ["stride-128-strided", "stride-128-stem2"]),
        "padding_128": ("padding at 128 px", ["padding-128-valid"]),
    }
    for key, (family, members) in expected.items():
        f = out[key]
        assert f["runs"] == ["kernel-128-3x3", *members]  # the 128 px twin is the reference
        assert sorted(f["against_reference"]) == sorted(members)
        for name in members:
            acc = f["against_reference"][name]["accuracy"]
            assert acc["family"] == family
            assert acc["family_size"] == len(members)
            want = verdicts.welch(
                [r["test"]["accuracy"] for r in runs[name]["per_seed"]],
                [r["test"]["accuracy"] for r in runs["kernel-128-3x3"]["per_seed"]],
            )["p_value"]
            assert acc["p_value"] == pytest.approx(want)
            assert acc["p_holm"] >= acc["p_value"]
    stride = out["stride_128"]["against_reference"]
    raw = {n: c["accuracy"]["p_value"] for n, c in stride.items()}
    assert {n: c["accuracy"]["p_holm"] for n, c in stride.items()} == pytest.approx(
        verdicts.holm(raw)
    )


def test_the_colour_control_is_the_shuffled_cnn_without_colour_in_its_own_family():
    runs = permuted_runs()
    runs["baseline-permuted"] = run(
        [0.20, 0.21, 0.19], params={"model": "baseline", "permute_pixels": True}
    )
    runs["cnn-scrambled"] = run(
        [0.24, 0.26, 0.25], params={"model": "cnn_scrambled", "permute_pixels": True}
    )
    # a decoy: scrambled, but not the shuffled CNN's twin (other filters)
    runs["decoy"] = run([0.9] * 3, params={"model": "cnn_scrambled", "filters": [8]})
    p = controls.permutation_finding(runs, {}, "cnn", "baseline")
    c = p["colour"]
    assert (c["scrambled"], c["positions_only"], c["dense_shuffled"]) == (
        "cnn-scrambled",
        "cnn-permuted",
        "baseline-permuted",
    )
    shuffled, scrambled, dense = np.mean([0.30, 0.33, 0.31]), 0.25, 0.20
    assert c["colour"]["accuracy"]["difference"] == pytest.approx(shuffled - scrambled)
    assert c["against_dense"]["accuracy"]["difference"] == pytest.approx(scrambled - dense)
    assert c["lead"] == pytest.approx(shuffled - dense)
    assert c["share"] == pytest.approx((shuffled - scrambled) / (shuffled - dense))
    for key in ("colour", "against_dense"):
        acc = c[key]["accuracy"]
        assert (acc["family"], acc["family_size"]) == (controls.COLOUR, 2)
        assert acc["p_holm"] >= acc["p_value"]
    # the locality family keeps its own size: the colour tests are not in it
    assert p["locality_effect"]["family_size"] == 3
    assert "decoy" not in str(p["runs"])


def test_no_colour_finding_without_the_scrambled_twin_or_with_no_lead():
    runs = permuted_runs()
    assert "colour" not in controls.permutation_finding(runs, {}, "cnn", "baseline")
    runs["cnn-scrambled"] = run([0.2] * 3, params={"model": "cnn_scrambled", "filters": [8]})
    assert "colour" not in controls.permutation_finding(runs, {}, "cnn", "baseline")
    runs["cnn-scrambled"]["params"]["filters"] = [32]
    runs["cnn-scrambled"]["params"]["permute_pixels"] = True
    runs["baseline-permuted"] = run(
        [0.40, 0.41, 0.39], params={"model": "baseline", "permute_pixels": True}
    )
    c = controls.permutation_finding(runs, {}, "cnn", "baseline")["colour"]
    assert c["lead"] < 0 and c["share"] is None  # no lead: no share of it


def test_the_colour_share_has_its_interval_from_the_declared_bootstrap():
    runs = permuted_runs()
    runs["baseline-permuted"] = run(
        [0.20, 0.21, 0.19], params={"model": "baseline", "permute_pixels": True}
    )
    runs["cnn-scrambled"] = run(
        [0.24, 0.26, 0.25], params={"model": "cnn_scrambled", "permute_pixels": True}
    )
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 60)
    groups = np.repeat(np.arange(12), 5)
    rates = {"cnn-permuted": 0.6, "cnn-scrambled": 0.5, "baseline-permuted": 0.3}
    files = np.array([f"{i:04d}MR.jpg" for i in range(60)])
    preds = {
        n: {
            "files": files,
            "y_true": y,
            "y_pred": np.where(rng.random((3, 60)) < r, y, (y + 1) % 3),
            "seeds": np.array([0, 1, 2]),
        }
        for n, r in rates.items()
    }
    c = controls.colour_finding(runs, preds, "baseline-permuted", groups)
    drawn = bootstrap.bootstrap_accuracies({n: verdicts.correct(preds[n]) for n in rates}, groups)
    ratio = (drawn["cnn-permuted"] - drawn["cnn-scrambled"]) / (
        drawn["cnn-permuted"] - drawn["baseline-permuted"]
    )
    assert c["share_ci95"] == pytest.approx(np.quantile(ratio, [0.025, 0.975]))
    assert controls.colour_finding(runs, {}, "baseline-permuted", groups)["share_ci95"] is None
