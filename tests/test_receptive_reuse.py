"""The cross-run step's effective receptive fields (runner.report.receptive): measured where a
network is saved, kept from the summary before where it is not and nothing it depends on changed,
dropped when its record changed and no network is here to measure again."""

from __future__ import annotations

import json

import numpy as np
import pytest

from runner import layout
from runner.report import compare, receptive

GROUPS = {
    "cnn": "reference",
    "kernel-3x3": "kernels",
    "kernel-5x5": "kernels",
    "kernel-128-3x3": "kernels-128",
}


def numbers(size: int) -> dict:
    return {
        "image_size": size,
        "layer": "pool4",
        "centre": size / 2 - 0.5,
        "window": 46,
        "window_in_image": min(46, size),
        "used_side": 40,
        "share": 0.95,
        "used_of_window": 40 / 46,
        "used_of_window_in_image": 40 / min(46, size),
        "radius_rms": 12.0,
    }


@pytest.fixture
def profile(tmp_path, monkeypatch):
    """Runs with records; `measured` lists what `_measure` was asked for (the measuring itself
    is analysis.figures.receptive's, tested on its own)."""
    d = tmp_path / "standard"
    for name, size in (("cnn", 48), ("kernel-5x5", 48), ("kernel-128-3x3", 128)):
        (d / name).mkdir(parents=True)
        (d / name / "metrics.json").write_text(json.dumps({"run": name}))
        (d / name / "model.json").write_text(json.dumps({"image_size": size, "seed": 0}))
        (d / name / layout.RUN_RECORD).write_text(json.dumps({"run": name}))
    (d / "kernel-3x3").mkdir()
    (d / "kernel-3x3" / "metrics.json").write_text(json.dumps({"run": "kernel-3x3"}))
    (d / "kernel-3x3" / layout.RUN_RECORD).write_text(json.dumps({"same_computation_as": "cnn"}))
    measured = []

    def measure(todo, root, module):
        out = {}
        for n, (key, folder) in todo.items():
            measured.append((n, folder.name))
            size = json.loads((folder / "model.json").read_text())["image_size"]
            erf = np.zeros((size, size), dtype="float32")
            erf[size // 2, size // 2] = 1
            out[n] = ({**numbers(size), "key": key, "images": 4}, erf)
        return out

    monkeypatch.setattr(receptive, "_measure", measure)
    data = tmp_path / "data"
    data.mkdir()
    (data / "msl_synset_words-indexed.txt").write_text("")
    return d, data, measured


def save_model(d, name):
    (d / name / receptive.MODEL_FILE).write_bytes(b"saved")


def run(d, data, before=None):
    return receptive.study(d, GROUPS, d / compare.SUMMARY_DIR / "figures", data, None, before)


def test_saved_networks_are_measured_and_a_shared_run_reads_its_sources(profile):
    d, data, measured = profile
    assert run(d, data) is None  # nothing saved, nothing kept
    save_model(d, "cnn")
    save_model(d, "kernel-128-3x3")
    out = run(d, data)
    assert sorted(measured) == [("kernel-128-3x3", "kernel-128-3x3"), ("kernel-3x3", "cnn")]
    assert list(out["networks"]) == ["kernel-3x3", "kernel-128-3x3"]  # plan order
    assert out["missing"] == ["kernel-5x5"]
    assert (d / compare.SUMMARY_DIR / out["figure"]).exists()
    maps = receptive.load_maps(d / compare.SUMMARY_DIR / receptive.MAPS_FILE)
    assert sorted(maps) == ["kernel-128-3x3", "kernel-3x3"] and maps["kernel-3x3"].shape == (48, 48)
    assert receptive.pending(d, GROUPS, None, out) == []


def test_numbers_are_kept_without_the_network_until_its_record_changes(profile):
    d, data, measured = profile
    save_model(d, "cnn")
    first = run(d, data)
    (d / "cnn" / receptive.MODEL_FILE).unlink()  # a clone: records, no networks
    kept = run(d, data, first)
    assert len(measured) == 1 and kept["networks"] == first["networks"]
    (d / "kernel-3x3" / "metrics.json").write_text(json.dumps({"run": "kernel-3x3", "new": 1}))
    assert run(d, data, kept) is None  # not measured from this record: left out, not kept


def test_a_network_saved_since_or_measured_from_other_inputs_is_pending(profile):
    d, data, measured = profile
    save_model(d, "cnn")
    first = run(d, data)
    save_model(d, "kernel-5x5")
    assert receptive.pending(d, GROUPS, None, first) == ["kernel-5x5"]
    (d / "cnn" / "model.json").write_text(json.dumps({"image_size": 48, "seed": 1}))
    assert receptive.pending(d, GROUPS, None, first) == ["kernel-3x3", "kernel-5x5"]
    run(d, data, first)
    assert [n for n, _ in measured] == ["kernel-3x3", "kernel-3x3", "kernel-5x5"]
    # only the runs the summary reads (`only`) are measured
    assert receptive.networks(GROUPS, ["kernel-5x5", "cnn"]) == ["kernel-5x5"]


def test_without_the_data_set_saved_networks_wait(profile, tmp_path):
    d, data, measured = profile
    save_model(d, "cnn")
    assert run(d, tmp_path / "nowhere") is None and measured == []


def test_the_figure_is_legible_at_the_content_width():
    """Every text of the figure at least display.MIN_TEXT_PT as the page shows it, with all five
    columns (three of them not measured) and both sizes."""
    import io

    from PIL import Image

    from analysis.figures import display, receptive_draw
    from analysis.figures.notebook import DPI

    rows = {
        48: {"kernel-3x3": numbers(48), "kernel-5x5": {**numbers(48), "window": 76}},
        128: {"kernel-128-3x3": numbers(128)},
    }
    maps = {n: np.ones((d["image_size"],) * 2) for r in rows.values() for n, d in r.items()}
    columns = ["kernel-3x3", "kernel-5x5", "kernel-7x7", "kernel-3to5", "kernel-3x3-wide"]
    fig = receptive_draw.figure(rows, maps, columns)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, bbox_inches="tight")
    width = Image.open(buf).size[0]
    assert display.small_texts(fig, DPI, width) == []


def test_new_drawing_code_redraws_the_figure_from_the_kept_maps(profile):
    d, data, measured = profile
    save_model(d, "cnn")
    first = run(d, data)
    assert not receptive.figure_stale(first) and not receptive.figure_stale(None)
    (d / "cnn" / receptive.MODEL_FILE).unlink()
    figure = d / compare.SUMMARY_DIR / first["figure"]
    figure.unlink()
    older = {**first, "figure_code": "older"}
    assert receptive.figure_stale(older)
    again = run(d, data, older)
    assert figure.exists() and len(measured) == 1  # drawn again, nothing measured again
    assert again["networks"] == first["networks"] and again["figure_code"] == first["figure_code"]
