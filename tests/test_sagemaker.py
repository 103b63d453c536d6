"""The SageMaker backend against a local moto server (no AWS account, nothing but 127.0.0.1),
and its container entrypoint run here on a temp folder standing in for /opt/ml/processing.

Moto accepts CreateProcessingJob and answers DescribeProcessingJob with "Completed" at once; it
runs no container and has no quotas. So the queue, quota, reattachment and interrupt tests talk
to a thin proxy in front of it (tests/fake_sagemaker.py) over real HTTP: it keeps jobs running
for a while, answers ResourceLimitExceeded beyond the account's limit, and plays the container
(the job's output lands in moto's S3). S3 uploads and downloads, and every SageMaker request,
still reach the real moto server; runners are real processes where a signal or a kill is tested.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import numpy as np
import pytest

from analysis import paths
from analysis.data.index import DataError
from runner import execute, layout, lifecycle, state
from runner.__main__ import main
from runner.backends import sagemaker as sm
from runner.backends.base import Task
from runner.plan import load
from tests.aws import prepare_account
from tests.fake_sagemaker import FakeSageMaker

pytestmark = [pytest.mark.sagemaker, pytest.mark.usefixtures("loopback_only", "aws_rules")]

REGION = "us-east-1"
BUCKET = "msl-study-test-bucket"
PREFIX = "study-test"
ROLE = "arn:aws:iam::123456789012:role/msl-study-processing"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-study:test-py312"  # in moto's ECR
INSTANCE = "ml.g5.xlarge"
SECRET = "SECRET-KEY-that-must-never-be-written"
FIXTURES = Path(__file__).parent / "fixtures"
INJECTED = {
    "profile": "smoke",
    "data_dir": "ignored",
    "code_version": "test-version",
    "skip_bad_entries": False,
}
# metrics.json's top-level fields from the local backend (the README's contract, plus the
# learning history and the translation experiment the cnn notebook adds).
CNN_FIELDS = {
    "artifact",
    "per_seed",
    "training",
    "shift",
    "run",
    "profile",
    "notebook",
    "params",
    "provenance",
    "model",
    "seeds",
    "train",
    "val",
    "test",
    "per_class",
    "confusion_matrix",
    "baselines",
    "timing",
    "history",
    "translation",
    "figures",
}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def aws(moto_endpoint, quotas, monkeypatch, tmp_path):
    """Dummy credentials and every AWS client pointed at the moto server, with an empty
    state, a bucket, the role and the image (what preflight checks; Service Quotas from
    tests/fake_quotas.py); the backend's settings in the environment."""
    for var in list(os.environ):
        if var.startswith(("AWS_", "SAGEMAKER_")):
            monkeypatch.delenv(var)
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "AKIATESTINGONLY",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_ROLE": ROLE,
        "SAGEMAKER_BUCKET": BUCKET,
        "SAGEMAKER_IMAGE": IMAGE,
        "SAGEMAKER_INSTANCE_TYPE": INSTANCE,
        "SAGEMAKER_PREFIX": PREFIX,
        "SAGEMAKER_POLL_SECONDS": "0",
        "RESULTS_DIR": str(tmp_path / "results"),
        "AWS_ENDPOINT_URL_SERVICE_QUOTAS": quotas.endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).read()
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    prepare_account(REGION, ROLE.rsplit("/", 1)[1], IMAGE)
    return s3


@pytest.fixture(scope="module")
def smoke_plan():
    return load(profile="smoke")


def capture(client, operation: str) -> list[dict]:
    """The parameters of every `operation` call the client makes (it still makes them)."""
    calls: list[dict] = []
    service = client.meta.service_model.service_name
    client.meta.events.register(
        f"provide-client-params.{service}.{operation}",
        lambda params, **_: calls.append(json.loads(json.dumps(params, default=repr))),
    )
    return calls


def keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def notebook_bytes(error: bool = False) -> bytes:
    """An executed notebook as the container would leave it."""
    cell = nbformat.v4.new_code_cell("print('trained')")
    if error:
        cell.outputs = [
            nbformat.v4.new_output(
                "error", ename="ValueError", evalue="boom in cell 7", traceback=[]
            )
        ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    return nbformat.writes(nb).encode()


def predictions_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        files=np.asarray(["calibrated/a.JPG", "calibrated/b.JPG"]),
        y_true=np.array([0, 1]),
        y_pred=np.array([[0, 0]]),
        seeds=np.array([0]),
    )
    return buf.getvalue()


# --- settings and names -----------------------------------------------------------------------


def test_settings_come_from_the_environment(aws, tiny_msl):
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    s = backend.settings
    assert (s.role, s.bucket, s.region, s.image, s.instance_type, s.prefix, s.poll_s) == (
        ROLE,
        BUCKET,
        REGION,
        IMAGE,
        INSTANCE,
        PREFIX,
        0.0,
    )
    # max_runtime_s 0: each job's limit follows its run (runtime.max_runtime)
    assert s.max_jobs == 4 and (s.volume_gb, s.max_runtime_s) == (30, 0)
    override = sm.SageMakerBackend.from_env(
        tiny_msl, instance_type="ml.m5.large", image="x", max_jobs="2"
    )
    assert (override.settings.instance_type, override.settings.image) == ("ml.m5.large", "x")
    assert override.settings.max_jobs == 2


def test_default_image_is_aws_tensorflow_matching_the_instance(aws, tiny_msl, monkeypatch):
    monkeypatch.delenv("SAGEMAKER_IMAGE")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    gpu = sm.SageMakerBackend.from_env(tiny_msl).settings.image
    cpu = sm.SageMakerBackend.from_env(tiny_msl, instance_type="ml.m5.xlarge").settings.image
    version = sm.tensorflow_version()
    assert re.fullmatch(
        rf"\d+\.dkr\.ecr\.eu-west-1\.amazonaws\.com/tensorflow-training:"
        rf"{re.escape(version)}-gpu-py3\d+",
        gpu,
    ), gpu
    assert cpu == gpu.replace("-gpu-", "-cpu-")


def test_missing_settings_are_bad_input(aws, tiny_msl, monkeypatch, capsys):
    monkeypatch.delenv("SAGEMAKER_ROLE")
    with pytest.raises(sm.ConfigError, match="SAGEMAKER_ROLE"):
        sm.SageMakerBackend.from_env(tiny_msl)
    rc = main(
        ["run", "cnn", "--profile", "smoke", "--backend", "sagemaker", "--data-dir", str(tiny_msl)]
    )
    assert rc == 2
    assert "SAGEMAKER_ROLE" in capsys.readouterr().err
    monkeypatch.setenv("SAGEMAKER_ROLE", ROLE)
    monkeypatch.setenv("SAGEMAKER_INSTANCE_TYPE", "g5.xlarge")
    with pytest.raises(sm.ConfigError, match="instance type"):
        sm.SageMakerBackend.from_env(tiny_msl)


def test_job_names_are_valid_and_unique(smoke_plan):
    run = smoke_plan.runs["kernel-3to5"]
    long = type(run)("a_very-long.run/name" * 5, "cnn", "t", "", "profile_with_underscores", {})
    when = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # many names in the same second
    names = [sm.job_name(r, PREFIX, when) for r in (run, long) for _ in range(300)]
    assert len(set(names)) == len(names)
    for name in names:
        assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert names[0].startswith(f"{PREFIX}-smoke-kernel-3to5-")


def test_a_prefix_with_slash_and_underscore_names_everything_alike(
    fake_sm, tiny_msl, smoke_plan, monkeypatch, aws_rules
):
    """SAGEMAKER_PREFIX=team/msl_study/: S3 keys keep it, every SageMaker name starts with its
    one sanitized form, the NameContains filters (pattern [a-zA-Z0-9-]+, checked by the request
    check) find the job and the endpoint it names, and the README's IAM resource patterns
    cover those names and keys."""
    from runner.serving.aws import TAG_KEY, endpoint_name
    from runner.serving.deploy import endpoint_config_request
    from runner.serving.endpoints import Endpoints
    from tests import aws_rules as rules

    monkeypatch.setenv("SAGEMAKER_PREFIX", "team/msl_study/")
    backend = backend_for(tiny_msl)
    s = backend.settings
    assert (s.prefix, s.name_prefix) == ("team/msl_study", "team-msl-study")

    # A job as the runner makes it, left running by the proxy; the ledger's search finds it.
    fake_sm.duration = 600
    run = smoke_plan.runs["cnn"]
    task = Task(run, "fp-names", lifecycle.RunFolder(run))
    job = sm.Job(task, sm.job_name(run, s.prefix), "unused")
    assert job.name.startswith("team-msl-study-smoke-cnn-")
    sagemaker = backend.session.sagemaker_client
    listed = capture(sagemaker, "ListProcessingJobs")
    data_uri = f"s3://{BUCKET}/{s.prefix}/data/x/"
    request = sm.processing_job_request(s, job.name, "model.ipynb", data_uri, sm.job_tags(job, {}))
    sagemaker.create_processing_job(**request)
    assert backend._tagged("smoke") == [(job.name, "fp-names")]
    assert [c["NameContains"] for c in listed] == ["team-msl-study-smoke"]

    # An endpoint named as deploy names it; `endpoints` finds it by the same name prefix.
    name = endpoint_name(s.prefix, "smoke", "cnn")
    assert name == "team-msl-study-smoke-cnn"
    tags = [{"Key": TAG_KEY, "Value": name}]
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE}, Tags=tags
    )
    sagemaker.create_endpoint_config(**endpoint_config_request(name, name, tags, None, 2048, 2))
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name, Tags=tags)
    api = Endpoints(REGION, s.prefix)
    sent = capture(api.sm, "ListEndpoints")
    assert [n for n, _ in api.tagged("Endpoint")] == [name]
    assert [c["NameContains"] for c in sent] == ["team-msl-study"]
    assert not aws_rules.take()  # every filter and name passed the service's pattern

    # The README's caller policy, its placeholders filled in, grants these names and keys.
    fill = {"REGION": REGION, "ACCOUNT": "123456789012", "BUCKET": BUCKET}
    fill |= {"NAME": s.name_prefix, "PREFIX": s.prefix}
    resources = {
        sid: [re.sub("|".join(fill), lambda m: fill[m[0]], r) for r in resource]
        for st in rules.readme_policies()["caller"]["Statement"]
        for sid, resource in [(st.get("Sid"), st["Resource"])]
        for resource in [[resource] if isinstance(resource, str) else resource]
    }

    def granted(sid: str, arn: str) -> bool:
        return any(re.fullmatch(re.escape(r).replace(r"\*", ".*"), arn) for r in resources[sid])

    arn = f"arn:aws:sagemaker:{REGION}:123456789012"
    assert granted("ProcessingJobs", f"{arn}:processing-job/{job.name}")
    for kind in ("model", "endpoint-config", "endpoint"):
        assert granted("Endpoints", f"{arn}:{kind}/{name}-20260101-120000"), kind
    assert granted("StudyObjects", f"arn:aws:s3:::{BUCKET}/{s.prefix}/jobs/{job.name}/code/x")
    # ...and not another prefix's.
    assert not granted("ProcessingJobs", f"{arn}:processing-job/msl-smoke-cnn-1")


@pytest.mark.parametrize("prefix", ["_/_", "a" * 25])
def test_a_prefix_that_names_nothing_is_bad_input(aws, tiny_msl, monkeypatch, capsys, prefix):
    monkeypatch.setenv("SAGEMAKER_PREFIX", prefix)
    with pytest.raises(sm.ConfigError, match="SAGEMAKER_PREFIX=.*a shorter prefix"):
        sm.SageMakerBackend.from_env(tiny_msl)
    assert main(["endpoints"]) == 2
    assert "SAGEMAKER_PREFIX" in capsys.readouterr().err


# --- S3 and CreateProcessingJob through the moto server ----------------------------------------


def test_data_uploads_once_per_data_version(aws, tiny_msl):
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    puts = capture(backend.s3, "PutObject")
    logs: list[str] = []
    digest = state.data_hash(tiny_msl)
    files = sorted(p.relative_to(tiny_msl).as_posix() for p in tiny_msl.rglob("*") if p.is_file())

    uri = backend.upload_data(logs.append)
    assert uri == f"s3://{BUCKET}/{PREFIX}/data/{digest}/"
    assert keys(aws, f"{PREFIX}/data/{digest}/") == [f"{PREFIX}/data/{digest}/{f}" for f in files]
    marker = json.loads(
        aws.get_object(Bucket=BUCKET, Key=f"{PREFIX}/data/{digest}.complete.json")["Body"].read()
    )
    assert marker["files"] == len(files)
    assert len(puts) == len(files) + 1  # the marker is written last
    assert puts[-1]["Key"].endswith(".complete.json")

    puts.clear()
    assert backend.upload_data(logs.append) == uri
    assert puts == []
    assert "not uploading" in logs[-1]

    # A file added to the same data version: only it is sent, then the marker again.
    extra = tiny_msl / paths.IMAGE_DIR / "0999ML0000099999E01_DRCL.JPG"
    shutil.copy(next((tiny_msl / paths.IMAGE_DIR).iterdir()), extra)
    backend.upload_data(logs.append)
    assert [p["Key"].rsplit("/", 1)[-1] for p in puts] == [extra.name, f"{digest}.complete.json"]


def test_create_processing_job_request(aws, tiny_msl, smoke_plan):
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    requests = capture(backend.session.sagemaker_client, "CreateProcessingJob")
    owners: list[tuple[str, str | None]] = []
    backend.s3.meta.events.register(
        "before-parameter-build.s3.*",
        lambda params, model, **_: owners.append((model.name, params.get("ExpectedBucketOwner"))),
    )
    run = smoke_plan.runs["cnn"]
    task = Task(run, "fp123", lifecycle.RunFolder(run))
    backend.start([task], INJECTED, lambda _: None)
    data_uri = backend.data_uri
    backend.submit(task)
    backend._fill_slots()
    job = backend.jobs["cnn"]
    assert job.status == "Submitted" and backend.active == [job]
    # Every S3 call expects the bucket to be the role's account's (ExpectedBucketOwner).
    assert {"GetObject", "ListObjectsV2", "PutObject"} <= {op for op, _ in owners}
    assert {owner for _, owner in owners} == {"123456789012"}
    assert sm.Ledger(layout.ledger_file("smoke")).load()[job.name]["fingerprint"] == "fp123"

    assert re.fullmatch(rf"{PREFIX}-smoke-cnn-\d{{8}}-\d{{6}}-[0-9a-f]{{6}}", job.name)
    base = f"s3://{BUCKET}/{PREFIX}/jobs/{job.name}"

    def s3_input(name, uri, local_path):
        return {
            "InputName": name,
            "S3Input": {
                "S3Uri": uri,
                "LocalPath": local_path,
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }

    expected = {
        "ProcessingJobName": job.name,
        "ProcessingResources": {
            "ClusterConfig": {"InstanceType": INSTANCE, "InstanceCount": 1, "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": IMAGE,
            "ContainerEntrypoint": ["bash", "/opt/ml/processing/input/code/entrypoint.sh"],
            "ContainerArguments": ["model.ipynb"],
        },
        "RoleArn": ROLE,
        "ProcessingInputs": [
            s3_input("code", f"{base}/code/", "/opt/ml/processing/input/code"),
            s3_input("params", f"{base}/params/", "/opt/ml/processing/input/params"),
            s3_input("data", data_uri, "/opt/ml/processing/input/data"),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "output",
                    "S3Output": {
                        "S3Uri": f"{base}/output/",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "Continuous",
                    },
                }
            ]
        },
        "Environment": {
            "STUDY_PIP_INSTALL": "1",
            "STUDY_INSTANCE_TYPE": INSTANCE,
            "PYTHONUNBUFFERED": "1",
        },
        # A smoke run trains for a second: its limit is the half hour of set-up.
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
        "Tags": [
            {"Key": "msl-study:run", "Value": "cnn"},
            {"Key": "msl-study:profile", "Value": "smoke"},
            {"Key": "msl-study:fingerprint", "Value": "fp123"},
            {"Key": "msl-study:code-version", "Value": "test-version"},
        ],
    }
    assert requests == [expected]

    # The request comes from the pure builder the request check is tested against
    # (tests/test_aws_rules.py), and passed that check (the aws_rules fixture).
    tags = sm.job_tags(job, INJECTED)
    assert requests == [
        sm.processing_job_request(
            backend.settings, job.name, "model.ipynb", data_uri, tags, job.max_runtime_s
        )
    ]

    # The job's own inputs: code (entrypoint, notebook, library), parameters as JSON.
    prefix = f"{PREFIX}/jobs/{job.name}/"
    assert keys(aws, prefix) == [
        prefix + k
        for k in (
            "code/analysis.tar.gz",
            "code/entrypoint.sh",
            "code/model.ipynb",
            "code/requirements.txt",
            "params/params.json",
        )
    ]

    def body(rel):
        return aws.get_object(Bucket=BUCKET, Key=prefix + rel)["Body"].read()

    assert body("code/entrypoint.sh") == sm.ENTRYPOINT.read_bytes()
    assert body("code/model.ipynb") == run.notebook_path.read_bytes()
    params = json.loads(body("params/params.json"))
    assert params == {
        **run.params,
        **INJECTED,
        "run_name": "cnn",
        "data_dir": "/opt/ml/processing/input/data",
        "output_dir": "/opt/ml/processing/output",
    }
    with tarfile.open(fileobj=io.BytesIO(body("code/analysis.tar.gz"))) as tar:
        names = tar.getnames()
    assert "analysis/paths.py" in names and "analysis/training/experiment.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".ipynb")]
    requirements = body("code/requirements.txt").decode()
    assert "papermill==" in requirements
    assert not any(line.startswith("tensorflow") for line in requirements.splitlines())

    sent = json.dumps(requests) + body("params/params.json").decode() + requirements
    assert SECRET not in sent and "AKIATESTINGONLY" not in sent


# --- the queue, the quota, reattachment and interrupts, against the proxy in front of moto ------


def published_results() -> Path:
    """The committed results the site shows (report/.published.json; test_report requires
    them in the repository): realistic outputs for the fake container."""
    info = json.loads((paths.REPORT_DIR / layout.PUBLISHED).read_text())
    return paths.ROOT / info["results"]


def container_outputs(run: str, failed: bool) -> dict[str, bytes]:
    """What a job's container uploads: the files of the published run of that name (the
    runner writes notebook.html and run.json itself), its executed notebook named as the plan's
    notebook; a failed one leaves the executed notebook with the error, and its log."""
    plan = load(profile="smoke")
    notebook = f"{plan.runs[run].notebook}.ipynb"
    if failed:
        return {notebook: notebook_bytes(error=True), "run.log": b"Executing Cell 7\n"}
    results = published_results()
    folder = results / run if (results / run).is_dir() else results / plan.reference
    if not (folder / "metrics.json").exists():
        pytest.fail(f"the published results {folder} are needed as the fake container's output")
    files = {
        f.relative_to(folder).as_posix(): f.read_bytes()
        for f in folder.rglob("*")
        if f.is_file()
        and f.name not in ("run.json", "notebook.html", "run.log")
        and f.suffix != ".ipynb"
    }
    executed = sorted(folder.glob("*.ipynb"))
    files[notebook] = executed[0].read_bytes() if executed else notebook_bytes()
    return files


@pytest.fixture
def fake_sm(aws, moto_endpoint, monkeypatch):
    proxy = FakeSageMaker(moto_endpoint, aws, container_outputs)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", proxy.endpoint)
    yield proxy
    proxy.close()


def run_jobs(*args, **kwargs) -> execute.Outcome:
    """execute.run_plan without the cross-run summary: these tests are about the jobs, and
    drawing the study's figures after every plan would be most of their time."""
    return execute.run_plan(*args, summary=False, **kwargs)


def backend_for(data_dir: Path, **overrides) -> sm.SageMakerBackend:
    """Settings from the environment, with no waiting between retries."""
    return sm.SageMakerBackend.from_env(
        data_dir, retry_s=0, retry_max_s=0, **{"poll_s": 0.02, **overrides}
    )


def runner_env(tmp_path: Path, **extra) -> dict[str, str]:
    """The environment of a runner started as a process (the aws fixture's settings)."""
    return {
        **os.environ,
        "SAGEMAKER_POLL_SECONDS": "0.05",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
        **extra,
    }


def start_runner(tmp_path: Path, data: Path, *runs: str, max_jobs: int = 4) -> subprocess.Popen:
    out = open(tmp_path / f"runner-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", *runs, "--profile", "smoke", "--backend"]
        + ["sagemaker", "--data-dir", str(data), "--max-jobs", str(max_jobs)],
        cwd=paths.ROOT,
        env=runner_env(tmp_path),
        stdout=out,
        stderr=subprocess.STDOUT,
        text=True,
    )
    proc.output = out  # type: ignore[attr-defined]
    return proc


def output_of(proc: subprocess.Popen) -> str:
    proc.output.seek(0)  # type: ignore[attr-defined]
    return proc.output.read()  # type: ignore[attr-defined]


def wait_for(condition, what: str, proc: subprocess.Popen | None = None, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the runner exited ({proc.returncode}) before {what}:\n{output_of(proc)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


FIVE = ["eda", "baseline", "cnn", "kernel-5x5", "kernel-7x7"]


def test_completed_job_lands_in_results(fake_sm, tiny_msl, smoke_plan):
    backend = backend_for(tiny_msl)
    logs: list[str] = []
    out = run_jobs(smoke_plan, ["cnn", "kernel-3x3"], tiny_msl, backend=backend, log=logs.append)

    assert (out.executed, out.copied, out.failed) == (["cnn"], ["kernel-3x3"], [])
    assert fake_sm.created == ["cnn"]  # cnn and kernel-3x3 are one computation: one job
    name = backend.jobs["cnn"].name
    progress = [line for line in logs if name in line and "smoke/cnn" in line]
    assert any("Completed" in line for line in progress)

    folder = paths.results_dir() / "smoke" / "cnn"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    expected = sorted([*container_outputs("cnn", False), "notebook.html", "run.json"])
    assert files == expected
    record = json.loads((folder / "run.json").read_text())
    fingerprint = state.fingerprints([smoke_plan.runs["cnn"]], tiny_msl)["cnn"]
    assert (record["run"], record["fingerprint"]) == ("cnn", fingerprint)
    assert state.is_current(folder, fingerprint)
    assert (paths.results_dir() / "smoke" / "kernel-3x3" / "metrics.json").exists()
    assert not list((paths.results_dir() / "smoke").glob(".*.partial"))
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}  # collected: forgotten
    for f in (paths.results_dir() / "smoke").rglob("*"):
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f

    # The cost: the job's billable seconds and instance type, and the total.
    cost = logs[logs.index(next(line for line in logs if "billable time" in line)) :]
    assert re.search(rf"smoke/cnn\s+{name}  1 x {INSTANCE}\s+Completed\s+\d+ s", cost[1]), cost
    assert re.match(rf"  total: 1 job\(s\), \d+ instance-seconds: {INSTANCE} \d+ s", cost[2])

    # Up to date now: nothing is submitted again.
    again = run_jobs(
        smoke_plan, ["cnn", "kernel-3x3"], tiny_msl, backend=backend_for(tiny_msl), log=print
    )
    assert sorted(again.skipped) == ["cnn", "kernel-3x3"] and fake_sm.created == ["cnn"]


def test_account_limit_of_two_five_runs_all_finish(fake_sm, tiny_msl, smoke_plan):
    """The account allows 2 running jobs, the runner 4: the third is refused, retried as slots
    free up, and all five finish; the limit is said once, in one line."""
    fake_sm.limit, fake_sm.duration = 2, 1.0  # long enough for the third submit on a busy CPU
    logs: list[str] = []
    out = run_jobs(smoke_plan, FIVE, tiny_msl, backend=backend_for(tiny_msl), log=logs.append)

    assert out.failed == [] and sorted(out.executed) == sorted(FIVE), out.messages
    assert fake_sm.creates_per_run() == dict.fromkeys(FIVE, 1)  # each once, none twice
    assert fake_sm.max_running == 2 and fake_sm.refused  # the quota was hit, and retried
    said = [line for line in logs if "appears to allow" in line]
    assert said == [
        f"sagemaker: the account appears to allow 2 {INSTANCE} processing job(s) at once "
        f"(ResourceLimitExceeded with 2 running: The account-level service limit '{INSTANCE} "
        "for processing job usage' is 2 Instances, with current utilization of 2 Instances and a "
        "request delta of 1 Instances. Please use AWS Service Quotas to request an increase for "
        "this quota.); 3 job(s) wait for a free slot. To run more at once, request a higher "
        f"'{INSTANCE} for processing job usage' quota in Service Quotas (see README: Quotas) or "
        "lower --max-jobs."
    ]
    for run in FIVE:
        assert (paths.results_dir() / "smoke" / run / "run.json").exists()
    cost = [line for line in logs if re.match(rf"  smoke/\S+\s+{PREFIX}-smoke-", line)]
    assert len(cost) == 5 and all(f"1 x {INSTANCE}" in line for line in cost)
    assert any(line.startswith("  total: 5 job(s)") for line in logs)


def test_the_limit_recovers_when_the_quota_frees(fake_sm, tiny_msl, smoke_plan):
    """Our own job holds a quota of 1, so the limit drops to 1; the quota is then raised (or
    another team's jobs end): as jobs end the runner tries more at once again."""
    fake_sm.limit, fake_sm.duration = 1, 0.3

    def raise_the_quota():
        wait_for(lambda: fake_sm.refused, "a refusal")
        fake_sm.limit = None

    thread = threading.Thread(target=raise_the_quota, daemon=True)
    thread.start()
    runs = ["eda", "baseline", "cnn", "kernel-5x5"]
    out = run_jobs(smoke_plan, runs, tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    thread.join()
    assert out.failed == [] and fake_sm.creates_per_run() == dict.fromkeys(runs, 1)
    assert fake_sm.refused and fake_sm.max_running >= 2  # without recovery: 1


CAPACITY = (
    "CapacityError: Unable to provision requested ML compute capacity. Please retry using a "
    "different ML instance type."
)


def test_a_capacity_error_is_resubmitted_then_succeeds(fake_sm, tiny_msl, smoke_plan):
    fake_sm.failures["eda"] = {"FailureReason": CAPACITY}
    fake_sm.fail_times["eda"] = 1
    logs: list[str] = []
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=logs.append)
    assert out.failed == [] and out.executed == ["eda"], out.messages
    assert fake_sm.creates_per_run() == {"eda": 2}
    said = [line for line in logs if "failed with AWS's error, not the notebook's" in line]
    assert len(said) == 1 and f"({CAPACITY}); resubmitting in 0 s as attempt 2 of 3" in said[0]
    assert any(line.startswith("  total: 2 job(s)") for line in logs)  # both are paid for
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


def test_an_internal_error_is_retried_a_bounded_number_of_times(fake_sm, tiny_msl, smoke_plan):
    reason = "InternalServerError: We encountered an internal error. Please try again."
    fake_sm.failures["eda"] = {"FailureReason": reason}
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == ["eda"] and fake_sm.creates_per_run() == {"eda": 3}
    assert f"Failed: {reason}" in out.messages[0]


def test_a_notebook_error_is_not_resubmitted(fake_sm, tiny_msl, smoke_plan):
    fake_sm.failures["eda"] = {"FailureReason": "AlgorithmError: See job logs"}
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == ["eda"] and fake_sm.creates_per_run() == {"eda": 1}


def left_running(fake_sm, tiny_msl, smoke_plan) -> str:
    """A job submitted by a runner that then died (nothing cleaned up, the ledger written);
    the job's name. In-process: the reattaching runner computes the same fingerprint."""
    fake_sm.duration = 600
    run = smoke_plan.runs["eda"]
    fingerprint = state.fingerprints(smoke_plan.runs.values(), tiny_msl)["eda"]
    task = Task(run, fingerprint, lifecycle.RunFolder(run))
    backend = backend_for(tiny_msl)
    backend.start([task], INJECTED, lambda _: None)
    backend.submit(task)
    backend._fill_slots()
    assert fake_sm.created == ["eda"]
    (name,) = sm.Ledger(layout.ledger_file("smoke")).load()
    return name


def test_throttling_during_reattach_keeps_the_ledger_entry(fake_sm, tiny_msl, smoke_plan):
    name = left_running(fake_sm, tiny_msl, smoke_plan)
    fake_sm.throttle_describe = 1000  # beyond botocore's retries and the backend's
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == ["eda"] and fake_sm.creates_per_run() == {"eda": 1}
    assert (
        f"earlier SageMaker job {name} could not be looked at (ThrottlingException)"
        in (out.messages[0])
    )
    assert list(sm.Ledger(layout.ledger_file("smoke")).load()) == [name]
    # AWS answers again: the next start reattaches to the job, still submitting nothing.
    fake_sm.throttle_describe, fake_sm.duration = 0, 0
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == [] and fake_sm.creates_per_run() == {"eda": 1}
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


def test_a_job_stopped_while_away_is_reported_not_resubmitted(fake_sm, tiny_msl, smoke_plan):
    name = left_running(fake_sm, tiny_msl, smoke_plan)
    import boto3

    boto3.client("sagemaker", region_name=REGION).stop_processing_job(ProcessingJobName=name)
    fake_sm.duration = 0
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert out.failed == ["eda"] and fake_sm.creates_per_run() == {"eda": 1}
    message = out.messages[0]
    assert f"its SageMaker job {name} was Stopped while no runner watched it" in message
    assert "stopped by StopProcessingJob" in message and "--resubmit-stopped" in message
    assert list(sm.Ledger(layout.ledger_file("smoke")).load()) == [name]
    # Asked to, the runner submits it again.
    logs: list[str] = []
    backend = backend_for(tiny_msl, resubmit_stopped=True)
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend, log=logs.append)
    assert out.failed == [] and fake_sm.creates_per_run() == {"eda": 2}
    assert any(f"earlier job {name}" in line and "(--resubmit-stopped)" in line for line in logs)


def test_max_jobs_is_never_exceeded(fake_sm, tiny_msl, smoke_plan):
    fake_sm.duration = 1.0  # long enough for the second submit on a busy CPU
    out = run_jobs(
        smoke_plan, FIVE, tiny_msl, backend=backend_for(tiny_msl, max_jobs=2), log=lambda _: None
    )
    assert out.failed == [] and fake_sm.max_running == 2 and not fake_sm.refused


def test_refusals_and_throttling_are_retried(fake_sm, tiny_msl, smoke_plan):
    """ResourceLimitExceeded with none of ours running (the quota is used elsewhere), then
    throttling beyond botocore's own retries: the job is still submitted, once."""
    fake_sm.refuse, fake_sm.throttle = 2, 0
    logs: list[str] = []
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=logs.append)
    assert out.failed == [] and fake_sm.created == ["eda"] and fake_sm.refused == ["eda"] * 2
    assert len([line for line in logs if "appears to allow no more" in line]) == 1

    fake_sm.throttle = 4  # botocore tries 3 times per call; the backend tries again
    out = run_jobs(
        smoke_plan, ["baseline"], tiny_msl, backend=backend_for(tiny_msl), log=logs.append
    )
    assert out.failed == [] and fake_sm.created == ["eda", "baseline"]
    assert any("request throttled (ThrottlingException" in line for line in logs)


def test_throttling_is_retried_under_a_deadline(fake_sm, tiny_msl, smoke_plan):
    """Throttled without end: the run is reported not submitted once the deadline passed
    (0 here: the first refusal; test_refusals_and_throttling_are_retried retries under the
    default), nothing created, no ledger entry left."""
    fake_sm.throttle = 10**6
    logs: list[str] = []
    backend = backend_for(tiny_msl, throttle_deadline_s=0)
    started = time.monotonic()
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend, log=logs.append)
    assert time.monotonic() - started < 30
    assert out.failed == ["eda"] and fake_sm.created == [] and fake_sm.refused
    said = [line for line in logs if "throttled CreateProcessingJob" in line]
    assert len(said) == 1 and "(the deadline, SAGEMAKER_THROTTLE_DEADLINE, is 0 s)" in said[0]
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


def test_a_job_whose_status_stays_throttled_is_reported_lost(fake_sm, tiny_msl, smoke_plan):
    """Describes throttled past the deadline: the run fails naming the job and the deadline,
    and the ledger keeps the job, so a rerun reattaches to it instead of paying again."""
    fake_sm.duration, fake_sm.throttle_describe = 600, 10**6
    logs: list[str] = []
    backend = backend_for(tiny_msl, throttle_deadline_s=0)
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend, log=logs.append)
    assert out.failed == ["eda"] and fake_sm.created == ["eda"]
    name = backend.jobs["eda"].name
    said = [line for line in logs if "lost track of SageMaker job" in line]
    assert len(said) == 1 and name in said[0] and "SAGEMAKER_THROTTLE_DEADLINE" in said[0], logs
    assert list(sm.Ledger(layout.ledger_file("smoke")).load()) == [name]


def test_ctrl_c_while_a_refusal_is_handled_leaves_no_ledger_entry(
    fake_sm, tiny_msl, smoke_plan, monkeypatch
):
    """The signal lands while the refused job's ledger entry is being removed (the moment a
    Ctrl-C after a refusal most often hits): stop() still knows the job, finds it was never
    created, and forgets it."""
    fake_sm.limit = 0
    remove, calls = sm.Ledger.remove, []

    def interrupted_once(self, name):
        calls.append(name)
        if len(calls) == 1:
            raise KeyboardInterrupt
        remove(self, name)

    monkeypatch.setattr(sm.Ledger, "remove", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend_for(tiny_msl), log=lambda _: None)
    assert fake_sm.created == [] and fake_sm.refused == ["eda"]
    assert len(calls) == 2  # the interrupted removal, then stop()'s
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


def test_quota_of_zero_gives_up_with_one_message(fake_sm, tiny_msl, smoke_plan, capsys):
    fake_sm.limit = 0
    backend = backend_for(tiny_msl, slot_wait_s=0.5)
    out = run_jobs(smoke_plan, ["eda"], tiny_msl, backend=backend, log=lambda _: None)
    assert out.failed == ["eda"] and fake_sm.created == []
    assert "appears to be 0, or other jobs use it all" in out.messages[0]
    assert "Service Quotas" in out.messages[0]


def test_failed_job_reports_its_reason_and_keeps_the_notebook(fake_sm, tiny_msl, capsys):
    reason = "AlgorithmError: See job logs for more information"
    # Multibyte characters (as the entrypoint leaves them, cut between characters) arrive whole.
    exit_message = (
        "notebook cnn.ipynb failed (papermill exit 1): cell 7: ValueError: température élevée "
        "— 火星 ✓"
    )
    fake_sm.failures["cnn"] = {"FailureReason": reason, "ExitMessage": exit_message}

    rc = main(
        ["run", "cnn", "--profile", "smoke", "--backend", "sagemaker", "--data-dir", str(tiny_msl)]
    )
    captured = capsys.readouterr()
    assert rc == 1
    name = re.search(rf"{PREFIX}-smoke-cnn-\d{{8}}-\d{{6}}-[0-9a-f]{{6}}", captured.out)[0]
    assert f"error: run 'cnn' failed on SageMaker: job {name} Failed: {reason}" in captured.err
    assert f"container: {exit_message}" in captured.err
    assert f"CloudWatch log group /aws/sagemaker/ProcessingJobs, streams {name}/*" in captured.err
    profile = paths.results_dir() / "smoke"
    assert not (profile / "cnn").exists()
    notebook = f"{load(profile='smoke').runs['cnn'].notebook}.ipynb"
    kept = nbformat.read(profile / "cnn.failed" / notebook, as_version=4)
    assert kept.cells[0].outputs[0]["evalue"] == "boom in cell 7"
    assert (profile / "cnn.failed" / "run.log").exists()
    assert "executed notebook kept at" in captured.err and "full log:" in captured.err
    assert "billable time" in captured.out  # a failed job is paid for too


def test_the_readmes_first_run_works_as_written(fake_sm, tiny_msl, monkeypatch, capsys):
    """README, 'First run on a real account': its runner commands, as written, against moto
    (the profile's own step aside: 39 jobs): preflight resolves the bare role name and passes,
    the smoke job completes under its 30-minute limit, and then the commands that show what is
    left billing find no job in progress and no endpoint."""
    import shlex

    readme = (paths.ROOT / "README.md").read_text()
    block = readme.split("<!-- commands: first-run -->\n```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split(" #")[0].strip() for line in block.splitlines()]
    export = shlex.split(next(x for x in lines if x.startswith("export ")))
    exports = dict(w.split("=", 1) for w in export[1:])
    monkeypatch.setenv("SAGEMAKER_ROLE", exports["SAGEMAKER_ROLE"])  # a bare name
    assert exports["AWS_REGION"] == REGION
    monkeypatch.delenv("SAGEMAKER_PREFIX")  # the default, as the block assumes
    monkeypatch.setenv("DATA_DIR", str(tiny_msl))
    runner = [shlex.split(x)[3:] for x in lines if x.startswith(".venv/bin/python -m runner")]
    assert [argv[0] for argv in runner] == ["preflight", "run", "run", "endpoints", "undeploy"]
    fake_sm.duration = 0.2

    assert main(runner[0]) == 0, capsys.readouterr()
    assert main(runner[1]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert re.search(
        r"submitted: smoke/cnn as SageMaker job msl-study-smoke-cnn-\S+ \(stopped by SageMaker "
        r"after 0\.5 h at most\)",
        out,
    ), out
    assert fake_sm.created == ["cnn"] and "billable time" in out
    assert (paths.results_dir() / "smoke" / "cnn" / "run.json").exists()

    # What is left billing: the aws CLI's listing (the same request through boto3), then the
    # runner's own.
    aws_cli = shlex.split(next(x for x in lines if x.startswith("aws sagemaker")))
    assert aws_cli[2] == "list-processing-jobs"
    words = aws_cli[3:]
    params = {
        "".join(p.title() for p in k.removeprefix("--").split("-")): v
        for k, v in zip(words[::2], words[1::2], strict=True)
    }
    import boto3

    listed = boto3.client("sagemaker", region_name=REGION).list_processing_jobs(**params)
    assert listed["ProcessingJobSummaries"] == []
    assert main(runner[3]) == 0
    assert capsys.readouterr().out.strip() == f"no endpoints of this project in {REGION}"
    assert main(runner[4]) == 0
    assert "nothing to delete" in capsys.readouterr().out


def test_invalid_numbers_are_bad_input(aws, tiny_msl, monkeypatch, capsys):
    assert not issubclass(sm.ConfigError, DataError)
    for var, value in [
        ("SAGEMAKER_VOLUME_GB", "0"),
        ("SAGEMAKER_MAX_RUNTIME", "0"),
        ("SAGEMAKER_MAX_JOBS", "0"),
        ("SAGEMAKER_MAX_JOBS", "17"),
        ("SAGEMAKER_VOLUME_GB", "many"),
    ]:
        monkeypatch.setenv(var, value)
        rc = main(
            ["run", "eda", "--profile", "smoke", "--backend", "sagemaker"]
            + ["--data-dir", str(tiny_msl)]
        )
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith(f"error: {var}") and "Traceback" not in err, err
        monkeypatch.delenv(var)
    rc = main(
        ["run", "eda", "--profile", "smoke", "--backend", "sagemaker", "--max-jobs", "-1"]
        + ["--data-dir", str(tiny_msl)]
    )
    assert rc == 2 and "--max-jobs" in capsys.readouterr().err
    rc = main(
        ["run", "eda", "--profile", "smoke", "--backend", "sagemaker", "--max-jobs", "40"]
        + ["--data-dir", str(tiny_msl)]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--max-jobs)='40': expected a number from 1 to 16" in err, err
    assert not (paths.results_dir() / "smoke").exists()  # nothing ran, nothing was uploaded


def test_ctrl_c_stops_the_submitted_job_and_submits_no_more(fake_sm, tiny_msl, tmp_path):
    """A real SIGINT to a runner process holding one running job while the quota refuses the
    next ones: the running job is stopped, nothing else is submitted, the ledger is empty."""
    fake_sm.duration, fake_sm.limit = 60, 1
    proc = start_runner(tmp_path, tiny_msl, *FIVE, max_jobs=4)
    wait_for(lambda: fake_sm.created == ["eda"] and fake_sm.refused, "a refused submit", proc)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    proc.wait(timeout=60)
    out = output_of(proc)
    assert proc.returncode == 3, out
    assert "interrupted" in out and "Traceback" not in out, out
    assert fake_sm.created == ["eda"]
    eda = [name for name, job in fake_sm.jobs.items() if job["run"] == "eda"]
    assert fake_sm.stopped == eda
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


@pytest.mark.parametrize("found_by", ["ledger", "tag"])
def test_killed_runner_reattaches_and_submits_nothing_twice(
    fake_sm, tiny_msl, tmp_path, capsys, monkeypatch, found_by
):
    """A runner killed (SIGKILL: no clean-up at all) with two jobs running and one queued;
    started again, it reattaches to the two and submits only the third."""
    fake_sm.duration = 600
    proc = start_runner(tmp_path, tiny_msl, "eda", "baseline", "cnn", max_jobs=2)
    wait_for(lambda: len(fake_sm.created) == 2, "two jobs submitted", proc)
    proc.kill()
    proc.wait(timeout=30)
    ledger = layout.ledger_file("smoke")
    assert sorted(e["run"] for e in sm.Ledger(ledger).load().values()) == ["baseline", "eda"]
    if found_by == "tag":
        ledger.unlink()  # another machine, or a wiped results folder: the tags still tell

    # Still running when the runner comes back; they end once it has reattached to both (or,
    # should it not, after 20 s, so that the test fails on the jobs submitted twice).
    fake_sm.duration, fake_sm.hold_until = 0.2, time.time() + 20
    adopt = sm.SageMakerBackend._adopt

    def adopted(self, *args):
        adopt(self, *args)
        if len(self.jobs) >= 2:
            fake_sm.hold_until = 0.0

    monkeypatch.setattr(sm.SageMakerBackend, "_adopt", adopted)
    rc = main(
        ["run", "eda", "baseline", "cnn", "--profile", "smoke", "--backend", "sagemaker"]
        + ["--data-dir", str(tiny_msl), "--max-jobs", "2"]
    )
    out = capsys.readouterr().out
    assert rc == 0, out
    assert fake_sm.creates_per_run() == {"eda": 1, "baseline": 1, "cnn": 1}
    reattached = [line for line in out.splitlines() if line.startswith("reattached:")]
    assert len(reattached) == 2 and all(f"found by {found_by}" in line for line in reattached)
    assert all("(InProgress;" in line for line in reattached)
    assert fake_sm.stopped == []
    for run in ("eda", "baseline", "cnn"):
        assert (paths.results_dir() / "smoke" / run / "run.json").exists()


def test_sighup_stops_the_jobs(fake_sm, tiny_msl, tmp_path, aws_rules):
    """A closed terminal (SIGHUP) while jobs run and one waits: the running ones are stopped."""
    fake_sm.duration = 600
    proc = start_runner(tmp_path, tiny_msl, "eda", "baseline", "cnn", max_jobs=2)
    wait_for(lambda: len(fake_sm.created) == 2, "two jobs submitted", proc)
    # The runner process checks its requests too (tests/aws_site/sitecustomize.py).
    assert ("sagemaker", "CreateProcessingJob") in aws_rules.calls()
    time.sleep(0.3)  # waiting now, between polls
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=60)
    out = output_of(proc)
    assert proc.returncode == 3, out
    names = sorted(n for n, j in fake_sm.jobs.items() if j["run"] in ("eda", "baseline"))
    assert sorted(fake_sm.stopped) == names
    assert all(f"interrupted: stopped SageMaker job {n}" in out for n in names)
    assert "interrupted: finished runs are kept; rerun to resume" in out
    assert fake_sm.created == ["eda", "baseline"]  # the queued one was never submitted
    assert sm.Ledger(layout.ledger_file("smoke")).load() == {}


# --- the container entrypoint, run here ---------------------------------------------------------


def stage(tmp_path: Path, notebook: Path, params: dict, data: Path) -> Path:
    """The inputs of one job laid out as SageMaker mounts them under /opt/ml/processing."""
    base = tmp_path / "ml" / "processing"
    code = base / "input" / "code"
    code.mkdir(parents=True)
    shutil.copy(sm.ENTRYPOINT, code / "entrypoint.sh")
    shutil.copy(notebook, code / notebook.name)
    (code / "analysis.tar.gz").write_bytes(sm.code_bundle())
    (base / "input" / "params").mkdir()
    (base / "input" / "params" / "params.json").write_text(json.dumps(params))
    (base / "input" / "data").symlink_to(data, target_is_directory=True)
    return base


def entrypoint(base: Path, notebook: str, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "STUDY_PROCESSING_DIR": str(base),
        "STUDY_WORK_DIR": str(base.parent / "work"),
        "STUDY_PIP_INSTALL": "0",
        **(extra or {}),
    }
    return subprocess.run(
        ["bash", str(base / "input" / "code" / "entrypoint.sh"), notebook],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_entrypoint_runs_the_notebook(tmp_path, smoke_plan, real_data):
    run = smoke_plan.runs["cnn"]
    base = stage(tmp_path, run.notebook_path, sm.job_parameters(run, INJECTED), real_data)
    done = entrypoint(base, "model.ipynb")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    out = base / "output"
    assert {"model.ipynb", "metrics.json", "figures", "predictions.npz", "run.log"} <= {
        p.name for p in out.iterdir()
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == CNN_FIELDS
    assert (metrics["run"], metrics["profile"], metrics["notebook"]) == ("cnn", "smoke", "model")
    recorded = {k: metrics["params"][k] for k in run.params if k in metrics["params"]}
    assert recorded == {k: v for k, v in run.params.items() if k in recorded}
    assert metrics["params"]["image_size"] == 32 and metrics["params"]["epochs"] == 1
    assert metrics["provenance"]["git_commit"] == "test-version"
    for rel in metrics["figures"].values():
        assert (out / rel).exists()
    # The same finishing step as the local backend turns it into a complete run folder.
    lifecycle.finish(run, out, "fp", 1.0)
    assert state.is_current(out, "fp") and (out / "notebook.html").exists()


def test_entrypoint_fails_when_the_notebook_fails(tmp_path, tiny_msl):
    params = {"run_name": "failing", "data_dir": "x", "output_dir": "y"}
    base = stage(tmp_path, FIXTURES / "failing.ipynb", params, tiny_msl)
    done = entrypoint(base, "failing.ipynb")
    assert done.returncode != 0
    executed = nbformat.read(base / "output" / "failing.ipynb", as_version=4)
    errors = [
        o
        for c in executed.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors and errors[0]["ename"] == "RuntimeError"
    message = (tmp_path / "ml" / "output" / "message").read_text()
    assert "failing.ipynb failed" in message
    assert "RuntimeError: deliberate failure in the fixture notebook" in message


def test_entrypoint_fails_on_missing_inputs(tmp_path, tiny_msl):
    base = stage(tmp_path, FIXTURES / "failing.ipynb", {}, tiny_msl)
    (base / "input" / "params" / "params.json").unlink()
    done = entrypoint(base, "failing.ipynb")
    assert done.returncode == 2
    assert "missing input" in (tmp_path / "ml" / "output" / "message").read_text()


def test_entrypoint_cuts_a_multibyte_message_between_characters(tmp_path, tiny_msl):
    """SageMaker keeps 1 KB of the message and rejects invalid UTF-8: a long message of
    three-byte characters is cut to at most 1000 bytes, never inside a character."""
    words = "火星" * 400  # 2,400 bytes
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "run_name = ''\ndata_dir = ''\noutput_dir = ''", metadata={"tags": ["parameters"]}
            ),
            nbformat.v4.new_code_cell(f"raise ValueError({words!r})"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook = tmp_path / "multibyte.ipynb"
    nbformat.write(nb, notebook)
    base = stage(
        tmp_path, notebook, {"run_name": "m", "data_dir": "x", "output_dir": "y"}, tiny_msl
    )
    done = entrypoint(base, "multibyte.ipynb")
    assert done.returncode != 0
    raw = (tmp_path / "ml" / "output" / "message").read_bytes()
    assert len(raw) <= 1000
    message = raw.decode("utf-8")  # strict: a split character would raise here
    prefix, cut = message.split("ValueError: ", 1)
    assert (
        "multibyte.ipynb failed" in prefix and cut.startswith("火星火星") and words.startswith(cut)
    )
    assert len(raw) > 990  # cut at the last whole character, not far before
    # The case matters: cutting the same text at 1000 bytes would split a character.
    with pytest.raises(UnicodeDecodeError):
        f"{prefix}ValueError: {words}\n".encode()[:1000].decode("utf-8")
    # The executed notebook and the log are in the output, which continuous upload sends to S3.
    assert (base / "output" / "multibyte.ipynb").exists() and (base / "output" / "run.log").exists()
