"""The SageMaker backend: every run of the plan that is not current becomes one Processing job.

A job runs `runner/container/entrypoint.sh` in a TensorFlow container: Papermill executes the
run's notebook there exactly as the local backend does here, and the job's output folder comes
back into `results/<profile>/<run>/` through the same run-folder lifecycle (runner/lifecycle.py),
so the two backends leave identical folders.

What travels to S3 (bucket SAGEMAKER_BUCKET, under SAGEMAKER_PREFIX, default `msl-study`):
    <prefix>/data/<data sha>/...             the data directory, once per data version
    <prefix>/data/<data sha>.complete.json   written last: the upload is complete (file count)
    <prefix>/jobs/<job>/code/                entrypoint.sh, <notebook>.ipynb, analysis.tar.gz,
                                             requirements.txt
    <prefix>/jobs/<job>/params/params.json   the notebook's parameters
    <prefix>/jobs/<job>/output/              what the notebook wrote and run.log (SageMaker
                                             uploads it as it is written)

Settings come from the environment (or keyword overrides to `from_env`), never from code:
SAGEMAKER_ROLE, SAGEMAKER_BUCKET, AWS_REGION or AWS_DEFAULT_REGION, SAGEMAKER_IMAGE,
SAGEMAKER_INSTANCE_TYPE, SAGEMAKER_PREFIX, SAGEMAKER_VOLUME_GB, SAGEMAKER_MAX_RUNTIME,
SAGEMAKER_POLL_SECONDS, SAGEMAKER_TF_VERSION, SAGEMAKER_PIP_INSTALL, SAGEMAKER_MAX_JOBS.
Credentials are boto3's own (environment, profile, instance role); this module never reads, logs
or writes them.

At most `max_jobs` jobs run at once; the others wait in a queue and are submitted as slots free
up. A ResourceLimitExceeded (the account's quota of instances of the type) or a throttled request
is retried with backoff, and the quota the account appears to have is said in one line.

Every job name is written to a ledger (results/<profile>/.sagemaker-jobs.json) before the job is
created, and removed once its output is collected. A runner started again after a crash, a kill
or a closed terminal reattaches to the jobs of the ledger (and to in-progress jobs tagged with a
wanted fingerprint) instead of paying for them twice; an interrupt stops the jobs it submitted.

The SageMaker SDK (sagemaker-core, the `aws` extra) is imported lazily: local users never
install it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import tarfile
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from analysis import paths
from runner import layout, state
from runner.backend import RunFailed, Task
from runner.errors import ConfigError
from runner.plan import Run

__all__ = ["ConfigError", "SageMakerBackend", "Settings"]

# Where SageMaker mounts the job's inputs and collects its output inside the container.
CONTAINER_BASE = "/opt/ml/processing"
CONTAINER_CODE = f"{CONTAINER_BASE}/input/code"
CONTAINER_PARAMS = f"{CONTAINER_BASE}/input/params"
CONTAINER_DATA = f"{CONTAINER_BASE}/input/data"
CONTAINER_OUTPUT = f"{CONTAINER_BASE}/output"

ENTRYPOINT = Path(__file__).resolve().parent / "container" / "entrypoint.sh"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
DEFAULT_MAX_JOBS = 4
# API limits of CreateProcessingJob (ProcessingResources.ClusterConfig, StoppingCondition).
VOLUME_GB_RANGE = (1, 16384)
MAX_RUNTIME_RANGE = (1, 777600)
THROTTLING = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}
NOT_FOUND = re.compile(r"could not find|does not exist|not found", re.IGNORECASE)
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
    max_jobs: int = DEFAULT_MAX_JOBS
    retry_s: float = 15.0  # first backoff after a refusal; doubles up to retry_max_s
    retry_max_s: float = 300.0
    slot_wait_s: float = 3600.0  # how long to wait for a slot while none of our jobs runs


@dataclass
class Job:
    task: Task
    name: str
    prefix: str  # <prefix>/jobs/<name>
    submitted: float = field(default_factory=time.monotonic)
    status: str = "Queued"
    description: dict = field(default_factory=dict)
    describe_errors: int = 0
    reattached: bool = False
    inputs_uploaded: bool = False

    @property
    def run(self) -> Run:
        return self.task.run

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


def _number(name: str, value, kind=int, low: float = 0, high: float | None = None):
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r}: expected a number") from None
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ConfigError(f"{name}={value!r}: expected a number {bounds}")
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


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") or ""


def _message(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Message", "") or str(exc)


class Ledger:
    """The SageMaker jobs of one profile that were submitted and not yet collected, by name:
    {"run", "fingerprint", "region", "bucket", "prefix", "submitted"}. Written (to a temporary
    name, then renamed) before each CreateProcessingJob, so no job can exist that it lacks."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

    def add(self, name: str, entry: dict) -> None:
        data = self.load()
        data[name] = entry
        self._save(data)

    def remove(self, name: str) -> None:
        data = self.load()
        if data.pop(name, None) is not None:
            self._save(data)


class SageMakerBackend:
    """Runs jobs of the plan as SageMaker Processing jobs; see the module docstring."""

    independent = True  # one job's failure does not stop the others

    def __init__(self, settings: Settings, data_dir: Path, session=None):
        self.settings = settings
        self.data_dir = Path(data_dir)
        self._session = session
        self._s3 = None
        self.sleep = time.sleep
        self.log: Log = print
        self.injected: dict = {}
        self.data_uri = ""
        self.bundle = b""
        self.ledger: Ledger | None = None
        self.queue: list[Job] = []  # waiting for a slot, in plan order
        self.active: list[Job] = []  # submitted, not yet ended
        self.ended: list[Job] = []  # ended, not yet handed to the runner
        self.jobs: dict[str, Job] = {}  # every job of this start, by run name
        self.submitting: Job | None = None  # between the ledger entry and CreateProcessingJob
        self.limit = settings.max_jobs  # lowered to what the account appears to allow
        self.limit_said: set[int] = set()
        self.refusals = 0  # consecutive refusals (quota, throttling) of CreateProcessingJob
        self.next_try = 0.0  # monotonic time of the next CreateProcessingJob attempt
        self.waiting_since: float | None = None  # refused while none of our jobs ran

    @classmethod
    def from_env(
        cls, data_dir: Path, env: Mapping[str, str] | None = None, **overrides
    ) -> SageMakerBackend:
        """Settings from keyword overrides (CLI flags), else the environment. Keys: role,
        bucket, region, image, instance_type, prefix, volume_gb, max_runtime_s, poll_s,
        tf_version, pip_install, max_jobs; retry_s, retry_max_s and slot_wait_s (tests)."""
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
            volume_gb=_number(
                "SAGEMAKER_VOLUME_GB",
                get("SAGEMAKER_VOLUME_GB", "volume_gb", 30),
                int,
                *VOLUME_GB_RANGE,
            ),
            max_runtime_s=_number(
                "SAGEMAKER_MAX_RUNTIME",
                get("SAGEMAKER_MAX_RUNTIME", "max_runtime_s", 86400),
                int,
                *MAX_RUNTIME_RANGE,
            ),
            poll_s=_number(
                "SAGEMAKER_POLL_SECONDS", get("SAGEMAKER_POLL_SECONDS", "poll_s", 30), float
            ),
            pip_install=pip not in {"0", "false", "no", "off"},
            max_jobs=_number(
                "SAGEMAKER_MAX_JOBS (--max-jobs)",
                get("SAGEMAKER_MAX_JOBS", "max_jobs", DEFAULT_MAX_JOBS),
                int,
                1,
            ),
            **{
                key: _number(key, overrides[key], float)
                for key in ("retry_s", "retry_max_s", "slot_wait_s")
                if overrides.get(key) is not None
            },
        )
        return cls(settings, data_dir)

    # --- AWS clients -----------------------------------------------------------------------

    @property
    def session(self):
        """The SDK's Session over a boto3 session for the configured region, with a SageMaker
        client that retries throttled requests a few times itself (the backend retries on)."""
        if self._session is None:
            import boto3
            from botocore.config import Config
            from sagemaker.core.helper.session_helper import Session

            boto = boto3.Session(region_name=self.settings.region)
            client = boto.client(
                "sagemaker",
                region_name=self.settings.region,
                config=Config(retries={"mode": "standard", "max_attempts": 3}),
            )
            self._session = Session(boto_session=boto, sagemaker_client=client)
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

    def download(self, prefix: str, dest: Path) -> int:
        """Every object under `prefix` into `dest`, keeping relative paths; the count."""
        n = 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :]
                parts = Path(rel).parts
                # Hidden names are temporary files that continuous upload caught mid-write.
                if not rel or rel.endswith("/") or any(p.startswith(".") for p in parts):
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

    # --- the backend interface (runner/backend.py) ------------------------------------------

    def start(self, tasks: list[Task], injected: dict, console: Log) -> None:
        """Upload the data (once per data version), then find the jobs of earlier starts that
        these tasks can reattach to instead of being submitted again."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.log, self.injected = console, injected
        s = self.settings
        self.log(
            f"sagemaker: {len(tasks)} job(s), at most {s.max_jobs} at once, on "
            f"{s.instance_type} in {s.region}, image {s.image}"
        )
        profile = tasks[0].run.profile if tasks else "default"
        self.ledger = Ledger(layout.ledger_file(profile))
        try:
            self.data_uri = self.upload_data(self.log)
        except (BotoCoreError, ClientError, ValueError) as exc:
            for task in tasks:
                task.error = RunFailed(
                    f"run {task.run.name!r} not submitted: uploading the data to "
                    f"s3://{s.bucket}/{s.prefix}/data/ failed: {exc}"
                )
            return
        self.bundle = code_bundle()
        self._reattach(tasks)

    def submit(self, task: Task) -> None:
        """Queue the task; wait() submits it when a slot is free."""
        if task.run.name in self.jobs:  # reattached in start()
            return
        name = job_name(task.run)
        job = Job(task, name, f"{self.settings.prefix}/jobs/{name}")
        self.jobs[task.run.name] = job
        if task.error is not None:
            job.status = "NotSubmitted"
            self.ended.append(job)
        else:
            self.queue.append(job)

    def wait(self) -> Iterator[Task]:
        """Submit queued jobs as slots free up, poll the running ones, and yield each task as
        its job ends."""
        last_report = float("-inf")
        while self.queue or self.active or self.ended:
            self._fill_slots()
            while self.ended:
                yield self.ended.pop(0).task
            if not self.active and not self.queue:
                break
            changed = self._poll()
            now = time.monotonic()
            if now - last_report >= self.settings.progress_s and not changed:
                running = ", ".join(f"{j.run.name} {j.status}" for j in self.active) or "none"
                self.log(
                    f"  sagemaker: {len(self.active)} running ({running}), "
                    f"{len(self.queue)} waiting for a slot"
                )
                last_report = now
            while self.ended:
                yield self.ended.pop(0).task
            if self.active or self.queue:
                self.sleep(self._pause())

    def collect(self, task: Task) -> float:
        """A Completed job's output into the run's temporary folder; for any other end, what
        the job uploaded (the executed notebook) goes there too and RunFailed says why."""
        from botocore.exceptions import BotoCoreError, ClientError

        job = self.jobs[task.run.name]
        if task.error is not None:
            raise task.error
        run, dest = task.run, task.folder.begin()
        task.note = job.name
        task.seconds = self._seconds(job)
        if job.status == "Completed":
            try:
                self.download(job.output_prefix, dest)
            except (BotoCoreError, ClientError) as exc:
                # The ledger keeps the job: the next start collects it without running it again.
                raise RunFailed(
                    f"run {run.name!r}: SageMaker job {job.name} completed but its output "
                    f"{self.uri(job.output_prefix)} could not be downloaded: {exc}; rerun to "
                    "collect it"
                ) from None
            self._forget(job)
            return task.seconds
        d = job.description
        lines = [
            f"run {run.name!r} failed on SageMaker: job {job.name} {job.status}: "
            f"{d.get('FailureReason') or 'no failure reason given'}"
        ]
        if d.get("ExitMessage"):
            lines.append(f"  container: {d['ExitMessage'].strip()}")
        lines.append(f"  {self.where_logs_are(job)}")
        # The job may have uploaded nothing; the message says where the logs are.
        with contextlib.suppress(BotoCoreError, ClientError):
            self.download(job.output_prefix, dest)
        self._forget(job)
        raise RunFailed("\n".join(lines))

    def stop(self) -> None:
        """Stop every job this runner submitted that has not ended (and the one whose
        submission was cut short), whatever interrupted it."""
        pending = [j for j in self.active if j.status not in TERMINAL]
        if self.submitting is not None and self.submitting not in pending:
            pending.append(self.submitting)
        for job in pending:
            try:
                self.session.sagemaker_client.stop_processing_job(ProcessingJobName=job.name)
                job.status = "Stopping"
                self.log(f"interrupted: stopped SageMaker job {job.name} ({job.run.name})")
                self._forget(job)
            except Exception as exc:  # best effort while interrupted; say what is left running
                if NOT_FOUND.search(_message(exc)):  # never created: nothing runs
                    self._forget(job)
                    continue
                self.log(
                    f"interrupted: could not stop SageMaker job {job.name}: {exc}; stop it with "
                    f"`aws sagemaker stop-processing-job --processing-job-name {job.name}` "
                    "(a rerun reattaches to it instead)"
                )

    def close(self) -> list[str]:
        """What the jobs cost: billable seconds per job and instance type, and the total."""
        jobs = [j for j in self.jobs.values() if j.description.get("ProcessingStartTime")]
        if not jobs:
            return []
        lines = ["sagemaker: billable time (ProcessingStartTime to ProcessingEndTime per job):"]
        totals: dict[str, float] = {}
        for job in jobs:
            kind, count = self._instances(job)
            seconds = self._billable(job)
            totals[kind] = totals.get(kind, 0.0) + seconds * count
            ended = "" if job.description.get("ProcessingEndTime") else " (still billing)"
            lines.append(
                f"  {job.run.profile}/{job.run.name:<18} {job.name}  {count} x {kind}  "
                f"{job.status:<10} {seconds:>8.0f} s{ended}"
            )
        total = sum(totals.values())
        per_type = ", ".join(f"{k} {v:.0f} s ({v / 3600:.2f} h)" for k, v in totals.items())
        lines.append(f"  total: {len(jobs)} job(s), {total:.0f} instance-seconds: {per_type}")
        return lines

    # --- submitting: a queue, a quota, backoff ----------------------------------------------

    def _pause(self) -> float:
        wait = self.settings.poll_s
        if self.queue and not self.active:
            wait = max(0.0, self.next_try - time.monotonic())
        return wait

    def _fill_slots(self) -> None:
        while self.queue and len(self.active) < self.limit:
            if time.monotonic() < self.next_try:
                return
            job = self.queue[0]
            try:
                self._create(job)
            except _Refused as refused:
                self._refused(job, refused)
                return
            except Exception as exc:
                self.queue.pop(0)
                job.task.error = RunFailed(
                    f"run {job.run.name!r} not submitted: CreateProcessingJob failed: {exc}"
                )
                job.status = "NotSubmitted"
                self._forget(job)
                self.ended.append(job)
                continue
            self.queue.pop(0)
            self.active.append(job)
            self.refusals, self.waiting_since = 0, None
            self.log(f"submitted: {job.run.profile}/{job.run.name} as SageMaker job {job.name}")

    def _refused(self, job: Job, refused: _Refused) -> None:
        """A quota or throttling refusal: wait (for a slot, or with backoff) and retry."""
        now = time.monotonic()
        self.refusals += 1
        s = self.settings
        backoff = min(s.retry_max_s, s.retry_s * 2 ** (self.refusals - 1))
        if not refused.quota:
            self.next_try = now + backoff
            self.log(
                f"  sagemaker: request throttled ({refused.message}); retrying in {backoff:.0f} s"
            )
            return
        running = len(self.active)
        waiting = len(self.queue)
        if running:
            # Our own jobs hold the quota: the next submit waits until one of them ends.
            self.limit = running
            self.next_try = now
            if running not in self.limit_said:
                self.limit_said.add(running)
                self.log(
                    f"sagemaker: the account appears to allow {running} {s.instance_type} "
                    f"processing job(s) at once (ResourceLimitExceeded with {running} running); "
                    f"{waiting} job(s) wait for a free slot. To run more at once, request a higher "
                    f"'{s.instance_type} for processing job usage' quota in Service Quotas "
                    "(see README: Quotas) or lower --max-jobs."
                )
            return
        # None of ours runs: the quota is 0, or other jobs of the account use it up.
        self.waiting_since = self.waiting_since or now
        if now - self.waiting_since > s.slot_wait_s:
            message = (
                f"not submitted: SageMaker refused {self.refusals} time(s) over "
                f"{now - self.waiting_since:.0f} s to start a {s.instance_type} processing job "
                f"while none of this study's jobs ran: the account's quota for it appears to be "
                f"0, or other jobs use it all ({refused.message}). Request a higher "
                f"'{s.instance_type} for processing job usage' quota in Service Quotas, or "
                "choose another --instance-type."
            )
            for queued in self.queue:
                queued.task.error = RunFailed(f"run {queued.run.name!r} {message}")
                queued.status = "NotSubmitted"
                self._forget(queued)
                self.ended.append(queued)
            self.queue.clear()
            return
        self.next_try = now + backoff
        if 0 not in self.limit_said:
            self.limit_said.add(0)
            self.log(
                f"sagemaker: the account appears to allow no more {s.instance_type} processing "
                f"jobs right now (ResourceLimitExceeded with none of ours running: a quota of 0, "
                f"or other jobs use it); retrying with backoff for up to "
                f"{s.slot_wait_s / 60:.0f} min. See README: Quotas."
            )

    def _create(self, job: Job) -> None:
        """Upload the job's inputs (once), write the ledger entry, then CreateProcessingJob."""
        from botocore.exceptions import ClientError

        if not job.inputs_uploaded:
            self._upload_inputs(job)
            job.inputs_uploaded = True
        assert self.ledger is not None
        # Set before the entry is written: a Ctrl-C from here on leaves the job to stop(), which
        # stops it if the request created it and forgets it if not.
        self.submitting = job
        self.ledger.add(
            job.name,
            {
                "run": job.run.name,
                "fingerprint": job.task.fingerprint,
                "region": self.settings.region,
                "bucket": self.settings.bucket,
                "prefix": self.settings.prefix,
                "submitted": datetime.now(UTC).replace(microsecond=0).isoformat(),
            },
        )
        try:
            self._create_processing_job(job)
        except ClientError as exc:
            # The entry goes before `submitting` is cleared: a Ctrl-C in between still finds the
            # job in stop(), which forgets one that was never created.
            code = _code(exc)
            if code == "ResourceLimitExceeded" or code in THROTTLING:
                # Refused, so never created: a stale entry would outlive an interrupt.
                self.ledger.remove(job.name)
                self.submitting = None
                if code == "ResourceLimitExceeded":
                    raise _Refused(True, _message(exc)) from None
                raise _Refused(False, f"{code}: {_message(exc)}") from None
            if not self._exists(job.name):  # else a retried request that had already created it
                self.ledger.remove(job.name)
                self.submitting = None
                raise
            self.submitting = None
        except Exception:
            self.submitting = None
            raise
        # Not cleared on KeyboardInterrupt: stop() needs it.
        self.submitting = None
        job.submitted = time.monotonic()
        job.status = "Submitted"

    def _exists(self, name: str) -> bool:
        try:
            self.describe(name)
        except Exception:
            return False
        return True

    def _upload_inputs(self, job: Job) -> None:
        run = job.run
        objects = {
            "code/entrypoint.sh": ENTRYPOINT.read_bytes(),
            f"code/{run.notebook_path.name}": run.notebook_path.read_bytes(),
            "code/analysis.tar.gz": self.bundle,
            "params/params.json": json.dumps(job_parameters(run, self.injected), indent=2).encode(),
        }
        requirements = container_requirements()
        if requirements:
            objects["code/requirements.txt"] = requirements.encode()
        for rel, body in objects.items():
            self.s3.put_object(Bucket=self.settings.bucket, Key=f"{job.prefix}/{rel}", Body=body)

    def _create_processing_job(self, job: Job) -> None:
        from sagemaker.core.processing import Processor
        from sagemaker.core.shapes import (
            ProcessingInput,
            ProcessingOutput,
            ProcessingS3Input,
            ProcessingS3Output,
        )

        run = job.run

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
            s3_input("data", self.data_uri, CONTAINER_DATA),
        ]
        # Continuous: files reach S3 as they are written, so a failed job's executed notebook
        # (and run.log) is there too; EndOfJob uploads nothing when the container fails.
        outputs = [
            ProcessingOutput(
                output_name="output",
                s3_output=ProcessingS3Output(
                    s3_uri=self.uri(job.output_prefix),
                    local_path=CONTAINER_OUTPUT,
                    s3_upload_mode="Continuous",
                ),
            )
        ]
        tags = {
            "run": run.name,
            "profile": run.profile,
            "fingerprint": job.task.fingerprint,
            "code-version": str(self.injected.get("code_version") or "unknown"),
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
            arguments=[run.notebook_path.name],
            wait=False,
            logs=False,
            job_name=job.name,
        )

    # --- reattaching after a crash, a kill or a closed terminal -----------------------------

    def _reattach(self, tasks: list[Task]) -> None:
        """Jobs of earlier starts for these tasks' inputs: running ones are waited for,
        ended ones collected; none is submitted again. The ledger first, then the tags."""
        assert self.ledger is not None
        by_fingerprint = {t.fingerprint: t for t in tasks if t.error is None}
        s = self.settings
        for name, entry in sorted(
            self.ledger.load().items(), key=lambda i: i[1].get("submitted", "")
        ):
            task = by_fingerprint.get(entry.get("fingerprint", ""))
            same_place = (entry.get("region"), entry.get("bucket"), entry.get("prefix")) == (
                s.region,
                s.bucket,
                s.prefix,
            )
            if task is None or not same_place or task.run.name in self.jobs:
                continue
            self._adopt(task, name, "ledger")
        missing = [t for t in by_fingerprint.values() if t.run.name not in self.jobs]
        if missing:
            for name, fingerprint in self._tagged(missing[0].run.profile):
                task = by_fingerprint.get(fingerprint)
                if task is not None and task.run.name not in self.jobs:
                    self._adopt(task, name, "tag msl-study:fingerprint")

    def _adopt(self, task: Task, name: str, how: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            description = self.describe(name)
        except (BotoCoreError, ClientError) as exc:
            if NOT_FOUND.search(_message(exc)):  # the earlier start died before creating it
                self._forget_name(name)
            else:
                self.log(f"sagemaker: could not look at earlier job {name}: {exc}")
            return
        status = description.get("ProcessingJobStatus", "Unknown")
        if status in ("Stopping", "Stopped"):
            self._forget_name(name)
            return
        job = Job(task, name, f"{self.settings.prefix}/jobs/{name}", reattached=True)
        job.status, job.description = status, description
        self.jobs[task.run.name] = job
        if how != "ledger":
            assert self.ledger is not None
            self.ledger.add(
                name,
                {
                    "run": task.run.name,
                    "fingerprint": task.fingerprint,
                    "region": self.settings.region,
                    "bucket": self.settings.bucket,
                    "prefix": self.settings.prefix,
                    "submitted": str(description.get("CreationTime", "")),
                },
            )
        if status in TERMINAL:
            self.ended.append(job)
        else:
            self.active.append(job)
        self.log(
            f"reattached: {task.label} to SageMaker job {name} ({status}; found by {how}), "
            "not submitting it again"
        )

    def _tagged(self, profile: str) -> list[tuple[str, str]]:
        """(job name, fingerprint tag) of this profile's jobs in the account still in progress.
        Completed ones are not taken (a --force rerun must not get an old result back); the
        ledger has those whose output is not collected yet."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.session.sagemaker_client
        base = re.sub(r"[^a-zA-Z0-9]+", "-", f"msl-{profile}-").strip("-")
        found = []
        try:
            pages = client.get_paginator("list_processing_jobs").paginate(
                NameContains=base, StatusEquals="InProgress"
            )
            for page in pages:
                for summary in page.get("ProcessingJobSummaries", []):
                    tags = client.list_tags(ResourceArn=summary["ProcessingJobArn"]).get("Tags", [])
                    values = {t["Key"]: t["Value"] for t in tags}
                    if values.get(f"{TAG}profile") == profile and values.get(f"{TAG}fingerprint"):
                        found.append((summary["ProcessingJobName"], values[f"{TAG}fingerprint"]))
        except (BotoCoreError, ClientError) as exc:
            self.log(
                f"sagemaker: could not list this study's jobs by tag ({_code(exc) or exc}); "
                f"relying on the ledger {self.ledger.path if self.ledger else ''}"
            )
        return found

    def _forget(self, job: Job) -> None:
        self._forget_name(job.name)

    def _forget_name(self, name: str) -> None:
        if self.ledger is not None:
            self.ledger.remove(name)

    # --- waiting ----------------------------------------------------------------------------

    def _poll(self) -> bool:
        """Describe every running job; ended ones move to `ended`. True when a state changed."""
        from botocore.exceptions import BotoCoreError, ClientError

        changed = False
        for job in list(self.active):
            try:
                job.description = self.describe(job.name)
                job.describe_errors = 0
            except (BotoCoreError, ClientError) as exc:
                if _code(exc) in THROTTLING:
                    continue
                job.describe_errors += 1
                if job.describe_errors >= 10:
                    job.status = "Unknown"
                    job.task.error = RunFailed(
                        f"run {job.run.name!r}: lost track of SageMaker job {job.name}: {exc}; "
                        f"a rerun reattaches to it\n  {self.where_logs_are(job)}"
                    )
                    self.active.remove(job)
                    self.ended.append(job)
                continue
            status = job.description.get("ProcessingJobStatus", "Unknown")
            if status != job.status:
                changed = True
                job.status = status
                self.log(
                    f"  {job.run.profile}/{job.run.name:<16} {status:<11} "
                    f"{_elapsed(time.monotonic() - job.submitted):>9}  {job.name}"
                )
            if status in TERMINAL:
                self.active.remove(job)
                self.ended.append(job)
        return changed

    def _billable(self, job: Job) -> float:
        d = job.description
        start, end = d.get("ProcessingStartTime"), d.get("ProcessingEndTime")
        if isinstance(start, datetime):
            end = end if isinstance(end, datetime) else datetime.now(start.tzinfo)
            return max(0.0, (end - start).total_seconds())
        return 0.0

    def _instances(self, job: Job) -> tuple[str, int]:
        cluster = job.description.get("ProcessingResources", {}).get("ClusterConfig", {})
        return (
            cluster.get("InstanceType") or self.settings.instance_type,
            int(cluster.get("InstanceCount") or 1),
        )

    def _seconds(self, job: Job) -> float:
        return self._billable(job) or (time.monotonic() - job.submitted)


class _Refused(Exception):
    """CreateProcessingJob was refused for now: the quota (quota=True) or throttling."""

    def __init__(self, quota: bool, message: str):
        super().__init__(message)
        self.quota, self.message = quota, message
