"""Preflight: what a SageMaker run needs from the account, checked before anything is uploaded.

`python -m runner preflight` (`make preflight BACKEND=sagemaker`) runs these checks, and `run
--backend sagemaker` runs them first: a run that would fail after its uploads (or inside a job
that is already billing) stops here with one message per failure, naming what to fix; exit 2.

    credentials  STS GetCallerIdentity: credentials found and valid; the region is SageMaker's
    role         IAM GetRole: a bare SAGEMAKER_ROLE name resolved to its ARN (the API refuses a
                 name), the role trusted by sagemaker.amazonaws.com
    bucket       S3 GetBucketLocation with ExpectedBucketOwner: it exists, is in the region and
                 belongs to the expected account (ListBuckets: the caller's own, when that is it)
    quota        Service Quotas: the account's '<type> for processing job usage' is not 0
    image        the job image exists: AWS's (the SDK's image table) or ECR DescribeImages
    lock         requirements.lock pins what pyproject.toml pins, for the image's Python

Only reads: nothing is created, uploaded or billed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from urllib.parse import unquote

from runner.backends.sagemaker.job import _code, _message
from runner.backends.sagemaker.requests import container_requirements, lock_python
from runner.backends.sagemaker.settings import Settings, bucket_owner, image_python
from runner.errors import ConfigError

SERVICE = "sagemaker.amazonaws.com"
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"}
IMAGE_URI = re.compile(
    r"(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repo>[^:@]+)(?::(?P<tag>[^@]+)|@(?P<digest>sha256:[0-9a-f]{64}))$"
)


class PreflightFailed(ConfigError):
    """One or more checks failed: one line each, naming what to fix (exit 2)."""

    def __init__(self, failures: list[str]):
        # The command line prefixes the first line with "error: "; the others get it here.
        super().__init__("\nerror: ".join(failures))
        self.failures = failures


class _Failed(Exception):
    """One check's failure: its message names what to fix."""


def preflight(settings: Settings, log: Callable[[str], object] = print, session=None) -> Settings:
    """Every check; the settings with the role's ARN (and the bucket owner it implies), or
    PreflightFailed with every failure. The credentials come first: without them nothing else
    can be asked."""
    import boto3

    session = session or boto3.Session(region_name=settings.region)
    failures: list[str] = []

    def check(name: str, run: Callable[[], str]) -> None:
        try:
            log(f"preflight: ok    {name}: {run()}")
        except _Failed as exc:
            log(f"preflight: FAIL  {name}")
            failures.append(f"preflight {name}: {exc}")

    account = ""

    def credentials() -> str:
        nonlocal account
        account = _caller_account(session, settings.region)
        return f"account {account}, region {settings.region}"

    check("credentials", credentials)
    if failures:
        raise PreflightFailed(failures)

    resolved = settings

    def role() -> str:
        nonlocal resolved
        arn = _role_arn(session, settings.role)
        owner = settings.bucket_owner or bucket_owner(None, arn)
        resolved = dataclasses.replace(settings, role=arn, bucket_owner=owner)
        return f"{arn}, trusted by {SERVICE}"

    check("role", role)
    check("bucket", lambda: _bucket(session, resolved, account))
    check("quota", lambda: _quota(session, settings))
    check("image", lambda: _image(session, settings))
    check("lock", lambda: _lock(settings))
    if failures:
        raise PreflightFailed(failures)
    return resolved


def _client(session, service: str, region: str):
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10)
    return session.client(service, region_name=region, config=config)


def _caller_account(session, region: str) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if region not in session.get_available_regions("sagemaker"):
        raise _Failed(
            f"region {region!r} (AWS_REGION) is not one where SageMaker runs: set AWS_REGION "
            "to a SageMaker region such as us-east-1 or eu-west-1"
        )
    try:
        return _client(session, "sts", region).get_caller_identity()["Account"]
    except NoCredentialsError:
        raise _Failed(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or run `aws sso login`"
        ) from None
    except ClientError as exc:
        raise _Failed(
            f"AWS refused the credentials ({_code(exc)}: {_message(exc)}): renew them "
            "(`aws sso login`, or new access keys)"
        ) from None
    except BotoCoreError as exc:
        raise _Failed(f"could not reach AWS STS in {region}: {exc}") from None


def _role_arn(session, role: str) -> str:
    """The role's ARN (GetRole: a bare name is looked up), trusted by SageMaker."""
    from botocore.exceptions import BotoCoreError, ClientError

    name = role.rsplit("/", 1)[-1] if role.startswith("arn:") else role
    try:
        found = _client(session, "iam", session.region_name).get_role(RoleName=name)["Role"]
    except ClientError as exc:
        code = _code(exc)
        if code == "NoSuchEntity":
            raise _Failed(
                f"IAM role {name!r} (SAGEMAKER_ROLE) does not exist in this account: create it "
                "with the README's execution-role and trust policies ('Permissions'), or set "
                "SAGEMAKER_ROLE to an existing role's name or ARN"
            ) from None
        if code in DENIED:
            raise _Failed(
                f"the caller may not read IAM role {name!r} ({code}): grant it iam:GetRole on "
                "the role (README: the caller policy's PreflightReadsTheRole)"
            ) from None
        raise _Failed(f"IAM GetRole {name!r} failed: {code}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise _Failed(f"IAM GetRole {name!r} failed: {exc}") from None
    arn = found["Arn"]
    if role.startswith("arn:") and role != arn:
        raise _Failed(
            f"SAGEMAKER_ROLE={role!r} is not the role of that name in this account ({arn}): "
            "use the ARN of a role in the account of the credentials"
        )
    if not trusts_sagemaker(found.get("AssumeRolePolicyDocument")):
        raise _Failed(
            f"IAM role {arn} is not trusted by {SERVICE}, so SageMaker cannot run jobs as it: "
            "set its trust policy to the README's (`aws iam update-assume-role-policy "
            f"--role-name {name} --policy-document file://trust.json`)"
        )
    return arn


def trusts_sagemaker(document) -> bool:
    """Whether a trust policy lets sagemaker.amazonaws.com call sts:AssumeRole."""
    if isinstance(document, str):  # IAM returns it URL-encoded; boto3 usually decodes it
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return False
    statements = (document or {}).get("Statement", [])
    for st in [statements] if isinstance(statements, dict) else statements:
        services = (st.get("Principal") or {}).get("Service", []) if st else []
        services = [services] if isinstance(services, str) else services
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if (
            st.get("Effect") == "Allow"
            and SERVICE in services
            and any(a in ("sts:AssumeRole", "sts:*", "*") for a in actions)
        ):
            return True
    return False


def _bucket(session, settings: Settings, account: str) -> str:
    """Exists, in the region, the expected account's (its ARN's or SAGEMAKER_BUCKET_OWNER)."""
    from botocore.exceptions import BotoCoreError, ClientError

    owner = settings.bucket_owner or account
    bucket = settings.bucket
    s3 = _client(session, "s3", settings.region)
    try:
        location = s3.get_bucket_location(Bucket=bucket, ExpectedBucketOwner=owner)
        if owner == account:
            # S3 answers GetBucketLocation for another account's bucket the caller may read;
            # the caller's own bucket is in its ListBuckets.
            listed = s3.list_buckets(Prefix=bucket).get("Buckets", [])
            if bucket not in {b["Name"] for b in listed}:
                raise _Failed(
                    f"bucket {bucket!r} (SAGEMAKER_BUCKET) belongs to another account, not "
                    f"{account}: use a bucket of your own, or set SAGEMAKER_BUCKET_OWNER to "
                    "its account if that is intended"
                )
    except ClientError as exc:
        code = _code(exc)
        if code in ("NoSuchBucket", "404"):
            raise _Failed(
                f"bucket {bucket!r} (SAGEMAKER_BUCKET) does not exist: create it with `aws s3 "
                f"mb s3://{bucket} --region {settings.region}`"
            ) from None
        if code in DENIED:
            raise _Failed(
                f"bucket {bucket!r} (SAGEMAKER_BUCKET) is not account {owner}'s, or the caller "
                "may not read its location (s3:GetBucketLocation, s3:ListAllMyBuckets: README's "
                "caller policy); set SAGEMAKER_BUCKET_OWNER if it belongs to another account"
            ) from None
        raise _Failed(f"S3 GetBucketLocation {bucket!r} failed: {code}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise _Failed(f"S3 GetBucketLocation {bucket!r} failed: {exc}") from None
    # None (and "") is us-east-1; "EU" is the old name of eu-west-1.
    region = {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(
        location.get("LocationConstraint"), location.get("LocationConstraint")
    )
    if region != settings.region:
        raise _Failed(
            f"bucket {bucket!r} is in {region}, the jobs in {settings.region}: set AWS_REGION="
            f"{region}, or use a bucket in {settings.region}"
        )
    return f"s3://{bucket} in {region}, owned by {owner}"


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for processing job usage"


def _quota(session, settings: Settings) -> str:
    """The account's applied quota of the instance type for processing jobs: 0 fails."""
    from botocore.exceptions import BotoCoreError, ClientError

    wanted, region = quota_name(settings.instance_type), settings.region
    client = _client(session, "service-quotas", region)
    try:
        found = None
        for operation in ("list_service_quotas", "list_aws_default_service_quotas"):
            for page in client.get_paginator(operation).paginate(ServiceCode="sagemaker"):
                found = next((q for q in page["Quotas"] if q.get("QuotaName") == wanted), None)
                if found:
                    break
            if found:
                break
    except ClientError as exc:
        code = _code(exc)
        if code in DENIED:
            raise _Failed(
                f"the caller may not read the account's SageMaker quotas ({code}): grant it "
                "servicequotas:ListServiceQuotas and ListAWSDefaultServiceQuotas (README's "
                "caller policy)"
            ) from None
        raise _Failed(f"Service Quotas failed: {code}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise _Failed(f"Service Quotas failed: {exc}") from None
    if found is None:
        raise _Failed(
            f"Service Quotas lists no '{wanted}' in {region}: {settings.instance_type} may not "
            "run processing jobs there; choose another --instance-type (SAGEMAKER_INSTANCE_TYPE)"
        )
    value, code = int(found.get("Value", 0)), found.get("QuotaCode", "?")
    if value < 1:
        raise _Failed(
            f"the account's quota '{wanted}' ({code}) is 0 in {region}, so no job could start: "
            f"request more with `aws service-quotas request-service-quota-increase --service-code "
            f"sagemaker --quota-code {code} --desired-value {settings.max_jobs} --region {region}` "
            "(or the console: Service Quotas > Amazon SageMaker > Request increase at account "
            "level; minutes to days), or choose an --instance-type you have quota for"
        )
    at_once = min(value, settings.max_jobs)
    return f"'{wanted}' ({code}) is {value}: {at_once} job(s) at once"


def _image(session, settings: Settings) -> str:
    """The image exists for the region: one of AWS's (the SDK's table) or in ECR."""
    from botocore.exceptions import BotoCoreError, ClientError

    m = IMAGE_URI.match(settings.image)
    if not m:
        raise _Failed(
            f"SAGEMAKER_IMAGE={settings.image!r} is not an ECR image URI "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)"
        )
    if m["region"] != settings.region:
        raise _Failed(
            f"image {settings.image} is in {m['region']}, the jobs in {settings.region}: "
            "SageMaker pulls from the job's region; use the image of that region"
        )
    if m["account"] in aws_accounts():
        return _aws_image(settings, m["tag"] or "")
    ids = {"imageDigest": m["digest"]} if m["digest"] else {"imageTag": m["tag"]}
    try:
        _client(session, "ecr", settings.region).describe_images(
            registryId=m["account"], repositoryName=m["repo"], imageIds=[ids]
        )
    except ClientError as exc:
        code = _code(exc)
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise _Failed(
                f"image {settings.image} (SAGEMAKER_IMAGE) does not exist ({code}): push it to "
                f"ECR in {settings.region}, or unset SAGEMAKER_IMAGE for AWS's image"
            ) from None
        if code in DENIED:
            raise _Failed(
                f"the caller may not look up image {settings.image} ({code}): grant it "
                "ecr:DescribeImages on its repository"
            ) from None
        raise _Failed(f"ECR DescribeImages failed: {code}: {_message(exc)}") from None
    except BotoCoreError as exc:
        raise _Failed(f"ECR DescribeImages failed: {exc}") from None
    return f"{settings.image} (ECR)"


def aws_accounts() -> set[str]:
    """The registries of AWS's TensorFlow images in every region (the SDK's image table)."""
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework("tensorflow")["training"]
    return {
        account
        for version in config["versions"].values()
        for account in version.get("registries", {}).values()
    }


def _aws_image(settings: Settings, tag: str) -> str:
    """One of AWS's images: the one the SDK's table gives for its version, region and type."""
    from sagemaker.core import image_uris

    versions = list(image_uris.config_for_framework("tensorflow")["training"]["version_aliases"])
    version = re.match(r"\d+\.\d+", tag)
    expected = None
    if version and version[0] in versions:
        try:
            expected = image_uris.retrieve(
                "tensorflow",
                region=settings.region,
                version=version[0],
                instance_type=settings.instance_type,
                image_scope="training",
            )
        except ValueError:
            expected = None
    if settings.image != expected:
        raise _Failed(
            f"AWS publishes no image {settings.image} for {settings.instance_type} in "
            f"{settings.region}"
            + (f" (its TensorFlow {version[0]} image is {expected})" if expected else "")
            + ": unset SAGEMAKER_IMAGE for the default image, or set SAGEMAKER_TF_VERSION to "
            f"one of {', '.join(versions[-4:])}"
        )
    return f"{settings.image} (AWS's TensorFlow image for {settings.region})"


def _lock(settings: Settings) -> str:
    """The lock is fresh (pins what pyproject.toml pins) and made for the image's Python."""
    if not settings.pip_install:
        return "SAGEMAKER_PIP_INSTALL=0: the job installs nothing"
    try:
        text = container_requirements()
    except ConfigError as exc:
        raise _Failed(str(exc)) from None
    locked = lock_python(text)
    wanted = image_python(settings.image, settings.image_python)
    if wanted is None:
        raise _Failed(
            f"the Python of image {settings.image} is unknown (no py3NN in its tag): set "
            f"SAGEMAKER_IMAGE_PYTHON (e.g. {locked}), or SAGEMAKER_PIP_INSTALL=0 for an image "
            "that has the packages"
        )
    if wanted != locked:
        raise _Failed(
            f"image {settings.image} runs Python {wanted}, the lock's wheels are for Python "
            f"{locked}: pip would refuse them inside the job. Use an image with Python {locked} "
            f"(unset SAGEMAKER_TF_VERSION), or lock for {wanted}: `make lock ARGS="
            f"'--python-version {wanted}'`"
        )
    pins = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return f"{pins} packages locked for Python {locked}, the image's"
