"""Reading and validating the MSL data set: the class names, the three split lists, the images.

Every error names the file and the line, so a user who downloaded the data by hand can fix it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from analysis import paths

# calibrated/<sol:4><instrument:2>...JPG, e.g. calibrated/0077ML0005780000102730I01_DRCL.JPG
FILE_PATTERN = re.compile(r"^(?P<sol>\d{4})(?P<instrument>[A-Z]{2})\w*\.jpe?g$", re.IGNORECASE)
INSTRUMENTS = {"ML": "Mastcam left", "MR": "Mastcam right", "MH": "MAHLI"}


class DataError(Exception):
    """The data directory or one of its files is not what the study expects."""


@dataclass(frozen=True)
class Entry:
    file: str  # relative to the data directory, as the split list writes it
    label: int
    line: int

    @property
    def name(self) -> str:
        return Path(self.file).name

    @property
    def sol(self) -> int | None:
        m = FILE_PATTERN.match(self.name)
        return int(m["sol"]) if m else None

    @property
    def instrument(self) -> str:
        m = FILE_PATTERN.match(self.name)
        return INSTRUMENTS.get(m["instrument"].upper(), m["instrument"]) if m else "unknown"


@dataclass
class Skipped:
    list_file: str
    line: int
    content: str
    reason: str


@dataclass
class DataIndex:
    root: Path
    classes: dict[int, str]
    splits: dict[str, list[Entry]]
    checksums: dict[str, str]  # file name -> sha256 of the split lists and the synset file
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """One checksum for the data set as the study sees it (lists + class names)."""
        h = hashlib.sha256()
        for name in sorted(self.checksums):
            h.update(f"{name}={self.checksums[name]}\n".encode())
        return h.hexdigest()

    def unlisted_files(self) -> list[str]:
        listed = {Path(e.file).name for entries in self.splits.values() for e in entries}
        image_dir = self.root / paths.IMAGE_DIR
        return sorted(
            p.name
            for p in image_dir.iterdir()
            if p.suffix.lower() in {".jpg", ".jpeg"} and p.name not in listed
        )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_data_dir(root: Path) -> None:
    """Fail early, with one message saying what was expected and how to get it."""
    expected = [paths.SYNSET_FILE, *paths.SPLIT_FILES.values(), paths.IMAGE_DIR + "/"]
    hint = (
        f"Expected the MSL data set (Zenodo 10.5281/zenodo.1049137) in {root}: "
        f"{', '.join(expected)}. Run `make data DATA_DIR={root}` to download it, "
        "or point DATA_DIR at the folder that holds these files."
    )
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist. {hint}")
    missing = [name for name in expected if not (root / name.rstrip("/")).exists()]
    if missing:
        raise DataError(f"data directory {root} lacks {', '.join(missing)}. {hint}")


def read_classes(path: Path) -> dict[int, str]:
    """Parse `<id> <name>` lines (the separator is a run of spaces)."""
    classes: dict[int, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise DataError(f"{path}:{lineno}: expected '<class id> <name>', got {raw!r}")
        cid = int(parts[0])
        if cid in classes:
            raise DataError(f"{path}:{lineno}: class id {cid} appears twice: {raw!r}")
        classes[cid] = parts[1].strip()
    if not classes:
        raise DataError(f"{path}: no classes found")
    return classes


def read_split(
    path: Path, classes: dict[int, str], root: Path, skip_bad: bool = False
) -> tuple[list[Entry], list[Skipped]]:
    """Parse `calibrated/<file>.JPG <class id>` lines; check ids and that each file exists."""
    entries: list[Entry] = []
    skipped: list[Skipped] = []
    existing = {p.name for p in (root / paths.IMAGE_DIR).iterdir()}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split()
        reason = None
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            reason = "expected '<image path> <class id>'"
        elif int(parts[1]) not in classes:
            reason = f"unknown class id {parts[1]} (known: {min(classes)}-{max(classes)})"
        elif Path(parts[0]).parent.name != paths.IMAGE_DIR or Path(parts[0]).name not in existing:
            reason = f"image {parts[0]} not found under {root}"
        if reason:
            if not skip_bad:
                raise DataError(
                    f"{path}:{lineno}: {reason}: {raw!r}. "
                    "Fix the line, or rerun with skip_bad=True (runner: --skip-bad-entries)."
                )
            skipped.append(Skipped(path.name, lineno, raw, reason))
            continue
        entries.append(Entry(parts[0], int(parts[1]), lineno))
    if not entries:
        raise DataError(f"{path}: no usable entries")
    return entries, skipped


def load_index(data_dir: str | Path | None = None, skip_bad: bool = False) -> DataIndex:
    root = paths.data_dir(data_dir)
    check_data_dir(root)
    classes = read_classes(root / paths.SYNSET_FILE)
    splits: dict[str, list[Entry]] = {}
    skipped: list[Skipped] = []
    checksums = {paths.SYNSET_FILE: sha256_file(root / paths.SYNSET_FILE)}
    for split, name in paths.SPLIT_FILES.items():
        entries, bad = read_split(root / name, classes, root, skip_bad=skip_bad)
        splits[split] = entries
        skipped.extend(bad)
        checksums[name] = sha256_file(root / name)
    return DataIndex(root, classes, splits, checksums, skipped)


def used_classes(index: DataIndex) -> list[int]:
    """Class ids with at least one labelled image; the models' outputs, in id order."""
    present = {e.label for entries in index.splits.values() for e in entries}
    return sorted(present)
