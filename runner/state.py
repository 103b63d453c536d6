"""Up-to-date checks: a run is current when its folder records the fingerprint of its inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from analysis import paths
from analysis.data import check_data_dir

RUN_RECORD = "run.json"  # written last into a run folder; its presence marks a complete run


def library_hash() -> str:
    """The analysis library's source (notebooks excluded: each run hashes its own)."""
    h = hashlib.sha256()
    lib = paths.ROOT / "analysis"
    for f in sorted(lib.rglob("*.py")):
        h.update(str(f.relative_to(lib)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def data_hash(data_dir: Path, skip_bad: bool = False) -> str:
    """The split lists and class names identify the data (the images are read-only)."""
    check_data_dir(data_dir)
    h = hashlib.sha256(b"skip_bad" if skip_bad else b"strict")
    for name in (paths.SYNSET_FILE, *paths.SPLIT_FILES.values()):
        h.update(hashlib.sha256((data_dir / name).read_bytes()).digest())
    return h.hexdigest()[:16]


def recorded_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / RUN_RECORD).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def is_current(folder: Path, fingerprint: str) -> bool:
    return recorded_fingerprint(folder) == fingerprint and (folder / "metrics.json").exists()
