"""`make check`: every image the split lists name must decode, and every bad one is named at once.

The images are decoded through the study's own cache (analysis.data.cache), at the plan's image
size, so a check that passes leaves exactly the arrays the first run would decode anyway; a second
check reloads them in a fraction of a second. Only a split that fails is decoded again, file by
file, to name each bad image with its split list and line.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from analysis import paths
from analysis.data.cache import decode_image, load_split
from analysis.data.index import DataError, DataIndex, Entry
from runner.plan import Plan

DEFAULT_SIZE = 128


def image_size(plan: Plan) -> int:
    """The largest image size the plan's runs read (they all share one per profile)."""
    sizes = [r.params.get("image_size") for r in plan.runs.values()]
    sizes = [s for s in sizes if isinstance(s, int) and s > 0]
    return max(sizes, default=DEFAULT_SIZE)


def bad_images(index: DataIndex, split: str, size: int) -> list[str]:
    """`<split list>:<line>: <image>: <error>` for each image of the split that fails to decode."""
    entries = index.splits[split]
    list_file = index.root / paths.SPLIT_FILES[split]

    def check(entry: Entry) -> str | None:
        path = index.root / entry.file
        try:
            decode_image(path, size)
        except Exception as exc:  # whatever the decoder raises, reported with the file
            return f"{list_file}:{entry.line}: {path}: {type(exc).__name__}: {exc}"
        return None

    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        return [m for m in pool.map(check, entries) if m]


def decode_all(index: DataIndex, size: int) -> list[str]:
    """Every bad image of every split (empty when all decode); good splits end up cached."""
    problems: list[str] = []
    for split in paths.SPLITS:
        try:
            load_split(index, split, size, progress=False)
        except DataError:
            problems += bad_images(index, split, size) or [
                f"{index.root / paths.SPLIT_FILES[split]}: the {split} split failed to decode"
            ]
    return problems


def check(index: DataIndex, plan: Plan) -> int:
    """Decode every listed image; raise one DataError naming every bad one. Returns the count."""
    size = image_size(plan)
    problems = decode_all(index, size)
    if problems:
        raise DataError(
            f"{len(problems)} image(s) listed in {index.root} could not be decoded; replace "
            "them (or remove their lines and rerun with --skip-bad-entries):\n  "
            + "\n  ".join(problems)
        )
    return sum(len(v) for v in index.splits.values())
