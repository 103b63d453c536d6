"""The declared decision rule: groups of related test images, the hierarchical bootstrap,
Welch over seeds, and the verdict that needs both (and the replication where there is one)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from analysis.stats import bootstrap, verdicts

FILES = [
    "calibrated/0830MR0036510000500684E01_DRCL.JPG",
    "calibrated/0830MR0036510000500685E01_DRCL.JPG",
    "calibrated/0830MR0036520000500686E01_DRCL.JPG",
    "calibrated/0830ML0036520000500686E01_DRCL.JPG",
    "calibrated/0831MH0002640000203781I01_DRCL.JPG",
]


def test_groupings_are_prefixes_of_the_file_name():
    assert bootstrap.group_ids(FILES, "sol").tolist() == [0, 0, 0, 0, 1]
    # 0830ML sorts before 0830MR
    assert bootstrap.group_ids(FILES, "sol + instrument").tolist() == [1, 1, 1, 0, 2]
    assert len(set(bootstrap.group_ids(FILES, "sol + instrument + sequence"))) == 4
    with pytest.raises(KeyError):
        bootstrap.group_ids(FILES, "camera")


def test_design_effect_is_one_for_mixed_groups_and_the_group_size_for_uniform_ones():
    n, size = 400, 8
    groups = np.repeat(np.arange(n // size), size)
    uniform = (np.arange(n // size) % 2).repeat(size).astype(float)  # a burst all right or wrong
    assert bootstrap.design_effect(uniform, groups) == pytest.approx(size, rel=0.05)
    mixed = np.tile([0.0, 1.0], n // 2)  # every group half right: no group effect at all
    assert bootstrap.design_effect(mixed, groups) < 0.1
    rng = np.random.default_rng(1)
    random = rng.integers(0, 2, n).astype(float)
    assert 0.5 < bootstrap.design_effect(random, groups) < 1.6


def design_effect_by_hand(correct, groups):
    """The design effect's formula, one image and one group at a time."""
    n = len(correct)
    p = sum(correct) / n
    var_iid = sum((c - p) ** 2 for c in correct) / (n - 1) / n
    resid: dict = {}
    for c, g in zip(correct, groups, strict=True):
        resid[g] = resid.get(g, 0.0) + (c - p)
    m = len(resid)
    return (m / (m - 1) * sum(r * r for r in resid.values()) / n**2) / var_iid


@pytest.mark.parametrize(
    "correct, groups",
    [
        ([1, 1, 0, 1, 0, 0, 1], [0, 0, 1, 1, 4, 4, 4]),  # ids 2 and 3 unused
        ([1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]),  # two groups
        ([0, 1, 1, 1, 0, 0, 1, 0, 1], [2, 0, 1, 2, 0, 1, 2, 0, 1]),  # no id 3 above the max
        ([1, 0, 1, 1, 0, 1], [0, 0, 1, 2, 2, 2]),  # group 1 is a single image, still a group
    ],
)
def test_design_effect_equals_its_formula(correct, groups):
    want = design_effect_by_hand(correct, groups)
    got = bootstrap.design_effect(np.asarray(correct, bool), np.asarray(groups))
    assert got == pytest.approx(want, rel=1e-12)


def test_design_effect_of_one_group_or_no_spread():
    assert bootstrap.design_effect(np.asarray([1.0, 0.0, 1.0]), np.zeros(3, int)) == np.inf
    assert bootstrap.design_effect(np.ones(4), np.asarray([0, 0, 1, 1])) == 1.0


def test_choose_grouping_takes_the_largest_design_effect_and_counts_groups():
    correct = np.asarray([1, 1, 1, 1, 0], float)
    got = bootstrap.choose_grouping(correct, FILES)
    effects = {k: v["design_effect"] for k, v in got["groupings"].items()}
    assert got["chosen"] == max(effects, key=effects.get)
    assert got["groupings"]["sol"]["groups"] == 2 and got["images"] == 5


def naive_bootstrap(terms, groups, n_boot, rng):
    """The same statistic by the definition, one replicate at a time."""
    members = [np.flatnonzero(groups == g) for g in range(groups.max() + 1)]
    out = []
    for _ in range(n_boot):
        drawn = rng.integers(0, len(members), len(members))
        images = np.concatenate([members[g] for g in drawn])
        total = 0.0
        for w, c in terms:
            seeds = rng.integers(0, len(c), len(c))
            total += w * c[seeds][:, images].mean()
        out.append(total)
    return np.asarray(out)


def test_hierarchical_bootstrap_matches_the_definition():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), rng.integers(1, 6, 40))
    n = len(groups)
    burst = rng.random(40)[groups]  # images of a group share a chance of being right
    a = rng.random((3, n)) < burst
    b = rng.random((3, n)) < burst * 0.7
    terms = [(1.0, a), (-1.0, b)]
    fast = bootstrap.hierarchical_bootstrap(terms, groups, n_boot=4000, seed=3)
    slow = naive_bootstrap(terms, groups, 4000, np.random.default_rng(4))
    assert fast["estimate"] == pytest.approx(a.mean() - b.mean())
    lo, hi = np.quantile(slow, [0.025, 0.975])
    assert fast["ci95"][0] == pytest.approx(lo, abs=0.02)
    assert fast["ci95"][1] == pytest.approx(hi, abs=0.02)
    assert fast["groups"] == 40 and fast["excludes_zero"] == (lo > 0 or hi < 0)


def test_grouped_interval_is_wider_than_the_image_interval_when_bursts_agree():
    groups = np.repeat(np.arange(50), 10)
    burst = (np.arange(50) % 2).repeat(10).astype(bool)  # whole bursts right or wrong
    one_seed = burst[None, :]
    grouped = bootstrap.hierarchical_bootstrap([(1.0, one_seed)], groups, seed=0)
    single = bootstrap.hierarchical_bootstrap([(1.0, one_seed)], np.arange(500), seed=0)
    width = lambda r: r["ci95"][1] - r["ci95"][0]  # noqa: E731
    assert width(grouped) > 2.5 * width(single)


def test_welch_is_scipys_and_the_contrast_generalises_it():
    a, b = [0.50, 0.55, 0.52], [0.40, 0.41, 0.47]
    w = verdicts.welch(a, b)
    assert w["p_value"] == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert w["difference"] == pytest.approx(np.mean(a) - np.mean(b))
    # the record a secondary metric is shown from: both sides' seeds and the test's name
    assert (w["a"], w["b"], w["test"]) == (a, b, "Welch's t-test over seeds")
    c = verdicts.welch_contrast([(1, a), (-1, b)])
    assert c["p_value"] == pytest.approx(w["p_value"])
    # an interaction of four runs: (a − b) − (c − d)
    cc, d = [0.30, 0.33, 0.31], [0.29, 0.30, 0.33]
    four = verdicts.welch_contrast([(1, a), (-1, b), (-1, cc), (1, d)])
    assert four["difference"] == pytest.approx(np.mean(a) - np.mean(b) - np.mean(cc) + np.mean(d))
    assert 0 < four["p_value"] < 1 and four["df"] > 2


def test_welch_without_spread_or_seeds():
    assert verdicts.welch([0.5], [0.4])["p_value"] is None
    assert verdicts.welch([0.5, 0.5], [0.4, 0.4])["p_value"] == 0.0
    assert verdicts.welch([0.5, 0.5], [0.5, 0.5])["p_value"] == 1.0


@pytest.mark.parametrize(
    ("p", "excludes", "replication", "want"),
    [
        (0.01, True, None, verdicts.DIFFERENCE),
        (0.01, False, None, verdicts.NO_DIFFERENCE),  # seeds agree, image groups do not
        (0.20, True, None, verdicts.NO_DIFFERENCE),  # image groups agree, seeds do not
        (None, True, None, verdicts.ONE_SEED),
        (0.01, True, {"p_value": 0.01, "difference": 0.03}, verdicts.DIFFERENCE),
        (0.01, True, {"p_value": 0.30, "difference": 0.03}, verdicts.NOT_CONFIRMED),
        (0.01, True, {"p_value": 0.01, "difference": -0.03}, verdicts.NOT_CONFIRMED),
        (0.01, True, {"p_value": None, "difference": 0.0}, verdicts.DIFFERENCE),
    ],
)
def test_decide_needs_seeds_groups_and_the_replication(p, excludes, replication, want):
    ci = {"excludes_zero": excludes, "estimate": 0.05}
    assert verdicts.decide(p, ci, replication) == want


def test_pairing_gain_measures_what_pairing_by_seed_removes():
    a, b = [0.50, 0.60, 0.70], [0.40, 0.50, 0.60]  # moving together: pairing removes it all
    assert verdicts.pairing_gain(a, b) == pytest.approx(0.0)
    a, b = [0.50, 0.60, 0.70], [0.60, 0.50, 0.40]  # moving apart: pairing doubles it
    assert verdicts.pairing_gain(a, b) == pytest.approx(2.0)
    assert verdicts.pairing_gain([0.5], [0.4]) is None


def test_correct_compares_each_seed_with_the_truth_and_groups_ignore_folders():
    pred = {"y_true": np.asarray([0, 1, 2]), "y_pred": np.asarray([[0, 1, 0], [2, 1, 2]])}
    assert verdicts.correct(pred).tolist() == [[True, True, False], [False, True, True]]
    nested = ["a/b/0830MR0036510000500684E01_DRCL.JPG", "c/0830MR0036520000500686E01_DRCL.JPG"]
    assert bootstrap.group_ids(nested, "sol + instrument").tolist() == [0, 0]


def test_welch_with_one_seed_on_one_side_or_one_side_without_spread():
    one = verdicts.welch([0.5], [0.4, 0.42, 0.41])
    assert one["p_value"] is None and one["difference"] == pytest.approx(0.5 - 0.41)
    assert verdicts.welch([0.4, 0.42, 0.41], [0.5])["p_value"] is None
    assert verdicts.welch([], [0.4, 0.5])["difference"] is None
    # one side constant, the other spread: Welch's t-test is defined and is used
    flat, spread = [0.5, 0.5, 0.5], [0.40, 0.44, 0.48]
    want = stats.ttest_ind(flat, spread, equal_var=False).pvalue
    assert verdicts.welch(flat, spread)["p_value"] == pytest.approx(want)
    assert verdicts.welch(spread, flat)["p_value"] == pytest.approx(want)
    assert 0 < want < 1
    assert verdicts.welch(["0.5", "0.6"], ["0.4", "0.5"])["difference"] == pytest.approx(0.1)


def test_welch_contrast_weights_and_degenerate_cases():
    a, b = [0.50, 0.55, 0.52], [0.40, 0.41, 0.47]
    half = verdicts.welch_contrast([(0.5, a), (-0.5, b)])  # the mean of a − b, halved
    full = verdicts.welch_contrast([(1, a), (-1, b)])
    assert half["difference"] == pytest.approx(full["difference"] / 2)
    assert half["p_value"] == pytest.approx(full["p_value"])  # scale does not change the test
    assert half["test"] == "Welch–Satterthwaite t-test"
    # a weight of 3 on one run changes the standard error, not only the estimate
    skew = verdicts.welch_contrast([(3, a), (-1, b)])
    se = np.sqrt(9 * np.var(a, ddof=1) / 3 + np.var(b, ddof=1) / 3)
    df = se**4 / ((9 * np.var(a, ddof=1) / 3) ** 2 / 2 + (np.var(b, ddof=1) / 3) ** 2 / 2)
    assert skew["df"] == pytest.approx(df)
    assert skew["p_value"] == pytest.approx(2 * stats.t.sf(abs(skew["difference"]) / se, df))
    assert verdicts.welch_contrast([(1, [0.5, 0.5]), (-1, [0.4, 0.4])])["p_value"] == 0.0
    assert verdicts.welch_contrast([(1, [0.5, 0.5]), (-1, [0.5, 0.5])])["p_value"] == 1.0
    assert verdicts.welch_contrast([(1, [0.5]), (-1, [0.4, 0.5])])["p_value"] is None


def test_pairing_gain_needs_pairs_and_spread():
    assert verdicts.pairing_gain([0.5, 0.7], [0.4, 0.6]) == pytest.approx(0.0)  # two seeds
    assert verdicts.pairing_gain([0.5, 0.6, 0.7], [0.4, 0.5]) is None  # not pairs
    assert verdicts.pairing_gain([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]) is None  # nothing to remove


def test_the_bootstrap_records_its_level_and_replicates():
    groups = np.repeat(np.arange(30), 4)
    rng = np.random.default_rng(2)
    a = rng.random((3, 120)) < 0.6
    wide = bootstrap.hierarchical_bootstrap([(1.0, a)], groups, n_boot=2000, level=0.95)
    narrow = bootstrap.hierarchical_bootstrap([(1.0, a)], groups, n_boot=2000, level=0.5)
    assert wide["replicates"] == 2000
    # the same replicates: the 50 % interval lies inside the 95 % one, on both sides
    assert wide["ci95"][0] < narrow["ci95"][0] < narrow["ci95"][1] < wide["ci95"][1]
    mid = a.mean()
    assert narrow["ci95"][0] < mid < narrow["ci95"][1]
    assert (mid - narrow["ci95"][0]) == pytest.approx(narrow["ci95"][1] - mid, rel=0.5)


# --- the smallest detectable difference (a null result says what it could have seen) --------


def test_the_detectable_difference_is_caught_as_often_as_promised():
    """An independent simulation (other random numbers) at the reported shift rejects with
    about the promised power."""
    from scipy import stats

    a, b = [0.55, 0.57, 0.53], [0.40, 0.44, 0.41]
    d = verdicts.detectable(a, b)
    rng = np.random.default_rng(2024)
    x = d["welch"] + np.std(a, ddof=1) * rng.standard_normal((20000, 3))
    y = np.std(b, ddof=1) * rng.standard_normal((20000, 3))
    caught = np.mean(stats.ttest_ind(x, y, axis=1, equal_var=False).pvalue < verdicts.SIG_LEVEL)
    assert abs(caught - verdicts.POWER) < 0.02
    assert d["power"] == verdicts.POWER


def test_the_interval_part_by_hand_and_the_larger_part_bounds():
    d = verdicts.detectable([0.5, 0.5001], [0.5, 0.5001], {"ci95": [-0.02, 0.06]})
    # (z_0.975 + z_0.8) · (0.06 − (−0.02)) / (2 · z_0.975), z from the normal table
    assert d["interval"] == pytest.approx((1.959964 + 0.841621) * 0.08 / (2 * 1.959964), rel=1e-5)
    assert d["difference"] == max(d["welch"], d["interval"]) == d["interval"]


def test_more_spread_or_fewer_seeds_detect_less():
    tight = verdicts.detectable([0.50, 0.51, 0.52], [0.40, 0.41, 0.42])["difference"]
    loose = verdicts.detectable([0.45, 0.51, 0.57], [0.35, 0.41, 0.47])["difference"]
    more = verdicts.detectable([0.50, 0.51, 0.52] * 2, [0.40, 0.41, 0.42] * 2)["difference"]
    assert more < tight < loose
    assert verdicts.detectable([0.5], [0.4, 0.41]) is None


# --- one rule behind every verdict: judge, Holm within families, the record's fields ---------

A, B = [0.55, 0.57, 0.53], [0.40, 0.44, 0.41]


def boot(lo, hi):
    """A hierarchical interval as `hierarchical_bootstrap` returns it."""
    return {"ci95": [lo, hi], "estimate": (lo + hi) / 2, "groups": 40, "replicates": 4000}


def test_judge_records_every_part_of_the_rule():
    from scipy import stats

    r = verdicts.judge([(1.0, A), (-1.0, B)], "f", bootstrap=boot(0.05, 0.2))
    assert set(verdicts.RECORD_FIELDS) <= set(r) and r["family"] == "f"
    assert r["p_value"] == pytest.approx(stats.ttest_ind(A, B, equal_var=False).pvalue)
    assert r["p_holm"] == r["p_value"] and r["family_size"] == 1  # alone until Holm's step
    assert r["ci95"] == [0.05, 0.2] and r["interval"] == verdicts.HIERARCHICAL
    assert r["image_groups"] == 40 and r["difference"] == pytest.approx(np.mean(A) - np.mean(B))
    assert r["verdict"] == verdicts.DIFFERENCE
    # without per-image answers: Welch's own interval over seeds (scipy's), labelled so
    seeds = verdicts.judge([(1.0, A), (-1.0, B)], "f")
    want = stats.ttest_ind(A, B, equal_var=False).confidence_interval()
    assert seeds["ci95"] == pytest.approx([want.low, want.high])
    assert seeds["interval"] == verdicts.SEEDS_ONLY and seeds["test"] == "Welch's t-test over seeds"


def test_a_verdict_needs_both_the_p_value_and_the_interval():
    spans_zero = verdicts.judge([(1.0, A), (-1.0, B)], "f", bootstrap=boot(-0.01, 0.2))
    assert spans_zero["p_value"] < 0.05 and spans_zero["verdict"] == verdicts.NO_DIFFERENCE
    noisy = [0.3, 0.6, 0.45]  # Welch p ≈ 0.9 against A; the interval alone would say yes
    wide_seeds = verdicts.judge([(1.0, noisy), (-1.0, A)], "f", bootstrap=boot(0.01, 0.2))
    assert wide_seeds["p_value"] > 0.05 and wide_seeds["verdict"] == verdicts.NO_DIFFERENCE
    one = verdicts.judge([(1.0, [0.5]), (-1.0, B)], "f")
    assert one["verdict"] == verdicts.ONE_SEED and one["detectable"] is None


def test_a_null_result_carries_the_difference_it_could_have_detected():
    r = verdicts.judge([(1.0, [0.50, 0.55, 0.45]), (-1.0, [0.48, 0.52, 0.47])], "f")
    assert r["verdict"] == verdicts.NO_DIFFERENCE
    d = r["detectable"]
    assert d["power"] == verdicts.POWER
    assert d == verdicts.detectable([0.50, 0.55, 0.45], [0.48, 0.52, 0.47])
    # it is larger than the difference seen: that is why nothing was shown
    assert d["difference"] > abs(r["difference"])


def with_p(p, family, lo=0.01, hi=0.05, values=None):
    """A judged record whose Welch p is set by hand (its interval excludes zero unless told)."""
    r = verdicts.judge([(1.0, values or [p, p + 0.01, p + 0.02]), (-1.0, B)], family)
    r.update(p_value=p, p_holm=p, ci95=[lo, hi], difference=(lo + hi) / 2)
    return r


def test_holm_families_adjusts_step_down_within_each_family_only():
    """p = 0.01, 0.03, 0.2 in one family adjust to 0.03, 0.06, 0.2 (times 3, 2, 1: Holm, not
    Bonferroni's 0.09 for the second); the second loses its verdict. Another family's p = 0.03
    is not touched, and a record repeated (a finding showing its comparison) counts once."""
    x1, x2, x3 = with_p(0.01, "x"), with_p(0.03, "x"), with_p(0.2, "x")
    copy = dict(x1)
    y = with_p(0.03, "y")
    verdicts.holm_families([x1, x2, copy, x3, y])
    assert [r["p_holm"] for r in (x1, x2, x3)] == pytest.approx([0.03, 0.06, 0.2])
    assert [r["verdict"] for r in (x1, x2, x3)] == [
        verdicts.DIFFERENCE,
        verdicts.NO_DIFFERENCE,
        verdicts.NO_DIFFERENCE,
    ]
    assert copy["p_holm"] == x1["p_holm"] and copy["verdict"] == x1["verdict"]
    assert {r["family_size"] for r in (x1, x2, x3, copy)} == {3}
    assert (y["p_holm"], y["family_size"], y["verdict"]) == (0.03, 1, verdicts.DIFFERENCE)
    # monotone: the larger raw p (0.031 × 1) is lifted to the smaller one's 0.03 × 2
    a, b = with_p(0.03, "z"), with_p(0.031, "z")
    verdicts.holm_families([b, a])
    assert a["p_holm"] == pytest.approx(0.06) and b["p_holm"] == pytest.approx(0.06)
    # an adjusted p below 0.05 with an interval across zero is still no difference shown
    lone = with_p(0.01, "w", lo=-0.01)
    verdicts.holm_families([lone])
    assert lone["verdict"] == verdicts.NO_DIFFERENCE


def test_the_replication_must_agree_in_sign_and_survive_its_own_family():
    def primary(rep):
        return verdicts.judge(
            [(1.0, A), (-1.0, B)], "f", bootstrap=boot(0.05, 0.2), replication=rep
        )

    same = verdicts.judge([(1.0, A), (-1.0, B)], "f (replication)")
    assert primary(same)["verdict"] == verdicts.DIFFERENCE
    other_sign = verdicts.judge([(1.0, B), (-1.0, A)], "f (replication)")
    assert other_sign["verdict"] == verdicts.DIFFERENCE  # a difference, the other way
    assert primary(other_sign)["verdict"] == verdicts.NOT_CONFIRMED
    # two replications in one family: p 0.03 and 0.04 adjust to 0.06; neither confirms, and
    # Holm's step settles the replications before the verdicts that need them
    reps = [with_p(p, "f (replication)") for p in (0.03, 0.04)]
    for r in reps:
        r["replicates"] = "f"
    mains = [primary(r) for r in reps]
    assert {m["verdict"] for m in mains} == {verdicts.DIFFERENCE}  # before the step
    verdicts.holm_families(verdicts.records(mains))
    assert [r["p_holm"] for r in reps] == pytest.approx([0.06, 0.06])
    assert {m["verdict"] for m in mains} == {verdicts.NOT_CONFIRMED}


def test_incomplete_names_each_verdict_without_the_whole_rule():
    tree = {
        "ok": verdicts.judge([(1.0, A), (-1.0, B)], "f"),
        "one_seed": verdicts.judge([(1.0, [0.5]), (-1.0, B)], "f"),  # nothing to test
        "list": [{"verdict": "difference", "p_value": 0.01}],
    }
    assert verdicts.incomplete(tree) == [
        (".list[0]", ["family", "family_size", "p_holm", "ci95", "interval", "detectable"])
    ]
    del tree["list"]
    assert verdicts.incomplete(tree) == []
    tree["ok"]["p_holm"] = None
    assert verdicts.incomplete(tree) == [(".ok", ["p_holm"])]


def test_the_interaction_detectable_difference_is_caught_as_often_as_promised():
    """Four runs: an independent simulation of Welch–Satterthwaite's test at the reported shift
    rejects with about the promised power."""
    from scipy import stats

    runs = [[0.55, 0.57, 0.53], [0.40, 0.44, 0.41], [0.50, 0.49, 0.52], [0.51, 0.48, 0.52]]
    weights = [1.0, -1.0, -1.0, 1.0]
    d = verdicts.detectable_contrast(list(zip(weights, runs, strict=True)))
    rng = np.random.default_rng(7)
    sims = [np.std(v, ddof=1) * rng.standard_normal((20000, 3)) for v in runs]
    est = d["welch"] + sum(w * s.mean(axis=1) for w, s in zip(weights, sims, strict=True))
    pieces = [s.var(axis=1, ddof=1) / 3 for s in sims]
    se2 = sum(pieces)
    df = se2**2 / sum(p**2 / 2 for p in pieces)
    p = 2 * stats.t.sf(np.abs(est) / np.sqrt(se2), df)
    assert abs(np.mean(p < verdicts.SIG_LEVEL) - verdicts.POWER) < 0.02


def test_bootstrap_accuracies_are_the_replicates_the_declared_interval_draws():
    """The per-run replicates share one draw of image groups and give, for a difference, the
    very interval `hierarchical_bootstrap` gives (same seed, same order of draws)."""
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(12), 5)
    a = rng.random((3, 60)) < 0.7
    b = rng.random((3, 60)) < 0.5
    drawn = bootstrap.bootstrap_accuracies({"a": a, "b": b}, groups, n_boot=500)
    declared = bootstrap.hierarchical_bootstrap([(1.0, a), (-1.0, b)], groups, n_boot=500)
    lo, hi = np.quantile(drawn["a"] - drawn["b"], [0.025, 0.975])
    assert [lo, hi] == pytest.approx(declared["ci95"])
    # one shared draw of groups: a run answered like another (one seed each) draws the same
    same = bootstrap.bootstrap_accuracies({"x": a[:1], "y": a[:1].copy()}, groups, n_boot=200)
    np.testing.assert_array_equal(same["x"], same["y"])
    always = bootstrap.bootstrap_accuracies({"r": np.ones((2, 60), bool)}, groups, n_boot=50)
    np.testing.assert_allclose(always["r"], 1.0)


def test_identical_runs_give_an_interval_of_zero_that_does_not_exclude_zero():
    """a − a with one seed each: every replicate draws the same images for both, so the
    interval is exactly [0, 0], and a difference of exactly zero is no difference."""
    groups = np.repeat(np.arange(10), 3)
    a = (np.arange(30) % 4 == 0)[None, :]
    r = bootstrap.hierarchical_bootstrap([(1.0, a), (-1.0, a.copy())], groups, n_boot=200)
    assert r["ci95"] == [0.0, 0.0] and r["excludes_zero"] is False


def test_incomplete_names_the_root_and_every_member_of_a_list():
    bare = {"verdict": verdicts.DIFFERENCE, "p_value": 0.01}
    assert verdicts.incomplete(bare) == [
        (".", ["family", "family_size", "p_holm", "ci95", "interval", "detectable"])
    ]
    missing = [name for name, _ in verdicts.incomplete({"x": [dict(bare), dict(bare)]})]
    assert missing == [".x[0]", ".x[1]"]


def test_holm_families_leaves_a_verdict_that_judge_did_not_make():
    """A record without terms (an older form of verdict) or without a family has no test to
    adjust: it keeps its p and its verdict."""
    judged = with_p(0.01, "x")
    no_terms = {"family": "x", "p_value": 0.04, "p_holm": 0.04, "verdict": verdicts.DIFFERENCE}
    no_family = {k: v for k, v in with_p(0.02, "x").items() if k != "family"}
    verdicts.holm_families([judged, no_terms, no_family])
    assert (judged["p_holm"], judged["family_size"]) == (0.01, 1)
    assert (no_terms["p_holm"], no_terms["verdict"]) == (0.04, verdicts.DIFFERENCE)
    assert no_family["p_holm"] == 0.02 and "family" not in no_family


# --- edges of the rule: each constant and branch, one step either way ---------------------------


def test_no_spread_ends_exactly_at_its_threshold():
    """Seeds exactly NO_SPREAD apart are a spread (a t-test); a difference of exactly NO_SPREAD
    is none."""
    edge = verdicts.NO_SPREAD
    assert verdicts.welch([0.0, edge], [0.5, 0.5])["p_value"] not in (0.0, 1.0)
    assert verdicts.welch([0.5, 0.5], [0.0, edge])["p_value"] not in (0.0, 1.0)
    assert verdicts.welch([edge, edge], [0.0, 0.0])["p_value"] == 1.0
    assert verdicts.welch_contrast([(1.0, [edge, edge]), (-1.0, [0.0, 0.0])])["p_value"] == 1.0
    spread = verdicts.welch_contrast([(1.0, [0.0, edge]), (-1.0, [0.5, 0.5])])
    assert spread["p_value"] not in (0.0, 1.0) and "df" in spread
    lo, hi = verdicts.welch_interval([(1.0, [0.0, edge]), (-1.0, [0.5, 0.5])])
    assert lo < hi


def test_welch_is_not_students_test():
    """Unequal spreads and seeds: Welch's p, which Student's pooled variance would not give."""
    from scipy import stats

    a, b = [0.50, 0.52, 0.51, 0.49, 0.50], [0.30, 0.60, 0.45]
    p = verdicts.welch(a, b)["p_value"]
    assert p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert abs(p - stats.ttest_ind(a, b).pvalue) > 0.01


def test_welch_interval_with_two_seeds_and_other_weights():
    two = verdicts.welch_interval([(1.0, [0.5, 0.6]), (-1.0, [0.3, 0.35])])
    assert two is not None and two[0] < 0.225 < two[1]
    half = verdicts.welch_interval([(0.5, A), (-0.5, B)])
    assert half == pytest.approx([x / 2 for x in verdicts.welch_interval([(1.0, A), (-1.0, B)])])


def test_detectable_scales_with_the_contrast_and_follows_its_seed():
    """Halving every weight halves the shift the test can catch; the simulation's seed is the
    one asked for."""
    full = verdicts.detectable_contrast([(1.0, A), (-1.0, B)])["welch"]
    half = verdicts.detectable_contrast([(0.5, A), (-0.5, B)])["welch"]
    assert half == pytest.approx(full / 2, rel=1e-6)
    other = verdicts.detectable(A, B, seed=5)
    assert other == verdicts.detectable_contrast([(1.0, A), (-1.0, B)], seed=5)
    assert other["welch"] != verdicts.detectable(A, B)["welch"]


def test_decide_at_the_significance_level_and_at_zero():
    """p exactly at the level is no difference, for the comparison and for its replication; a
    replication of exactly zero difference has no sign in common with a positive one."""
    ci = {"excludes_zero": True, "estimate": 0.05}
    assert verdicts.decide(verdicts.SIG_LEVEL, ci) == verdicts.NO_DIFFERENCE
    at_level = {"p_value": 0.01, "p_holm": verdicts.SIG_LEVEL, "difference": 0.03}
    assert verdicts.decide(0.01, ci, at_level) == verdicts.NOT_CONFIRMED
    # a bare test's own adjusted p decides it, not its raw p
    adjusted = {"p_value": 0.01, "p_holm": 0.2, "difference": 0.03}
    assert verdicts.decide(0.01, ci, adjusted) == verdicts.NOT_CONFIRMED
    # a judged replication holds by its verdict, whatever its p
    judged = {
        "p_value": 0.01,
        "p_holm": 0.01,
        "difference": 0.03,
        "verdict": verdicts.NO_DIFFERENCE,
    }
    assert verdicts.decide(0.01, ci, judged) == verdicts.NOT_CONFIRMED
    zero = {"p_value": 0.01, "difference": 0.0}
    assert verdicts.decide(0.01, ci, zero) == verdicts.NOT_CONFIRMED
    assert verdicts.decide(0.01, {**ci, "estimate": 0.0}, {**zero, "difference": -0.03}) == (
        verdicts.DIFFERENCE
    )


def test_a_record_whose_interval_touches_zero_shows_no_difference():
    for ci in ([0.0, 0.1], [-0.1, 0.0]):
        r = with_p(0.01, "f", *ci)
        verdicts.holm_families([r])
        assert r["verdict"] == verdicts.NO_DIFFERENCE, ci
    r = with_p(0.01, "f", 1e-9, 0.1)
    verdicts.holm_families([r])
    assert r["verdict"] == verdicts.DIFFERENCE


def test_judge_with_an_empty_side_or_one_seed_has_no_test_to_count():
    empty = verdicts.judge([(1.0, []), (-1.0, B)], "f")
    assert empty["difference"] is None and empty["family_size"] == 0
    one = verdicts.judge([(1.0, [0.5]), (-1.0, B)], "f")
    assert one["difference"] == pytest.approx(0.5 - np.mean(B)) and one["family_size"] == 0


def test_judge_keeps_the_interval_it_was_given_and_the_tests_degrees_of_freedom():
    given = boot(0.05, 0.2)
    r = verdicts.judge([(1.0, A), (-1.0, B)], "f", bootstrap=given)
    assert r["bootstrap"] is given
    assert r["detectable"] == verdicts.detectable(A, B, given)
    assert r["detectable"]["interval"] is not None
    assert r["df"] == pytest.approx(verdicts.welch_contrast([(1.0, A), (-1.0, B)])["df"])


@pytest.mark.parametrize(("power", "want"), [(0.25, 0.0), (0.5, 0.2), (0.75, 0.3), (1.0, 0.4)])
def test_the_smallest_caught_shift_is_exact(power, want):
    """Four simulated experiments: each rejects above its `up` bound or below its `down` one.
    Just above 0 the one whose `down` is 0.05 rejects (a quarter); from 0.05 to 0.1 none do;
    then one more per `up` bound passed. The answer is the first point where the share is
    reached, the point itself (the infimum), not a search's approximation of it."""
    up = np.array([0.1, 0.2, 0.3, 0.4])
    down = np.sort(np.array([-0.5, -0.4, 0.05, -0.3]))
    assert verdicts._smallest_caught(up, down, power) == want
    # an experiment whose bounds meet: just above 0.2 it no longer rejects downward
    meeting = np.array([-0.5, -0.4, 0.05, 0.2])
    assert verdicts._smallest_caught(up, meeting, 0.75) == 0.3


def test_a_contrast_without_spread_is_caught_at_any_shift():
    d = verdicts.detectable([0.6, 0.6, 0.6], [0.5, 0.5, 0.5])
    assert d["welch"] == 0.0 and d["difference"] == 0.0
