"""The study's science across runs: comparisons between runs and the findings the site states.

Pure functions over run records (metrics.json as dicts) and their predictions (predictions.npz
as dicts of arrays). The runner loads and writes; this module decides, by the rule declared in
`analysis.verdicts`: test accuracy is the primary metric; runs of different networks are
compared unpaired (Welch's t-test over seeds) with a hierarchical bootstrap interval over seeds
and groups of related test images; a difference is claimed when both hold (and, where another
machine replicated both runs, there too). The seed-paired t-test and McNemar's test per seed
are kept as detail, never as the verdict.
"""

from __future__ import annotations

import re

import numpy as np

from analysis import verdicts
from analysis.verdicts import DIFFERENCE, NO_DIFFERENCE, ONE_SEED, SIG_LEVEL

__all__ = ["DIFFERENCE", "NO_DIFFERENCE", "ONE_SEED", "SIG_LEVEL"]


def seed_values(run: dict, split: str = "test", metric: str = "accuracy") -> dict[int, float]:
    """A run's per-seed values of a metric, by seed."""
    return {int(r["seed"]): float(r[split][metric]) for r in run.get("per_seed", [])}


def paired(a: dict, b: dict, split: str = "test", metric: str = "accuracy") -> dict:
    """a − b over the seeds both runs trained, with a paired t-test (scipy.stats.ttest_rel).

    Verdict: `difference` when p < SIG_LEVEL; a single shared seed gets no test at all."""
    from scipy import stats

    va, vb = seed_values(a, split, metric), seed_values(b, split, metric)
    seeds = sorted(set(va) & set(vb))
    diffs = np.asarray([va[s] - vb[s] for s in seeds])
    out = {
        "metric": metric,
        "split": split,
        "seeds": seeds,
        "a": [va[s] for s in seeds],
        "b": [vb[s] for s in seeds],
        "difference": float(diffs.mean()) if len(seeds) else None,
        "difference_std": float(diffs.std(ddof=1)) if len(seeds) > 1 else None,
        "same_sign_all_seeds": bool(len(seeds) and (np.all(diffs > 0) or np.all(diffs < 0))),
        "p_value": None,
        "verdict": ONE_SEED,
    }
    if len(seeds) >= 2:
        if np.ptp(diffs) < 1e-12:  # no spread: the t statistic is undefined
            p = 0.0 if diffs[0] != 0 else 1.0
        else:
            p = float(stats.ttest_rel([va[s] for s in seeds], [vb[s] for s in seeds]).pvalue)
        out.update(p_value=p, verdict=DIFFERENCE if p < SIG_LEVEL else NO_DIFFERENCE)
    return out


def same_test_images(pa: dict, pb: dict) -> bool:
    return np.array_equal(pa["files"], pb["files"]) and np.array_equal(pa["y_true"], pb["y_true"])


def mcnemar_per_seed(pa: dict, pb: dict) -> list[dict]:
    """McNemar's test between the two runs' predictions of each seed they share."""
    from analysis import evaluate

    if not same_test_images(pa, pb):
        raise ValueError("paired tests need the same test images in the same order")
    row_a = {int(s): i for i, s in enumerate(pa["seeds"])}
    row_b = {int(s): i for i, s in enumerate(pb["seeds"])}
    return [
        {
            "seed": s,
            **evaluate.mcnemar(pa["y_true"], pa["y_pred"][row_a[s]], pb["y_pred"][row_b[s]]),
        }
        for s in sorted(set(row_a) & set(row_b))
    ]


def contrast(
    a: str,
    b: str,
    runs: dict,
    preds: dict,
    groups: np.ndarray | None = None,
    replica: dict | None = None,
) -> dict:
    """a − b in test accuracy by the declared rule (`analysis.verdicts`): Welch's t-test over
    seeds, the hierarchical (seeds × image groups) bootstrap interval when both runs' test
    predictions and the groups are known, and the replication's Welch test when given. The
    seed-paired test stays beside it as detail (`paired_p_value`, `pairing_gain`)."""
    va, vb = seed_values(runs[a]), seed_values(runs[b])
    detail = paired(runs[a], runs[b], "test", "accuracy")
    out = {**detail, **verdicts.welch(list(va.values()), list(vb.values()))}
    out.update(
        seeds_a=sorted(va),
        seeds_b=sorted(vb),
        paired_p_value=detail["p_value"],
        pairing_gain=verdicts.pairing_gain(detail["a"], detail["b"]),
        ci95=None,
        replication=None,
    )
    if groups is not None and a in preds and b in preds and same_test_images(preds[a], preds[b]):
        ci = verdicts.hierarchical_bootstrap(
            [(1.0, verdicts.correct(preds[a])), (-1.0, verdicts.correct(preds[b]))], groups
        )
        out["ci95"], out["bootstrap"] = ci["ci95"], ci
    if replica is not None:
        out["replication"] = replica
    out["verdict"] = verdicts.decide(out["p_value"], out.get("bootstrap"), replica)
    return out


def compare(
    a: str,
    b: str,
    runs: dict,
    preds: dict,
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict | None:
    """Run a against run b: test accuracy by the declared rule, test and val macro-F1 as
    secondary metrics (Welch over seeds), McNemar per seed as detail. `replicas` maps a
    published run to its replication's per-seed test accuracies on another machine."""
    if a not in runs or b not in runs:
        return None
    rep = None
    if replicas and a in replicas and b in replicas:
        rep = verdicts.welch(replicas[a], replicas[b])
    out = {
        "a": a,
        "b": b,
        "accuracy": contrast(a, b, runs, preds, groups, rep),
        "macro_f1": _secondary(runs[a], runs[b], "test", "macro_f1"),
        "val_macro_f1": _secondary(runs[a], runs[b], "val", "macro_f1"),
        "mcnemar": [],
    }
    if a in preds and b in preds:
        out["mcnemar"] = mcnemar_per_seed(preds[a], preds[b])
    out["verdict"] = out["accuracy"]["verdict"]
    return out


def _secondary(a: dict, b: dict, split: str, metric: str) -> dict:
    """A secondary metric: Welch over seeds, reported, never the verdict."""
    va, vb = seed_values(a, split, metric), seed_values(b, split, metric)
    out = {**paired(a, b, split, metric), **verdicts.welch(list(va.values()), list(vb.values()))}
    out["verdict"] = verdicts.decide(out["p_value"], None)
    out["secondary"] = True
    return out


def differs_only_in(run: dict, other: dict, keys: set[str]) -> bool:
    """True when two runs' parameters are equal apart from `keys`."""
    pa = {k: v for k, v in run.get("params", {}).items() if k not in keys}
    pb = {k: v for k, v in other.get("params", {}).items() if k not in keys}
    return pa == pb


def original_of(name: str, runs: dict) -> str | None:
    """The run a pixel-permuted run was made from: the same parameters without the shuffle, or,
    failing that, without the shuffle and with another number of epochs (a permuted network
    learns slowly, so its control may train longer and still be the same comparison)."""
    for allowed in ({"permute_pixels"}, {"permute_pixels", "epochs"}):
        for other, m in runs.items():
            unshuffled = not m["params"].get("permute_pixels")
            if other != name and unshuffled and differs_only_in(runs[name], m, allowed):
                return other
    return None


def summary_row(name: str, m: dict) -> dict:
    """One line of a results table: means and sample standard deviations over seeds."""
    t, v = m["test"], m["val"]
    return {
        "run": name,
        "seeds": len(m.get("seeds", [])),
        "test_accuracy": t["accuracy"],
        "test_accuracy_std": t.get("accuracy_std", 0.0),
        "test_macro_f1": t["macro_f1"],
        "test_macro_f1_std": t.get("macro_f1_std", 0.0),
        "val_macro_f1": v["macro_f1"],
        "val_macro_f1_std": v.get("macro_f1_std", 0.0),
        "val_accuracy": v["accuracy"],
        "parameters": m["model"]["parameters"],
        "flops": m["model"]["flops_per_image"],
        "train_seconds": m["timing"]["train_seconds"],
        "stop_reason": m.get("training", {}).get("stop_reason", []),
        "converged": m.get("training", {}).get("converged"),
    }


def holm(p_values: dict[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjustment of a family of p-values (runs without a test are left out):
    the k-th smallest is multiplied by (m - k + 1), made monotone, capped at 1."""
    tested = sorted((p, n) for n, p in p_values.items() if p is not None)
    m, running, out = len(tested), 0.0, {n: None for n in p_values}
    for k, (p, n) in enumerate(tested):
        running = max(running, min(1.0, (m - k) * p))
        out[n] = running
    return out


def kernel_finding(
    runs: dict,
    preds: dict,
    reference: str,
    members: list[str],
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict:
    """The kernel experiments: which one val chooses (mean val macro-F1 over seeds), each one
    against the reference on test (paired over seeds), and the capacity control: a run with 3×3
    kernels and more filters against the larger kernel whose parameters it matches."""
    names = [
        n
        for n in members
        if n in runs and "test" in runs[n] and runs[n].get("same_computation_as") != reference
    ]
    if reference in runs and reference not in names:
        names.insert(0, reference)
    if not names:
        return {}
    ref = runs.get(reference)
    rows = {n: summary_row(n, runs[n]) for n in names}
    out = {
        "runs": names,
        "rows": rows,
        "chosen_on_val": max(names, key=lambda n: (rows[n]["val_macro_f1"], n == reference)),
        "against_reference": {
            n: compare(n, reference, runs, preds, groups, replicas)
            for n in names
            if n != reference and ref
        },
    }
    # Several kernels are tested against one reference at once: Holm's correction says which
    # verdicts survive that multiplicity, and the verdict the site states is Holm's.
    adjusted = holm({n: c["accuracy"]["p_value"] for n, c in out["against_reference"].items()})
    out["holm"] = {
        n: {"p_adjusted": p, "difference": p is not None and p < SIG_LEVEL}
        for n, p in adjusted.items()
    }
    for n, p in adjusted.items():
        if p is not None:
            acc = out["against_reference"][n]["accuracy"]
            acc["p_holm"] = p
            acc["verdict"] = verdicts.decide(p, acc.get("bootstrap"), acc.get("replication"))
            out["against_reference"][n]["verdict"] = acc["verdict"]
    if ref:
        out["cost"] = {
            n: {
                "parameter_ratio": rows[n]["parameters"] / rows[reference]["parameters"],
                "flops_ratio": rows[n]["flops"] / rows[reference]["flops"],
                "train_time_ratio": rows[n]["train_seconds"] / rows[reference]["train_seconds"],
            }
            for n in names
        }
    filters = ref["params"].get("filters") if ref else None
    wide = [n for n in names if ref and runs[n]["params"].get("filters") != filters]
    controls = {}
    for w in wide:
        # The larger-kernel run with the nearest parameter count is what the control matches.
        others = [n for n in names if n not in wide and n != reference]
        if not others:
            continue
        target = min(others, key=lambda n: abs(rows[n]["parameters"] - rows[w]["parameters"]))
        controls[w] = {
            "matches": target,
            "parameter_ratio": rows[w]["parameters"] / rows[target]["parameters"],
            "comparison": compare(w, target, runs, preds, groups, replicas),
        }
    out["capacity_controls"] = controls
    return out


def permutation_finding(
    runs: dict,
    preds: dict,
    reference: str,
    baseline: str,
    groups: np.ndarray | None = None,
    replicas: dict | None = None,
) -> dict:
    """What destroying locality costs each model kind, and the noise control.

    A fixed pixel shuffle only renames a dense network's inputs: the baseline on permuted
    pixels is the same model class as the baseline, so any "difference" between them is
    training noise, the yardstick for every other comparison. The CNN's loss is tested the
    same way, and the gap between the two losses per seed tells whether convolution's gain
    rests on locality."""
    out: dict = {"runs": {}}
    for name, m in runs.items():
        if not m.get("params", {}).get("permute_pixels"):
            continue
        original = original_of(name, runs)
        if original is None:
            continue
        out["runs"][original] = {
            "permuted": name,
            "comparison": compare(original, name, runs, preds, groups, replicas),
        }
    if baseline in out["runs"]:
        out["noise_control"] = out["runs"][baseline]
    if reference in out["runs"] and baseline in out["runs"]:
        cnn_perm, base_perm = out["runs"][reference]["permuted"], out["runs"][baseline]["permuted"]
        # Four independently trained runs: the interaction is tested unpaired (Welch–
        # Satterthwaite) with the hierarchical interval over the four runs' seeds and groups.
        names = (reference, cnn_perm, baseline, base_perm)
        terms = list(zip((1.0, -1.0, -1.0, 1.0), names, strict=True))
        effect = verdicts.welch_contrast(
            [(w, list(seed_values(runs[n]).values())) for w, n in terms]
        )
        effect["runs"] = list(names)
        effect["bootstrap"] = None
        if groups is not None and all(n in preds for n in names):
            effect["bootstrap"] = verdicts.hierarchical_bootstrap(
                [(w, verdicts.correct(preds[n])) for w, n in terms], groups
            )
        effect["ci95"] = effect["bootstrap"]["ci95"] if effect["bootstrap"] else None
        effect["verdict"] = verdicts.decide(effect["p_value"], effect["bootstrap"])
        out["locality_effect"] = effect
    return out


def translation_finding(runs: dict, reference: str, baseline: str) -> dict:
    """Accuracy lost when test images shift by up to a quarter of the side, per model kind;
    the relative drops compared over seeds. Both kinds are trained without augmentation, so
    neither has been shown shifted images: the difference is the architecture's."""
    out: dict = {}
    for name in (reference, baseline):
        t = runs.get(name, {}).get("translation")
        if not t:
            continue
        per_seed = np.asarray(t["accuracy_per_seed"])
        relative = 1 - per_seed[:, -1] / np.maximum(per_seed[:, 0], 1e-9)
        out[name] = {
            "shifts": t["shifts"],
            "image_size": t["image_size"],
            "max_shift_fraction": t["shifts"][-1] / t["image_size"],
            "unshifted": float(per_seed[:, 0].mean()),
            "shifted": float(per_seed[:, -1].mean()),
            "drop": float((per_seed[:, 0] - per_seed[:, -1]).mean()),
            "relative_drop": float(relative.mean()),
            "relative_drop_per_seed": relative.tolist(),
        }
    if reference in out and baseline in out:
        out["comparison"] = verdicts.welch(
            out[reference]["relative_drop_per_seed"], out[baseline]["relative_drop_per_seed"]
        )
        out["comparison"]["verdict"] = verdicts.decide(out["comparison"]["p_value"], None)
    return out


def _recipe_row(run: str, r: dict, change: str, model: str | None) -> dict:
    """One line of the recipe table: a seed's val scores and how its training went."""
    return {
        "run": run,
        "change": change,
        "model": model,
        "seed": r["seed"],
        "val_macro_f1": r["val"]["macro_f1"],
        "val_accuracy": r["val"]["accuracy"],
        "val_balanced_accuracy": r["val"]["balanced_accuracy"],
        "train_inference": r["train"]["accuracy"],
        "train_during_training": r["train"].get("accuracy_during_training"),
        "stop_reason": r["stop_reason"],
        "plateaued": r["plateaued"],
        "epochs": r["epochs_run"],
    }


def _seed0(run: dict) -> dict:
    return next((r for r in run["per_seed"] if r["seed"] == 0), run["per_seed"][0])


def _choice(rows: list[dict], incumbent: dict, spread: float | None) -> dict:
    """Which of one model kind's rows val prefers, and whether its lead over the recipe in use
    is more than noise. Both sides are one seed, so the lead's own spread is that of a
    difference of two draws: sqrt(2) times the recipe's seed standard deviation."""
    best = max(rows, key=lambda r: r["val_macro_f1"])
    gain = best["val_macro_f1"] - incumbent["val_macro_f1"]
    noise = float(np.sqrt(2) * spread) if spread is not None else None
    return {
        "best_on_val": best["run"],
        "gain": gain,
        "seed_std": spread,
        "noise": noise,
        "beyond_spread": noise is not None and gain > noise,
    }


def recipe_finding(
    runs: dict, reference: str, members: list[str], baseline: str | None = None
) -> dict:
    """The recipe search: each variant's val scores (one seed) beside seed 0 of the run it
    varies (the reference, or the baseline for the baseline's own variants); the variant val
    prefers for each model kind. Test is not part of this table."""
    if reference not in runs:
        return {}
    ref = runs[reference]
    rows = [_recipe_row(reference, _seed0(ref), "(the reference recipe)", "cnn")]
    base = runs.get(baseline) if baseline else None
    if base and "per_seed" in base:
        rows.append(_recipe_row(baseline, _seed0(base), "(the baseline's recipe)", "baseline"))
    else:
        base = None
    for name in members:
        m = runs.get(name)
        if not m or "per_seed" not in m:
            continue
        model = m["params"].get("model")
        centre = base if base and model == "baseline" else ref
        changed = {
            k: v for k, v in m["params"].items() if centre["params"].get(k) != v and k != "seeds"
        }
        change = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
        rows.append(_recipe_row(name, _seed0(m), change, model))
    cnn_rows = [r for r in rows if r["model"] == "cnn"]
    out = {
        "rows": rows,
        "best_on_val": max(cnn_rows, key=lambda r: r["val_macro_f1"])["run"],
        "reference_val_macro_f1": rows[0]["val_macro_f1"],
        "choice": {"cnn": _choice(cnn_rows, rows[0], ref["val"].get("macro_f1_std"))},
    }
    if base:
        base_rows = [r for r in rows if r["model"] == "baseline"]
        out["choice"]["baseline"] = _choice(base_rows, rows[1], base["val"].get("macro_f1_std"))
    return out


def size_and_length(runs: dict, reference: str, members: list[str]) -> list[dict]:
    """The reference and the recipe runs that change only its input size and its epochs, so
    that resolution and schedule length are read together with what each costs: seed 0's val
    macro-F1 and the time to train one seed. Sorted by input size, then epochs."""
    if reference not in runs or "per_seed" not in runs[reference]:
        return []
    ref = runs[reference]["params"]
    free = {"image_size", "epochs", "seeds"}
    out = []
    for name in [reference, *members]:
        m = runs.get(name)
        if not m or "per_seed" not in m or m["params"].get("model") != ref.get("model"):
            continue
        if m["params"].get("image_size") is None or m["params"].get("epochs") is None:
            continue
        keys = set(m["params"]) | set(ref)
        if any(m["params"].get(k) != ref.get(k) for k in keys - free):
            continue
        s0 = _seed0(m)
        out.append(
            {
                "run": name,
                "image_size": m["params"]["image_size"],
                "epochs": m["params"]["epochs"],
                "val_macro_f1": s0["val"]["macro_f1"],
                "plateaued": s0["plateaued"],
                "train_seconds": m.get("timing", {}).get("train_seconds"),
            }
        )
    return sorted(out, key=lambda r: (r["image_size"], r["epochs"]))


def scout_summary(rows: list[dict]) -> list[dict]:
    """The GPU scout's rows (bench/scout.py), one per variant: mean and spread over seeds."""
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["variant"], []).append(r)
    out = []
    for name, rs in by.items():
        f1 = np.asarray([r["val"]["macro_f1"] for r in rs])
        out.append(
            {
                "variant": name,
                "model": rs[0]["params"]["model"],
                "augment": rs[0]["params"]["augment"],
                "seeds": sorted(r["seed"] for r in rs),
                "val_macro_f1": float(f1.mean()),
                "val_macro_f1_std": float(f1.std(ddof=1)) if len(f1) > 1 else None,
                "val_accuracy": float(np.mean([r["val"]["accuracy"] for r in rs])),
                "train_inference": float(np.mean([r["train_inference"]["accuracy"] for r in rs])),
                "train_during_training": float(
                    np.mean([r["train_accuracy_during_training"] for r in rs])
                ),
                "plateaued": sum(bool(r["plateaued"]) for r in rs),
                "backend": rs[0].get("backend"),
            }
        )
    return sorted(out, key=lambda r: -r["val_macro_f1"])


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
        out["grouping"] = verdicts.choose_grouping(verdicts.correct(ref).mean(axis=0), ref["files"])
        image_groups = verdicts.group_ids(ref["files"], out["grouping"]["chosen"])
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
            name: verdicts.hierarchical_bootstrap([(1.0, verdicts.correct(p))], image_groups)
            for name, p in preds.items()
            if same_test_images(p, preds[reference])
        }
    if reference in runs and baseline in runs:
        c = compare(reference, baseline, runs, preds, **ctx)
        c["parameter_ratio"] = (
            runs[baseline]["model"]["parameters"] / runs[reference]["model"]["parameters"]
        )
        c["train_val_gap_balanced"] = {
            n: runs[n]["train"]["balanced_accuracy"] - runs[n]["val"]["balanced_accuracy"]
            for n in (reference, baseline)
        }
        out["cnn_vs_baseline"] = c
    out["permutation"] = permutation_finding(runs, preds, reference, baseline, **ctx)
    out["kernels"] = kernel_finding(runs, preds, reference, members.get("kernels", []), **ctx)
    from analysis import mechanisms  # it builds on this module's comparisons

    out["mechanisms"] = mechanisms.findings(runs, preds, reference, baseline, members, **ctx)
    out["translation"] = translation_finding(runs, reference, baseline)
    out["recipe"] = recipe_finding(runs, reference, members.get("recipe", []), baseline)
    out["size_and_length"] = size_and_length(runs, reference, members.get("recipe", []))
    if reference in runs:
        out["shift"] = runs[reference].get("shift")
        out["gap"] = gap_decomposition(out["shift"])
        out["consistency"] = consistency(runs[reference])
        out["baselines"] = runs[reference].get("baselines")
    from analysis import shift  # instruments from file names; no images read

    out["instruments"] = {
        name: shift.predictions_by_instrument(p)
        for name, p in preds.items()
        if groups.get(name) != "recipe" and "val_pred" in p
    }
    out["table"] = [
        summary_row(n, m)
        for n, m in runs.items()
        if "test" in m and groups.get(n) != "recipe" and not m.get("same_computation_as")
    ]
    return out


def _round_number(name: str) -> tuple[int, str]:
    """round2 before round10: by the number in the name, not the text."""
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else -1, name)


def scout_decisions(rounds: dict[str, list[dict]]) -> dict:
    """What the scout's rows say about each decision the recipe page states: the effect of
    augmentation (round 1), the best single change and its gain over the reference (last
    round), and the baseline's best learning rate. Numbers, so the page cannot drift from
    the rows it cites."""
    out: dict = {}
    if not rounds:
        return out
    order = sorted(rounds, key=_round_number)
    first, last = rounds[order[0]], rounds[order[-1]]
    by_first = {r["variant"]: r for r in first}
    if "aug-none" in by_first and "reference" in by_first:
        augmented = [r for r in first if r["augment"] != "none" and r["model"] == "cnn"]
        out["augmentation"] = {
            "none": by_first["aug-none"]["val_macro_f1"],
            "reference": by_first["reference"]["val_macro_f1"],
            "best_augmented": max(r["val_macro_f1"] for r in augmented),
            "best_augmented_variant": max(augmented, key=lambda r: r["val_macro_f1"])["variant"],
        }
    by_last = {r["variant"]: r for r in last}
    cnn = [r for r in last if r["model"] == "cnn" and r["variant"] != "reference"]
    if "reference" in by_last and cnn:
        best = max(cnn, key=lambda r: r["val_macro_f1"])
        spread = [r["val_macro_f1_std"] for r in last if r["val_macro_f1_std"] is not None]
        out["best_change"] = {
            "variant": best["variant"],
            "seeds": len(best["seeds"]),
            "reference_seeds": len(by_last["reference"]["seeds"]),
            "gain": best["val_macro_f1"] - by_last["reference"]["val_macro_f1"],
            "typical_seed_std": float(np.median(spread)) if spread else None,
        }
    base = [r for r in last if r["model"] == "baseline"]
    if base:
        best = max(base, key=lambda r: r["val_macro_f1"])
        out["baseline"] = {
            "variant": best["variant"],
            "val_macro_f1": best["val_macro_f1"],
            "seeds": len(best["seeds"]),
        }
    return out
