"""Why convolution wins: one finding per ingredient, from the mechanism runs of the plan.

The chain dense baseline → locally connected → CNN adds one ingredient per step, so the CNN's
lead over the baseline splits exactly into **locality** (locally connected − baseline) and
**weight sharing** (CNN − locally connected). **Parameter count** is the dense network cut to
the CNN's 0.4 M parameters against the baseline; **pooling** is the CNN against the same CNN
with a flatten head (and what each loses when test images shift); **data size** asks whether the
CNN's lead grows when both train on less data: (CNN − baseline) at the smallest share minus
(CNN − baseline) on all of train. Each finding is decided by the study's rule
(`analysis.stats.verdicts`): test accuracy, Welch over seeds, the hierarchical interval over seeds
and image groups.

Runs are found by their parameters within the plan's `mechanisms` and `data-size` groups, so
the plan's names are free to change.
"""

from __future__ import annotations

import numpy as np

from analysis.stats import bootstrap, verdicts
from analysis.study import comparisons as study
from analysis.study.controls import TRANSLATION, shift_drops

QUESTIONS = {
    "weight_sharing": "Does sharing one filter across positions help, locality kept?",
    "locality": "Does looking at small neighbourhoods help, without sharing?",
    "parameter_count": "Does a dense network do better with the CNN's parameter count?",
    "sharing_at_equal_parameters": (
        "Does sharing still help when the network without it has the CNN's parameter count?"
    ),
    "pooling": "Does global average pooling help, against a flatten head?",
    "data_size": "Does the CNN's lead over the dense network grow with less data?",
}


def _find(runs: dict, members: list[str], **want) -> str | None:
    """The first member run whose parameters hold every `want` (train_fraction 1 by default)."""
    want.setdefault("train_fraction", 1.0)
    for name in members:
        p = runs.get(name, {}).get("params", {})
        if "test" in runs.get(name, {}) and all(
            p.get(k, {"head": "gap", "train_fraction": 1.0}.get(k)) == v for k, v in want.items()
        ):
            return name
    return None


def _equal_parameters(runs: dict, members: list[str], reference: str, **want) -> str | None:
    """The first member run of `want`'s kind whose parameter count is within 10 % of the
    reference's."""
    size = runs[reference]["model"]["parameters"]
    for name in members:
        if not _find(runs, [name], **want) or "model" not in runs[name]:
            continue
        if abs(runs[name]["model"]["parameters"] - size) <= EQUAL_PARAMETERS * size:
            return name
    return None


EQUAL_PARAMETERS = 0.10  # "the same parameter count": within this share of the reference's


def _finding(key: str, comparison: dict, a: str, b: str) -> dict:
    """A mechanism finding: its question, and its comparison's verdict record repeated (the
    same test: `holm_families` counts it once and adjusts both alike)."""
    acc = comparison["accuracy"]
    return {
        **acc,  # its own "a" and "b" (the seeds' values) give way to the runs' names
        "question": QUESTIONS[key],
        "a": a,
        "b": b,
        "primary_metric": "test accuracy",
        "comparison": comparison,
    }


def train_images(run: dict) -> int | None:
    """How many images a run trained on: recorded by the mechanism notebook, else the train
    counts of its per-class shift table (the model notebook's runs train on all of train)."""
    if run.get("timing", {}).get("train_images"):
        return int(run["timing"]["train_images"])
    rows = run.get("shift", {}).get("per_class")
    return int(sum(r["train"] for r in rows)) if rows else None


def data_size_curve(runs: dict, members: list[str], reference: str, baseline: str) -> dict:
    """Test accuracy against training images, per model kind: the data-size runs and, at the
    full set, the reference and the baseline themselves."""
    curve: dict = {}
    for kind, full in (("cnn", reference), ("baseline", baseline)):
        rows = []
        for name in [full, *members]:
            m = runs.get(name)
            if not m or "test" not in m or m["params"].get("model") != kind:
                continue
            fraction = float(m["params"].get("train_fraction", 1.0))
            if name != full and fraction == 1.0:
                continue
            rows.append(
                {
                    "run": name,
                    "fraction": fraction,
                    "train_images": train_images(m),
                    "accuracy": m["test"]["accuracy"],
                    "accuracy_std": m["test"].get("accuracy_std", 0.0),
                    "accuracy_per_seed": list(study.seed_values(m).values()),
                    "converged": m.get("training", {}).get("converged"),
                }
            )
        curve[kind] = sorted(rows, key=lambda r: r["fraction"])
    return curve


def findings(
    runs: dict,
    preds: dict,
    reference: str,
    baseline: str,
    members: dict[str, list[str]],
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict:
    """A finding per mechanism whose runs exist; `shares` splits the CNN's lead over the
    baseline along the chain baseline → locally connected → CNN."""
    mech = members.get("mechanisms", [])
    sizes = members.get("data-size", [])
    if reference not in runs or baseline not in runs:
        return {}

    def compare(a: str, b: str, family: str = FAMILY) -> dict:
        return study.compare(a, b, runs, preds, groups, replicas, family=family)

    out: dict = {"runs": {}}
    shape = runs[reference]["params"].get("filters")
    lc = _find(runs, mech, model="locally_connected", head="gap", filters=shape)
    others = [n for n in mech if n != lc]  # the chain's network keeps the reference's widths
    narrow = _equal_parameters(runs, others, reference, model="locally_connected")
    dense = _find(runs, mech, model="dense")
    flat = _find(runs, mech, model="cnn", head="flatten")
    if lc:
        out["weight_sharing"] = _finding("weight_sharing", compare(reference, lc), reference, lc)
        out["locality"] = _finding("locality", compare(lc, baseline), lc, baseline)
    if narrow:
        # Sharing at the CNN's parameter count: a locally connected network narrowed to it, so
        # that "no sharing" is not also "85 times the parameters".
        f = _finding("sharing_at_equal_parameters", compare(reference, narrow), reference, narrow)
        f["parameters"] = {n: runs[n]["model"]["parameters"] for n in (reference, narrow)}
        out["sharing_at_equal_parameters"] = f
    if dense:
        f = _finding("parameter_count", compare(dense, baseline), dense, baseline)
        f["at_equal_parameters"] = compare(reference, dense, PARAMETER_COUNT)
        f["parameters"] = {n: runs[n]["model"]["parameters"] for n in (reference, dense, baseline)}
        out["parameter_count"] = f
    if flat:
        f = _finding("pooling", compare(reference, flat), reference, flat)
        drops = {n: shift_drops(runs[n]) for n in (reference, flat)}
        if all(drops.values()):
            t = verdicts.judge(
                [(1.0, drops[flat]), (-1.0, drops[reference])],
                TRANSLATION,
                metric="accuracy lost at the largest shift",
            )
            t["max_shift_fraction"] = (
                runs[reference]["translation"]["shifts"][-1]
                / runs[reference]["translation"]["image_size"]
            )
            t["drop"] = {n: float(np.mean(d)) for n, d in drops.items()}
            if shift_drops(runs[baseline]):  # for scale: a network with neither ingredient
                t["drop"][baseline] = float(np.mean(shift_drops(runs[baseline])))
            f["translation"] = t  # flatten's loss − GAP's loss when images shift
        out["pooling"] = f
    curve = data_size_curve(runs, sizes, reference, baseline)
    out["data_size_curve"] = curve
    smallest = _smallest_pair(curve)
    if smallest:
        cnn_small, base_small = smallest
        terms = [(1.0, cnn_small), (-1.0, base_small), (-1.0, reference), (1.0, baseline)]
        f = interaction(terms, runs, preds, groups)
        # every share of the CNN against the dense network on all of train: how little data
        # the CNN needs to match it (one family with the lead at the smallest share)
        vs_full = {
            f"{r['fraction']:g}": compare(r["run"], baseline, DATA_SIZE)
            for r in curve["cnn"]
            if r["fraction"] < 1
        }
        f.update(
            question=QUESTIONS["data_size"],
            a=cnn_small,
            b=base_small,
            primary_metric="test accuracy (lead at the smallest share − lead on all of train)",
            fraction=runs[cnn_small]["params"]["train_fraction"],
            gap_small=compare(cnn_small, base_small, DATA_SIZE),
            cnn_small_vs_full_baseline=vs_full[
                f"{float(runs[cnn_small]['params']['train_fraction']):g}"
            ],
            cnn_shares_vs_full_baseline=vs_full,
        )
        out["data_size"] = f
    if lc:
        out["shares"] = shares(runs, reference, baseline, lc, dense, flat, preds, groups)
    recipe = _find(runs, mech, model="baseline")
    if recipe:
        out["recipe_confound"] = recipe_confound(runs, baseline, recipe, reference)
    # Holm within each family whose members are all here (mechanisms, data size, parameter
    # count, recipe); translation's other member is the translation finding's, and the study's
    # findings adjust it with everything else.
    verdicts.holm_families(verdicts.records(out))
    out["runs"] = {
        k: v
        for k, v in {
            "locally_connected": lc,
            "locally_connected_small": narrow,
            "dense_small": dense,
            "flatten_head": flat,
            "baseline_cnn_recipe": recipe,
        }.items()
        if v
    }
    return out


# The mechanism findings are one family of questions asked of the same runs: Holm's correction
# within it decides each verdict, as it does within each kernel family. The comparisons that
# support one finding are families of their own.
FAMILY = "mechanisms"
DATA_SIZE = "data size"
PARAMETER_COUNT = "parameter count"
RECIPE = "recipe"


def _smallest_pair(curve: dict) -> tuple[str, str] | None:
    """The CNN's and the baseline's runs at the smallest share both trained on."""
    cnn = {r["fraction"]: r["run"] for r in curve.get("cnn", [])}
    base = {r["fraction"]: r["run"] for r in curve.get("baseline", [])}
    common = sorted(f for f in set(cnn) & set(base) if f < 1)
    return (cnn[common[0]], base[common[0]]) if common else None


def interaction(
    terms: list[tuple[float, str]],
    runs: dict,
    preds: dict,
    groups: np.ndarray | None,
    family: str = FAMILY,
) -> dict:
    """Σ w · test accuracy over four runs, by the study's rule (`verdicts.judge`): Welch–
    Satterthwaite over the runs' seeds, the hierarchical interval over their seeds and the
    image groups (Welch's interval over seeds where a run's answers are missing)."""
    boot = None
    if groups is not None and all(n in preds for _, n in terms):
        boot = bootstrap.hierarchical_bootstrap(
            [(w, verdicts.correct(preds[n])) for w, n in terms], groups
        )
    out = verdicts.judge(
        [(w, list(study.seed_values(runs[n]).values())) for w, n in terms],
        family,
        bootstrap=boot,
    )
    out.update(
        runs=[n for _, n in terms],
        weights=[w for w, _ in terms],
        image_groups=boot["groups"] if boot else None,
    )
    return out


def shares(
    runs: dict,
    reference: str,
    baseline: str,
    lc: str,
    dense: str | None,
    flat: str | None,
    preds: dict | None = None,
    groups: np.ndarray | None = None,
) -> dict:
    """The CNN's lead over the baseline in test accuracy, and each step's part of it (means
    over seeds): the chain's two parts add up to the lead; parameter count and pooling are
    read against the same lead. With the runs' test answers and the image groups, each share
    gets a 95 % interval from the hierarchical bootstrap (seeds, then groups): how far off the
    share could be."""

    def acc(n: str) -> float:
        return float(runs[n]["test"]["accuracy"])

    steps = {"locality": (lc, baseline), "weight_sharing": (reference, lc)}
    if dense:
        steps["parameter_count"] = (dense, baseline)
    if flat:
        steps["pooling"] = (reference, flat)
    lead = acc(reference) - acc(baseline)
    parts = {k: acc(a) - acc(b) for k, (a, b) in steps.items()}
    out = {
        "lead": lead,
        "points": parts,
        "share": {k: (v / lead if lead else None) for k, v in parts.items()},
        "share_ci95": {},
    }
    names = {reference, baseline, *(n for pair in steps.values() for n in pair)}
    if groups is None or not preds or not names <= set(preds):
        return out
    drawn = bootstrap.bootstrap_accuracies(
        {n: verdicts.correct(preds[n]) for n in sorted(names)}, groups
    )
    drawn_lead = drawn[reference] - drawn[baseline]
    for k, (a, b) in steps.items():
        ratio = (drawn[a] - drawn[b]) / np.where(drawn_lead == 0, np.nan, drawn_lead)
        lo, hi = np.nanquantile(ratio, [0.025, 0.975])
        out["share_ci95"][k] = [float(lo), float(hi)]
    return out


def recipe_confound(runs: dict, baseline: str, variant: str, reference: str) -> dict:
    """The baseline on its own recipe against the baseline on the CNN's (learning rate and
    length), decided on val macro-F1 — a recipe choice, so val decides, never test."""
    a, b = runs[baseline], runs[variant]
    out = verdicts.judge(
        [
            (1.0, list(study.seed_values(a, "val", "macro_f1").values())),
            (-1.0, list(study.seed_values(b, "val", "macro_f1").values())),
        ],
        RECIPE,
        metric="val macro-F1",
    )
    out.update(
        own={k: a["params"].get(k) for k in ("learning_rate", "epochs")},
        cnn_recipe={k: b["params"].get(k) for k in ("learning_rate", "epochs")},
        reference_recipe={k: runs[reference]["params"].get(k) for k in ("learning_rate", "epochs")},
        own_is_better_on_val=bool(out["difference"] is not None and out["difference"] >= 0),
        test_accuracy={baseline: a["test"]["accuracy"], variant: b["test"]["accuracy"]},
    )
    return out
