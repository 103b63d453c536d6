"""Decode the JPEGs once into uint8 arrays per split and image size, and reload them instantly.

The cache key covers everything that changes the arrays: the split's entries (so the split
lists' contents) and their files' sizes and times, the image size, the slice, and
PREPROCESS_VERSION (bump it when decoding
changes). Entries are written to a temporary folder and renamed, so none is ever half-written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from analysis import paths
from analysis.data.index import DataError, DataIndex, Entry

PREPROCESS_VERSION = 1  # squash-resize (bilinear, JPEG draft mode) to a square, RGB, uint8
PREPROCESSING = (
    f"v{PREPROCESS_VERSION}: decode with Pillow (JPEG draft mode), convert to RGB, squash-resize "
    "to size x size (bilinear), uint8; analysis.cache.decode_image"
)


@dataclass
class SplitArrays:
    split: str
    x: np.ndarray  # (n, size, size, 3) uint8
    y: np.ndarray  # (n,) class ids as in the synset file
    files: list[str]
    width: np.ndarray  # original sizes, before resizing
    height: np.ndarray
    mode: list[str]  # original PIL modes ("RGB", "L", "CMYK", ...)


def cache_key(root: Path, entries: list[Entry], image_size: int) -> str:
    """Entries, plus each file's size and modification time: an image replaced in place
    (same name, new content) invalidates the entry without hashing 70 MB of JPEGs."""
    h = hashlib.sha256(f"v{PREPROCESS_VERSION}|{image_size}|".encode())
    for e in entries:
        try:
            st = os.stat(root / e.file)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{e.file} {e.label} {stamp}\n".encode())
    return h.hexdigest()[:20]


def decode_image(path: Path, image_size: int) -> tuple[np.ndarray, int, int, str]:
    """One image as (size, size, 3) uint8, plus its original width, height and mode."""
    with Image.open(path) as im:
        width, height = im.size
        mode = im.mode
        # Draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale directly; it never goes
        # below the requested size, so the bilinear resize that follows stays exact enough.
        im.draft("RGB", (image_size, image_size))
        im = im.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR)
        return np.asarray(im, dtype=np.uint8), width, height, mode


def _decode_all(root: Path, entries: list[Entry], image_size: int, progress: bool, label: str):
    x = np.empty((len(entries), image_size, image_size, 3), dtype=np.uint8)
    sizes = np.zeros((len(entries), 2), dtype=np.int32)
    modes = [""] * len(entries)
    failures: list[str] = []

    def work(i: int) -> None:
        path = root / entries[i].file
        try:
            x[i], w, h, modes[i] = decode_image(path, image_size)
            sizes[i] = (w, h)
        except Exception as exc:  # any decoder failure is reported by file name below
            failures.append(f"{path} (line {entries[i].line}): {type(exc).__name__}: {exc}")

    # Pillow releases the GIL while decoding and resizing, so threads use every core.
    workers = max(1, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        it = pool.map(work, range(len(entries)))
        for _ in tqdm(it, total=len(entries), desc=f"decode {label}", disable=not progress):
            pass
    return x, sizes, modes, sorted(failures)


def load_split(
    index: DataIndex,
    split: str,
    image_size: int,
    limit: int | None = None,
    progress: bool = True,
) -> SplitArrays:
    """The split's images at `image_size`, from the cache when present, else decoded and cached.

    `limit` keeps the first `limit` entries of the (already shuffled) split list.
    """
    entries = index.splits[split][: limit or None]
    key = cache_key(index.root, entries, image_size)
    folder = paths.cache_dir() / f"{split}-{image_size}px-{key}"
    if not (folder / "meta.json").exists():
        x, sizes, modes, failures = _decode_all(index.root, entries, image_size, progress, split)
        if failures:
            raise DataError(
                f"{len(failures)} image(s) of the {split} split could not be decoded:\n  "
                + "\n  ".join(failures)
            )
        meta = {
            "files": [e.file for e in entries],
            "labels": [e.label for e in entries],
            "width": sizes[:, 0].tolist(),
            "height": sizes[:, 1].tolist(),
            "mode": modes,
        }
        _write_atomically(folder, x, meta)
    return _read(folder, split)


def _write_atomically(folder: Path, x: np.ndarray, meta: dict) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        np.save(tmp / "x.npy", x)
        # meta.json last: its presence marks a complete entry.
        (tmp / "meta.json").write_text(json.dumps(meta))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished the same entry first; theirs is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read(folder: Path, split: str) -> SplitArrays:
    meta = json.loads((folder / "meta.json").read_text())
    return SplitArrays(
        split=split,
        x=np.load(folder / "x.npy"),
        y=np.asarray(meta["labels"], dtype=np.int64),
        files=meta["files"],
        width=np.asarray(meta["width"]),
        height=np.asarray(meta["height"]),
        mode=meta["mode"],
    )
