"""A run's Keras artifact as a TensorFlow Serving model: `model.tar.gz` holding the SavedModel
in a numbered version folder (`1/saved_model.pb`, `1/variables/...`), the layout SageMaker's
TensorFlow Serving container loads.

The SavedModel's `serving_default` signature takes what model.keras takes (float32, 0..255,
(n, size, size, 3)) and returns the softmax in `class_ids` order. A permuted run's pixel
shuffle stays with the client (runner.serving.predict.Artifact.prepare), as it does for the
Keras file.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

from runner.serving.predict import Artifact

VERSION = "1"


def saved_model(artifact: Artifact, dest: Path) -> Path:
    """Export the artifact's model as a SavedModel into `dest/1`; returns that folder."""
    target = Path(dest) / VERSION
    artifact.model().export(str(target), format="tf_saved_model", verbose=False)
    return target


def package(artifact: Artifact, work: Path) -> Path:
    """`work/model.tar.gz` with the SavedModel under `1/` (no local owners or times in it)."""
    version_dir = saved_model(artifact, Path(work) / "export")

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    out = Path(work) / "model.tar.gz"
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(version_dir.rglob("*")):
            tar.add(
                f,
                arcname=f.relative_to(version_dir.parent).as_posix(),
                filter=clean,
                recursive=False,
            )
    return out


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
