"""The mechanism page's figures: the chain from the dense network to the CNN, accuracy against
training images, and what each head loses when test images shift. Drawn by the cross-run step
from the findings (analysis.study.mechanisms), in the site's names, order and type sizes."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import display
from analysis.figures.notebook import FIG_WIDTH, _legend_below, _reference_lines, _save, _style
from analysis.figures.runs import translation

matplotlib.use("Agg")


def chain(runs: dict, names: list[str], intervals: dict, path, baselines=None) -> Path:
    """Test accuracy of the mechanism chain, one bar per run with its hierarchical 95 %
    interval (seeds × image groups) and a dot per seed, the trivial answers as lines."""
    names = [n for n in names if n in runs]
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.42 * len(names) + 2.4), layout="constrained")
        y = np.arange(len(names))
        means = [runs[n]["test"]["accuracy"] for n in names]
        ci = [intervals.get(n, {}).get("ci95") for n in names]
        err = np.asarray(
            [[m - c[0], c[1] - m] if c else [0.0, 0.0] for m, c in zip(means, ci, strict=True)]
        ).T
        ax.barh(y, means, xerr=err, color=[display.colour(n) for n in names], alpha=0.6, capsize=3)
        for i, n in enumerate(names):
            seeds = [s["test"]["accuracy"] for s in runs[n]["per_seed"]]
            ax.plot(seeds, [i] * len(seeds), "o", color="black", ms=3)
        _reference_lines(ax, baselines, vertical=True)
        ax.set_yticks(y, [display.name(n) for n in names])
        ax.invert_yaxis()
        ax.set_xlim(0, 0.8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("test accuracy (bar: mean; line: 95 % interval; dots: seeds)")
        ax.grid(alpha=0.3, axis="x")
        _legend_below(fig, ax, ncol=1)
        return _save(fig, path)


def data_size(curve: dict, path, baselines=None) -> Path:
    """Test accuracy against the number of training images (log scale): a dot per seed, the
    mean per share joined by a line, one colour per model kind."""
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 4.6), layout="constrained")
        for rows in curve.values():
            rows = [r for r in rows if r.get("train_images")]
            if not rows:
                continue
            full = next(r["run"] for r in rows if r["fraction"] == max(x["fraction"] for x in rows))
            x = [r["train_images"] for r in rows]
            colour = display.colour(full)
            ax.plot(x, [r["accuracy"] for r in rows], "-", color=colour, label=display.name(full))
            for r in rows:
                seeds = r["accuracy_per_seed"]
                ax.plot([r["train_images"]] * len(seeds), seeds, "o", color=colour, ms=4, alpha=0.7)
        _reference_lines(ax, baselines)
        ax.set_xscale("log")
        ax.set_xlabel("training images (log scale; dots: seeds, line: mean)")
        ax.set_ylabel("test accuracy")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_ylim(0, 0.8)
        ax.grid(alpha=0.3, which="both")
        _legend_below(fig, ax, ncol=2)
        return _save(fig, path)


def draw(found: dict, runs: dict, fig_dir: Path) -> dict[str, Path]:
    """The figures whose runs exist."""
    mech = found.get("mechanisms") or {}
    base = found.get("baselines")
    out: dict[str, Path] = {}
    roles = mech.get("runs", {})
    reference, baseline = found.get("reference"), found.get("baseline_run")
    if roles and reference and baseline:
        # The chain's order, not the site's: each bar adds one ingredient to the one above.
        names = [
            baseline,
            roles.get("dense_small"),
            roles.get("locally_connected"),
            reference,
            roles.get("flatten_head"),
        ]
        out["mechanism_chain"] = chain(
            runs, [n for n in names if n], found.get("intervals", {}), fig_dir / "chain.png", base
        )
    curve = mech.get("data_size_curve") or {}
    if any(len(rows) > 1 for rows in curve.values()):
        out["data_size"] = data_size(curve, Path(fig_dir) / "data_size.png", base)
    flat = roles.get("flatten_head")
    if flat and reference:
        curves = {n: runs[n]["translation"] for n in (reference, flat, baseline) if n in runs}
        curves = {n: c for n, c in curves.items() if c}
        if len(curves) > 1:
            out["pooling_translation"] = translation(
                curves, Path(fig_dir) / "pooling_translation.png", base
            )
    return out
