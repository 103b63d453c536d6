"""One model run from data to metrics: the steps the model notebooks call, in order.

The notebooks show and explain; these functions do the work, so they are tested without a kernel.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.data import cache
from analysis.data.index import DataIndex, load_index, used_classes
from analysis.models import networks as models
from analysis.stats import evaluate
from analysis.training import record as run_record
from analysis.training import train


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
    test_probabilities: np.ndarray | None = None  # (n_test, n_classes), model output order
    model: object = None  # the trained keras.Model (kept to save the selected seed's artifact)
    translation: dict[int, float] = field(default_factory=dict)


def translation_shifts(image_size: int, max_fraction: float) -> list[int]:
    """Shifts in pixels from 0 up to `max_fraction` of the side, in four equal steps."""
    top = int(round(image_size * max_fraction))
    return sorted({int(round(top * i / 4)) for i in range(5)})


def train_seeds(build, data: StudyData, p: dict, log=print) -> list[SeedResult]:
    """Train one model per seed with identical everything else; predict every split once.

    `build(seed)` returns a fresh model. `p` holds the run's parameters (the `train.Recipe`
    fields, seeds, permute_pixels, shift_fraction).
    """
    train.configure_threads()
    recipe = train.Recipe.from_params(p)
    y_train, y_val = data.labels("train"), data.labels("val")
    weights = train.class_weights(
        y_train, len(data.class_ids), recipe.class_weighting, recipe.class_weight_cap
    )
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
            recipe=recipe,
            weights=weights,
            seed=seed,
            perm=perm,
        )
        predictions = {}
        for split in ("train", "val", "test"):
            start = time.perf_counter()
            probs = train.predict(model, view(split))
            if split == "test":
                ms = 1000 * (time.perf_counter() - start) / len(probs)
                test_probs = probs
            predictions[split] = data.ids(probs.argmax(axis=1))
        translation = {}
        if p.get("shift_fraction") and perm is None:
            shifts = translation_shifts(data.image_size, float(p["shift_fraction"]))
            translation = translation_accuracy(model, data, shifts)
        log(
            f"seed {seed}: {fit.stop_reason} after {fit.epochs_run} epochs "
            f"(best {fit.best_epoch}), val macro-F1 {max(fit.history[train.SELECTION_METRIC]):.3f}"
        )
        results.append(SeedResult(seed, fit, predictions, ms, test_probs, model, translation))
    return results


def translation_accuracy(model, data: StudyData, shifts: list[int]) -> dict[int, float]:
    """Test accuracy when every test image is shifted by s pixels right, left, down and up."""
    x, y = data.splits["test"].x, data.splits["test"].y
    out = {}
    for s in shifts:
        moves = [(0, 0)] if s == 0 else [(0, s), (0, -s), (s, 0), (-s, 0)]
        accs = [
            float(np.mean(data.ids(train.predict(model, train.shift(x, dy, dx)).argmax(1)) == y))
            for dy, dx in moves
        ]
        out[s] = float(np.mean(accs))
    return out


def selected_seed(results: list[SeedResult]) -> int:
    """Index of the seed whose model is published as the run's artifact: the best on val."""
    return int(np.argmax([max(r.fit.history[train.SELECTION_METRIC]) for r in results]))


def model_metrics(data: StudyData, results: list[SeedResult]) -> dict:
    """The metric blocks of metrics.json for a model run (means over seeds, and per seed)."""
    out: dict = {"seeds": [r.seed for r in results]}
    per_seed = []
    for r in results:
        row = {"seed": r.seed}
        for split in ("train", "val", "test"):
            row[split] = evaluate.scores(data.splits[split].y, r.predictions[split])
        h = r.fit.history
        row["train"]["accuracy_during_training"] = h["accuracy"][r.fit.best_epoch - 1]
        row.update(
            stop_reason=r.fit.stop_reason,
            plateaued=r.fit.plateaued,
            best_epoch=r.fit.best_epoch,
            epochs_run=r.fit.epochs_run,
        )
        per_seed.append(row)
    for split in ("train", "val", "test"):
        keys = per_seed[0][split]
        out[split] = {k: float(np.mean([s[split][k] for s in per_seed])) for k in keys}
        out[split].update(
            {f"{k}_std": evaluate.mean_std([s[split][k] for s in per_seed])[1] for k in keys}
        )
    y_test = data.splits["test"].y
    out["test"].update(
        accuracy_ci95=evaluate.bootstrap_accuracy_ci(
            y_test, np.stack([r.predictions["test"] for r in results])
        ),
        accuracy_per_seed=[s["test"]["accuracy"] for s in per_seed],
    )
    out["per_seed"] = per_seed
    out["training"] = {
        "selection_metric": train.SELECTION_METRIC,
        "stop_reason": sorted({r.fit.stop_reason for r in results}),
        "converged": all(r.fit.stop_reason == "early_stopping" or r.fit.plateaued for r in results),
        "selected_seed": results[selected_seed(results)].seed,
    }
    first = results[0].predictions["test"]
    out["per_class"] = evaluate.per_class(y_test, first, data.class_ids, data.names)
    out["confusion_matrix"] = evaluate.confusion(y_test, first, data.class_ids)
    out["baselines"] = evaluate.chance_and_majority(data.splits["train"].y, y_test)
    out["shift"] = evaluate.split_shift(
        {s: data.splits[s].y for s in ("train", "val", "test")},
        {s: [r.predictions[s] for r in results] for s in ("val", "test")},
        data.class_ids,
        data.names,
    )
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
        acc = np.asarray([[r.translation[s] for s in shifts] for r in results])
        out["translation"] = {
            "shifts": shifts,
            "image_size": data.image_size,
            "accuracy": acc.mean(axis=0).tolist(),
            "accuracy_std": (acc.std(axis=0, ddof=1) if len(acc) > 1 else 0 * acc[0]).tolist(),
            "accuracy_per_seed": acc.tolist(),
        }
    return out


def save_model(folder: Path, data: StudyData, results: list[SeedResult], params: dict) -> dict:
    """The selected seed's trained model as `model.keras`, with what a user needs to feed it
    (`model.json`): class ids and names in output order, image size and scaling."""
    r = results[selected_seed(results)]
    path = Path(folder) / "model.keras"
    import keras

    # An uncompiled copy: the file then holds the weights alone, not AdamW's two moments.
    copy = keras.models.clone_model(r.model)
    copy.set_weights(r.model.get_weights())
    copy.save(path)
    info = {
        "file": "model.keras",
        "seed": r.seed,
        "selected_by": f"best {train.SELECTION_METRIC} over seeds",
        "class_ids": [int(c) for c in data.class_ids],
        "class_names": [data.names[int(c)] for c in data.class_ids],
        "image_size": data.image_size,
        "preprocessing": cache.PREPROCESSING,
        "input": "float32 RGB array (n, size, size, 3) with values 0..255; the model rescales",
        "permute_pixels": bool(params.get("permute_pixels")),
        "bytes": path.stat().st_size,
    }
    (Path(folder) / "model.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def save_predictions(path: Path, data: StudyData, results: list[SeedResult]) -> None:
    """Val and test predictions per seed, for the paired tests between runs, and the test
    probabilities (float16, model output order = `class_ids`) for the predictions gallery."""
    np.savez_compressed(
        path,
        files=np.asarray(data.splits["test"].files),
        y_true=data.splits["test"].y,
        y_pred=np.stack([r.predictions["test"] for r in results]),
        val_files=np.asarray(data.splits["val"].files),
        val_true=data.splits["val"].y,
        val_pred=np.stack([r.predictions["val"] for r in results]),
        test_probabilities=np.stack([r.test_probabilities for r in results]).astype("float16"),
        class_ids=np.asarray(data.class_ids),
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
    """A run's metrics.json, checked against the typed record (analysis.training.record)."""
    return run_record.build(
        run=run_name,
        profile=profile,
        notebook=notebook,
        params=params,
        provenance=provenance,
        **blocks,
        figures=figures,
    )


# The model notebook's parameters that describe the run (the rest say where to read and write).
PARAMETERS = (
    "model",
    "image_size",
    "max_per_split",
    "seeds",
    *train.Recipe.__dataclass_fields__,
    "permute_pixels",
    "shift_fraction",
    "kernel_size",
    "kernel_sizes",
    "filters",
    "bn_momentum",
)


# The CNNs a run can name: the reference, and each one-change variant the study tests (the
# decision it changes, as build_cnn's keyword), or the colour control.
CNN_VARIANTS = {
    "cnn": {},
    "cnn_strided": {"downsample": "stride"},  # stride-2 convolutions instead of max-pooling
    "cnn_stem2": {"first_stride": 2},  # a stride-2 first convolution
    "cnn_valid": {"padding": "valid"},  # no zero padding: each convolution shrinks its map
    "cnn_scrambled": {"scramble": True},  # every value shuffled in front (the colour control)
}


def build_model(p: dict, n_classes: int, seed: int):
    """The network a run's parameters name: the dense baseline or a CNN of given kernels."""
    if p["model"] == "baseline":
        return models.build_baseline(p["image_size"], n_classes, seed=seed)
    if p["model"] in CNN_VARIANTS:
        return models.build_cnn(
            p["image_size"],
            n_classes,
            tuple(p["kernel_sizes"]),
            tuple(p["filters"]),
            seed=seed,
            bn_momentum=p.get("bn_momentum", 0.9),
            **CNN_VARIANTS[p["model"]],
        )
    known = ", ".join(repr(m) for m in ("baseline", *CNN_VARIANTS))
    raise ValueError(f"model must be one of {known}, not {p['model']!r}")


def split_table(data: StudyData) -> list[dict]:
    return [
        {"split": s, "images": len(a.x), "array": str(a.x.shape), "classes present": len(set(a.y))}
        for s, a in data.splits.items()
    ]


def layer_table(model_summary: dict) -> list[dict]:
    rf = {r["layer"]: r["receptive_field"] for r in model_summary["receptive_field_per_layer"]}
    return [
        {
            "layer": layer["name"],
            "output": "×".join(map(str, layer["output_shape"])),
            "parameters": layer["parameters"],
            "MFLOPs": layer["flops"] / 1e6,
            "receptive field": f"{rf[layer['name']]} px" if layer["name"] in rf else "",
        }
        for layer in model_summary["layers"]
    ]


def score_table(metrics: dict) -> list[dict]:
    """Mean ± std over seeds per split; train is scored in inference mode on un-augmented
    images, beside the accuracy measured during training."""
    rows = []
    for s in ("train", "val", "test"):
        m = metrics[s]
        row = {"split": s}
        for k in ("accuracy", "macro_f1", "balanced_accuracy"):
            row[k] = f"{m[k]:.3f} ± {m[k + '_std']:.3f}"
        rows.append(row)
    rows[0]["during training"] = f"{metrics['train']['accuracy_during_training']:.3f}"
    return rows


def seed_table(metrics: dict) -> list[dict]:
    return [
        {
            "seed": r["seed"],
            "stop": r["stop_reason"],
            "plateaued": r["plateaued"],
            "epochs": r["epochs_run"],
            "best epoch": r["best_epoch"],
            "train (inference)": r["train"]["accuracy"],
            "train (during training)": r["train"]["accuracy_during_training"],
            "val macro-F1": r["val"]["macro_f1"],
            "test accuracy": r["test"]["accuracy"],
        }
        for r in metrics["per_seed"]
    ]
