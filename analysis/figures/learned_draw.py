"""The Matplotlib drawing of analysis.figures.learned's figures: the first-layer filter tiles, the
feature maps of a few test images, and the Grad-CAM maps over the test images for each network,
laid out in inches on a page-wide figure; the check that no two texts on a figure overlap; and the
saving of a figure as a 256-colour PNG. It computes nothing from a network
(analysis.figures.learned_maps does). Matplotlib and PIL load lazily.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import numpy as np

DPI = 100
WIDTH = 7.0  # inches: 700 px at DPI, the page's content width, so 9 pt reads as 9 pt
FONT = 9
FILTER_COLUMNS = 16
RIGHT, WRONG, NEUTRAL = "#1b7f3b", "#c62828", "#444444"


def _figure(height: float):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(WIDTH, height), dpi=DPI), plt


def _axes(fig, x: float, y: float, w: float, h: float):
    """Axes at (x, y) inches from the top-left corner, w × h inches, without ticks."""
    fw, fh = fig.get_size_inches()
    ax = fig.add_axes([x / fw, 1 - (y + h) / fh, w / fw, h / fh])
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _text(fig, x: float, y: float, s: str, **kw):
    """Text at (x, y) inches from the top-left corner (its top-left, unless told)."""
    fw, fh = fig.get_size_inches()
    kw = {"fontsize": FONT, "va": "top", "ha": "left", **kw}
    return fig.text(x / fw, 1 - y / fh, s, **kw)


def _wrap(s: str, width: int) -> str:
    return "\n".join(textwrap.wrap(s, width)) or s


def draw_filters(panels: dict[str, np.ndarray], title: str):
    """Each panel: its filters in rows of FILTER_COLUMNS tiles under the panel's title."""
    tile, gap, head = (WIDTH - 0.2) / FILTER_COLUMNS, 0.05, 0.3
    rows = {name: -(-len(t) // FILTER_COLUMNS) for name, t in panels.items()}
    height = 0.35 + sum(head + r * tile + 0.1 for r in rows.values())
    fig, plt = _figure(height)
    _text(fig, 0.1, 0.05, title, fontsize=FONT + 1, weight="bold")
    y = 0.35
    for name, tiles in panels.items():
        _text(fig, 0.1, y + 0.03, name)
        y += head
        for i, t in enumerate(tiles):
            ax = _axes(
                fig,
                0.1 + (i % FILTER_COLUMNS) * tile,
                y + (i // FILTER_COLUMNS) * tile,
                tile - gap,
                tile - gap,
            )
            ax.imshow(t[..., :3] if t.shape[-1] >= 3 else t[..., 0], interpolation="nearest")
        y += rows[name] * tile + 0.1
    return fig, plt


def draw_feature_maps(images, titles: list[str], blocks: list[tuple[str, np.ndarray]], channels):
    """Rows: images; columns: the image, then each block's CHANNELS most varied maps (2 × 2),
    each channel on one colour scale across the images (dark: no response)."""
    n_blocks = len(blocks)
    img_w, left = 1.1, 0.1
    cell = (WIDTH - left - img_w - 0.1) / n_blocks  # one block's 2 × 2 maps plus its gap
    inner = (cell - 0.2) / 2
    head, row_h = 0.5, max(img_w, 2 * inner + 0.04) + 0.45
    fig, plt = _figure(head + len(images) * row_h + 0.05)
    size = images.shape[1]
    _text(fig, left, 0.05, f"image\n{size}×{size}", fontsize=FONT)
    for b, (_, maps) in enumerate(blocks):
        h, w, c = maps.shape[1:]
        x0 = left + img_w + 0.15 + b * cell
        _text(fig, x0, 0.05, f"block {b + 1}\n{h}×{w}, {c} maps")
    for r, image in enumerate(images):
        y0 = head + r * row_h
        _text(fig, left, y0, titles[r], fontsize=FONT)
        ax = _axes(fig, left, y0 + 0.4, img_w - 0.1, img_w - 0.1)
        ax.imshow(image.astype("uint8"), interpolation="nearest")
        for b, (_, maps) in enumerate(blocks):
            x0 = left + img_w + 0.15 + b * cell
            for j, ch in enumerate(channels[b]):
                top = float(maps[..., ch].max()) or 1.0
                ax = _axes(
                    fig,
                    x0 + (j % 2) * (inner + 0.04),
                    y0 + 0.4 + (j // 2) * (inner + 0.04),
                    inner,
                    inner,
                )
                ax.imshow(
                    maps[r, :, :, ch], cmap="viridis", vmin=0, vmax=top, interpolation="nearest"
                )
    return fig, plt


def draw_gradcam(rows: list[dict], networks: list[str]):
    """Rows: test images (dict: image, label, and per network: cam, title, ok); columns: the
    image, then each network's Grad-CAM map over it (jet, half transparent)."""
    label_w, tile, gap = 1.7, 1.45, 0.2
    head, row_h = 0.45, tile + 0.55
    fig, plt = _figure(head + len(rows) * row_h)
    size = rows[0]["image"].shape[0] if rows else 0
    _text(fig, label_w, 0.05, f"test image\n({size}×{size} pixels)")
    for j, net in enumerate(networks):
        _text(fig, label_w + (j + 1) * (tile + gap), 0.05, f"Grad-CAM:\n{net}", weight="bold")
    for r, row in enumerate(rows):
        y0 = head + r * row_h
        _text(fig, 0.1, y0 + 0.45, row["label"])
        ax = _axes(fig, label_w, y0 + 0.45, tile, tile)
        ax.imshow(row["image"].astype("uint8"), interpolation="nearest")
        for j, net in enumerate(networks):
            x = label_w + (j + 1) * (tile + gap)
            cell = row["nets"][net]
            ax = _axes(fig, x, y0 + 0.45, tile, tile)
            ax.imshow(row["image"].astype("uint8"), interpolation="nearest")
            ax.imshow(cell["cam"], cmap="jet", alpha=0.45, vmin=0, vmax=1, interpolation="bilinear")
            colour = RIGHT if cell["ok"] else WRONG
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(2.5)
            _text(fig, x, y0 + 0.05, cell["title"], color=colour)
    return fig, plt


def text_boxes(fig) -> list:
    """The window extents (pixels) of every non-empty text on the figure, titles included."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
    return [t.get_window_extent(renderer) for t in texts if t.get_visible() and t.get_text()]


def overlapping(boxes) -> list[tuple[int, int]]:
    """Pairs of boxes that overlap (touching edges do not count)."""
    return [
        (i, j)
        for i in range(len(boxes))
        for j in range(i + 1, len(boxes))
        if boxes[i].x0 < boxes[j].x1
        and boxes[j].x0 < boxes[i].x1
        and boxes[i].y0 < boxes[j].y1
        and boxes[j].y0 < boxes[i].y1
    ]


def save(fig, plt, path: Path) -> Path:
    """A 256-colour PNG (as the predictions gallery's), written atomically."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        small.save(tmp, format="PNG", optimize=True)
        tmp.replace(path)
    return path
