"""The study's cross-run findings (analysis.study), each checked on both sides: a case where
it holds and one where it does not, against values worked out independently."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis import study


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
    assert out["p_value"] < 0.05 and out["verdict"] == study.DIFFERENCE
    assert study.paired(b, a)["difference"] == pytest.approx(-diffs.mean())  # the sign


def test_paired_does_not_call_noise_a_difference():
    out = study.paired(run([0.50, 0.40, 0.47]), run([0.45, 0.46, 0.44]))
    assert out["p_value"] > 0.05 and out["verdict"] == study.NO_DIFFERENCE
    assert not out["same_sign_all_seeds"]


def test_paired_uses_only_shared_seeds_and_never_tests_one_seed():
    a, b = run([0.5, 0.6], seeds=(0, 1)), run([0.4], seeds=(1,))
    out = study.paired(a, b)
    assert out["seeds"] == [1] and out["difference"] == pytest.approx(0.2)
    assert out["p_value"] is None and out["verdict"] == study.ONE_SEED


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
    p = study.permutation_finding(runs, {}, "cnn", "baseline")
    assert p["runs"]["cnn"]["permuted"] == "cnn-permuted"
    assert p["runs"]["cnn"]["comparison"]["verdict"] == study.DIFFERENCE
    assert p["noise_control"]["permuted"] == "baseline-permuted"
    assert p["noise_control"]["comparison"]["verdict"] == study.NO_DIFFERENCE
    # per seed: cnn drops 0.30, 0.29, 0.30; baseline -0.01, 0.01, 0.00
    le = p["locality_effect"]
    assert le["difference"] == pytest.approx(np.mean([0.31, 0.28, 0.30]))
    assert le["verdict"] == study.DIFFERENCE


def test_original_of_ignores_runs_that_differ_in_more_than_the_shuffle():
    runs = {
        "cnn": run([0.6] * 3),
        "cnn-wide": run([0.6] * 3, params={"filters": [64]}),
        "wide-permuted": run([0.3] * 3, params={"filters": [64], "permute_pixels": True}),
    }
    assert study.original_of("wide-permuted", runs) == "cnn-wide"


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
    k = study.kernel_finding(runs, {}, "cnn", members)
    assert k["runs"] == ["cnn", "kernel-5x5", "kernel-3x3-wide", "kernel-7x7"]
    assert k["chosen_on_val"] == "kernel-5x5"  # val, not test, chooses
    assert k["against_reference"]["kernel-5x5"]["accuracy"]["difference"] == pytest.approx(-0.10)
    assert k["cost"]["kernel-7x7"]["parameter_ratio"] == pytest.approx(2100 / 400)
    control = k["capacity_controls"]["kernel-3x3-wide"]
    assert control["matches"] == "kernel-5x5"
    assert control["comparison"]["accuracy"]["difference"] == pytest.approx(0.15)
    assert control["comparison"]["verdict"] == study.DIFFERENCE


def test_translation_compares_relative_drops_per_seed():
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
    t = study.translation_finding(runs, "cnn", "baseline")
    assert t["cnn"]["relative_drop_per_seed"] == pytest.approx([0.5, 0.4, 0.5])
    assert t["cnn"]["max_shift_fraction"] == 0.25
    assert t["comparison"]["difference"] == pytest.approx(np.mean([0.4, 0.2, 0.45]))


def test_recipe_finding_reads_val_only_and_names_the_change():
    ref = run([0.5] * 3, val_f1=[0.70, 0.60, 0.65], params={"learning_rate": 0.002})
    variant = run([0.9], val_f1=[0.66], seeds=(0,), params={"learning_rate": 0.001})
    r = study.recipe_finding({"cnn": ref, "recipe-lr-low": variant}, "cnn", ["recipe-lr-low"])
    assert r["rows"][0]["val_macro_f1"] == 0.70  # the reference's seed 0
    assert r["rows"][1]["change"] == "learning_rate=0.001"
    assert r["best_on_val"] == "cnn"  # a better test score does not matter
    assert "test" not in str(r["rows"])
