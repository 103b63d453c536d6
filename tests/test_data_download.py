"""`make data` with a local copy of the archive (DATA_URL=file://...), a hand-downloaded
archive of the wrong size, a DATA_DIR one level too high, and TensorFlow's C++ log lines kept
off the console. Each archive here is a small MSL-layout one with its own size (DATA_SIZE) and
CRCs, checked exactly as the published one is."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from analysis import paths
from tests.fakes import make_msl

pytestmark = pytest.mark.reliability


def small_archive(tmp_path: Path) -> Path:
    root = make_msl(tmp_path / "src")
    archive = tmp_path / "copies" / "msl-images.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(root.rglob("*")):
            zf.write(f, Path("msl-images") / f.relative_to(root))
    return archive


def make_data(data_dir: Path, url: str, size: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_URL", "DATA_SIZE", "DATA_DIR")}
    return subprocess.run(
        ["make", "--no-print-directory", "data"]
        + [f"DATA_URL={url}", f"DATA_SIZE={size}", f"DATA_DIR={data_dir}"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_a_local_copy_is_checked_and_extracted(tmp_path):
    archive = small_archive(tmp_path)
    target = tmp_path / "data" / "msl-images"
    proc = make_data(target, archive.as_uri(), archive.stat().st_size)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (target / paths.SYNSET_FILE).exists()
    assert "Traceback" not in proc.stderr
    assert not list(target.parent.glob("*.part"))


def test_a_truncated_local_copy_exits_2_with_a_message(tmp_path):
    archive = small_archive(tmp_path)
    size = archive.stat().st_size
    data = archive.read_bytes()
    archive.write_bytes(data[: size // 2])
    target = tmp_path / "data" / "msl-images"
    proc = make_data(target, archive.as_uri(), size)
    assert proc.returncode != 0
    assert "Error 2" in proc.stderr  # make says the runner's exit status
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert f"is {size // 2:,} bytes, expected {size:,}" in line
    assert f"(source: {archive.as_uri()})" in line
    assert "Traceback" not in proc.stderr
    assert not target.exists() and not list(target.parent.glob("msl-images.zip*"))


def test_a_missing_local_copy_is_named(tmp_path):
    target = tmp_path / "data" / "msl-images"
    proc = make_data(target, (tmp_path / "nowhere.zip").as_uri(), 1000)
    assert "Error 2" in proc.stderr and "Traceback" not in proc.stderr
    assert f"there is no file {tmp_path / 'nowhere.zip'}" in proc.stderr


def test_a_wrong_size_archive_downloaded_by_hand_is_named_and_moved_aside(tmp_path):
    archive = small_archive(tmp_path)
    size = archive.stat().st_size
    target = tmp_path / "data" / "msl-images"
    target.parent.mkdir()
    by_hand = target.parent / "msl-images.zip"
    by_hand.write_bytes(archive.read_bytes()[:1234])
    proc = make_data(target, archive.as_uri(), size)
    assert proc.returncode == 0, proc.stderr
    said = f"{by_hand} is 1,234 bytes, expected {size:,} (a truncated download or another file)"
    assert said in proc.stderr
    aside = target.parent / "msl-images.zip.wrong-size-1234"
    assert f"moved it aside to {aside}" in proc.stderr
    assert aside.read_bytes() == archive.read_bytes()[:1234]
    assert (target / paths.SYNSET_FILE).exists()

    # Offline, the message says it too, before why the download failed.
    shutil.rmtree(target)
    by_hand.write_bytes(b"x" * 10)
    proc = make_data(target, "http://127.0.0.1:9/msl-images.zip", size)
    assert "Error 2" in proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert line.startswith(f"error: {by_hand} is 10 bytes, expected {size:,}")
    assert "could not download the MSL data set" in line


def test_a_data_dir_one_level_too_high_names_the_subfolder(tmp_path):
    parent = tmp_path / "downloads"
    make_msl(parent / "msl-images")
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "check", "--profile", "smoke", "--data-dir", parent],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr
    hint = f"the data set is in {parent / 'msl-images'}: use DATA_DIR={parent / 'msl-images'}"
    assert hint in proc.stderr


def test_predict_prints_no_tensorflow_log_lines(real_data, tmp_path):
    from runner.serving import predict

    folder = paths.ROOT / "results" / predict.published_profile() / "cnn"
    if not (folder / "model.keras").exists():
        pytest.fail(f"the committed artifact {folder}/model.keras is needed")
    line = (real_data / paths.SPLIT_FILES["test"]).read_text().splitlines()[0]
    image = shutil.copy(real_data / line.split()[0], tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["RESULTS_DIR"] = str(folder.parents[1])
    proc = subprocess.run(
        [sys.executable, "-m", "runner", "predict", str(image), "--top", "1"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    output = proc.stdout + proc.stderr
    for tf_line in ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard"):
        assert tf_line not in output, output
    assert proc.stdout.startswith(str(image))
