"""Up-to-date checks: a run is current when its folder records the fingerprint of its inputs."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from analysis import paths
from analysis.data.index import check_data_dir, load_index
from runner import codeprint
from runner.layout import RUN_RECORD


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


# The one drawing of a model run's figures, from its record (metrics.json): a notebook whose
# figures it draws has them redrawn, not recomputed, when only presentation code changed.
REDRAW = "analysis.figures.runs.run_figures"


def prints(
    notebook: Path, lib: codeprint.Library | None = None
) -> tuple[codeprint.Print, codeprint.Print]:
    """A run's training print (what its notebook computes with: its code cells and every
    library definition they reach, presentation aside) and its figures print (the
    presentation definitions it reaches: how its figures and tables look); runner.codeprint
    says what counts."""
    code = notebook_source(notebook)
    lib = lib or codeprint.Library(paths.ROOT)
    full = codeprint.code_print(lib, code)
    if REDRAW not in full.manifest:
        # Its figures are drawn from what only the notebook reads (the images: eda, shift), so
        # only running it draws them again: their code stays in its fingerprint.
        return full, codeprint.Print({}, codeprint.value_of({}))
    return codeprint.run_prints(lib, code, full)


def code_print(notebook: Path, lib: codeprint.Library | None = None) -> codeprint.Print:
    """The training print: what the run's fingerprint covers of its code."""
    return prints(notebook, lib)[0]


def code_hash(notebook: Path) -> str:
    """The code a run executes, data and parameters aside. Recorded with each run so that the
    pages, which may be built without the data, can still tell a result of older code from a
    current one."""
    return code_print(notebook).value


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


@dataclass
class Inputs:
    """What a run's fingerprint is made of, kept for `status --why`."""

    code: codeprint.Print
    data: str
    fingerprint: str
    figures: codeprint.Print | None = None  # not in the fingerprint: redrawn, never retrained


# Each notebook's prints by the text they were computed from (the notebook's and every library
# module's): a process that checks its runs more than once (a run, then its summary; the test
# suite, hundreds of times) parses and hashes the same code once.
_PRINTS: dict[str, tuple[codeprint.Print, codeprint.Print]] = {}


def library_digest(root: Path | None = None, package: str = "analysis") -> str:
    """The text of every module of the library, with its path."""
    root = root or paths.ROOT
    h = hashlib.sha256()
    for f in sorted((root / package).rglob("*.py")):
        h.update(f"{f.relative_to(root)}\0".encode() + f.read_bytes() + b"\0")
    return h.hexdigest()


def inputs(runs, data_dir: Path, skip_bad: bool = False) -> dict[str, Inputs]:
    """Each run's inputs: the code its notebook reaches, its parameters, the images it reads."""
    lib = codeprint.Library(paths.ROOT)
    library = library_digest()
    known: dict[Path, tuple[codeprint.Print, codeprint.Print]] = {}
    datas: dict[int, str] = {}
    out = {}
    for run in runs:
        if run.notebook_path not in known:
            text = hashlib.sha256(Path(run.notebook_path).read_bytes()).hexdigest()
            if (key := f"{library}:{text}") not in _PRINTS:
                _PRINTS[key] = prints(run.notebook_path, lib)
            known[run.notebook_path] = _PRINTS[key]
        limit = int(run.params.get("max_per_split") or 0)
        if limit not in datas:
            datas[limit] = data_hash(data_dir, skip_bad, limit)
        code, figures = known[run.notebook_path]
        fp = run.fingerprint(code.value, datas[limit])
        out[run.name] = Inputs(code, datas[limit], fp, figures)
    return out


def fingerprints(runs, data_dir: Path, skip_bad: bool = False) -> dict[str, str]:
    """Each run's fingerprint: its parameters, the code it reaches and the images it reads."""
    return {name: i.fingerprint for name, i in inputs(runs, data_dir, skip_bad).items()}


def why(run, folder: Path, now: Inputs) -> list[str]:
    """Why a run is not up to date, one line per cause (empty when it is)."""
    try:
        record = json.loads((folder / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return [f"not computed: {folder} has no {RUN_RECORD}"]
    if not (folder / "metrics.json").exists():
        return [f"not computed: {folder} has no metrics.json"]
    if record.get("fingerprint") == now.fingerprint:
        return []
    if "code_manifest" not in record:
        return [
            "recorded under the old fingerprint (the bytes of files); "
            "`python -m runner adopt` moves it when its code computes the same"
        ]
    if "figures_code" not in record and now.figures and now.figures.manifest:
        return [
            "recorded before the figures' code was split off its print; "
            "`python -m runner adopt` moves it when its training code is today's"
        ]
    lines = []
    then = record.get("params", {})
    wanted = json.loads(json.dumps(run.params))
    for key in sorted(set(then) | set(wanted)):
        if then.get(key, "(unset)") != wanted.get(key, "(unset)"):
            lines.append(
                f"parameter {key}: {then.get(key, '(unset)')!r} -> {wanted.get(key, '(unset)')!r}"
            )
    lines += codeprint.changes(record["code_manifest"], now.code.manifest)
    if record.get("notebook") != run.notebook:
        lines.append(f"notebook: {record.get('notebook')} -> {run.notebook}")
    same_data = run.with_params(then).fingerprint(record.get("code", ""), now.data)
    if record.get("notebook") == run.notebook and same_data != record["fingerprint"]:
        lines.append("data: the images or split lists it reads changed")
    return lines


def figures_why(folder: Path, now: Inputs) -> list[str]:
    """For a run whose training is current: which presentation definitions changed since its
    figures were drawn, one line each (empty when they are current)."""
    try:
        record = json.loads((folder / RUN_RECORD).read_text())
    except (OSError, ValueError):
        return []
    figures = now.figures
    if not (figures and figures.manifest) or record.get("figures_code") == figures.value:
        return []
    if "figures_manifest" not in record:
        return ["figures: drawn before their code was recorded"]
    return codeprint.changes(record["figures_manifest"], figures.manifest, "figures")


def figures_current(folder: Path, now: Inputs) -> bool:
    """Whether a run's figures were drawn by today's presentation code."""
    return not figures_why(folder, now)


def recorded_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / RUN_RECORD).read_text())["fingerprint"]
    except (OSError, ValueError, KeyError):
        return None


def is_current(folder: Path, fingerprint: str) -> bool:
    return recorded_fingerprint(folder) == fingerprint and (folder / "metrics.json").exists()
