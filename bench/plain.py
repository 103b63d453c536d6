"""A plain `model.fit` on float32 NumPy arrays with TensorFlow's default settings.

    .venv/bin/python -m bench.plain --kernels 3 3 3 3 [--image-size 48] [--batch-size 32]

Run by bench/run.py in a fresh process, so that none of the project's settings (thread
counts, op determinism) apply: the training loop exactly as a newcomer would write it.
Prints one JSON line: {"images_per_second": ...}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", type=int, nargs="+", default=[3, 3, 3, 3])
    ap.add_argument("--image-size", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=12.0)
    args = ap.parse_args(argv)
    import keras
    import numpy as np

    from analysis.models import networks as models

    model = models.build_cnn(args.image_size, 24, tuple(args.kernels))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    n, size = args.batch_size * args.steps, args.image_size
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    y = rng.integers(0, 24, n)
    model.fit(
        x[: 2 * args.batch_size], y[: 2 * args.batch_size], batch_size=args.batch_size, verbose=0
    )
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < args.seconds or calls < 1:
        model.fit(x, y, batch_size=args.batch_size, verbose=0)
        calls += 1
    print(json.dumps({"images_per_second": calls * n / (time.perf_counter() - start)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
