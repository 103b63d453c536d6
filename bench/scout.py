"""Recipe scout: many single-change variants of the training recipe, several seeds each, scored
on val only (test is never loaded), with the library's own model and training code.

It exists to choose the recipe before hours of CPU go into the published profile: on a GPU
(Keras on JAX) the whole search takes minutes. The plan's `recipe` group then repeats the
search's main variants as real runs on the CPU, and the "Training recipe" page shows both.

    python -m bench.scout pack --out .scout/data.npz          # here: train + val arrays, 64 px
    KERAS_BACKEND=jax python -m bench.scout run --data .scout/data.npz --out results.jsonl
    python -m bench.scout run ... --only reference --seeds 0 --epochs 1   # a quick check

Each finished (variant, seed) appends one JSON line to --out, so an interrupted search keeps
what it finished.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REFERENCE = {
    "model": "cnn",
    "image_size": 64,
    "epochs": 24,
    "batch_size": 32,
    "learning_rate": 0.002,
    "warmup_epochs": 2,
    "schedule": "cosine",
    "weight_decay": 0.0001,
    "label_smoothing": 0.1,
    "class_weighting": "sqrt",
    "class_weight_cap": 10.0,
    "augment": "none",  # round 1 (bench/scout/round1.jsonl) started from "standard"
    "patience": 0,
    "kernel_sizes": [3, 3, 3, 3],
    "filters": [32, 64, 128, 256],
    "bn_momentum": 0.9,
}

# One change from REFERENCE each; named as on the recipe page.
VARIANTS: dict[str, dict] = {
    "reference": {},
    "lr-1e-3": {"learning_rate": 0.001},
    "lr-4e-3": {"learning_rate": 0.004},
    "epochs-15": {"epochs": 15},
    "epochs-36": {"epochs": 36},
    "constant-lr-early-stop": {
        "schedule": "constant",
        "learning_rate": 0.001,
        "patience": 6,
        "epochs": 40,
    },
    "weights-balanced-uncapped": {"class_weighting": "balanced", "class_weight_cap": 0.0},
    "weights-balanced-cap10": {"class_weighting": "balanced"},
    "weights-none": {"class_weighting": "none"},
    "no-label-smoothing": {"label_smoothing": 0.0},
    "aug-light": {"augment": "light"},
    "aug-standard": {"augment": "standard"},
    "weight-decay-5e-4": {"weight_decay": 0.0005},
    "bn-momentum-0.99": {"bn_momentum": 0.99},
    "baseline-lr-2e-4": {"model": "baseline", "learning_rate": 0.0002},
    "baseline-lr-5e-4": {"model": "baseline", "learning_rate": 0.0005},
    "baseline-lr-1e-3": {"model": "baseline", "learning_rate": 0.001},
    "baseline-lr-2e-3": {"model": "baseline", "learning_rate": 0.002},
}


def pack(out: Path, data_dir: str | None, image_size: int) -> None:
    import numpy as np

    from analysis.training import experiment

    data = experiment.load_data(data_dir, image_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out,
        x_train=data.splits["train"].x,
        y_train=data.labels("train"),
        x_val=data.splits["val"].x,
        y_val=data.labels("val"),
        class_ids=np.asarray(data.class_ids),
        data_sha256=np.asarray(data.index.sha256),
    )
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _job(args):
    name, seed, overrides, data_file, out = args
    import keras
    import numpy as np

    from analysis.models import networks as models
    from analysis.stats import evaluate
    from analysis.training import train

    p = {**REFERENCE, **VARIANTS[name], **overrides}
    d = np.load(data_file)
    x_tr, y_tr, x_va, y_va = d["x_train"], d["y_train"], d["x_val"], d["y_val"]
    n_classes = len(d["class_ids"])
    train.seed_everything(seed)
    if p["model"] == "baseline":
        model = models.build_baseline(p["image_size"], n_classes, seed=seed)
    else:
        model = models.build_cnn(
            p["image_size"],
            n_classes,
            tuple(p["kernel_sizes"]),
            tuple(p["filters"]),
            seed=seed,
            bn_momentum=p["bn_momentum"],
        )
    recipe = train.Recipe.from_params(p)
    weights = train.class_weights(y_tr, n_classes, recipe.class_weighting, recipe.class_weight_cap)
    start = time.perf_counter()
    fit = train.fit(
        model, x_tr, y_tr, x_va, y_va, recipe=recipe, weights=weights, seed=seed, verbose=0
    )
    train_pred = train.predict(model, x_tr).argmax(1)
    val_pred = train.predict(model, x_va).argmax(1)
    h = fit.history
    row = {
        "variant": name,
        "seed": seed,
        "params": p,
        "val": evaluate.scores(y_va, val_pred),
        "train_inference": evaluate.scores(y_tr, train_pred),
        "train_accuracy_during_training": h["accuracy"][fit.best_epoch - 1],
        "best_epoch": fit.best_epoch,
        "epochs_run": fit.epochs_run,
        "stop_reason": fit.stop_reason,
        "plateaued": fit.plateaued,
        "val_macro_f1_per_epoch": h[train.SELECTION_METRIC],
        "val_accuracy_per_epoch": h["val_accuracy"],
        "train_accuracy_per_epoch": h["accuracy"],
        "seconds": time.perf_counter() - start,
        "backend": keras.backend.backend(),
    }
    with open(out, "a") as fh:  # one short line per write: appends don't interleave
        fh.write(json.dumps(row) + "\n")
    return f"{name} seed {seed}: val macro-F1 {row['val']['macro_f1']:.3f} ({row['seconds']:.0f} s)"


def _init_worker():
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


def run(data_file: Path, out: Path, only, seeds, workers: int, overrides: dict) -> None:
    jobs = [
        (name, seed, overrides, str(data_file), str(out))
        for seed in seeds
        for name in VARIANTS
        if not only or name in only
    ]
    print(f"{len(jobs)} jobs on {workers} workers", flush=True)
    if workers <= 1:
        for j in jobs:
            print(_job(j), flush=True)
        return
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        for line in pool.imap_unordered(_job, jobs):
            print(line, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack")
    pk.add_argument("--out", type=Path, default=Path(".scout/data.npz"))
    pk.add_argument("--data-dir", default=None)
    pk.add_argument("--image-size", type=int, default=64)
    rn = sub.add_parser("run")
    rn.add_argument("--data", type=Path, default=Path(".scout/data.npz"))
    rn.add_argument("--out", type=Path, default=Path("scout.jsonl"))
    rn.add_argument("--only", nargs="*", default=None)
    rn.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    rn.add_argument("--workers", type=int, default=1)
    rn.add_argument("--epochs", type=int, default=0, help="override every variant's epochs")
    args = ap.parse_args(argv)
    if args.command == "pack":
        pack(args.out, args.data_dir, args.image_size)
    else:
        overrides = {"epochs": args.epochs} if args.epochs else {}
        run(args.data, args.out, args.only, args.seeds, args.workers, overrides)
    return 0


if __name__ == "__main__":
    sys.exit(main())
