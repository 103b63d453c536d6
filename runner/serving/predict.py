"""`python -m runner predict`: a run's trained model applied to new images.

The artifact is `results/<profile>/<run>/model.keras` with `model.json` beside it (written by
analysis.training.experiment.save_model; the profile defaults to the plan's `published` one).
Images go through analysis.data.cache.decode_image, the training preprocessing, and the pixel
shuffle of a permuted run, so a test image gets exactly the prediction the run recorded for it.

Bad input (a missing or non-image file, a folder without images, a run without an artifact) is
reported per file, the other images are still classified, and the command exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from analysis import paths
from analysis.data.index import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
DEFAULT_RUN = "cnn"


class ArtifactError(DataError):
    """No usable model artifact for the run: bad input, exit 2."""


def published_profile(plan_file: Path = paths.PLAN_FILE) -> str:
    """The profile the site shows, as the plan names it (read without validating the plan:
    `predict` must work right after a clone, before any run of another profile)."""
    try:
        return str((yaml.safe_load(Path(plan_file).read_text()) or {}).get("published", "standard"))
    except (OSError, yaml.YAMLError) as exc:
        raise ArtifactError(
            f"{plan_file}: cannot read the plan's published profile: {exc}"
        ) from None


@dataclass
class Artifact:
    """A run's saved model and what it expects (model.json)."""

    folder: Path
    profile: str
    run: str
    info: dict
    _model: object = field(default=None, repr=False)

    @property
    def file(self) -> Path:
        return self.folder / self.info.get("file", "model.keras")

    @property
    def image_size(self) -> int:
        return int(self.info["image_size"])

    @property
    def class_ids(self) -> list[int]:
        return [int(c) for c in self.info["class_ids"]]

    @property
    def class_names(self) -> list[str]:
        return list(self.info["class_names"])

    def model(self):
        if self._model is None:
            # TensorFlow's start-up notes (CPU features, oneDNN) would drown the one line per
            # image; its warnings and errors still show.
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
            import keras

            try:
                self._model = keras.models.load_model(self.file, compile=False)
            except Exception as exc:  # a damaged file: one message naming it
                raise ArtifactError(f"{self.file}: cannot load the model: {exc}") from None
        return self._model

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Decoded images as the model was trained on them: the same fixed pixel shuffle for
        a permuted run (the shuffle is not part of the model)."""
        if not self.info.get("permute_pixels"):
            return x
        from analysis.training import train

        return train.permute(x, train.pixel_permutation(self.image_size))

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """Softmax outputs (n, classes) for uint8 images, by the training code's own predict
        (same batches, inference mode), so a run's test images reproduce its predictions."""
        model = self.model()  # first: it quiets TensorFlow before anything imports it
        from analysis.training import train

        return train.predict(model, self.prepare(x))


def find(run: str = DEFAULT_RUN, profile: str | None = None) -> Artifact:
    profile = profile or published_profile()
    for flag, value in (("--run", run), ("--profile", profile)):
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", value):  # a folder name, no path
            raise ArtifactError(f"{flag} {value!r}: not a run or profile name")
    folder = paths.results_dir() / profile / run
    model_json = folder / "model.json"
    if not (folder / "model.keras").exists():
        raise ArtifactError(
            f"{folder / 'model.keras'}: run {run!r} of profile {profile!r} has no model artifact; "
            f"train it with `make run RUN={run} PROFILE={profile}` (every model run saves one)"
        )
    try:
        info = json.loads(model_json.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{model_json}: cannot read what the model expects ({exc})") from None
    missing = [k for k in ("class_ids", "class_names", "image_size") if k not in info]
    if missing:
        raise ArtifactError(f"{model_json}: incomplete, no {', '.join(missing)}")
    return Artifact(folder, profile, run, info)


def collect(arguments: list[str]) -> tuple[list[Path], list[str]]:
    """Image files named directly or found in named folders (not recursive), and one error
    line per argument that yields none."""
    files, errors = [], []
    for arg in arguments:
        path = Path(arg)
        if path.is_dir():
            try:
                found = sorted(
                    p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                )
            except OSError as exc:
                errors.append(f"{path}: cannot list the folder ({exc.strerror or exc})")
                continue
            if not found:
                errors.append(f"{path}: no images in this folder (looked for JPEG and PNG files)")
            files += found
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors


def decode(files: list[Path], image_size: int) -> tuple[np.ndarray, list[Path], list[str]]:
    """The images that decode, as (n, size, size, 3) uint8, with their files; one error line
    per file that does not."""
    from analysis.data.cache import decode_image

    def one(path: Path):
        try:
            return decode_image(path, image_size)[0], None
        except Exception as exc:  # any decoder failure is reported by file name
            return None, f"{path}: not a readable image ({type(exc).__name__}: {exc})"

    # Pillow releases the GIL while decoding, so threads use every core (as the cache does).
    with ThreadPoolExecutor() as pool:
        results = list(pool.map(one, files))
    ok = [(f, x) for f, (x, err) in zip(files, results, strict=True) if err is None]
    errors = [err for _, err in results if err is not None]
    x = np.stack([x for _, x in ok]) if ok else np.zeros((0, image_size, image_size, 3), "uint8")
    return x, [f for f, _ in ok], errors


def top_k(probabilities: np.ndarray, artifact: Artifact, k: int) -> list[list[dict]]:
    out = []
    for row in np.asarray(probabilities, dtype="float64"):
        order = np.argsort(-row, kind="stable")[:k]
        out.append(
            [
                {
                    "class_id": artifact.class_ids[i],
                    "class_name": artifact.class_names[i],
                    "probability": round(float(row[i]), 6),
                }
                for i in order
            ]
        )
    return out


def line(file: Path, top: list[dict]) -> str:
    ranked = " · ".join(
        f"{t['class_name']} ({t['class_id']}) {100 * t['probability']:.1f} %" for t in top
    )
    return f"{file}: {ranked}"


def report(artifact: Artifact, files, tops, errors, as_json: bool, **extra) -> int:
    """Print the predictions (lines, or one JSON document) and the errors; the exit code."""
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
    if as_json:
        doc = {
            "run": artifact.run,
            "profile": artifact.profile,
            "model": str(artifact.file),
            "seed": artifact.info.get("seed"),
            "image_size": artifact.image_size,
            **extra,
            "predictions": [{"file": str(f), "top": t} for f, t in zip(files, tops, strict=True)],
            "errors": errors,
        }
        print(json.dumps(doc, indent=1))
    else:
        for f, t in zip(files, tops, strict=True):
            print(line(f, t))
    return 2 if errors else 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Flags shared by `predict` and `invoke`."""
    p.add_argument("images", nargs="+", help="image files (JPEG, PNG) or folders of them")
    p.add_argument("--run", default=DEFAULT_RUN, help=f"run of the plan (default: {DEFAULT_RUN})")
    p.add_argument(
        "--profile",
        default=None,
        help="profile whose artifact to use (default: the plan's published profile)",
    )
    p.add_argument("--top", type=int, default=3, help="classes per image (default: 3)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument(
        "-v", "--verbose", action="store_true", help="show TensorFlow's own log lines too"
    )


def add_parser(sub) -> None:
    p = sub.add_parser("predict", help="classify images with a run's saved model")
    add_arguments(p)
    p.set_defaults(handler=command)


def command(args) -> int:
    if args.top < 1:
        raise ArtifactError(f"--top {args.top}: expected 1 or more")
    files, errors = collect(args.images)
    try:
        artifact = find(args.run, args.profile)
    except ArtifactError as exc:
        # No model: nothing can be classified, but the input errors are worth saying too.
        for err in errors:
            print(f"error: {err}", file=sys.stderr)
        raise exc from None
    x, files, bad = decode(files, artifact.image_size)
    tops = top_k(artifact.probabilities(x), artifact, args.top) if len(x) else []
    return report(artifact, files, tops, errors + bad, args.json)
