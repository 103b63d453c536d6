"""The experiment plan: resolution order, sharing, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from analysis import paths
from runner.plan import PlanError, load

FIXTURES = Path(__file__).parent / "fixtures"


def write_plan(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(paths.PLAN_FILE.read_text())
    edit(raw)
    # Notebook stems resolve against analysis/notebooks, whatever folder the plan is in.
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(raw, sort_keys=False))
    return plan


@pytest.mark.parametrize("profile", ["smoke", "quick", "standard", "full"])
def test_every_profile_resolves(profile):
    plan = load(profile=profile)
    assert {
        "eda",
        "baseline",
        "cnn",
        "kernel-3x3",
        "kernel-5x5",
        "kernel-7x7",
        "kernel-3to5",
    } <= set(plan.runs)
    assert plan.runs["kernel-5x5"].params["kernel_sizes"] == [5, 5, 5, 5]
    assert "epochs" not in plan.runs["eda"].params  # only what the notebook declares


def test_profiles_override_defaults():
    std, quick, full = (load(profile=p) for p in ("standard", "quick", "full"))
    assert std.runs["cnn"].params["image_size"] == 48
    assert full.runs["cnn"].params["image_size"] == 128
    assert full.runs["eda"].params["image_size"] == 128
    assert std.runs["cnn"].params["seeds"] == [0, 1, 2]
    assert quick.runs["cnn"].params["seeds"] == [0]
    # A run's own parameters beat the defaults, a profile beats both.
    assert std.runs["recipe-96px"].params["image_size"] == 96
    assert std.runs["recipe-lr-low"].params["seeds"] == [0]
    assert load(profile="smoke").runs["recipe-96px"].params["image_size"] == 32


def test_reference_and_kernel_3x3_share_a_fingerprint():
    plan = load(profile="standard")
    fp = {n: r.fingerprint("lib", "data") for n, r in plan.runs.items()}
    assert fp["cnn"] == fp["kernel-3x3"]
    assert len(set(fp.values())) == len(fp) - 1


def test_changing_one_parameter_changes_one_fingerprint(tmp_path):
    before = load(profile="quick")
    plan = write_plan(
        tmp_path,
        lambda raw: (
            raw["profiles"]["quick"].setdefault("runs", {}).update({"kernel-7x7": {"epochs": 2}})
        ),
    )
    after = load(plan, profile="quick")
    changed = [
        n
        for n in before.runs
        if before.runs[n].fingerprint("l", "d") != after.runs[n].fingerprint("l", "d")
    ]
    assert changed == ["kernel-7x7"]
    assert after.runs["kernel-7x7"].params["epochs"] == 2


def test_adding_a_kernel_experiment_is_one_entry(tmp_path):
    plan = write_plan(
        tmp_path,
        lambda raw: raw["runs"].update(
            {
                "kernel-9x9": {
                    "notebook": "model",
                    "group": "kernels",
                    "params": {"kernel_sizes": [9, 9, 9, 9]},
                }
            }
        ),
    )
    run = load(plan, profile="smoke").runs["kernel-9x9"]
    assert run.params["kernel_sizes"] == [9, 9, 9, 9] and run.params["image_size"] == 32


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda r: r["runs"]["cnn"]["params"].update(kernel_szes=[3]),
            "runs.cnn.params.kernel_szes: unknown parameter",
        ),
        (
            lambda r: r["runs"]["cnn"]["params"].update(epochs="ten"),
            "runs.cnn.params.epochs: expected int, got str 'ten'",
        ),
        (lambda r: r["defaults"].update(epoch=3), "defaults.epoch: unknown parameter"),
        (
            lambda r: r["profiles"]["quick"].update(image_size=6.5),
            "profiles.quick.image_size: expected int",
        ),
        (
            lambda r: r["profiles"]["quick"].update(runs={"kernel-11x11": {"epochs": 1}}),
            "profiles.quick.runs.kernel-11x11: unknown run",
        ),
        (lambda r: r["runs"]["cnn"].update(notebok="model"), "runs.cnn.notebok: Extra inputs"),
        (lambda r: r["runs"]["cnn"].update(notebook="nope"), "nope.ipynb does not exist"),
        (
            lambda r: r["runs"]["cnn"]["params"].update(output_dir="x"),
            "runs.cnn.params.output_dir: set by the runner",
        ),
        (lambda r: r.update(reference="cnn2"), "reference: 'cnn2' is not a run"),
        (lambda r: r["runs"].update({"Bad Name": {"notebook": "model"}}), "runs.Bad Name"),
    ],
)
def test_plan_errors_name_the_key(tmp_path, edit, message):
    plan = write_plan(tmp_path, edit)
    with pytest.raises(PlanError) as err:
        load(plan, profile="quick")
    assert message in str(err.value) and str(plan) in str(err.value)


def test_unknown_profile_and_run(tmp_path):
    with pytest.raises(PlanError, match="unknown profile 'fast'.*smoke, quick"):
        load(profile="fast")
    with pytest.raises(PlanError, match="unknown run kernel-9x9"):
        load(profile="quick").select(["kernel-9x9"])


def test_invalid_yaml(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("runs: [\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        load(plan)
