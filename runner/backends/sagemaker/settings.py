"""The backend's settings: from the environment or CLI flags, checked, and the default image."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ConfigError

DEFAULT_MAX_JOBS = 4
# Jobs at once: each bills for as long as it runs; beyond this, a typo (--max-jobs 40) would
# start the whole plan at once. New accounts' quotas are far below it anyway.
MAX_JOBS_RANGE = (1, 16)
# API limits of CreateProcessingJob (ProcessingResources.ClusterConfig, StoppingCondition).
VOLUME_GB_RANGE = (1, 16384)
MAX_RUNTIME_RANGE = (1, 777600)
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_PREFIX = "msl-study"
# A SageMaker name (jobs, models, endpoints) and a NameContains filter take [a-zA-Z0-9-] only and
# at most 63 characters; the name prefix leaves the job name room for its profile, run and stamp.
NAME_PREFIX_MAX = 24
DEFAULT_TF_VERSION = "2.21"  # the project's pinned TensorFlow; AWS publishes 2.21 images
UPLOAD_THREADS = 16
TAG = "msl-study:"  # tag keys: msl-study:run, msl-study:profile, ...


@dataclass(frozen=True)
class Settings:
    role: str
    bucket: str
    region: str
    image: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    prefix: str = DEFAULT_PREFIX
    volume_gb: int = 30
    max_runtime_s: int = 0  # every job's limit (SAGEMAKER_MAX_RUNTIME); 0: its run's (runtime.py)
    poll_s: float = 30.0
    progress_s: float = 60.0
    pip_install: bool = True
    max_jobs: int = DEFAULT_MAX_JOBS
    retry_s: float = 15.0  # first backoff after a refusal; doubles up to retry_max_s
    retry_max_s: float = 300.0
    slot_wait_s: float = 3600.0  # how long to wait for a slot while none of our jobs runs
    # Throttled requests are retried for at most this long in all (a create, a job's describes).
    throttle_deadline_s: float = 1800.0
    resubmits: int = 2  # a job that failed with CapacityError or InternalServerError
    resubmit_stopped: bool = False  # a job found Stopped after a restart (--resubmit-stopped)
    bucket_owner: str = ""  # account ID every S3 call expects to own the bucket (or none)
    image_python: str = ""  # the image's Python (SAGEMAKER_IMAGE_PYTHON) when its tag lacks it

    @property
    def name_prefix(self) -> str:
        """The prefix as SageMaker names take it (jobs, models, endpoints, NameContains)."""
        return name_prefix(self.prefix)


def name_prefix(prefix: str) -> str:
    """SAGEMAKER_PREFIX as every SageMaker name starts with it: each run of characters other
    than letters and digits becomes one '-' (`team/msl_study` -> `team-msl-study`). The one
    place names are derived from the prefix, so the jobs, the endpoints, the NameContains
    filters that find them and the README's IAM patterns (`PREFIX-*`) all agree."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", str(prefix)).strip("-")
    if not name or len(name) > NAME_PREFIX_MAX:
        raise ConfigError(
            f"SAGEMAKER_PREFIX={prefix!r}: SageMaker names start with it as {name!r}, which "
            f"needs 1 to {NAME_PREFIX_MAX} letters, digits or '-' (a shorter prefix)"
        )
    return name


def _require_sdk() -> None:
    try:
        import boto3  # noqa: F401
        import sagemaker.core.processing  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the SageMaker backend needs the optional AWS packages ({exc.name} is missing): "
            "install them with `.venv/bin/pip install -e '.[aws]'`"
        ) from None


def _setting(
    name: str, env: Mapping[str, str], overrides: Mapping[str, Any], key: str, default=None
):
    value = overrides.get(key)
    if value is None:
        value = env.get(name) or default
    return value


def _number(name: str, value, kind=int, low: float = 0, high: float | None = None, why=""):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a number") from None
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{name}={value!r}: expected a number {bounds}{why}")
    return number


def settings_from_env(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from keyword overrides (CLI flags), else the environment. Keys: role,
    bucket, region, image, instance_type, prefix, volume_gb, max_runtime_s, poll_s,
    tf_version, pip_install, max_jobs, resubmit_stopped, throttle_deadline_s; retry_s,
    retry_max_s and slot_wait_s (tests)."""
    env = os.environ if env is None else env
    _require_sdk()

    def get(name, key, default=None):
        return _setting(name, env, overrides, key, default)

    role, bucket = get("SAGEMAKER_ROLE", "role"), get("SAGEMAKER_BUCKET", "bucket")
    missing = [n for n, v in (("SAGEMAKER_ROLE", role), ("SAGEMAKER_BUCKET", bucket)) if not v]
    if missing:
        raise ConfigError(
            f"the SageMaker backend needs {' and '.join(missing)}: the IAM role ARN the "
            "jobs run as, and the S3 bucket for data, code and outputs (see README, "
            "'Running on SageMaker')"
        )
    region = get("AWS_REGION", "region") or env.get("AWS_DEFAULT_REGION")
    if not region:
        import boto3

        region = boto3.Session().region_name
    if not region:
        raise ConfigError("set AWS_REGION (or AWS_DEFAULT_REGION) to the SageMaker region")
    instance_type = get("SAGEMAKER_INSTANCE_TYPE", "instance_type", DEFAULT_INSTANCE_TYPE)
    if not re.fullmatch(r"ml\.[a-z0-9]+\.[a-z0-9]+", instance_type):
        raise ConfigError(
            f"SAGEMAKER_INSTANCE_TYPE={instance_type!r}: expected an instance type such as "
            "ml.m5.xlarge (CPU) or ml.g5.xlarge (GPU)"
        )
    bucket = str(bucket).removeprefix("s3://").strip("/")
    if "/" in bucket:
        raise ConfigError(
            f"SAGEMAKER_BUCKET={bucket!r}: a bucket name only; use SAGEMAKER_PREFIX for "
            "the key prefix"
        )
    image = get("SAGEMAKER_IMAGE", "image") or default_image(
        region, instance_type, get("SAGEMAKER_TF_VERSION", "tf_version")
    )
    pip = str(get("SAGEMAKER_PIP_INSTALL", "pip_install", "1")).lower()
    prefix = str(get("SAGEMAKER_PREFIX", "prefix", DEFAULT_PREFIX)).strip("/") or DEFAULT_PREFIX
    name_prefix(prefix)  # refused here, before anything is uploaded under it
    max_runtime = get("SAGEMAKER_MAX_RUNTIME", "max_runtime_s")
    settings = Settings(
        role=str(role),
        bucket=bucket,
        region=region,
        image=image,
        instance_type=instance_type,
        prefix=prefix,
        volume_gb=_number(
            "SAGEMAKER_VOLUME_GB",
            get("SAGEMAKER_VOLUME_GB", "volume_gb", 30),
            int,
            *VOLUME_GB_RANGE,
        ),
        max_runtime_s=_number(
            "SAGEMAKER_MAX_RUNTIME (--max-runtime)", max_runtime, int, *MAX_RUNTIME_RANGE
        )
        if max_runtime not in (None, "")
        else 0,
        throttle_deadline_s=_number(
            "SAGEMAKER_THROTTLE_DEADLINE",
            get("SAGEMAKER_THROTTLE_DEADLINE", "throttle_deadline_s", 1800),
            float,
            0,
        ),
        poll_s=_number(
            "SAGEMAKER_POLL_SECONDS", get("SAGEMAKER_POLL_SECONDS", "poll_s", 30), float
        ),
        pip_install=pip not in {"0", "false", "no", "off"},
        bucket_owner=bucket_owner(get("SAGEMAKER_BUCKET_OWNER", "bucket_owner"), str(role)),
        image_python=_python_version(get("SAGEMAKER_IMAGE_PYTHON", "image_python", "")),
        resubmit_stopped=str(get("SAGEMAKER_RESUBMIT_STOPPED", "resubmit_stopped", "0")).lower()
        in {"1", "true", "yes", "on"},
        max_jobs=_number(
            "SAGEMAKER_MAX_JOBS (--max-jobs)",
            get("SAGEMAKER_MAX_JOBS", "max_jobs", DEFAULT_MAX_JOBS),
            int,
            *MAX_JOBS_RANGE,
            why=" (each job bills while it runs; the others wait for a slot)",
        ),
        **{
            key: _number(key, overrides[key], float)
            for key in ("retry_s", "retry_max_s", "slot_wait_s")
            if overrides.get(key) is not None
        },
    )
    return settings


def _python_version(value: str) -> str:
    if value and not re.fullmatch(r"3\.\d{1,2}", str(value)):
        raise ConfigError(f"SAGEMAKER_IMAGE_PYTHON={value!r}: expected a version such as 3.12")
    return str(value or "")


def image_python(image: str, given: str = "") -> str | None:
    """The Python version of an image: SAGEMAKER_IMAGE_PYTHON, else the `py312` of AWS's tags
    (tensorflow-training:2.21-cpu-py312); None when neither says."""
    if given:
        return given
    m = re.search(r":[^/]*\bpy(3)(\d{1,2})\b", image)
    return f"{m[1]}.{m[2]}" if m else None


def bucket_owner(given: str | None, role: str) -> str:
    """SAGEMAKER_BUCKET_OWNER, else the account of the role's ARN: the bucket is expected to be
    the account's own, so a bucket name that belongs to someone else is refused by S3."""
    if given:
        if not re.fullmatch(r"\d{12}", str(given)):
            raise ConfigError(f"SAGEMAKER_BUCKET_OWNER={given!r}: expected a 12-digit account ID")
        return str(given)
    m = re.match(r"arn:aws[a-z-]*:iam::(\d{12}):role/", role)
    return m[1] if m else ""


def expect_owner(client, owner: str) -> None:
    """Every request of this S3 client carries ExpectedBucketOwner=owner (uploads and downloads
    in parts included), where the operation takes it."""
    if not owner:
        return

    def add(params, model, **_):
        if model.input_shape is not None and "ExpectedBucketOwner" in model.input_shape.members:
            params.setdefault("ExpectedBucketOwner", owner)

    client.meta.events.register("provide-client-params.s3.*", add)


def tensorflow_version() -> str:
    """major.minor of the TensorFlow the project pins (the installed one), for the image."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("tensorflow-cpu", "tensorflow"):
        try:
            return ".".join(version(dist).split(".")[:2])
        except PackageNotFoundError:
            continue
    return DEFAULT_TF_VERSION


def default_image(region: str, instance_type: str, tf_version: str | None = None) -> str:
    """AWS's TensorFlow training image (Deep Learning Container) for the region, GPU build on
    GPU instance types, CPU build otherwise; the SDK knows each region's registry."""
    from sagemaker.core import image_uris

    version = tf_version or tensorflow_version()
    try:
        return image_uris.retrieve(
            "tensorflow",
            region=region,
            version=version,
            instance_type=instance_type,
            image_scope="training",
        )
    except ValueError as exc:
        raise ConfigError(
            f"no AWS TensorFlow {version} image for {instance_type} in {region} ({exc}); "
            "set SAGEMAKER_IMAGE to an image URI, or SAGEMAKER_TF_VERSION to another version"
        ) from None
