"""Zip the built site for submission: `python -m runner.dist [SITE_DIR] [ZIP_PATH]`.

The archive holds one top folder, `site/`; unzipped, `site/index.html` opens from disk
(file://) with working links, figures and search (mkdocs.yml: `use_directory_urls: false`,
`theme.font: false` and the `offline` plugin). The zip is written to a temporary name in the
target folder and renamed, so an interrupted run never leaves a partial `site.zip`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import zipfile
from pathlib import Path

from analysis import paths

TOP = "site"
STORED = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".zip", ".gz", ".woff", ".woff2"}


def make_zip(site_dir: Path, zip_path: Path) -> Path:
    """Write every file under `site_dir` into `zip_path` as `site/<relative path>`."""
    site_dir, zip_path = Path(site_dir), Path(zip_path)
    if not (site_dir / "index.html").is_file():
        raise FileNotFoundError(f"{site_dir}/index.html is missing: build the site first")
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{zip_path.name}.", dir=zip_path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for file in sorted(p for p in site_dir.rglob("*") if p.is_file()):
                rel = file.relative_to(site_dir).as_posix()
                # Already-compressed formats are stored as they are.
                method = zipfile.ZIP_STORED if file.suffix.lower() in STORED else None
                zf.write(file, f"{TOP}/{rel}", compress_type=method)
        tmp.chmod(0o644)
        tmp.replace(zip_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return zip_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    site_dir = Path(args[0]) if args else paths.SITE_DIR
    zip_path = Path(args[1]) if len(args) > 1 else paths.ROOT / "dist" / "site.zip"
    try:
        out = make_zip(site_dir, zip_path)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
