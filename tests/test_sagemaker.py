"""The SageMaker backend against a local moto server (no AWS account, nothing but 127.0.0.1),
and its container entrypoint run here on a temp folder standing in for /opt/ml/processing.

Moto accepts CreateProcessingJob and answers DescribeProcessingJob with "Completed" at once; it
runs no container. So the tests play the container: when the runner first sees a job end, the
test puts the job's output into the mock S3 (as SageMaker would upload it) and, for a failing
job, reports it Failed through `SageMakerBackend.describe`, the one function the waiting loop
reads job states from. Everything else (S3 uploads and downloads, CreateProcessingJob through
the SDK) goes through the real moto server.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import urllib.request
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import numpy as np
import pytest

from analysis import paths
from runner import execute, state
from runner import sagemaker as sm
from runner.__main__ import main
from runner.plan import load

pytestmark = pytest.mark.sagemaker

REGION = "us-east-1"
BUCKET = "msl-study-test-bucket"
PREFIX = "study-test"
ROLE = "arn:aws:iam::123456789012:role/msl-study-processing"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/msl-study:test"
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


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch):
    """Any connection to an address other than 127.0.0.1 fails the test."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to connect to {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint, monkeypatch, tmp_path):
    """Dummy credentials and every AWS client pointed at the moto server, with an empty
    state and a bucket; the backend's settings in the environment."""
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
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    ).read()
    import boto3

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
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


def play_container(
    monkeypatch, outputs: dict[str, bytes], fail: dict | None = None, in_progress_polls: int = 1
) -> dict[str, list]:
    """Every job reports InProgress for `in_progress_polls` describes, then ends: its output is
    put where the job's ProcessingOutputConfig says (real moto S3), and if `fail` is given the
    description says Failed with those fields. Returns the states each job reported."""
    real_describe = sm.SageMakerBackend.describe
    seen: dict[str, list] = defaultdict(list)

    def describe(self, name):
        description = real_describe(self, name)  # moto's answer: Completed
        if len(seen[name]) < in_progress_polls:
            description["ProcessingJobStatus"] = "InProgress"
        else:
            uri = description["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
            bucket, _, prefix = uri.removeprefix("s3://").partition("/")
            if not seen[name] or seen[name][-1] == "InProgress":
                for rel, body in outputs.items():
                    self.s3.put_object(Bucket=bucket, Key=prefix + rel, Body=body)
            if fail:
                description.update(ProcessingJobStatus="Failed", **fail)
        seen[name].append(description["ProcessingJobStatus"])
        return description

    monkeypatch.setattr(sm.SageMakerBackend, "describe", describe)
    return seen


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
    override = sm.SageMakerBackend.from_env(tiny_msl, instance_type="ml.m5.large", image="x")
    assert (override.settings.instance_type, override.settings.image) == ("ml.m5.large", "x")


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
    names = [sm.job_name(r, when) for r in (run, long) for _ in range(300)]
    assert len(set(names)) == len(names)
    for name in names:
        assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name), name
    assert names[0].startswith("msl-smoke-kernel-3to5-")


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
    run = smoke_plan.runs["cnn"]
    data_uri = backend.upload_data(lambda _: None)
    job = backend.submit(run, "fp123", INJECTED, data_uri, sm.code_bundle())

    assert re.fullmatch(r"msl-smoke-cnn-\d{8}-\d{6}-[0-9a-f]{6}", job.name)
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
            "ContainerArguments": ["cnn.ipynb"],
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
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        "Environment": {
            "STUDY_PIP_INSTALL": "1",
            "STUDY_INSTANCE_TYPE": INSTANCE,
            "PYTHONUNBUFFERED": "1",
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "Tags": [
            {"Key": "msl-study:run", "Value": "cnn"},
            {"Key": "msl-study:profile", "Value": "smoke"},
            {"Key": "msl-study:fingerprint", "Value": "fp123"},
            {"Key": "msl-study:code-version", "Value": "test-version"},
        ],
    }
    assert requests == [expected]

    # What moto recorded matches what was sent.
    client = backend.session.sagemaker_client
    described = client.describe_processing_job(ProcessingJobName=job.name)
    for key in (
        "AppSpecification",
        "ProcessingInputs",
        "ProcessingOutputConfig",
        "RoleArn",
        "StoppingCondition",
    ):
        assert described[key] == expected[key], key
    assert client.list_tags(ResourceArn=described["ProcessingJobArn"])["Tags"] == expected["Tags"]

    # The job's own inputs: code (entrypoint, notebook, library), parameters as JSON.
    prefix = f"{PREFIX}/jobs/{job.name}/"
    assert keys(aws, prefix) == [
        prefix + k
        for k in (
            "code/analysis.tar.gz",
            "code/cnn.ipynb",
            "code/entrypoint.sh",
            "code/requirements.txt",
            "params/params.json",
        )
    ]

    def body(rel):
        return aws.get_object(Bucket=BUCKET, Key=prefix + rel)["Body"].read()

    assert body("code/entrypoint.sh") == sm.ENTRYPOINT.read_bytes()
    assert body("code/cnn.ipynb") == run.notebook_path.read_bytes()
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
    assert "analysis/paths.py" in names and "analysis/experiment.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".ipynb")]
    requirements = body("code/requirements.txt").decode()
    assert "papermill==" in requirements and "tensorflow" not in requirements

    sent = json.dumps(requests) + body("params/params.json").decode() + requirements
    assert SECRET not in sent and "AKIATESTINGONLY" not in sent


def test_completed_job_lands_in_results(aws, tiny_msl, smoke_plan, monkeypatch):
    metrics = {
        "run": "cnn",
        "profile": "smoke",
        "notebook": "cnn",
        "params": {},
        "figures": {"learning_curves": "figures/learning_curves.png"},
    }
    seen = play_container(
        monkeypatch,
        {
            "cnn.ipynb": notebook_bytes(),
            "metrics.json": json.dumps(metrics).encode(),
            "figures/learning_curves.png": b"\x89PNG not really",
            "predictions.npz": predictions_bytes(),
        },
    )
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    requests = capture(backend.session.sagemaker_client, "CreateProcessingJob")
    logs: list[str] = []
    out = execute.run_plan(
        smoke_plan, ["cnn", "kernel-3x3"], tiny_msl, backend=backend, log=logs.append
    )

    assert (out.executed, out.copied, out.failed) == (["cnn"], ["kernel-3x3"], [])
    assert len(requests) == 1  # cnn and kernel-3x3 are one computation: one job
    name = requests[0]["ProcessingJobName"]
    assert seen[name] == ["InProgress", "Completed"]
    progress = [line for line in logs if name in line and "smoke/cnn" in line]
    assert any("InProgress" in line for line in progress)
    assert any("Completed" in line for line in progress)

    folder = paths.results_dir() / "smoke" / "cnn"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "cnn.ipynb",
        "figures/learning_curves.png",
        "metrics.json",
        "notebook.html",
        "predictions.npz",
        "run.json",
    ]
    assert json.loads((folder / "metrics.json").read_text()) == metrics
    record = json.loads((folder / "run.json").read_text())
    fingerprint = state.fingerprints([smoke_plan.runs["cnn"]], tiny_msl)["cnn"]
    assert (record["run"], record["fingerprint"]) == ("cnn", fingerprint)
    assert state.is_current(folder, fingerprint)
    assert (paths.results_dir() / "smoke" / "kernel-3x3" / "metrics.json").exists()
    assert not list((paths.results_dir() / "smoke").glob(".*.partial"))
    for f in (paths.results_dir() / "smoke").rglob("*"):
        assert not f.is_file() or SECRET.encode() not in f.read_bytes(), f

    # Up to date now: nothing is submitted again.
    again = execute.run_plan(
        smoke_plan, ["cnn", "kernel-3x3"], tiny_msl, backend=backend, log=logs.append
    )
    assert sorted(again.skipped) == ["cnn", "kernel-3x3"] and len(requests) == 1


def test_failed_job_reports_its_reason_and_exits_nonzero(aws, tiny_msl, monkeypatch, capsys):
    reason = "AlgorithmError: See job logs for more information"
    exit_message = "notebook cnn.ipynb failed (papermill exit 1): cell 7: ValueError: boom"
    play_container(
        monkeypatch,
        {"cnn.ipynb": notebook_bytes(error=True)},
        fail={"FailureReason": reason, "ExitMessage": exit_message},
    )

    rc = main(
        ["run", "cnn", "--profile", "smoke", "--backend", "sagemaker", "--data-dir", str(tiny_msl)]
    )
    captured = capsys.readouterr()
    assert rc == 1
    name = re.search(r"msl-smoke-cnn-\d{8}-\d{6}-[0-9a-f]{6}", captured.out)[0]
    assert f"error: run 'cnn' failed on SageMaker: job {name} Failed: {reason}" in captured.err
    assert f"container: {exit_message}" in captured.err
    assert f"CloudWatch log group /aws/sagemaker/ProcessingJobs, streams {name}/*" in captured.err
    assert "Failed" in captured.out  # the progress line
    profile = paths.results_dir() / "smoke"
    assert not (profile / "cnn").exists()
    assert (profile / "cnn.failed" / "cnn.ipynb").exists()
    assert "executed notebook kept at" in captured.err


def test_interrupt_stops_running_jobs(aws, tiny_msl, smoke_plan, monkeypatch):
    backend = sm.SageMakerBackend.from_env(tiny_msl)
    stops = capture(backend.session.sagemaker_client, "StopProcessingJob")
    monkeypatch.setattr(
        sm.SageMakerBackend, "describe", lambda self, name: {"ProcessingJobStatus": "InProgress"}
    )

    def interrupt(_seconds):
        raise KeyboardInterrupt

    backend.sleep = interrupt
    with pytest.raises(KeyboardInterrupt):
        backend.run_all(
            [("fp", smoke_plan.runs["cnn"])], INJECTED, execute.Outcome(), lambda _: None
        )
    assert len(stops) == 1 and stops[0]["ProcessingJobName"].startswith("msl-smoke-cnn-")


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


def entrypoint(base: Path, notebook: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "STUDY_PROCESSING_DIR": str(base),
        "STUDY_WORK_DIR": str(base.parent / "work"),
        "STUDY_PIP_INSTALL": "0",
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
    done = entrypoint(base, "cnn.ipynb")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    out = base / "output"
    assert {"cnn.ipynb", "metrics.json", "figures", "predictions.npz"} <= {
        p.name for p in out.iterdir()
    }
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == CNN_FIELDS
    assert (metrics["run"], metrics["profile"], metrics["notebook"]) == ("cnn", "smoke", "cnn")
    recorded = {k: metrics["params"][k] for k in run.params if k in metrics["params"]}
    assert recorded == {k: v for k, v in run.params.items() if k in recorded}
    assert metrics["params"]["image_size"] == 32 and metrics["params"]["epochs"] == 1
    assert metrics["provenance"]["git_commit"] == "test-version"
    for rel in metrics["figures"].values():
        assert (out / rel).exists()
    # The same finishing step as the local backend turns it into a complete run folder.
    execute.finish(run, out, "fp", 1.0)
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
