"""Figures for the notebooks and the report. Each function draws one PNG and returns its path."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110


def _save(fig, path: Path, photo: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    if photo:  # a 256-colour palette keeps photo grids small enough to publish
        from PIL import Image

        with Image.open(path) as im:
            im.convert("RGB").quantize(256).save(path, optimize=True)
    return path


def class_distribution(counts: dict[str, dict[int, int]], names: dict[int, str], path) -> Path:
    """Bars per class and split, log scale: the splits' class mix differs a lot."""
    ids = sorted(names)
    fig, ax = plt.subplots(figsize=(11, 4.2))
    width = 0.8 / len(counts)
    for i, (split, c) in enumerate(counts.items()):
        ax.bar(np.arange(len(ids)) + i * width, [c.get(k, 0) for k in ids], width, label=split)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(ids)) + 0.4 - width / 2)
    ax.set_xticklabels([f"{k} {names[k]}" for k in ids], rotation=70, ha="right", fontsize=8)
    ax.set_ylabel("images (log scale)")
    ax.legend()
    ax.set_title("Images per class and split")
    return _save(fig, path)


def histograms(series: dict[str, np.ndarray], title: str, xlabel: str, path, bins=30) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for label, values in series.items():
        ax.hist(values, bins=bins, alpha=0.6, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.set_title(title)
    ax.legend()
    return _save(fig, path)


def stacked_bars(table: dict[str, dict[str, int]], title: str, path) -> Path:
    """One bar per split, stacked by category (e.g. instrument)."""
    splits = list(table)
    cats = sorted({k for row in table.values() for k in row})
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    bottom = np.zeros(len(splits))
    for cat in cats:
        vals = np.array([table[s].get(cat, 0) for s in splits])
        ax.barh(splits, vals, left=bottom, label=cat)
        bottom += vals
    ax.set_xlabel("images")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def sample_grid(images: list[np.ndarray], captions: list[str], path, cols: int = 6) -> Path:
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.9, rows * 2.1))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, img, cap in zip(np.ravel(axes), images, captions, strict=False):
        ax.imshow(img, interpolation="antialiased")
        ax.set_title(cap, fontsize=7)
    return _save(fig, path, photo=True)


def preprocessing_steps(original, resized, scaled, path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, img, title in zip(
        axes,
        (original, resized, scaled),
        (
            f"original {original.shape[1]}x{original.shape[0]}, uint8",
            f"resized {resized.shape[1]}x{resized.shape[0]}, uint8",
            f"scaled to [0, 1], float ({scaled.min():.2f}..{scaled.max():.2f})",
        ),
        strict=True,
    ):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return _save(fig, path, photo=True)


def learning_curves(histories: list[dict[str, list[float]]], path) -> Path:
    """Loss and accuracy per epoch, train and val, one line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for s, h in enumerate(histories):
        epochs = np.arange(1, len(h["loss"]) + 1)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
            ax.plot(
                epochs, h[key], "-o", ms=3, color="C0", alpha=0.8, label="train" if s == 0 else None
            )
            if f"val_{key}" in h:
                ax.plot(
                    epochs,
                    h[f"val_{key}"],
                    "-o",
                    ms=3,
                    color="C1",
                    alpha=0.8,
                    label="val" if s == 0 else None,
                )
    for ax, key in zip(axes, ("loss (class-weighted on train)", "accuracy"), strict=True):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
        ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion_matrix(counts, labels: list[int], names: dict[int, str], path) -> Path:
    """Rows normalised to recall (each true class sums to 1)."""
    counts = np.asarray(counts, dtype=float)
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.42 * n + 3, 0.42 * n + 2))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = [f"{names[c]} ({c})" for c in labels]
    ax.set_xticks(range(n), ticks, rotation=75, ha="right", fontsize=7)
    ax.set_yticks(range(n), ticks, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}".lstrip("0"),
                    ha="center",
                    va="center",
                    fontsize=5.5,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title("Confusion matrix, test split (rows normalised)")
    return _save(fig, path)


def per_class_f1(rows: list[dict], path) -> Path:
    rows = [r for r in rows if r["support"] > 0]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(rows) + 1.2))
    ax.barh([f"{r['name']} ({r['support']})" for r in rows], [r["f1"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 on test (support in brackets)")
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)


def translation_curve(shifts: list[int], accuracy: list[float], path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(shifts, accuracy, "-o")
    ax.set_xlabel("shift (pixels, mean over 4 directions)")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    return _save(fig, path)


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
