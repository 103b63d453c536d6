"""bench/: the networks it covers (found from the plan) and the structure of what it writes.
Timings are printed by `make bench`, never asserted."""

from __future__ import annotations

import json

import pytest

from bench import networks
from bench import run as bench_run
from runner.plan import load

STUDY_NETWORKS = ("baseline", "cnn", "kernel-5x5", "kernel-7x7", "kernel-3to5", "kernel-3x3-wide")


def test_every_model_run_of_the_published_profile_has_one_network():
    plan = bench_run.published_plan()
    found = networks.discover(plan)
    names = [n["name"] for n in found]
    assert set(STUDY_NETWORKS) <= set(names)
    covered = [r for n in found for r in n["runs"]]
    assert len(covered) == len(set(covered))  # a run trains one network
    model_runs = [
        r.name
        for r in plan.runs.values()
        if r.group != "recipe"
        and "model" in networks.resolved(networks.notebook_defaults(r.notebook_path), r.params)
    ]
    assert sorted(covered) == sorted(model_runs)
    assert len({networks.key(n["params"]) for n in found}) == len(found)
    by_run = {r: n["name"] for n in found for r in n["runs"]}
    # The same network trained on other pixels or under another name is one entry.
    assert by_run["kernel-3x3"] == by_run["cnn-permuted"] == "cnn"
    assert by_run["baseline-permuted"] == "baseline"
    # Two networks with the same kernels but other widths are two entries.
    assert by_run["kernel-3x3-wide"] != by_run["cnn"]
    # A network is benchmarked at the size its runs train at (48 px, and 128 px for the
    # families that need the larger image).
    for n in found:
        assert {plan.runs[r].params["image_size"] for r in n["runs"]} == {n["params"]["image_size"]}
    assert by_run["kernel-128-5x5"] != by_run["kernel-5x5"]


def test_recipe_runs_are_left_out_unless_asked_for():
    plan = load(profile="standard")
    with_recipe = networks.discover(plan, groups_left_out=())
    runs = {r for n in with_recipe for r in n["runs"]}
    assert "recipe-96px" in runs and "recipe-lr-low" in runs
    assert "recipe-96px" not in {r for n in networks.discover(plan) for r in n["runs"]}


def test_notebook_defaults_and_the_kernel_size_rule(tmp_path):
    nb = {
        "cells": [
            {"cell_type": "code", "metadata": {"tags": []}, "source": ["x = 1\n"]},
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": [
                    'model: str = "cnn"  # "cnn" or "baseline"\n',
                    "dense_units: list = [512, 256]  # widths ([512, 256] is the baseline)\n",
                    "filters: list = [8, 16]\n",
                    "kernel_size: int = 0\n",
                    "kernel_sizes = [3, 3]\n",
                    "seeds = list(range(3))  # not a literal: left out\n",
                ],
            },
        ]
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    d = networks.notebook_defaults(path)
    assert d == {
        "model": "cnn",
        "dense_units": [512, 256],
        "filters": [8, 16],
        "kernel_size": 0,
        "kernel_sizes": [3, 3],
    }
    assert networks.resolved(d, {})["kernel_sizes"] == [3, 3]
    assert networks.resolved(d, {"kernel_size": 7})["kernel_sizes"] == [7, 7]
    a = networks.resolved(d, {"image_size": 48, "batch_size": 32})
    b = networks.resolved(d, {"image_size": 48, "batch_size": 32, "learning_rate": 0.1})
    assert networks.key(a) == networks.key(b)  # how it trains is not what it is
    assert networks.key(a) != networks.key({**a, "image_size": 64})
    base = {**a, "model": "baseline"}
    assert networks.key(base) == networks.key({**base, "kernel_sizes": [5, 5]})


@pytest.mark.usefixtures("real_data")
def test_quick_bench_writes_every_figure(tmp_path, real_data):
    out = tmp_path / "results.json"
    args = ["--quick", "--networks", "cnn", "--image-size", "16", "--out", str(out)]
    assert bench_run.main([*args, "--data-dir", str(real_data)]) == 0
    fig = json.loads(out.read_text())
    assert fig["quick"] is True and fig["code"] and fig["machine"]
    assert fig["profile"] == "standard" and fig["image_size"] == 16
    assert fig["split"] == {"train": 3746, "val": 1640}
    assert fig["peak"]["measured_gemm_gflops"] > 0
    [row] = fig["networks"]
    assert row["name"] == "cnn" and "kernel-3x3" in row["runs"]
    for variant in ("plain", "project", "project_with_val", "project_nondeterministic"):
        assert row[f"{variant}_images_per_second"] > 0
    assert row["train_gflop_per_image"] == pytest.approx(3 * row["flops_per_image"] / 1e9)
    assert row["ratio"] == pytest.approx(
        row["project_images_per_second"] / row["plain_images_per_second"]
    )
    assert row["plain_gflops"] == pytest.approx(
        row["plain_images_per_second"] * row["train_gflop_per_image"]
    )
    assert row["idle_epoch_seconds"] == pytest.approx(
        3746 / row["project_with_val_images_per_second"]
    )
    assert 0 <= row["val_share_of_epoch"] < 1
    assert "determinism" in fig and "noop_make_all_seconds" not in fig
