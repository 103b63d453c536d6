"""One model run from data to metrics: the steps the model notebooks call, in order.

The notebooks show and explain; these functions do the work, so they are tested without a kernel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis import cache, evaluate, train
from analysis.data import DataIndex, load_index, used_classes


@dataclass
class StudyData:
    index: DataIndex
    class_ids: list[int]  # model output i <-> class_ids[i]
    names: dict[int, str]
    splits: dict[str, cache.SplitArrays]
    image_size: int

    def labels(self, split: str) -> np.ndarray:
        """Contiguous class indices (what the model predicts) for a split."""
        lookup = {c: i for i, c in enumerate(self.class_ids)}
        return np.asarray([lookup[int(c)] for c in self.splits[split].y], dtype=np.int64)

    def ids(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.class_ids)[np.asarray(indices)]


def load_data(
    data_dir: str | None, image_size: int, max_per_split: int = 0, skip_bad_entries: bool = False
) -> StudyData:
    index = load_index(data_dir, skip_bad=skip_bad_entries)
    class_ids = used_classes(index)  # from the whole lists, so a slice keeps the same outputs
    splits = {
        s: cache.load_split(index, s, image_size, limit=max_per_split or None)
        for s in ("train", "val", "test")
    }
    return StudyData(index, class_ids, index.classes, splits, image_size)


@dataclass
class SeedResult:
    seed: int
    fit: train.FitResult
    predictions: dict[str, np.ndarray]  # split -> predicted class ids
    inference_ms_per_image: float
    translation: dict[int, float] = field(default_factory=dict)


def train_seeds(build, data: StudyData, p: dict, log=print) -> list[SeedResult]:
    """Train one model per seed with identical everything else; predict every split once.

    `build(seed)` returns a fresh model. `p` holds the run's parameters (epochs, batch_size,
    learning_rate, patience, class_weighting, augment, permute_pixels, shift_pixels).
    """
    train.configure_threads()
    y_train, y_val = data.labels("train"), data.labels("val")
    weights = train.class_weights(y_train, len(data.class_ids), p["class_weighting"])
    perm = train.pixel_permutation(data.image_size) if p.get("permute_pixels") else None

    def view(split: str) -> np.ndarray:
        x = data.splits[split].x
        return train.permute(x, perm) if perm is not None else x

    results = []
    for seed in p["seeds"]:
        log(f"--- seed {seed} ---")
        train.seed_everything(seed)
        model = build(seed)
        fit = train.fit(
            model,
            data.splits["train"].x,
            y_train,
            view("val"),
            y_val,
            epochs=p["epochs"],
            batch_size=p["batch_size"],
            learning_rate=p["learning_rate"],
            patience=p["patience"],
            weights=weights,
            seed=seed,
            augment=p["augment"],
            perm=perm,
        )
        predictions = {}
        for split in ("train", "val", "test"):
            start = time.perf_counter()
            probs = train.predict(model, view(split))
            if split == "test":
                ms = 1000 * (time.perf_counter() - start) / len(probs)
            predictions[split] = data.ids(probs.argmax(axis=1))
        translation = {}
        if p.get("shift_pixels") and perm is None:
            translation = translation_accuracy(model, data, int(p["shift_pixels"]))
        results.append(SeedResult(seed, fit, predictions, ms, translation))
    return results


def translation_accuracy(model, data: StudyData, max_shift: int) -> dict[int, float]:
    """Test accuracy when every test image is shifted by s pixels right, left, down and up."""
    x, y = data.splits["test"].x, data.splits["test"].y
    out = {}
    for s in sorted({0, max(1, max_shift // 4), max(1, max_shift // 2), max_shift}):
        moves = [(0, 0)] if s == 0 else [(0, s), (0, -s), (s, 0), (-s, 0)]
        accs = [
            float(np.mean(data.ids(train.predict(model, train.shift(x, dy, dx)).argmax(1)) == y))
            for dy, dx in moves
        ]
        out[s] = float(np.mean(accs))
    return out


def model_metrics(data: StudyData, results: list[SeedResult]) -> dict:
    """The metric blocks of metrics.json for a model run (means over seeds)."""
    out: dict = {"seeds": [r.seed for r in results]}
    for split in ("train", "val", "test"):
        y = data.splits[split].y
        per_seed = [evaluate.scores(y, r.predictions[split]) for r in results]
        out[split] = {k: float(np.mean([s[k] for s in per_seed])) for k in per_seed[0]}
    y_test = data.splits["test"].y
    accs = [float(np.mean(r.predictions["test"] == y_test)) for r in results]
    f1s = [evaluate.scores(y_test, r.predictions["test"])["macro_f1"] for r in results]
    out["test"].update(
        accuracy_std=evaluate.mean_std(accs)[1],
        macro_f1_std=evaluate.mean_std(f1s)[1],
        accuracy_ci95=evaluate.bootstrap_accuracy_ci(
            y_test, np.stack([r.predictions["test"] for r in results])
        ),
        accuracy_per_seed=accs,
    )
    first = results[0].predictions["test"]
    out["per_class"] = evaluate.per_class(y_test, first, data.class_ids, data.names)
    out["confusion_matrix"] = evaluate.confusion(y_test, first, data.class_ids)
    out["baselines"] = evaluate.chance_and_majority(data.splits["train"].y, y_test)
    out["timing"] = {
        "train_seconds": float(np.mean([r.fit.train_seconds for r in results])),
        "inference_ms_per_image": float(np.mean([r.inference_ms_per_image for r in results])),
        "epochs_run": [r.fit.epochs_run for r in results],
        "best_epoch": [r.fit.best_epoch for r in results],
        "train_images_per_second": float(np.mean([r.fit.images_per_second for r in results])),
    }
    out["history"] = [r.fit.history for r in results]
    if results[0].translation:
        shifts = sorted(results[0].translation)
        out["translation"] = {
            "shifts": shifts,
            "accuracy": [float(np.mean([r.translation[s] for r in results])) for s in shifts],
        }
    return out


def save_predictions(path: Path, data: StudyData, results: list[SeedResult]) -> None:
    """Test predictions per seed, for the paired tests between runs (McNemar)."""
    np.savez_compressed(
        path,
        files=np.asarray(data.splits["test"].files),
        y_true=data.splits["test"].y,
        y_pred=np.stack([r.predictions["test"] for r in results]),
        seeds=np.asarray([r.seed for r in results]),
    )


def record(
    *,
    run_name: str,
    profile: str,
    notebook: str,
    params: dict,
    provenance: dict,
    figures: dict[str, str],
    **blocks,
) -> dict:
    """A run's metrics.json, in the order of the contract (README, "metrics.json")."""
    return {
        "run": run_name,
        "profile": profile,
        "notebook": notebook,
        "params": params,
        "provenance": provenance,
        **blocks,
        "figures": figures,
    }
