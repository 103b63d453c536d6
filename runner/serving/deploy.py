"""Deploying one run's model: its SavedModel to S3, then Model -> EndpointConfig -> Endpoint."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from runner.backends import sagemaker as sm
from runner.serving import export, predict
from runner.serving.aws import NAME_MAX, VARIANT, ServeError, endpoint_name
from runner.serving.endpoints import Endpoints


def deploy(
    api: Endpoints,
    artifact: predict.Artifact,
    settings: sm.Settings,
    image: str,
    instance_type: str | None = None,
    memory_mb: int = 2048,
    max_concurrency: int = 2,
    wait_s: float = 1800,
    name: str | None = None,
    log=print,
) -> dict:
    """Create the endpoint of `artifact` and wait until it is InService; what was created."""
    name = name or endpoint_name(settings.prefix, artifact.profile, artifact.run)
    existing = api.describe(name)
    if existing:
        raise ServeError(
            f"endpoint {name} already exists in {api.region} "
            f"({existing.get('EndpointStatus')}); remove it first with `python -m runner "
            f"undeploy --run {artifact.run} --profile {artifact.profile}`",
            2,
        )
    sha = export.sha256(artifact.file)
    key = f"{settings.prefix}/models/{artifact.profile}/{artifact.run}/{sha[:16]}/model.tar.gz"
    with tempfile.TemporaryDirectory(prefix="msl-export-") as work:
        tarball = export.package(artifact, Path(work))
        log(
            f"deploy: {artifact.file} as a TensorFlow Serving SavedModel -> s3://"
            f"{settings.bucket}/{key} ({tarball.stat().st_size / 1e6:.1f} MB)"
        )
        from botocore.config import Config

        retries = Config(retries={"mode": "standard", "max_attempts": 5})
        s3 = api.session.client("s3", config=retries)
        sm.expect_owner(s3, settings.bucket_owner)
        with open(tarball, "rb") as body:
            api.call(s3, "PutObject", Bucket=settings.bucket, Key=key, Body=body)
    serving = instance_type or f"serverless {memory_mb} MB"
    tags = _tags(artifact, name, serving, sha)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    part = f"{name[: NAME_MAX - len(stamp) - 1].rstrip('-')}-{stamp}"
    api.call(
        api.sm,
        "CreateModel",
        ModelName=part,
        ExecutionRoleArn=api.role_arn(settings.role),
        PrimaryContainer={"Image": image, "ModelDataUrl": f"s3://{settings.bucket}/{key}"},
        Tags=tags,
    )
    config = endpoint_config_request(part, part, tags, instance_type, memory_mb, max_concurrency)
    api.call(api.sm, "CreateEndpointConfig", **config)
    api.call(api.sm, "CreateEndpoint", EndpointName=name, EndpointConfigName=part, Tags=tags)
    log(f"deploy: creating endpoint {name} ({serving}, image {image}) in {api.region}")
    described = api.wait(name, wait_s, log)
    return {
        "endpoint": name,
        "model": part,
        "config": part,
        "status": "InService",
        "model_data": f"s3://{settings.bucket}/{key}",
        "serving": serving,
        "arn": described.get("EndpointArn"),
    }


def endpoint_config_request(
    name: str,
    model: str,
    tags: list[dict],
    instance_type: str | None = None,
    memory_mb: int = 2048,
    max_concurrency: int = 2,
) -> dict:
    """The CreateEndpointConfig request: one variant, on a real-time instance or serverless
    (never both). Pure: the tests check it against the service's rules (tests/aws_rules.py)."""
    variant: dict = {"VariantName": VARIANT, "ModelName": model}
    if instance_type:
        variant.update(InstanceType=instance_type, InitialInstanceCount=1)
    else:
        variant["ServerlessConfig"] = {
            "MemorySizeInMB": memory_mb,
            "MaxConcurrency": max_concurrency,
        }
    return {"EndpointConfigName": name, "ProductionVariants": [variant], "Tags": tags}


def _tags(artifact: predict.Artifact, name: str, serving: str, sha: str) -> list[dict]:
    values = {
        "endpoint": name,
        "run": artifact.run,
        "profile": artifact.profile,
        "model-sha256": sha[:16],
        "serving": serving,
    }
    return [{"Key": f"{sm.TAG}{k}", "Value": v} for k, v in values.items()]
