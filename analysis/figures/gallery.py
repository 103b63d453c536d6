"""The predictions gallery: what a trained model gets right and wrong on the test split.

From a finished run folder (metrics.json, predictions.npz and, when present, model.json) and
the test images decoded at the run's image size, three figures: a fixed, seeded sample of
each class's correct answers beside its mistakes; the most confident mistakes; and the most
confused class pairs, each mistake beside correctly classified images of the class it was
taken for. The images are shown at the size the model saw them, and the PNGs are reduced to a
256-colour palette, so the whole gallery adds well under 3 MB to the site.

The runner calls `render` after the runs; no notebook imports this module (every run's
fingerprint hashes the library code its notebook imports, so a change here retrains nothing).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PER_CLASS = 3  # correct and mistaken examples shown per class
MISTAKES = 12  # the most confident mistakes
PAIRS = 5  # the most confused (true, predicted) class pairs ...
PER_PAIR = 3  # ... with this many mistakes and as many correct images of the predicted class
SAMPLE_SEED = 2018  # a fixed sample: the figures change only when the predictions do
DPI = 72
# Legible at the page's content width (analysis.figures.display.CONTENT_WIDTH_PX): every figure is
# at most that wide at DPI, so it is shown at its own size, and FONT points at 72 dpi show as 9 pt.
FONT = 12
TILE = 1.15  # inches per image
GAP = 0.3  # inches of title space above a tile (one line)
HEAD = 0.35  # inches above the first row, for the column headings
PREFIX = "predictions_"  # figure file names, so they sit beside the study's other figures


class GalleryError(ValueError):
    """A run folder the gallery cannot be drawn from; the message names the file."""


@dataclass
class Predictions:
    """One seed's test predictions, in class ids, with the probability of each answer."""

    run: str
    profile: str
    seed: int
    image_size: int
    max_per_split: int
    files: list[str]
    y_true: np.ndarray  # class ids
    y_pred: np.ndarray  # class ids
    confidence: np.ndarray  # probability of the predicted class
    names: dict[int, str]

    @property
    def correct(self) -> np.ndarray:
        return self.y_true == self.y_pred

    def name(self, class_id: int, width: int = 18) -> str:
        text = self.names.get(int(class_id), str(class_id))
        return text if len(text) <= width else text[: width - 1] + "…"


def load(run_dir: Path) -> Predictions:
    """The artifact's seed (model.json) when the run saved one, else its first seed."""
    run_dir = Path(run_dir)
    metrics_file, npz_file = run_dir / "metrics.json", run_dir / "predictions.npz"
    try:
        metrics = json.loads(metrics_file.read_text())
        z = dict(np.load(npz_file))
    except (OSError, ValueError) as exc:
        raise GalleryError(f"{run_dir}: cannot read the run's results ({exc})") from None
    if "test_probabilities" not in z:
        raise GalleryError(f"{npz_file}: no test_probabilities (a run older than the gallery)")
    seeds = [int(s) for s in z["seeds"]]
    seed = seeds[0]
    if (run_dir / "model.json").exists():
        seed = int(json.loads((run_dir / "model.json").read_text()).get("seed", seed))
    row = seeds.index(seed) if seed in seeds else 0
    class_ids = [int(c) for c in z["class_ids"]]
    column = {c: i for i, c in enumerate(class_ids)}
    y_pred = z["y_pred"][row].astype(int)
    probs = z["test_probabilities"][row].astype("float32")
    confidence = probs[np.arange(len(y_pred)), [column[int(c)] for c in y_pred]]
    names = {int(c["id"]): c["name"] for c in metrics.get("per_class", [])}
    params = metrics.get("params", {})
    return Predictions(
        run=metrics.get("run", run_dir.name),
        profile=metrics.get("profile", run_dir.parent.name),
        seed=seeds[row],
        image_size=int(params.get("image_size", 64)),
        max_per_split=int(params.get("max_per_split", 0)),
        files=[str(f) for f in z["files"]],
        y_true=z["y_true"].astype(int),
        y_pred=y_pred,
        confidence=confidence,
        names=names,
    )


def test_images(p: Predictions, data_dir) -> np.ndarray:
    """The test images in the order of `p.files`, decoded (and cached) by analysis.data.cache at
    the run's image size, as the model saw them."""
    from analysis.data import cache
    from analysis.data.index import load_index

    split = cache.load_split(
        load_index(data_dir), "test", p.image_size, limit=p.max_per_split or None, progress=False
    )
    where = {f: i for i, f in enumerate(split.files)}
    missing = [f for f in p.files if f not in where]
    if missing:
        raise GalleryError(
            f"{len(missing)} test image(s) of the run are not in the data set's test list, "
            f"e.g. {missing[0]}"
        )
    return split.x[[where[f] for f in p.files]]


# --- what to show (pure; indices into the test split) --------------------------------------------


def sample(p: Predictions, per_class: int = PER_CLASS, seed: int = SAMPLE_SEED) -> dict:
    """class id -> (correct indices, mistaken indices), a seeded draw of up to `per_class`
    each, for every class with a test image, in class-id order."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(set(p.y_true.tolist())):
        picks = []
        for keep in (p.correct, ~p.correct):
            idx = np.flatnonzero((p.y_true == c) & keep)
            chosen = rng.choice(idx, size=min(per_class, len(idx)), replace=False)
            picks.append(sorted(int(i) for i in chosen))
        out[c] = tuple(picks)
    return out


def confident_mistakes(p: Predictions, k: int = MISTAKES) -> list[int]:
    """The k mistakes with the highest probability on the wrong answer (ties: file order)."""
    idx = np.flatnonzero(~p.correct)
    return [int(i) for i in idx[np.argsort(-p.confidence[idx], kind="stable")][:k]]


def confused_pairs(p: Predictions, k: int = PAIRS) -> list[tuple[int, int, list[int]]]:
    """The k (true, predicted) pairs with the most mistakes, each with its mistakes' indices,
    most confident first."""
    pairs: dict[tuple[int, int], list[int]] = {}
    for i in np.flatnonzero(~p.correct):
        pairs.setdefault((int(p.y_true[i]), int(p.y_pred[i])), []).append(int(i))
    ranked = sorted(pairs.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:k]
    return [(t, q, sorted(ix, key=lambda i: -p.confidence[i])) for (t, q), ix in ranked]


def correct_examples(p: Predictions, class_id: int, n: int, seed: int = SAMPLE_SEED) -> list[int]:
    idx = np.flatnonzero((p.y_true == class_id) & p.correct)
    if not len(idx):  # never right about it: show what it really looks like
        idx = np.flatnonzero(p.y_true == class_id)
    rng = np.random.default_rng(seed + class_id)
    return sorted(int(i) for i in rng.choice(idx, size=min(n, len(idx)), replace=False))


# --- drawing ---


def _grid(rows: int, cols: int, row_label_width: float = 1.5, tile: float = TILE, gap: float = GAP):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(row_label_width + cols * tile, HEAD + rows * (tile + gap)), dpi=DPI)
    return fig, plt


def _tile(fig, rect, image, title: str, ok: bool | None) -> None:
    ax = fig.add_axes(rect)
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    colour = {True: "#1b9e45", False: "#d62728", None: "#777777"}[ok]
    for spine in ax.spines.values():
        spine.set_color(colour)
        spine.set_linewidth(2.5)
    ax.set_title(title, fontsize=FONT, color=colour, pad=2, linespacing=1.0)


def _layout(fig, rows: int, cols: int, label_w: float, tile: float = TILE, gap: float = GAP):
    """Axes rectangles (figure fractions) for row r, column c: a tile under `gap` inches of
    title space."""
    w, h = fig.get_size_inches()

    def rect(r: int, c: int) -> list[float]:
        x = label_w + c * tile + 0.06
        y = h - HEAD - (r + 1) * (tile + gap) + 0.05
        return [x / w, y / h, (tile - 0.12) / w, (tile - 0.12) / h]

    return rect


def _save(fig, plt, path: Path) -> Path:
    """A 256-colour PNG: the tiles are small photographs, and a palette keeps them a fraction
    of the size of a true-colour PNG with no visible change at this scale."""
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


def draw_sample(p: Predictions, images: np.ndarray, picks: dict, path: Path) -> Path:
    label_w, tile, cols = 2.1, 1.3, 2 * PER_CLASS  # right, then wrong (their frames tell)
    fig, plt = _grid(len(picks), cols, label_w, tile=tile, gap=2 * GAP)
    rect = _layout(fig, len(picks), cols, label_w, tile=tile, gap=2 * GAP)
    w, h = fig.get_size_inches()
    for k, (text, colour) in enumerate(
        (("correct", "#1b9e45"), ("mistakes (predicted as)", "#d62728"))
    ):
        fig.text(
            (label_w + (k + 0.5) * PER_CLASS * tile) / w,
            1 - 0.12 / h,
            text,
            ha="center",
            va="top",
            fontsize=FONT,
            color=colour,
            weight="bold",
        )
    for r, (c, (right, wrong)) in enumerate(picks.items()):
        n = int(np.sum(p.y_true == c))
        acc = float(np.mean(p.correct[p.y_true == c]))
        y0 = rect(r, 0)[1] + rect(r, 0)[3] / 2
        fig.text(
            0.05 / w,
            y0,
            f"{p.name(c)}\n{n} test, {100 * acc:.0f} % right",
            fontsize=FONT,
            va="center",
        )
        for j, i in enumerate(right):
            _tile(fig, rect(r, j), images[i], f"{100 * p.confidence[i]:.0f} %", True)
        for j, i in enumerate(wrong):
            title = f"{p.name(p.y_pred[i], 12)}\n{100 * p.confidence[i]:.0f} %"
            _tile(fig, rect(r, PER_CLASS + j), images[i], title, False)
    return _save(fig, plt, path)


def draw_mistakes(p: Predictions, images: np.ndarray, idx: list[int], path: Path) -> Path:
    cols, tile = 5, 2.0
    rows = max(1, -(-len(idx) // cols))
    fig, plt = _grid(rows, cols, 0.1, tile=tile, gap=3 * GAP)
    rect = _layout(fig, rows, cols, 0.1, tile=tile, gap=3 * GAP)
    for k, i in enumerate(idx):
        title = (
            f"{p.name(p.y_true[i], 14)}\n→ {p.name(p.y_pred[i], 12)}\n{100 * p.confidence[i]:.0f} %"
        )
        _tile(fig, rect(k // cols, k % cols), images[i], title, False)
    return _save(fig, plt, path)


def draw_pairs(p: Predictions, images: np.ndarray, pairs: list, path: Path) -> Path:
    label_w, cols = 2.1, 2 * PER_PAIR + 1
    fig, plt = _grid(max(1, len(pairs)), cols, label_w)
    rect = _layout(fig, max(1, len(pairs)), cols, label_w)
    w, h = fig.get_size_inches()
    fig.text(
        label_w / w + PER_PAIR * TILE / w / 2,
        1 - 0.12 / h,
        "true A, predicted B",
        ha="center",
        fontsize=FONT,
        color="#d62728",
        weight="bold",
    )
    fig.text(
        (label_w + (PER_PAIR + 1) * TILE) / w + PER_PAIR * TILE / w / 2,
        1 - 0.12 / h,
        "B, correctly predicted",
        ha="center",
        fontsize=FONT,
        color="#1b9e45",
        weight="bold",
    )
    for r, (t, q, mistakes) in enumerate(pairs):
        y0 = rect(r, 0)[1] + rect(r, 0)[3] / 2
        fig.text(
            0.05 / w,
            y0,
            f"A {p.name(t, 16)}\nB {p.name(q, 16)}\n{len(mistakes)} mistake(s)",
            fontsize=FONT,
            va="center",
        )
        for j, i in enumerate(mistakes[:PER_PAIR]):
            _tile(fig, rect(r, j), images[i], f"{100 * p.confidence[i]:.0f} %", False)
        for j, i in enumerate(correct_examples(p, q, PER_PAIR)):
            ok = bool(p.correct[i])
            _tile(
                fig,
                rect(r, PER_PAIR + 1 + j),
                images[i],
                f"{100 * p.confidence[i]:.0f} %",
                ok or None,
            )
    return _save(fig, plt, path)


def class_examples(p: Predictions, seed: int = SAMPLE_SEED) -> dict[int, int]:
    """One test image per class that has any (a fixed, seeded pick): class id -> index."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in sorted(set(int(c) for c in p.y_true)):
        idx = np.flatnonzero(p.y_true == c)
        out[c] = int(rng.choice(idx))
    return out


def draw_classes(p: Predictions, images: np.ndarray, path: Path) -> Path:
    """The home page's strip: one test image per class, as the model sees it, named."""
    from analysis.figures import study as study_figures

    picks = class_examples(p)
    return study_figures.class_strip(
        [images[i] for i in picks.values()], [p.name(c, 40) for c in picks], path
    )


# --- the one entry point ---


def render(run_dir: Path, out_dir: Path, data_dir) -> dict:
    """Draw the gallery of `run_dir` into `out_dir`; returns the figures' file names (relative
    to `out_dir`) and a small JSON-able summary of what they show, for the page template."""
    p = load(run_dir)
    images = test_images(p, data_dir)
    out_dir = Path(out_dir)
    picks = sample(p)
    mistakes = confident_mistakes(p)
    pairs = confused_pairs(p)
    paths = {
        "sample": draw_sample(p, images, picks, out_dir / f"{PREFIX}sample.png"),
        "confident_mistakes": draw_mistakes(p, images, mistakes, out_dir / f"{PREFIX}mistakes.png"),
        "confused_pairs": draw_pairs(p, images, pairs, out_dir / f"{PREFIX}pairs.png"),
    }
    strip = draw_classes(p, images, out_dir / "classes.png")

    def item(i: int) -> dict:
        return {
            "file": p.files[i],
            "true_id": int(p.y_true[i]),
            "true_name": p.names.get(int(p.y_true[i]), str(p.y_true[i])),
            "pred_id": int(p.y_pred[i]),
            "pred_name": p.names.get(int(p.y_pred[i]), str(p.y_pred[i])),
            "probability": round(float(p.confidence[i]), 4),
        }

    return {
        "run": p.run,
        "profile": p.profile,
        "seed": p.seed,
        "image_size": p.image_size,
        "test_images": len(p.files),
        "accuracy": round(float(np.mean(p.correct)), 4),
        "sample": {"per_class": PER_CLASS, "seed": SAMPLE_SEED},
        "figures": {k: v.name for k, v in paths.items()},
        "classes_figure": strip.name,  # the home page's strip, one image per class
        "bytes": sum(v.stat().st_size for v in paths.values()),
        "classes": [
            {
                "id": c,
                "name": p.names.get(c, str(c)),
                "test_images": int(np.sum(p.y_true == c)),
                "correct": int(np.sum((p.y_true == c) & p.correct)),
                "shown_correct": len(right),
                "shown_mistakes": len(wrong),
            }
            for c, (right, wrong) in picks.items()
        ],
        "confident_mistakes": [item(i) for i in mistakes],
        "confused_pairs": [
            {
                "true_id": t,
                "true_name": p.names.get(t, str(t)),
                "pred_id": q,
                "pred_name": p.names.get(q, str(q)),
                "count": len(ix),
                "files": [p.files[i] for i in ix[:PER_PAIR]],
            }
            for t, q, ix in pairs
        ],
    }
