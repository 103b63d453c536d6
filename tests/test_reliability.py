"""Bad data, failed runs and interruptions: clear errors, non-zero exits, nothing lost."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

from analysis import paths
from analysis.data import download
from analysis.data.index import DataError
from runner import layout
from runner.plan import load
from runner.report import render
from tests.fakes import make_msl

pytestmark = pytest.mark.reliability
FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def runner(*args, env=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "runner", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
        env={**os.environ, **(env or {})},
        **kw,
    )


# --- data directory and archive -------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing", "empty", "wrong"])
def test_cli_wrong_data_dir(tmp_path, case):
    target = tmp_path / "msl"
    if case != "missing":
        target.mkdir()
    if case == "wrong":
        (target / "README.txt").write_text("not the data set")
    proc = runner("check", "--profile", "smoke", "--data-dir", target)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: data directory {target}")
    assert "make data" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_bad_split_line_names_list_and_line(tmp_path):
    root = make_msl(tmp_path / "msl")
    split = root / paths.SPLIT_FILES["val"]
    split.write_text(split.read_text() + "calibrated/0001XX.JPG 99\n")
    proc = runner("check", "--profile", "smoke", "--data-dir", root)
    assert proc.returncode == 2
    assert f"{split}:5: unknown class id 99" in proc.stderr
    ok = runner("check", "--profile", "smoke", "--data-dir", root, "--skip-bad-entries")
    assert ok.returncode == 0 and "1 entries skipped" in ok.stdout


@pytest.fixture
def archive_server(tmp_path):
    """Serve a folder on 127.0.0.1 for the download tests."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(folder), **k
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _zip_of(root: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(root.rglob("*")):
            zf.write(f, Path("msl-images") / f.relative_to(root))
    return dest


def test_download_verifies_and_extracts_atomically(tmp_path, archive_server):
    folder, url = archive_server
    archive = _zip_of(make_msl(tmp_path / "src"), folder / "msl-images.zip")
    target = tmp_path / "data" / "msl-images"
    download.ensure(target, url=f"{url}/msl-images.zip", expected_size=archive.stat().st_size)
    assert (target / paths.SYNSET_FILE).exists()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []
    # Second call: nothing to do, no request (the server's file is gone).
    archive.unlink()
    download.ensure(target, url=f"{url}/msl-images.zip", expected_size=1)


@pytest.mark.parametrize("damage", ["truncated", "wrong-size"])
def test_bad_archive_is_deleted_never_extracted(tmp_path, archive_server, damage):
    folder, url = archive_server
    archive = _zip_of(make_msl(tmp_path / "src"), folder / "msl-images.zip")
    size = archive.stat().st_size
    if damage == "truncated":
        archive.write_bytes(archive.read_bytes()[: size // 2])
    target = tmp_path / "data" / "msl-images"
    with pytest.raises(DataError) as err:
        download.ensure(
            target, url=f"{url}/msl-images.zip", expected_size=size + 7 * (damage == "wrong-size")
        )
    assert "deleted it" in str(err.value) and "expected" in str(err.value)
    assert not target.exists() and not list(target.parent.glob("*.zip*"))


def test_corrupt_member_is_caught_by_crc(tmp_path):
    archive = _zip_of(make_msl(tmp_path / "src"), tmp_path / "a.zip")
    data = bytearray(archive.read_bytes())
    data[200] ^= 0xFF  # inside the first member's compressed bytes
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt member|not a valid zip"):
        download.verify(archive, len(data))
    assert not archive.exists()


# --- the plan is validated before anything runs ----------------------------------------------


def test_cli_plan_errors_exit_2_before_running(tmp_path, real_data):
    raw = yaml.safe_load(paths.PLAN_FILE.read_text())
    raw["runs"]["cnn"]["params"]["kernel_size"] = "big"
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(raw))
    results = Path(os.environ["RESULTS_DIR"]) / "plan-errors"
    proc = runner(
        "run",
        "--plan",
        plan,
        "--profile",
        "smoke",
        "--data-dir",
        real_data,
        env={"RESULTS_DIR": str(results)},
    )
    assert proc.returncode == 2 and not results.exists()  # nothing ran
    assert "runs.cnn.params.kernel_size: expected int, got str 'big'" in proc.stderr
    for args, msg in [
        (("--profile", "fast"), "unknown profile 'fast'"),
        (("nope", "--profile", "smoke"), "unknown run nope"),
    ]:
        proc = runner("run", *args, "--data-dir", real_data)
        assert proc.returncode == 2 and msg in proc.stderr and "Traceback" not in proc.stderr


# --- runs: failures, keep-going, partial output, locks, interruption -------------------------


def _plan_with_broken(tmp_path: Path) -> Path:
    raw = yaml.safe_load(paths.PLAN_FILE.read_text())
    raw["runs"] = {
        "broken": {"notebook": str(FIXTURES / "raises.ipynb")},
        "eda": raw["runs"]["eda"],
        **{k: v for k, v in raw["runs"].items() if k not in ("eda",)},
    }
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(raw, sort_keys=False))
    return plan


def test_keep_going_runs_the_others_then_fails(tmp_path, real_data, monkeypatch):
    results = tmp_path / "results"
    monkeypatch.setenv("RESULTS_DIR", str(results))
    plan = _plan_with_broken(tmp_path)
    proc = runner(
        "run",
        "broken",
        "eda",
        "--plan",
        plan,
        "--profile",
        "smoke",
        "--data-dir",
        real_data,
        "--keep-going",
        env={"RESULTS_DIR": str(results)},
    )
    assert proc.returncode == 1
    assert "1 executed" in proc.stdout and "1 failed" in proc.stdout
    assert (results / "smoke" / "eda" / "metrics.json").exists()
    assert (results / "smoke" / "broken.failed" / "raises.ipynb").exists()
    # The site is not rebuilt from a mixture unless asked, and then marks the failed run.
    with pytest.raises(render.RenderError, match=r"failed runs \(broken\)"):
        render.render(load(plan, "smoke"), tmp_path / "report")
    render.render(load(plan, "smoke"), tmp_path / "report", allow_failed=True)
    index = (tmp_path / "report" / "index.md").read_text()
    assert "Failed runs" in index and "broken" in index


def test_second_runner_refuses_while_the_first_holds_the_lock(tmp_path, real_data):
    results = tmp_path / "results"
    (results / "smoke").mkdir(parents=True)
    with FileLock(results / "smoke" / ".lock"):
        proc = runner(
            "run",
            "eda",
            "--profile",
            "smoke",
            "--data-dir",
            real_data,
            env={"RESULTS_DIR": str(results)},
        )
    assert proc.returncode == 3
    assert "another runner is working on" in proc.stderr and "wait for it" in proc.stderr
    assert not (results / "smoke" / "eda").exists()


def test_interrupted_run_leaves_no_half_result_and_resumes(tmp_path, real_data):
    """Ctrl-C during a run, then the same command again; both console streams checked too (one
    pair of real runs serves both: -v prints the full stream, without it a few lines)."""
    results = tmp_path / "results"
    env = {**os.environ, "RESULTS_DIR": str(results)}
    cmd = [
        sys.executable,
        "-m",
        "runner",
        "run",
        "eda",
        "baseline",
        "--profile",
        "smoke",
        "--data-dir",
        str(real_data),
    ]
    # A file, not a pipe: -v prints more than a pipe's buffer holds before anyone reads it.
    stream = tmp_path / "verbose.txt"
    with stream.open("w") as sink:
        proc = subprocess.Popen([*cmd, "-v"], cwd=paths.ROOT, env=env, stdout=sink, stderr=sink)
        partial = results / "smoke" / ".baseline.partial"
        deadline = time.time() + 120
        while not partial.exists() and time.time() < deadline:  # eda done, baseline under way
            time.sleep(0.2)
        assert partial.exists(), "baseline never started"
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.wait(timeout=60)
    out = stream.read_text()
    assert proc.returncode == 3, out[-2000:]
    assert "interrupted: finished runs are kept; rerun to resume" in out
    assert "Executing Cell 1-" in out  # -v: the full stream
    assert (results / "smoke" / "eda" / "run.json").exists()
    assert not (results / "smoke" / "baseline").exists()

    again = subprocess.run(cmd, cwd=paths.ROOT, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 executed" in again.stdout and "1 up to date" in again.stdout
    assert not partial.exists() and (results / "smoke" / "baseline" / "metrics.json").exists()
    # Without -v: an up-to-date line, a start and a done line, the table (header, rule, 2 rows)
    # and the summary; none of Papermill's, TensorFlow's or Keras' noise.
    lines = (again.stdout + again.stderr).splitlines()
    assert len(lines) <= 1 + 2 + 4 + 1, lines
    noise = ("Executing Cell", "NodeDef", "over TCP", "absl", "oneDNN", "Epoch", "%|")
    assert not [line for line in lines if any(n in line for n in noise)], lines
    assert re.search(
        r"^done: smoke/baseline in \d+ s \(1 epoch\), val accuracy 0\.\d{3}$", again.stdout, re.M
    )
    # The full stream is kept in each run's folder all the same.
    for run in ("eda", "baseline"):
        assert "Executing Cell 1-" in (results / "smoke" / run / layout.RUN_LOG).read_text()
    assert "val_accuracy" in (results / "smoke" / "baseline" / layout.RUN_LOG).read_text()


def test_same_seed_same_metrics(smoke, tmp_path, real_data):
    """Reproducibility on this machine: the smoke session's cnn run again in another process,
    into another folder: identical numbers."""
    results = tmp_path / "results"
    proc = runner(
        "run",
        "cnn",
        "--profile",
        "smoke",
        "--data-dir",
        real_data,
        env={"RESULTS_DIR": str(results)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = []
    for folder in (smoke[1], results / "smoke"):
        m = json.loads((folder / "cnn" / "metrics.json").read_text())
        for volatile in ("provenance", "timing", "same_computation_as"):
            m.pop(volatile, None)
        metrics.append(m)
    assert metrics[0] == metrics[1]


# --- downloading: offline, resumed, from a mirror ---------------------------------------------


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused, as offline."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_make_data_is_one_message_and_exit_2(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/msl-images.zip"
    target = tmp_path / "data" / "msl-images"
    proc = runner("data", "--data-dir", target, env={"DATA_URL": url})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: could not download the MSL data set from {url}: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "curl -L -C -" in proc.stderr and f"make data DATA_DIR={target}" in proc.stderr
    assert "unzip it yourself" in proc.stderr and not target.exists()
    # Through make as well (what the README tells a user to type).
    made = subprocess.run(
        ["make", "-s", "data", f"DATA_DIR={target}"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "DATA_URL": url},
    )
    assert made.returncode == 2 and "error: could not download" in made.stderr
    assert "Traceback" not in made.stderr


class _RangeServer:
    """Serves one archive on 127.0.0.1 with HTTP Range support; the first `drop_after` bytes
    of the first answer are sent and the connection then closed, as a network failure would."""

    def __init__(self, data: bytes, drop_after: int | None = None, ranges: bool = True):
        self.data, self.drop_after, self.ranges = data, drop_after, ranges
        self.requests: list[str | None] = []
        self.sent: list[int] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                header = self.headers.get("Range")
                server.requests.append(header)
                start = 0
                m = re.match(r"bytes=(\d+)-$", header or "")
                if m and server.ranges:
                    start = int(m[1])
                    self.send_response(206)
                    total = len(server.data)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                else:
                    self.send_response(200)
                body = server.data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_after is not None:
                    body, server.drop_after = body[: server.drop_after], None
                self.wfile.write(body)
                server.sent.append(len(body))
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/msl-images.zip"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "server-ignores-range"])
def test_interrupted_download_resumes(tmp_path, monkeypatch, ranges):
    data = _zip_of(make_msl(tmp_path / "src"), tmp_path / "a.zip").read_bytes()
    half = len(data) // 2
    server = _RangeServer(data, drop_after=half, ranges=ranges)
    monkeypatch.setenv("DATA_URL", server.url)  # a mirror: still checked against size and CRCs
    target = tmp_path / "data" / "msl-images"
    try:
        with pytest.raises(DataError) as err:
            download.ensure(target, expected_size=len(data))
        part = target.parent / "msl-images.zip.part"
        assert f"could not download the MSL data set from {server.url}" in str(err.value)
        assert f"{half:,} bytes received so far are kept" in str(err.value)
        assert part.stat().st_size == half and not target.exists()

        download.ensure(target, expected_size=len(data))
    finally:
        server.close()
    assert (target / paths.SYNSET_FILE).exists() and not part.exists()
    assert server.requests == [None, f"bytes={half}-"]
    # With Range, only the missing half travels again; a server without it sends it all.
    assert server.sent == [half, len(data) - half if ranges else len(data)]


def test_mirror_with_the_wrong_file_is_refused(tmp_path, monkeypatch):
    wrong = _zip_of(make_msl(tmp_path / "src"), tmp_path / "a.zip").read_bytes()
    server = _RangeServer(wrong)
    monkeypatch.setenv("DATA_URL", server.url)
    try:
        with pytest.raises(DataError, match=f"is {len(wrong):,} bytes, expected 60,635,475"):
            download.ensure(tmp_path / "data" / "msl-images")
    finally:
        server.close()
    assert not list((tmp_path / "data").glob("*.zip*"))


# --- make check decodes every listed image ----------------------------------------------------


def test_check_names_every_undecodable_image(tmp_path):
    root = make_msl(tmp_path / "msl")
    bad = {}
    for split, line, damage in [
        ("train", 1, "empty"),
        ("val", 2, "truncated"),
        ("test", 3, "text"),
    ]:
        list_file = root / paths.SPLIT_FILES[split]
        image = root / list_file.read_text().splitlines()[line - 1].split()[0]
        content = image.read_bytes()
        image.write_bytes(
            {"empty": b"", "truncated": content[: len(content) // 2], "text": b"not a JPEG"}[damage]
        )
        bad[image] = f"{list_file}:{line}: {image}: "
    proc = runner("check", "--profile", "smoke", "--data-dir", root)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: 3 image(s) listed in")
    for where in bad.values():
        assert where in proc.stderr, where
    assert "Traceback" not in proc.stderr and "data ok" not in proc.stdout


def test_check_decodes_and_passes_good_data(tmp_path):
    root = make_msl(tmp_path / "msl")
    proc = runner("check", "--profile", "smoke", "--data-dir", root)
    assert proc.returncode == 0, proc.stderr
    assert "all 12 images decode" in proc.stdout
