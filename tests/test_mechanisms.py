"""One finding per ingredient of convolution (analysis.study.mechanisms), each decided both ways."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats import bootstrap, verdicts
from analysis.study import comparisons as study
from analysis.study import controls, findings, mechanisms
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
    assert ws["verdict"] == loc["verdict"] == verdicts.DIFFERENCE
    assert ws["primary_metric"] == "test accuracy" and "Welch" in ws["test"]
    # a locally connected network as good as the CNN: sharing adds nothing shown
    f = mechanisms.findings(study_runs(lc=(0.56, 0.55, 0.57)), {}, "cnn", "baseline", MEMBERS)
    assert f["weight_sharing"]["verdict"] == verdicts.NO_DIFFERENCE
    assert f["shares"]["share"]["weight_sharing"] == pytest.approx(0.0, abs=1e-9)


def test_parameter_count_and_pooling_findings():
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    pc = f["parameter_count"]
    assert (pc["a"], pc["b"]) == ("dense-small", "baseline")
    assert pc["difference"] == pytest.approx(np.mean([0.27, 0.30, 0.25]) - 0.39)
    assert pc["verdict"] == verdicts.DIFFERENCE
    assert pc["at_equal_parameters"]["a"] == "cnn"
    pool = f["pooling"]
    assert pool["verdict"] == verdicts.NO_DIFFERENCE  # 0.56 against 0.5567
    t = pool["translation"]  # the flatten head loses more when images shift
    assert t["difference"] == pytest.approx(
        np.mean([0.2, 0.22, 0.25]) - np.mean([0.05, 0.06, 0.05])
    )
    assert t["verdict"] == verdicts.DIFFERENCE and t["max_shift_fraction"] == 0.25


def test_data_size_asks_whether_the_lead_grows_with_less_data():
    runs = study_runs()
    f = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)
    d = f["data_size"]
    # lead at 10 %: 0.41 − 0.30 = 0.11; on all of train: 0.56 − 0.39 = 0.17
    assert d["difference"] == pytest.approx(0.11 - 0.17)
    assert d["runs"] == ["cnn-data-10", "baseline-data-10", "cnn", "baseline"]
    assert d["fraction"] == 0.1 and d["verdict"] == verdicts.DIFFERENCE
    curve_ = f["data_size_curve"]
    assert [r["fraction"] for r in curve_["cnn"]] == [0.1, 1.0]
    assert [r["train_images"] for r in curve_["baseline"]] == [375, 3746]
    # a lead as large at 10 % as on all of train: no difference shown
    same = study_runs(small_cnn=(0.46, 0.47, 0.48))
    assert mechanisms.findings(same, {}, "cnn", "baseline", MEMBERS)["data_size"]["verdict"] == (
        verdicts.NO_DIFFERENCE
    )


def test_recipe_confound_is_decided_on_val():
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    r = f["recipe_confound"]
    assert r["metric"] == "val macro-F1" and r["own_is_better_on_val"]
    assert r["difference"] == pytest.approx(0.61 - 0.1) and r["verdict"] == verdicts.DIFFERENCE


def test_findings_with_predictions_carry_the_hierarchical_interval():
    runs = study_runs()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 60)
    files = [f"calibrated/{800 + i // 6:04d}MR{i:06d}_X.JPG" for i in range(60)]
    preds = {
        n: predictions(y, np.where(rng.random((3, 60)) < acc, y, (y + 1) % 3), files=files)
        for n, acc in (("cnn", 0.9), ("locally-connected", 0.6), ("baseline", 0.3))
    }
    f = findings.findings(
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


def test_a_finding_carries_its_question_test_and_comparison():
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    for key in ("weight_sharing", "locality", "parameter_count", "pooling"):
        x = f[key]
        assert x["question"] == mechanisms.QUESTIONS[key]
        # no predictions here: the interval is Welch's over seeds, and the record says so
        assert x["test"] == "Welch's t-test over seeds"
        assert x["interval"] == verdicts.SEEDS_ONLY
        assert x["p_value"] == x["comparison"]["accuracy"]["p_value"] is not None
        # the finding repeats its comparison's record: one test, adjusted once, alike
        assert x["family"] == x["comparison"]["accuracy"]["family"] == "mechanisms"
        assert x["p_holm"] == x["comparison"]["accuracy"]["p_holm"] >= x["p_value"]
        assert x["verdict"] == x["comparison"]["accuracy"]["verdict"]
        assert (x["comparison"]["a"], x["comparison"]["b"]) == (x["a"], x["b"])


def test_the_shift_drop_is_read_at_the_largest_shift():
    runs = study_runs()
    for name, drops in (("cnn", [0.05, 0.06, 0.05]), ("cnn-flatten", [0.2, 0.22, 0.25])):
        runs[name]["translation"] = {
            "shifts": [0, 6, 12],
            "image_size": 48,
            "accuracy_per_seed": [[0.6, 0.9, 0.6 - d] for d in drops],  # the middle one odd
        }
    t = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["pooling"]["translation"]
    assert t["drop"]["cnn"] == pytest.approx(np.mean([0.05, 0.06, 0.05]))
    assert t["drop"]["cnn-flatten"] == pytest.approx(np.mean([0.2, 0.22, 0.25]))


def test_shares_of_every_step_against_the_lead():
    runs = study_runs()
    s = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["shares"]
    acc = {
        n: float(np.mean([p["test"]["accuracy"] for p in r["per_seed"]])) for n, r in runs.items()
    }
    lead = acc["cnn"] - acc["baseline"]
    assert s["lead"] == pytest.approx(lead)
    assert s["points"] == pytest.approx(
        {
            "locality": acc["locally-connected"] - acc["baseline"],
            "weight_sharing": acc["cnn"] - acc["locally-connected"],
            "parameter_count": acc["dense-small"] - acc["baseline"],
            "pooling": acc["cnn"] - acc["cnn-flatten"],
        }
    )
    assert s["share"]["pooling"] == pytest.approx(s["points"]["pooling"] / lead)
    # no lead: no share to speak of
    runs["baseline"] = run([0.56, 0.57, 0.55], params={"model": "baseline"})
    flat = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["shares"]
    assert flat["lead"] == pytest.approx(0.0) and set(flat["share"].values()) == {None}


def test_recipe_confound_records_both_recipes():
    runs = study_runs()
    runs["baseline"]["params"].update(learning_rate=0.0002, epochs=36)
    runs["baseline-cnn-recipe"]["params"].update(learning_rate=0.002, epochs=24)
    runs["cnn"]["params"].update(learning_rate=0.002, epochs=24)
    r = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["recipe_confound"]
    assert r["own"] == {"learning_rate": 0.0002, "epochs": 36}
    assert r["cnn_recipe"] == r["reference_recipe"] == {"learning_rate": 0.002, "epochs": 24}
    assert r["test_accuracy"] == {
        "baseline": runs["baseline"]["test"]["accuracy"],
        "baseline-cnn-recipe": runs["baseline-cnn-recipe"]["test"]["accuracy"],
    }


def grouped_predictions(right_groups: dict, n=120, per_group=12):
    """Test answers in bursts of `per_group` images (one sol each): a run answers the groups
    named in `right_groups` right and the others wrong, for every seed."""
    y = np.arange(n) % 3
    files = [f"calibrated/{800 + i // per_group:04d}MR{i:06d}_X.JPG" for i in range(n)]
    groups = np.arange(n) // per_group
    out = {}
    for name, right in right_groups.items():
        ok = np.isin(groups, list(right))
        out[name] = predictions(y, np.tile(np.where(ok, y, (y + 1) % 3), (3, 1)), files=files)
    return out, groups


def test_the_data_size_interaction_is_decided_with_its_grouped_interval():
    runs = study_runs()  # Welch over seeds alone: the lead shrinks at 10 % (p < 0.05)
    names = ["cnn-data-10", "baseline-data-10", "cnn", "baseline"]
    # on the test images the lead shrinks on half the sols and grows on the other half
    halves = (range(5), range(0), range(5, 10), range(0))
    preds, groups = grouped_predictions(dict(zip(names, halves, strict=True)))
    terms = [(1.0, "cnn-data-10"), (-1.0, "baseline-data-10"), (-1.0, "cnn"), (1.0, "baseline")]
    got = mechanisms.interaction(terms, runs, preds, groups)
    want = bootstrap.hierarchical_bootstrap(
        [(w, verdicts.correct(preds[n])) for w, n in terms], groups
    )
    assert got["ci95"] == want["ci95"] and got["image_groups"] == 10
    assert got["runs"] == names and got["weights"] == [1.0, -1.0, -1.0, 1.0]
    assert got["test"] == "Welch–Satterthwaite t-test over seeds"
    assert got["interval"] == verdicts.HIERARCHICAL
    # ten bursts cannot settle what three seeds suggest: the interval spans zero
    assert got["p_value"] < 0.05 and want["ci95"][0] < 0 < want["ci95"][1]
    assert got["verdict"] == verdicts.NO_DIFFERENCE
    # without image groups, or without a run's answers, the seeds decide alone
    alone = mechanisms.interaction(terms, runs, {}, groups)
    seeds = [(w, list(study.seed_values(runs[n]).values())) for w, n in terms]
    assert alone["ci95"] == pytest.approx(verdicts.welch_interval(seeds))
    assert alone["interval"] == verdicts.SEEDS_ONLY and alone["image_groups"] is None
    assert alone["verdict"] == verdicts.DIFFERENCE
    assert mechanisms.interaction(terms, runs, preds, None)["interval"] == verdicts.SEEDS_ONLY
    partial = {n: p for n, p in preds.items() if n != "baseline"}
    assert mechanisms.interaction(terms, runs, partial, groups)["interval"] == verdicts.SEEDS_ONLY


def test_train_images_from_the_record_or_the_shift_table():
    assert mechanisms.train_images({"timing": {"train_images": 375}}) == 375
    shift = {"per_class": [{"train": 300, "test": 5}, {"train": 75.0, "test": 9}]}
    assert mechanisms.train_images({"shift": shift}) == 375
    assert mechanisms.train_images({"timing": {}, "shift": shift}) == 375
    assert mechanisms.train_images({"timing": {"train_images": 0}}) is None
    assert mechanisms.train_images({}) is None


def test_the_curve_holds_each_share_of_each_network():
    runs = study_runs()
    runs["cnn"]["test"]["accuracy_std"] = 0.01
    runs["cnn-data-10"]["training"] = {"converged": False}
    runs["cnn-again"] = run([0.5, 0.5, 0.5])  # all of train again: not a share
    members = ["cnn-again", "cnn-data-10", "baseline-data-10", "nothing"]
    c = mechanisms.data_size_curve(runs, members, "cnn", "baseline")
    assert [r["run"] for r in c["cnn"]] == ["cnn-data-10", "cnn"]
    assert [r["run"] for r in c["baseline"]] == ["baseline-data-10", "baseline"]
    small, full = c["cnn"]
    assert small["accuracy"] == runs["cnn-data-10"]["test"]["accuracy"]
    assert small["accuracy_per_seed"] == pytest.approx([0.40, 0.41, 0.42])
    assert (small["accuracy_std"], full["accuracy_std"]) == (0.0, 0.01)
    assert small["converged"] is False and full["converged"] is None


def test_members_are_found_by_their_parameters():
    runs = study_runs()
    order = ["baseline-data-10", "cnn-data-10", "baseline-cnn-recipe", "cnn-flatten"]
    # the 10 % runs are not the recipe check nor the reference shape: their share is not 1
    assert mechanisms._find(runs, order, model="baseline") == "baseline-cnn-recipe"
    assert mechanisms._find(runs, order, model="cnn", head="gap") is None
    assert mechanisms._find(runs, order, model="cnn", head="flatten") == "cnn-flatten"
    assert mechanisms._find(runs, order, model="cnn", train_fraction=0.1) == "cnn-data-10"


def test_recipe_confound_when_the_cnn_recipe_wins_on_val():
    runs = study_runs()
    for r in runs["baseline-cnn-recipe"]["per_seed"]:
        r["val"]["macro_f1"] = 0.9
    r = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["recipe_confound"]
    assert r["difference"] < 0 and r["own_is_better_on_val"] is False


def test_smallest_pair_needs_both_networks_at_a_share_below_one():
    row = lambda f, n: {"fraction": f, "run": n}  # noqa: E731
    curve_ = {
        "cnn": [row(0.1, "c10"), row(0.25, "c25"), row(1.0, "cnn")],
        "baseline": [row(0.25, "b25"), row(0.5, "b50"), row(1.0, "baseline")],
    }
    assert mechanisms._smallest_pair(curve_) == ("c25", "b25")
    only_full = {"cnn": [row(0.1, "c10"), row(1.0, "cnn")], "baseline": [row(1.0, "baseline")]}
    assert mechanisms._smallest_pair(only_full) is None
    at_one = {"cnn": [row(1.0, "cnn")], "baseline": [row(1.0, "baseline")]}
    assert mechanisms._smallest_pair(at_one) is None
    assert mechanisms._smallest_pair({"cnn": [row(0.1, "c10")]}) is None
    assert mechanisms._smallest_pair({"baseline": [row(0.1, "b10")]}) is None


def test_every_finding_names_its_runs_and_uses_the_replication():
    runs = study_runs()
    runs["baseline"]["translation"] = curve([0.3, 0.3, 0.3])
    for name in ("cnn", "cnn-flatten", "baseline"):  # a middle shift that must not be read
        t = runs[name]["translation"]
        t["shifts"] = [0, 6, 12]
        t["accuracy_per_seed"] = [[row[0], 0.9, row[-1]] for row in t["accuracy_per_seed"]]
    for name, p in (("cnn", 396024), ("dense-small", 396689), ("baseline", 3700000)):
        runs[name]["model"]["parameters"] = p
    # decoys that a looser search would take: a dense run listed before the locally connected
    # one, a locally connected run with a flatten head before the CNN with one
    runs["lc-flatten"] = run(
        [0.1, 0.1, 0.1], params={"model": "locally_connected", "head": "flatten"}
    )
    members = {
        "mechanisms": [
            "dense-small",
            "lc-flatten",
            "locally-connected",
            "cnn-flatten",
            "baseline-cnn-recipe",
        ],
        "data-size": MEMBERS["data-size"],
    }
    replicas = {"cnn": [0.56, 0.57, 0.58], "locally-connected": [0.56, 0.57, 0.58]}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", members, replicas=replicas)
    assert f["runs"] == {
        "locally_connected": "locally-connected",
        "dense_small": "dense-small",
        "flatten_head": "cnn-flatten",
        "baseline_cnn_recipe": "baseline-cnn-recipe",
    }
    # the replication finds no difference between the CNN and the locally connected network
    ws = f["weight_sharing"]
    assert ws["comparison"]["accuracy"]["replication"]["p_value"] > 0.05
    assert ws["verdict"] == verdicts.NOT_CONFIRMED
    assert f["parameter_count"]["parameters"] == {
        "cnn": 396024,
        "dense-small": 396689,
        "baseline": 3700000,
    }
    pool = f["pooling"]
    assert (pool["a"], pool["b"]) == ("cnn", "cnn-flatten")
    t = pool["translation"]
    assert t["max_shift_fraction"] == 0.25
    assert t["drop"] == pytest.approx(
        {
            "cnn": np.mean([0.05, 0.06, 0.05]),
            "cnn-flatten": np.mean([0.2, 0.22, 0.25]),
            "baseline": 0.3,
        }
    )
    d = f["data_size"]
    assert d["question"] == mechanisms.QUESTIONS["data_size"]
    assert (d["a"], d["b"]) == ("cnn-data-10", "baseline-data-10")
    assert d["primary_metric"].startswith("test accuracy (lead at the smallest share")
    assert (d["gap_small"]["a"], d["gap_small"]["b"]) == ("cnn-data-10", "baseline-data-10")
    assert (d["cnn_small_vs_full_baseline"]["a"], d["cnn_small_vs_full_baseline"]["b"]) == (
        "cnn-data-10",
        "baseline",
    )
    assert {k: (v["a"], v["b"]) for k, v in d["cnn_shares_vs_full_baseline"].items()} == {
        "0.1": ("cnn-data-10", "baseline")
    }
    assert set(f["shares"]["points"]) == {
        "locality",
        "weight_sharing",
        "parameter_count",
        "pooling",
    }
    # the baseline alone, or the reference alone, is not enough
    for missing in ("cnn", "baseline"):
        assert (
            mechanisms.findings(
                {k: v for k, v in runs.items() if k != missing}, {}, "cnn", "baseline", members
            )
            == {}
        )


def test_the_data_size_finding_gets_the_grouped_interval():
    runs = study_runs()
    names = ["cnn-data-10", "baseline-data-10", "cnn", "baseline"]
    halves = (range(5), range(0), range(5, 10), range(0))
    preds, groups = grouped_predictions(dict(zip(names, halves, strict=True)))
    f = mechanisms.findings(runs, preds, "cnn", "baseline", MEMBERS, groups=groups)
    assert f["data_size"]["ci95"] is not None and f["data_size"]["image_groups"] == 10
    assert f["data_size"]["verdict"] == verdicts.NO_DIFFERENCE


def test_sharing_is_also_measured_against_a_network_narrowed_to_the_cnns_parameters():
    """A locally connected network within 10 % of the CNN's parameter count is the sharing
    contrast at equal size; the full-width one stays the chain's network, whichever comes first."""
    runs = study_runs()
    lc = {"model": "locally_connected", "filters": [3, 5, 10, 20]}
    runs["lc-small"] = run([0.30, 0.31, 0.32], params=lc)
    runs["lc-small"]["model"]["parameters"] = runs["cnn"]["model"]["parameters"] * 1.08
    members = {**MEMBERS, "mechanisms": ["lc-small", *MEMBERS["mechanisms"]]}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", members)
    assert f["runs"]["locally_connected"] == "locally-connected"
    assert f["runs"]["locally_connected_small"] == "lc-small"
    eq = f["sharing_at_equal_parameters"]
    assert (eq["a"], eq["b"]) == ("cnn", "lc-small")
    assert eq["difference"] == pytest.approx(0.56 - 0.31)
    assert eq["verdict"] == verdicts.DIFFERENCE
    assert eq["parameters"]["lc-small"] == pytest.approx(1.08 * eq["parameters"]["cnn"])
    # 12 % more is not the same size: no such finding.
    runs["lc-small"]["model"]["parameters"] = runs["cnn"]["model"]["parameters"] * 1.12
    f = mechanisms.findings(runs, {}, "cnn", "baseline", members)
    assert "sharing_at_equal_parameters" not in f and "locally_connected_small" not in f["runs"]


def test_the_mechanism_verdicts_are_holms_within_their_family():
    """The six questions are one family: each finding's p is Holm-adjusted over the family's
    tests and its verdict decided on that; the comparisons that support a finding (the data
    size shares, the CNN against the CNN-sized dense network) are families of their own."""
    f = mechanisms.findings(study_runs(), {}, "cnn", "baseline", MEMBERS)
    keys = [k for k in mechanisms.QUESTIONS if k in f]
    raw = {k: f[k]["p_value"] for k in keys}
    assert len(keys) == 5  # no CNN-sized locally connected network here
    assert {k: f[k]["p_holm"] for k in keys} == pytest.approx(verdicts.holm(raw))
    assert {f[k]["family"] for k in keys} == {"mechanisms"}
    assert {f[k]["family_size"] for k in keys} == {5}
    d = f["data_size"]
    shares = d["cnn_shares_vs_full_baseline"]
    # the smallest share against the full baseline is shown twice but tested once
    assert d["cnn_small_vs_full_baseline"] is shares["0.1"]
    assert {d["gap_small"]["accuracy"]["family"], shares["0.1"]["accuracy"]["family"]} == {
        "data size"
    }
    assert d["gap_small"]["accuracy"]["family_size"] == 2
    pc = f["parameter_count"]["at_equal_parameters"]["accuracy"]
    assert (pc["family"], pc["family_size"]) == ("parameter count", 1)
    # the pooling's translation question is alone here; the study's findings join it to the
    # translation finding's
    assert f["pooling"]["translation"]["family"] == "translation"
    assert verdicts.incomplete(f) == []


def test_each_share_of_the_lead_has_its_interval_from_the_same_bootstrap():
    runs = study_runs()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 90)
    groups = np.repeat(np.arange(18), 5)
    rates = {"cnn": 0.8, "baseline": 0.4, "locally-connected": 0.45, "dense-small": 0.3}
    rates["cnn-flatten"] = 0.7
    preds = {}
    for name, rate in rates.items():
        right = rng.random((3, 90)) < rate
        preds[name] = {"y_true": y, "y_pred": np.where(right, y, (y + 1) % 3)}
    s = mechanisms.shares(
        runs, "cnn", "baseline", "locally-connected", "dense-small", "cnn-flatten", preds, groups
    )
    assert set(s["share_ci95"]) == {"locality", "weight_sharing", "parameter_count", "pooling"}
    drawn = bootstrap.bootstrap_accuracies(
        {n: verdicts.correct(preds[n]) for n in sorted(rates)}, groups
    )
    lead = drawn["cnn"] - drawn["baseline"]
    want = np.quantile((drawn["cnn"] - drawn["locally-connected"]) / lead, [0.025, 0.975])
    assert s["share_ci95"]["weight_sharing"] == pytest.approx(want)
    for lo, hi in s["share_ci95"].values():
        assert lo < hi
    # the chain's two shares are one split of the lead: their intervals mirror each other
    lo_s, hi_s = s["share_ci95"]["weight_sharing"]
    lo_l, hi_l = s["share_ci95"]["locality"]
    assert (lo_l, hi_l) == pytest.approx((1 - hi_s, 1 - lo_s))
    # without the test answers there is no interval, only the shares
    assert (
        mechanisms.shares(runs, "cnn", "baseline", "locally-connected", None, None)["share_ci95"]
        == {}
    )


def test_a_tie_on_val_keeps_the_baselines_own_recipe():
    runs = study_runs()
    for own, other in zip(
        runs["baseline"]["per_seed"], runs["baseline-cnn-recipe"]["per_seed"], strict=True
    ):
        other["val"]["macro_f1"] = own["val"]["macro_f1"]
    r = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["recipe_confound"]
    assert r["difference"] == 0.0 and r["own_is_better_on_val"] is True


def chain_shares(right_groups: dict, groups_given=True) -> dict:
    """`shares` over the chain alone, each run answering the named groups of 12 images right."""
    preds, groups = grouped_predictions(right_groups)
    runs = study_runs()
    return mechanisms.shares(
        runs,
        "cnn",
        "baseline",
        "locally-connected",
        None,
        None,
        preds,
        groups if groups_given else None,
    )


def test_a_share_interval_leaves_out_the_replicates_without_a_lead():
    """The CNN and the baseline differ on group 0 alone: a replicate that does not draw it has
    no lead to share (about a third of them), and the share is read from the others."""
    right = {"cnn": range(10), "baseline": range(1, 10), "locally-connected": [0, *range(2, 10)]}
    s = chain_shares(right)["share_ci95"]
    assert set(s) == {"locality", "weight_sharing"}
    assert np.isfinite(np.concatenate(list(s.values()))).all()


def test_a_share_interval_where_the_lead_is_the_whole_scale():
    """The CNN right everywhere, the baseline nowhere: a lead of exactly 1 in every replicate,
    so each share's interval is its part's own interval."""
    right = {"cnn": range(10), "baseline": range(0), "locally-connected": range(5)}
    s = chain_shares(right)["share_ci95"]
    lo, hi = s["weight_sharing"]
    assert 0 < lo < 0.5 < hi < 1
    assert s["locality"] == pytest.approx([1 - hi, 1 - lo])
    # the test answers without the image groups: no interval
    assert chain_shares(right, groups_given=False)["share_ci95"] == {}


def test_the_narrowed_network_is_found_behind_members_of_other_kinds():
    runs = study_runs()
    runs["lc-small"] = run([0.30, 0.31, 0.32], params={"model": "locally_connected"})
    runs["lc-small"]["model"]["parameters"] = runs["cnn"]["model"]["parameters"] * 0.95
    members = {**MEMBERS, "mechanisms": [*MEMBERS["mechanisms"], "lc-small"]}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", members)
    assert f["runs"]["locally_connected_small"] == "lc-small"
    assert f["sharing_at_equal_parameters"]["b"] == "lc-small"


def test_the_flatten_head_is_not_any_cnn_among_the_members():
    runs = study_runs()
    runs["cnn-again"] = run([0.5, 0.5, 0.5])  # the reference network once more, GAP head
    members = {**MEMBERS, "mechanisms": ["cnn-again", *MEMBERS["mechanisms"]]}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", members)
    assert f["runs"]["flatten_head"] == "cnn-flatten" and f["pooling"]["b"] == "cnn-flatten"


def test_without_the_mechanism_runs_only_the_run_list_and_the_curve():
    runs = {k: v for k, v in study_runs().items() if k in ("cnn", "baseline")}
    f = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)
    assert list(f) == ["runs", "data_size_curve"] and f["runs"] == {}


def test_the_pooling_translation_verdict_measures_what_the_translation_finding_does():
    """Both verdicts of the translation family are on accuracy points lost at the largest
    shift: one unit within the family, named on the record."""
    runs = study_runs()
    runs["baseline"]["translation"] = curve([0.3, 0.3, 0.3])
    t = mechanisms.findings(runs, {}, "cnn", "baseline", MEMBERS)["pooling"]["translation"]
    other = controls.translation_finding(runs, "cnn", "baseline")["comparison"]
    assert t["family"] == other["family"] == "translation"
    assert t["metric"] == other["metric"] == "accuracy lost at the largest shift"


def test_a_member_without_recorded_parameters_is_passed_over():
    runs = study_runs()
    runs["unrecorded"] = {"test": {"accuracy": 0.5}}  # evaluated, its parameters not recorded
    order = ["unrecorded", "cnn-flatten"]
    assert mechanisms._find(runs, order, model="cnn", head="flatten") == "cnn-flatten"


def test_the_curve_reads_a_missing_spread_as_none_measured():
    runs = study_runs()
    del runs["cnn-data-10"]["test"]["accuracy_std"]  # a record without the seeds' spread
    c = mechanisms.data_size_curve(runs, ["cnn-data-10"], "cnn", "baseline")
    assert [r["accuracy_std"] for r in c["cnn"]] == [0.0, 0.0]


def test_the_findings_give_each_share_its_interval_from_the_test_answers():
    right = {"cnn": range(9), "baseline": range(3), "locally-connected": range(5)}
    right |= {"dense-small": range(2), "cnn-flatten": range(8)}
    preds, groups = grouped_predictions(right)
    runs = study_runs()
    f = mechanisms.findings(runs, preds, "cnn", "baseline", MEMBERS, groups=groups)
    args = ("cnn", "baseline", "locally-connected", "dense-small", "cnn-flatten")
    want = mechanisms.shares(runs, *args, preds, groups)["share_ci95"]
    assert set(want) == {"locality", "weight_sharing", "parameter_count", "pooling"}
    assert f["shares"]["share_ci95"] == want


def test_equal_parameters_includes_exactly_ten_percent_more():
    runs = study_runs()
    runs["cnn"]["model"]["parameters"] = 1000
    runs["lc-small"] = run([0.30, 0.31, 0.32], params={"model": "locally_connected"})
    runs["lc-small"]["model"]["parameters"] = 1100
    members = ["missing", "lc-small"]
    assert mechanisms._equal_parameters(runs, members, "cnn", model="locally_connected") == (
        "lc-small"
    )
    runs["lc-small"]["model"]["parameters"] = 1101
    assert mechanisms._equal_parameters(runs, members, "cnn", model="locally_connected") is None
