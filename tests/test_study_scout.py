"""The GPU scout's tables (analysis.study.comparisons.scout_summary, scout_decisions): the rows the
recipe page cites, and the decisions it states from them, against values worked out by hand."""

from __future__ import annotations

import pytest

from analysis.study import scout


def scout_row(variant, seed, f1, acc, train, during, plateaued, model="cnn", **extra):
    """One line of bench/scout.py's output: a variant's seed, its val and train scores."""
    return {
        "variant": variant,
        "seed": seed,
        "params": {"model": model, "augment": "none" if variant == "aug-none" else "flip"},
        "val": {"accuracy": acc, "macro_f1": f1, "balanced_accuracy": 0.0},
        "train_inference": {"accuracy": train, "macro_f1": 0.0},
        "train_accuracy_during_training": during,
        "plateaued": plateaued,
        **extra,
    }


def test_scout_summary_means_and_spreads_each_variant_over_its_seeds():
    rows = [
        scout_row("reference", 2, 0.72, 0.62, 0.98, 0.94, True, backend="jax"),
        scout_row("baseline", 0, 0.50, 0.55, 0.90, 0.80, False, model="baseline"),
        scout_row("reference", 0, 0.70, 0.60, 0.99, 0.95, True, backend="jax"),
        scout_row("aug-none", 0, 0.80, 0.70, 1.00, 0.99, False, backend="jax"),
        scout_row("reference", 1, 0.74, 0.64, 0.97, 0.93, False, backend="jax"),
        scout_row("baseline", 1, 0.40, 0.45, 0.92, 0.82, True, model="baseline"),
    ]
    out = scout.scout_summary(rows)
    assert [r["variant"] for r in out] == ["aug-none", "reference", "baseline"]  # best val first
    ref = out[1]
    assert ref == {
        "variant": "reference",
        "model": "cnn",
        "augment": "flip",
        "seeds": [0, 1, 2],
        "val_macro_f1": pytest.approx(0.72),
        "val_macro_f1_std": pytest.approx(0.02),  # sample std of 0.70, 0.72, 0.74
        "val_accuracy": pytest.approx(0.62),
        "train_inference": pytest.approx(0.98),
        "train_during_training": pytest.approx(0.94),
        "plateaued": 2,
        "backend": "jax",
    }
    assert out[0]["augment"] == "none" and out[0]["seeds"] == [0]
    assert out[0]["val_macro_f1_std"] is None  # one seed: no spread
    assert out[0]["plateaued"] == 0
    base = out[2]
    assert base["model"] == "baseline" and base["backend"] is None  # an older row: no backend
    assert base["val_macro_f1"] == pytest.approx(0.45)
    assert base["val_macro_f1_std"] == pytest.approx(0.1 / 2**0.5)
    assert base["plateaued"] == 1
    assert scout.scout_summary([]) == []


def variant(name, f1, std=None, model="cnn", augment="flip"):
    """A line of scout_summary's table, the fields the decisions read."""
    return {
        "variant": name,
        "model": model,
        "augment": augment,
        "val_macro_f1": f1,
        "val_macro_f1_std": std,
        "seeds": [0, 1] if std is not None else [0],  # a spread needs two seeds
    }


ROUND1 = [
    variant("reference", 0.70),
    variant("aug-none", 0.65, augment="none"),
    variant("aug-strong", 0.74, augment="strong"),
    variant("baseline-aug", 0.90, model="baseline"),  # not an augmented CNN
]
ROUND2 = [
    variant("reference", 0.72, 0.02),
    variant("lr-low", 0.75, 0.04),
    variant("wd-high", 0.73),  # one seed
    variant("baseline-lr-5e-4", 0.55, 0.01, model="baseline"),
    variant("baseline-lr-1e-3", 0.58, 0.03, model="baseline"),
]


def test_scout_decisions_reads_augmentation_from_the_first_round_the_rest_from_the_last():
    d = scout.scout_decisions({"round2": ROUND2, "round1": ROUND1})
    assert d["augmentation"] == {
        "none": 0.65,
        "reference": 0.70,
        "best_augmented": 0.74,
        "best_augmented_variant": "aug-strong",
    }
    assert d["best_change"]["variant"] == "lr-low"
    assert d["best_change"]["gain"] == pytest.approx(0.03)
    # the median over the round's variants with a spread: 0.01, 0.02, 0.03, 0.04
    assert d["best_change"]["typical_seed_std"] == pytest.approx(0.025)
    assert d["best_change"]["seeds"] == 2 and d["best_change"]["reference_seeds"] == 2
    assert d["baseline"] == {"variant": "baseline-lr-1e-3", "val_macro_f1": 0.58, "seeds": 2}


def test_scout_rounds_are_ordered_by_their_number_not_as_text():
    """round10 comes after round2 (as text it sorts first)."""
    by_text = scout.scout_decisions({"round1": ROUND1, "round2": ROUND2})
    by_number = scout.scout_decisions({"round10": ROUND2, "round9": ROUND1})
    assert by_number == by_text
    # a file without a number counts as the earliest round
    assert scout.scout_decisions({"scout": ROUND1, "round1": ROUND2}) == by_text


def test_scout_decisions_of_one_round_where_no_change_beats_the_reference():
    r1 = [variant("reference", 0.80, None), *ROUND1[1:3]]
    d = scout.scout_decisions({"round1": r1})
    assert d["augmentation"]["best_augmented_variant"] == "reference"
    assert d["augmentation"]["best_augmented"] == 0.80
    assert d["best_change"]["variant"] == "aug-strong"  # aug-none is a change too, lower
    assert d["best_change"]["gain"] == pytest.approx(-0.06)  # a loss
    assert d["best_change"]["typical_seed_std"] is None  # no variant has two seeds
    assert "baseline" not in d


def test_scout_decisions_states_only_what_the_rounds_can_show():
    assert scout.scout_decisions({}) == {}
    no_aug_none = [r for r in ROUND1 if r["variant"] != "aug-none"]
    no_reference = [r for r in ROUND2 if r["variant"] != "reference"]
    d = scout.scout_decisions({"round1": no_aug_none, "round2": no_reference})
    assert set(d) == {"baseline"}
    only_reference = [ROUND2[0], *ROUND2[3:]]
    assert "best_change" not in scout.scout_decisions({"round1": only_reference})
    first = [r for r in ROUND1 if r["variant"] != "reference"]
    assert "augmentation" not in scout.scout_decisions({"round1": first})


def test_scout_decisions_when_no_augmentation_beats_none():
    others = [r for r in ROUND1 if r["variant"] != "aug-none"]
    r1 = [variant("aug-none", 0.85, augment="none"), *others]  # the best CNN of the round
    a = scout.scout_decisions({"round1": r1})["augmentation"]
    assert a["none"] == 0.85
    assert (a["best_augmented"], a["best_augmented_variant"]) == (0.74, "aug-strong")
