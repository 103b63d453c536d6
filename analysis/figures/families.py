"""One figure per decision family (kernel size at each input size, depth, stride, padding): what
each network scored and what the study's rule says about its difference from the family's
reference. Drawn by the cross-run step from the findings; presentation only."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import display
from analysis.figures.notebook import FIG_WIDTH, _reference_lines, _save, _style
from analysis.stats import verdicts

# findings key -> figure key; the pages show each figure beside its family's table
FAMILIES = {
    "kernels": "family_kernels",
    "kernels_128": "family_kernels_128",
    "depth_128": "family_depth_128",
    "stride_128": "family_stride_128",
    "padding_128": "family_padding_128",
}


def rows(finding: dict, runs: dict) -> list[dict]:
    """The family's networks, reference first, each with its seeds' test accuracies and (except
    the reference) its difference from the reference: estimate, 95 % interval, verdict."""
    against = finding.get("against_reference", {})
    names = finding.get("runs", [])
    out = []
    for n in [n for n in names if n not in against] + [n for n in names if n in against]:
        c = against.get(n)
        acc = c["accuracy"] if c else None
        out.append(
            {
                "run": n,
                "mean": finding["rows"][n]["test_accuracy"],
                "std": finding["rows"][n]["test_accuracy_std"],
                "seeds": [s["test"]["accuracy"] for s in runs[n]["per_seed"]],
                "difference": acc["difference"] if acc else None,
                "ci95": acc["ci95"] if acc else None,
                "shown": bool(acc) and acc.get("verdict") == verdicts.DIFFERENCE,
            }
        )
    return out


def family(finding: dict, runs: dict, path, baselines=None) -> Path:
    """Left: test accuracy per network (bar: mean over seeds; dots: seeds) with the trivial
    answers. Right: its difference from the reference in points with the 95 % interval; a
    filled dot where the rule (Holm within the family) shows a difference, hollow where not."""
    table = rows(finding, runs)
    reference = table[0]["run"]
    y = np.arange(len(table))
    with _style():
        fig, (left, right) = plt.subplots(
            1,
            2,
            sharey=True,
            figsize=(FIG_WIDTH, 0.45 * len(table) + 2.6),
            layout="constrained",
            width_ratios=(3, 2),
        )
        left.barh(
            y,
            [r["mean"] for r in table],
            xerr=[r["std"] for r in table],
            color=[display.colour(r["run"]) for r in table],
            alpha=0.6,
            capsize=3,
        )
        for i, r in enumerate(table):
            left.plot(r["seeds"], [i] * len(r["seeds"]), "o", color="black", ms=3)
        _reference_lines(left, baselines, vertical=True)
        left.set_yticks(y, [display.name(r["run"]) for r in table])
        left.invert_yaxis()
        left.set_xlim(0, 0.8)
        left.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        left.set_xlabel("test accuracy\n(bar: mean; dots: seeds)")
        left.grid(alpha=0.3, axis="x")

        right.axvline(0, color="0.3", lw=1)
        spans = [0.0]
        for i, r in enumerate(table):
            if r["difference"] is None:
                continue
            d = 100 * r["difference"]
            lo, hi = (100 * v for v in r["ci95"]) if r["ci95"] else (d, d)
            spans += [lo, hi]
            # The interval as computed, not as error bars around the estimate: a percentile
            # bootstrap interval need not contain the difference of the means.
            right.plot([lo, hi], [i, i], "-", color="black", lw=1.2, zorder=1)
            right.plot([lo, hi], [i, i], "|", color="black", ms=8, zorder=1)
            right.plot(
                [d], [i], "o", ms=6, color="black", zorder=2, mfc="black" if r["shown"] else "white"
            )
        reach = max(5.0, max(abs(s) for s in spans) * 1.15)
        right.set_xlim(-reach, reach)
        right.set_xlabel(f"points from {display.name(reference)}\n(95 % interval)")
        right.grid(alpha=0.3, axis="x")
        right.tick_params(axis="y", left=False)
        for filled, label in ((True, "difference shown"), (False, "no difference shown")):
            right.plot([], [], "o", color="black", mfc="black" if filled else "white", label=label)
        (h1, l1), (h2, l2) = left.get_legend_handles_labels(), right.get_legend_handles_labels()
        handles, labels = h1 + h2, l1 + l2
        fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
        return _save(fig, path)


def draw(found: dict, runs: dict, fig_dir: Path, baselines=None) -> dict[str, Path]:
    """The figure of each family with a network beside its reference."""
    fig_dir = Path(fig_dir)
    out = {}
    for key, fig_key in FAMILIES.items():
        finding = found.get(key) or {}
        if len(finding.get("runs", [])) > 1 and finding.get("against_reference"):
            out[fig_key] = family(finding, runs, fig_dir / f"{fig_key}.png", baselines)
    return out
