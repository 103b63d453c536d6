"""The kernel families' effective receptive fields (analysis.figures.receptive) for the cross-run
step, from each run's saved network (its selected seed's `model.keras`; a run that shares another
run's computation reads that run's network).

Saved networks stay on the machine that trained them (only the reference's is published), so a
network's numbers and map are kept from the summary before (`_study/erf.npz` beside it) while its
record and the code that measures it are unchanged, and computed again only where the network is
here. A network never measured and not here is left out, and the page says so.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from analysis import paths
from runner import codeprint, layout

FAMILIES = ("kernels", "kernels-128")  # the plan groups measured, at the two input sizes
MAPS_FILE = "erf.npz"
FIGURE = "effective_receptive_field.png"
MODEL_FILE = "model.keras"
# What the numbers are computed by (the drawing is not part of a network's key).
SOURCE = (
    "from analysis.figures import receptive\n"
    "receptive.centre_unit\nreceptive.erf_map\nreceptive.describe\nreceptive.sample\n"
)


def networks(groups: dict, only=None) -> list[str]:
    """The kernel families' runs, in plan order (those in `only`, when given)."""
    return [n for n, g in groups.items() if g in FAMILIES and (only is None or n in only)]


def model_folder(profile_dir: Path, name: str) -> Path:
    """Where the run's network is saved: its own folder, or the folder of the run it shares its
    computation with (runner.execute)."""
    try:
        record = json.loads((profile_dir / name / layout.RUN_RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    return profile_dir / (record.get("same_computation_as") or name)


def figure_key() -> str:
    """The drawing code's print: a change to it redraws the figure from the kept maps."""
    lib = codeprint.Library(paths.ROOT)
    source = "from analysis.figures import receptive_draw\nreceptive_draw.draw\n"
    return hashlib.sha256(codeprint.code_print(lib, source).value.encode()).hexdigest()[:16]


def figure_stale(before: dict | None) -> bool:
    """A figure drawn by other drawing code than today's."""
    return bool(before) and before.get("figure_code") != figure_key()


def entry_key(profile_dir: Path, name: str) -> str:
    """The measuring code's print, the run's record and its saved network's description."""
    lib = codeprint.Library(paths.ROOT)
    h = hashlib.sha256(codeprint.code_print(lib, SOURCE).value.encode())
    for f in (profile_dir / name / "metrics.json", model_folder(profile_dir, name) / "model.json"):
        h.update(f.read_bytes() if f.exists() else b"-")
    return h.hexdigest()[:16]


def _saved(profile_dir: Path, name: str) -> Path | None:
    folder = model_folder(profile_dir, name)
    ok = (folder / MODEL_FILE).exists() and (folder / "model.json").exists()
    return folder if ok else None


def load_maps(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError):
        return {}


def pending(profile_dir: Path, groups: dict, only, before: dict | None) -> list[str]:
    """The networks saved here whose numbers the summary lacks or computed from other inputs."""
    old = (before or {}).get("networks", {})
    return [
        n
        for n in networks(groups, only)
        if _saved(profile_dir, n) and old.get(n, {}).get("key") != entry_key(profile_dir, n)
    ]


def study(
    profile_dir: Path, groups: dict, fig_dir: Path, data_dir, only, before: dict | None
) -> dict | None:
    """{networks: run -> its numbers (analysis.figures.receptive.describe) and key, figure,
    missing: the runs with neither a saved network nor numbers kept}; None when none has either."""
    from analysis.figures import receptive

    names = networks(groups, only)
    old = (before or {}).get("networks", {})
    maps_file = profile_dir / layout.STUDY_DIR / MAPS_FILE
    old_maps = load_maps(maps_file)
    out, maps, todo = {}, {}, {}
    for n in names:
        key = entry_key(profile_dir, n)
        folder = _saved(profile_dir, n)
        if folder is not None and old.get(n, {}).get("key") != key:
            todo[n] = (key, folder)
        elif old.get(n, {}).get("key") == key and n in old_maps:
            out[n], maps[n] = old[n], old_maps[n]
    root = paths.data_dir(data_dir)
    if todo and (root / paths.SYNSET_FILE).exists():
        for n, (entry, erf) in _measure(todo, root, receptive).items():
            out[n], maps[n] = entry, erf
    if not out:
        return None
    order = [n for n in names if n in out]
    _write_maps(maps_file, {n: maps[n] for n in order})
    from analysis.figures import receptive_draw

    rows: dict[int, dict] = {}
    for n in order:
        rows.setdefault(out[n]["image_size"], {})[n] = out[n]
    columns = list(dict.fromkeys(receptive_draw._column(n) for n in names))
    figure = receptive_draw.draw(rows, maps, columns, fig_dir / FIGURE)
    return {
        "networks": {n: out[n] for n in order},
        "missing": [n for n in names if n not in out],
        "figure": str(Path(figure).relative_to(profile_dir / layout.STUDY_DIR)),
        "figure_code": figure_key(),
        "share": receptive.ERF_SHARE,
    }


def _measure(todo: dict, root: Path, receptive) -> dict:
    """Each network's numbers and map, the test images decoded once per input size."""
    import keras

    from analysis.data import cache
    from analysis.data.index import load_index

    index, images, done = load_index(root), {}, {}
    for n, (key, folder) in todo.items():
        info = json.loads((folder / "model.json").read_text())
        size = int(info["image_size"])
        if size not in images:
            split = cache.load_split(index, "test", size, progress=False)
            images[size] = split.x[receptive.sample(len(split.x))]
        model = keras.saving.load_model(folder / info.get("file", MODEL_FILE), compile=False)
        unit = receptive.centre_unit(model)
        erf = receptive.erf_map(model, images[size], unit)
        entry = receptive.describe(erf, unit)
        entry.update(
            key=key, seed=int(info.get("seed", 0)), model_of=folder.name, images=len(images[size])
        )
        done[n] = (entry, erf.astype("float32"))
        print(f"receptive field: {n} uses {entry['used_side']} of {entry['window']} px")
    return done


def _write_maps(path: Path, maps: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(tmp, **maps)
    os.replace(tmp, path)
