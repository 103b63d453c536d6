"""Finished seeds survive an interruption: a per-seed store the local runner adds to the kernel.

A model run trains one network per seed (`analysis.experiment.train_seeds`); at 128 px a seed
takes hours on a CPU. The runner adds one cell after the parameters to the copy of the notebook it
executes (never to the notebook on disk, so the run's fingerprint, which covers the notebook's
code, is untouched). That cell wraps `train_seeds`: each finished seed is saved under
`results/<profile>/<run>.seeds/seed-<n>/` (its training record, predictions and network), and a
rerun after Ctrl-C, SIGTERM or a lost machine loads the seeds it finds there instead of training
them again. Every seed starts from `train.seed_everything(seed)` with op determinism on, so a seed
trained alone is the seed trained after the others: the resumed run's numbers are an
uninterrupted run's (tests/test_resume.py). The store belongs to one fingerprint: a run whose
code, parameters or data changed starts afresh; a run that completes removes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

FINGERPRINT = "fingerprint.txt"
RESULT = "result.json"
ARRAYS = "arrays.npz"
MODEL = "model.keras"
TAG = "injected-resume"


def prepare(store: Path, fingerprint: str) -> list[int]:
    """The store for a run about to execute: emptied when it holds another fingerprint's seeds.
    Returns the seeds it already holds (the console says they are reused)."""
    store = Path(store)
    if store.exists() and _read(store / FINGERPRINT) != fingerprint:
        shutil.rmtree(store)
    store.mkdir(parents=True, exist_ok=True)
    (store / FINGERPRINT).write_text(fingerprint)
    return finished(store)


def finished(store: Path) -> list[int]:
    return sorted(
        int(p.name.removeprefix("seed-"))
        for p in Path(store).glob("seed-*")
        if (p / RESULT).exists()
    )


def discard(store: Path) -> None:
    shutil.rmtree(store, ignore_errors=True)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cell_source(store: str) -> str:
    return (
        "# Added by the runner, not part of the notebook: finished seeds are kept in the store\n"
        "# below and a rerun after an interruption loads them (runner/resume.py).\n"
        f"from runner import resume as _resume\n\n_resume.install({store!r})"
    )


def with_resume_cell(notebook: Path, into: Path, store: str) -> Path:
    """A copy of `notebook` with the store's cell right after its parameters cell (Papermill
    then puts the injected parameters between the two)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    at = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), -1)
    cell = nbformat.v4.new_code_cell(cell_source(store))
    cell.metadata["tags"] = [TAG]
    nb.cells.insert(at + 1, cell)
    nbformat.write(nb, into)
    return into


def save(store: Path, result) -> None:
    """One finished seed, written to a temporary folder and renamed: never half a seed."""
    import numpy as np

    final = Path(store) / f"seed-{result.seed}"
    tmp = Path(store) / f".seed-{result.seed}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    record = {
        "seed": result.seed,
        "fit": dataclasses.asdict(result.fit),
        "inference_ms_per_image": result.inference_ms_per_image,
        "translation": {str(k): v for k, v in result.translation.items()},
    }
    (tmp / RESULT).write_text(json.dumps(record))
    arrays = {f"pred_{k}": v for k, v in result.predictions.items()}
    if result.test_probabilities is not None:
        arrays["test_probabilities"] = result.test_probabilities
    np.savez(tmp / ARRAYS, **arrays)
    result.model.save(tmp / MODEL)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def load(store: Path, seed: int):
    """A finished seed as `train_seeds` returned it, or None when the store lacks it."""
    folder = Path(store) / f"seed-{seed}"
    if not (folder / RESULT).exists():
        return None
    import keras
    import numpy as np

    from analysis import experiment, train

    record = json.loads((folder / RESULT).read_text())
    with np.load(folder / ARRAYS) as z:
        arrays = {k: z[k] for k in z.files}
    return experiment.SeedResult(
        seed=record["seed"],
        fit=train.FitResult(**record["fit"]),
        predictions={
            k.removeprefix("pred_"): v for k, v in arrays.items() if k != "test_probabilities"
        },
        inference_ms_per_image=record["inference_ms_per_image"],
        test_probabilities=arrays.get("test_probabilities"),
        model=keras.models.load_model(folder / MODEL, compile=False),
        translation={int(k): v for k, v in record["translation"].items()},
    )


def install(store: str) -> None:
    """Wrap `experiment.train_seeds` in this kernel so that it trains only the seeds the store
    lacks, one at a time, and saves each as it finishes."""
    from analysis import experiment

    original = getattr(experiment.train_seeds, "__wrapped__", experiment.train_seeds)

    def train_seeds(build, data, p, log=print):
        results = []
        for seed in p["seeds"]:
            found = load(store, seed)
            if found is not None:
                log(f"--- seed {seed}: reused from {store} (an interrupted run finished it) ---")
                results.append(found)
                continue
            [result] = original(build, data, {**p, "seeds": [seed]}, log=log)
            save(store, result)
            results.append(result)
        return results

    train_seeds.__wrapped__ = original
    experiment.train_seeds = train_seeds
