"""The recipe search and the GPU scout: the recipe table (each variant's val scores beside the
run it varies, and which one val prefers per model kind), input size against schedule length,
and the scout's per-variant summaries and the decisions the recipe page states from them.

Pure functions over run records and scout rows; nothing here touches test accuracy.
"""

from __future__ import annotations

import re

import numpy as np


def _recipe_row(run: str, r: dict, change: str, varies: str) -> dict:
    """One line of the recipe table: a seed's val scores and how its training went."""
    return {
        "run": run,
        "change": change,
        "varies": varies,
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


def varied_run(params: dict, centres: dict[str, dict]) -> str:
    """The run a recipe variant varies: of the runs it could vary (the reference, the baseline,
    each control), those with its network (every parameter but the RECIPE's), or else its
    model, the one whose parameters it changes fewest of (seeds aside); the first listed on a
    tie, so the reference wins over a twin."""

    def changes(centre: dict) -> int:
        keys = (set(params) | set(centre["params"])) - {"seeds"}
        return sum(params.get(k) != centre["params"].get(k) for k in keys)

    def network(p: dict) -> dict:
        return {k: v for k, v in p.items() if k not in RECIPE}

    same = [n for n, c in centres.items() if network(c["params"]) == network(params)]
    kind = [n for n, c in centres.items() if c["params"].get("model") == params.get("model")]
    return min(same or kind or centres, key=lambda name: changes(centres[name]))


# How a network is trained, as against which network it is: a variant of these parameters alone
# varies the run with the same network.
RECIPE = {
    "seeds",
    "epochs",
    "batch_size",
    "learning_rate",
    "warmup_epochs",
    "schedule",
    "weight_decay",
    "label_smoothing",
    "class_weighting",
    "class_weight_cap",
    "augment",
    "bn_momentum",
    "patience",
}


def recipe_finding(
    runs: dict,
    reference: str,
    members: list[str],
    baseline: str | None = None,
    controls: list[str] = (),
) -> dict:
    """The recipe search: each variant's val scores (one seed) beside seed 0 of the run it
    varies (the reference, the baseline or a control: `varied_run`); the variant val prefers for
    each of those runs (`choice`, keyed by the run varied). Test is not part of this table."""
    if reference not in runs:
        return {}
    centres = {
        name: runs[name]
        for name in (reference, baseline, *controls)
        if name and name in runs and "per_seed" in runs[name]
    }
    variants = {name: runs[name] for name in members if name in runs and "per_seed" in runs[name]}
    varies = {name: varied_run(m["params"], centres) for name, m in variants.items()}
    rows = []
    for centre in centres:
        if centre not in (reference, baseline) and centre not in varies.values():
            continue
        own = {reference: "the reference recipe", baseline: "the baseline's recipe"}
        label = own.get(centre, f"{centre}'s recipe")
        row = _recipe_row(centre, _seed0(centres[centre]), f"({label})", centre)
        rows.append({**row, "model": centres[centre]["params"].get("model"), "changed": []})
    for name, m in variants.items():
        centre = centres[varies[name]]["params"]
        changed = {k: v for k, v in m["params"].items() if centre.get(k) != v and k != "seeds"}
        change = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
        row = _recipe_row(name, _seed0(m), change, varies[name])
        rows.append({**row, "model": m["params"].get("model"), "changed": sorted(changed)})
    choice = {}
    for centre, run in centres.items():
        model = run["params"].get("model")
        own = [r for r in rows if r["varies"] == centre and r["model"] == model]
        if centre == reference or len(own) > 1:
            choice[centre] = _choice(own, own[0], run["val"].get("macro_f1_std"))
            choice[centre]["learning_rate"] = run["params"].get("learning_rate")
            choice[centre]["epochs"] = run["params"].get("epochs")
    return {
        "rows": rows,
        "best_on_val": choice[reference]["best_on_val"],
        "reference_val_macro_f1": rows[0]["val_macro_f1"],
        "choice": choice,
    }


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
