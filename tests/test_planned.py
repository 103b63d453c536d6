"""A pending network described from its plan entry is the network its run records: the design
tables can state its receptive field, last map and FLOPs before it trains."""

from __future__ import annotations

import json

from analysis import paths
from runner.plan import load
from runner.report import planned


def test_params_fill_what_the_plan_omits_as_the_notebook_does():
    p = planned.params("model", {"kernel_size": 5, "image_size": 96})
    assert p["kernel_sizes"] == [5, 5, 5, 5] and p["filters"] == [32, 64, 128, 256]
    assert p["image_size"] == 96 and p["model"] == "cnn"
    assert planned.params("model", {"kernel_sizes": [3, 5]})["kernel_sizes"] == [3, 5]


def test_a_pending_network_is_described_as_its_run_records_it():
    """The published 128 px 3×3 run, taken as pending: its plan entry builds its recorded model."""
    plan = load(profile="standard")
    info = {
        n: {"group": r.group, "notebook": r.notebook, "params": r.params}
        for n, r in plan.runs.items()
    }
    name = "kernel-128-3x3"
    folder = paths.ROOT / "results" / "standard"
    record = json.loads((folder / name / "metrics.json").read_text())
    reference = json.loads((folder / plan.reference / "metrics.json").read_text())
    only = {name: info[name], "cnn": info["cnn"]}
    got = planned.networks(only, {"cnn": reference}, "cnn")
    assert set(got) == {name}  # the reference is computed, and not a decision family's
    ours, theirs = got[name], record["model"]
    for key in ("parameters", "flops_per_image", "receptive_field_per_layer", "layers"):
        assert ours[key] == theirs[key], key


def test_nothing_is_built_without_the_reference_s_record_or_a_pending_network():
    info = {"depth-128-2": {"group": "depth-128", "notebook": "model", "params": {}}}
    assert planned.networks(info, {}, "cnn") == {}
    assert planned.networks(info, {"depth-128-2": {}, "cnn": {}}, "cnn") == {}


def test_a_network_that_cannot_be_built_at_its_size_is_left_blank_and_named(capsys):
    """Valid padding at 32 px trims the map to nothing: the row stays blank, the render goes on,
    and the warning names the plan entry and the size."""
    plan = load(profile="standard")
    reference = json.loads(
        (paths.ROOT / "results" / "standard" / plan.reference / "metrics.json").read_text()
    )
    info = {
        n: {"group": "padding-128", "notebook": "model", "params": {"model": "cnn_valid", **extra}}
        for n, extra in (("small", {"image_size": 32}), ("fits", {"image_size": 48}))
    }
    got = planned.networks(info, {plan.reference: reference}, plan.reference)
    assert set(got) == {"fits"}
    err = capsys.readouterr().err
    assert "runs.small" in err and "32 px" in err and "runs.fits" not in err


def test_every_run_of_the_smoke_profile_builds():
    """The tests' profile shrinks the images: every decision-family network must still fit."""
    plan = load(profile="smoke")
    info = {
        n: {"group": r.group, "notebook": r.notebook, "params": r.params}
        for n, r in plan.runs.items()
    }
    reference = json.loads(
        (paths.ROOT / "results" / "standard" / plan.reference / "metrics.json").read_text()
    )
    got = planned.networks(info, {plan.reference: reference}, plan.reference)
    pending = {n for n, r in info.items() if r["group"] in planned.FAMILIES}
    assert set(got) == pending
