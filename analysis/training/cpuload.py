"""Whether another process shared the CPU while a run trained: the 1-minute load average,
sampled in a background thread. A run's own training keeps about one runnable thread per core
busy, so a load above the core count (plus a margin for the input pipeline) means something
else competed for the cores and the run's times overstate what the code costs."""

from __future__ import annotations

import os
import threading

MARGIN = 0.5  # the input pipeline's own threads lift the load a little above the core count
RULE = f"mean 1-minute load average above the core count + {MARGIN}"


def is_shared(load: float, cores: int) -> bool:
    return load > cores + MARGIN


class LoadSampler:
    """`with LoadSampler() as s: ...` then `s.summary()`: the load while the block ran."""

    def __init__(self, every: float = 15.0, cores: int | None = None):
        self.every, self.cores = every, cores or os.cpu_count() or 1
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

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
