"""Does the study's result hold under another framework and machine? Figures, not assertions.

The published runs train under TensorFlow on a 2-core CPU. The same library code also runs under
Keras's JAX backend (`train.ArrayBatches` replaces the tf.data pipeline), which is how the `full`
profile is meant to run on a GPU. This script retrains published runs that way, with the same
arrays, parameters and seeds, and prints their scores beside the committed ones:

    .venv/bin/python -m bench.backend export cnn kernel-7x7      # here: arrays + parameters
    KERAS_BACKEND=jax python -m bench.backend train OUT.json     # there (`.backend/` travels)
    .venv/bin/python -m bench.backend compare OUT.json           # here: beside results/<profile>

Commit OUT.json as `bench/backend.json`: the Performance page shows it beside the published runs
(`analysis.study.replication`), each row only while its parameters still match the published run's.

Same seed under another backend is not the same initialisation or batch order (each backend has
its own random generator), so a seed is paired only by its index: the question is whether the
other machine lands inside the CPU runs' seed spread, and how long an epoch takes there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from analysis import paths
from analysis.data import cache
from analysis.training import provenance
from analysis.training.experiment import StudyData

HERE = paths.ROOT / ".backend"  # ignored by git; the device tool carries it
RESULT = paths.ROOT / "bench" / "backend.json"  # the committed figures the site shows


def export(runs: list[str], profile: str) -> None:
    import ast

    import papermill

    from analysis.training.experiment import load_data
    from runner import plan as plan_mod

    plan = plan_mod.load(paths.PLAN_FILE, profile)
    HERE.mkdir(exist_ok=True)
    specs, sizes = {}, set()
    for name in runs:
        run = plan.runs[name]
        # The notebook's own defaults first, as Papermill would inject the plan's over them.
        declared = papermill.inspect_notebook(str(run.notebook_path))
        p = {k: ast.literal_eval(v["default"]) for k, v in declared.items()}
        p |= run.params
        specs[name] = p
        sizes.add((int(p["image_size"]), int(p.get("max_per_split", 0))))
    for size, limit in sorted(sizes):
        data = load_data(None, size, limit)
        arrays = {f"{s}_x": data.splits[s].x for s in paths.SPLITS}
        arrays |= {f"{s}_y": data.splits[s].y for s in paths.SPLITS}
        np.savez_compressed(
            HERE / f"data-{size}px.npz", class_ids=np.asarray(data.class_ids), **arrays
        )
        names = {str(k): v for k, v in data.names.items()}
        (HERE / f"names-{size}px.json").write_text(json.dumps(names))
    source = {
        "git_commit": provenance.git_commit(),
        "data_sha256": data.index.sha256,
        "exported_on": provenance.machine(),
        "exported": provenance.now(),
    }
    spec = {"profile": profile, "source": source, "runs": specs}
    (HERE / "runs.json").write_text(json.dumps(spec, indent=1))
    total = sum(f.stat().st_size for f in HERE.iterdir()) / 2**20
    print(f"wrote {HERE} ({total:.1f} MiB): {', '.join(runs)} at {sorted(sizes)} (px, limit)")


def _data(size: int) -> StudyData:
    z = np.load(HERE / f"data-{size}px.npz")
    names = {int(k): v for k, v in json.loads((HERE / f"names-{size}px.json").read_text()).items()}
    splits = {}
    for s in paths.SPLITS:
        n = len(z[f"{s}_y"])
        zeros = np.zeros(n, dtype=np.int64)
        splits[s] = cache.SplitArrays(s, z[f"{s}_x"], z[f"{s}_y"], [""] * n, zeros, zeros, [])
    return StudyData(None, [int(c) for c in z["class_ids"]], names, splits, size)


def _device() -> str:
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = ", ".join(sorted({d.device_kind for d in jax.devices()}))
        return f"{devices} (jax {jax.__version__}, keras {keras.__version__})"
    return f"{platform.processor() or platform.machine()} ({backend}, keras {keras.__version__})"


def train_all(out: Path) -> None:
    import keras

    from analysis.training import experiment

    spec = json.loads((HERE / "runs.json").read_text())
    report = {
        "device": _device(),
        "backend": keras.backend.backend(),
        "python": platform.python_version(),
        "matmul_precision": os.environ.get("JAX_DEFAULT_MATMUL_PRECISION", "default"),
        "profile": spec["profile"],
        "source": spec.get("source", {}),
        "started": provenance.now(),
        "runs": {},
    }
    print(report["device"], flush=True)
    for name, p in spec["runs"].items():
        data = _data(int(p["image_size"]))
        start = time.perf_counter()
        n = len(data.class_ids)
        results = experiment.train_seeds(
            lambda seed, p=p, n=n: experiment.build_model(p, n, seed), data, p
        )
        m = experiment.model_metrics(data, results)
        report["runs"][name] = {
            "params": p,
            "wall_seconds": time.perf_counter() - start,
            "per_seed": m["per_seed"],
            "test": {k: m["test"][k] for k in ("accuracy", "accuracy_std", "macro_f1")},
            "val_macro_f1_best": [max(h["val_macro_f1"]) for h in m["history"]],
            "timing": m["timing"],
            "converged": m["training"]["converged"],
            "translation": m.get("translation"),
        }
        report["finished"] = provenance.now()
        out.write_text(json.dumps(report, indent=1))  # each finished run survives a time-out
        print(f"{name}: {report['runs'][name]['test']}", flush=True)


def compare(file: Path, profile: str) -> None:
    other = json.loads(file.read_text())
    print(f"other machine: {other['device']}")
    head = (
        f"{'run':<14}{'where':<8}{'test acc (per seed)':<34}{'val F1 (best, per seed)':<28}s/epoch"
    )
    print(head)
    for name, r in other["runs"].items():
        mine_file = paths.results_dir() / profile / name / "metrics.json"
        rows = [
            (other["backend"], [s["test"]["accuracy"] for s in r["per_seed"]], None, r["timing"])
        ]
        if mine_file.exists():
            mine = json.loads(mine_file.read_text())
            rows.insert(
                0, ("cpu", mine["test"]["accuracy_per_seed"], mine["history"], mine["timing"])
            )
        for where, accs, hist, timing in rows:
            val = [max(h["val_macro_f1"]) for h in hist] if hist else r["val_macro_f1_best"]
            per_epoch = timing["train_seconds"] / np.mean(timing["epochs_run"])
            acc = f"{100 * np.mean(accs):.1f} ({', '.join(f'{100 * a:.1f}' for a in accs)})"
            f1 = f"{np.mean(val):.3f} ({', '.join(f'{v:.3f}' for v in val)})"
            print(f"{name:<14}{where:<8}{acc:<34}{f1:<28}{per_epoch:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("runs", nargs="+")
    e.add_argument("--profile", default="standard")
    t = sub.add_parser("train")
    t.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("file", type=Path)
    c.add_argument("--profile", default="standard")
    a = ap.parse_args(argv)
    if a.cmd == "export":
        export(a.runs, a.profile)
    elif a.cmd == "train":
        train_all(a.out)
    else:
        compare(a.file, a.profile)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
