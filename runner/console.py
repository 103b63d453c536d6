"""What the runner prints: one live line per run while it works, permanent lines for what
happened, and a table at the end. The full stream (Papermill's cells, the kernel, TensorFlow)
goes to each run's run.log instead; `-v` prints it as before.

On a terminal the live line is rewritten in place about once a second. Elsewhere (a pipe, CI,
a log file) it is printed at most once every `interval` seconds, so a run takes a few lines.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from typing import TextIO

# Keras' fit(verbose=2) prints `Epoch 3/40` when an epoch starts (only when epochs > 1) and, when
# it ends, one line such as `117/117 - 25s - 214ms/step - accuracy: 0.61 - val_accuracy: 0.52`.
EPOCH_START = re.compile(r"^Epoch (\d+)/(\d+)\s*$")
EPOCH_END = re.compile(r"^\s*\d+/\d+ - .*\bval_\w+: ")
VAL_METRIC = re.compile(r"\b(val_accuracy|val_acc|val_loss): ([-+0-9.eE]+|nan)")
CELL = re.compile(r"^Executing Cell (\d+)-")


def elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class RunProgress:
    """Reads a run's notebook output and says where it stands: cell, epoch, val metric, ETA."""

    def __init__(self, label: str, epochs: int | None = None, seeds: int = 1, cells: int = 0):
        self.label = label
        self.epochs = epochs or 0  # per seed, from the run's parameters
        self.total = self.epochs * max(1, seeds)  # planned epochs over all seeds
        self.cells = cells
        self.cell = 0
        self.done = 0  # epochs finished, all seeds
        self.in_seed = 0  # epochs finished in the current seed
        self.metric: tuple[str, str] | None = None
        self.started = time.monotonic()
        self.epoch_times: list[float] = []
        self._last_end: float | None = None
        self._buffer = ""
        self._lock = threading.Lock()

    def feed(self, text: str) -> None:
        with self._lock:
            self._buffer += text
            *lines, self._buffer = self._buffer.split("\n")
            for line in lines:
                self._line(line.rstrip("\r"))

    def _line(self, line: str) -> None:
        now = time.monotonic()
        if m := CELL.match(line):
            self.cell = int(m[1])
        elif m := EPOCH_START.match(line):
            n, total = int(m[1]), int(m[2])
            if n == 1 and self.in_seed:  # a new seed after early stopping: fewer epochs to go
                self.total -= max(0, self.epochs - self.in_seed)
                self.in_seed = 0
            self.epochs = self.epochs or total
            self.total = self.total or total
            if n == 1:
                self._last_end = now
        elif EPOCH_END.match(line):
            if self._last_end is not None:
                self.epoch_times.append(now - self._last_end)
            self._last_end = now
            self.done += 1
            self.in_seed += 1
            found = VAL_METRIC.findall(line)
            if found:
                self.metric = next((f for f in found if "acc" in f[0]), found[0])

    def eta(self) -> float | None:
        if not self.epoch_times or not self.total:
            return None
        # Recent epochs predict the next ones best (the first one also builds the graph).
        recent = self.epoch_times[-5:]
        return sum(recent) / len(recent) * max(0, self.total - self.done)

    def render(self) -> str:
        parts = [self.label]
        if self.done or self.epoch_times:
            parts.append(f"epoch {self.done}/{self.total or '?'}")
        elif self.cell:
            parts.append(f"cell {self.cell}/{self.cells}" if self.cells else f"cell {self.cell}")
        if self.metric:
            parts.append(f"{self.metric[0]} {float(self.metric[1]):.3f}")
        parts.append(elapsed(time.monotonic() - self.started))
        eta = self.eta()
        if eta is not None:
            parts.append(f"ETA {elapsed(eta)}")
        return "  ".join(parts)

    def summary(self) -> str:
        return f"{self.done} epoch{'s' if self.done != 1 else ''}" if self.done else ""


class Console:
    """Permanent lines (`say`) and one live status line (`live`), safe across threads."""

    def __init__(
        self,
        stream: TextIO | None = None,
        verbose: bool = False,
        tty: bool | None = None,
        interval: float = 300.0,
    ):
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self._live: RunProgress | None = None
        self._shown = ""
        self._last_print = 0.0
        self._lock = threading.RLock()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()

    def say(self, text: str) -> None:
        with self._lock:
            self._clear()
            print(text, file=self.stream, flush=True)
            self._draw()

    __call__ = say  # a Console is also the `log` callable the backends print through

    def live(self, progress: RunProgress | None) -> None:
        """Show `progress` on the live line from now on (None: no live line)."""
        with self._lock:
            self._clear()
            self._live = progress
            self._last_print = time.monotonic()
            self._draw()
        if progress is not None and self.tty and not self.verbose and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def refresh(self) -> None:
        """Called when the live run has news (an epoch ended)."""
        with self._lock:
            if self._live is None or self.verbose:
                return
            if self.tty:
                self._draw()
            elif time.monotonic() - self._last_print >= self.interval:
                print(self._live.render(), file=self.stream, flush=True)
                self._last_print = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
        self.live(None)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.refresh()

    def _clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = ""

    def _draw(self) -> None:
        if self._live is None or not self.tty or self.verbose:
            return
        text = self._live.render()
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = text


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, rows)])
