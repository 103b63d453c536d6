"""Fetch the data set from Zenodo (or the mirror in DATA_URL), verify it, and extract it
atomically. An interrupted download is kept as `msl-images.zip.part` and resumed with an HTTP
Range request; whatever the source, the archive must have the published size and every
member's CRC must match before anything is extracted."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from analysis.data.index import DataError, check_data_dir

URL = "https://zenodo.org/api/records/1049137/files/msl-images.zip/content"
SIZE = 60_635_475  # bytes of msl-images.zip, as published
ARCHIVE = "msl-images.zip"
# What a network failure looks like from urllib: no route, DNS, refused, reset, timeout (all
# OSError), a malformed URL (ValueError), a connection closed mid-body (HTTPException).
NETWORK_ERRORS = (OSError, ValueError, http.client.HTTPException)


def source_url() -> str:
    """DATA_URL (a mirror, or file:///path/to/msl-images.zip) when set, else Zenodo."""
    return os.environ.get("DATA_URL") or URL


def archive_size() -> int:
    """DATA_SIZE (the bytes of another archive DATA_URL names, e.g. a test's) or the published
    size."""
    value = os.environ.get("DATA_SIZE")
    if not value:
        return SIZE
    try:
        size = int(value)
    except ValueError:
        size = 0
    if size <= 0:
        raise DataError(f"DATA_SIZE={value!r}: expected the archive's size in bytes")
    return size


def _by_hand(url: str, archive: Path, data_dir: Path | None, size: int) -> str:
    target = data_dir or archive.parent / "msl-images"
    return (
        f"To fetch it by hand: download {url}{f' (or {URL})' if url != URL else ''} "
        f"({size:,} bytes; DOI 10.5281/zenodo.1049137), "
        f"e.g. `curl -L -C - -o {archive} '{url}'`, then rerun `make data DATA_DIR={target}` "
        f"(it checks the archive and extracts it), or unzip it yourself so that {target} holds "
        "msl_synset_words-indexed.txt, the three split lists and calibrated/. Another copy of "
        "the archive can be used with DATA_URL=<url>."
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def download(url: str, dest: Path, expected_size: int, data_dir: Path | None = None) -> Path:
    """Download to `<dest>.part`, resuming what an earlier attempt left; then verify. A network
    failure raises one DataError (what failed, the URL, how to do it by hand) and keeps the
    partial file for the next attempt; a wrong size or CRC deletes it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    have = tmp.stat().st_size if tmp.exists() else 0
    if have > expected_size:
        tmp.unlink()
        have = 0
    if have < expected_size:
        try:
            _fetch(url, tmp, have, expected_size)
        except NETWORK_ERRORS as exc:
            kept = tmp.stat().st_size if tmp.exists() else 0
            resume = (
                f" The {kept:,} bytes received so far are kept in {tmp}; rerun to resume."
                if kept
                else ""
            )
            raise DataError(
                f"could not download the MSL data set from {url}: {_reason(exc)}.{resume} "
                + _by_hand(url, dest, data_dir, expected_size)
            ) from None
    try:
        return verify(tmp, expected_size, final=dest)
    except DataError as exc:
        raise DataError(f"{exc} (source: {url})") from None


def _copy_local(url: str, tmp: Path) -> None:
    """A file:// URL: the local archive copied whole (checked by verify() like a download)."""
    source = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    if not source.is_file():
        raise DataError(
            f"DATA_URL={url}: there is no file {source}; name a local copy of {ARCHIVE} as "
            "file:///absolute/path/msl-images.zip"
        )
    try:
        shutil.copyfile(source, tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"DATA_URL={url}: cannot read {source}: {exc.strerror or exc}") from None


def _fetch(url: str, tmp: Path, have: int, expected_size: int) -> None:
    if url.lower().startswith("file:"):
        _copy_local(url, tmp)
        return
    headers = {"Range": f"bytes={have}-"} if have else {}
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as resp:
        start = 0
        if have and resp.status == 206:
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            start = int(m[1]) if m else 0
        # A server that ignores Range (200) or answers another range sends it all again.
        mode = "ab" if start == have and have else "wb"
        if mode == "wb":
            have = 0
        with open(tmp, mode) as fh:
            fh.truncate(have)
            with tqdm(
                total=expected_size, initial=have, unit="B", unit_scale=True, desc=tmp.name
            ) as bar:
                while chunk := resp.read(1 << 20):
                    fh.write(chunk)
                    bar.update(len(chunk))
        # http.client reads a connection closed early as the end of the body: compare with
        # what Content-Length promised, so that the rest is fetched next time.
        if resp.length:
            raise http.client.IncompleteRead(b"", resp.length)


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


def set_aside(archive: Path, expected_size: int) -> str:
    """An archive already there (downloaded by hand?) of the wrong size: renamed, never used
    and never silently replaced; the sentence that says so."""
    size = archive.stat().st_size
    aside = archive.with_name(f"{archive.name}.wrong-size-{size}")
    os.replace(archive, aside)
    return (
        f"{archive} is {size:,} bytes, expected {expected_size:,} (a truncated download or "
        f"another file): moved it aside to {aside}."
    )


def ensure(data_dir: Path, url: str | None = None, expected_size: int | None = None) -> Path:
    """Make sure the data set is in data_dir: nothing to do when it is, else download (from
    `url`, else DATA_URL, else Zenodo) and extract. An archive of the wrong size already
    beside data_dir is named and moved aside before a new one is fetched."""
    expected_size = expected_size or archive_size()
    if data_dir.exists() and any(data_dir.iterdir()):
        check_data_dir(data_dir)
        return data_dir
    if data_dir.exists():
        data_dir.rmdir()
    url = url or source_url()
    archive = data_dir.parent / ARCHIVE
    if archive.exists() and archive.stat().st_size != expected_size:
        note = set_aside(archive, expected_size)
        print(f"data: {note} Fetching {url} instead.", file=sys.stderr)
        try:
            download(url, archive, expected_size, data_dir)
        except DataError as exc:
            raise DataError(f"{note} {exc}") from None
    elif not archive.exists():
        download(url, archive, expected_size, data_dir)
    else:
        verify(archive, expected_size)
    return extract(archive, data_dir)
