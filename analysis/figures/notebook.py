"""Figures for the notebooks and the report. Each function draws one PNG and returns its path.

Also what every figure of the site shares: the saving (`_save`, DPI), the width and type sizes
(FIG_WIDTH, STYLE, `_style`), the legend below the plot and the trivial answers' lines."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.figures import display  # noqa: E402

DPI = 110

# Every figure of the site is drawn to be read at the page's content width, assumed to be
# display.CONTENT_WIDTH_PX CSS pixels (a 1280 px desktop window with both sidebars): a figure
# at most FIG_WIDTH inches wide at the save's 110 dpi is shown at its own size, and text of at
# least TEXT_PT points stays at least 9 pt there (tests/test_study_figures.py checks both).
FIG_WIDTH = display.CONTENT_WIDTH_PX / 110
TEXT_PT = 9

STYLE = {
    "font.size": TEXT_PT,
    "axes.titlesize": TEXT_PT + 1,
    "axes.labelsize": TEXT_PT,
    "xtick.labelsize": TEXT_PT,
    "ytick.labelsize": TEXT_PT,
    "legend.fontsize": TEXT_PT,
    "figure.titlesize": TEXT_PT + 1,
}


@contextmanager
def _style():
    with matplotlib.rc_context(STYLE):
        yield


def _reference_lines(ax, baselines=None, literature: bool = False, vertical: bool = False):
    """The answers a model must beat (trivial answers) and, on the headline, the published
    results of other studies on these splits; each a labelled line for the legend."""
    lines = []
    if baselines:
        for key, label, style in (
            ("best_constant", "best constant answer", ":"),
            ("majority_class", "train's largest class", "--"),
            ("chance", "uniform guessing", "-."),
        ):
            if key in baselines:
                lines.append((baselines[key], label, style, "0.45"))
    if literature:
        for key, style, colour in (("reference_study", "-", "#e7298a"), ("mslnet", "-", "#1f78b4")):
            lit = display.LITERATURE[key]
            lines.append((lit["accuracy"], lit["label"], style, colour))
    draw = ax.axvline if vertical else ax.axhline
    for value, label, style, colour in lines:
        draw(value, ls=style, color=colour, lw=1.2, label=f"{label} ({display.pct(value)})")


def _legend_below(fig, ax, ncol: int = 1):
    """The legend under the plot, outside the data (constrained layout makes the room)."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)


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


def trivial_lines(ax, baselines: dict, horizontal: bool = True) -> None:
    """The answers a model must beat, drawn on every accuracy axis (see evaluate)."""
    lines = (
        ("best_constant", "best constant answer", ":", "0.35"),
        ("majority_class", "train's majority class", "--", "0.45"),
        ("chance", "chance (uniform)", "-.", "0.6"),
    )
    for key, label, style, colour in lines:
        if key in baselines:
            draw = ax.axhline if horizontal else ax.axvline
            draw(
                baselines[key], ls=style, color=colour, lw=1, label=f"{label} {baselines[key]:.1%}"
            )


def learning_curves(histories: list[dict[str, list[float]]], path, baselines=None) -> Path:
    """Loss, accuracy and the selection metric per epoch, one line per seed. Train figures are
    those measured during training (augmented batches, dropout on, loss class-weighted and
    label-smoothed); val is scored in inference mode after each epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    panels = (
        ("loss", "val_loss", "loss"),
        ("accuracy", "val_accuracy", "accuracy"),
        (None, "val_macro_f1", "val macro-F1 (selects the epoch)"),
    )
    for s, h in enumerate(histories):
        epochs = np.arange(1, len(h["loss"]) + 1)
        first = s == 0
        for ax, (tkey, vkey, _) in zip(axes, panels, strict=True):
            if tkey and tkey in h:
                label = "train, during training (augmented, dropout on"
                label += ", class-weighted, smoothed)" if tkey == "loss" else ", unweighted)"
                ax.plot(epochs, h[tkey], "-", color="C0", alpha=0.8, label=label if first else None)
            if vkey in h:
                ax.plot(
                    epochs,
                    h[vkey],
                    "-",
                    color="C1",
                    alpha=0.8,
                    label="val, inference mode" if first else None,
                )
    if baselines:
        trivial_lines(axes[1], baselines)
    for ax, (_, _, title) in zip(axes, panels, strict=True):
        ax.set_xlabel("epoch")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def confusion_matrix(counts, labels: list[int], names: dict[int, str], path) -> Path:
    """Rows normalised to recall (each true class sums to 1); a class that has no test image
    but is predicted gets an empty, labelled row."""
    counts = np.asarray(counts, dtype=float)
    support = counts.sum(axis=1, keepdims=True)
    norm = counts / np.maximum(support, 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(0.55 * n + 3, 0.55 * n + 2))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = [f"{names[c]} ({c})" for c in labels]
    yticks = [
        f"{t}, n={int(n_)}" if n_ else f"{t}: no test images"
        for t, n_ in zip(ticks, support[:, 0], strict=True)
    ]
    ax.set_xticks(range(n), ticks, rotation=75, ha="right", fontsize=8)
    ax.set_yticks(range(n), yticks, fontsize=8)
    for i, n_ in enumerate(support[:, 0]):
        if not n_:
            ax.axhspan(i - 0.5, i + 0.5, color="0.85", zorder=0, hatch="//", fill=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (test images in the row)")
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}".lstrip("0"),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.03)
    ax.set_title("Confusion matrix, test split (rows normalised to recall)")
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


def translation_curve(curves: dict[str, dict], path, baselines=None) -> Path:
    """Test accuracy against the shift, as a share of the image side, mean ± std over seeds;
    one curve per model (`curves`: label -> the `translation` block of its metrics)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, t in curves.items():
        x = np.asarray(t["shifts"]) / t["image_size"]
        ax.errorbar(x, t["accuracy"], yerr=t.get("accuracy_std"), fmt="-o", capsize=3, label=label)
    if baselines:
        trivial_lines(ax, baselines)
    ax.set_xlim(-0.01, 0.26)
    ax.set_xticks([0, 0.0625, 0.125, 0.1875, 0.25], ["0", "1/16", "1/8", "3/16", "1/4"])
    ax.set_xlabel("shift, share of the image side (mean over 4 directions)")
    ax.set_ylabel("test accuracy (mean ± std over seeds)")
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)
