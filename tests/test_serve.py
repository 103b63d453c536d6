"""deploy / invoke / undeploy / endpoints against a local moto server (nothing but 127.0.0.1).

Every request goes through the real boto3 clients to the moto server; the tests read back what
moto recorded. Moto creates endpoints InService at once and answers InvokeEndpoint with canned
bodies (set through its /moto-api), so the tests assert the request, its content type and the
parsing of a well-formed TensorFlow Serving answer. The states AWS can be in and moto cannot
(a failed endpoint, a refused permission) are put into the answer through botocore's own event
hooks on the session the commands use.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tarfile
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest

from analysis import paths
from analysis.data.cache import PREPROCESSING, decode_image
from analysis.models import networks as models
from runner.__main__ import main
from runner.serving import aws as serving_aws
from runner.serving import predict
from runner.serving.aws import BODY_LIMIT, ServeError
from runner.serving.endpoints import batches

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("loopback_only", "aws_rules")]

REGION = "us-east-1"
BUCKET = "msl-serve-test-bucket"
PREFIX = "serve-test"
ROLE = "arn:aws:iam::123456789012:role/msl-study-serving"
SIZE = 32
CLASS_IDS = [*range(22), 23, 24]
NAME = f"{PREFIX}-smoke-cnn"  # the endpoint's name: <prefix>-<profile>-<run>


@pytest.fixture(scope="module")
def artifact_dir(tmp_path_factory):
    """A real model.keras and model.json in the contract's layout (an untrained network of
    the smoke profile's size: the tests need its file, not its accuracy)."""
    results = tmp_path_factory.mktemp("serve-results")
    folder = results / "smoke" / "cnn"
    folder.mkdir(parents=True)
    model = models.build_cnn(SIZE, len(CLASS_IDS), (3, 3, 3, 3), seed=0)
    model.save(folder / "model.keras")
    info = {
        "file": "model.keras",
        "seed": 0,
        "class_ids": CLASS_IDS,
        "class_names": [f"class {c}" for c in CLASS_IDS],
        "image_size": SIZE,
        "preprocessing": PREPROCESSING,
        "permute_pixels": False,
    }
    (folder / "model.json").write_text(json.dumps(info))
    return results


@pytest.fixture
def aws(moto_endpoint, artifact_dir, monkeypatch, tmp_path):
    """Settings in the environment, every client pointed at moto with an empty state, and the
    parameters of every request the commands send (by operation)."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "SAGEMAKER_")):
            monkeypatch.delenv(var)
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "AKIATESTINGONLY",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_ROLE": ROLE,
        "SAGEMAKER_BUCKET": BUCKET,
        "SAGEMAKER_PREFIX": PREFIX,
        "SAGEMAKER_POLL_SECONDS": "0",
        "RESULTS_DIR": str(artifact_dir),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).read()
    import boto3

    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    sent: dict[str, list] = {}
    hooks: list[tuple[str, object]] = []
    real_session = serving_aws.boto_session

    def session(region):
        s = real_session(region)

        def record(params, model, **_):
            sent.setdefault(model.name, []).append(params)

        s.events.register("provide-client-params", record)
        for event, hook in hooks:
            s.events.register(event, hook)
        return s

    monkeypatch.setattr(serving_aws, "boto_session", session)
    return SimpleNamespace(
        sent=sent,
        hooks=hooks,
        sm=boto3.client("sagemaker", region_name=REGION),
        s3=boto3.client("s3", region_name=REGION),
    )


def canned(moto_endpoint: str, *bodies: str) -> None:
    """The next InvokeEndpoint answers, in order (moto's queue)."""
    results = [
        {"Body": b, "ContentType": "application/json", "InvokedProductionVariant": "AllTraffic"}
        for b in bodies
    ]
    request = urllib.request.Request(
        f"{moto_endpoint}/moto-api/static/sagemaker/endpoint-results",
        data=json.dumps({"region": REGION, "results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).read()


@pytest.fixture(scope="module")
def images(real_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("invoke-images")
    lines = (real_data / paths.SPLIT_FILES["test"]).read_text().split("\n")[:3]
    for line in lines:
        shutil.copy(real_data / line.split()[0], folder)
    return sorted(folder.iterdir())


def test_serving_image_through_the_sdk():
    cpu = serving_aws.serving_image("eu-west-1", None, "2.21")
    gpu = serving_aws.serving_image("eu-west-1", "ml.g5.xlarge", "2.21")
    # AWS publishes TensorFlow Serving images up to 2.20: the newest not above the model's.
    assert re.fullmatch(
        r"\d+\.dkr\.ecr\.eu-west-1\.amazonaws\.com/tensorflow-inference:2\.20-cpu-py3\d+", cpu
    ), cpu
    assert gpu == cpu.replace("-cpu-", "-gpu-")
    assert serving_aws.serving_image("eu-west-1", None, "2.19").split(":")[1].startswith("2.19-cpu")


def test_deploy_invoke_list_undeploy(aws, aws_rules, moto_endpoint, images, capsys):
    # Moto's endpoint is InService at once; a real one is Creating for minutes first.
    creating = iter(["Creating", "Creating"])

    def still_creating(parsed, **_):
        if parsed.get("EndpointStatus") == "InService":
            parsed["EndpointStatus"] = next(creating, "InService")

    aws.hooks.append(("after-call.sagemaker.DescribeEndpoint", still_creating))
    assert main(["deploy", "--profile", "smoke"]) == 0
    aws.hooks.clear()
    out = capsys.readouterr().out
    assert f"as endpoint {NAME} (serverless 2048 MB)" in out
    waited = [line.split(" after ")[0].strip() for line in out.splitlines() if " after " in line]
    assert waited == [f"{NAME}: Creating", f"{NAME}: InService"]

    (put,) = aws.sent["PutObject"]
    key = put["Key"]
    assert put["ExpectedBucketOwner"] == "123456789012"  # the role's account
    assert re.fullmatch(rf"{PREFIX}/models/smoke/cnn/[0-9a-f]{{16}}/model\.tar\.gz", key)
    body = aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert "1/saved_model.pb" in tar.getnames()

    (model,) = aws.sent["CreateModel"]
    part = model["ModelName"]
    assert re.fullmatch(rf"{NAME}-\d{{8}}-\d{{6}}", part)
    image = model["PrimaryContainer"]["Image"]
    assert re.fullmatch(
        r"\d+\.dkr\.ecr\.us-east-1\.amazonaws\.com/tensorflow-inference:.+-cpu-py3\d+", image
    )
    assert model["ExecutionRoleArn"] == ROLE
    assert model["PrimaryContainer"] == {"Image": image, "ModelDataUrl": f"s3://{BUCKET}/{key}"}
    tags = {t["Key"]: t["Value"] for t in model["Tags"]}
    assert tags["msl-study:endpoint"] == NAME
    assert (tags["msl-study:run"], tags["msl-study:profile"]) == ("cnn", "smoke")
    assert tags["msl-study:serving"] == "serverless 2048 MB"
    assert aws.sent["CreateEndpointConfig"] == [
        {
            "EndpointConfigName": part,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": part,
                    "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 2},
                }
            ],
            "Tags": model["Tags"],
        }
    ]
    assert aws.sent["CreateEndpoint"] == [
        {"EndpointName": NAME, "EndpointConfigName": part, "Tags": model["Tags"]}
    ]

    # A second deploy onto the live endpoint is refused, naming the way out.
    assert main(["deploy", "--profile", "smoke"]) == 2
    assert f"endpoint {NAME} already exists" in capsys.readouterr().err

    assert main(["endpoints"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 1 and listed[0].startswith(f"{NAME}  InService  smoke/cnn  serverless")

    # invoke: the request is TensorFlow Serving JSON of the decoded images.
    artifact = predict.find("cnn", "smoke")
    x = np.stack([decode_image(f, SIZE)[0] for f in images])
    local = artifact.probabilities(x)
    # Not the local model's own numbers: the two least likely classes of each image move by
    # 0.0004, within the 0.001 the comparison allows.
    near = local.copy()
    low = np.argsort(local, axis=1)[:, :2]
    rows = np.arange(len(near))
    near[rows, low[:, 0]] += 4e-4
    near[rows, low[:, 1]] -= min(4e-4, float(local[rows, low[:, 1]].min()))
    assert not np.array_equal(near, local)
    canned(moto_endpoint, json.dumps({"predictions": near.tolist()}))
    assert main(["invoke", *map(str, images), "--profile", "smoke"]) == 0
    out = capsys.readouterr().out.splitlines()
    (request,) = aws.sent["InvokeEndpoint"]
    assert (request["EndpointName"], request["ContentType"], request["Accept"]) == (
        NAME,
        "application/json",
        "application/json",
    )
    sent = json.loads(request["Body"])
    assert list(sent) == ["instances"]
    assert np.array_equal(np.asarray(sent["instances"], dtype="float32"), x.astype("float32"))
    tops = predict.top_k(local, artifact, 3)
    assert out[:3] == [predict.line(f, t) for f, t in zip(images, tops, strict=True)]
    assert out[3] == "the endpoint's answers match the local model's (3 image(s))"

    # An answer that differs from the local model's is said, image by image.
    other = np.roll(local[:2], 1, axis=1)
    canned(moto_endpoint, json.dumps({"predictions": other.tolist()}))
    assert main(["invoke", *map(str, images[:2]), "--profile", "smoke", "--top", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("differs: ") for line in out[2:])
    assert str(images[0]) in out[2] and str(images[1]) in out[3]

    # An answer that is not TensorFlow Serving's: one error, exit 1.
    canned(moto_endpoint, "<html>oops</html>")
    assert main(["invoke", str(images[2]), "--profile", "smoke"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: endpoint {NAME} did not answer")

    assert main(["undeploy", "--profile", "smoke"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"deleted endpoint {NAME}, endpoint configuration {part}, model {part}"
    )
    assert aws.sm.list_endpoints()["Endpoints"] == []
    assert aws.sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert aws.sm.list_models()["Models"] == []
    # Safe to repeat.
    assert main(["undeploy", "--profile", "smoke"]) == 0
    assert capsys.readouterr().out.startswith("nothing to delete: no endpoint, configuration")
    assert main(["endpoints"]) == 0
    assert capsys.readouterr().out.strip() == f"no endpoints of this project in {REGION}"
    # What the commands called, each granted by the README's caller policy (aws_rules).
    called = {op for _, op in aws_rules.calls()}
    assert {"PutObject", "CreateModel", "InvokeEndpoint", "DeleteModel", "ListTags"} <= called


def test_real_time_instance_and_a_failed_endpoint(aws, capsys):
    reason = "The primary container for production variant AllTraffic did not pass the ping"

    def failed(parsed, **_):
        parsed.update(EndpointStatus="Failed", FailureReason=reason)

    aws.hooks.append(("after-call.sagemaker.DescribeEndpoint", failed))
    assert main(["deploy", "--profile", "smoke", "--instance-type", "ml.c5.large"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: endpoint {NAME} Failed: {reason}; its configuration and model are kept for "
        "inspection: `python -m runner undeploy` removes them"
    ]
    (variant,) = aws.sent["CreateEndpointConfig"][0]["ProductionVariants"]
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": aws.sent["CreateModel"][0]["ModelName"],
        "InstanceType": "ml.c5.large",
        "InitialInstanceCount": 1,
    }
    aws.hooks.clear()
    assert main(["endpoints"]) == 0
    assert "ml.c5.large" in capsys.readouterr().out
    assert main(["undeploy", "--profile", "smoke"]) == 0
    assert aws.sm.list_models()["Models"] == []


def test_a_half_finished_deploy_is_cleaned_up_by_undeploy(aws, capsys):
    def refuse(**_):
        response = {"Error": {"Code": "ValidationException", "Message": "quota exceeded"}}
        return SimpleNamespace(status_code=400, headers={}), response

    aws.hooks.append(("before-call.sagemaker.CreateEndpoint", refuse))
    assert main(["deploy", "--profile", "smoke"]) == 1
    assert "sagemaker:CreateEndpoint failed: ValidationException" in capsys.readouterr().err
    assert len(aws.sm.list_models()["Models"]) == 1
    aws.hooks.clear()
    assert main(["endpoints"]) == 0
    assert capsys.readouterr().out.count("left over (no endpoint)") == 2
    assert main(["undeploy", "--profile", "smoke"]) == 0
    assert capsys.readouterr().out.startswith("deleted endpoint configuration")
    assert aws.sm.list_models()["Models"] == []
    assert aws.sm.list_endpoint_configs()["EndpointConfigs"] == []


def test_missing_permission_is_one_message(aws, capsys):
    def denied(**_):
        response = {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:iam::123456789012:user/x is not authorized to perform: "
                "sagemaker:CreateModel",
            }
        }
        return SimpleNamespace(status_code=400, headers={}), response

    aws.hooks.append(("before-call.sagemaker.CreateModel", denied))
    assert main(["deploy", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: AWS denied sagemaker:CreateModel (AccessDeniedException: ")
    assert err[0].endswith("the permissions listed in the README, 'Serve the model'")
    assert "CreateEndpoint" not in aws.sent


def test_no_artifact_and_no_settings_are_bad_input(aws, aws_rules, monkeypatch, capsys):
    assert main(["deploy", "--run", "baseline", "--profile", "smoke"]) == 2
    assert "has no model artifact" in capsys.readouterr().err
    monkeypatch.delenv("SAGEMAKER_ROLE")
    assert main(["deploy", "--profile", "smoke"]) == 2
    assert "SAGEMAKER_ROLE" in capsys.readouterr().err
    assert not aws.sent and not aws_rules.calls()  # no client of the runner called AWS


def prepared(real_data, size: int, count: int):
    """A dark (all-zero) image, then `count` real test images at `size` px, as invoke sends."""
    lines = (real_data / paths.SPLIT_FILES["test"]).read_text().split("\n")[:count]
    files = [real_data / line.split()[0] for line in lines]
    x, files, errors = predict.decode(files, size)
    assert not errors
    return np.concatenate([np.zeros_like(x[:1]), x]), ["dark.png", *files]


@pytest.mark.parametrize("size,count", [(48, 120), (128, 24)])
def test_invoke_batches_stay_under_the_limit(real_data, size, count):
    x, files = prepared(real_data, size, count)
    bodies = list(batches(x, files))
    assert [b[0] for b in bodies] == [0] + [b[1] for b in bodies[:-1]] and bodies[-1][1] == len(x)
    assert len(bodies) > 1
    sizes = [len(body) for _, _, body in bodies]
    assert max(sizes) <= BODY_LIMIT < 4_000_000, sizes
    sent = np.concatenate([np.asarray(json.loads(b)["instances"]) for _, _, b in bodies])
    assert np.array_equal(sent, x.astype("float32"))
    # Sized from the dark first image alone, as before, the first request would be too big.
    per_image = len(json.dumps(x[0].astype("float32").tolist())) + 2
    first = json.dumps(
        {"instances": x[: (4_000_000 - 100) // per_image].astype("float32").tolist()}
    )
    assert len(first) > 4_000_000


def test_one_image_over_the_limit_is_named():
    x = np.zeros((2, 460, 460, 3), "uint8")  # dark: "0.0" fits; bright: "255.0" does not
    x[1] = 255
    assert len(next(batches(x[:1]))[2]) < BODY_LIMIT
    with pytest.raises(ServeError) as info:
        list(batches(x, ["dark.jpg", "bright.jpg"]))
    assert str(info.value).startswith("bright.jpg: its request alone would be 4")
    assert info.value.code == 2


def test_max_concurrency_is_checked_before_anything_is_sent(aws, aws_rules, capsys):
    for value in ("0", "201", "500"):
        assert main(["deploy", "--profile", "smoke", "--max-concurrency", value]) == 2
        err = capsys.readouterr().err
        assert f"--max-concurrency {value}: a serverless endpoint takes 1 to 200" in err
    assert not aws.sent and not aws_rules.calls()


def test_lists_are_filtered_by_the_name_prefix(aws, capsys):
    """Another team's model and configuration in the account: never listed in full, never
    looked at (no ListTags), never deleted; ours (as a deploy that failed half-way left them)
    are found and deleted."""
    role = "arn:aws:iam::123456789012:role/other"
    container = {"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"}
    ours = [{"Key": "msl-study:endpoint", "Value": NAME}]
    for model, tags in (("other-team-model", []), (f"{NAME}-20260101-120000", ours)):
        aws.sm.create_model(
            ModelName=model, ExecutionRoleArn=role, PrimaryContainer=container, Tags=tags
        )
        aws.sm.create_endpoint_config(
            EndpointConfigName=model,
            ProductionVariants=[
                {"VariantName": "v", "ModelName": model, "InstanceType": "ml.c5.large"}
            ],
            Tags=tags,
        )
    assert main(["endpoints"]) == 0
    assert capsys.readouterr().out.count("left over (no endpoint)") == 2
    assert main(["undeploy", "--profile", "smoke"]) == 0
    assert capsys.readouterr().out.startswith("deleted endpoint configuration")
    for op in ("ListEndpoints", "ListEndpointConfigs", "ListModels"):
        assert aws.sent[op] and all(p["NameContains"] == PREFIX for p in aws.sent[op]), op
    looked_at = [p["ResourceArn"] for p in aws.sent["ListTags"]]
    assert looked_at and not [arn for arn in looked_at if "other-team" in arn]
    assert [m["ModelName"] for m in aws.sm.list_models()["Models"]] == ["other-team-model"]


def test_clients_retry_and_wait_out_a_cold_start(aws):
    from runner.serving.endpoints import Endpoints

    api = Endpoints(REGION, PREFIX)
    for client in (api.sm, api.runtime):
        assert client.meta.config.retries["mode"] == "standard"
    assert api.runtime.meta.config.read_timeout == serving_aws.INVOKE_READ_TIMEOUT_S > 60
