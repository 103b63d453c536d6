"""What the network learned (analysis.figures.learned): Grad-CAM on hand-built networks whose
answer is
known, the filter tiles, the figures' text, and the runner step while a network is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from analysis.figures import learned, learned_draw, learned_maps  # noqa: E402


def two_detectors(pool: bool = False) -> keras.Model:
    """Two channels that copy the image's two channels (a 1×1 identity convolution), ReLU, then
    global average pooling and a dense layer that gives class 0 channel 0 and class 1 channel 1:
    class c's score is how much of channel c the image holds, wherever it is."""
    x = inputs = keras.Input((8, 8, 2), name="image")
    x = keras.layers.Conv2D(2, 1, use_bias=False, name="conv1_1x1")(x)
    x = keras.layers.ReLU(name="relu1")(x)
    if pool:
        x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dense(2, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, x)
    model.get_layer("conv1_1x1").set_weights([np.eye(2, dtype="float32").reshape(1, 1, 2, 2)])
    model.get_layer("classes").set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    return model


def patches_image() -> np.ndarray:
    """Channel 0 lit in the top-left 2×2 corner, channel 1 in the bottom-right 4×4 corner."""
    image = np.zeros((1, 8, 8, 2), "float32")
    image[0, :2, :2, 0] = 1.0
    image[0, 4:, 4:, 1] = 1.0
    return image


def test_grad_cam_finds_the_region_that_speaks_for_each_class():
    """Grad-CAM weighs channels by their gradient, so the map of each class lights the region
    of its own channel and nothing else: the known answer."""
    model = two_detectors()
    assert learned_maps.cam_layer(model) == "relu1"
    image = np.concatenate([patches_image(), patches_image()])
    cam = learned_maps.grad_cam(model, image, [0, 1])
    assert cam.shape == (2, 8, 8)
    assert np.allclose(cam[0, :2, :2], 1) and cam[0].sum() == pytest.approx(4)
    assert np.allclose(cam[1, 4:, 4:], 1) and cam[1].sum() == pytest.approx(16)
    # The score is the logit, not the softmax: a class with a negative weight lights nothing.
    model.get_layer("classes").set_weights([-np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    assert learned_maps.grad_cam(model, image[:1], [0]).max() == 0


def test_grad_cam_after_pooling_is_upsampled_onto_the_region():
    model = two_detectors(pool=True)
    assert learned_maps.cam_layer(model) == "relu1"  # the activation before the block's pooling
    cam = learned_maps.grad_cam(model, patches_image(), [1], layer_name="pool1")
    assert cam.shape == (1, 4, 4)
    up = learned_maps.upsample(cam, 8)
    assert up.shape == (1, 8, 8) and up.min() >= 0 and up.max() <= 1
    r, c = np.unravel_index(np.argmax(up[0]), (8, 8))
    assert r >= 4 and c >= 4  # the peak lies in the bottom-right corner, channel 1's region
    assert up[0, :3, :3].max() == 0  # bilinear: only the quadrant's edge picks up any


def test_filter_tiles_are_each_scaled_to_0_1():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 5)) * np.array([1, 10, 0.01, 5, 0])  # last: constant
    tiles = learned_maps.filter_tiles(kernel)
    assert tiles.shape == (5, 3, 3, 3)
    for f in range(4):
        assert tiles[f].min() == pytest.approx(0) and tiles[f].max() == pytest.approx(1)
        # an affine map of the weights: their order is kept
        assert np.array_equal(
            np.argsort(tiles[f], axis=None), np.argsort(kernel[..., f], axis=None)
        )
    assert np.all(tiles[4] == 0.5)


def test_local_filters_are_the_windows_the_layer_multiplies():
    """local_kernel reads a locally connected layer's kernel in analysis.models.ablation's patch
    order:
    the layer's output at a position is the window times that position's (k, k, c, f) kernel."""
    from analysis.models import ablation

    model = ablation.build_locally_connected(8, 3, (3, 3), (4, 6), seed=1)
    layer = model.get_layer("local1_3x3")
    kernel = np.asarray(layer.weights[0])
    x = np.random.default_rng(1).normal(size=(1, 8, 8, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(layer(x))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for r, c in [(0, 0), (4, 4), (2, 6)]:
        w = learned_maps.local_kernel(kernel, 8, r, c, 3, 3)
        assert w.shape == (3, 3, 3, 4)
        expect = np.einsum("ijc,ijcf->f", padded[0, r : r + 3, c : c + 3], w)
        assert np.allclose(out[0, r, c], expect, atol=1e-5)
    panels = learned_maps.first_filters(model)
    assert list(panels) == [
        "centre (row 4, column 4)",
        "near the top-left corner (row 1, column 1)",
    ]
    assert all(t.shape == (4, 3, 3, 3) for t in panels.values())
    assert learned_maps.filters_differ(panels)  # each position has its own filters
    assert learned_maps.cam_layer(model) == "relu2"
    assert [b.name for b in learned_maps.block_layers(model)] == ["pool1", "pool2"]
    cam = learned_maps.grad_cam(model, x * 50 + 128, [1])
    assert cam.shape == (1, 4, 4) and cam.min() >= 0 and cam.max() <= 1


def test_convolution_filters_are_one_panel_and_feature_maps_one_per_block():
    from analysis.models import networks as models

    model = models.build_cnn(16, 3, (3, 3), (8, 16))
    panels = learned_maps.first_filters(model)
    assert list(panels) == ["the same filters at every position"]
    assert not learned_maps.filters_differ(panels)
    assert not learned_maps.filters_differ(
        {"a": np.zeros((2, 3, 3, 3)), "b": np.zeros((2, 3, 3, 3))}
    )
    assert panels["the same filters at every position"].shape == (8, 3, 3, 3)
    images = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    maps = learned_maps.feature_maps(model, images)
    assert [(n, m.shape) for n, m in maps] == [("pool1", (3, 8, 8, 8)), ("pool2", (3, 4, 4, 16))]
    assert (
        learned_maps.pick_channels(maps[1][1], 4) == learned_maps.pick_channels(maps[1][1], 6)[:4]
    )


def test_picks_are_the_largest_classes_and_the_most_confused_pairs():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 0, 2, 2, 0, 0])
    conf = np.array([0.5, 0.9, 0.8, 0.6, 0.7, 0.3, 0.4, 0.9, 0.8])
    assert learned_maps.feature_picks(y_true, y_pred, conf, n=2) == [6, 1]
    from analysis.figures.gallery import Predictions

    p = Predictions(
        "cnn", "smoke", 0, 8, 0, [f"{i}.jpg" for i in range(9)], y_true, y_pred, conf, {}
    )
    pairs = learned_maps.pair_picks(p, k=2, mistakes=1)
    assert [(q["true_id"], q["pred_id"], q["count"]) for q in pairs] == [(2, 0, 2), (0, 1, 1)]
    (wrong, _), (a, role_a), (b, role_b) = pairs[0]["rows"]
    assert wrong == 7  # the more confident of the two mistakes 2 -> 0
    assert a in (5, 6) and b in (0, 1) and (role_a, role_b) == ("correct A", "correct B")
    assert [role for _, role in pairs[1]["rows"]] == ["mistake", "correct A", "correct B"]


LONG = "portion tube opening"


def test_figures_text_does_not_overlap_or_leave_the_figure():
    rng = np.random.default_rng(3)
    panels = {
        "centre (row 24, column 24)": rng.uniform(size=(20, 3, 3, 3)),
        "near the top-left corner (row 6, column 6)": rng.uniform(size=(20, 3, 3, 3)),
    }
    images = rng.uniform(0, 255, (2, 48, 48, 3))
    blocks = [(f"pool{i}", rng.uniform(size=(2, 48 >> i, 48 >> i, 16 << i))) for i in range(1, 5)]
    cells = {
        net: {
            "cam": rng.uniform(size=(48, 48)),
            "title": learned_draw._wrap(f"says {LONG}, 99 %", 22),
            "ok": ok,
        }
        for net, ok in (("CNN", True), ("locally connected", False))
    }
    rows = [
        {
            "image": images[0],
            "label": f"true class:\n{learned_draw._wrap(LONG, 16)}\n\n{role}",
            "nets": cells,
        }
        for role in learned.ROLES.values()
    ]
    figures = [
        learned_draw.draw_filters(
            panels, "First-layer filters: locally connected (run locally-connected)"
        ),
        learned_draw.draw_feature_maps(
            images, [learned_draw._wrap(LONG, 16)] * 2, blocks, [[0, 1, 2, 3]] * 4
        ),
        learned_draw.draw_gradcam(rows, ["CNN", "locally connected"]),
        learned_draw.draw_gradcam(rows[:1], ["CNN"]),
    ]
    for fig, plt in figures:
        boxes = learned_draw.text_boxes(fig)
        assert boxes and learned_draw.overlapping(boxes) == []
        width, height = fig.get_size_inches() * fig.dpi
        assert fig.get_size_inches()[0] == learned_draw.WIDTH
        for b in boxes:
            assert b.x0 >= 0 and b.y0 >= 0 and b.x1 <= width and b.y1 <= height, b
        sizes = {t.get_fontsize() for t in fig.texts}
        assert min(sizes) >= 9
        plt.close(fig)
    # the check itself sees an overlap
    fig, plt = learned_draw._figure(1)
    learned_draw._text(fig, 0.1, 0.1, "one label")
    learned_draw._text(fig, 0.2, 0.1, "another")
    assert learned_draw.overlapping(learned_draw.text_boxes(fig)) == [(0, 1)]
    plt.close(fig)


def test_the_runner_step_is_pending_without_the_network_or_the_data(tmp_path):
    run = tmp_path / "standard" / "cnn"
    run.mkdir(parents=True)
    figs = tmp_path / "figures"
    data = tmp_path / "data"
    data.mkdir()
    assert learned.study(tmp_path / "standard", "cnn", figs, data) is None  # nothing saved
    (run / "predictions.npz").write_bytes(b"")
    assert learned.study(tmp_path / "standard", "cnn", figs, data) is None  # no model.keras
    two_detectors().save(run / "model.keras")
    (run / "model.json").write_text(json.dumps({"class_ids": [0, 1], "class_names": ["a", "b"]}))
    assert learned.study(tmp_path / "standard", "cnn", figs, data) is None  # no data set
    assert not figs.exists()


def test_the_runner_step_draws_the_locally_connected_network_only_when_it_is_current(
    tmp_path, monkeypatch
):
    from analysis import paths

    profile = tmp_path / "standard"
    for run in ("cnn", learned.LOCAL_RUN):
        (profile / run).mkdir(parents=True)
        (profile / run / "model.keras").write_bytes(b"")
    (profile / "cnn" / "predictions.npz").write_bytes(b"")
    data = tmp_path / "data"
    data.mkdir()
    (data / paths.SYNSET_FILE).write_text("")
    calls = []

    def render(ref, other, fig_dir, root):
        calls.append(other and other.name)
        if other is not None and "broken" in calls:
            raise ValueError("cannot read the file")
        return {"local": other is not None}

    monkeypatch.setattr(learned, "render", render)
    assert learned.study(profile, "cnn", tmp_path, data, ["cnn", learned.LOCAL_RUN]) == {
        "local": True
    }
    assert learned.study(profile, "cnn", tmp_path, data, ["cnn"]) == {"local": False}
    calls[:] = ["broken"]  # an unreadable network of its own: the CNN's figures all the same
    assert learned.study(profile, "cnn", tmp_path, data, None) == {"local": False}
    assert calls == ["broken", learned.LOCAL_RUN, None]


def fake_summary(local: bool) -> dict:
    """What `learned.render` returns, by hand: the page reads nothing else."""

    def net(run, first, shape):
        return {
            "run": run,
            "seed": 0,
            "image_size": 48,
            "first_layer": first,
            "kernel_size": 3,
            "filters": 32,
            "filter_panels": ["centre (row 24, column 24)", "near (row 6, column 6)"],
            "filters_differ": run != "cnn",
            "blocks": [
                {"layer": f"pool{i}", "shape": shape(i), "channels": [0, 1, 2, 3]} for i in (1, 2)
            ],
            "cam_layer": "relu2",
            "cam_shape": [12, 12],
        }

    def answer(name, p, ok):
        return {"pred_id": 1, "pred_name": name, "probability": p, "correct": ok}

    nets = {"cnn": net("cnn", "conv1_3x3", lambda i: [48 >> i, 48 >> i, 16 << i])}
    if local:
        nets["local"] = net(
            "locally-connected", "local1_3x3", lambda i: [48 >> i, 48 >> i, 16 << i]
        )
    keys = list(nets)
    figures = {
        f"{kind}_{k}": f"learned_{kind}_{k}.png" for kind in ("filters", "features") for k in keys
    }
    figures |= {"gradcam_1": "learned_gradcam_1.png"}
    images = [
        {
            "file": f"calibrated/img{j}.JPG",
            "role": role,
            "true_name": "drt side",
            **{k: answer("ground", 0.5 + j / 10, j > 1) for k in keys},
            "cam_correlation": 0.25 if local else None,
        }
        for j, role in enumerate(["mistake", "mistake", "correct A", "example"])
    ]
    return {
        "reference": "cnn",
        "local_run": learned.LOCAL_RUN,
        "networks": nets,
        "local": local,
        "figures": figures,
        "feature_images": [
            {
                "file": "calibrated/feat.JPG",
                "true_name": "wheel",
                **{k: answer("wheel", 0.9, True) for k in keys},
            }
        ],
        "pairs": [
            {
                "true_name": "drt side",
                "pred_name": "ground",
                "count": 118,
                "figure": "learned_gradcam_1.png",
                "images": images,
            }
        ],
        "right": {k: 2 for k in keys},
        "shown": 4,
        "cam_correlation_mean": 0.25 if local else None,
    }


def _page(summary):
    from runner.report import render

    template = render.environment().get_template("learned.md.j2")
    return template.render(learned=summary, figure_dir="study/figures/")


def test_the_page_shows_every_figure_and_says_what_is_pending():
    assert "Pending" in _page(None) and "![" not in _page(None)
    for local in (False, True):
        summary = fake_summary(local)
        text = _page(summary)
        assert text.startswith("# What the network learned")
        linked = [line.split("](")[1].rstrip(")") for line in text.splitlines() if "![" in line]
        assert sorted(linked) == sorted(f"study/figures/{f}" for f in summary["figures"].values())
        assert ("Locally connected network pending" in text) is not local
        assert "img3.JPG" in text and "an image of the class" in text
        if local:
            assert "2,304 positions" in text and "positions shown differ" in text
            assert "mean correlation of 0.25" in text and "| 0.25 |" in text
        else:
            assert "Pending: this comparison" in text and "correlation" not in text
