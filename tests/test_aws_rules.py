"""The request check (tests/aws_rules.py) refuses what SageMaker would refuse and moto accepts.

Each invalid request starts from the runner's own pure builders (the CreateProcessingJob and
CreateEndpointConfig requests it sends), changes one thing, and is sent by a real boto3 client
to the moto server: the check refuses it with a ValidationException naming the field. The same
request with the check switched off reaches moto, which accepts it: without the check no test
could tell. The unchanged requests pass the check and moto.
"""

from __future__ import annotations

import copy
import os
import urllib.request

import pytest
from botocore.exceptions import ClientError

from runner.backends import sagemaker as sm
from runner.serving.deploy import endpoint_config_request
from tests import aws_rules as rules

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("loopback_only", "aws_rules")]

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/msl-study-processing"
SETTINGS = sm.Settings(
    role=ROLE,
    bucket="msl-rules-bucket",
    region=REGION,
    image="123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-study:test",
    instance_type="ml.g5.xlarge",
    prefix="rules",
)
TAGS = {"run": "cnn", "profile": "smoke", "fingerprint": "fp1", "code-version": "v1"}


@pytest.fixture
def client(moto_endpoint, monkeypatch, tmp_path):
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var)
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "AKIATESTINGONLY",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).read()
    import boto3

    session = boto3.Session(region_name=REGION)
    return lambda service: session.client(service, region_name=REGION)


def unchecked(client):
    """The same client without the request check: what moto alone accepts."""
    client.meta.events.unregister("before-parameter-build.*.*", rules.before_parameter_build)
    return client


def processing_job(name: str = "msl-smoke-cnn-20260101-120000-a1b2c3") -> dict:
    data = f"s3://{SETTINGS.bucket}/{SETTINGS.prefix}/data/abc/"
    return sm.processing_job_request(SETTINGS, name, "model.ipynb", data, TAGS)


def set_path(request: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(request)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def duplicate_input(request: dict) -> dict:
    out = copy.deepcopy(request)
    out["ProcessingInputs"][1]["InputName"] = "code"
    return out


INVALID_JOBS = {
    "volume 99999 GB": (
        lambda r: set_path(r, ("ProcessingResources", "ClusterConfig", "VolumeSizeInGB"), 99999),
        "VolumeSizeInGB: 99999 is above the maximum 16384",
    ),
    "max runtime 10^7 s": (
        lambda r: set_path(r, ("StoppingCondition", "MaxRuntimeInSeconds"), 10**7),
        "MaxRuntimeInSeconds: 10000000 is above the maximum 777600",
    ),
    "instance type ml.bogus.huge": (
        lambda r: set_path(
            r, ("ProcessingResources", "ClusterConfig", "InstanceType"), "ml.bogus.huge"
        ),
        "InstanceType: 'ml.bogus.huge' is not one of the",
    ),
    "local path /tmp/x": (
        lambda r: set_path(r, ("ProcessingInputs", 0, "S3Input", "LocalPath"), "/tmp/x"),
        "LocalPath '/tmp/x': must be under /opt/ml/processing/",
    ),
    "upload mode Whenever": (
        lambda r: set_path(
            r, ("ProcessingOutputConfig", "Outputs", 0, "S3Output", "S3UploadMode"), "Whenever"
        ),
        "S3UploadMode: 'Whenever' is not one of the 2 allowed values",
    ),
    "S3 URI not-an-uri": (
        lambda r: set_path(r, ("ProcessingInputs", 2, "S3Input", "S3Uri"), "not-an-uri"),
        "S3Uri: 'not-an-uri' does not match",
    ),
    "tag value a*b,c": (
        lambda r: set_path(r, ("Tags", 0, "Value"), "a*b,c"),
        "Tags[0].Value: 'a*b,c' does not match",
    ),
    "duplicate input name": (
        duplicate_input,
        "input name 'code' is used more than once",
    ),
    "tag key with the reserved aws: prefix": (
        lambda r: set_path(r, ("Tags", 0, "Key"), "aws:run"),
        "Tags key 'aws:run': the prefix 'aws:' is reserved for AWS",
    ),
    "tag key twice": (
        lambda r: set_path(r, ("Tags", 1, "Key"), r["Tags"][0]["Key"]),
        "Tags key 'msl-study:run' is used more than once",
    ),
    "local path twice": (
        lambda r: set_path(
            r, ("ProcessingInputs", 1, "S3Input", "LocalPath"), "/opt/ml/processing/input/code"
        ),
        "LocalPath '/opt/ml/processing/input/code' is used more than once",
    ),
    "local path with ..": (
        lambda r: set_path(
            r, ("ProcessingInputs", 2, "S3Input", "LocalPath"), "/opt/ml/processing/../data"
        ),
        "LocalPath '/opt/ml/processing/../data': '..' is not allowed",
    ),
    "job name bad_name!": (
        lambda r: set_path(r, ("ProcessingJobName",), "bad_name!"),
        "ProcessingJobName: 'bad_name!' does not match",
    ),
}


def refused(check, send, expected: str) -> None:
    with pytest.raises(ClientError) as info:
        send()
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert expected in info.value.response["Error"]["Message"]
    (entry,) = check.take()
    assert any(expected in p for p in entry["problems"]), entry


def test_the_runners_processing_job_request_passes(client, aws_rules):
    sagemaker = client("sagemaker")
    sagemaker.create_processing_job(**processing_job())
    assert aws_rules.take() == []


@pytest.mark.parametrize("case", sorted(INVALID_JOBS))
def test_an_invalid_processing_job_is_refused(client, aws_rules, case):
    change, expected = INVALID_JOBS[case]
    request = change(processing_job())
    refused(aws_rules, lambda: client("sagemaker").create_processing_job(**request), expected)
    # moto alone takes it (a fresh name: the refused one was never created).
    name = "msl-unchecked-20260101-120000-a1b2c3"
    if case != "job name bad_name!":
        request["ProcessingJobName"] = name
    unchecked(client("sagemaker")).create_processing_job(**request)


def with_model(client):
    """A SageMaker client, and the model the endpoint configurations name (moto checks it)."""
    sagemaker = client("sagemaker")
    sagemaker.create_model(
        ModelName="msl-study-smoke-cnn-1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": SETTINGS.image, "ModelDataUrl": "s3://b/m/model.tar.gz"},
    )
    return sagemaker


def endpoint_config(**changes) -> dict:
    tags = [{"Key": "msl-study:endpoint", "Value": "msl-study-smoke-cnn"}]
    return endpoint_config_request(
        "msl-study-smoke-cnn-1", "msl-study-smoke-cnn-1", tags, **changes
    )


def test_the_runners_endpoint_configs_pass(client, aws_rules):
    sagemaker = with_model(client)
    sagemaker.create_endpoint_config(**endpoint_config())
    real_time = endpoint_config(instance_type="ml.c5.large")
    real_time["EndpointConfigName"] += "-rt"
    sagemaker.create_endpoint_config(**real_time)
    assert aws_rules.take() == []


def test_max_concurrency_500_is_refused(client, aws_rules):
    with_model(client)
    request = endpoint_config(max_concurrency=500)
    send = lambda: client("sagemaker").create_endpoint_config(**request)  # noqa: E731
    refused(aws_rules, send, "MaxConcurrency: 500 is above the maximum 200")
    unchecked(client("sagemaker")).create_endpoint_config(**request)


def test_serverless_memory_off_the_1_gb_steps_is_refused(client, aws_rules):
    with_model(client)
    request = endpoint_config(memory_mb=1500)
    send = lambda: client("sagemaker").create_endpoint_config(**request)  # noqa: E731
    refused(aws_rules, send, "MemorySizeInMB 1500: must be a multiple of 1024")
    # This moto refuses it as well; the check refuses it first, whatever the server does.
    with pytest.raises(ClientError, match="enum value set"):
        unchecked(client("sagemaker")).create_endpoint_config(**request)


def test_serverless_with_an_instance_type_is_refused(client, aws_rules):
    with_model(client)
    request = endpoint_config()
    request["ProductionVariants"][0]["InstanceType"] = "ml.c5.large"
    send = lambda: client("sagemaker").create_endpoint_config(**request)  # noqa: E731
    refused(aws_rules, send, "ServerlessConfig excludes InstanceType")
    unchecked(client("sagemaker")).create_endpoint_config(**request)


@pytest.mark.parametrize("megabytes", [4.5, 5.5])
def test_an_invoke_body_over_4_mb_is_refused(client, aws_rules, megabytes):
    body = b"[" + b"0" * int(megabytes * 1_000_000) + b"]"
    runtime = client("sagemaker-runtime")
    send = lambda: runtime.invoke_endpoint(  # noqa: E731
        EndpointName="msl-study-smoke-cnn", ContentType="application/json", Body=body
    )
    refused(aws_rules, send, f"Body: {len(body)} bytes, above the 4000000-byte limit")


def test_an_invoke_body_of_4_mb_less_a_byte_passes_the_check():
    model = rules.operation("sagemaker-runtime", "InvokeEndpoint")
    params = {"EndpointName": "msl-study-smoke-cnn", "Body": b"0" * (rules.INVOKE_BODY_MAX - 1)}
    assert rules.problems(model, params) == []
    params["Body"] += b"00"
    assert rules.problems(model, params)


def test_letters_digits_and_spaces_are_valid_tag_characters():
    model = rules.operation("sagemaker", "AddTags")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"
    ok = [{"Key": "msl-study:serving", "Value": "serverless 2048 MB é/ü_1.2=+-@"}]
    assert rules.problems(model, {"ResourceArn": arn, "Tags": ok}) == []
    for bad in ("a*b", "a,b", "a;b", "a#b"):
        tags = [{"Key": "k", "Value": bad}]
        assert rules.problems(model, {"ResourceArn": arn, "Tags": tags}), bad


def test_the_caller_policy_is_checked_action_by_action():
    caller = rules.granted(rules.readme_policies()["caller"])
    assert rules.allows(caller, "sagemaker:CreateProcessingJob")
    assert rules.allows(caller, rules.iam_action("s3", "ListObjectsV2"))
    assert not rules.allows(caller, "sagemaker:DeleteDomain")
    assert not rules.allows(caller, "s3:DeleteBucket")
    assert not any("*" in a.split(":")[1] for a in caller), "no wildcard actions"
    passrole = [
        st
        for st in rules.readme_policies()["caller"]["Statement"]
        if st["Action"] == "iam:PassRole"
    ]
    (statement,) = passrole
    assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == (
        "sagemaker.amazonaws.com"
    )
    trust = rules.readme_policies()["trust"]["Statement"][0]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    readme = (rules.ROOT / "README.md").read_text()
    assert "AmazonSageMakerFullAccess" not in readme.replace(
        "Do not use `AmazonSageMakerFullAccess`", ""
    )


def test_every_sagemaker_test_module_runs_the_check():
    """A module marked `sagemaker` (the AWS tests) uses the aws_rules fixture for all its tests."""
    modules = [
        f
        for f in sorted((rules.ROOT / "tests").glob("test_*.py"))
        if "pytest.mark.sagemaker" in f.read_text()
    ]
    assert len(modules) >= 4
    for f in modules:
        marks = [line for line in f.read_text().splitlines() if line.startswith("pytestmark")]
        assert marks and '"aws_rules"' in marks[0], f.name
