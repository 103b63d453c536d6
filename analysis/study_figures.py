"""Figures of the study as a whole (across runs). Kept apart from analysis.figures, whose
per-run figures every run's fingerprint covers: a new comparison figure must not make hours of
computed runs out of date."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import _save, trivial_lines


def tradeoff(rows: list[dict], xkey: str, xlabel: str, path, baselines=None) -> Path:
    """Test accuracy against cost, one labelled point per model: mean ± std over seeds, with
    the trivial answers as lines."""
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    for r in rows:
        ax.errorbar(r[xkey], r["test_accuracy"], yerr=r["test_accuracy_std"], fmt="o", capsize=4)
        ax.annotate(
            r["run"],
            (r[xkey], r["test_accuracy"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=8,
        )
    if baselines:
        trivial_lines(ax, baselines)
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def headline(rows: list[dict], runs: dict, path, baselines=None) -> Path:
    """Test accuracy per model: a bar for the mean over seeds, a dot per seed, and the
    trivial answers as vertical lines."""
    fig, ax = plt.subplots(figsize=(8, 0.42 * len(rows) + 1.4))
    y = np.arange(len(rows))
    ax.barh(
        y,
        [r["test_accuracy"] for r in rows],
        xerr=[r["test_accuracy_std"] for r in rows],
        color="C0",
        alpha=0.55,
        capsize=3,
    )
    for i, r in enumerate(rows):
        seeds = [s["test"]["accuracy"] for s in runs[r["run"]]["per_seed"]]
        ax.plot(seeds, [i] * len(seeds), "o", color="C0", ms=4)
    if baselines:
        trivial_lines(ax, baselines, horizontal=False)
    ax.set_yticks(y, [r["run"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("test accuracy (bar: mean over seeds; dots: seeds)")
    ax.grid(alpha=0.3, axis="x")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def translation(curves: dict[str, dict], path, baselines=None) -> Path:
    from analysis import figures

    return figures.translation_curve(curves, path, baselines)


def scout(rounds: dict[str, list[dict]], path) -> Path:
    """Val macro-F1 of each scouted variant (mean ± std over seeds), one panel per round."""
    n = max(1, len(rounds))
    height = max(len(r) for r in rounds.values()) * 0.3 + 1.2 if rounds else 2
    fig, axes = plt.subplots(1, n, figsize=(6.5 * n, height), squeeze=False)
    for ax, (name, rows) in zip(axes[0], rounds.items(), strict=False):
        y = np.arange(len(rows))
        ax.errorbar(
            [r["val_macro_f1"] for r in rows],
            y,
            xerr=[r["val_macro_f1_std"] or 0 for r in rows],
            fmt="o",
            capsize=3,
        )
        ax.set_yticks(y, [f"{r['variant']} (n={len(r['seeds'])})" for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("val macro-F1 (mean ± std over seeds)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def recall_shift(per_class: list[dict], path) -> Path:
    """Per-class recall on val against test (reference model, mean over seeds): classes below
    the diagonal are recognised less often on test's sols."""
    rows = [r for r in per_class if r["val_recall"] is not None and r["test_recall"] is not None]
    fig, ax = plt.subplots(figsize=(6, 5.4))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1)
    for r in rows:
        size = 10 + 3 * np.sqrt(r["test"])
        ax.scatter(r["val_recall"], r["test_recall"], s=size, alpha=0.6, color="C0")
        ax.annotate(
            r["name"],
            (r["val_recall"], r["test_recall"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, 2),
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recall on val")
    ax.set_ylabel("recall on test (marker area: test images)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def architecture(model: dict, image_size: int, path) -> Path:
    """The network as blocks, drawn from its recorded layers (metrics.json's `model`): one box
    per stage, its height the feature map's side, its width the channels (log scale), with the
    shape and the receptive field after it."""
    rf = {r["layer"]: r["receptive_field"] for r in model["receptive_field_per_layer"]}
    stages = [{"label": "input", "shape": [image_size, image_size, 3], "rf": 1}]
    for layer in model["layers"]:
        kind, shape = layer["kind"], layer["output_shape"]
        if kind == "Conv2D":
            k = layer["name"].split("_")[-1]
            stages.append(
                {"label": f"conv {k}\n+ BN + ReLU", "shape": shape, "rf": rf[layer["name"]]}
            )
        elif kind == "MaxPooling2D":
            stages.append({"label": "max-pool 2×2", "shape": shape, "rf": rf[layer["name"]]})
        elif kind == "GlobalAveragePooling2D":
            stages.append({"label": "global\navg pool", "shape": shape, "rf": None})
        elif kind == "Dense":
            stages.append({"label": "dense\n+ softmax", "shape": shape, "rf": None})
    fig, ax = plt.subplots(figsize=(1.05 * len(stages) + 1, 4.6))
    x = 0.0

    def height(side: int) -> float:  # log scale: 128 px and 2 px both stay visible
        return 8 + 14 * np.log2(max(side, 1))

    top = height(image_size)
    for st in stages:
        side = st["shape"][0] if len(st["shape"]) == 3 else 1
        ch = st["shape"][-1]
        h = height(side)
        w = 0.25 + 0.12 * np.log2(max(ch, 1))
        colour = "C1" if "pool" in st["label"] else ("C2" if "dense" in st["label"] else "C0")
        ax.add_patch(plt.Rectangle((x, (top - h) / 2), w, h, color=colour, alpha=0.45))
        shape = "×".join(str(d) for d in st["shape"])
        rf_text = f"\nRF {st['rf']} px" if st["rf"] else ""
        ax.text(x + w / 2, (top + h) / 2 + 2, st["label"], ha="center", va="bottom", fontsize=7)
        ax.text(x + w / 2, (top - h) / 2 - 2, shape + rf_text, ha="center", va="top", fontsize=7)
        x += w + 0.55
    ax.set_xlim(-0.3, x)
    ax.set_ylim(-30, top + 30)
    ax.axis("off")
    ax.set_title(
        f"{model['name']}: {model['parameters']:,} parameters, "
        f"{model['flops_per_image'] / 1e6:.0f} MFLOPs per image (RF: receptive field)",
        fontsize=9,
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
        fresh = [r for r in table if not runs[r["run"]].get("same_computation_as")]
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
    return out
