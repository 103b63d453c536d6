"""A thin SageMaker front for the moto server, on 127.0.0.1, that plays the parts moto lacks.

Moto records processing jobs but reports each one "Completed" the moment it is created, runs no
container and has no quotas. The runner talks to this proxy instead (AWS_ENDPOINT_URL_SAGEMAKER)
over real HTTP; every request still goes on to moto, which keeps the jobs and their tags, and the
proxy only changes what real SageMaker would do differently:

- CreateProcessingJob beyond `limit` running jobs answers ResourceLimitExceeded (the account's
  quota), and the next `refuse` / `throttle` creates answer ResourceLimitExceeded /
  ThrottlingException whatever runs;
- a job is InProgress for `duration` seconds, then its "container" has run: the files
  `outputs(run, failed)` returns are put where its ProcessingOutputConfig says, in moto's S3 (as
  continuous upload leaves them, for a failed job too), and it is Completed, or Failed with the
  fields in `failures[run]` (the first `fail_times[run]` jobs of the run, when given);
- the next `throttle_describe` DescribeProcessingJob answer ThrottlingException;
- the next `drop_create` CreateProcessingJob are carried out (the job is created, as AWS does
  with a request that reached it) but their connection is closed without an answer, as a
  network failure after the request leaves it;
- a CreateProcessingJob with the name of an existing job is refused (ResourceInUse), as AWS
  refuses it;
- DescribeProcessingJob and ListProcessingJobs report those states and times;
  StopProcessingJob stops a job.
S3 goes straight to moto (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlparse

QUOTA_MESSAGE = (
    "The account-level service limit '{kind} for processing job usage' is {limit} Instances, "
    "with current utilization of {running} Instances and a request delta of 1 Instances. "
    "Please use AWS Service Quotas to request an increase for this quota."
)


class FakeSageMaker:
    def __init__(self, moto_endpoint: str, s3, outputs: Callable[[str, bool], dict[str, bytes]]):
        self.moto = urlparse(moto_endpoint)
        self.s3 = s3
        self.outputs = outputs
        self.limit: int | None = None
        self.duration = 0.0
        self.hold_until = 0.0  # time.time() before which no job ends, whatever its duration
        self.refuse = 0
        self.throttle = 0
        self.failures: dict[str, dict] = {}
        self.fail_times: dict[str, int] = {}  # how many jobs of a run fail (default: all)
        self.throttle_describe = 0  # DescribeProcessingJob answers ThrottlingException
        self.drop_create = 0  # CreateProcessingJob creates, then closes without an answer
        self.jobs: dict[str, dict] = {}
        self.created: list[str] = []  # run names of the accepted creates, in order
        self.refused: list[str] = []  # run names refused (quota or throttling)
        self.stopped: list[str] = []  # job names
        self.max_running = 0
        self.lock = threading.RLock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                status, payload = proxy.handle(target.rsplit(".", 1)[-1], body, self.headers)
                if status is None:  # no answer: the connection just closes
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what the runner sees ----------------------------------------------------------------

    def running(self) -> int:
        return sum(j["status"] == "InProgress" for j in self.jobs.values())

    def creates_per_run(self) -> Counter:
        return Counter(self.created)

    def handle(self, op: str, body: bytes, headers) -> tuple[int | None, bytes]:
        with self.lock:
            self._advance()
            request = json.loads(body or b"{}")
            if op == "CreateProcessingJob":
                return self._create(request, body, headers)
            if op == "DescribeProcessingJob":
                if self.throttle_describe:
                    self.throttle_describe -= 1
                    return _error(400, "ThrottlingException", "Rate exceeded")
                return self._describe(request, body, headers)
            if op == "ListProcessingJobs":
                return self._list(request, headers)
            if op == "StopProcessingJob":
                job = self.jobs.get(request.get("ProcessingJobName", ""))
                if job is not None and job["status"] == "InProgress":
                    job.update(status="Stopped", ended=time.time())
                    self.stopped.append(request["ProcessingJobName"])
            return self._forward(body, headers)

    def _create(self, request: dict, body: bytes, headers) -> tuple[int | None, bytes]:
        status, payload = self._create_answer(request, body, headers)
        if self.drop_create:
            self.drop_create -= 1
            return None, b""
        return status, payload

    def _create_answer(self, request: dict, body: bytes, headers) -> tuple[int, bytes]:
        if request.get("ProcessingJobName") in self.jobs:
            return _error(400, "ResourceInUse", "Job names must be unique within an AWS account")
        tags = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
        run = tags.get("msl-study:run", "?")
        kind = request["ProcessingResources"]["ClusterConfig"]["InstanceType"]
        if self.throttle:
            self.throttle -= 1
            self.refused.append(run)
            return _error(400, "ThrottlingException", "Rate exceeded")
        running = self.running()
        if self.refuse or (self.limit is not None and running >= self.limit):
            self.refuse = max(0, self.refuse - 1)
            self.refused.append(run)
            limit = self.limit if self.limit is not None else running
            message = QUOTA_MESSAGE.format(kind=kind, limit=limit, running=running)
            return _error(400, "ResourceLimitExceeded", message)
        status, payload = self._forward(body, headers)
        if status == 200:
            now = time.time()
            self.jobs[request["ProcessingJobName"]] = {
                "run": run,
                "request": request,
                "status": "InProgress",
                "created": now,
                "ended": None,
            }
            self.created.append(run)
            self.max_running = max(self.max_running, self.running())
        return status, payload

    def _describe(self, request: dict, body: bytes, headers) -> tuple[int, bytes]:
        status, payload = self._forward(body, headers)
        job = self.jobs.get(request.get("ProcessingJobName", ""))
        if status != 200 or job is None:
            return status, payload
        described = json.loads(payload)
        described["ProcessingJobStatus"] = job["status"]
        described["ProcessingStartTime"] = job["created"]
        described.pop("ProcessingEndTime", None)
        if job["ended"] is not None:
            described["ProcessingEndTime"] = job["ended"]
        if job["status"] == "Failed":
            described.update(self.failures.get(job["run"], {}))
        return 200, json.dumps(described).encode()

    def _list(self, request: dict, headers) -> tuple[int, bytes]:
        wanted = request.pop("StatusEquals", None)
        status, payload = self._forward(json.dumps(request).encode(), headers)
        if status != 200:
            return status, payload
        listed = json.loads(payload)
        summaries = []
        for summary in listed.get("ProcessingJobSummaries", []):
            job = self.jobs.get(summary["ProcessingJobName"])
            if job is not None:
                summary["ProcessingJobStatus"] = job["status"]
            if wanted is None or summary["ProcessingJobStatus"] == wanted:
                summaries.append(summary)
        listed["ProcessingJobSummaries"] = summaries
        return 200, json.dumps(listed).encode()

    def _advance(self) -> None:
        """Jobs whose time is up: the container's output lands in S3, then they end."""
        now = time.time()
        for job in self.jobs.values():
            if (
                now < self.hold_until
                or job["status"] != "InProgress"
                or now - job["created"] < self.duration
            ):
                continue
            failed = job["run"] in self.failures
            if failed and job["run"] in self.fail_times:
                failed = self.fail_times[job["run"]] > 0
                self.fail_times[job["run"]] -= 1
            uri = job["request"]["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            for rel, content in self.outputs(job["run"], failed).items():
                self.s3.put_object(Bucket=bucket, Key=prefix + rel, Body=content)
            job.update(status="Failed" if failed else "Completed", ended=time.time())

    def _forward(self, body: bytes, headers) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.moto.hostname, self.moto.port, timeout=30)
        keep = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("content-type", "x-amz-target", "authorization", "x-amz-date")
        }
        keep["Content-Length"] = str(len(body))
        try:
            conn.request("POST", "/", body=body, headers=keep)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def _error(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"__type": code, "message": message}).encode()
