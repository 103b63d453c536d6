"""The statistics on hand-checkable predictions."""

from __future__ import annotations

import statistics
import warnings

import numpy as np
import pytest

from analysis.stats import evaluate


def test_scores_and_per_class():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 1, 0])
    s = evaluate.scores(y, p)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    rows = evaluate.per_class(y, p, [0, 1, 2, 3], {0: "a", 1: "b", 2: "c", 3: "d"})
    assert [r["support"] for r in rows] == [3, 2, 1, 0]
    assert rows[1]["precision"] == pytest.approx(2 / 3) and rows[1]["recall"] == 1.0


def test_confusion_rows_sum_to_support():
    y = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 2, 1, 2, 0, 5])
    cm = evaluate.confusion(y, p, [0, 1, 2, 5, 7])
    assert cm["labels"] == [0, 1, 2, 5]
    counts = np.array(cm["counts"])
    assert counts.sum(axis=1).tolist() == [2, 1, 3, 0]


def test_bootstrap_interval_brackets_accuracy():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 400)
    p = np.where(rng.random(400) < 0.7, y, (y + 1) % 3)
    lo, hi = evaluate.bootstrap_accuracy_ci(y, p)
    acc = np.mean(y == p)
    assert lo < acc < hi and hi - lo < 0.12
    # Several seeds: an image's weight is the share of seeds that got it right.
    lo2, hi2 = evaluate.bootstrap_accuracy_ci(y, np.stack([p, y]))
    assert lo2 > lo


def test_mcnemar():
    y = np.zeros(100, dtype=int)
    a = np.zeros(100, dtype=int)
    b = a.copy()
    b[:20] = 1  # B wrong on 20 images A gets right
    res = evaluate.mcnemar(y, a, b)
    assert (res["only_a_correct"], res["only_b_correct"]) == (20, 0)
    assert res["statistic"] == pytest.approx(19**2 / 20)
    assert res["p_value"] < 1e-5
    same = evaluate.mcnemar(y, a, a)
    assert same["p_value"] == 1.0
    with pytest.raises(ValueError):
        evaluate.mcnemar(y, a, b[:50])


def test_chance_and_majority():
    out = evaluate.chance_and_majority(np.array([8, 8, 8, 1, 2]), np.array([8, 1, 1, 1]))
    assert out == {
        "chance": pytest.approx(1 / 3),
        "majority_class": 0.25,
        "majority_class_id": 8,
        # train's shares 3/5, 1/5, 1/5 against test's 1/4, 3/4, 0: 3/20 + 3/20 + 0
        "prior_guess": pytest.approx(0.3),
        "best_constant": 0.75,  # test's own largest class, in hindsight
        "best_constant_id": 1,
    }


def test_macro_f1_by_hand_with_a_predicted_class_absent_from_the_labels():
    # Class 9 is predicted once but never true: it must not enter the macro average.
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    p = np.array([0, 0, 1, 1, 9, 2, 2, 0])
    # per class: 0: tp 2, fp 1, fn 1 -> P 2/3 R 2/3 F1 2/3; 1: tp 1 fp 1 fn 1 -> F1 1/2;
    #            2: tp 2 fp 0 fn 1 -> P 1 R 2/3 F1 0.8
    s = evaluate.scores(y, p)
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0.8) / 3)
    assert s["macro_f1"] != pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 3 * 0.8) / 8)  # not weighted
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    rows = {
        r["id"]: r for r in evaluate.per_class(y, p, [0, 1, 2, 9], dict.fromkeys(range(10), ""))
    }
    assert rows[2]["f1"] == pytest.approx(0.8) and rows[2]["precision"] == 1.0
    assert rows[9]["support"] == 0 and rows[9]["f1"] == 0.0


@pytest.mark.parametrize(("b", "c"), [(12, 3), (7, 5), (1, 9)])
def test_mcnemar_against_the_binomial_and_chi_square_formulas(b, c):
    from scipy import stats

    y = np.zeros(b + c + 10, dtype=int)
    a, bb = y.copy(), y.copy()
    a[b : b + c] = 1  # A wrong where only B is right
    bb[:b] = 1  # B wrong where only A is right
    res = evaluate.mcnemar(y, a, bb)
    assert (res["only_a_correct"], res["only_b_correct"]) == (b, c)
    assert res["statistic"] == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))
    exact = 2 * stats.binom.cdf(min(b, c), b + c, 0.5)
    assert res["p_value"] == pytest.approx(min(1.0, exact))
    assert (res["p_value"] < 0.05) == ((b, c) == (12, 3) or (b, c) == (1, 9))


def test_bootstrap_interval_against_the_normal_approximation_and_its_level():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 1000)
    p = np.where(rng.random(1000) < 0.6, y, (y + 1) % 4)
    acc = np.mean(p == y)
    half = 1.96 * np.sqrt(acc * (1 - acc) / len(y))
    lo, hi = evaluate.bootstrap_accuracy_ci(y, p)
    assert lo == pytest.approx(acc - half, abs=0.01) and hi == pytest.approx(acc + half, abs=0.01)
    lo80, hi80 = evaluate.bootstrap_accuracy_ci(y, p, confidence=0.80)
    assert lo < lo80 < acc < hi80 < hi
    assert (hi80 - lo80) / (hi - lo) == pytest.approx(1.2816 / 1.96, abs=0.08)


def test_mean_std_uses_the_sample_convention():
    mean, std = evaluate.mean_std([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1)  # ddof=1, not 0.0816
    assert evaluate.mean_std([0.4]) == (0.4, 0.0)


def test_split_shift_by_hand():
    ids, names = [1, 2, 3], {1: "a", 2: "b", 3: "c"}
    labels = {
        "train": np.array([1, 1, 1, 2, 2, 3]),  # class 3: one training image
        "val": np.array([1, 1, 1, 1, 2]),  # no class 3
        "test": np.array([1, 2, 2, 2, 3, 3]),
    }
    preds = {"val": [np.array([1, 1, 1, 2, 2])], "test": [np.array([1, 2, 1, 1, 3, 1])]}
    s = evaluate.split_shift(labels, preds, ids, names, few=1)
    rows = {r["id"]: r for r in s["per_class"]}
    assert rows[1]["val_recall"] == 0.75 and rows[2]["test_recall"] == pytest.approx(1 / 3)
    assert rows[3]["val_recall"] is None and rows[3]["test_recall"] == 0.5
    assert s["common_classes"] == [1, 2]
    assert s["test_share_common"] == pytest.approx(4 / 6)
    assert s["test_accuracy_common"] == pytest.approx(2 / 4)  # images 1 and the first 2 right
    assert s["val_accuracy_common"] == pytest.approx(4 / 5)
    # test recall 1.0 for class 1, 1/3 for class 2, weighted by val's mix 4/5 and 1/5
    assert s["test_accuracy_val_mix"] == pytest.approx(4 / 5 * 1.0 + 1 / 5 * (1 / 3))
    assert s["few_shot_classes"] == [3] and s["test_share_few_shot"] == pytest.approx(2 / 6)


def test_scores_silence_only_the_absent_class_warning():
    # Predicting a class the split lacks is legitimate: no warning reaches the caller ...
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 0, 5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = evaluate.scores(y, p)
    # recall 1, 0, 0 over the three true classes; F1: class 0 P 1/2 R 1 -> 2/3, the others 0
    assert s["balanced_accuracy"] == pytest.approx(1 / 3)
    assert s["macro_f1"] == pytest.approx((2 / 3) / 3)
    assert s["accuracy"] == pytest.approx(2 / 5)
    # ... but other warnings from scikit-learn (here: a one-class evaluation) are not hidden.
    with pytest.warns(UserWarning, match="single label"):
        one = evaluate.scores(np.array([3, 3, 3]), np.array([3, 3, 3]))
    assert one == {"accuracy": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0}


def test_per_class_rows_and_undefined_ratios_are_zero_without_warnings():
    y = np.array([0, 0, 1, 1, 2])
    p = np.array([0, 0, 0, 0, 5])
    names = {0: "rock", 1: "sky", 2: "wheel", 5: "drill", 7: "mast"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero_division is set: no UndefinedMetricWarning
        rows = evaluate.per_class(y, p, [0, 1, 2, 5, 7], names)
    assert rows == [
        # class 0: tp 2, fp 2 -> P 1/2, R 1, F1 2/3
        {
            "id": 0,
            "name": "rock",
            "precision": 0.5,
            "recall": 1.0,
            "f1": pytest.approx(2 / 3),
            "support": 2,
        },
        # never predicted: precision 0/0 -> 0
        {"id": 1, "name": "sky", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2},
        {"id": 2, "name": "wheel", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        # predicted once, never true: recall 0/0 -> 0
        {"id": 5, "name": "drill", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
        # neither true nor predicted: every ratio 0/0 -> 0
        {"id": 7, "name": "mast", "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    ]


def test_confusion_follows_the_order_of_class_ids_and_drops_unknown_ids():
    y = np.array([2, 2, 0])
    p = np.array([2, 0, 9])  # 9 is not among the class ids
    cm = evaluate.confusion(y, p, [2, 0, 1])
    assert cm == {"labels": [2, 0], "counts": [[1, 1], [0, 0]]}


def test_bootstrap_interval_of_a_constant_sample_is_a_point():
    assert evaluate.bootstrap_accuracy_ci([3], [3]) == [1.0, 1.0]  # a single image
    assert evaluate.bootstrap_accuracy_ci([1, 2, 3], [0, 0, 0]) == [0.0, 0.0]
    # two seeds, each image right under exactly one of them: every image weighs 1/2
    y = np.array([1, 2, 3, 4])
    preds = np.array([[1, 0, 3, 0], [0, 2, 0, 4]])
    assert evaluate.bootstrap_accuracy_ci(y, preds) == [0.5, 0.5]


def percentile_bootstrap_by_hand(correct, confidence=0.95, n_resamples=2000, seed=0):
    """Resample the images with replacement (one row of indices per resample, drawn from
    numpy's Generator as scipy does), take each resample's mean, read off the percentiles."""
    idx = np.random.default_rng(seed).integers(0, len(correct), (n_resamples, len(correct)))
    means = np.asarray(correct)[idx].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return np.percentile(means, [tail, 100 - tail]).tolist()


def bootstrap_sample():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 60)
    # 50 seeds, each image with its own difficulty: shares in fiftieths, so the resample means
    # are fine-grained and every setting of the procedure moves the percentiles
    difficulty = rng.random(60)
    preds = np.where(rng.random((50, 60)) < difficulty, y, (y + 1) % 5)
    return y, preds, (preds == y).mean(axis=0)


def test_bootstrap_defaults_are_a_seeded_percentile_bootstrap_of_2000_resamples():
    y, preds, correct = bootstrap_sample()
    got = evaluate.bootstrap_accuracy_ci(y, preds)
    assert got == pytest.approx(percentile_bootstrap_by_hand(correct), rel=1e-12)
    # the defaults matter: another seed or resample count gives another interval
    assert got != pytest.approx(percentile_bootstrap_by_hand(correct, seed=1), rel=1e-12)
    assert got != pytest.approx(percentile_bootstrap_by_hand(correct, n_resamples=2001), rel=1e-12)
    assert evaluate.bootstrap_accuracy_ci(y, preds) == got  # reproducible


def test_bootstrap_arguments_are_passed_through():
    y, preds, correct = bootstrap_sample()
    got = evaluate.bootstrap_accuracy_ci(y, preds, confidence=0.9, n_resamples=500, seed=11)
    expected = percentile_bootstrap_by_hand(correct, confidence=0.9, n_resamples=500, seed=11)
    assert got == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_disagreement_and_with_a_tie():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    assert evaluate.mcnemar(y, y, y) == {
        "only_a_correct": 0,
        "only_b_correct": 0,
        "statistic": 0.0,
        "p_value": 1.0,
    }
    # A alone right on the first 5 images, B alone right on the next 5: b = c = 5
    a, b = y.copy(), y.copy()
    b[:5] = (y[:5] + 1) % 3
    a[5:10] = (y[5:10] + 1) % 3
    res = evaluate.mcnemar(y, a, b)
    # (|5 - 5| - 1)^2 / 10 = 0.1; the two-sided binomial p-value of a perfect tie is 1
    assert res == {
        "only_a_correct": 5,
        "only_b_correct": 5,
        "statistic": pytest.approx(0.1),
        "p_value": pytest.approx(1.0),
    }


def test_mcnemar_refuses_predictions_of_other_lengths():
    y = np.zeros(4, dtype=int)
    msg = "^McNemar's test needs predictions on the same images$"
    with pytest.raises(ValueError, match=msg):
        evaluate.mcnemar(y, y[:3], y)
    with pytest.raises(ValueError, match=msg):
        evaluate.mcnemar(y[:3], y, y)


def test_best_constant_is_test_s_largest_class_whatever_its_id():
    out = evaluate.chance_and_majority(np.array([0, 0, 1]), np.array([0, 5, 5]))
    assert out["best_constant_id"] == 5 and out["best_constant"] == pytest.approx(2 / 3)
    assert out["majority_class_id"] == 0 and out["majority_class"] == pytest.approx(1 / 3)
    # train's shares 2/3, 1/3 against test's 1/3 (class 0), 0 (class 1)
    assert out["prior_guess"] == pytest.approx(2 / 9) and out["chance"] == 0.5


def test_mean_std_of_two_values_and_of_float32_input():
    mean, std = evaluate.mean_std([0.5, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(0.1 * np.sqrt(2))
    # Keras hands accuracies over as float32: the statistics are still done in double precision
    acc = np.array([0.71, 0.73, 0.74], dtype=np.float32)
    mean, std = evaluate.mean_std(acc)
    as_double = [float(v) for v in acc]
    assert mean == pytest.approx(statistics.fmean(as_double), rel=1e-12, abs=0)
    assert std == pytest.approx(statistics.stdev(as_double), rel=1e-12, abs=0)


def test_split_shift_with_seeds_an_unseen_class_and_the_default_threshold():
    ids, names = [1, 2, 3, 4], {1: "rock", 2: "sky", 3: "wheel", 4: "drill"}
    labels = {
        "train": np.array([1] * 10 + [2] * 11 + [3]),  # 10, 11, 1 and 0 training images
        "val": np.array([1, 1, 2, 4]),  # class 4 is in val and test but never in train
        "test": np.array([1, 1, 1, 2, 3, 4]),
    }
    preds = {
        "val": [np.array([1, 2, 2, 4])],
        "test": [np.array([1, 1, 1, 1, 3, 1]), np.array([2, 1, 1, 2, 3, 4])],
    }
    s = evaluate.split_shift(labels, preds, ids, names)
    assert s["per_class"] == [
        # test recall per seed: class 1 1 and 2/3, class 2 0 and 1, class 4 0 and 1
        {
            "id": 1,
            "name": "rock",
            "train": 10,
            "val": 2,
            "test": 3,
            "val_recall": 0.5,
            "test_recall": pytest.approx(5 / 6),
        },
        {
            "id": 2,
            "name": "sky",
            "train": 11,
            "val": 1,
            "test": 1,
            "val_recall": 1.0,
            "test_recall": 0.5,
        },
        {
            "id": 3,
            "name": "wheel",
            "train": 1,
            "val": 0,
            "test": 1,
            "val_recall": None,
            "test_recall": 1.0,
        },
        {
            "id": 4,
            "name": "drill",
            "train": 0,
            "val": 1,
            "test": 1,
            "val_recall": 1.0,
            "test_recall": 0.5,
        },
    ]
    assert s["common_classes"] == [1, 2]
    assert s["test_share_common"] == pytest.approx(4 / 6)
    # val images of classes 1 and 2: 1, 1, 2 predicted 1, 2, 2 (the class-4 image is left out)
    assert s["val_accuracy_common"] == pytest.approx(2 / 3)
    # test images of classes 1 and 2: 3 of 4 right under each seed
    assert s["test_accuracy_common"] == pytest.approx(3 / 4)
    # val's mix of the common classes is 2/3, 1/3: seed 1 2/3 * 1 + 1/3 * 0, seed 2
    # 2/3 * 2/3 + 1/3 * 1
    assert s["test_accuracy_val_mix"] == pytest.approx((2 / 3 + 7 / 9) / 2)
    # default threshold 10: 10 training images is few, 11 is not; 0 images is few
    assert s["few_shot_threshold"] == 10
    assert s["few_shot_classes"] == [1, 3, 4]
    assert s["test_share_few_shot"] == pytest.approx(5 / 6)
