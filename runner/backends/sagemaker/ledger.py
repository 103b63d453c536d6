"""The ledger of submitted jobs, and reattaching to them (or to tagged jobs) after a restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runner.backends.base import RunFailed, Task
from runner.backends.sagemaker.job import (
    NOT_FOUND,
    NOT_THE_NOTEBOOKS,
    TERMINAL,
    Job,
    _code,
    _message,
)
from runner.backends.sagemaker.requests import job_base
from runner.backends.sagemaker.settings import TAG


class Ledger:
    """The SageMaker jobs of one profile that were submitted and not yet collected, by name:
    {"run", "fingerprint", "region", "bucket", "prefix", "submitted"}, and "state": "unknown"
    when CreateProcessingJob ended without an answer (it may have created the job; the next
    start asks DescribeProcessingJob before submitting anything). Written (to a temporary
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


class Reattach:
    """The SageMakerBackend's part that finds jobs of earlier starts (ledger, then tags) and
    keeps the ledger: its entries go once a job's output is collected or it never existed."""

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
            if task is None or not same_place or task.run.name in self.jobs or task.error:
                continue
            self._adopt(task, name, "ledger")
        missing = [
            t for t in by_fingerprint.values() if t.run.name not in self.jobs and t.error is None
        ]
        if missing:
            for name, fingerprint in self._tagged(missing[0].run.profile):
                task = by_fingerprint.get(fingerprint)
                if task is not None and task.run.name not in self.jobs and not task.error:
                    self._adopt(task, name, "tag msl-study:fingerprint")

    def _adopt(self, task: Task, name: str, how: str) -> None:
        description = self._look_at(task, name)
        if description is None:
            return
        status = description.get("ProcessingJobStatus", "Unknown")
        if status in ("Stopping", "Stopped"):
            self._stopped(task, name, status, description)
            return
        reason = description.get("FailureReason") or ""
        if status == "Failed" and NOT_THE_NOTEBOOKS.match(reason):
            self.log(
                f"sagemaker: earlier job {name} of {task.label} failed with AWS's error, not the "
                f"notebook's ({reason}); submitting the run again"
            )
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

    def _look_at(self, task: Task, name: str) -> dict | None:
        """DescribeProcessingJob of an earlier job, retried with backoff; None when there is
        no such job (its entry goes) or AWS could not say (throttled, unreachable: the entry
        stays and the run is not submitted, so a running job is never paid for twice)."""
        from botocore.exceptions import BotoCoreError, ClientError

        s = self.settings
        for attempt in range(3):
            try:
                return self.describe(name)
            except (BotoCoreError, ClientError) as exc:
                if NOT_FOUND.search(_message(exc)):  # the earlier start died before creating it
                    self._forget_name(name)
                    return None
                error = exc
                self.sleep(min(s.retry_max_s, s.retry_s * 2**attempt))
        self.log(f"sagemaker: could not look at earlier job {name}: {error}")
        task.error = RunFailed(
            f"run {task.run.name!r} not submitted: its earlier SageMaker job {name} could not be "
            f"looked at ({_code(error) or error}); it may still be running, so the ledger keeps "
            "it: rerun to reattach to it"
        )
        return None

    def _stopped(self, task: Task, name: str, status: str, description: dict) -> None:
        """An earlier job stopped while no runner watched (its MaxRuntimeInSeconds, or someone
        in the console): said with its reason; submitted again only with --resubmit-stopped."""
        why = (
            description.get("FailureReason")
            or description.get("ExitMessage")
            or "no reason given: stopped by StopProcessingJob (the console, the CLI) or its "
            "MaxRuntimeInSeconds"
        )
        if self.settings.resubmit_stopped:
            self.log(
                f"sagemaker: earlier job {name} of {task.label} was {status} ({why}); "
                "submitting the run again (--resubmit-stopped)"
            )
            self._forget_name(name)
            return
        task.error = RunFailed(
            f"run {task.run.name!r}: its SageMaker job {name} was {status} while no runner "
            f"watched it ({why}); not submitted again: rerun with --resubmit-stopped to submit "
            "it (the job's output so far is in S3 under its prefix)"
        )

    def _tagged(self, profile: str) -> list[tuple[str, str]]:
        """(job name, fingerprint tag) of this profile's jobs in the account still in progress.
        Completed ones are not taken (a --force rerun must not get an old result back); the
        ledger has those whose output is not collected yet."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.session.sagemaker_client
        base = job_base(self.settings.prefix, profile)
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
