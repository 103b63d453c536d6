"""The SageMaker backend: wires settings, S3, the queue, the ledger and polling together."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from runner import layout
from runner.backends.base import RunFailed, Task
from runner.backends.sagemaker.job import NOT_FOUND, TERMINAL, Job, Log, _message
from runner.backends.sagemaker.ledger import Ledger, Reattach
from runner.backends.sagemaker.queue import Queue
from runner.backends.sagemaker.requests import (
    code_bundle,
    container_requirements,
    job_name,
    lock_python,
)
from runner.backends.sagemaker.settings import (
    UPLOAD_THREADS,
    Settings,
    expect_owner,
    image_python,
    settings_from_env,
)
from runner.backends.sagemaker.storage import Storage
from runner.backends.sagemaker.watch import Watch
from runner.errors import ConfigError


class SageMakerBackend(Reattach, Queue, Storage, Watch):
    """Runs jobs of the plan as SageMaker Processing jobs; see the package docstring."""

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
        self.requirements = ""
        self.ledger: Ledger | None = None
        self.queue: list[Job] = []  # waiting for a slot, in plan order
        self.active: list[Job] = []  # submitted, not yet ended
        self.ended: list[Job] = []  # ended, not yet handed to the runner
        self.jobs: dict[str, Job] = {}  # every job of this start, by run name
        self.retired: list[Job] = []  # failed with AWS's error and resubmitted: still paid for
        self.submitting: Job | None = None  # between the ledger entry and CreateProcessingJob
        self.limit = settings.max_jobs  # lowered to what the account appears to allow
        self.limit_said: set[int] = set()
        self.refusals = 0  # consecutive refusals (quota, throttling) of CreateProcessingJob
        self.next_try = 0.0  # monotonic time of the next CreateProcessingJob attempt
        self.waiting_since: float | None = None  # refused while none of our jobs ran
        self.throttled_since: float | None = None  # first of the throttled creates in a row

    @classmethod
    def from_env(
        cls, data_dir: Path, env: Mapping[str, str] | None = None, **overrides
    ) -> SageMakerBackend:
        """Settings from keyword overrides (CLI flags), else the environment (settings.py)."""
        return cls(settings_from_env(env, **overrides), data_dir)

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
            expect_owner(self._s3, self.settings.bucket_owner)
        return self._s3

    def describe(self, name: str) -> dict:
        """DescribeProcessingJob; the one place the waiting loop learns a job's state."""
        return self.session.sagemaker_client.describe_processing_job(ProcessingJobName=name)

    # --- the backend interface (runner/backends/base.py) ------------------------------------

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
        self.bundle = code_bundle()  # before any upload: a refused lock uploads nothing
        self.requirements = container_requirements()  # the lock, checked against pyproject
        if s.pip_install:
            # pip would refuse the lock's wheels inside a job that is already billing.
            wanted, locked = image_python(s.image, s.image_python), lock_python(self.requirements)
            if wanted is not None and wanted != locked:
                raise ConfigError(
                    f"image {s.image} runs Python {wanted}, the lock's wheels are for Python "
                    f"{locked}: use an image with Python {locked}, or `make lock ARGS="
                    f"'--python-version {wanted}'`; nothing was submitted"
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
        self._reattach(tasks)

    def submit(self, task: Task) -> None:
        """Queue the task; wait() submits it when a slot is free."""
        if task.run.name in self.jobs:  # reattached in start()
            return
        name = job_name(task.run, self.settings.prefix)
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
