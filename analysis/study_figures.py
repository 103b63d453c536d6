"""Figures of the study as a whole (across runs). Kept apart from analysis.figures, whose
per-run figures every run's fingerprint covers: a new comparison figure must not make hours of
computed runs out of date."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from analysis.figures import _save


def tradeoff(points: list[dict], xkey: str, xlabel: str, path) -> Path:
    """Accuracy against cost, one labelled point per model, with its 95 % interval."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for p in points:
        lo, hi = p["ci"]
        ax.errorbar(
            p[xkey],
            p["accuracy"],
            yerr=[[p["accuracy"] - lo], [hi - p["accuracy"]]],
            fmt="o",
            capsize=4,
        )
        ax.annotate(
            p["label"],
            (p[xkey], p["accuracy"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (95 % bootstrap CI)")
    ax.grid(alpha=0.3)
    return _save(fig, path)
