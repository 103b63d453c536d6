"""One job of the backend (its task, name, S3 prefix, state) and how AWS errors are read."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runner.backends.base import Task
from runner.plan import Run

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
TERMINAL = ("Completed", "Failed", "Stopped")
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
# Failures that are AWS's, not the notebook's: resubmitted (Settings.resubmits) with backoff.
NOT_THE_NOTEBOOKS = re.compile(r"^\s*(CapacityError|InternalServerError)\b")


Log = Callable[[str], Any]


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
    attempt: int = 1  # 2, 3, ... once resubmitted after a capacity or internal error
    not_before: float = 0.0  # monotonic time before which it is not submitted (backoff)
    max_runtime_s: int = 0  # its MaxRuntimeInSeconds (runtime.max_runtime)
    throttled_since: float | None = None  # first of its throttled describes in a row

    @property
    def run(self) -> Run:
        return self.task.run

    @property
    def output_prefix(self) -> str:
        return f"{self.prefix}/output/"


class _Refused(Exception):
    """CreateProcessingJob was refused for now: the quota (quota=True) or throttling."""

    def __init__(self, quota: bool, message: str):
        super().__init__(message)
        self.quota, self.message = quota, message


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") or ""


def _message(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Message", "") or str(exc)


def _elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"
