"""Whether another process shares the CPU while a local run executes.

A run's own training keeps about one runnable thread per core busy, so a 1-minute load average
above the core count (plus a margin for the input pipeline: `analysis.training.cpuload.is_shared`)
means something else competes for the cores, and the run's times overstate what the code costs. The
watch samples the load in a background thread from the run's first minute on (before that the
average still covers what ran before it), warns once on the console the first time a sample is
above that line, and its summary goes into the run's `run.json` as `cpu`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from analysis.training.cpuload import RULE, is_shared

EVERY = 30.0  # seconds between samples; the 1-minute average moves slowly
SETTLE = 60.0  # the first sample: once the 1-minute average covers the run itself


class LoadWatch:
    """`with LoadWatch(warn, "standard/cnn") as w: ...` then `w.summary()`."""

    def __init__(
        self,
        warn: Callable[[str], object],
        label: str,
        every: float = EVERY,
        settle: float = SETTLE,
        cores: int | None = None,
        load: Callable[[], float] = lambda: os.getloadavg()[0],
    ):
        self.warn, self.label, self.every, self.settle = warn, label, every, settle
        self.load = load
        self.cores = cores or os.cpu_count() or 1
        self.samples: list[float] = []
        self.warned = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _sample(self, warn: bool = True) -> None:
        value = self.load()
        self.samples.append(value)
        if warn and not self.warned and is_shared(value, self.cores):
            self.warned = True
            self.warn(
                f"warning: {self.label}: the CPU is shared (1-minute load {value:.1f} on "
                f"{self.cores} cores: another process is running); its times will overstate "
                "what the code costs, and run.json records it"
            )

    def _watch(self) -> None:
        if self._stop.wait(self.settle):
            return
        while True:
            self._sample()
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(warn=False)  # the run is over: recorded, not announced

    def summary(self) -> dict:
        mean = sum(self.samples) / len(self.samples) if self.samples else 0.0
        return {
            "cores": self.cores,
            "load_mean": round(mean, 2),
            "load_max": round(max(self.samples, default=0.0), 2),
            "samples": len(self.samples),
            "shared": is_shared(mean, self.cores),
            "rule": RULE,
        }
