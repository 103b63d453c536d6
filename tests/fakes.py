"""Tiny images and MSL-layout folders made on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from analysis import paths

CLASSES = {0: "apxs", 1: "drill", 2: "ground", 3: "sun"}


def write_image(path: Path, size=(40, 30), mode="RGB", seed=0) -> None:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1, "CMYK": 4}[mode]
    arr = rng.integers(0, 255, (size[1], size[0], channels), dtype=np.uint8)
    img = Image.fromarray(arr.squeeze() if channels == 1 else arr, mode=mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, format="JPEG")


def make_msl(root: Path, per_split: int = 4, extra_unlisted: int = 1) -> Path:
    """A tiny folder in the MSL layout: synset file, three split lists, calibrated/ JPEGs.
    Class 3 ("sun") has no image, as in the real set."""
    (root / paths.IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    (root / paths.SYNSET_FILE).write_text(
        "".join(f"{cid}       {name}\n" for cid, name in CLASSES.items())
    )
    n = 0
    instruments = ["ML", "MR", "MH"]
    for split, sol0 in (("train", 10), ("val", 200), ("test", 400)):
        lines = []
        for i in range(per_split):
            name = f"{sol0 + i:04d}{instruments[i % 3]}00000{n:05d}E01_DRCL.JPG"
            write_image(root / paths.IMAGE_DIR / name, size=(40 + i, 30), seed=n)
            lines.append(f"{paths.IMAGE_DIR}/{name} {i % 3}\n")
            n += 1
        (root / paths.SPLIT_FILES[split]).write_text("".join(lines))
    for j in range(extra_unlisted):
        write_image(root / paths.IMAGE_DIR / f"0999ML00000{90000 + j}E01_DRCL.JPG", seed=99)
    return root
