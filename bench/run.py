"""The study's performance figures, printed as a table and written to bench/results.json.

    make bench            (or: .venv/bin/python -m bench.run [--quick])

Training throughput of every model at 128 px: the project's path (tf.data over the uint8
cache, augmentation on the fly, prefetch, thread settings) beside a plain `model.fit` on
float32 NumPy arrays, in the same process, same model, same batch size (and the project's path
with augmentation off, the like-for-like comparison); the achieved GFLOP/s
and its share of the machine's peak; decode-and-cache time cold and warm; and the wall time of
a no-op `make all`. Figures, not assertions: compare ratios within one run.
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

from analysis import cache, models, paths, provenance, train  # noqa: E402
from analysis.data import DataError, load_index  # noqa: E402
from bench import timing  # noqa: E402

OUT = paths.ROOT / "bench" / "results.json"
KERNELS = {
    "cnn 3x3": (3, 3, 3, 3),
    "cnn 5x5": (5, 5, 5, 5),
    "cnn 7x7": (7, 7, 7, 7),
    "cnn 3to5": (3, 3, 5, 5),
}


def measured_peak_gflops(seconds: float = 3.0) -> float:
    """fp32 GEMM throughput of this machine through TensorFlow (2048², all cores)."""
    import tensorflow as tf

    a = tf.random.normal((2048, 2048))
    b = tf.random.normal((2048, 2048))
    tf.linalg.matmul(a, b).numpy()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tf.linalg.matmul(a, b).numpy()
        n += 1
    return 2 * 2048**3 * n / (time.perf_counter() - start) / 1e9


def nominal_peak_gflops() -> tuple[float, str]:
    """Cores × clock × 32 fp32 FLOP/cycle (two 8-wide AVX2 FMA units); AVX-512 not assumed."""
    mhz = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    except OSError:
        pass
    cores = os.cpu_count() or 1
    return cores * mhz / 1e3 * 32, f"{cores} cores × {mhz:.0f} MHz × 32 FLOP/cycle"


def throughput(fits: dict, warm: int, images_per_call: int, budget: float, rounds: int) -> dict:
    """Images/s of each fit_on(n) (one epoch on the first n images), best of `rounds`
    interleaved rounds. A short epoch first pays the graph tracing and oneDNN primitive
    creation, so the timed epochs measure steady-state training."""
    for fit_on in fits.values():
        fit_on(warm)
    calls = {name: (lambda f=fit_on: f(images_per_call)) for name, fit_on in fits.items()}
    seconds = timing.fastest(calls, rounds, budget / rounds)
    return {name: images_per_call / s for name, s in seconds.items()}


@contextlib.contextmanager
def op_determinism(enabled: bool):
    from tensorflow.python.framework import config

    was = config.is_op_determinism_enabled()
    (config.enable_op_determinism if enabled else config.disable_op_determinism)()
    try:
        yield
    finally:
        (config.enable_op_determinism if was else config.disable_op_determinism)()


def bench_training(
    x: np.ndarray, y: np.ndarray, batch: int, steps: int, budget: float, rounds: int
):
    import keras

    rows = []
    builders = {"baseline": lambda: models.build_baseline(x.shape[1], 24)}
    builders.update(
        {k: (lambda k=k: models.build_cnn(x.shape[1], 24, KERNELS[k])) for k in KERNELS}
    )
    n = batch * steps
    xs, ys, ws = x[:n], y[:n], np.ones(n, "float32")
    xf = xs.astype("float32")
    for name, build in builders.items():
        model = build()
        fwd = models.summary(model)["flops_per_image"]
        result = {"model": name, "train_gflop_per_image": 3 * fwd / 1e9}
        # XLA is measured on the reference network only, as the option that was tried.
        variants = ("plain", "project", "project_no_augmentation")
        if name == "cnn 3x3":
            variants += ("project_xla",)
        fits = {}
        for path in variants:
            train.seed_everything(0)
            m = build()
            xla = path == "project_xla"
            # Keras silently drops jit_compile while TensorFlow's op determinism is on.
            with op_determinism(not xla):
                m.compile(
                    optimizer=keras.optimizers.Adam(1e-3),
                    loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"],
                    jit_compile=xla,
                )
            if path == "plain":

                def fit(k, m=m):
                    m.fit(xf[:k], ys[:k], batch_size=batch, epochs=1, verbose=0)
            else:

                def fit(k, m=m, augment=path != "project_no_augmentation", xla=xla):
                    strength = "light" if augment else "none"  # flip and shift, as benchmarked
                    ds = train.make_dataset(xs[:k], ys[:k], ws[:k], batch, 0, strength, None)
                    with op_determinism(not xla):
                        m.fit(ds, verbose=0)

            fits[path] = fit
        for path, ips in throughput(fits, 2 * batch, n, budget, rounds).items():
            result[f"{path}_images_per_second"] = ips
        result["ratio"] = result["project_images_per_second"] / result["plain_images_per_second"]
        result["project_gflops"] = result["project_images_per_second"] * 3 * fwd / 1e9
        rows.append(result)
        xla = result.get("project_xla_images_per_second")
        print(
            f"  {name:9s} plain {result['plain_images_per_second']:7.1f} img/s   project "
            f"{result['project_images_per_second']:7.1f} img/s   ratio {result['ratio']:.2f}   "
            f"project without augmentation "
            f"{result['project_no_augmentation_images_per_second']:.1f} img/s"
            + (f"   project with XLA {xla:.1f} img/s" if xla else ""),
            flush=True,
        )
    return rows


def plain_with_defaults(kernels, size: int, batch: int, budget: float) -> float:
    """The plain path in a fresh process with TensorFlow's defaults (bench/plain.py)."""
    cmd = [sys.executable, "-m", "bench.plain", "--kernels", *map(str, kernels)]
    cmd += ["--image-size", str(size), "--batch-size", str(batch), "--steps", "8"]
    cmd += ["--seconds", str(budget)]
    out = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def bench_cache(data_dir: Path, size: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-cache-"))
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
    n = sum(len(v) for v in index.splits.values())
    return {"images": n, "image_size": size, "cold_seconds": cold, "warm_seconds": warm}


def bench_noop_make(profile: str, data_dir: Path) -> float | None:
    cmd = ["make", "all", f"PROFILE={profile}", f"DATA_DIR={data_dir}"]
    first = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True)
    if first.returncode != 0:
        print(f"  make all PROFILE={profile} failed; skipping the no-op timing", file=sys.stderr)
        return None
    start = time.perf_counter()
    subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=12.0, help="timing budget per measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best counts")
    ap.add_argument("--profile", default="quick", help="profile for the no-op make all")
    ap.add_argument("--quick", action="store_true", help="shorter budgets (a smoke check)")
    args = ap.parse_args(argv)
    data_dir = paths.data_dir(args.data_dir)
    budget = 2.0 if args.quick else args.seconds
    train.configure_threads()

    print(f"decode and cache the whole data set at {args.image_size} px ...", flush=True)
    cache_fig = bench_cache(data_dir, args.image_size)
    print(f"  cold {cache_fig['cold_seconds']:.2f} s, warm {cache_fig['warm_seconds']:.3f} s")

    index = load_index(data_dir)
    arrays = cache.load_split(index, "train", args.image_size, progress=False)
    print(
        f"training throughput at {args.image_size} px, batch {args.batch_size}, best of "
        f"{1 if args.quick else args.rounds} interleaved rounds ...",
        flush=True,
    )
    rows = bench_training(
        arrays.x,
        arrays.y % 24,
        args.batch_size,
        4 if args.quick else 8,
        budget,
        1 if args.quick else args.rounds,
    )

    reference = next(r for r in rows if r["model"] == "cnn 3x3")
    reference["plain_defaults_images_per_second"] = plain_with_defaults(
        KERNELS["cnn 3x3"], args.image_size, args.batch_size, budget
    )
    print(
        f"  cnn 3x3   plain, fresh process with TensorFlow defaults "
        f"{reference['plain_defaults_images_per_second']:.1f} img/s",
        flush=True,
    )
    peak = measured_peak_gflops(1.0 if args.quick else 3.0)
    nominal, how = nominal_peak_gflops()
    for r in rows:
        r["share_of_measured_peak"] = r["project_gflops"] / peak
        r["share_of_nominal_peak"] = r["project_gflops"] / nominal if nominal else None

    print("no-op `make all` ...", flush=True)
    noop = bench_noop_make(args.profile, data_dir)

    figures = {
        "machine": provenance.machine(),
        "python": platform.python_version(),
        "created": provenance.now(),
        "code": provenance.git_commit(),
        "peak": {
            "measured_gemm_gflops": peak,
            "nominal_gflops": nominal,
            "nominal_from": how,
            "measured_from": "tf.linalg.matmul 2048x2048 fp32, all cores",
        },
        "training": rows,
        "cache": cache_fig,
        "noop_make_all_seconds": noop,
        "noop_profile": args.profile,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
    }
    provenance.write_json(OUT, figures)
    print()
    print(
        f"{'model':10s} {'plain img/s':>12s} {'project img/s':>14s} {'ratio':>6s} {'no aug.':>8s} "
        f"{'GFLOP/s':>8s} {'% meas. peak':>13s} {'% nominal':>10s}"
    )
    for r in rows:
        print(
            f"{r['model']:10s} {r['plain_images_per_second']:12.1f} "
            f"{r['project_images_per_second']:14.1f} {r['ratio']:6.2f} "
            f"{r['project_no_augmentation_images_per_second']:8.1f} "
            f"{r['project_gflops']:8.1f} {100 * r['share_of_measured_peak']:12.1f}% "
            f"{100 * (r['share_of_nominal_peak'] or 0):9.1f}%"
        )
    print(f"peak: measured {peak:.0f} GFLOP/s (fp32 GEMM), nominal {nominal:.0f} GFLOP/s ({how})")
    print(
        f"cache: {cache_fig['images']} images at {args.image_size} px, cold "
        f"{cache_fig['cold_seconds']:.2f} s, warm {cache_fig['warm_seconds']:.3f} s"
    )
    print(f"no-op make all (PROFILE={args.profile}): {'n/a' if noop is None else f'{noop:.1f} s'}")
    print(f"wrote {OUT.relative_to(paths.ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DataError as exc:  # the runner's message for a missing or malformed data directory
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
