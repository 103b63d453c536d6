"""TensorFlow's C++ start-up lines kept off the console (unless -v): they are printed while
`tensorflow` is imported, and TensorFlow 2.21 prints them whatever TF_CPP_MIN_LOG_LEVEL says."""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

# What TensorFlow prints at import that says nothing about this run: the absl notice, the
# oneDNN note, the CPU-features note (and its continuation line).
NOISE = re.compile(
    r"absl::InitializeLog\(\)|oneDNN custom operations are on|cpu_feature_guard\.cc"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
)


@contextlib.contextmanager
def stderr_filtered():
    """Whatever is written to file descriptor 2 meanwhile (C++ included) is replayed after,
    less the NOISE lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            kept = [line for line in text.splitlines(keepends=True) if not NOISE.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlow(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` as Python would, and imports it inside stderr_filtered()."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec(module):
                with stderr_filtered():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec
        return spec


def quiet_tensorflow(argv: list[str]) -> None:
    """Unless -v or --verbose is in argv: TensorFlow's C++ logging above warnings only
    (TF_CPP_MIN_LOG_LEVEL, for the processes this one starts) and its import notes dropped."""
    if {"-v", "--verbose"} & set(argv):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietTensorFlow) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietTensorFlow())
