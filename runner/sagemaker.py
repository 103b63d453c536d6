"""The SageMaker backend: every run of the plan that is not current becomes one Processing job.

A job runs `runner/container/entrypoint.sh` in a TensorFlow container: Papermill executes the
run's notebook there exactly as the local backend does here, and the job's output folder comes
back into `results/<profile>/<run>/` through the same `finish` and `swap_into_place` steps, so
the two backends leave identical folders.

What travels to S3 (bucket SAGEMAKER_BUCKET, under SAGEMAKER_PREFIX, default `msl-study`):
    <prefix>/data/<data sha>/...             the data directory, once per data version
    <prefix>/data/<data sha>.complete.json   written last: the upload is complete (file count)
    <prefix>/jobs/<job>/code/                entrypoint.sh, <notebook>.ipynb, analysis.tar.gz,
                                             requirements.txt
    <prefix>/jobs/<job>/params/params.json   the notebook's parameters
    <prefix>/jobs/<job>/output/              what the notebook wrote (SageMaker uploads it)

Settings come from the environment (or keyword overrides to `from_env`), never from code:
SAGEMAKER_ROLE, SAGEMAKER_BUCKET, AWS_REGION or AWS_DEFAULT_REGION, SAGEMAKER_IMAGE,
SAGEMAKER_INSTANCE_TYPE, SAGEMAKER_PREFIX, SAGEMAKER_VOLUME_GB, SAGEMAKER_MAX_RUNTIME,
SAGEMAKER_POLL_SECONDS, SAGEMAKER_TF_VERSION, SAGEMAKER_PIP_INSTALL. Credentials are boto3's
own (environment, profile, instance role); this module never reads, logs or writes them.

The SageMaker SDK (sagemaker-core, the `aws` extra) is imported lazily: local users never
install it.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import tarfile
import time
import tomllib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import paths
from analysis.data import DataError
from runner import execute, local, state
from runner.plan import Run

# Where SageMaker mounts the job's inputs and collects its output inside the container.
CONTAINER_BASE = "/opt/ml/processing"
CONTAINER_CODE = f"{CONTAINER_BASE}/input/code"
CONTAINER_PARAMS = f"{CONTAINER_BASE}/input/params"
CONTAINER_DATA = f"{CONTAINER_BASE}/input/data"
CONTAINER_OUTPUT = f"{CONTAINER_BASE}/output"

ENTRYPOINT = Path(__file__).resolve().parent / "container" / "entrypoint.sh"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_PREFIX = "msl-study"
DEFAULT_TF_VERSION = "2.21"  # the project's pinned TensorFlow; AWS publishes 2.21 images
TAG = "msl-study:"  # tag keys: msl-study:run, msl-study:profile, ...
JOB_NAME_MAX = 63
UPLOAD_THREADS = 16
# Not installed into the container: the image brings its own TensorFlow (a GPU build on GPU
# instances), and the site tools are never used there.
CONTAINER_SKIP = re.compile(r"^(tensorflow|tensorflow-cpu|mkdocs.*)$")

Log = Callable[[str], Any]


class ConfigError(DataError):
    """The SageMaker settings are missing or invalid. A DataError, so the CLI reports it as
    bad input (exit 2) with one line."""


@dataclass(frozen=True)
class Settings:
    role: str
    bucket: str
    region: str
    image: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    prefix: str = DEFAULT_PREFIX
    volume_gb: int = 30
    max_runtime_s: int = 24 * 3600
    poll_s: float = 30.0
    progress_s: float = 60.0
    pip_install: bool = True


@dataclass
class Job:
    run: Run
    fingerprint: str
    name: str
    prefix: str  # <prefix>/jobs/<name>
    submitted: float = field(default_factory=time.monotonic)
    status: str = "Submitted"
    description: dict = field(default_factory=dict)
    describe_errors: int = 0

    @property
    def output_prefix(self) -> str:
        return f"{self.prefix}/output/"


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


def _number(name: str, value, kind=int):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a number") from None
    if number < 0:
        raise ConfigError(f"{name}={value!r}: expected a positive number")
    return number


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


_issued: set[str] = set()


def job_name(run: Run, when: datetime | None = None) -> str:
    """Unique and valid: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, e.g. msl-quick-kernel-5x5-
    20260101-120000-a1b2c3; the profile and run part is shortened to fit. The time and six
    random hex digits keep names apart across machines; none repeats within a process."""
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    base = re.sub(r"[^a-zA-Z0-9]+", "-", f"msl-{run.profile}-{run.name}").strip("-") or "msl"
    while True:
        suffix = f"-{stamp}-{secrets.token_hex(3)}"
        name = base[: JOB_NAME_MAX - len(suffix)].rstrip("-") + suffix
        if name not in _issued:
            _issued.add(name)
            return name


def job_parameters(run: Run, injected_base: dict) -> dict:
    """The notebook's parameters as the container sees them (params.json)."""
    return {
        **run.params,
        **injected_base,
        "run_name": run.name,
        "data_dir": CONTAINER_DATA,
        "output_dir": CONTAINER_OUTPUT,
    }


def code_bundle() -> bytes:
    """The analysis library as a gzipped tarball (analysis/...; notebooks travel separately)."""
    lib = paths.ROOT / "analysis"
    buf = io.BytesIO()

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in sorted(lib.rglob("*")):
            rel = f.relative_to(paths.ROOT)
            skip = {"__pycache__", ".ipynb_checkpoints"}
            if not f.is_file() or skip & set(rel.parts) or f.suffix in {".pyc", ".ipynb"}:
                continue
            tar.add(f, arcname=rel.as_posix(), filter=clean)
    return buf.getvalue()


def container_requirements() -> str:
    """The project's pinned dependencies, less TensorFlow (the image's) and the site tools."""
    pyproject = paths.ROOT / "pyproject.toml"
    try:
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ""
    keep = [d for d in deps if not CONTAINER_SKIP.match(re.split(r"[=<>!~\[; ]", d)[0].lower())]
    return "\n".join(keep) + "\n"


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class SageMakerBackend:
    """Runs jobs of the plan as SageMaker Processing jobs; see the module docstring."""

    def __init__(self, settings: Settings, data_dir: Path, session=None):
        self.settings = settings
        self.data_dir = Path(data_dir)
        self._session = session
        self._s3 = None
        self.sleep = time.sleep

    @classmethod
    def from_env(
        cls, data_dir: Path, env: Mapping[str, str] | None = None, **overrides
    ) -> SageMakerBackend:
        """Settings from keyword overrides (CLI flags), else the environment. Keys: role,
        bucket, region, image, instance_type, prefix, volume_gb, max_runtime_s, poll_s,
        tf_version, pip_install."""
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
        settings = Settings(
            role=str(role),
            bucket=bucket,
            region=region,
            image=image,
            instance_type=instance_type,
            prefix=str(get("SAGEMAKER_PREFIX", "prefix", DEFAULT_PREFIX)).strip("/")
            or DEFAULT_PREFIX,
            volume_gb=_number("SAGEMAKER_VOLUME_GB", get("SAGEMAKER_VOLUME_GB", "volume_gb", 30)),
            max_runtime_s=_number(
                "SAGEMAKER_MAX_RUNTIME", get("SAGEMAKER_MAX_RUNTIME", "max_runtime_s", 86400)
            ),
            poll_s=_number(
                "SAGEMAKER_POLL_SECONDS", get("SAGEMAKER_POLL_SECONDS", "poll_s", 30), float
            ),
            pip_install=pip not in {"0", "false", "no", "off"},
        )
        return cls(settings, data_dir)

    # --- AWS clients -----------------------------------------------------------------------

    @property
    def session(self):
        """The SDK's Session over a boto3 session for the configured region."""
        if self._session is None:
            import boto3
            from sagemaker.core.helper.session_helper import Session

            self._session = Session(boto_session=boto3.Session(region_name=self.settings.region))
        return self._session

    @property
    def s3(self):
        """An S3 client with a connection per upload thread and standard retries."""
        if self._s3 is None:
            from botocore.config import Config

            self._s3 = self.session.boto_session.client(
                "s3",
                region_name=self.settings.region,
                config=Config(
                    max_pool_connections=UPLOAD_THREADS,
                    retries={"mode": "standard", "max_attempts": 5},
                ),
            )
        return self._s3

    def uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"

    def describe(self, name: str) -> dict:
        """DescribeProcessingJob; the one place the waiting loop learns a job's state."""
        return self.session.sagemaker_client.describe_processing_job(ProcessingJobName=name)

    # --- data, once per data version --------------------------------------------------------

    def upload_data(self, log: Log = print) -> str:
        """Upload the data directory under a prefix keyed by its checksum, unless a complete
        copy is already there; returns the prefix's S3 URI (with a trailing slash)."""
        from botocore.exceptions import ClientError

        digest = state.data_hash(self.data_dir)
        prefix = f"{self.settings.prefix}/data/{digest}/"
        marker = f"{self.settings.prefix}/data/{digest}.complete.json"
        files = sorted(p for p in self.data_dir.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        bucket = self.settings.bucket
        try:
            done = json.loads(self.s3.get_object(Bucket=bucket, Key=marker)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404"}:
                raise
            done = {}
        if done.get("files") == len(files):
            log(f"data: {self.uri(prefix)} is complete ({len(files)} files), not uploading")
            return self.uri(prefix)

        present: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            present.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        todo = [
            p
            for p in files
            if present.get(prefix + p.relative_to(self.data_dir).as_posix()) != p.stat().st_size
        ]
        log(
            f"data: uploading {len(todo)} of {len(files)} files ({total / 1e6:.0f} MB) to "
            f"{self.uri(prefix)}"
        )

        def put(path: Path) -> None:
            key = prefix + path.relative_to(self.data_dir).as_posix()
            self.s3.upload_file(str(path), bucket, key)

        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            list(pool.map(put, todo))
        record = {
            "files": len(files),
            "bytes": total,
            "data_sha": digest,
            "uploaded": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        self.s3.put_object(
            Bucket=bucket,
            Key=marker,
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
        return self.uri(prefix)

    # --- one job per run --------------------------------------------------------------------

    def submit(
        self, run: Run, fingerprint: str, injected_base: dict, data_uri: str, bundle: bytes
    ) -> Job:
        """Upload the job's code and parameters, then CreateProcessingJob (not waiting)."""
        from sagemaker.core.processing import Processor
        from sagemaker.core.shapes import (
            ProcessingInput,
            ProcessingOutput,
            ProcessingS3Input,
            ProcessingS3Output,
        )

        name = job_name(run)
        job = Job(run, fingerprint, name, f"{self.settings.prefix}/jobs/{name}")
        bucket, notebook = self.settings.bucket, run.notebook_path.name
        objects = {
            "code/entrypoint.sh": ENTRYPOINT.read_bytes(),
            f"code/{notebook}": run.notebook_path.read_bytes(),
            "code/analysis.tar.gz": bundle,
            "params/params.json": json.dumps(job_parameters(run, injected_base), indent=2).encode(),
        }
        requirements = container_requirements()
        if requirements:
            objects["code/requirements.txt"] = requirements.encode()
        for rel, body in objects.items():
            self.s3.put_object(Bucket=bucket, Key=f"{job.prefix}/{rel}", Body=body)

        def s3_input(input_name: str, uri: str, local_path: str) -> ProcessingInput:
            return ProcessingInput(
                input_name=input_name,
                s3_input=ProcessingS3Input(
                    s3_uri=uri,
                    local_path=local_path,
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                ),
            )

        inputs = [
            s3_input("code", self.uri(f"{job.prefix}/code/"), CONTAINER_CODE),
            s3_input("params", self.uri(f"{job.prefix}/params/"), CONTAINER_PARAMS),
            s3_input("data", data_uri, CONTAINER_DATA),
        ]
        outputs = [
            ProcessingOutput(
                output_name="output",
                s3_output=ProcessingS3Output(
                    s3_uri=self.uri(job.output_prefix),
                    local_path=CONTAINER_OUTPUT,
                    s3_upload_mode="EndOfJob",
                ),
            )
        ]
        tags = {
            "run": run.name,
            "profile": run.profile,
            "fingerprint": fingerprint,
            "code-version": str(injected_base.get("code_version") or "unknown"),
        }
        processor = Processor(
            role=self.settings.role,
            image_uri=self.settings.image,
            instance_count=1,
            instance_type=self.settings.instance_type,
            entrypoint=["bash", f"{CONTAINER_CODE}/entrypoint.sh"],
            volume_size_in_gb=self.settings.volume_gb,
            max_runtime_in_seconds=self.settings.max_runtime_s,
            sagemaker_session=self.session,
            env={
                "STUDY_PIP_INSTALL": "1" if self.settings.pip_install else "0",
                "STUDY_INSTANCE_TYPE": self.settings.instance_type,
                "PYTHONUNBUFFERED": "1",
            },
            tags=[{"Key": f"{TAG}{k}", "Value": v} for k, v in tags.items()],
        )
        processor.run(
            inputs=inputs,
            outputs=outputs,
            arguments=[notebook],
            wait=False,
            logs=False,
            job_name=name,
        )
        job.submitted = time.monotonic()
        return job

    def download(self, prefix: str, dest: Path) -> int:
        """Every object under `prefix` into `dest`, keeping relative paths; the count."""
        n = 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :]
                if not rel or rel.endswith("/") or ".." in Path(rel).parts:
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(self.settings.bucket, obj["Key"], str(target))
                n += 1
        return n

    def where_logs_are(self, job: Job) -> str:
        region = self.settings.region
        return (
            f"logs: CloudWatch log group {LOG_GROUP}, streams {job.name}/* "
            f"(aws logs tail {LOG_GROUP} --log-stream-name-prefix {job.name} "
            f"--region {region})"
        )

    # --- the interface run_plan calls -------------------------------------------------------

    def run_all(
        self,
        jobs: list[tuple[str, Run]],
        injected_base: dict,
        out: execute.Outcome,
        log: Log = print,
    ) -> None:
        """Submit every job at once, wait for all of them with one progress line per job, and
        move each finished job's output into results/<profile>/<run>/ as soon as it is done.
        Failed runs go to out.failed and out.messages; nothing is raised for them."""
        from botocore.exceptions import BotoCoreError, ClientError

        aws_errors = (BotoCoreError, ClientError, ValueError)

        def fail(run: Run, message: str) -> None:
            out.failed.append(run.name)
            out.messages.append(message)
            log(f"FAILED: {message}")

        s = self.settings
        log(f"sagemaker: {len(jobs)} job(s) on {s.instance_type} in {s.region}, image {s.image}")
        try:
            data_uri = self.upload_data(log)
        except aws_errors as exc:
            for _, run in jobs:
                fail(
                    run,
                    f"run {run.name!r} not submitted: uploading the data to "
                    f"s3://{s.bucket}/{s.prefix}/data/ failed: {exc}",
                )
            return
        bundle = code_bundle()
        submitted: list[Job] = []
        for fingerprint, run in jobs:
            try:
                job = self.submit(run, fingerprint, injected_base, data_uri, bundle)
            except aws_errors as exc:
                fail(run, f"run {run.name!r} not submitted: CreateProcessingJob failed: {exc}")
                continue
            log(f"submitted: {run.profile}/{run.name} as SageMaker job {job.name}")
            submitted.append(job)
        try:
            self._wait(submitted, out, log, fail)
        except KeyboardInterrupt:
            self._stop([j for j in submitted if j.status not in TERMINAL], log)
            raise

    def _wait(self, jobs: list[Job], out: execute.Outcome, log: Log, fail) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = list(jobs)
        last_report = float("-inf")
        while pending:
            changed, finished = False, []
            for job in pending:
                try:
                    job.description = self.describe(job.name)
                    job.describe_errors = 0
                except (BotoCoreError, ClientError) as exc:
                    job.describe_errors += 1
                    if job.describe_errors >= 10:
                        job.status = "Unknown"
                        finished.append(job)
                        fail(
                            job.run,
                            f"run {job.run.name!r}: lost track of SageMaker job "
                            f"{job.name}: {exc}\n  {self.where_logs_are(job)}",
                        )
                    continue
                status = job.description.get("ProcessingJobStatus", "Unknown")
                changed |= status != job.status
                job.status = status
                if status in TERMINAL:
                    finished.append(job)
            now = time.monotonic()
            if changed or now - last_report >= self.settings.progress_s:
                for job in jobs:
                    log(
                        f"  {job.run.profile}/{job.run.name:<16} {job.status:<11} "
                        f"{_elapsed(now - job.submitted):>9}  {job.name}"
                    )
                last_report = now
            for job in finished:
                pending.remove(job)
                if job.status in TERMINAL:
                    self._collect(job, out, log, fail)
            if pending:
                self.sleep(self.settings.poll_s)

    def _seconds(self, job: Job) -> float:
        d = job.description
        start, end = d.get("ProcessingStartTime"), d.get("ProcessingEndTime")
        if isinstance(start, datetime) and isinstance(end, datetime):
            return max(0.0, (end - start).total_seconds())
        return time.monotonic() - job.submitted

    def _collect(self, job: Job, out: execute.Outcome, log: Log, fail) -> None:
        """A terminal job: its output into results/ (Completed), or a failure message."""
        from botocore.exceptions import BotoCoreError, ClientError

        run = job.run
        folder = execute.profile_dir(run.profile)
        tmp = folder / f".{run.name}.partial"
        failed_dir = folder / f"{run.name}.failed"
        shutil.rmtree(tmp, ignore_errors=True)
        if job.status == "Completed":
            seconds = self._seconds(job)
            try:
                self.download(job.output_prefix, tmp)
                execute.finish(run, tmp, job.fingerprint, seconds)
            except local.NotebookFailed as exc:
                shutil.rmtree(failed_dir, ignore_errors=True)
                if tmp.exists():
                    tmp.rename(failed_dir)
                fail(
                    run,
                    f"{exc} (SageMaker job {job.name})\n  output kept at "
                    f"{local.rel(failed_dir)}/\n  {self.where_logs_are(job)}",
                )
                return
            except (BotoCoreError, ClientError) as exc:
                shutil.rmtree(tmp, ignore_errors=True)
                fail(
                    run,
                    f"run {run.name!r}: SageMaker job {job.name} completed but its "
                    f"output {self.uri(job.output_prefix)} could not be downloaded: {exc}",
                )
                return
            execute.swap_into_place(tmp, folder / run.name)
            shutil.rmtree(failed_dir, ignore_errors=True)
            log(f"done: {run.profile}/{run.name} on SageMaker in {seconds:.0f} s ({job.name})")
            return

        d = job.description
        lines = [
            f"run {run.name!r} failed on SageMaker: job {job.name} {job.status}: "
            f"{d.get('FailureReason') or 'no failure reason given'}"
        ]
        if d.get("ExitMessage"):
            lines.append(f"  container: {d['ExitMessage'].strip()}")
        lines.append(f"  {self.where_logs_are(job)}")
        # Whatever the container left (the executed notebook shows the failing cell).
        try:
            if self.download(job.output_prefix, tmp):
                shutil.rmtree(failed_dir, ignore_errors=True)
                tmp.rename(failed_dir)
                lines.append(f"  executed notebook kept at {local.rel(failed_dir)}/")
        except (BotoCoreError, ClientError):
            pass
        shutil.rmtree(tmp, ignore_errors=True)
        fail(run, "\n".join(lines))

    def _stop(self, jobs: list[Job], log: Log) -> None:
        """On Ctrl-C: stop what still runs (nothing would collect its output)."""
        for job in jobs:
            try:
                self.session.sagemaker_client.stop_processing_job(ProcessingJobName=job.name)
                log(f"interrupted: stopped SageMaker job {job.name} ({job.run.name})")
            except Exception as exc:  # best effort while interrupted; say what is left running
                log(f"interrupted: could not stop SageMaker job {job.name}: {exc}")
