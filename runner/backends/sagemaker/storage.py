"""What travels through S3: the data (once per version), each job's inputs, its output."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from runner import state
from runner.backends.sagemaker.job import Job, Log
from runner.backends.sagemaker.requests import (
    ENTRYPOINT,
    job_parameters,
)
from runner.backends.sagemaker.settings import UPLOAD_THREADS


class Storage:
    """The SageMakerBackend's part that moves files to and from the bucket."""

    def uri(self, key: str) -> str:
        return f"s3://{self.settings.bucket}/{key}"

    def upload_data(self, log: Log = print) -> str:
        """Upload the data directory under a prefix keyed by its checksum, unless a complete
        copy is already there; returns the prefix's S3 URI (with a trailing slash)."""
        from botocore.exceptions import ClientError

        digest = state.data_hash(self.data_dir)
        prefix = f"{self.settings.prefix}/data/{digest}/"
        marker = f"{self.settings.prefix}/data/{digest}.complete.json"
        files = sorted(p for p in self.data_dir.rglob("*") if p.is_file())
        total = sum(p.stat().st_size for p in files)
        bucket = self.settings.bucket
        try:
            done = json.loads(self.s3.get_object(Bucket=bucket, Key=marker)["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"NoSuchKey", "404"}:
                raise
            done = {}
        if done.get("files") == len(files):
            log(f"data: {self.uri(prefix)} is complete ({len(files)} files), not uploading")
            return self.uri(prefix)

        present: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            present.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
        todo = [
            p
            for p in files
            if present.get(prefix + p.relative_to(self.data_dir).as_posix()) != p.stat().st_size
        ]
        log(
            f"data: uploading {len(todo)} of {len(files)} files ({total / 1e6:.0f} MB) to "
            f"{self.uri(prefix)}"
        )

        def put(path: Path) -> None:
            key = prefix + path.relative_to(self.data_dir).as_posix()
            self.s3.upload_file(str(path), bucket, key)

        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            list(pool.map(put, todo))
        record = {
            "files": len(files),
            "bytes": total,
            "data_sha": digest,
            "uploaded": datetime.now(UTC).replace(microsecond=0).isoformat(),
        }
        self.s3.put_object(
            Bucket=bucket,
            Key=marker,
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
        return self.uri(prefix)

    def download(self, prefix: str, dest: Path) -> int:
        """Every object under `prefix` into `dest`, keeping relative paths; the count."""
        n = 0
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.settings.bucket, Prefix=prefix
        )
        for page in pages:
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix) :]
                parts = Path(rel).parts
                # Hidden names are temporary files that continuous upload caught mid-write.
                if not rel or rel.endswith("/") or any(p.startswith(".") for p in parts):
                    continue
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(self.settings.bucket, obj["Key"], str(target))
                n += 1
        return n

    def _upload_inputs(self, job: Job) -> None:
        run = job.run
        objects = {
            "code/entrypoint.sh": ENTRYPOINT.read_bytes(),
            f"code/{run.notebook_path.name}": run.notebook_path.read_bytes(),
            "code/analysis.tar.gz": self.bundle,
            "params/params.json": json.dumps(job_parameters(run, self.injected), indent=2).encode(),
        }
        if self.requirements:
            objects["code/requirements.txt"] = self.requirements.encode()
        for rel, body in objects.items():
            self.s3.put_object(Bucket=self.settings.bucket, Key=f"{job.prefix}/{rel}", Body=body)
