"""Across runs of one profile: paired significance tests, the derived findings the
interpretation page quotes, and the trade-off charts.

Reads each run's metrics.json and predictions.npz; writes `_study/summary.json` and figures.
Part of the runner's collection step: the notebooks never read each other's results.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from analysis.provenance import now, write_json

SUMMARY_DIR = "_study"
SIG_LEVEL = 0.05


def load_runs(profile_dir: Path) -> dict[str, dict]:
    runs = {}
    for m in sorted(profile_dir.glob("*/metrics.json")):
        if m.parent.name.startswith(("_", ".")) or m.parent.name.endswith(".failed"):
            continue
        runs[m.parent.name] = json.loads(m.read_text())
    return runs


def _predictions(folder: Path) -> dict | None:
    f = folder / "predictions.npz"
    if not f.exists():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def inputs_hash(profile_dir: Path, reference: str, baseline: str) -> str:
    """This module's code and every run's recorded fingerprint: unchanged means up to date."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{reference}|{baseline}".encode())
    for record in sorted(profile_dir.glob("*/run.json")):
        h.update(record.parent.name.encode() + record.read_bytes())
    return h.hexdigest()[:16]


def is_current(profile_dir: Path, reference: str, baseline: str) -> bool:
    try:
        summary = json.loads((profile_dir / SUMMARY_DIR / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return summary.get("inputs") == inputs_hash(profile_dir, reference, baseline)


def summarize(profile_dir: Path, reference: str, baseline: str) -> dict:
    """McNemar of every model run against the reference, and of the reference against the
    baseline, on seed 0's test predictions (the same images, in the same order); then the
    findings the interpretation page cites, each derived from these runs' metrics."""
    # SciPy, scikit-learn and Matplotlib load here, not at import: a no-op `make all` never
    # gets this far, and every runner command would otherwise pay seconds for them.
    from analysis import evaluate, study_figures

    runs = load_runs(profile_dir)
    preds = {name: _predictions(profile_dir / name) for name in runs}
    preds = {k: v for k, v in preds.items() if v is not None}
    comparisons = []

    def compare(a: str, b: str) -> None:
        pa, pb = preds.get(a), preds.get(b)
        if pa is None or pb is None or not np.array_equal(pa["files"], pb["files"]):
            return
        test = evaluate.mcnemar(pa["y_true"], pa["y_pred"][0], pb["y_pred"][0])
        comparisons.append({"a": a, "b": b, **test})

    for name in preds:
        if name != reference and runs[name].get("same_computation_as") != reference:
            compare(name, reference)
    if baseline in preds and reference in preds:
        compare(reference, baseline)

    figs = {}
    models = {k: v for k, v in runs.items() if "model" in v and "test" in v}
    fig_dir = profile_dir / SUMMARY_DIR / "figures"
    if models:
        points = [
            {
                "label": k,
                "accuracy": v["test"]["accuracy"],
                # An interval from resampled images brackets the mean; clip for safety.
                "ci": [
                    min(v["test"]["accuracy_ci95"][0], v["test"]["accuracy"]),
                    max(v["test"]["accuracy_ci95"][1], v["test"]["accuracy"]),
                ],
                "parameters": v["model"]["parameters"],
                "flops": v["model"]["flops_per_image"],
            }
            for k, v in models.items()
            if not v.get("same_computation_as")
        ]
        study_figures.tradeoff(
            points, "parameters", "parameters (log scale)", fig_dir / "accuracy_vs_parameters.png"
        )
        study_figures.tradeoff(
            points,
            "flops",
            "FLOPs per image, forward pass (log scale)",
            fig_dir / "accuracy_vs_flops.png",
        )
        figs = {
            "accuracy_vs_parameters": "figures/accuracy_vs_parameters.png",
            "accuracy_vs_flops": "figures/accuracy_vs_flops.png",
        }
    summary = {
        "profile": profile_dir.name,
        "reference": reference,
        "baseline": baseline,
        "runs": sorted(runs),
        "comparisons": comparisons,
        "findings": findings(runs, comparisons, reference, baseline),
        "figures": figs,
        "inputs": inputs_hash(profile_dir, reference, baseline),
        "created": now(),
    }
    write_json(profile_dir / SUMMARY_DIR / "summary.json", summary)
    return summary


def _p_value(comparisons: list[dict], a: str, b: str) -> float | None:
    for c in comparisons:
        if {c["a"], c["b"]} == {a, b}:
            return c["p_value"]
    return None


def findings(runs: dict[str, dict], comparisons: list[dict], reference: str, baseline: str):
    """Differences between runs, with their significance where a paired test exists."""
    ref, base = runs.get(reference), runs.get(baseline)
    out: dict = {}
    if ref and base and "test" in ref and "test" in base:
        p = _p_value(comparisons, reference, baseline)
        out["cnn_vs_baseline"] = {
            "accuracy_difference": ref["test"]["accuracy"] - base["test"]["accuracy"],
            "macro_f1_difference": ref["test"]["macro_f1"] - base["test"]["macro_f1"],
            "p_value": p,
            "significant": p is not None and p < SIG_LEVEL,
            "parameter_ratio": base["model"]["parameters"] / ref["model"]["parameters"],
            "train_val_gap": {
                name: m["train"]["accuracy"] - m["val"]["accuracy"]
                for name, m in ((reference, ref), (baseline, base))
            },
        }
    out["translation"] = {
        name: {
            "max_shift": m["translation"]["shifts"][-1],
            "unshifted": m["translation"]["accuracy"][0],
            "shifted": m["translation"]["accuracy"][-1],
            "drop": m["translation"]["accuracy"][0] - m["translation"]["accuracy"][-1],
            "relative_drop": 1
            - m["translation"]["accuracy"][-1] / max(m["translation"]["accuracy"][0], 1e-9),
        }
        for name, m in runs.items()
        if name in (reference, baseline) and m.get("translation")
    }
    out["permutation"] = {}
    for name, m in runs.items():
        if not m.get("params", {}).get("permute_pixels"):
            continue
        original = (
            baseline if m["notebook"] == runs.get(baseline, {}).get("notebook") else reference
        )
        if original not in runs:
            continue
        p = _p_value(comparisons, name, reference) if original == reference else None
        out["permutation"][original] = {
            "run": name,
            "original": runs[original]["test"]["accuracy"],
            "permuted": m["test"]["accuracy"],
            "change": m["test"]["accuracy"] - runs[original]["test"]["accuracy"],
            "macro_f1_change": m["test"]["macro_f1"] - runs[original]["test"]["macro_f1"],
            "p_value": p,
        }
    if ref and "model" in ref and "params" in ref:  # a trained reference to compare against
        out["kernels"] = _kernel_finding(runs, reference)
    weighting = ref["params"].get("class_weighting") if ref else None
    out["imbalance"] = [
        {
            "run": name,
            "class_weighting": m["params"]["class_weighting"],
            "reference_class_weighting": weighting,
            "val_macro_f1_change": m["val"]["macro_f1"] - ref["val"]["macro_f1"],
            "val_balanced_accuracy_change": (
                m["val"]["balanced_accuracy"] - ref["val"]["balanced_accuracy"]
            ),
            "val_accuracy_change": m["val"]["accuracy"] - ref["val"]["accuracy"],
            "reference_better_on_val": ref["val"]["macro_f1"] >= m["val"]["macro_f1"],
        }
        for name, m in runs.items()
        if ref
        and "params" in m
        and m["notebook"] == ref["notebook"]
        and m["params"].get("class_weighting") not in (None, weighting)
        and not m["params"].get("permute_pixels")
    ]
    return out


KERNEL_PARAMS = ("kernel_size", "kernel_sizes")


def _kernel_finding(runs: dict[str, dict], reference: str) -> dict:
    """The controlled kernel experiments are the runs that differ from the reference in their
    kernel sizes alone: which one val chooses, which one test ranks first, what each costs
    relative to the reference, and whether the epoch budget rather than early stopping ended
    their training (then the ranking measures speed of convergence as much as capacity)."""
    ref = runs[reference]

    def rest(params: dict) -> dict:
        return {k: v for k, v in params.items() if k not in KERNEL_PARAMS}

    names = [
        name
        for name, m in runs.items()
        if "model" in m
        and m["notebook"] == ref["notebook"]
        and rest(m.get("params", {})) == rest(ref["params"])
        and m.get("same_computation_as") is None
    ]
    budget = ref["params"].get("epochs")
    return {
        "runs": names,
        "chosen_on_val": max(names, key=lambda n: (runs[n]["val"]["accuracy"], n == reference)),
        "best_on_test": max(names, key=lambda n: runs[n]["test"]["accuracy"]),
        "epoch_budget": budget,
        "stopped_by_budget": [
            n for n in names if all(e >= budget for e in runs[n]["timing"]["epochs_run"])
        ],
        "cost": {
            n: {
                "parameter_ratio": runs[n]["model"]["parameters"] / ref["model"]["parameters"],
                "flops_ratio": runs[n]["model"]["flops_per_image"]
                / ref["model"]["flops_per_image"],
                "train_time_ratio": runs[n]["timing"]["train_seconds"]
                / ref["timing"]["train_seconds"],
            }
            for n in names
        },
    }
