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
from runner.backends.sagemaker.settings import TAG, Settings
from runner.plan import Run

# Where SageMaker mounts the job's inputs and collects its output inside the container.
CONTAINER_BASE = "/opt/ml/processing"
CONTAINER_CODE = f"{CONTAINER_BASE}/input/code"
CONTAINER_PARAMS = f"{CONTAINER_BASE}/input/params"
CONTAINER_DATA = f"{CONTAINER_BASE}/input/data"
CONTAINER_OUTPUT = f"{CONTAINER_BASE}/output"

ENTRYPOINT = Path(__file__).resolve().parent / "container" / "entrypoint.sh"
JOB_NAME_MAX = 63
# Not installed into the container: the image brings its own TensorFlow (a GPU build on GPU
# instances), and the site tools are never used there.
CONTAINER_SKIP = re.compile(r"^(tensorflow|tensorflow-cpu|mkdocs.*)$")


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


def run_processing_job(
    settings: Settings, session, job: Job, data_uri: str, injected: dict, uri
) -> None:
    """CreateProcessingJob through the SDK's Processor: three S3 inputs (code, params,
    data), one continuous output, the run's tags; `uri(key)` is the bucket's s3:// URI."""
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
        s3_input("code", uri(f"{job.prefix}/code/"), CONTAINER_CODE),
        s3_input("params", uri(f"{job.prefix}/params/"), CONTAINER_PARAMS),
        s3_input("data", data_uri, CONTAINER_DATA),
    ]
    # Continuous: files reach S3 as they are written, so a failed job's executed notebook
    # (and run.log) is there too; EndOfJob uploads nothing when the container fails.
    outputs = [
        ProcessingOutput(
            output_name="output",
            s3_output=ProcessingS3Output(
                s3_uri=uri(job.output_prefix),
                local_path=CONTAINER_OUTPUT,
                s3_upload_mode="Continuous",
            ),
        )
    ]
    tags = {
        "run": run.name,
        "profile": run.profile,
        "fingerprint": job.task.fingerprint,
        "code-version": str(injected.get("code_version") or "unknown"),
    }
    processor = Processor(
        role=settings.role,
        image_uri=settings.image,
        instance_count=1,
        instance_type=settings.instance_type,
        entrypoint=["bash", f"{CONTAINER_CODE}/entrypoint.sh"],
        volume_size_in_gb=settings.volume_gb,
        max_runtime_in_seconds=settings.max_runtime_s,
        sagemaker_session=session,
        env={
            "STUDY_PIP_INSTALL": "1" if settings.pip_install else "0",
            "STUDY_INSTANCE_TYPE": settings.instance_type,
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
