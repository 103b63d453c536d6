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
