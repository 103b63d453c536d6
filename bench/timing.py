"""Timing on a shared, noisy machine: variants in turn, round after round, best round counts."""

from __future__ import annotations

import time
from collections.abc import Callable


def fastest(calls: dict[str, Callable[[], object]], rounds: int, min_seconds: float = 0.0) -> dict:
    """Seconds per call of each callable, its fastest of `rounds` rounds.

    The callables are timed in turn, round after round: a slow spell of this shared machine then
    falls on every variant alike rather than on whichever happened to be running, and noise only
    ever slows, so the fastest round is the figure. Within a round a callable is repeated until
    `min_seconds` have passed (at least once). Warm-up (tracing, oneDNN primitive creation) is
    the caller's, before this.
    """
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(rounds):
        for name, call in calls.items():
            n, start = 0, time.perf_counter()
            while time.perf_counter() - start < min_seconds or n < 1:
                call()
                n += 1
            best[name] = min(best[name], (time.perf_counter() - start) / n)
    return best
