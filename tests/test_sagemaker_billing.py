"""No job paid for twice, and no job that runs longer than it should: the SageMaker backend
against the moto server, through the proxy of tests/fake_sagemaker.py (real HTTP, real
botocore requests)."""

from __future__ import annotations

import pytest

from runner import layout
from runner.backends import sagemaker as sm
from tests import test_sagemaker
from tests.test_sagemaker import backend_for, run_jobs

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("loopback_only", "aws_rules")]

aws, fake_sm, smoke_plan = test_sagemaker.aws, test_sagemaker.fake_sm, test_sagemaker.smoke_plan


def test_a_create_without_an_answer_is_reattached_not_paid_twice(fake_sm, tiny_msl, smoke_plan):
    """CreateProcessingJob reaches AWS, which creates the job, and the answer is lost (every
    retry's too); DescribeProcessingJob cannot tell either. The ledger keeps the job as
    "unknown" and the run is not submitted; the rerun looks the job up, reattaches to it and
    collects it: one job in all."""
    fake_sm.duration = 0.5
    fake_sm.drop_create = 1000  # every attempt of botocore's: the first creates, none answered
    fake_sm.throttle_describe = 1000  # and whether it exists cannot be learnt
    logs: list[str] = []
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=logs.append)
    assert out.failed == ["eda"] and fake_sm.creates_per_run() == {"eda": 1}
    (name,) = fake_sm.jobs
    assert f"whether job {name} was created could not be checked" in out.messages[0]
    assert "the ledger keeps it as unknown" in out.messages[0]
    ledger = sm.Ledger(layout.ledger_file("smoke")).load()
    assert list(ledger) == [name] and ledger[name]["state"] == "unknown"

    fake_sm.throttle_describe = fake_sm.drop_create = 0
    logs.clear()
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=logs.append)
    assert out.failed == [] and out.executed == ["eda"], out.messages
    assert fake_sm.creates_per_run() == {"eda": 1} and list(fake_sm.jobs) == [name]
    assert any(line.startswith(f"reattached: smoke/eda to SageMaker job {name}") for line in logs)
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


def test_a_create_without_an_answer_that_is_found_goes_on(fake_sm, tiny_msl, smoke_plan):
    """The answer is lost but DescribeProcessingJob finds the job: it is the run's job, waited
    for in the same start; nothing is created again."""
    fake_sm.drop_create = 1000
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == [] and fake_sm.creates_per_run() == {"eda": 1}
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}
