"""Build the MkDocs site from a report folder (the repository's, or another for tests)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from analysis import paths

# The project's one site build, as the Makefile's site target runs it. Never with --quiet (nor
# -q): MkDocs 1.6 drops the warnings below the log level before --strict counts them, so a
# quiet strict build passes with a broken link (issue 31; tests/test_site_strict.py).
BUILD = ("mkdocs", "build", "--strict")


def mkdocs_build(config: Path, site_dir: Path | None = None, cwd: Path | None = None) -> None:
    """Run BUILD on `config` (into `site_dir`, else the config's); its warnings and errors go
    to stderr, and one warning fails it (CalledProcessError)."""
    out = ["-d", str(site_dir)] if site_dir is not None else []
    subprocess.run(
        [sys.executable, "-m", *BUILD, "-f", str(config), *out],
        check=True,
        cwd=cwd,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


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
        mkdocs_build(config)
    return Path(site_dir)
