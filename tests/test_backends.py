"""The cross-machine check (analysis.study.replication): a published run beside the same run
retrained elsewhere, compared only while both trained the same thing."""

from __future__ import annotations

import json

import pytest

from analysis import paths
from analysis.study import replication as backends

PARAMS = {"model": "cnn", "kernel_sizes": [3, 3, 3, 3], "epochs": 24, "seeds": [0, 1, 2]}


def published(test_acc, val_best, seconds=480.0, params=PARAMS):
    return {
        "params": dict(params),
        "test": {"accuracy_per_seed": list(test_acc)},
        "history": [{"val_macro_f1": [v - 0.1, v, v - 0.01]} for v in val_best],
        "timing": {"train_seconds": seconds, "epochs_run": [24, 24, 24]},
        "training": {"converged": True},
    }


def other_run(test_acc, val_best, seconds=24.0, params=PARAMS):
    # The runner's bookkeeping parameters travel with the other run; they must not matter.
    return {
        "params": {**params, "run_name": "x", "output_dir": "results/manual/model"},
        "per_seed": [{"test": {"accuracy": a}} for a in test_acc],
        "val_macro_f1_best": list(val_best),
        "timing": {"train_seconds": seconds, "epochs_run": [24, 24, 24]},
        "converged": True,
    }


def test_differences_are_judged_against_the_seed_spread():
    mine = {"cnn": published([0.56, 0.55, 0.57], [0.70, 0.71, 0.72])}
    # Test: same mean, so inside; val: 0.05 higher, ten times the spread of 0.01.
    theirs = {"runs": {"cnn": other_run([0.55, 0.56, 0.57], [0.75, 0.76, 0.77])}}
    out = backends.comparison(mine, theirs)
    row = out["rows"][0]
    assert row["status"] == "compared"
    assert row["test_accuracy_difference"] == pytest.approx(0.0)
    assert not row["test_accuracy_beyond_spread"]
    assert row["val_macro_f1_difference"] == pytest.approx(0.05)
    assert row["val_macro_f1_beyond_spread"]
    assert row["published"]["val_macro_f1_std"] == pytest.approx(0.01)
    assert row["speedup"] == pytest.approx(20.0)  # 20 s an epoch against 1 s
    assert out["val_beyond_spread"] == ["cnn"] and out["test_beyond_spread"] == []
    assert out["val_direction"] == "higher"
    assert out["largest_val_difference"] == pytest.approx(0.05)


def test_a_run_whose_plan_changed_or_that_is_not_published_is_not_compared():
    mine = {"cnn": published([0.5] * 3, [0.7] * 3, params={**PARAMS, "epochs": 36})}
    theirs = {
        "runs": {
            "cnn": other_run([0.5] * 3, [0.7] * 3),
            "kernel-7x7": other_run([0.5] * 3, [0.7] * 3),
        }
    }
    out = backends.comparison(mine, theirs)
    assert [r["status"] for r in out["rows"]] == ["changed", "pending"]
    extra = backends.comparison(mine, theirs, planned={"cnn"})
    assert [r["status"] for r in extra["rows"]] == ["changed", "extra"]
    assert out["compared"] == 0 and out["largest_val_difference"] is None
    assert "published" not in out["rows"][0]


def test_the_committed_check_matches_its_published_runs_or_says_why_not():
    """bench/backend.json as committed, against results/ as committed: every row is either
    compared or marked, and a compared row's published side is the run's own metrics."""
    file = paths.ROOT / "bench" / "backend.json"
    if not file.exists():
        pytest.skip("no cross-machine check committed")
    other = json.loads(file.read_text())
    results = paths.results_dir() / other["profile"]
    mine = {
        name: json.loads((results / name / "metrics.json").read_text())
        for name in other["runs"]
        if (results / name / "metrics.json").exists()
    }
    out = backends.comparison(mine, other)
    for row in out["rows"]:
        if row["status"] == "compared":
            assert (
                row["published"]["test_accuracy_per_seed"]
                == (mine[row.get("as", row["run"])]["test"]["accuracy_per_seed"])
            )
        else:
            assert row["status"] in ("pending", "changed", "extra")


def test_a_longer_schedule_of_the_same_run_is_recognised():
    longer = {**PARAMS, "epochs": 72}
    runs = {
        "cnn": other_run([0.5] * 3, [0.6] * 3),
        "cnn-72": other_run([0.5] * 3, [0.65] * 3, params=longer),
        "cnn-wide-72": other_run([0.5] * 3, [0.6] * 3, params={**longer, "filters": [64]}),
    }
    assert backends.longer_schedule_of("cnn-72", runs) == "cnn"
    assert backends.longer_schedule_of("cnn", runs) is None  # shorter, not longer
    assert backends.longer_schedule_of("cnn-wide-72", runs) is None  # another change too
    rows = backends.comparison({}, {"runs": runs})["rows"]
    assert [r["longer_schedule_of"] for r in rows] == [None, "cnn", None]


def seeds(*accs):
    return {"per_seed": [{"seed": i, "test": {"accuracy": a}} for i, a in enumerate(accs)]}


def test_a_difference_here_is_checked_on_the_other_machine_seeds():
    """The replication is judged by the study's one rule: Welch over the other machine's seeds
    (unpaired: a seed there is not the seed here), in the family's replication family."""
    from scipy import stats

    from analysis.study import comparisons as study
    from tests.test_study import run

    runs = {"a": run([0.50, 0.52, 0.51]), "b": run([0.55, 0.56, 0.57])}
    there = {"a": [0.50, 0.52, 0.51], "b": [0.55, 0.57, 0.56]}
    c = study.compare("a", "b", runs, {}, replicas=there, family="f")["accuracy"]
    rep = c["replication"]
    assert rep["p_value"] == pytest.approx(
        stats.ttest_ind(there["a"], there["b"], equal_var=False).pvalue
    )
    assert rep["p_value"] != pytest.approx(stats.ttest_rel(there["a"], there["b"]).pvalue)
    assert (rep["family"], rep["replicates"]) == ("f (replication)", "f")
    assert rep["difference"] == pytest.approx(-0.05) and rep["verdict"] == "difference"
    assert c["verdict"] == "difference"  # confirmed: the same sign there
    lower_here = {"verdict": "difference", "difference": -0.02}
    higher_here = {"verdict": "difference", "difference": 0.02}
    none_here = {"verdict": "no difference shown", "difference": -0.01}
    assert not backends.disagrees(rep, lower_here)
    assert backends.disagrees(rep, higher_here)  # a difference of the other sign
    assert backends.disagrees(rep, none_here)  # another verdict
    assert not backends.disagrees(None, lower_here)
    # no replication of one of the two runs: none at all
    alone = study.compare("a", "b", runs, {}, replicas={"a": there["a"]}, family="f")
    assert alone["accuracy"]["replication"] is None


def test_an_unrepeated_verdict_says_which_way_the_other_seeds_point():
    from runner.report import render

    macro = render.environment().get_template("_macros.md.j2").module.replicated
    there = {"difference": -0.032, "p_value": 0.25, "verdict": "no difference shown"}
    check = {"disagrees": lambda here: True}

    def text(difference, p_value, verdict, backends=check):
        here = dict(difference=difference, p_value=p_value, verdict=verdict, replication=there)
        return macro(backends, "a", "b", {"accuracy": here})

    assert "point the same way but do not confirm" in text(-0.033, 0.045, "difference")
    assert "disagree on the sign" in text(0.02, 0.01, "difference")
    there.update(p_value=0.01, verdict="difference")
    assert "show a difference these seeds do not" in text(-0.01, 0.4, "no difference shown")
    agree = text(-0.03, 0.01, "difference", {"disagrees": lambda here: False})
    assert "not settled" not in agree and "Welch p = 0.010" in agree
    assert macro(check, "a", "b", {"accuracy": {"replication": None}}).strip() == ""


def test_a_check_saved_under_another_name_counts_for_the_run_whose_parameters_it_trained():
    """The plan adopted a longer schedule after the check ran: the other machine's run of that
    schedule, saved under another name, is the published run's check; its old run is not."""
    permuted = {**PARAMS, "permute_pixels": True}
    longer = {**permuted, "epochs": 72}
    mine = {
        "cnn": published([0.56] * 3, [0.70] * 3),
        "cnn-permuted": published([0.46, 0.48, 0.45], [0.6] * 3, params=longer),
    }
    theirs = {
        "runs": {
            "cnn": {**other_run([0.5] * 3, [0.7] * 3), **seeds(0.56, 0.57, 0.55)},
            "cnn-permuted": {
                **other_run([0.4] * 3, [0.55] * 3, params=permuted),
                **seeds(0.45, 0.46, 0.44),
            },
            "cnn-permuted-72": {
                **other_run([0.47] * 3, [0.6] * 3, params=longer),
                **seeds(0.47, 0.48, 0.46),
            },
        }
    }
    out = backends.comparison(mine, theirs, planned={"cnn", "cnn-permuted"})
    rows = {r["run"]: r for r in out["rows"]}
    assert rows["cnn-permuted"]["status"] == "changed" and "as" not in rows["cnn-permuted"]
    twin = rows["cnn-permuted-72"]
    assert twin["status"] == "compared" and twin["as"] == "cnn-permuted"
    assert twin["published"]["test_accuracy_per_seed"] == [0.46, 0.48, 0.45]
    assert twin["epochs"] == 72 and twin["longer_schedule_of"] == "cnn-permuted"
    assert rows["cnn"]["status"] == "compared" and "as" not in rows["cnn"]
    assert out["compared"] == 2
    # the replication reads the twin, not the stale run of the published name
    assert backends.counterpart(mine, theirs["runs"], "cnn-permuted") == "cnn-permuted-72"
    assert backends.counterpart(mine, theirs["runs"], "cnn") == "cnn"
    assert backends.counterpart(mine, theirs["runs"], "kernel-7x7") is None
