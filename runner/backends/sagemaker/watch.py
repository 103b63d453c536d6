"""Waiting for running jobs (DescribeProcessingJob) and what they cost."""

from __future__ import annotations

import time
from datetime import datetime

from runner.backends.base import RunFailed
from runner.backends.sagemaker.job import LOG_GROUP, TERMINAL, THROTTLING, Job, _code, _elapsed


class Watch:
    """The SageMakerBackend's part that polls running jobs and prices ended ones."""

    def where_logs_are(self, job: Job) -> str:
        region = self.settings.region
        return (
            f"logs: CloudWatch log group {LOG_GROUP}, streams {job.name}/* "
            f"(aws logs tail {LOG_GROUP} --log-stream-name-prefix {job.name} "
            f"--region {region})"
        )

    def _poll(self) -> bool:
        """Describe every running job; ended ones move to `ended`. True when a state changed."""
        from botocore.exceptions import BotoCoreError, ClientError

        changed = False
        for job in list(self.active):
            try:
                job.description = self.describe(job.name)
                job.describe_errors, job.throttled_since = 0, None
            except (BotoCoreError, ClientError) as exc:
                throttled = _code(exc) in THROTTLING
                if throttled:
                    # Retried under a deadline: the job itself is bounded by its MaxRuntime.
                    job.throttled_since = job.throttled_since or time.monotonic()
                    deadline = self.settings.throttle_deadline_s
                    if time.monotonic() - job.throttled_since <= deadline:
                        continue
                else:
                    job.describe_errors += 1
                if throttled or job.describe_errors >= 10:
                    why = (
                        f"throttled for {self.settings.throttle_deadline_s:.0f} s, the deadline "
                        "(SAGEMAKER_THROTTLE_DEADLINE): "
                        if throttled
                        else ""
                    )
                    job.status = "Unknown"
                    job.task.error = RunFailed(
                        f"run {job.run.name!r}: lost track of SageMaker job {job.name} ({why}"
                        f"{exc}); a rerun reattaches to it, and its MaxRuntimeInSeconds stops "
                        f"it\n  {self.where_logs_are(job)}"
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
                # A slot freed: let the next submit probe whether the quota allows more again.
                self.limit = min(self.settings.max_jobs, self.limit + 1)
                if not self._resubmitted(job):
                    self.ended.append(job)
        return changed

    def close(self) -> list[str]:
        """What the jobs cost: billable seconds per job and instance type, and the total."""
        every = [*self.retired, *self.jobs.values()]
        jobs = [j for j in every if j.description.get("ProcessingStartTime")]
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
