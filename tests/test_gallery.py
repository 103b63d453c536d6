"""The predictions gallery: what it picks (unit tests on made-up predictions), the figures and
summary it draws from the smoke run's reference CNN, its page template, and its size budget."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from analysis.figures import display, gallery
from runner.report import render


def made_up(n: int = 240, classes: int = 24, seed: int = 0) -> gallery.Predictions:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, classes, n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, classes, n))
    return gallery.Predictions(
        run="cnn",
        profile="test",
        seed=0,
        image_size=64,
        max_per_split=0,
        files=[f"calibrated/{i:04d}.JPG" for i in range(n)],
        y_true=y_true,
        y_pred=y_pred,
        confidence=rng.uniform(0.2, 1.0, n).astype("float32"),
        names={c: f"class number {c}" for c in range(classes)},
    )


def test_the_sample_is_fixed_and_keeps_right_and_wrong_apart():
    p = made_up()
    picks = gallery.sample(p)
    assert picks == gallery.sample(p)  # seeded: the same draw every time
    assert list(picks) == sorted(set(p.y_true.tolist()))
    for c, (right, wrong) in picks.items():
        assert len(right) <= gallery.PER_CLASS and len(wrong) <= gallery.PER_CLASS
        assert all(p.y_true[i] == c and p.correct[i] for i in right)
        assert all(p.y_true[i] == c and not p.correct[i] for i in wrong)
        n_right = int(np.sum((p.y_true == c) & p.correct))
        assert len(right) == min(gallery.PER_CLASS, n_right)
    assert gallery.sample(p, seed=1) != picks


def test_confident_mistakes_and_confused_pairs():
    p = made_up()
    top = gallery.confident_mistakes(p, 12)
    assert len(top) == 12 and not p.correct[top].any()
    conf = p.confidence[top]
    assert list(conf) == sorted(conf, reverse=True)
    rest = np.setdiff1d(np.flatnonzero(~p.correct), top)
    assert (p.confidence[rest] <= conf[-1]).all()

    pairs = gallery.confused_pairs(p, 5)
    counts = {}
    for t, q in zip(p.y_true[~p.correct], p.y_pred[~p.correct], strict=True):
        counts[(int(t), int(q))] = counts.get((int(t), int(q)), 0) + 1
    assert [len(ix) for _, _, ix in pairs] == sorted(counts.values(), reverse=True)[:5]
    for t, q, ix in pairs:
        assert len(ix) == counts[(t, q)]
        assert all(p.y_true[i] == t and p.y_pred[i] == q for i in ix)
        for i in gallery.correct_examples(p, q, 3):
            assert p.y_true[i] == q


def test_the_worst_case_gallery_fits_the_size_budget(tmp_path):
    """24 classes of pure noise (what compresses worst) at 64 px: under 3 MB for the three
    figures, the most the issue allows the site to grow by."""
    p = made_up(n=600)
    images = np.random.default_rng(1).integers(0, 256, (600, 64, 64, 3), dtype=np.uint8)
    files = [
        gallery.draw_sample(p, images, gallery.sample(p), tmp_path / "a.png"),
        gallery.draw_mistakes(p, images, gallery.confident_mistakes(p), tmp_path / "b.png"),
        gallery.draw_pairs(p, images, gallery.confused_pairs(p), tmp_path / "c.png"),
    ]
    total = sum(f.stat().st_size for f in files)
    assert total < 3_000_000, total
    with Image.open(files[0]) as im:
        # A palette, and no wider than the page's content column (shown at its own size).
        assert im.mode == "P" and im.width <= display.CONTENT_WIDTH_PX


@pytest.fixture(scope="module")
def drawn(smoke, real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    return smoke[1] / "cnn", out, gallery.render(smoke[1] / "cnn", out, real_data)


def test_render_on_the_smoke_reference_cnn(drawn, real_data, tmp_path):
    run_dir, out, summary = drawn
    assert json.loads(json.dumps(summary)) == summary  # JSON-able as it is
    with np.load(run_dir / "predictions.npz") as z:
        seed = json.loads((run_dir / "model.json").read_text())["seed"]
        row = list(z["seeds"]).index(seed)
        y_true, y_pred, files = z["y_true"], z["y_pred"][row], [str(f) for f in z["files"]]
    assert (summary["run"], summary["profile"], summary["seed"]) == ("cnn", "smoke", seed)
    assert summary["image_size"] == 32 and summary["test_images"] == len(files) == 48
    assert summary["accuracy"] == pytest.approx(float(np.mean(y_true == y_pred)), abs=1e-4)
    assert [c["id"] for c in summary["classes"]] == sorted(set(y_true.tolist()))
    assert sum(c["test_images"] for c in summary["classes"]) == 48
    for m in summary["confident_mistakes"]:
        i = files.index(m["file"])
        assert (m["true_id"], m["pred_id"]) == (y_true[i], y_pred[i]) and y_true[i] != y_pred[i]
    wrong = int(np.sum(y_true != y_pred))
    assert len(summary["confident_mistakes"]) == min(gallery.MISTAKES, wrong)
    assert sum(p["count"] for p in summary["confused_pairs"]) <= wrong

    names = summary["figures"]
    assert set(names) == {"sample", "confident_mistakes", "confused_pairs"}
    assert summary["bytes"] == sum((out / n).stat().st_size for n in names.values())
    for name in names.values():
        with Image.open(out / name) as im:
            im.verify()

    # The same inputs draw the same files: the sample is fixed.
    again = gallery.render(run_dir, tmp_path, real_data)
    assert again == summary
    for name in names.values():
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_the_page_template_shows_every_figure(drawn):
    _, out, summary = drawn
    text = (
        render.environment()
        .get_template("predictions.md.j2")
        .render(gallery=summary, figure_dir="study/figures/")
    )
    assert text.startswith("# Predictions")
    linked = [
        line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")
    ]
    assert linked == [
        f"study/figures/{summary['figures'][k]}"
        for k in ("sample", "confident_mistakes", "confused_pairs")
    ]
    assert all((out / link.removeprefix("study/figures/")).exists() for link in linked)
    for m in summary["confident_mistakes"]:
        assert m["file"].removeprefix("calibrated/") in text


def test_a_run_without_probabilities_is_named(tmp_path, real_data):
    run = tmp_path / "old"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"run": "old", "params": {}}))
    np.savez(run / "predictions.npz", files=np.array(["a"]), y_true=[0], y_pred=[[0]], seeds=[0])
    with pytest.raises(gallery.GalleryError, match=r"old/predictions.npz: no test_probabilities"):
        gallery.render(run, tmp_path / "out", real_data)


def test_the_page_without_a_gallery_says_pending():
    text = (
        render.environment().get_template("predictions.md.j2").render(gallery=None, figure_dir="")
    )
    assert text.startswith("# Predictions") and "Pending" in text and "![" not in text
