"""The figure of each decision family: the reference first, each network's seeds, and its
difference from the reference drawn filled only where the study's rule shows one."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from analysis.figures import families  # noqa: E402
from analysis.stats import verdicts  # noqa: E402


def run(*accs):
    return {"per_seed": [{"test": {"accuracy": a}} for a in accs]}


def comparison(difference, ci, verdict):
    return {"accuracy": {"difference": difference, "ci95": ci, "verdict": verdict}}


def finding(order=("ref", "big", "small")):
    return {
        "runs": list(order),
        "rows": {
            "ref": {"test_accuracy": 0.5, "test_accuracy_std": 0.01},
            "big": {"test_accuracy": 0.56, "test_accuracy_std": 0.02},
            "small": {"test_accuracy": 0.49, "test_accuracy_std": 0.01},
        },
        "against_reference": {
            "big": comparison(0.06, [0.02, 0.1], verdicts.DIFFERENCE),
            "small": comparison(-0.01, [-0.04, 0.02], verdicts.NO_DIFFERENCE),
        },
    }


RUNS = {"ref": run(0.49, 0.5, 0.51), "big": run(0.54, 0.56, 0.58), "small": run(0.48, 0.5)}


def test_rows_put_the_reference_first_and_fill_only_a_shown_difference():
    rows = families.rows(finding(("big", "ref", "small")), RUNS)
    assert [r["run"] for r in rows] == ["ref", "big", "small"]
    ref, big, small = rows
    assert ref["difference"] is None and not ref["shown"]
    assert big["shown"] and not small["shown"]
    assert small["seeds"] == [0.48, 0.5] and big["ci95"] == [0.02, 0.1]


def test_the_figure_draws_each_seed_and_each_interval(tmp_path, monkeypatch):
    seen = {}

    def keep(fig, path, photo=False):
        seen["fig"] = fig
        return path

    monkeypatch.setattr(families, "_save", keep)
    families.family(finding(), RUNS, tmp_path / "f.png", {"chance": 0.04})
    left, right = seen["fig"].get_axes()
    dots = [line for line in left.get_lines() if line.get_marker() == "o"]
    assert sorted(len(d.get_xdata()) for d in dots) == [2, 3, 3]
    assert [t.get_text() for t in left.get_yticklabels()] == ["ref", "big", "small"]
    faces = [
        line.get_markerfacecolor()
        for line in right.get_lines()
        if line.get_marker() == "o" and len(line.get_xdata())
    ]
    assert faces == ["black", "white"]  # big: shown; small: not
    lo, hi = right.get_xlim()
    assert lo <= -10 and hi >= 10  # the widest interval end (+10 points) is inside
    legend = [t.get_text() for t in seen["fig"].legends[0].get_texts()]
    assert "uniform guessing (4.0\u00a0%)" in legend and "difference shown" in legend


@pytest.mark.parametrize(
    "found, drawn",
    [
        ({"kernels": finding()}, {"family_kernels"}),
        ({"depth_128": {**finding(("ref",)), "against_reference": {}}}, set()),
        ({"stride_128": {}}, set()),
    ],
)
def test_a_family_is_drawn_once_a_network_stands_beside_its_reference(
    found, drawn, tmp_path, monkeypatch
):
    monkeypatch.setattr(families, "family", lambda f, r, path, b=None: path)
    assert set(families.draw(found, RUNS, tmp_path)) == drawn


def test_an_interval_beside_its_estimate_is_drawn_as_computed(tmp_path, monkeypatch):
    """A percentile bootstrap interval can miss the difference of the means (one seed, a
    clipped accuracy): the figure draws it where it lies instead of failing."""
    seen = {}
    monkeypatch.setattr(families, "_save", lambda fig, path, photo=False: seen.update(fig=fig))
    f = finding()
    f["against_reference"]["big"] = comparison(0.06, [0.07, 0.1], verdicts.DIFFERENCE)
    families.family(f, RUNS, tmp_path / "f.png")
    right = seen["fig"].get_axes()[1]
    spans = [sorted(line.get_xdata()) for line in right.get_lines() if line.get_linestyle() == "-"]
    assert [7.0, 10.0] in [[round(v, 6) for v in s] for s in spans]
