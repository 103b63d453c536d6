"""The statistics on hand-checkable predictions."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import evaluate


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
