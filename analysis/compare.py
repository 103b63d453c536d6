"""Across runs of one profile: paired significance tests and the trade-off charts.

Reads each run's metrics.json and predictions.npz; writes `_study/summary.json` and figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis import evaluate, figures
from analysis.provenance import now, write_json

SUMMARY_DIR = "_study"


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


def summarize(profile_dir: Path, reference: str, baseline: str) -> dict:
    """McNemar of every model run against the reference, and of the reference against the
    baseline, on seed 0's test predictions (the same images, in the same order)."""
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
                "ci": v["test"]["accuracy_ci95"],
                "parameters": v["model"]["parameters"],
                "flops": v["model"]["flops_per_image"],
            }
            for k, v in models.items()
            if not v.get("same_computation_as")
        ]
        figures.tradeoff(
            points, "parameters", "parameters (log scale)", fig_dir / "accuracy_vs_parameters.png"
        )
        figures.tradeoff(
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
        "figures": figs,
        "created": now(),
    }
    write_json(profile_dir / SUMMARY_DIR / "summary.json", summary)
    return summary
