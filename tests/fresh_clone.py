"""A reader's fresh clone of the committed repository, a copy of the working tree's site
sources, and the project's commands run in them as processes (helpers of
tests/test_browser_serve.py and tests/test_site_strict.py).

The clone is `git clone` of this repository's HEAD: what a reader gets, the committed pages
and results, no run executed, no site built (uncommitted edits are not in it). Neither has a
.venv; instead of installing one (minutes, and the network), its .venv links every entry of
this checkout's venv and carries its own fresh `.installed` stamp, so `make` finds the venv
set up and never reinstalls into the shared one. PYTHONPATH puts the clone's packages first,
as its own editable install would.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from analysis import paths

VENV = paths.ROOT / ".venv"


# The working tree's site sources, copied for a test to damage; the code and results the
# build only reads are linked.
SITE_SOURCES = ("Makefile", "mkdocs.yml", "pyproject.toml", "report", "hooks", "templates")
READ_ONLY = ("runner", "analysis", "results")


def make_clone(dest: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(paths.ROOT), str(dest)], check=True)
    _link_venv(dest)
    return dest


def copy_sources(dest: Path) -> Path:
    """The working tree's site sources (as edited, committed or not) in `dest`, to plant a
    fault in and build with the project's own commands."""
    dest.mkdir(parents=True)
    for name in SITE_SOURCES:
        source = paths.ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name)
        else:
            shutil.copy2(source, dest / name)
    for name in READ_ONLY:
        (dest / name).symlink_to(paths.ROOT / name)
    _link_venv(dest)
    return dest


def _link_venv(dest: Path) -> None:
    venv = dest / ".venv"
    venv.mkdir()
    for entry in VENV.iterdir():
        if entry.name != ".installed":
            (venv / entry.name).symlink_to(entry)
    (venv / ".installed").touch()  # newer than pyproject.toml: make never reinstalls


def env(clone: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS")}
    return {**out, "PYTHONPATH": str(clone)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on `port` again (as MkDocs does, with SO_REUSEADDR: the
    closed connections that linger in TIME_WAIT do not hold the port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def nav_pages(clone: Path) -> list[str]:
    """Every page of the clone's nav as the site names it (.html): mkdocs.yml's nav, and the
    run pages that hooks/results.py adds from report/.published.json."""
    config = yaml.safe_load((clone / "mkdocs.yml").read_text())
    published = json.loads((clone / "report" / ".published.json").read_text())

    def walk(items) -> Iterator[str]:
        for item in items:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            if isinstance(value, list):
                yield from walk(value)
            else:
                yield value

    pages = [*walk(config["nav"]), *(f"runs/{r['name']}.md" for r in published["runs"])]
    return [p.removesuffix(".md") + ".html" for p in dict.fromkeys(pages)]


@dataclass
class Server:
    """A serving command started in its own session (as from a terminal) and what it left."""

    base: str
    process: subprocess.Popen
    output: str = ""
    stopped: bool = False  # ended within 30 s of its Ctrl-C


@contextlib.contextmanager
def serving(command: list[str], clone: Path, port: int, timeout: float = 180) -> Iterator[Server]:
    """Start `command` in `clone`; yield once http://127.0.0.1:<port>/ answers; on exit, stop
    it with Ctrl-C (SIGINT to its process group, as a terminal sends it) and keep its output."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            cwd=clone,
            env=env(clone),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # Ctrl-C must reach it as in a terminal, even when the tests themselves were started
            # in the background (a shell starts those with SIGINT ignored, and children inherit).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        server = Server(f"http://127.0.0.1:{port}/", process)
        try:
            _wait_until_up(server, command, log, timeout)
            yield server
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(30)
                    server.stopped = True
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            log.seek(0)
            server.output = log.read()


def _wait_until_up(server: Server, command: list[str], log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"{command} exited {server.process.returncode}:\n{log.read()}")
        try:
            with urllib.request.urlopen(server.base, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers; the tests judge what
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not answer in {timeout} s") from None
            time.sleep(0.3)


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True
