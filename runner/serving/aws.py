"""Serving's AWS settings: the session, the region, endpoint names, the serving image."""

from __future__ import annotations

import os
import re

from runner.backends import sagemaker as sm

SERVING_IMAGE_ENV = "SAGEMAKER_SERVING_IMAGE"
MAX_CONCURRENCY = (1, 200)  # ServerlessConfig.MaxConcurrency
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
VARIANT = "AllTraffic"
REQUEST_BYTES = 4_000_000  # a serverless request carries at most 4 MB (real-time: 6 MB)
# A serverless endpoint's cold start can take tens of seconds: invoke waits this long for an
# answer before botocore gives up (its default, 60 s, would re-send the request silently).
INVOKE_READ_TIMEOUT_S = 180
BODY_LIMIT = REQUEST_BYTES - 100_000  # what invoke sends at most: a 100 kB margin under it
NAME_MAX = 63
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "NotAuthorized"}
TAG_KEY = f"{sm.TAG}endpoint"  # every resource deploy creates carries it; `endpoints` reads it


class ServeError(Exception):
    """One message, and the exit status: 2 bad input or settings, 1 AWS refused or failed."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def clients(session, region: str) -> tuple:
    """(sagemaker, sagemaker-runtime): standard retries with backoff on both; invoke's read
    timeout above a serverless cold start, so a slow first answer is waited for, not re-sent."""
    from botocore.config import Config

    api = session.client(
        "sagemaker",
        region_name=region,
        config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10),
    )
    runtime = session.client(
        "sagemaker-runtime",
        region_name=region,
        config=Config(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=INVOKE_READ_TIMEOUT_S,
        ),
    )
    return api, runtime


def boto_session(region: str):
    """The one place AWS sessions are made (credentials are boto3's own)."""
    import boto3

    return boto3.Session(region_name=region)


def region_from_env(env=os.environ) -> str:
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = boto_session(None).region_name
        except ImportError:
            raise ServeError(
                "the endpoint commands need the AWS packages: `.venv/bin/pip install -e '.[aws]'`",
                2,
            ) from None
    if not region:
        raise ServeError("set AWS_REGION (or AWS_DEFAULT_REGION) to the SageMaker region", 2)
    return region


def prefix_from_env(env=os.environ) -> str:
    """SAGEMAKER_PREFIX (the S3 key prefix), checked as the jobs' settings check it."""
    prefix = str(env.get("SAGEMAKER_PREFIX") or sm.DEFAULT_PREFIX).strip("/") or sm.DEFAULT_PREFIX
    name_prefix(prefix)
    return prefix


def name_prefix(prefix: str) -> str:
    """The jobs' name prefix (sm.name_prefix); a bad prefix is exit 2, named."""
    try:
        return sm.name_prefix(prefix)
    except sm.ConfigError as exc:
        raise ServeError(str(exc), 2) from None


def endpoint_name(prefix: str, profile: str, run: str) -> str:
    rest = re.sub(r"[^a-zA-Z0-9]+", "-", f"{profile}-{run}").strip("-")
    return f"{name_prefix(prefix)}-{rest}"[:NAME_MAX].rstrip("-")


def serving_tf_version(tf_version: str | None = None) -> str:
    """The TensorFlow of AWS's TensorFlow Serving image the endpoint runs: the installed one's
    version, or the newest AWS publishes below it (a SavedModel of these layers loads in an
    older TensorFlow Serving: tests/test_serving_image.py loads the export in that version)."""
    want = tf_version or sm.tensorflow_version()

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split(".")[:2])

    try:
        from sagemaker.core import image_uris
    except ImportError:
        raise ServeError(
            "the endpoint commands need the AWS packages (the SDK knows each region's serving "
            f"image): `.venv/bin/pip install -e '.[aws]'`, or set {SERVING_IMAGE_ENV}",
            2,
        ) from None
    versions = image_uris.config_for_framework("tensorflow")["inference"]["versions"]
    usable = sorted({".".join(v.split(".")[:2]) for v in versions}, key=key)
    return max((v for v in usable if key(v) <= key(want)), key=key, default=usable[-1])


def serving_image(region: str, instance_type: str | None, tf_version: str | None = None) -> str:
    """AWS's TensorFlow Serving image for the region (serving_tf_version), resolved through the
    SDK's image table like the Processing image."""
    version = serving_tf_version(tf_version)
    # Serverless endpoints run on CPUs; a CPU instance family picks the CPU build.
    itype = instance_type or "ml.c5.large"
    from sagemaker.core import image_uris

    try:
        return image_uris.retrieve(
            "tensorflow",
            region=region,
            version=version,
            instance_type=itype,
            image_scope="inference",
        )
    except ValueError as exc:
        raise ServeError(
            f"no AWS TensorFlow Serving image for {itype} in {region} ({exc}); set "
            f"{SERVING_IMAGE_ENV} (or --image) to an image URI",
            2,
        ) from None
