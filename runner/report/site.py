"""Build the MkDocs site from a report folder (the repository's, or another for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from analysis import paths


def build(report_dir: Path = paths.REPORT_DIR, site_dir: Path = paths.SITE_DIR) -> Path:
    """`mkdocs build --strict`; another docs or site folder inherits the project's mkdocs.yml."""
    config = paths.MKDOCS_FILE
    with tempfile.TemporaryDirectory() as tmp:
        if Path(report_dir).resolve() != paths.REPORT_DIR or Path(site_dir).resolve() != (
            paths.SITE_DIR
        ):
            base = yaml.safe_load(paths.MKDOCS_FILE.read_text())
            config = Path(tmp) / "mkdocs.yml"
            config.write_text(
                yaml.safe_dump(
                    {
                        "INHERIT": str(paths.MKDOCS_FILE),
                        "docs_dir": str(Path(report_dir).resolve()),
                        "site_dir": str(Path(site_dir).resolve()),
                        "hooks": [str(paths.ROOT / h) for h in base.get("hooks", [])],
                    }
                )
            )
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config)],
            check=True,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        )
    return Path(site_dir)
