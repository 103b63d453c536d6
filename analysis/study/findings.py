"""Every finding the site states, each with the test behind it: the CNN against the baseline,
the locality controls, the kernels, the mechanisms, translation, the recipe, the data shift and
the summary table, from the run records (metrics.json as dicts) and their predictions.

Built on the comparisons (analysis.study.comparisons) and the findings of each experiment
(controls, mechanisms, scout); nothing imports this module back, so there is no import circle.
"""

from __future__ import annotations

from analysis.shift import instrument_gap  # instruments from file names; no images read
from analysis.stats import bootstrap, verdicts
from analysis.stats.verdicts import SIG_LEVEL
from analysis.study import mechanisms
from analysis.study.comparisons import compare, same_test_images, summary_row
from analysis.study.controls import kernel_finding, permutation_finding, translation_finding
from analysis.study.scout import recipe_finding, size_and_length


def gap_decomposition(shift: dict | None) -> dict | None:
    """Split the reference's val→test gap into class mix and appearance, on the classes present
    in all three splits: val at val's mix → test at val's mix (the same classes, recognised on
    other sols: appearance) → test at test's mix (class mix). Val's overall accuracy also holds
    classes test lacks, so the overall gap is not the one to decompose."""
    if not shift or "val_accuracy_common" not in shift:
        return None
    val, at_val_mix = shift["val_accuracy_common"], shift["test_accuracy_val_mix"]
    test = shift["test_accuracy_common"]
    common = set(shift["common_classes"])
    others = [r for r in shift["per_class"] if r["val"] and r["id"] not in common]
    n_other = sum(r["val"] for r in others)
    n_val = sum(r["val"] for r in shift["per_class"])
    correct = sum(r["val"] * (r["val_recall"] or 0.0) for r in others)
    appearance, mix = val - at_val_mix, at_val_mix - test
    shared = [r for r in shift["per_class"] if r["id"] in common]
    n_shared = sum(r["val"] for r in shared) or 1
    # The other order (class mix first) moves val to test's mix before the sols change; the
    # two orders bound each part, and only a part larger in both is called the larger.
    n_test = sum(r["test"] for r in shared) or 1
    val_at_test_mix = sum(r["test"] / n_test * r["val_recall"] for r in shared)
    mix_first, appearance_second = val - val_at_test_mix, val_at_test_mix - test
    if appearance >= mix and appearance_second >= mix_first:
        larger = "appearance"
    elif appearance < mix and appearance_second < mix_first:
        larger = "mix"
    else:
        larger = "neither"
    by_class = sorted(
        (
            {
                "name": r["name"],
                "test": r["test"],
                "val_recall": r["val_recall"],
                "test_recall": r["test_recall"],
                "points": r["val"] / n_shared * (r["val_recall"] - r["test_recall"]),
            }
            for r in shared
        ),
        key=lambda c: -c["points"],
    )
    return {
        "val_common": val,
        "test_at_val_mix": at_val_mix,
        "test_common": test,
        "gap": val - test,
        "appearance": appearance,
        "mix": mix,
        "val_at_test_mix": val_at_test_mix,
        "other_order": {"mix": mix_first, "appearance": appearance_second},
        "larger": larger,
        "appearance_by_class": by_class,
        "val_only": [
            {"name": r["name"], "val": r["val"], "test": r["test"], "val_recall": r["val_recall"]}
            for r in sorted(others, key=lambda r: -r["val"])
        ],
        "val_share_other": n_other / n_val if n_val else 0.0,
        "val_accuracy_other": correct / n_other if n_other else None,
    }


def consistency(run: dict) -> dict:
    """Inference-mode train accuracy against the accuracy measured during training, per seed."""
    rows = [
        {
            "seed": r["seed"],
            "inference": r["train"]["accuracy"],
            "during_training": r["train"].get("accuracy_during_training"),
        }
        for r in run.get("per_seed", [])
    ]
    gaps = [abs(r["inference"] - r["during_training"]) for r in rows if r["during_training"]]
    return {"per_seed": rows, "largest_gap": max(gaps) if gaps else None}


def sized_reference(runs: dict, reference: str, members: list[str]) -> str:
    """The member of a family trained at another input size that is `reference` in everything
    else (its parameters but `image_size`); "" while that run is not computed."""

    def rest(name: str) -> dict:
        return {k: v for k, v in runs[name].get("params", {}).items() if k != "image_size"}

    if reference not in runs:
        return ""
    return next((n for n in members if n in runs and rest(n) == rest(reference)), "")


def findings(
    runs: dict,
    preds: dict,
    reference: str,
    baseline: str,
    groups: dict[str, str],
    replicas: dict | None = None,
) -> dict:
    """Every cross-run statement the site makes, each with the test behind it. `replicas`
    maps published runs to their replication's per-seed test accuracies (another machine)."""
    members = {g: [n for n, gg in groups.items() if gg == g] for g in set(groups.values())}
    out: dict = {}
    image_groups = None
    if reference in preds:
        ref = preds[reference]
        out["grouping"] = bootstrap.choose_grouping(
            verdicts.correct(ref).mean(axis=0), ref["files"]
        )
        image_groups = bootstrap.group_ids(ref["files"], out["grouping"]["chosen"])
    out["rule"] = {
        "primary": verdicts.PRIMARY,
        "significance": SIG_LEVEL,
        "replicated_runs": sorted(replicas or {}),
    }
    ctx = {"groups": image_groups, "replicas": replicas}
    out["reference"], out["baseline_run"] = reference, baseline
    if image_groups is not None:
        # Each run's test accuracy with its interval over seeds and image groups.
        out["intervals"] = {
            name: bootstrap.hierarchical_bootstrap([(1.0, verdicts.correct(p))], image_groups)
            for name, p in preds.items()
            if same_test_images(p, preds[reference])
        }
    if reference in runs and baseline in runs:
        c = compare(reference, baseline, runs, preds, **ctx, family=CNN_VS_DENSE)
        c["parameter_ratio"] = (
            runs[baseline]["model"]["parameters"] / runs[reference]["model"]["parameters"]
        )
        c["train_val_gap_balanced"] = {
            n: runs[n]["train"]["balanced_accuracy"] - runs[n]["val"]["balanced_accuracy"]
            for n in (reference, baseline)
        }
        out["cnn_vs_baseline"] = c
    out["permutation"] = permutation_finding(runs, preds, reference, baseline, **ctx)
    size = runs.get(reference, {}).get("params", {}).get("image_size")
    out["kernels"] = kernel_finding(
        runs,
        preds,
        reference,
        members.get("kernels", []),
        **ctx,
        family=f"kernels at {size} px",
        control_family=f"kernel capacity control at {size} px",
    )
    # The family again at the reference study's 128 px, against its own 3×3 network.
    at_128 = members.get("kernels-128", [])
    ref_128 = sized_reference(runs, reference, at_128)
    out["kernels_128"] = kernel_finding(
        runs,
        preds,
        ref_128,
        at_128,
        **ctx,
        family="kernels at 128 px",
        control_family="kernel capacity control at 128 px",
    )
    # Depth at 128 px, against the same 3×3 network (Holm within the family).
    out["depth_128"] = kernel_finding(
        runs,
        preds,
        ref_128,
        members.get("depth-128", []),
        **ctx,
        family="depth at 128 px",
        control_family="depth capacity control at 128 px",
    )
    # Stride and padding at 128 px, each its own family against the same 3×3 network.
    for key, group, family in (
        ("stride_128", "stride-128", "stride at 128 px"),
        ("padding_128", "padding-128", "padding at 128 px"),
    ):
        out[key] = kernel_finding(
            runs,
            preds,
            ref_128,
            members.get(group, []),
            **ctx,
            family=family,
            control_family=f"{family}, capacity control",
        )
    out["mechanisms"] = mechanisms.findings(runs, preds, reference, baseline, members, **ctx)
    out["translation"] = translation_finding(runs, reference, baseline)
    out["recipe"] = recipe_finding(
        runs, reference, members.get("recipe", []), baseline, members.get("mechanisms", [])
    )
    out["size_and_length"] = size_and_length(runs, reference, members.get("recipe", []))
    if reference in runs:
        out["shift"] = runs[reference].get("shift")
        out["gap"] = gap_decomposition(out["shift"])
        out["consistency"] = consistency(runs[reference])
        out["baselines"] = runs[reference].get("baselines")
    out["instruments"] = {
        name: instrument_gap.predictions_by_instrument(p)
        for name, p in preds.items()
        if groups.get(name) != "recipe" and "val_pred" in p
    }
    out["table"] = [
        summary_row(n, m)
        for n, m in runs.items()
        if "test" in m and groups.get(n) != "recipe" and not m.get("same_computation_as")
    ]
    # Holm within every named family, across the parts that built its members (translation's
    # two questions come from the translation finding and the pooling mechanism).
    verdicts.holm_families(verdicts.records(out))
    out["families"] = families(out)
    return out


CNN_VS_DENSE = "CNN vs dense"


def families(found: dict) -> dict[str, int]:
    """Each named family and how many tests it holds (what Holm's correction multiplies by)."""
    return {r["family"]: r["family_size"] for r in verdicts.records(found) if "family" in r}
