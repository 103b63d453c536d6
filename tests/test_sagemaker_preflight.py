"""Preflight (runner/backends/sagemaker/preflight.py) against the moto server: every check
passes on a ready account; each fails on its own case with one message naming what to fix,
exit 2, and nothing in the bucket. Service Quotas, which moto serves for VPC only, come from
tests/fake_quotas.py; every other request reaches moto through the real boto3 clients.
"""

from __future__ import annotations

import json

import boto3
import pytest

from runner.__main__ import main
from runner.backends import sagemaker as sm
from runner.backends.sagemaker import preflight as pf
from runner.backends.sagemaker import requests
from tests import test_sagemaker
from tests.aws import TRUST, prepare_account
from tests.test_sagemaker import INSTANCE, REGION, ROLE, keys

aws, fake_sm = test_sagemaker.aws, test_sagemaker.fake_sm  # its fixtures, for these tests

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("loopback_only", "aws_rules")]

OTHER_ACCOUNT = "210987654321"
RUN = ["run", "eda", "--profile", "smoke", "--backend", "sagemaker", "--data-dir"]


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_every_check_passes_on_a_ready_account(aws, capsys):
    assert main(["preflight", "--backend", "sagemaker"]) == 0
    out = capsys.readouterr().out
    for check in ("credentials", "role", "bucket", "quota", "image", "lock"):
        assert f"preflight: ok    {check}: " in out, out
    assert f"'{INSTANCE} for processing job usage' (L-" in out
    assert keys(aws, "") == []  # preflight reads; it writes nothing


def test_a_bare_role_name_becomes_its_arn_in_the_job(fake_sm, tiny_msl, monkeypatch, capsys):
    """The README's bare name: preflight resolves it (GetRole), and the CreateProcessingJob
    request carries the ARN, which the API's pattern requires; the bucket-owner guard gets
    the ARN's account."""
    monkeypatch.setenv("SAGEMAKER_ROLE", "msl-study-processing")
    settings = sm.settings_from_env()
    assert settings.bucket_owner == ""  # nothing to guard with before the name is resolved
    resolved = pf.preflight(settings, log=lambda _: None)
    assert (resolved.role, resolved.bucket_owner) == (ROLE, "123456789012")
    assert main(["preflight", "--backend", "sagemaker"]) == 0
    assert f"preflight: ok    role: {ROLE}, trusted by" in capsys.readouterr().out
    assert main([*RUN, str(tiny_msl)]) == 0, capsys.readouterr()
    (job,) = fake_sm.jobs.values()
    assert job["request"]["RoleArn"] == ROLE


def test_a_missing_role_stops_the_run_before_any_upload(fake_sm, tiny_msl, monkeypatch, capsys):
    monkeypatch.setenv("SAGEMAKER_ROLE", "msl-study-missing")
    assert main([*RUN, str(tiny_msl)]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "IAM role 'msl-study-missing' (SAGEMAKER_ROLE) does not exist" in line
    assert keys(aws_client(), "") == [] and fake_sm.created == []


def aws_client():
    return boto3.client("s3", region_name=REGION)


def other_account_bucket(name: str) -> None:
    """A bucket that moto keeps for another account (its x-moto-account-id header)."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.meta.events.register(
        "before-sign.s3.*",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", OTHER_ACCOUNT),
    )
    s3.create_bucket(Bucket=name)


def untrusted_role(monkeypatch) -> None:
    ec2_trust = json.loads(json.dumps(TRUST))
    ec2_trust["Statement"][0]["Principal"] = {"Service": "ec2.amazonaws.com"}
    prepare_account(REGION, "msl-study-ec2", None, trust=ec2_trust)
    monkeypatch.setenv("SAGEMAKER_ROLE", "msl-study-ec2")


def bucket_elsewhere(monkeypatch) -> None:
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket="msl-study-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    monkeypatch.setenv("SAGEMAKER_BUCKET", "msl-study-eu")


def stale_lock(monkeypatch, tmp_path) -> None:
    stale = tmp_path / "requirements.lock"
    stale.write_text(requests.LOCK_FILE.read_text().replace("papermill==2.7.0", "papermill==2.6.0"))
    monkeypatch.setattr(requests, "LOCK_FILE", stale)


# Each case: how the account or the settings are broken, and what the one message says.
FAILURES = {
    "no credentials": (
        lambda mp, tmp: [mp.delenv(v) for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")],
        "preflight credentials: no AWS credentials found",
    ),
    "not a SageMaker region": (
        lambda mp, tmp: mp.setenv("AWS_REGION", "mars-north-1"),
        "region 'mars-north-1' (AWS_REGION) is not one where SageMaker runs",
    ),
    "role not trusted by SageMaker": (
        lambda mp, tmp: untrusted_role(mp),
        "is not trusted by sagemaker.amazonaws.com",
    ),
    "role ARN of another account": (
        lambda mp, tmp: mp.setenv(
            "SAGEMAKER_ROLE", f"arn:aws:iam::{OTHER_ACCOUNT}:role/msl-study-processing"
        ),
        "is not the role of that name in this account",
    ),
    "no such bucket": (
        lambda mp, tmp: mp.setenv("SAGEMAKER_BUCKET", "msl-study-nowhere"),
        "bucket 'msl-study-nowhere' (SAGEMAKER_BUCKET) does not exist: create it",
    ),
    "bucket in another region": (
        lambda mp, tmp: bucket_elsewhere(mp),
        "bucket 'msl-study-eu' is in eu-west-1, the jobs in us-east-1",
    ),
    "bucket of another account": (
        lambda mp, tmp: (
            other_account_bucket("msl-study-theirs"),
            mp.setenv("SAGEMAKER_BUCKET", "msl-study-theirs"),
        ),
        "bucket 'msl-study-theirs' (SAGEMAKER_BUCKET) belongs to another account",
    ),
    "image not in ECR": (
        lambda mp, tmp: mp.setenv(
            "SAGEMAKER_IMAGE", "123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-study:gone-py312"
        ),
        "does not exist (ImageNotFoundException): push it to ECR in us-east-1",
    ),
    "image in another region": (
        lambda mp, tmp: mp.setenv(
            "SAGEMAKER_IMAGE", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/msl-study:x-py312"
        ),
        "is in eu-west-1, the jobs in us-east-1",
    ),
    "AWS image that AWS does not publish": (
        lambda mp, tmp: mp.setenv(
            "SAGEMAKER_IMAGE",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.99-gpu-py312",
        ),
        "AWS publishes no image",
    ),
    "stale lock": (
        lambda mp, tmp: stale_lock(mp, tmp),
        "does not lock papermill==2.7.0 as pyproject.toml pins it: run `make lock`",
    ),
    "image Python unknown": (
        lambda mp, tmp: mp.setenv(
            "SAGEMAKER_IMAGE", "123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-plain:test"
        ),
        "is unknown (no py3NN in its tag): set SAGEMAKER_IMAGE_PYTHON",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_each_check_fails_on_its_own_case(aws, tiny_msl, monkeypatch, tmp_path, capsys, case):
    if case == "image Python unknown":
        prepare_account(REGION, None, "123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-plain:test")
    breaks, expected = FAILURES[case]
    breaks(monkeypatch, tmp_path)
    assert main(["preflight", "--backend", "sagemaker"]) == 2
    captured = capsys.readouterr()
    (line,) = errors(captured.err)
    assert expected in line, line
    assert "FAIL" in captured.out and "Traceback" not in captured.err
    # The run stops at the same check, before anything reaches the bucket.
    assert main([*RUN, str(tiny_msl)]) == 2
    assert errors(capsys.readouterr().err) == [line]
    assert keys(aws, "") == []


def test_a_quota_of_zero_says_which_quota_and_how_to_ask(aws, quotas, tiny_msl, capsys):
    name = f"{INSTANCE} for processing job usage"
    quotas.quotas[name] = 0
    assert main([*RUN, str(tiny_msl)]) == 2
    (line,) = errors(capsys.readouterr().err)
    code = quotas.code(name)
    assert f"the account's quota '{name}' ({code}) is 0 in {REGION}" in line
    assert f"--service-code sagemaker --quota-code {code} --desired-value 4" in line
    assert keys(aws, "") == []


def test_a_py310_image_is_refused_before_submission(aws, tiny_msl, monkeypatch, capsys):
    """SAGEMAKER_TF_VERSION=2.16 selects AWS's py310 image; the lock holds cp312 wheels, which
    pip would refuse inside a job that is already billing: refused by preflight, and by the
    backend itself when started without it, before any upload."""
    monkeypatch.delenv("SAGEMAKER_IMAGE")
    monkeypatch.setenv("SAGEMAKER_TF_VERSION", "2.16")
    assert main([*RUN, str(tiny_msl)]) == 2
    (line,) = errors(capsys.readouterr().err)
    assert "-py310 runs Python 3.10, the lock's wheels are for Python 3.12" in line
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    with pytest.raises(sm.ConfigError, match=r"runs Python 3\.10, .* nothing was submitted"):
        backend.start([], {}, lambda _: None)
    assert keys(aws, "") == []


def test_the_local_backend_needs_no_preflight(capsys):
    assert main(["preflight", "--backend", "local"]) == 0
    assert "nothing to check" in capsys.readouterr().out
