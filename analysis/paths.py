"""Every path the project uses, in one place.

Data flows one way: DATA_DIR (read-only) -> CACHE_DIR -> RESULTS_DIR -> REPORT_DIR -> SITE_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PLAN_FILE = ROOT / "plan.yaml"
NOTEBOOKS_DIR = ROOT / "analysis" / "notebooks"
TEMPLATES_DIR = ROOT / "templates"
REPORT_DIR = ROOT / "report"
MKDOCS_FILE = ROOT / "mkdocs.yml"
SITE_DIR = ROOT / "site"
DIST_DIR = ROOT / "dist"

DEFAULT_DATA_DIR = ROOT / "data" / "msl-images"

# The split lists and the class names: their checksums identify the data set.
SPLITS = ("train", "val", "test")
SPLIT_FILES = {split: f"{split}-calibrated-shuffled.txt" for split in SPLITS}
SYNSET_FILE = "msl_synset_words-indexed.txt"
IMAGE_DIR = "calibrated"


def data_dir(value: str | os.PathLike | None = None) -> Path:
    """The data directory: an explicit value (CLI flag, notebook parameter), else the
    DATA_DIR environment variable (which `make DATA_DIR=...` exports), else data/msl-images."""
    chosen = value or os.environ.get("DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def cache_dir() -> Path:
    """Decoded arrays; shared by every run and profile. CACHE_DIR overrides it (tests)."""
    return Path(os.environ.get("CACHE_DIR") or ROOT / "cache").expanduser().resolve()


def results_dir() -> Path:
    """One folder per profile and run. RESULTS_DIR overrides it (tests)."""
    return Path(os.environ.get("RESULTS_DIR") or ROOT / "results").expanduser().resolve()
