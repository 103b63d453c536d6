"""Fetch the data set from Zenodo, verify it, and extract it atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from analysis.data import DataError, check_data_dir

URL = "https://zenodo.org/api/records/1049137/files/msl-images.zip/content"
SIZE = 60_635_475  # bytes of msl-images.zip, as published


def download(url: str, dest: Path, expected_size: int) -> Path:
    """Download to a temporary name; a wrong size deletes the file and raises."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
            total = int(resp.headers.get("Content-Length") or expected_size)
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    bar.update(len(chunk))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return verify(tmp, expected_size, final=dest)


def verify(archive: Path, expected_size: int, final: Path | None = None) -> Path:
    """Size first, then every member's CRC; a bad archive is deleted, never extracted."""
    size = archive.stat().st_size
    problem = None
    if size != expected_size:
        problem = f"is {size:,} bytes, expected {expected_size:,} (truncated or wrong file)"
    else:
        try:
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
            if bad:
                problem = f"has a corrupt member {bad}"
        except zipfile.BadZipFile as exc:
            problem = f"is not a valid zip archive ({exc})"
    if problem:
        archive.unlink(missing_ok=True)
        raise DataError(f"downloaded archive {final or archive} {problem}; deleted it. Retry.")
    if final is not None:
        os.replace(archive, final)
        return final
    return archive


def extract(archive: Path, data_dir: Path) -> Path:
    """Extract into a temporary folder beside data_dir, then rename it into place."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.", dir=data_dir.parent))
    try:
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        # The archive holds one top folder (msl-images/); accept a flat archive too.
        entries = [p for p in tmp.iterdir() if not p.name.startswith(("__MACOSX", "."))]
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        check_data_dir(top)
        top.rename(data_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return data_dir


def ensure(data_dir: Path, url: str = URL, expected_size: int = SIZE) -> Path:
    """Make sure the data set is in data_dir: nothing to do when it is, else download."""
    if data_dir.exists() and any(data_dir.iterdir()):
        check_data_dir(data_dir)
        return data_dir
    if data_dir.exists():
        data_dir.rmdir()
    archive = data_dir.parent / "msl-images.zip"
    if not archive.exists() or archive.stat().st_size != expected_size:
        download(url, archive, expected_size)
    else:
        verify(archive, expected_size)
    return extract(archive, data_dir)
