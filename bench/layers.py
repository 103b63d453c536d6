"""Where a training step of the reference CNN spends its time, layer by layer.

    .venv/bin/python -m bench.layers [--image-size N] [--batch-size N] [--repeats 15]

The image size and batch size default to the published profile's (plan.yaml).

TensorFlow's own profiler needs TensorBoard's plugin to be read; this measures the same thing
with nothing extra: each layer alone, on an input of the shape it sees in the network, does its
forward pass and its backward pass (gradients for its weights and, past the first layer, for its
input, as in training). The layers are timed in turn, round after round, and each keeps its
fastest round, so a slow spell of this shared machine falls on all of them alike rather than on
one. The whole network's step is timed the same way beside them. Figures, not assertions; they
are appended to bench/results.json under "layers".
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from analysis import paths  # noqa: E402
from analysis.models import networks as models
from analysis.training import provenance, train
from bench import timing  # noqa: E402

OUT = paths.ROOT / "bench" / "results.json"


def layer_step(layer, shape, input_gradient: bool):
    """A compiled forward + backward pass of one layer, and its input."""
    import tensorflow as tf

    x = tf.random.uniform(shape, 0, 1 if input_gradient else 255)
    wrt = [*layer.trainable_variables, *([x] if input_gradient else [])]

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_mean(tf.square(y))
        # Every gradient is returned: one left out would be pruned from the graph, untimed.
        return [loss, *tape.gradient(loss, wrt)] if wrt else [loss]

    return step, x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args(argv)
    from bench.run import published_plan

    plan = published_plan()
    ref = plan.runs[plan.reference].params
    args.image_size = args.image_size or ref["image_size"]
    args.batch_size = args.batch_size or ref["batch_size"]
    train.configure_threads()

    model = models.build_cnn(args.image_size, 24)
    info = {row.name: row for row in models.describe(model)}
    batch = args.batch_size
    steps = {}
    weights_before = False  # training takes no gradient for the input of the first weights
    for layer in model.layers[1:]:
        shape = (batch, *layer.input.shape[1:])
        steps[layer.name] = layer_step(layer, shape, input_gradient=weights_before)
        weights_before = weights_before or bool(layer.trainable_variables)
    steps["whole network"] = layer_step(
        model, (batch, *model.input.shape[1:]), input_gradient=False
    )
    # A function call returns once all its outputs are computed: the loss's value waits for all.
    calls = {name: (lambda step=step, x=x: step(x)[0].numpy()) for name, (step, x) in steps.items()}
    for call in calls.values():
        call()  # trace and create the oneDNN primitives
    seconds = timing.fastest(calls, args.repeats)
    whole = seconds.pop("whole network")
    rows = [
        {
            "layer": name,
            "kind": info[name].kind,
            "ms_per_batch": 1e3 * t,
            "forward_mflop_per_image": info[name].flops / 1e6,
        }
        for name, t in seconds.items()
    ]
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
    print(f"{'sum of layers':14s} {total:9.1f} ms per batch of {args.batch_size}")
    print(f"{'whole network':14s} {1e3 * whole:9.1f} ms per batch (one step, timed alike)")

    figures = json.loads(OUT.read_text()) if OUT.exists() else {}
    figures["layers"] = {
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "created": provenance.now(),
        "rows": rows,
        "total_ms_per_batch": total,
        "whole_network_ms_per_batch": 1e3 * whole,
    }
    provenance.write_json(OUT, figures)
    print(f"wrote {OUT.relative_to(paths.ROOT)} (layers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
