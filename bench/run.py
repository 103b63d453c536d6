"""What the study's training costs on this machine, at the settings it runs: bench/results.json.

    make bench            (or: .venv/bin/python -m bench.run [--quick] [--networks cnn ...])

Run it on an idle machine: it times, so anything else on the CPU lowers its figures.

Every network of the published profile (bench/networks.py finds them from plan.yaml: each
distinct model among its runs, at its image size and batch size), side by side in one process:

- plain: `model.fit` on float32 NumPy arrays (TensorFlow's default, op determinism off);
- project: the study's training path (`analysis.training.train.make_dataset`: tf.data over uint8,
class
  weights, op determinism on), the same model, optimizer, loss and batch size, no val scoring;
- project + val: the same with `analysis.training.train.ValSelection` scoring a val set after every
  epoch, in the published proportion of val to train images: what an epoch of a run costs;
- project, determinism off: what the project pays for same-seed-same-result.

From these: images/s, the achieved GFLOP/s (a training image counted as three forward passes)
and its share of the machine's measured peak (a large fp32 matrix product), the share of an
epoch spent scoring val, and an idle epoch's seconds at the published split sizes, which
analysis/study/cost.py uses for the study's floor. Also decode-and-cache time cold and warm, and the
wall time of a no-op `make all`. Variants are timed in turn over rounds, each keeping its best
(bench/timing.py). Figures, not assertions: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from analysis import paths  # noqa: E402
from analysis.data import cache
from analysis.data.index import DataError, load_index  # noqa: E402
from analysis.training import provenance, train
from bench import networks, timing  # noqa: E402

OUT = paths.ROOT / "bench" / "results.json"
N_CLASSES = 24
DETERMINISM = (
    "on: with it a seed reproduces its run's numbers on the same machine "
    "(analysis.training.train.seed_everything)"
)


def published_plan():
    from runner.plan import load

    plan = load()
    return plan if plan.profile == plan.published else load(profile=plan.published)


def measured_peak_gflops(seconds: float = 3.0) -> float:
    """fp32 GEMM throughput of this machine through TensorFlow (2048², all cores)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    b = tf.random.normal((2048, 2048))
    tf.linalg.matmul(a, b).numpy()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or n < 1:
        tf.linalg.matmul(a, b).numpy()
        n += 1
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


@contextlib.contextmanager
def op_determinism(enabled: bool):
    from tensorflow.python.framework import config

    was = config.is_op_determinism_enabled()
    (config.enable_op_determinism if enabled else config.disable_op_determinism)()
    try:
        yield
    finally:
        (config.enable_op_determinism if was else config.disable_op_determinism)()


def variants(build, p: dict, x, y, xv, yv) -> dict:
    """fit_on(k) per variant: one epoch on the first k images (val in proportion to k)."""
    import keras

    recipe = train.Recipe.from_params(p)
    batch = recipe.batch_size
    onehot = np.eye(N_CLASSES, dtype="float32")[y]
    weights = np.ones(len(y), "float32")
    xf = x.astype("float32")

    def compiled(seed: int = 0):
        train.seed_everything(seed)
        m = build(seed)
        steps = max(1, len(x) // batch)
        m.compile(
            optimizer=recipe.optimizer(steps),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
            metrics=["accuracy"],
        )
        return m

    m_plain = compiled()

    def plain(k, m=m_plain):
        with op_determinism(False):
            m.fit(xf[:k], onehot[:k], batch_size=batch, epochs=1, verbose=0)

    def project(k, m, deterministic=True, val=False):
        ds = train.make_dataset(x[:k], onehot[:k], weights[:k], batch, 0, recipe.augment, None)
        callbacks = []
        if val:
            nv = max(1, round(k * len(xv) / len(x)))
            callbacks = [train.ValSelection(lambda: train.predict(m, xv[:nv]), yv[:nv], 0)]
        with op_determinism(deterministic):
            m.fit(ds, verbose=0, callbacks=callbacks, shuffle=False)

    m_project, m_val, m_free = compiled(), compiled(), compiled()
    return {
        "plain": plain,
        "project": lambda k: project(k, m_project),
        "project_with_val": lambda k: project(k, m_val, val=True),
        "project_nondeterministic": lambda k: project(k, m_free, deterministic=False),
    }


def bench_network(net: dict, split: dict, steps: int, budget: float, rounds: int) -> dict:
    p = net["params"]
    size, batch = p["image_size"], p["batch_size"]
    build = networks.builder(p, N_CLASSES)
    info = networks.summary(build(0))
    fwd = info["flops_per_image"]
    n = batch * steps
    nv = max(1, round(n * split["val"] / split["train"]))
    rng = np.random.default_rng(0)  # the timing of these networks does not depend on the pixels
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, N_CLASSES, n)
    xv = rng.integers(0, 256, (nv, size, size, 3), dtype=np.uint8)
    yv = rng.integers(0, N_CLASSES, nv)
    fits = variants(build, p, x, y, xv, yv)
    for fit_on in fits.values():  # tracing and oneDNN primitive creation, before the clock
        fit_on(min(n, 2 * batch))
    calls = {name: (lambda f=fit_on: f(n)) for name, fit_on in fits.items()}
    seconds = timing.fastest(calls, rounds, budget / max(rounds, 1))
    ips = {name: n / s for name, s in seconds.items()}
    train_gflop = 3 * fwd / 1e9
    row = {
        "name": net["name"],
        "runs": net["runs"],
        "model": info.get("name", ""),
        "params": {k: p.get(k) for k in ("model", *networks.SHAPE.get(p["model"], ()))},
        "image_size": size,
        "batch_size": batch,
        "parameters": info["parameters"],
        "flops_per_image": fwd,
        "train_gflop_per_image": train_gflop,
        **{f"{name}_images_per_second": v for name, v in ips.items()},
    }
    row["ratio"] = ips["project"] / ips["plain"]
    row["determinism_cost"] = 1 - ips["project"] / ips["project_nondeterministic"]
    # Val scoring's share of an epoch: the time with it less the time without, over the time with.
    row["val_share_of_epoch"] = max(0.0, 1 - ips["project_with_val"] / ips["project"])
    row["plain_gflops"] = ips["plain"] * train_gflop
    row["project_gflops"] = ips["project"] * train_gflop
    # An epoch of the published split on an idle machine, val scoring included.
    row["idle_epoch_seconds"] = split["train"] / ips["project_with_val"]
    return row


def plain_with_defaults(p: dict, budget: float) -> float:
    """The plain path of the reference CNN in a fresh process with TensorFlow's defaults."""
    cmd = [sys.executable, "-m", "bench.plain", "--kernels", *map(str, p["kernel_sizes"])]
    cmd += ["--image-size", str(p["image_size"]), "--batch-size", str(p["batch_size"])]
    cmd += ["--steps", "8", "--seconds", str(budget)]
    out = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def bench_cache(data_dir: Path, size: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    before = os.environ.get("CACHE_DIR")
    os.environ["CACHE_DIR"] = str(tmp)
    try:
        index = load_index(data_dir)
        start = time.perf_counter()
        for split in paths.SPLITS:
            cache.load_split(index, split, size, progress=False)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        for split in paths.SPLITS:
            cache.load_split(index, split, size, progress=False)
        warm = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if before is None:
            os.environ.pop("CACHE_DIR", None)
        else:
            os.environ["CACHE_DIR"] = before
    n = sum(len(v) for v in index.splits.values())
    return {"images": n, "image_size": size, "cold_seconds": cold, "warm_seconds": warm}


def bench_noop_make(plan, data_dir: Path) -> float | None:
    """`make all` when every run of the profile is up to date (it then trains nothing); None
    otherwise, since a stale run would be trained, not timed."""
    from runner import state

    prints = state.fingerprints(list(plan.runs.values()), data_dir)
    results = paths.results_dir() / plan.profile
    stale = [n for n, f in prints.items() if not state.is_current(results / n, f)]
    if stale:
        print(f"  skipped: {len(stale)} run(s) not up to date ({', '.join(stale[:3])} ...)")
        return None
    cmd = ["make", "all", f"PROFILE={plan.profile}", f"DATA_DIR={data_dir}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True)
    return time.perf_counter() - start if done.returncode == 0 else None


def split_sizes(data_dir: Path | None) -> dict:
    try:
        index = load_index(data_dir)
        return {s: len(index.splits[s]) for s in ("train", "val")}
    except DataError:
        return {"train": 3746, "val": 1640}  # the published split lists' sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--networks", nargs="+", help="only these (a network's name or any run of it)")
    ap.add_argument("--image-size", type=int, help="instead of the profile's (tests)")
    ap.add_argument("--steps", type=int, default=8, help="training steps per timed call")
    ap.add_argument("--seconds", type=float, default=12.0, help="timing budget per variant")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best counts")
    ap.add_argument("--no-make", action="store_true", help="skip the no-op `make all` timing")
    ap.add_argument("--quick", action="store_true", help="two steps, one round (a smoke check)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.seconds, args.rounds, args.no_make = 2, 0.0, 1, True
    data_dir = paths.data_dir(args.data_dir)
    train.configure_threads()
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # retracing notes: each variant is its own model
    plan = published_plan()
    nets = networks.discover(plan)
    if args.networks:
        nets = [
            n for n in nets if n["name"] in args.networks or set(n["runs"]) & set(args.networks)
        ]
    if args.image_size:
        for n in nets:
            n["params"] = {**n["params"], "image_size": args.image_size}
    split = split_sizes(data_dir)
    ref = plan.runs[plan.reference].params
    sizes = sorted({n["params"]["image_size"] for n in nets})
    print(
        f"profile {plan.profile}: {len(nets)} network(s) at {'/'.join(map(str, sizes))} px, "
        f"batch {ref['batch_size']}; {args.steps} steps per call, best of {args.rounds} round(s)",
        flush=True,
    )
    peak = measured_peak_gflops(0.2 if args.quick else 3.0)
    print(f"  fp32 GEMM peak {peak:.0f} GFLOP/s", flush=True)
    rows = []
    for net in nets:
        row = bench_network(net, split, args.steps, args.seconds, args.rounds)
        row["share_of_measured_peak_plain"] = row["plain_gflops"] / peak
        row["share_of_measured_peak"] = row["project_gflops"] / peak
        rows.append(row)
        print(
            f"  {row['name']:18s} plain {row['plain_images_per_second']:7.1f} img/s  project "
            f"{row['project_images_per_second']:7.1f} ({row['ratio']:.2f}x)  with val "
            f"{row['project_with_val_images_per_second']:7.1f}  determinism off "
            f"{row['project_nondeterministic_images_per_second']:7.1f}  "
            f"{row['plain_gflops']:6.1f} GFLOP/s plain",
            flush=True,
        )
    figures = {
        "machine": provenance.machine(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "created": provenance.now(),
        "code": provenance.git_commit(),
        "quick": args.quick,
        "profile": plan.profile,
        "image_size": args.image_size or ref["image_size"],
        "batch_size": ref["batch_size"],
        "split": split,
        "settings": {"steps": args.steps, "seconds": args.seconds, "rounds": args.rounds},
        "peak": {
            "measured_gemm_gflops": peak,
            "measured_from": "tf.linalg.matmul 2048x2048 fp32, all cores",
        },
        "determinism": DETERMINISM,
        "networks": rows,
    }
    reference = next((r for r in rows if plan.reference in r["runs"]), None)
    if reference is not None and not args.quick:
        p = next(n["params"] for n in nets if n["name"] == reference["name"])
        reference["plain_defaults_images_per_second"] = plain_with_defaults(p, args.seconds)
    if not args.quick:
        print(f"decode and cache the whole data set at {figures['image_size']} px ...", flush=True)
        figures["cache"] = bench_cache(data_dir, figures["image_size"])
    if not args.no_make:
        print(f"no-op `make all PROFILE={plan.profile}` ...", flush=True)
        figures["noop_make_all_seconds"] = bench_noop_make(plan, data_dir)
        figures["noop_profile"] = plan.profile
    provenance.write_json(args.out, figures)
    print(f"code {figures['code']}, {figures['machine']}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DataError as exc:  # the runner's message for a missing or malformed data directory
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
