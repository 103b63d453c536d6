"""Figures of the study as a whole (across runs), drawn by the runner's cross-run step from every
run's record; each run's own figures are analysis.figures.runs'. Like all of analysis.figures,
presentation: no run's fingerprint covers it (runner.codeprint.run_prints)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import display, families
from analysis.figures.notebook import FIG_WIDTH, _legend_below, _reference_lines, _save, _style
from analysis.figures.runs import (
    architecture,
    class_distribution,
    draw_runs,
    instruments,
    translation,
)


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(b) for b in boxes)


def place_labels(ax, xs, ys, labels, colours=None) -> None:
    """Label each point beside it, trying positions around it until the label overlaps no
    label already placed, no point, and stays inside the axes."""
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    placed = []
    marks = [
        ax.transData.transform((x, y)) for x, y in zip(xs, ys, strict=True)
    ]  # pixel positions of the points
    # 8 directions at growing distances; a leader line only from the fourth distance on (its
    # bounding box runs to the point, so it would block the near places)
    offsets = [
        (dx * r, dy * r)
        for r in (1, 2, 3, 4, 6, 8)
        for dx, dy in ((6, 4), (6, -12), (-6, 4), (-6, -12), (0, 10), (0, -18), (8, -4), (-8, -4))
    ]
    for i, (x, y, label) in enumerate(zip(xs, ys, labels, strict=True)):
        colour = colours[i] if colours else "black"
        for k, (dx, dy) in enumerate(offsets):
            t = ax.annotate(
                label,
                (x, y),
                textcoords="offset points",
                xytext=(dx, dy),
                ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                color=colour,
                arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6} if k >= 24 else None,
            )
            box = t.get_window_extent(renderer)
            hits_point = any(box.contains(px, py) for px, py in marks)
            fits = (
                box.x0 >= inside.x0
                and box.x1 <= inside.x1
                and box.y0 >= inside.y0
                and box.y1 <= inside.y1
            )
            if fits and not hits_point and not _overlaps(box, placed):
                placed.append(box)
                break
            if k == len(offsets) - 1:  # nowhere free: keep the last try, the test will say so
                placed.append(box)
                break
            t.remove()


def tradeoff(rows: list[dict], xkey: str, xlabel: str, path, baselines=None) -> Path:
    """Test accuracy against cost, one labelled point per model: mean ± std over seeds, with
    the trivial answers as lines."""
    rows = display.ordered(rows)
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 6.4), layout="constrained")
        for r in rows:
            ax.errorbar(
                r[xkey],
                r["test_accuracy"],
                yerr=r["test_accuracy_std"],
                fmt="o",
                capsize=4,
                color=display.colour(r["run"]),
            )
        _reference_lines(ax, baselines)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        xs = [r[xkey] for r in rows]
        ax.set_xlim(min(xs) / 2.5, max(xs) * 4)  # room for a label centred on the last point
        ax.set_ylim(0, 0.7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (mean ± std over seeds)")
        ax.grid(alpha=0.3)
        _legend_below(fig, ax, ncol=2)
        fig.canvas.draw()  # final layout, so labels are placed where they will be drawn
        fig.set_layout_engine("none")
        place_labels(
            ax,
            xs,
            [r["test_accuracy"] for r in rows],
            [display.name(r["run"]) for r in rows],
            [display.colour(r["run"]) for r in rows],
        )
        return _save(fig, path)


def headline(rows: list[dict], runs: dict, path, baselines=None) -> Path:
    """Test accuracy per model, in the study's order: a bar for the mean over seeds, a dot
    per seed, the trivial answers and the published results of other studies as lines."""
    rows = display.ordered(r for r in rows if not runs[r["run"]].get("same_computation_as"))
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.36 * len(rows) + 2.6), layout="constrained")
        y = np.arange(len(rows))
        ax.barh(
            y,
            [r["test_accuracy"] for r in rows],
            xerr=[r["test_accuracy_std"] for r in rows],
            color=[display.colour(r["run"]) for r in rows],
            alpha=0.6,
            capsize=3,
        )
        for i, r in enumerate(rows):
            seeds = [s["test"]["accuracy"] for s in runs[r["run"]]["per_seed"]]
            ax.plot(seeds, [i] * len(seeds), "o", color="black", ms=3)
        _reference_lines(ax, baselines, literature=True, vertical=True)
        ax.set_yticks(y, [display.name(r["run"]) for r in rows])
        ax.invert_yaxis()
        ax.set_xlim(0, 0.8)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("test accuracy (bar: mean over seeds; dots: seeds)")
        ax.grid(alpha=0.3, axis="x")
        _legend_below(fig, ax, ncol=1)
        return _save(fig, path)


def scout_label(variant: str) -> str:
    """A scouted variant's id in words: "lr-4e-3" -> "learning rate 4e-3"."""
    words = {
        "reference": "the recipe",
        "aug-": "augmentation ",
        "bn-momentum-": "batch-norm momentum ",
        "epochs-": "epochs: ",
        "weight-decay-": "weight decay ",
        "no-label-smoothing": "no label smoothing",
        "baseline-lr-": "dense, learning rate ",
        "lr-": "learning rate ",
        "weights-balanced-cap10": "balanced class weights, capped",
        "weights-balanced-uncapped": "balanced class weights",
        "weights-none": "no class weights",
        "constant-lr-early-stop": "constant rate, early stopping",
    }
    for key, text in words.items():
        if variant.startswith(key):
            return text + variant[len(key) :]
    return variant


def scout(rounds: dict[str, list[dict]], path) -> Path:
    """Val macro-F1 of each scouted variant (mean ± std over seeds), one panel per round, one
    x-scale for both (the panels are one comparison)."""
    n = max(1, len(rounds))
    longest = max((len(r) for r in rounds.values()), default=1)
    with _style():
        fig, axes = plt.subplots(
            n,
            1,
            figsize=(FIG_WIDTH, n * (longest * 0.27 + 1.0)),
            squeeze=False,
            sharex=True,
            layout="constrained",
        )
        for ax, (name, rows) in zip(axes[:, 0], rounds.items(), strict=False):
            y = np.arange(len(rows))
            ax.errorbar(
                [r["val_macro_f1"] for r in rows],
                y,
                xerr=[r["val_macro_f1_std"] or 0 for r in rows],
                fmt="o",
                capsize=3,
                color=display.KIND_COLOURS["cnn"],
            )
            ax.set_yticks(y, [f"{scout_label(r['variant'])} (n={len(r['seeds'])})" for r in rows])
            ax.invert_yaxis()
            ax.set_title(name.replace("round", "round "))
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("val macro-F1 (mean ± std over seeds)")
        return _save(fig, path)


def class_strip(images: list, names: list[str], path, cols: int = 6) -> Path:
    """One test image per class with the class name over it, as the model sees it."""
    rows = int(np.ceil(len(images) / cols))
    with _style():
        fig, axes = plt.subplots(rows, cols, figsize=(FIG_WIDTH, rows * 1.5), layout="constrained")
        for ax in np.ravel(axes):
            ax.axis("off")
        for ax, img, label in zip(np.ravel(axes), images, names, strict=False):
            ax.imshow(img, interpolation="nearest")
            ax.set_title(textwrap.fill(label, 12), pad=2)
        return _save(fig, path, photo=True)


def recall_shift(per_class: list[dict], path) -> Path:
    """Per-class recall on val against test (reference model, mean over seeds): classes below
    the diagonal are recognised less often on test's sols. The largest classes are named."""
    rows = [r for r in per_class if r["val_recall"] is not None and r["test_recall"] is not None]
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 5.6), layout="constrained")
        ax.plot([0, 1], [0, 1], color="0.6", lw=1)
        for r in rows:
            size = 10 + 3 * np.sqrt(r["test"])
            ax.scatter(r["val_recall"], r["test_recall"], s=size, alpha=0.6, color="C0")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("recall on val")
        ax.set_ylabel("recall on test (marker area: test images)")
        ax.grid(alpha=0.3)
        fig.canvas.draw()
        fig.set_layout_engine("none")
        named = sorted(rows, key=lambda r: -r["test"])[:10]
        place_labels(
            ax,
            [r["val_recall"] for r in named],
            [r["test_recall"] for r in named],
            [r["name"] for r in named],
        )
        return _save(fig, path)


def draw_all(
    found: dict,
    scout_rounds: dict,
    runs: dict,
    reference: str,
    baseline: str,
    groups: dict,
    fig_dir: Path,
) -> dict[str, Path]:
    """Every study-level figure the pages show; only those whose inputs exist."""
    fig_dir = Path(fig_dir)
    out: dict[str, Path] = {}
    base = found.get("baselines")
    table = found.get("table", [])
    if table:
        out["headline"] = headline(table, runs, fig_dir / "headline.png", base)
        # the data-size runs are the same networks on less data: their own figure shows them;
        # the shuffled-input controls cost what their unshuffled networks cost, and the
        # interpretation page shows them beside those
        fresh = [
            r
            for r in table
            if not runs[r["run"]].get("same_computation_as")
            and groups.get(r["run"]) != "data-size"
            and not runs[r["run"]].get("params", {}).get("permute_pixels")
        ]
        out["accuracy_vs_parameters"] = tradeoff(
            fresh,
            "parameters",
            "parameters (log scale)",
            fig_dir / "accuracy_vs_parameters.png",
            base,
        )
        out["accuracy_vs_flops"] = tradeoff(
            fresh,
            "flops",
            "FLOPs per image, forward pass (log scale)",
            fig_dir / "accuracy_vs_flops.png",
            base,
        )
    out.update(families.draw(found, runs, fig_dir, base))
    curves = {
        n: runs[n]["translation"]
        for n in (reference, baseline)
        if n in runs and runs[n].get("translation")
    }
    if curves:
        out["translation"] = translation(curves, fig_dir / "translation.png", base)
    if scout_rounds:
        out["scout"] = scout(scout_rounds, fig_dir / "scout.png")
    if reference in runs and "model" in runs[reference]:
        ref = runs[reference]
        out["architecture"] = architecture(
            ref["model"], ref["params"]["image_size"], fig_dir / "architecture.png"
        )
    if found.get("shift"):
        out["recall_shift"] = recall_shift(
            found["shift"]["per_class"], fig_dir / "recall_shift.png"
        )
    eda = runs.get("eda")
    if eda and eda.get("classes") and eda.get("splits"):
        out["class_distribution"] = class_distribution(
            eda["classes"], fig_dir / "class_distribution.png"
        )
        out["instruments"] = instruments(eda["splits"], fig_dir / "instruments.png")
    # each model run's own figures, redrawn from its metrics.json (analysis.figures.runs)
    out.update(draw_runs(runs, fig_dir, base))
    return out
