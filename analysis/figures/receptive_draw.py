"""The kernels page's effective-receptive-field figure: one panel per network and input size, the
ERF map (analysis.figures.receptive) around the measured unit, with the theoretical window, the
square that holds most of the gradient and the image's edge drawn on it, all in input pixels."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from analysis.figures import display
from analysis.figures.notebook import FIG_WIDTH, _save, _style

matplotlib.use("Agg")


def _square(ax, centre_offset: tuple[float, float], side: float, **style) -> None:
    """A square of `side` pixels centred at `centre_offset` (x, y) from the unit's centre."""
    x, y = centre_offset
    ax.add_patch(
        matplotlib.patches.Rectangle((x - side / 2, y - side / 2), side, side, fill=False, **style)
    )


def draw(rows: dict[int, dict[str, dict]], maps: dict[str, np.ndarray], columns: list[str], path):
    """The figure (`figure`) saved at `path`."""
    with _style():
        return _save(figure(rows, maps, columns), Path(path))


def figure(rows: dict[int, dict[str, dict]], maps: dict[str, np.ndarray], columns: list[str]):
    """`rows`: image size -> {run: its `describe` numbers}; `maps`: run -> ERF map; `columns`: the
    network of each column (a 128 px run sits under its 48 px twin, named by `columns`' entry).
    The panels of a row share one scale, the row's widest theoretical window, so sizes compare
    across a row, and a window wider than the image (48 px, large kernels) shows how far it
    reaches into the padding."""
    sizes = sorted(rows)
    n_cols = len(columns)
    with _style():  # every text at the site's size, legible at the content width
        fig, axes = plt.subplots(
            len(sizes),
            n_cols,
            figsize=(FIG_WIDTH, 1.6 * len(sizes) + 1.3),
            squeeze=False,
            layout="constrained",
        )
        for r, size in enumerate(sizes):
            for c, column in enumerate(columns):
                ax = axes[r][c]
                ax.set_xticks([])
                ax.set_yticks([])
                run = next((n for n in rows[size] if _column(n) == column), None)
                if c == 0:
                    ax.set_ylabel(f"{size} px input")
                if r == 0:
                    ax.set_title(textwrap.fill(display.name(column), 11))
                if run is None:
                    ax.text(
                        0.5,
                        0.5,
                        "not\nmeasured",
                        ha="center",
                        va="center",
                        transform=ax.transAxes,
                        color="0.4",
                    )
                    ax.set_frame_on(False)
                    continue
                _panel(ax, rows[size][run], maps[run], _span(rows[size].values()))
        handles = [
            matplotlib.lines.Line2D(
                [], [], color="tab:cyan", ls="--", lw=1, label="theoretical window"
            ),
            matplotlib.lines.Line2D(
                [],
                [],
                color="tab:orange",
                lw=1.2,
                label=f"square holding {_share(rows)} of the gradient",
            ),
            matplotlib.lines.Line2D([], [], color="0.5", lw=0.8, label="edge of the image"),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        return fig


def _share(rows: dict) -> str:
    shares = {d["share"] for by_run in rows.values() for d in by_run.values()}
    return "/".join(f"{s:.0%}" for s in sorted(shares))


def _column(run: str) -> str:
    """The 48 px twin's name of a run: columns line the two sizes up network by network."""
    return run.replace("-128-", "-")


def _span(numbers) -> float:
    """The half-width of a row's panels, in pixels from the unit's centre."""
    return max(d["window"] for d in numbers) / 2 + 3


def _panel(ax, d: dict, erf: np.ndarray, half: float) -> None:
    size, centre = d["image_size"], d["centre"]
    # pixel i spans [i - 0.5, i + 0.5]; offsets are from the unit's centre
    lo = -0.5 - centre
    ax.imshow(
        erf / erf.max(),
        cmap="magma",
        origin="upper",
        interpolation="nearest",
        extent=(lo, lo + size, lo + size, lo),
    )
    ax.set_xlim(-half, half)
    ax.set_ylim(half, -half)
    ax.set_facecolor("black")
    _square(ax, (0, 0), d["window"], color="tab:cyan", ls="--", lw=1)
    _square(ax, (0, 0), d["used_side"], color="tab:orange", lw=1.2)
    ax.add_patch(
        matplotlib.patches.Rectangle((lo, lo), size, size, fill=False, color="0.5", lw=0.8)
    )
    ax.text(
        0.5,
        -0.04,
        f"{d['used_side']} of {d['window']} px",
        transform=ax.transAxes,
        ha="center",
        va="top",
    )
