"""Where a run's time goes: wall seconds per named phase, measured by the notebook itself."""

from __future__ import annotations

import time
from contextlib import contextmanager


class Phases:
    """`with phases("data_load"): ...` adds the block's wall time to that phase."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + max(0.0, seconds)

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.seconds.items()}


class SeedClock:
    """The `log` callback of `experiment.train_seeds`: it logs "--- seed k ---" before a seed
    and "seed k: ..." after the seed's evaluation and translation test, so the time between the
    two, less the seed's fit, is its post-training evaluation."""

    def __init__(self, log=print):
        self.log, self.spans, self._start = log, [], None

    def __call__(self, message: str) -> None:
        now = time.perf_counter()
        if message.startswith("--- seed"):
            self._start = now
        elif self._start is not None:
            self.spans.append(now - self._start)
            self._start = None
        self.log(message)


def split_seed_time(
    spans: list[float],
    fits: list[float],
    builds: list[float],
    n_images: int,
    ms_per_image: list[float],
) -> dict[str, float]:
    """Each seed's wall time beyond its fit, summed over seeds and split into model building,
    predicting the three splits (`n_images` at the rate measured on test) and the translation
    test (the rest)."""
    out = {"build": 0.0, "test_evaluation": 0.0, "translation_test": 0.0}
    for span, fit, build, ms in zip(spans, fits, builds, ms_per_image, strict=True):
        after = max(span - fit - build, 0.0)
        evaluation = min(after, n_images * ms / 1000)
        out["build"] += build
        out["test_evaluation"] += evaluation
        out["translation_test"] += after - evaluation
    return out
