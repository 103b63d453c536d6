"""What an MSL file name says about its image, and how images group into bursts.

The MSL file name carries its acquisition: `0830MR003651...JPG` is sol 830, Mastcam right (MR;
ML = Mastcam left, MH = MAHLI), sequence 003651. Pure functions: parse names, count instruments
per split, and group related images (sol, instrument, sequence) with the groups' sizes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

INSTRUMENTS = {"MH": "MAHLI", "ML": "Mastcam left", "MR": "Mastcam right"}
# <sol: 4 digits><instrument: 2 letters><sequence: 6 digits>..., e.g. 0830MR0036510000500684E01
NAME = re.compile(r"^(?P<sol>\d{4})(?P<instrument>[A-Z]{2})(?P<sequence>\d{6})", re.IGNORECASE)

# The three groupings of related images, coarse to fine: a key function per grouping.
GROUPINGS = {
    "sol": lambda k: f"{k.sol:04d}",
    "sol_instrument": lambda k: f"{k.sol:04d}/{k.instrument}",
    "sol_instrument_sequence": lambda k: f"{k.sol:04d}/{k.instrument}/{k.sequence}",
}


# --- file names ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageKey:
    sol: int
    instrument: str  # the two-letter code: ML, MR or MH
    sequence: str  # six digits, as in the name

    @property
    def instrument_name(self) -> str:
        return INSTRUMENTS[self.instrument]


def parse_name(file: str) -> ImageKey:
    """(sol, instrument, sequence) of an MSL file name or split-list path
    (`calibrated/0830MR003651...JPG` -> sol 830, "MR", "003651").

    Raises ValueError naming the file when the name does not follow the pattern or names an
    instrument other than ML, MR or MH."""
    name = PurePosixPath(str(file).replace("\\", "/")).name
    m = NAME.match(name)
    if not m:
        raise ValueError(
            f"cannot parse MSL file name {file!r}: expected <sol: 4 digits><instrument: 2 letters>"
            "<sequence: 6 digits>..., e.g. 0830MR0036510000500684E01_DRCL.JPG"
        )
    code = m["instrument"].upper()
    if code not in INSTRUMENTS:
        raise ValueError(
            f"cannot parse MSL file name {file!r}: unknown instrument {code!r} "
            f"(known: {', '.join(sorted(INSTRUMENTS))})"
        )
    return ImageKey(int(m["sol"]), code, m["sequence"])


def parse_files(files: Iterable[str]) -> list[ImageKey]:
    return [parse_name(f) for f in files]


# --- instruments -----------------------------------------------------------------------------


def instrument_mix(files_by_split: dict[str, Sequence[str]]) -> dict[str, dict]:
    """Per split: image count, and the count and share of each instrument (by name; every
    instrument listed, 0 where a split has none)."""
    out = {}
    for split, files in files_by_split.items():
        counts = Counter(k.instrument_name for k in parse_files(files))
        n = len(files)
        out[split] = {
            "images": n,
            "instruments": {name: counts.get(name, 0) for name in sorted(INSTRUMENTS.values())},
            "instrument_shares": {
                name: (counts.get(name, 0) / n if n else 0.0)
                for name in sorted(INSTRUMENTS.values())
            },
        }
    return out


# --- groups (bursts) -------------------------------------------------------------------------


def group_keys(files: Sequence[str], grouping: str) -> list[str]:
    """Each file's group under `grouping` (a key of GROUPINGS), e.g. "0830/MR/003651"."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r} (known: {', '.join(GROUPINGS)})")
    key = GROUPINGS[grouping]
    return [key(k) for k in parse_files(files)]


def size_summary(sizes: Sequence[int]) -> dict:
    """How images spread over groups (or clusters) of the given sizes: the number of groups,
    their size distribution, and the share of images that share their group with another.

    `effective_images` is n² / Σ size²: the number of independent images the groups are worth
    if the images of one group were identical (the design effect at intra-group correlation 1);
    n when every group is a single image."""
    s = np.asarray(sizes, dtype=int)
    n = int(s.sum())
    if n == 0:
        return {
            "groups": 0,
            "images": 0,
            "largest": 0,
            "mean_size": 0.0,
            "median_size": 0.0,
            "singletons": 0,
            "share_in_groups_of_2_or_more": 0.0,
            "effective_images": 0.0,
            "size_counts": {},
        }
    return {
        "groups": len(s),
        "images": n,
        "largest": int(s.max()),
        "mean_size": float(s.mean()),
        "median_size": float(np.median(s)),
        "singletons": int(np.sum(s == 1)),
        "share_in_groups_of_2_or_more": float(s[s >= 2].sum() / n),
        "effective_images": float(n**2 / np.sum(s.astype(float) ** 2)),
        "size_counts": {str(k): v for k, v in sorted(Counter(s.tolist()).items())},
    }


def group_stats(files: Sequence[str], grouping: str) -> dict:
    """size_summary of the groups of `files` under `grouping`."""
    return size_summary(list(Counter(group_keys(files, grouping)).values()))


def groups_per_split(files_by_split: dict[str, Sequence[str]]) -> dict[str, dict[str, dict]]:
    """split -> grouping -> group_stats, for every grouping of GROUPINGS."""
    return {
        split: {g: group_stats(files, g) for g in GROUPINGS}
        for split, files in files_by_split.items()
    }
