"""A separate environment with the serving image's TensorFlow, where the exported SavedModel is
loaded and run as the endpoint would (AWS's TensorFlow Serving 2.20 image; the export is made
with the project's 2.21). Built once into build/serving-tf<version>/ and reused while it holds
the pinned version (pyproject.toml, [tool.msl-study] serving-tensorflow, with the project's own
numpy pin); `make serving-env` builds it, and so does the first test that needs it (about a
minute and 600 MB from PyPI). A lock keeps two builds apart.

    python -m tests.serving_env        # build (or check) it; prints its Python
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent

# Runs inside that environment: load the SavedModel, call its serving_default signature on the
# images, write the probabilities; the TensorFlow version is printed for the test to check.
LOAD = """
import json, sys
import numpy as np
import tensorflow as tf
model_dir, images, out = sys.argv[1:]
serve = tf.saved_model.load(model_dir).signatures["serving_default"]
answer = serve(image=tf.constant(np.load(images)))
np.save(out, next(iter(answer.values())).numpy())
print(json.dumps({"tensorflow": tf.__version__}))
"""


def requirements() -> list[str]:
    """The serving TensorFlow pin, and the project's numpy pin (TensorFlow takes any >=1.26)."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    numpy = next(d for d in pyproject["project"]["dependencies"] if d.startswith("numpy=="))
    return [pyproject["tool"]["msl-study"]["serving-tensorflow"], numpy]


def version() -> str:
    """The pinned serving TensorFlow's major.minor, e.g. 2.20."""
    return ".".join(requirements()[0].split("==")[1].split(".")[:2])


def env_dir() -> Path:
    return ROOT / "build" / f"serving-tf{version()}"


def _installed(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "from importlib.metadata import version; print(version('"
            + requirements()[0].split("==")[0]
            + "'))",
        ],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure() -> Path:
    """The environment's Python, built first when it is missing or holds another version."""
    folder = env_dir()
    python = folder / "bin" / "python"
    pinned = requirements()[0].split("==")[1]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if _installed(python) == pinned:
            return python
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + requirements(),
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"pip could not install {requirements()}:\n{done.stderr[-2000:]}")
    return python


def serve(model_dir: Path, images: np.ndarray, work: Path) -> tuple[str, np.ndarray]:
    """(TensorFlow version, probabilities) of the SavedModel at `model_dir` on `images`, run in
    the serving environment."""
    python = ensure()
    np.save(work / "images.npy", images.astype("float32"))
    done = subprocess.run(
        [str(python), "-c", LOAD, str(model_dir), str(work / "images.npy"), str(work / "out.npy")],
        capture_output=True,
        text=True,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"},
    )
    if done.returncode != 0:
        raise AssertionError(f"TensorFlow {version()} could not serve the export:\n{done.stderr}")
    info = json.loads(done.stdout.strip().splitlines()[-1])
    return info["tensorflow"], np.load(work / "out.npy")


if __name__ == "__main__":
    print(ensure())
