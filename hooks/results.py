"""MkDocs hook: publish the results the pages were rendered from, without copying them.

`report/.published.json` (written by `python -m runner render`) names the results folder.
Its figures, executed notebooks (as HTML, and the stylesheet they share) and metrics.json
files join the site under `runs/<run>/`, the cross-run figures under `study/`; the run pages
join the nav under "Runs" (at the top level or inside a section).
With `strict: true`, a page that points at a missing figure fails the build.
"""

from __future__ import annotations

import json
from pathlib import Path

from mkdocs.structure.files import File

from runner.layout import PUBLISHED, published_files


def _published(config) -> tuple[Path, dict]:
    docs = Path(config["docs_dir"])
    info = json.loads((docs / PUBLISHED).read_text())
    results = Path(info["results"])
    if not results.is_absolute():
        results = Path(config["config_file_path"]).parent / results
    return results, info


def _add_runs(nav: list, runs: list) -> None:
    for i, item in enumerate(nav):
        if not isinstance(item, dict):
            continue
        if "Runs" in item:
            nav[i] = {"Runs": ["runs/index.md", *runs]}
        else:
            for children in item.values():
                if isinstance(children, list):
                    _add_runs(children, runs)


def on_config(config):
    _, info = _published(config)
    runs = [{r["title"]: f"runs/{r['name']}.md"} for r in info["runs"]]
    _add_runs(config["nav"] or [], runs)
    return config


def on_files(files, config):
    results, info = _published(config)
    # "folders": the runs of the plan as it stands (render leaves out those of an earlier one).
    for uri, src in published_files(results, info.get("folders")):
        files.append(File.generated(config, uri, abs_src_path=str(src)))
    return files
