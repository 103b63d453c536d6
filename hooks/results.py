"""MkDocs hook: publish the results the pages were rendered from, without copying them.

`report/.published.json` (written by `python -m runner render`) names the results folder.
Its figures, executed notebooks (as HTML, and the stylesheet they share) and metrics.json
files join the site under `runs/<run>/`, the cross-run figures under `study/`; the run pages
join the nav under "Runs".
With `strict: true`, a page that points at a missing figure fails the build.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.structure.files import File

from runner.layout import NOTEBOOK_CSS, PUBLISHED, published_folders

SHARED = ("metrics.json", "notebook.html")


def _published(config) -> tuple[Path, dict]:
    docs = Path(config["docs_dir"])
    info = json.loads((docs / PUBLISHED).read_text())
    results = Path(info["results"])
    if not results.is_absolute():
        results = Path(config["config_file_path"]).parent / results
    return results, info


def on_config(config):
    _, info = _published(config)
    runs = [{r["title"]: f"runs/{r['name']}.md"} for r in info["runs"]]
    for i, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and "Runs" in item:
            config["nav"][i] = {"Runs": ["runs/index.md", *runs]}
    return config


def on_files(files, config):
    results, _ = _published(config)
    for target, run_dir in published_folders(results):
        sources = [run_dir / name for name in SHARED if (run_dir / name).exists()]
        sources += sorted((run_dir / "figures").glob("*.png"))
        for src in sources:
            uri = f"{target}/{src.relative_to(run_dir).as_posix()}"
            files.append(File.generated(config, uri, abs_src_path=str(src)))
    # The stylesheet every runs/<run>/notebook.html links as ../notebook.css.
    if (results / NOTEBOOK_CSS).exists():
        uri = f"runs/{NOTEBOOK_CSS}"
        files.append(File.generated(config, uri, abs_src_path=str(results / NOTEBOOK_CSS)))
    return files
