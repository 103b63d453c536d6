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
