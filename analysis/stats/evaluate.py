"""Scores computed from predictions: scikit-learn metrics, SciPy statistics."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy, macro-F1 and balanced accuracy, over the classes present in y_true."""
    labels = np.unique(y_true)
    with warnings.catch_warnings():  # predicting a class the split lacks is legitimate here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = balanced_accuracy_score(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "balanced_accuracy": float(balanced),
    }


def per_class(y_true, y_pred, class_ids: list[int], names: dict[int, str]) -> list[dict]:
    """Precision, recall, F1 and support per class (classes absent from y_true have support 0)."""
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=class_ids, zero_division=0)
    return [
        {
            "id": int(c),
            "name": names[int(c)],
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(class_ids)
    ]


def confusion(y_true, y_pred, class_ids: list[int]) -> dict:
    """Counts, rows = true class; only classes that occur in y_true or y_pred are kept."""
    present = sorted(set(np.unique(y_true)) | set(np.unique(y_pred)))
    labels = [c for c in class_ids if c in present]
    counts = confusion_matrix(y_true, y_pred, labels=labels)
    return {"labels": [int(c) for c in labels], "counts": counts.tolist()}


def bootstrap_accuracy_ci(
    y_true, y_pred, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> list[float]:
    """Percentile bootstrap interval for accuracy, resampling test images. `y_pred` may hold
    one row per seed: each image then counts with its share of seeds that got it right."""
    correct = (np.atleast_2d(y_pred) == np.asarray(y_true)[None, :]).mean(axis=0)
    if correct.min() == correct.max():  # a constant sample has a degenerate interval
        return [float(correct[0]), float(correct[0])]
    res = stats.bootstrap(
        (correct,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """McNemar's test on the same images: b = only A right, c = only B right.

    The statistic is the continuity-corrected chi-square; the p-value is the exact binomial
    one (scipy.stats.binomtest), which stays valid when few images disagree.
    """
    y_true, pred_a, pred_b = map(np.asarray, (y_true, pred_a, pred_b))
    if not (len(y_true) == len(pred_a) == len(pred_b)):
        raise ValueError("McNemar's test needs predictions on the same images")
    a_right, b_right = pred_a == y_true, pred_b == y_true
    b = int(np.sum(a_right & ~b_right))
    c = int(np.sum(~a_right & b_right))
    if b + c == 0:
        return {"only_a_correct": 0, "only_b_correct": 0, "statistic": 0.0, "p_value": 1.0}
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    p_value = stats.binomtest(b, b + c, 0.5).pvalue
    return {
        "only_a_correct": b,
        "only_b_correct": c,
        "statistic": float(statistic),
        "p_value": float(p_value),
    }


def chance_and_majority(y_train, y_test) -> dict[str, float]:
    """The trivial answers a model must beat, on test: uniform guessing over the training
    classes; always answering train's largest class; guessing in train's class proportions
    (expected accuracy); and the best constant answer in hindsight (test's own largest class,
    a line for the reader, never a model)."""
    classes, counts = np.unique(y_train, return_counts=True)
    majority = classes[np.argmax(counts)]
    y_test = np.asarray(y_test)
    test_classes, test_counts = np.unique(y_test, return_counts=True)
    share = dict(zip(test_classes.tolist(), (test_counts / len(y_test)).tolist(), strict=True))
    prior = counts / counts.sum()
    return {
        "chance": float(1 / len(classes)),
        "majority_class": float(np.mean(y_test == majority)),
        "majority_class_id": int(majority),
        "prior_guess": float(
            sum(p * share.get(int(c), 0.0) for c, p in zip(classes, prior, strict=True))
        ),
        "best_constant": float(test_counts.max() / len(y_test)),
        "best_constant_id": int(test_classes[np.argmax(test_counts)]),
    }


def recall_per_class(y_true, y_pred, class_ids) -> dict[int, float | None]:
    """Recall of each class in y_true (None for a class with no images there)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    out: dict[int, float | None] = {}
    for c in class_ids:
        mask = y_true == c
        out[int(c)] = float(np.mean(y_pred[mask] == c)) if mask.any() else None
    return out


def split_shift(labels: dict, predictions: dict, class_ids, names, few: int = 10) -> dict:
    """The val->test gap, quantified. `labels`: split -> true ids (train, val, test);
    `predictions`: split -> one array of predicted ids per seed (val, test).

    - per-class recall on val and on test (means over seeds);
    - accuracy on the classes present in all three splits;
    - test accuracy re-weighted to val's class mix (each test class's accuracy weighted by its
      share of val), which separates "test holds other classes" from "the same classes look
      different on test";
    - the classes with <= `few` training images, and their share of test.
    """
    y = {s: np.asarray(v) for s, v in labels.items()}
    counts = {s: {int(c): int(np.sum(v == c)) for c in class_ids} for s, v in y.items()}
    rec = {
        s: [recall_per_class(y[s], p, class_ids) for p in predictions[s]] for s in ("val", "test")
    }

    def mean_recall(split, c):
        vals = [r[c] for r in rec[split] if r[c] is not None]
        return float(np.mean(vals)) if vals else None

    common = [c for c in class_ids if all(counts[s][c] for s in ("train", "val", "test"))]
    mask = np.isin(y["test"], common)
    acc_common = [float(np.mean(p[mask] == y["test"][mask])) for p in predictions["test"]]
    val_mask = np.isin(y["val"], common)
    acc_common_val = [float(np.mean(p[val_mask] == y["val"][val_mask])) for p in predictions["val"]]
    n_val = sum(counts["val"][c] for c in common) or 1
    reweighted = [
        float(sum(counts["val"][c] / n_val * r[c] for c in common if r[c] is not None))
        for r in rec["test"]
    ]
    rare = [c for c in class_ids if counts["train"][c] <= few]
    return {
        "per_class": [
            {
                "id": int(c),
                "name": names[int(c)],
                "train": counts["train"][c],
                "val": counts["val"][c],
                "test": counts["test"][c],
                "val_recall": mean_recall("val", c),
                "test_recall": mean_recall("test", c),
            }
            for c in class_ids
        ],
        "common_classes": [int(c) for c in common],
        "test_share_common": float(mask.mean()),
        "val_accuracy_common": float(np.mean(acc_common_val)),
        "test_accuracy_common": float(np.mean(acc_common)),
        "test_accuracy_val_mix": float(np.mean(reweighted)),
        "few_shot_classes": [int(c) for c in rare],
        "few_shot_threshold": few,
        "test_share_few_shot": float(np.isin(y["test"], rare).mean()),
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
