"""Each SageMaker job's time limit follows its run's measured speed, and the README's cost of
each profile is the plan's (runner/backends/sagemaker/runtime.py). No AWS call: pure numbers
from plan.yaml and the published runs' records."""

from __future__ import annotations

import json
import re

import pytest

from analysis import paths
from runner.backends.sagemaker import runtime
from runner.plan import load

PROFILES = ("smoke", "quick", "standard", "full")


@pytest.fixture(scope="module")
def standard():
    return load(profile="standard")


def published_seconds(run: str) -> float:
    return json.loads((runtime._published() / run / "run.json").read_text())["seconds"]


def test_a_published_run_is_expected_to_take_its_measured_time(standard):
    for name in ("cnn", "kernel-7x7"):
        assert runtime.expected_seconds(standard.runs[name]) == pytest.approx(
            published_seconds(name), rel=1e-6
        ), name
    # train_fraction 0.1 keeps at least one image of each class: 385 images, not 374.6.
    data_10 = runtime.expected_seconds(standard.runs["baseline-data-10"])
    assert data_10 == pytest.approx(published_seconds("baseline-data-10"), rel=0.05)


def test_the_limit_scales_with_epochs_pixels_and_instance(standard):
    cnn, seven = standard.runs["cnn"], standard.runs["kernel-7x7"]
    expected = runtime.expected_seconds(cnn)
    limit = runtime.max_runtime(cnn, "ml.m5.xlarge")
    assert limit == int(runtime.SETUP_S + runtime.MARGIN * expected)
    # Fewer vCPUs than the measuring machine: more time; more: not less than measured.
    assert runtime.max_runtime(cnn, "ml.m5.large") > limit
    assert runtime.max_runtime(cnn, "ml.m5.4xlarge") == limit
    # Not published (128 px): its notebook's slowest measured speed, times the pixels.
    big = standard.runs["kernel-128-7x7"]
    assert runtime.expected_seconds(big) == pytest.approx(
        runtime.expected_seconds(seven) * (128 / 48) ** 2, rel=1e-6
    )
    # A run that trains nothing: set-up and an hour in all; an override wins; the API's cap.
    assert runtime.max_runtime(standard.runs["eda"], "ml.m5.xlarge") == 3600
    assert runtime.max_runtime(cnn, "ml.m5.xlarge", override=600) == 600
    huge = type(big)(**{**big.__dict__, "params": {**big.params, "epochs": 10**5}})
    assert runtime.max_runtime(huge, "ml.m5.xlarge") == runtime.MAX_RUNTIME_S


def test_the_readme_states_each_profiles_jobs_hours_and_cost():
    """The README's table recounted: runs and jobs exactly (plan.yaml), hours to 15 % (a
    published run recomputed moves them a little), each cost its hours at the stated price."""
    text = (paths.ROOT / "README.md").read_text()
    price = float(re.search(r"about\s+\$([\d.]+) per hour at the time of writing", text)[1])
    table = text.split("<!-- table: profile-cost -->", 1)[1].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[3:]:
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    assert sorted(rows) == sorted(PROFILES)
    assert price == runtime.PRICE
    for profile in PROFILES:
        plan = load(profile=profile)
        runs, jobs, hours, cost, most, most_cost = rows[profile]
        estimate = runtime.profile_estimate(plan.runs.values())
        stale = (
            f"README's 'What each profile costs' is not the plan's ({profile}): replace the "
            "table by `python -m runner.backends.sagemaker.runtime`'s"
        )
        assert (int(runs), int(jobs)) == (len(plan.runs), estimate["jobs"]), stale
        hours = float(hours.split()[0])
        assert hours == pytest.approx(estimate["hours"], rel=0.15, abs=0.1), stale
        assert float(most) == pytest.approx(estimate["limit_hours"], rel=0.15), stale
        assert cost == f"${hours * price:.2f}" and most_cost == f"${float(most) * price:.2f}"

    # 'First run on a real account' quotes the same rows.
    block = text.split("<!-- commands: first-run -->\n```bash\n", 1)[1].split("```", 1)[0]
    quoted = re.findall(
        r"(\w+)\s+\((\d+) jobs, about ([\d.]+) instance hours, (\$[\d.]+) expected\)",
        re.sub(r"\s*\n#\s*", " ", block),
    )
    assert sorted(p for p, *_ in quoted) == ["full", "quick"], quoted
    for profile, jobs, hours, cost in quoted:
        assert [jobs, hours, cost] == [rows[profile][i].split()[0] for i in (1, 2, 3)], profile
