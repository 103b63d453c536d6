"""Up-to-date checks: a run is current when its folder records the fingerprint of its inputs."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from analysis import paths
from analysis.data import check_data_dir, load_index
from runner.layout import RUN_RECORD


def imported_modules(source: str) -> set[str]:
    """The `analysis` modules a piece of Python source imports (`from analysis import x`,
    `from analysis.x import y`, `import analysis.x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module == "analysis" and not node.level:
            found.update(f"analysis.{a.name}" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("analysis."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("analysis."))
    return found


def notebook_source(notebook: Path) -> str:
    """The code cells of a notebook, IPython magics and shell lines left out."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    lines = [
        line
        for c in cells
        if c["cell_type"] == "code"
        for line in "".join(c["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines)


def library_modules(notebook: Path) -> list[Path]:
    """The library files a notebook runs: the modules it imports, and theirs, transitively.
    A run's fingerprint covers these alone, so a change to a module no run imports (the
    cross-run study analysis, the downloader) leaves every computed run up to date."""
    lib = paths.ROOT / "analysis"
    todo, seen = imported_modules(notebook_source(notebook)), {"analysis"}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        file = lib / (name.split(".", 1)[1].replace(".", "/") + ".py")
        if file.exists():
            todo |= imported_modules(file.read_text())
    files = [lib / "__init__.py"]
    files += [lib / (n.split(".", 1)[1].replace(".", "/") + ".py") for n in seen - {"analysis"}]
    return sorted(f for f in files if f.exists())


def library_hash(notebook: Path | None = None) -> str:
    """The analysis library's source that `notebook` runs (every module when None)."""
    lib = paths.ROOT / "analysis"
    files = sorted(lib.rglob("*.py")) if notebook is None else library_modules(notebook)
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(lib)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def code_hash(notebook: Path) -> str:
    """The code a run executes, data and parameters aside: its notebook and the library modules
    that notebook runs. Recorded with each run so that the pages, which may be built without
    the data, can still tell a result of older code from a current one."""
    h = hashlib.sha256(notebook.read_bytes())
    h.update(library_hash(notebook).encode())
    return h.hexdigest()[:16]


DIGESTS = "image-digests.json"  # in the cache folder: file -> [size, mtime_ns, sha256]


def image_digests(root: Path, files: list[str]) -> dict[str, str]:
    """sha256 of each image's bytes, recomputed only for files whose size or time changed."""
    store = paths.cache_dir() / DIGESTS
    try:
        known = json.loads(store.read_text())
    except (OSError, ValueError):
        known = {}
    out, changed = {}, False
    for f in files:
        st = (root / f).stat()
        key = str((root / f).resolve())
        entry = known.get(key)
        if not entry or entry[:2] != [st.st_size, st.st_mtime_ns]:
            entry = [
                st.st_size,
                st.st_mtime_ns,
                hashlib.sha256((root / f).read_bytes()).hexdigest(),
            ]
            known[key], changed = entry, True
        out[f] = entry[2]
    if changed:
        store.parent.mkdir(parents=True, exist_ok=True)
        tmp = store.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known))
        os.replace(tmp, store)
    return out


def data_hash(data_dir: Path, skip_bad: bool = False, limit: int = 0) -> str:
    """The data a run reads: the split lists, the class names and the bytes of every image it
    decodes (the first `limit` entries of each split, or all of them)."""
    check_data_dir(data_dir)
    h = hashlib.sha256(b"skip_bad" if skip_bad else b"strict")
    for name in (paths.SYNSET_FILE, *paths.SPLIT_FILES.values()):
        h.update(hashlib.sha256((data_dir / name).read_bytes()).digest())
    index = load_index(data_dir, skip_bad=skip_bad)
    files = [e.file for entries in index.splits.values() for e in entries[: limit or None]]
    for f, digest in image_digests(Path(data_dir), files).items():
        h.update(f"{f} {digest}\n".encode())
    return h.hexdigest()[:16]


def fingerprints(runs, data_dir: Path, skip_bad: bool = False) -> dict[str, str]:
    """Each run's fingerprint: its notebook, parameters, the library code it runs and the
    images it reads."""
    libraries: dict[Path, str] = {}
    datas: dict[int, str] = {}
    out = {}
    for run in runs:
        if run.notebook_path not in libraries:
            libraries[run.notebook_path] = library_hash(run.notebook_path)
        limit = int(run.params.get("max_per_split") or 0)
        if limit not in datas:
            datas[limit] = data_hash(data_dir, skip_bad, limit)
        out[run.name] = run.fingerprint(libraries[run.notebook_path], datas[limit])
    return out


def recorded_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / RUN_RECORD).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def is_current(folder: Path, fingerprint: str) -> bool:
    return recorded_fingerprint(folder) == fingerprint and (folder / "metrics.json").exists()
