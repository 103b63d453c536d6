"""Pure builders of what a job is made of: its name, parameters, code bundle, requirements,
and the CreateProcessingJob request itself."""

from __future__ import annotations

import io
import re
import secrets
import tarfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from analysis import paths
from runner.backends.sagemaker.job import Job
from runner.backends.sagemaker.settings import TAG, Settings, name_prefix
from runner.errors import ConfigError
from runner.plan import Run

# Where SageMaker mounts the job's inputs and collects its output inside the container.
CONTAINER_BASE = "/opt/ml/processing"
CONTAINER_CODE = f"{CONTAINER_BASE}/input/code"
CONTAINER_PARAMS = f"{CONTAINER_BASE}/input/params"
CONTAINER_DATA = f"{CONTAINER_BASE}/input/data"
CONTAINER_OUTPUT = f"{CONTAINER_BASE}/output"

ENTRYPOINT = Path(__file__).resolve().parent / "container" / "entrypoint.sh"
JOB_NAME_MAX = 63
LOCK_FILE = Path(__file__).resolve().parent / "container" / "requirements.lock"
# Never used in the container: the site tools.
SITE_TOOLS = re.compile(r"^mkdocs.*$")
# Resolved with the rest (its requirements bound the others: h5py<3.15 for 2.21), but not in
# the lock: the image brings its own TensorFlow (a GPU build on GPU instances).
IMAGE_BRINGS = re.compile(r"^(tensorflow|tensorflow-cpu)$")


_issued: set[str] = set()


STAMP_LEN = len("-20260101-120000-a1b2c3")


def job_base(prefix: str, profile: str, run: str = "") -> str:
    """The part of a job's name before its stamp: the name prefix (settings.name_prefix), then
    the profile and run, cut to leave the stamp room. With no run it is the part every job of
    the profile starts with, the NameContains filter that finds them."""
    rest = re.sub(r"[^a-zA-Z0-9]+", "-", f"{profile}-{run}").strip("-")
    return f"{name_prefix(prefix)}-{rest}"[: JOB_NAME_MAX - STAMP_LEN].rstrip("-")


def job_name(run: Run, prefix: str, when: datetime | None = None) -> str:
    """Unique and valid: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, e.g. msl-study-quick-kernel-5x5-
    20260101-120000-a1b2c3; the profile and run part is shortened to fit. The time and six
    random hex digits keep names apart across machines; none repeats within a process."""
    stamp = (when or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    base = job_base(prefix, run.profile, run.name)
    while True:
        name = f"{base}-{stamp}-{secrets.token_hex(3)}"
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


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~\[; ]", requirement)[0]).lower()


def container_requirements(locked: bool = True) -> str:
    """What the job installs: the hash-locked container/requirements.lock (`make lock`), which
    must pin every dependency pyproject.toml pins, less TensorFlow (the image's) and the site
    tools; with locked=False, what the lock is resolved from: pyproject's pins less the site
    tools, TensorFlow included."""
    pyproject = paths.ROOT / "pyproject.toml"
    try:
        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return ""
    resolve = [d for d in deps if not SITE_TOOLS.match(_name(d))]
    if not locked:
        return "\n".join(resolve) + "\n"
    keep = [d for d in resolve if not IMAGE_BRINGS.match(_name(d))]
    try:
        text = LOCK_FILE.read_text()
    except OSError:
        raise ConfigError(f"{LOCK_FILE} is missing: run `make lock`") from None
    locked_pins = {
        f"{_name(line.split('==')[0])}=={line.split('==')[1].split()[0]}"
        for line in text.splitlines()
        if "==" in line and not line.startswith("#")
    }
    stale = [d for d in keep if f"{_name(d)}=={d.split('==')[-1].strip()}" not in locked_pins]
    if stale:
        raise ConfigError(
            f"{LOCK_FILE} does not lock {', '.join(stale)} as pyproject.toml pins it: "
            "run `make lock`"
        )
    return text


def lock_python(text: str) -> str:
    """The Python version the lock's wheels were resolved for (its header, `make lock`)."""
    m = re.search(r"^# .*\(python (3\.\d+),", text, re.MULTILINE)
    return m[1] if m else "unknown"


ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/\S+")


def processing_job_request(
    settings: Settings,
    name: str,
    notebook: str,
    data_uri: str,
    tags: dict[str, str],
    max_runtime_s: int = 0,
) -> dict:
    """The CreateProcessingJob request of one run, stopped after max_runtime_s (its run's
    runtime.max_runtime; else the settings', else AWS's 24 h default): three S3 inputs (code,
    params, data), one continuous output (files reach S3 as they are written, so a failed
    job's executed notebook and run.log are there too; EndOfJob uploads nothing when the
    container fails), the run's tags. Pure: the tests check it against the service's rules
    (tests/aws_rules.py)."""
    if not ROLE_ARN.fullmatch(settings.role):
        # The API takes an ARN only; preflight resolves a bare name before anything is sent.
        raise ConfigError(
            f"SAGEMAKER_ROLE={settings.role!r} is not a role ARN: run `python -m runner "
            "preflight`, which looks a bare name up in IAM"
        )
    job_uri = f"s3://{settings.bucket}/{settings.prefix}/jobs/{name}"

    def s3_input(input_name: str, uri: str, local_path: str) -> dict:
        return {
            "InputName": input_name,
            "S3Input": {
                "S3Uri": uri,
                "LocalPath": local_path,
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }

    return {
        "ProcessingJobName": name,
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceType": settings.instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": settings.volume_gb,
            }
        },
        "AppSpecification": {
            "ImageUri": settings.image,
            "ContainerEntrypoint": ["bash", f"{CONTAINER_CODE}/entrypoint.sh"],
            "ContainerArguments": [notebook],
        },
        "RoleArn": settings.role,
        "ProcessingInputs": [
            s3_input("code", f"{job_uri}/code/", CONTAINER_CODE),
            s3_input("params", f"{job_uri}/params/", CONTAINER_PARAMS),
            s3_input("data", data_uri, CONTAINER_DATA),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "output",
                    "S3Output": {
                        "S3Uri": f"{job_uri}/output/",
                        "LocalPath": CONTAINER_OUTPUT,
                        "S3UploadMode": "Continuous",
                    },
                }
            ]
        },
        "Environment": {
            "STUDY_PIP_INSTALL": "1" if settings.pip_install else "0",
            "STUDY_INSTANCE_TYPE": settings.instance_type,
            "PYTHONUNBUFFERED": "1",
        },
        "StoppingCondition": {
            "MaxRuntimeInSeconds": max_runtime_s or settings.max_runtime_s or 86400
        },
        "Tags": [{"Key": f"{TAG}{k}", "Value": v} for k, v in tags.items()],
    }


def job_tags(job: Job, injected: dict) -> dict[str, str]:
    return {
        "run": job.run.name,
        "profile": job.run.profile,
        "fingerprint": job.task.fingerprint,
        "code-version": str(injected.get("code_version") or "unknown"),
    }
