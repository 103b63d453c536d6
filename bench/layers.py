"""Where a training step of the reference CNN spends its time, layer by layer.

    .venv/bin/python -m bench.layers [--image-size 128] [--batch-size 32]

TensorFlow's own profiler needs TensorBoard's plugin to be read; this measures the same thing
with nothing extra: the forward and backward pass of every prefix of the network (input up to
and including layer i) is timed, and a layer's cost is the difference between its prefix and the
one before. Gradients are taken with respect to the weights only, as in training. Figures, not
assertions; they are appended to bench/results.json under "layers".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from analysis import models, paths, provenance, train  # noqa: E402

OUT = paths.ROOT / "bench" / "results.json"


def time_prefix(sub, x, repeats: int) -> float:
    import tensorflow as tf

    weights = sub.trainable_variables

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            y = sub(x, training=True)
            loss = tf.reduce_mean(tf.square(y))
        return tape.gradient(loss, weights) if weights else loss

    step(x)  # trace and create the oneDNN primitives
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = step(x)
        (out[0] if isinstance(out, list) else out).numpy()
        times.append(time.perf_counter() - start)
    return min(times)  # the least disturbed repeat: noise on a shared machine only adds time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    train.configure_threads()
    import keras
    import tensorflow as tf

    model = models.build_cnn(args.image_size, 24)
    info = {row.name: row for row in models.describe(model)}
    x = tf.random.uniform((args.batch_size, args.image_size, args.image_size, 3), 0, 255)
    rows, previous = [], 0.0
    for layer in model.layers[1:]:
        sub = keras.Model(model.inputs, layer.output)
        t = time_prefix(sub, x, args.repeats)
        rows.append(
            {
                "layer": layer.name,
                "kind": info[layer.name].kind,
                "ms_per_batch": 1e3 * max(t - previous, 0.0),
                "forward_mflop_per_image": info[layer.name].flops / 1e6,
            }
        )
        previous = t
    total = sum(r["ms_per_batch"] for r in rows)
    print(f"reference CNN, {args.image_size} px, batch {args.batch_size}: forward + backward")
    print(f"{'layer':14s} {'ms/batch':>9s} {'share':>6s} {'fwd MFLOP/img':>14s} {'GFLOP/s':>8s}")
    for r in rows:
        r["share"] = r["ms_per_batch"] / total if total else 0.0
        gflops = (
            3 * r["forward_mflop_per_image"] * args.batch_size / r["ms_per_batch"]
            if r["ms_per_batch"] > 0 and r["kind"] in ("Conv2D", "Dense")
            else None
        )
        r["gflops"] = gflops
        print(
            f"{r['layer']:14s} {r['ms_per_batch']:9.1f} {100 * r['share']:5.1f}% "
            f"{r['forward_mflop_per_image']:14.1f} {'' if gflops is None else f'{gflops:8.1f}'}"
        )
    print(f"{'total':14s} {total:9.1f} ms per batch of {args.batch_size}")

    figures = json.loads(OUT.read_text()) if OUT.exists() else {}
    figures["layers"] = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "created": provenance.now(),
        "rows": rows,
        "total_ms_per_batch": total,
    }
    provenance.write_json(OUT, figures)
    print(f"wrote {OUT.relative_to(paths.ROOT)} (layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
