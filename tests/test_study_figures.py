"""Every figure of the cross-run step reads at a glance: drawn from the published results, no
two texts overlap, no text is below 9 pt at the page's content width (display.CONTENT_WIDTH_PX),
legends sit outside the data, models carry their display names."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.legend import Legend  # noqa: E402
from PIL import Image  # noqa: E402

from analysis import paths  # noqa: E402
from analysis.figures import display
from analysis.figures import families as family_figures
from analysis.figures import mechanisms as mechanism_figures
from analysis.figures import notebook as figures
from analysis.figures import runs as run_figures
from analysis.figures import study as study_figures
from runner.plan import load  # noqa: E402
from runner.report import compare  # noqa: E402


def published():
    info = json.loads((paths.REPORT_DIR / ".published.json").read_text())
    return paths.ROOT / info["results"]


def png_width(fig, draw: bool = True) -> int:
    """The width in pixels of the PNG `figures._save` writes (bbox_inches="tight", default pad)."""
    if draw:
        fig.canvas.draw()  # the layout engine places everything first
    tight = fig.get_tightbbox(fig.canvas.get_renderer())
    pad = matplotlib.rcParams["savefig.pad_inches"]
    return round((tight.width + 2 * pad) * figures.DPI)


def inspect(fig, path) -> dict:
    """What a reader would trip on in one figure, measured on the figure as it is saved."""
    drawn = display.drawn_texts(fig)
    overlaps = display.overlapping_texts(fig, drawn)
    texts = [(t.get_text(), t.get_fontsize()) for t in drawn]
    renderer = fig.canvas.get_renderer()
    axes = [ax.get_window_extent(renderer) for ax in fig.get_axes() if ax.axison]
    legends_over_data = [
        leg
        for leg in fig.findobj(Legend)
        if any(leg.get_window_extent(renderer).overlaps(a) for a in axes)
    ]
    xlims = {tuple(np.round(ax.get_xlim(), 9)) for ax in fig.get_axes() if ax.axison}
    return {
        "path": path,
        "overlaps": overlaps,
        "texts": texts,
        "legends_over_data": legends_over_data,
        "xlims": xlims,
    }


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    results = published()
    summary = compare.read_summary(results)
    runs = compare.load_runs(results, summary["runs"])
    seen: list[dict] = []
    mp = pytest.MonkeyPatch()

    def checking_save(fig, path, photo=False):
        """Check the figure instead of saving it (saving doubles the time): the PNG's width is
        that of the figure's tight bounding box, padded as savefig pads it."""
        found = inspect(fig, path)
        width = png_width(fig, draw=False)  # inspect() has drawn it
        found["small"] = [
            (text, round(display.shown_points(size, figures.DPI, width), 1))
            for text, size in found["texts"]
            if display.shown_points(size, figures.DPI, width) < display.MIN_TEXT_PT - 1e-6
        ]
        seen.append(found)
        plt.close(fig)
        return Path(path)

    # each calls _save by name
    for module in (study_figures, run_figures, mechanism_figures, family_figures):
        mp.setattr(module, "_save", checking_save)
    out_dir = tmp_path_factory.mktemp("figures")
    try:
        drawn = study_figures.draw_all(
            summary["findings"],
            summary["scout"],
            runs,
            summary["reference"],
            summary["baseline"],
            {n: r.group for n, r in load(profile=summary["profile"]).runs.items()},
            out_dir,
        )
        drawn.update(mechanism_figures.draw(summary["findings"], runs, out_dir))
        images = np.random.default_rng(0).integers(0, 256, (24, 48, 48, 3), dtype=np.uint8)
        names = [f"mastcam cal target {i}" for i in range(24)]  # the longest class names
        study_figures.class_strip(list(images), names, out_dir / "classes.png")
    finally:
        mp.undo()
    return summary, drawn, {str(s["path"]): s for s in seen}


def test_every_study_figure_of_the_site_is_drawn_and_checked(drawn):
    summary, figs, seen = drawn
    # The figures the committed summary lists are the figures the cross-run step draws now.
    assert set(summary["figures"]) <= set(figs) | {"scout"}
    assert {"headline", "accuracy_vs_parameters", "translation", "scout"} <= set(figs)
    assert {"class_distribution", "instruments"} <= set(figs)  # the Data page's, from the EDA
    assert "family_kernels" in figs  # a decision family's, beside its table
    for kind in ("learning_curves", "confusion_matrix", "per_class_f1", "translation"):
        assert f"{kind}/{summary['reference']}" in figs, kind  # each run page's own figures
    assert all(str(p) in seen for p in figs.values())


def test_no_two_texts_overlap(drawn):
    _, _, seen = drawn
    bad = {s["path"].name: s["overlaps"] for s in seen.values() if s["overlaps"]}
    assert not bad, bad


def test_text_is_at_least_9_pt_at_the_content_width(drawn):
    _, _, seen = drawn
    bad = {s["path"].name: s["small"] for s in seen.values() if s["small"]}
    assert not bad, bad


def test_legends_are_outside_the_data_and_panels_share_one_x_scale(drawn):
    _, figs, seen = drawn
    assert not [s["path"].name for s in seen.values() if s["legends_over_data"]]
    assert len(seen[str(figs["scout"])]["xlims"]) == 1


def test_models_carry_their_display_names_and_the_headline_its_references(drawn):
    summary, figs, seen = drawn
    ids = {r for r in summary["runs"] if display.name(r) != r}
    for s in seen.values():
        assert not [t for t, _ in s["texts"] if t in ids], s["path"].name
    headline = [t for t, _ in seen[str(figs["headline"])]["texts"]]
    legend = " ".join(headline)
    for needle in ("58.0", "66.7", "best constant answer", "uniform guessing"):
        assert needle in legend, needle
    assert display.name("kernel-3x3") in headline and headline.count(display.name("cnn")) == 1


def test_the_png_width_estimate_is_the_saved_width(tmp_path):
    rows = [{"run": "cnn", "support": 3, "f1": 0.5, "name": "a long class name"}] * 5
    fig = plt.figure()
    plt.close(fig)
    saved = []
    real = run_figures._save

    def save(fig, path, photo=False):
        saved.append(png_width(fig))
        return real(fig, path, photo)

    run_figures._save, original = save, run_figures._save
    try:
        out = run_figures.per_class_f1("cnn", rows, tmp_path / "f1.png")
    finally:
        run_figures._save = original
    with Image.open(out) as im:
        assert abs(im.width - saved[0]) <= 2, (im.width, saved[0])


def test_the_checks_fail_on_a_bad_figure(tmp_path):
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.text(0.5, 0.5, "kernel-5x5")
    ax.text(0.5, 0.5, "kernel-3to5")  # on top of the other
    ax.legend(loc="center")  # over the data
    ax.set_title("small", fontsize=7)
    found = inspect(fig, tmp_path / "bad.png")
    assert ("kernel-5x5", "kernel-3to5") in found["overlaps"]
    assert found["legends_over_data"]
    # 12 inches at 110 dpi is 1320 px, shown at the content width: 7 pt appears at about 3.5 pt.
    assert display.small_texts(fig, figures.DPI, 1320)
    assert display.shown_points(9, figures.DPI, 700) >= display.MIN_TEXT_PT
    plt.close(fig)


def test_the_predictions_gallery_reads_at_the_content_width(tmp_path, monkeypatch):
    """The Predictions page's three figures, drawn from made-up predictions with the data
    set's longest class names: no overlapping text, nothing below 9 pt at the page's width."""
    from analysis.figures import gallery

    rng = np.random.default_rng(0)
    n, classes = 600, 24
    y_true = rng.integers(0, classes, n)
    y_pred = np.where(rng.random(n) < 0.5, y_true, rng.integers(0, classes, n))
    names = {
        c: ("portion tube opening", "chemcam cal target", "mastcam cal target")[c % 3]
        for c in range(classes)
    }
    p = gallery.Predictions(
        run="cnn",
        profile="test",
        seed=0,
        image_size=48,
        max_per_split=0,
        files=[f"calibrated/{i:04d}.JPG" for i in range(n)],
        y_true=y_true,
        y_pred=y_pred,
        confidence=rng.uniform(0.2, 1.0, n).astype("float32"),
        names=names,
    )
    images = rng.integers(0, 256, (n, 48, 48, 3), dtype=np.uint8)
    seen = []
    real = gallery._save

    def checking_save(fig, plt_, path):
        found = inspect(fig, path)
        out = real(fig, plt_, path)
        with Image.open(out) as im:
            width = im.width
        found["small"] = display.small_texts(fig, gallery.DPI, width)
        found["width"] = width
        seen.append(found)
        return out

    monkeypatch.setattr(gallery, "_save", checking_save)
    gallery.draw_sample(p, images, gallery.sample(p), tmp_path / "sample.png")
    gallery.draw_mistakes(p, images, gallery.confident_mistakes(p), tmp_path / "mistakes.png")
    gallery.draw_pairs(p, images, gallery.confused_pairs(p), tmp_path / "pairs.png")
    assert len(seen) == 3
    for s in seen:
        assert not s["overlaps"], (s["path"].name, s["overlaps"][:5])
        assert not s["small"], (s["path"].name, s["small"][:5])
        assert s["width"] <= display.CONTENT_WIDTH_PX, s["path"].name
