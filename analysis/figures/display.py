"""How the site shows runs and numbers: one name per run, one order, one number format.

Every table and figure of the cross-run step (analysis.figures.study) and every template
(through the Jinja filters of `FILTERS`, registered by the renderer) uses these, so a model is
called the same everywhere and a p-value is printed one way. No notebook imports this module:
a change here retrains nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from analysis.stats.verdicts import SEEDS_ONLY

# Run id -> the name a reader sees, in the study's logical order: the dense network, the
# reference CNN, its kernel variants, the controls, then the mechanism runs. The recipe
# search's one-seed variants come last (methods, not findings).
NAMES: dict[str, str] = {
    "baseline": "Dense network",
    "cnn": "CNN 3×3 (reference)",
    "kernel-3x3": "CNN 3×3 (reference)",
    "kernel-5x5": "CNN 5×5",
    "kernel-7x7": "CNN 7×7",
    "kernel-3to5": "CNN 3→5",
    "kernel-3x3-wide": "CNN 3×3, wide",
    "kernel-128-3x3": "CNN 3×3 at 128 px",
    "kernel-128-5x5": "CNN 5×5 at 128 px",
    "kernel-128-7x7": "CNN 7×7 at 128 px",
    "kernel-128-3to5": "CNN 3→5 at 128 px",
    "kernel-128-3x3-wide": "CNN 3×3, wide, at 128 px",
    "depth-128-2": "CNN, 2 blocks, at 128 px",
    "depth-128-3": "CNN, 3 blocks, at 128 px",
    "depth-128-5": "CNN, 5 blocks, at 128 px",
    "stride-128-strided": "CNN, strided convolutions, at 128 px",
    "stride-128-stem2": "CNN, stride-2 first layer, at 128 px",
    "padding-128-valid": "CNN, valid padding, at 128 px",
    "baseline-permuted": "Dense, shuffled pixels",
    "cnn-permuted": "CNN, shuffled pixels",
    "cnn-scrambled": "CNN, shuffled pixels and channels",
    "locally-connected": "Locally connected (no sharing)",
    "dense-small": "Dense, CNN-sized",
    "locally-connected-small": "Locally connected, CNN-sized",
    "cnn-flatten": "CNN, flatten head",
    "baseline-cnn-recipe": "Dense, CNN's recipe",
    "baseline-data-10": "Dense, 10 % of train",
    "baseline-data-25": "Dense, 25 % of train",
    "baseline-data-50": "Dense, 50 % of train",
    "cnn-data-10": "CNN, 10 % of train",
    "cnn-data-25": "CNN, 25 % of train",
    "cnn-data-50": "CNN, 50 % of train",
    "baseline-lr-high": "Dense, higher learning rate",
    "baseline-lr-low": "Dense, lower learning rate",
    "dense-small-lr-low": "Dense, CNN-sized, rate 1e-4",
    "dense-small-lr-high": "Dense, CNN-sized, rate 5e-4",
    "dense-small-lr-higher": "Dense, CNN-sized, rate 1e-3",
    "locally-connected-lr-low": "Locally connected, rate 1e-3",
    "locally-connected-lr-lower": "Locally connected, rate 5e-4",
    "locally-connected-small-lr-low": "Locally connected, CNN-sized, rate 1e-3",
    "locally-connected-small-lr-high": "Locally connected, CNN-sized, rate 4e-3",
    "locally-connected-small-short": "Locally connected, CNN-sized, 24 epochs",
    "recipe-aug-light": "Recipe: light augmentation",
    "recipe-aug-standard": "Recipe: standard augmentation",
    "recipe-lr-high": "Recipe: higher learning rate",
    "recipe-lr-low": "Recipe: lower learning rate",
    "recipe-constant-lr": "Recipe: constant learning rate",
    "recipe-long": "Recipe: longer schedule",
    "recipe-short": "Recipe: shorter schedule",
    "recipe-unweighted": "Recipe: no class weights",
    "recipe-balanced": "Recipe: balanced class weights",
    "recipe-no-smoothing": "Recipe: no label smoothing",
    "recipe-bn-slow": "Recipe: slower batch-norm",
    "recipe-48px-short": "Recipe: 48 px, 15 epochs",
    "recipe-48px-36": "Recipe: 48 px, 36 epochs",
    "recipe-64px": "Recipe: 64 px, 15 epochs",
    "recipe-96px": "Recipe: 96 px, 24 epochs",
    "eda": "Dataset and EDA",
}
ORDER: list[str] = list(NAMES)
# The home page's key numbers: the study's main comparisons (the mechanism runs have a page).
KEY_RUNS = [
    "baseline",
    "cnn",
    "kernel-5x5",
    "kernel-7x7",
    "kernel-3to5",
    "kernel-3x3-wide",
    "kernel-128-3x3",
    "kernel-128-5x5",
    "kernel-128-7x7",
    "kernel-128-3to5",
    "kernel-128-3x3-wide",
    "baseline-permuted",
    "cnn-permuted",
    "cnn-scrambled",
]

# What kind of run each is, for colours and legends: the same kind, the same colour.
KINDS: dict[str, str] = {
    "baseline": "dense",
    "baseline-permuted": "control",
    "cnn-permuted": "control",
    "cnn-scrambled": "control",
    "dense-small": "dense",
    "baseline-cnn-recipe": "dense",
    "locally-connected": "mechanism",
    "locally-connected-small": "mechanism",
    "cnn-flatten": "mechanism",
}
KIND_COLOURS = {"dense": "#7f7f7f", "cnn": "#d95f02", "control": "#7570b3", "mechanism": "#1b9e77"}

# The page's content column at a 1280 px desktop window with the navigation and the table of
# contents beside it (MkDocs-Material, measured in Chromium: 748 CSS px). Every figure is drawn
# to be legible at this width: text at least MIN_TEXT_PT points as shown (96 CSS px per inch).
CONTENT_WIDTH_PX = 740
MIN_TEXT_PT = 9

# Published results of other studies on these splits, drawn beside ours (not our runs).
LITERATURE = {
    "reference_study": {"accuracy": 0.58, "label": "reference study's 3×3 CNN"},
    # MSLNet: JPL's AlexNet, pretrained on ImageNet, at AlexNet's input size.
    "mslnet": {
        "accuracy": 0.667,
        "label": "MSLNet (ImageNet-pretrained AlexNet)",
        "image_size": 227,
    },
    # The reference study's kernel table (about these test accuracies, at 128 px input).
    "reference_kernels": {
        "image_size": 128,
        "accuracy": {
            "kernel-3x3": 0.58,
            "kernel-3to5": 0.57,
            "kernel-5x5": 0.56,
            "kernel-7x7": 0.52,
        },
    },
}

# Papers the pages cite for a method (not results drawn beside ours: those are LITERATURE's, which
# the run figures read; a citation here redraws no figure).
CITATIONS = {
    "effective_receptive_field": {
        "citation": "Luo, Li, Urtasun and Zemel, 2016",
        "title": (
            "Understanding the effective receptive field in deep convolutional neural networks"
        ),
        "url": "https://arxiv.org/abs/1701.04128",
    },
}


def name(run: str, title: str | None = None) -> str:
    """The reader's name of a run; the plan's title (or the id) for a run not listed."""
    return NAMES.get(run, title or run)


def kind(run: str) -> str:
    if run in KINDS:
        return KINDS[run]
    return "dense" if run.startswith("baseline") else "cnn"


def colour(run: str) -> str:
    return KIND_COLOURS[kind(run)]


def rank(run: str) -> tuple[int, str]:
    return (ORDER.index(run), "") if run in ORDER else (len(ORDER), run)


def ordered(items: Iterable, key=None) -> list:
    """`items` (run ids, or rows/dicts with a "run" key, or what `key` maps to a run id) in the
    study's order; unknown runs after the known ones, alphabetically."""

    def run_of(item):
        if key is not None:
            return key(item)
        if isinstance(item, dict):
            return item["run"]
        if isinstance(item, tuple):
            return item[0]
        return item

    return sorted(items, key=lambda item: rank(run_of(item)))


# --- numbers ---------------------------------------------------------------------------------

NBSP = "\u00a0"  # no line break inside a number and its unit


def pct(value: float, digits: int = 1) -> str:
    """A share as a percentage: 0.5604 -> "56.0 %"."""
    return f"{100 * value:.{digits}f}{NBSP}%"


def points(value: float, digits: int = 1, signed: bool = True) -> str:
    """A difference of two shares in percentage points: 0.1676 -> "+16.8" (signed), or its
    size alone: -0.0197 -> "2.0" (signed=False)."""
    if not signed:
        return f"{100 * abs(value):.{digits}f}"
    return f"{100 * value:+.{digits}f}"


def pvalue(p: float | None) -> str:
    """A p-value to two significant figures, "p < 0.001" below that; "p n/a" when none."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:#.2g}"


def _f1(record: dict) -> bool:
    """The record is decided on macro-F1 (a recipe check), not on accuracy."""
    return "f1" in str(record.get("metric", "")).lower()


def amount(value: float, record: dict, signed: bool = True) -> str:
    """A difference in its record's unit: accuracy points ("+2.8 points"), or macro-F1 to
    three decimals ("+0.051") for a record decided on macro-F1."""
    if _f1(record):
        return f"{value:+.3f}" if signed else f"{abs(value):.3f}"
    return f"{points(value, signed=signed)} points"


def span(ci: list[float], record: dict) -> str:
    """An interval in its record's unit: "-6.2 to +1.6 points" or "-0.012 to +0.050"."""
    if _f1(record):
        return f"{ci[0]:+.3f} to {ci[1]:+.3f}"
    return f"{points(ci[0])} to {points(ci[1])} points"


def evidence(c: dict) -> str:
    """A verdict record (`analysis.stats.verdicts.judge`) in the study's words: Welch's p, the
    Holm-adjusted p with its family when the family holds more than one test, the 95 % interval
    (said to be over seeds only when no per-image answers exist), the verdict, and for a null
    result the smallest difference the experiment could have detected, so that "no difference
    shown" is not read as "equal":

    "Welch p = 0.12; Holm-adjusted within the kernels at 48 px family (4 tests), p = 0.24;
    95 % interval −6.2 to +1.6 points: **no difference shown** — this experiment could only
    have detected a difference of about 5.5 points (80 % power), so it does not show the two
    are equal". When p is below 5 % but the verdict is not a difference, the reason is said."""
    p, ci, verdict = c.get("p_value"), c.get("ci95"), c.get("verdict", "")
    if p is None:
        return f"{pvalue(p)}: **{verdict}**"
    text = f"Welch {pvalue(p)}"
    holm, size = c.get("p_holm"), c.get("family_size") or 1
    if holm is not None and size > 1:
        text += f"; Holm-adjusted within the {c['family']} family ({size} tests), {pvalue(holm)}"
    if ci:
        seeds_only = c.get("interval") == SEEDS_ONLY
        label = f"95{NBSP}% interval{' over seeds only' if seeds_only else ''}"
        text += f"; {label} {span(ci, c)}"
    if verdict != "difference" and p < 0.05 and (holm is None or holm < 0.05):
        if ci and ci[0] <= 0 <= ci[1]:
            text += ", which includes zero"
        elif "replication" in verdict:
            text += "; the replication does not confirm it"
    text += f": **{verdict}**"
    d = c.get("detectable")
    if verdict == "no difference shown" and d:
        power = round(100 * d["power"])
        text += (
            f" — this experiment could only have detected a difference of about "
            f"{amount(d['difference'], c, signed=False)} ({power}{NBSP}% power), so it does not "
            "show the two are equal"
        )
    return text


def ratio(value: float, digits: int = 1) -> str:
    """How many times another quantity: 1.797 -> "1.8×" (never rounded to a whole "2×")."""
    return f"{value:.{digits}f}×"


def interval(mean: float, ci: list[float] | tuple[float, float]) -> str:
    """A share with its interval: "56.0 % (53.4–58.6)"."""
    lo, hi = ci
    return f"{pct(mean)} ({100 * lo:.1f}–{100 * hi:.1f})"


def num(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def millions(value: float) -> str:
    """A count in millions to one decimal: 396024 -> "0.4 M"."""
    return f"{value / 1e6:.1f}{NBSP}M"


def si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:.0f}"


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


# The template filters: every page formats numbers and names runs through these.
FILTERS = {
    "pct": pct,
    "points": points,
    "pvalue": pvalue,
    "evidence": evidence,
    "span": span,
    "interval": interval,
    "ratio": ratio,
    "num": num,
    "millions": millions,
    "si": si,
    "duration": duration,
    "display_name": name,
    "ordered": ordered,
}


def register(env) -> None:
    """Add the filters (and `display_name`, `literature`, `key_runs` as globals) to a Jinja
    environment."""
    env.filters.update(FILTERS)
    env.globals.update(
        display_name=name, literature=LITERATURE, citations=CITATIONS, key_runs=KEY_RUNS
    )


# --- figures: what a reader can read ---------------------------------------------------------


def drawn_texts(fig) -> list:
    """The Text artists of a drawn figure a reader sees: visible, not empty, and for tick
    labels only those of ticks inside the axis' view (matplotlib keeps others, undrawn)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    ticks, drawn = set(), set()
    for ax in fig.get_axes():
        for axis in (ax.xaxis, ax.yaxis):
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                ticks.update({id(tick.label1), id(tick.label2)})
            if not ax.axison or not axis.get_visible():
                continue
            for tick in axis._update_ticks():  # the ticks matplotlib draws
                drawn.update({id(tick.label1), id(tick.label2)})
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        if id(t) in ticks and id(t) not in drawn:
            continue
        out.append(t)
    return out


def overlapping_texts(fig, texts: list | None = None) -> list[tuple[str, str]]:
    """Pairs of texts of `fig` (or of `texts`, from drawn_texts) whose rendered bounding boxes
    intersect."""
    texts = drawn_texts(fig) if texts is None else texts
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.width and box_b.width and box_a.overlaps(box_b)
    ]


def shown_points(fontsize: float, dpi: float, png_width_px: int) -> float:
    """The size in points at which text of `fontsize` appears on the page: the PNG is shown at
    its own width (CSS px) or scaled down to the content width, at 96 CSS px per inch."""
    scale = min(1.0, CONTENT_WIDTH_PX / png_width_px)
    return fontsize * dpi / 72 * scale * 72 / 96


def small_texts(fig, dpi: float, png_width_px: int) -> list[tuple[str, float]]:
    """Texts of `fig` shown below MIN_TEXT_PT at the content width, with their shown size."""
    out = []
    for t in drawn_texts(fig):
        shown = shown_points(t.get_fontsize(), dpi, png_width_px)
        if shown < MIN_TEXT_PT - 1e-6:
            out.append((t.get_text(), round(shown, 1)))
    return out
