"""The quota-aware queue: submit jobs as slots free up, back off on quota and throttling."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from runner.backends.base import RunFailed
from runner.backends.sagemaker.job import (
    NOT_FOUND,
    NOT_THE_NOTEBOOKS,
    THROTTLING,
    Job,
    _code,
    _message,
    _Refused,
)
from runner.backends.sagemaker.requests import job_name, job_tags, processing_job_request


class Queue:
    """The SageMakerBackend's part that submits: a slot limit lowered to the quota the account
    appears to have, backoff after refusals, the ledger entry written before each create."""

    def _pause(self) -> float:
        wait = self.settings.poll_s
        if self.queue and not self.active:
            first = min(j.not_before for j in self.queue)
            wait = max(0.0, max(self.next_try, first) - time.monotonic())
        return wait

    def _resubmitted(self, job: Job) -> bool:
        """A job that failed with AWS's error (capacity, internal), not the notebook's: queued
        again under a new name after a backoff, at most Settings.resubmits times."""
        reason = job.description.get("FailureReason") or ""
        s = self.settings
        if job.status != "Failed" or not NOT_THE_NOTEBOOKS.match(reason):
            return False
        if job.attempt > s.resubmits:
            self.log(
                f"  sagemaker: {job.run.name}: job {job.name} failed with AWS's error again "
                f"({reason}); not resubmitting after {job.attempt} attempts"
            )
            return False
        self._forget(job)
        self.retired.append(job)
        name = job_name(job.run, s.prefix)
        again = Job(job.task, name, f"{s.prefix}/jobs/{name}", attempt=job.attempt + 1)
        wait = min(s.retry_max_s, s.retry_s * 2 ** (job.attempt - 1))
        again.not_before = time.monotonic() + wait
        self.jobs[job.run.name] = again
        self.queue.insert(0, again)
        self.log(
            f"  sagemaker: {job.run.name}: job {job.name} failed with AWS's error, not the "
            f"notebook's ({reason}); resubmitting in {wait:.0f} s as attempt {again.attempt} "
            f"of {1 + s.resubmits}"
        )
        return True

    def _fill_slots(self) -> None:
        while self.queue and len(self.active) < self.limit:
            now = time.monotonic()
            if now < self.next_try:
                return
            job = next((j for j in self.queue if j.not_before <= now), None)
            if job is None:
                return
            try:
                self._create(job)
            except _Refused as refused:
                self._refused(job, refused)
                return
            except Exception as exc:
                self.queue.remove(job)
                message = f"run {job.run.name!r} not submitted: CreateProcessingJob failed: {exc}"
                if isinstance(exc, _Unknown):
                    # The ledger keeps the entry: a rerun reattaches if the job exists.
                    message += (
                        f"; whether job {job.name} was created could not be checked "
                        f"({exc.why}): the ledger keeps it as unknown, and a rerun looks it up "
                        "(DescribeProcessingJob) and reattaches to it if it exists before "
                        "submitting anything"
                    )
                else:
                    self._forget(job)
                job.task.error = RunFailed(message)
                job.status = "NotSubmitted"
                self.ended.append(job)
                continue
            self.queue.remove(job)
            self.active.append(job)
            self.refusals, self.waiting_since, self.throttled_since = 0, None, None
            self.log(
                f"submitted: {job.run.profile}/{job.run.name} as SageMaker job {job.name} "
                f"(stopped by SageMaker after {job.max_runtime_s / 3600:.1f} h at most)"
            )

    def _refused(self, job: Job, refused: _Refused) -> None:
        """A quota or throttling refusal: wait (for a slot, or with backoff) and retry."""
        now = time.monotonic()
        self.refusals += 1
        s = self.settings
        backoff = min(s.retry_max_s, s.retry_s * 2 ** (self.refusals - 1))
        if not refused.quota:
            # Throttling is retried under one deadline, counted from the first refusal in a row.
            self.throttled_since = self.throttled_since or now
            if now - self.throttled_since >= s.throttle_deadline_s:
                self._give_up(
                    f"not submitted: SageMaker throttled CreateProcessingJob {self.refusals} "
                    f"time(s) over {now - self.throttled_since:.0f} s (the deadline, "
                    f"SAGEMAKER_THROTTLE_DEADLINE, is {s.throttle_deadline_s:.0f} s): "
                    f"{refused.message}. Rerun later, or with a lower --max-jobs."
                )
                return
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
                    f"processing job(s) at once (ResourceLimitExceeded with {running} running: "
                    f"{refused.message}); "
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
            self._give_up(message)
            return
        self.next_try = now + backoff
        if 0 not in self.limit_said:
            self.limit_said.add(0)
            self.log(
                f"sagemaker: the account appears to allow no more {s.instance_type} processing "
                f"jobs right now (ResourceLimitExceeded with none of ours running: a quota of 0, "
                f"or other jobs use it: {refused.message}); retrying with backoff for up to "
                f"{s.slot_wait_s / 60:.0f} min. See README: Quotas."
            )

    def _give_up(self, message: str) -> None:
        """Every queued run ends not submitted, with `message`."""
        for queued in self.queue:
            queued.task.error = RunFailed(f"run {queued.run.name!r} {message}")
            queued.status = "NotSubmitted"
            self._forget(queued)
            self.ended.append(queued)
        self.queue.clear()

    def _create(self, job: Job) -> None:
        """Upload the job's inputs (once), write the ledger entry, then CreateProcessingJob."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        # Imported here: `python -m runner.backends.sagemaker.runtime` runs it as a script.
        from runner.backends.sagemaker.runtime import max_runtime

        s = self.settings
        job.max_runtime_s = max_runtime(job.run, s.instance_type, s.max_runtime_s)
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
            request = processing_job_request(
                self.settings,
                job.name,
                job.run.notebook_path.name,
                self.data_uri,
                job_tags(job, self.injected),
                job.max_runtime_s,
            )
            self.session.sagemaker_client.create_processing_job(**request)
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
            exists = self._exists(job.name)
            if exists is False:  # else a retried request that had already created it
                self.ledger.remove(job.name)
                self.submitting = None
                raise
            self.submitting = None
            if exists is None:
                self._keep_as_unknown(job)
                raise _Unknown(exc, self._unknown) from None
        except (ConnectionError, HTTPClientError) as exc:
            # The request may have reached AWS and created the job: only an explicit "not
            # found" says it did not. Otherwise the job is paid for, and a rerun that submitted
            # it again would pay twice.
            exists = self._exists(job.name)
            if exists is False:
                self.ledger.remove(job.name)
                self.submitting = None
                raise
            self.submitting = None
            if exists is None:
                self._keep_as_unknown(job)
                raise _Unknown(exc, self._unknown) from None
        except Exception:
            self.submitting = None
            raise
        # Not cleared on KeyboardInterrupt: stop() needs it.
        self.submitting = None
        job.submitted = time.monotonic()
        job.status = "Submitted"

    def _keep_as_unknown(self, job: Job) -> None:
        """The ledger entry stays, marked: the job may exist; the next start looks it up."""
        assert self.ledger is not None
        self.ledger.add(job.name, {**self.ledger.load().get(job.name, {}), "state": "unknown"})

    def _exists(self, name: str) -> bool | None:
        """Whether the job exists; None when DescribeProcessingJob could not tell (throttled,
        a network error): only an explicit "not found" says it does not."""
        try:
            self.describe(name)
        except Exception as exc:
            if NOT_FOUND.search(_message(exc)):
                return False
            self._unknown = str(exc)
            return None
        return True


class _Unknown(Exception):
    """CreateProcessingJob failed, and whether it created the job could not be checked."""

    def __init__(self, exc: Exception, why: str):
        super().__init__(str(exc))
        self.why = why
