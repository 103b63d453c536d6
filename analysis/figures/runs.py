"""Figures of one run, redrawn from its metrics.json to be legible at the page's width: each
model run's learning curves, confusion matrix, per-class F1 and translation curve, the reference
network's architecture, and the EDA run's images per class and per camera. The study's figures
(analysis.figures.study) call these; the style, width and saving they share are
analysis.figures.notebook's."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import display
from analysis.figures.notebook import FIG_WIDTH, _legend_below, _reference_lines, _save, _style


def learning_curves(run: str, histories: list[dict], path) -> Path:
    """Loss and the selection metric per epoch, one line per seed, drawn from metrics.json's
    `history`: train as measured while training (dropout on; loss class-weighted and
    label-smoothed), val in inference mode after each epoch."""
    with _style():
        fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH, 3.6), layout="constrained")
        for s, h in enumerate(histories):
            epochs = np.arange(1, len(h["loss"]) + 1)
            first = s == 0
            axes[0].plot(epochs, h["loss"], color="C0", alpha=0.8, label="train" if first else None)
            if "val_loss" in h:
                axes[0].plot(
                    epochs, h["val_loss"], color="C1", alpha=0.8, label="val" if first else None
                )
            if "val_macro_f1" in h:
                axes[1].plot(epochs, h["val_macro_f1"], color="C1", alpha=0.8)
        axes[0].set_title("loss (train: while training)")
        axes[1].set_title("val macro-F1 (picks the epoch)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[1].set_ylim(0, 1)
        fig.suptitle(f"{display.name(run)}: one line per seed")
        _legend_below(fig, axes[0], ncol=2)
        return _save(fig, path)


def confusion(run: str, matrix: dict, names: dict, path) -> Path:
    """The test split's confusion matrix of a run's first seed, rows normalised to recall;
    colour only (numbers per cell would not be legible at the page's width), classes named."""
    counts = np.asarray(matrix["counts"], dtype=float)
    labels = matrix["labels"]
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ticks = [textwrap.shorten(names.get(c, str(c)), 18, placeholder="…") for c in labels]
    support = counts.sum(axis=1)
    rows = [f"{t}: none in test" if not n else t for t, n in zip(ticks, support, strict=True)]
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, FIG_WIDTH * 1.02), layout="constrained")
        im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(labels)), ticks, rotation=90)
        ax.set_yticks(range(len(labels)), rows)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true class (recall)")
        ax.set_title(f"{display.name(run)}: test split, first seed")
        return _save(fig, path)


def per_class_f1(run: str, rows: list[dict], path) -> Path:
    """F1 on test per class (first seed), with each class's test images in brackets."""
    rows = [r for r in rows if r["support"] > 0]
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.24 * len(rows) + 1.3), layout="constrained")
        ax.barh(
            [f"{r['name']} ({r['support']})" for r in rows],
            [r["f1"] for r in rows],
            color=display.colour(run),
            alpha=0.7,
        )
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("F1 on test, first seed (test images in brackets)")
        ax.grid(alpha=0.3, axis="x")
        return _save(fig, path)


def class_distribution(classes: list[dict], path) -> Path:
    """Images per class and split (log scale), from the EDA run's class table."""
    splits = ("train", "val", "test")
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 4.6), layout="constrained")
        width = 0.8 / len(splits)
        x = np.arange(len(classes))
        for i, split in enumerate(splits):
            ax.bar(x + i * width, [max(c[split], 0) for c in classes], width, label=split)
        ax.set_yscale("log")
        ax.set_xticks(x + 0.4 - width / 2, [c["name"] for c in classes], rotation=90)
        ax.set_ylabel("images (log scale)")
        _legend_below(fig, ax, ncol=3)
        return _save(fig, path)


def instruments(splits: dict, path) -> Path:
    """Images per camera in each split, stacked, from the EDA run's split table."""
    cams = sorted({k for r in splits.values() for k in r.get("instruments", {})})
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 2.6), layout="constrained")
        left = np.zeros(len(splits))
        for cam in cams:
            vals = np.array([r.get("instruments", {}).get(cam, 0) for r in splits.values()])
            ax.barh(list(splits), vals, left=left, label=cam)
            left += vals
        ax.invert_yaxis()
        ax.set_xlabel("images")
        _legend_below(fig, ax, ncol=len(cams))
        return _save(fig, path)


def architecture(model: dict, image_size: int, path) -> Path:
    """The network as a stack of stages, drawn from its recorded layers (metrics.json's
    `model`): one row per stage, a bar as wide as its channels (log scale), with the feature
    map's shape and the receptive field beside it."""
    rf = {r["layer"]: r["receptive_field"] for r in model["receptive_field_per_layer"]}
    stages = [{"label": "input image", "shape": [image_size, image_size, 3], "rf": 1}]
    for layer in model["layers"]:
        kind, shape = layer["kind"], layer["output_shape"]
        if kind == "Conv2D":
            k = layer["name"].split("_")[-1]
            stages.append(
                {"label": f"conv {k} + BN + ReLU", "shape": shape, "rf": rf[layer["name"]]}
            )
        elif kind == "MaxPooling2D":
            stages.append({"label": "max-pool 2×2", "shape": shape, "rf": rf[layer["name"]]})
        elif kind == "GlobalAveragePooling2D":
            stages.append({"label": "global average pooling", "shape": shape, "rf": None})
        elif kind == "Dense":
            stages.append({"label": "dense + softmax", "shape": shape, "rf": None})
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.36 * len(stages) + 0.9))
        for i, st in enumerate(stages):
            ch = st["shape"][-1]
            w = 0.4 + 0.25 * np.log2(max(ch, 1))
            colour = "C1" if "pool" in st["label"] else ("C2" if "dense" in st["label"] else "C0")
            ax.add_patch(plt.Rectangle((0, i - 0.35), w, 0.7, color=colour, alpha=0.45))
            shape = "×".join(str(d) for d in st["shape"])
            ax.text(2.6, i, st["label"], va="center")
            rf_text = f", sees {st['rf']}×{st['rf']} px" if st["rf"] else ""
            ax.text(6.0, i, shape + rf_text, va="center")
        ax.set_xlim(0, 10.5)
        ax.set_ylim(len(stages) - 0.5, -0.5)
        ax.axis("off")
        ax.set_title(
            f"{display.name('cnn')}: {model['parameters']:,} parameters, "
            f"{model['flops_per_image'] / 1e6:.0f} MFLOPs per image",
        )
        return _save(fig, path)


def translation(curves: dict[str, dict], path, baselines=None) -> Path:
    """Test accuracy against the shift, as a share of the image side, mean ± std over seeds;
    one curve per model (`curves`: run -> the `translation` block of its metrics)."""
    with _style():
        fig, ax = plt.subplots(figsize=(FIG_WIDTH, 4.6), layout="constrained")
        for run in display.ordered(curves):
            t = curves[run]
            x = np.asarray(t["shifts"]) / t["image_size"]
            ax.errorbar(
                x,
                t["accuracy"],
                yerr=t.get("accuracy_std"),
                fmt="-o",
                capsize=3,
                color=display.colour(run),
                label=display.name(run),
            )
        _reference_lines(ax, baselines)
        ax.set_xlim(-0.01, 0.26)
        ax.set_xticks([0, 0.0625, 0.125, 0.1875, 0.25], ["0", "1/16", "1/8", "3/16", "1/4"])
        ax.set_xlabel("shift, share of the image side (mean over 4 directions)")
        ax.set_ylabel("test accuracy (mean ± std)")
        ax.set_ylim(0, None)
        ax.grid(alpha=0.3)
        _legend_below(fig, ax, ncol=2)
        return _save(fig, path)


def run_figures(
    metrics: dict, data, fig_dir: Path, label: str, suffix: str = "", baselines=None
) -> dict[str, Path]:
    """Every figure of one model run, drawn from its metrics as metrics.json records them: the
    learning curves, the confusion matrix, the per-class F1 and, when measured, the
    translation curve (against `baselines`, by default the run's own trivial answers).

    The one drawing of a run's figures: the notebook draws them into the run's folder with it,
    the runner redraws them from the record with it when only figure code changed (a new look
    retrains nothing), and the site's cross-run step draws every run's with it (`suffix`: the
    run's name, so that all share one folder). `data` is the notebook's and is not read: what
    is drawn comes from the record alone, so all three draw the same figure."""
    fig_dir = Path(fig_dir)
    base = metrics.get("baselines") if baselines is None else baselines
    out: dict[str, Path] = {}
    if metrics.get("history"):
        out["learning_curves"] = learning_curves(
            label, metrics["history"], fig_dir / f"learning_curves{suffix}.png"
        )
    if metrics.get("confusion_matrix"):
        names = {c["id"]: c["name"] for c in metrics.get("per_class", [])}
        out["confusion_matrix"] = confusion(
            label, metrics["confusion_matrix"], names, fig_dir / f"confusion_matrix{suffix}.png"
        )
    if metrics.get("per_class"):
        out["per_class_f1"] = per_class_f1(
            label, metrics["per_class"], fig_dir / f"per_class_f1{suffix}.png"
        )
    if metrics.get("translation"):
        out["translation"] = translation(
            {label: metrics["translation"]}, fig_dir / f"translation{suffix}.png", base
        )
    return out


def draw_runs(runs: dict, fig_dir: Path, base=None) -> dict[str, Path]:
    """Each model run's own figures for its page (run_figures), from its metrics.json."""
    out: dict[str, Path] = {}
    for name, m in runs.items():
        if m.get("same_computation_as") or "model" not in m:
            continue
        # no study-wide trivial answers: none drawn (not the run's own)
        drawn = run_figures(m, None, fig_dir, name, f"_{name}", {} if base is None else base)
        out.update({f"{kind}/{name}": path for kind, path in drawn.items()})
    return out
