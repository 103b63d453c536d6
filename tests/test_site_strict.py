"""Strict means strict: no site build the project runs passes with a warning.

MkDocs 1.6 drops the warnings below its log level before --strict counts them, so
`mkdocs build --strict --quiet` exits 0 with a broken link; that let a provenance link to a
missing page through `make site` and the tests while `mkdocs serve` refused to start (issue 31).
Two guards: a page with a planted broken link must fail `make site` and the tests' own build,
and no build or serve command anywhere in the project may carry a quiet flag.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from analysis import paths
from runner.report import site
from tests import fresh_clone as reader

BROKEN = "\nA planted link: [a page that does not exist](no-such-page.md).\n"
QUIET = {"--quiet", "-q"}


@pytest.fixture
def planted(tmp_path) -> Path:
    """A copy of the site sources whose hand-written Reproduce page (in the nav; `make pages`
    leaves it as it is) links to a page that does not exist."""
    clone = reader.copy_sources(tmp_path / "sources")
    with (clone / "report" / "reproduce.md").open("a") as page:
        page.write(BROKEN)
    return clone


def _failed_on_the_link(output: str) -> None:
    assert "reproduce.md" in output and "'no-such-page.md'" in output, output
    assert "Aborted with 1 warnings in strict mode" in output, output


def test_a_broken_link_fails_make_site_and_make_dist(planted):
    # `-o pages`: the render step (a minute, and the data set) cannot touch a hand-written page.
    for target in ("site", "dist"):
        done = subprocess.run(
            ["make", "-o", "pages", target],
            cwd=planted,
            env=reader.env(planted),
            capture_output=True,
            text=True,
        )
        assert done.returncode != 0, done.stdout + done.stderr
        _failed_on_the_link(done.stdout + done.stderr)
        # mkdocs wrote the site before it aborted; make deletes it, so the next make builds
        # again (and fails again) instead of taking it as up to date.
        assert not (planted / "site" / "index.html").exists()
    assert not (planted / "dist" / "site.zip").exists()


def test_a_broken_link_fails_the_tests_site_build(planted, tmp_path, capfd):
    """site.build: the smoke site's build (conftest), over another docs folder; the committed
    site's (site_text.build_committed) runs the same site.mkdocs_build."""
    published = planted / "report" / ".published.json"
    info = json.loads(published.read_text())
    info["results"] = str(paths.ROOT / info["results"])  # another docs folder: absolute
    published.write_text(json.dumps(info))
    with pytest.raises(subprocess.CalledProcessError):
        site.build(planted / "report", tmp_path / "site")
    captured = capfd.readouterr()
    _failed_on_the_link(captured.out + captured.err)


def quiet_invocations(file: Path) -> list[str]:
    """The mkdocs commands in `file` that carry a quiet flag: in a Makefile, shell script or
    YAML file each line (continuations joined); in Python each call, list or tuple whose strings
    (with those of the module's constants it names) hold both."""
    text = file.read_text(encoding="utf-8", errors="replace")
    if file.suffix != ".py":
        lines = text.replace("\\\n", " ").splitlines()
        return [line.strip() for line in lines if _mkdocs_and_quiet(line.split())]
    tree = ast.parse(text)
    constants = {
        target.id: _strings(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call | ast.List | ast.Tuple):
            words = _strings(node)
            for name in ast.walk(node):
                if isinstance(name, ast.Name):
                    words += constants.get(name.id, [])
            tokens = [t for w in words for t in w.split()]
            if _mkdocs_and_quiet(tokens):
                found.append(f"{file.name}:{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def _strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _mkdocs_and_quiet(tokens: list[str]) -> bool:
    mkdocs = any(t == "mkdocs" or t.endswith("/mkdocs") for t in tokens)
    return mkdocs and bool(QUIET & set(tokens))


def project_files() -> list[Path]:
    """Every file of the project that can run a command: tracked or new, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    runs = re.compile(r"(^|/)(Makefile|[^/]+\.(py|sh|mk|ya?ml))$")
    return [
        paths.ROOT / f
        for f in listed
        if runs.search(f) and not f.startswith(("results/", "report/"))
        if (paths.ROOT / f).is_file()
    ]


def test_no_build_in_the_project_hides_warnings():
    files = project_files()
    names = {f.relative_to(paths.ROOT).as_posix() for f in files}
    assert {"Makefile", "runner/report/site.py", "tests/site_text.py"} <= names
    # This file is left out: it writes quiet builds on purpose, for the check below.
    found = [hit for f in files if f != Path(__file__) for hit in quiet_invocations(f)]
    assert not found, "mkdocs run with a quiet flag hides warnings from --strict:\n" + "\n".join(
        found
    )
    # Nor may the configuration turn strict off, or a broken link or anchor into mere info.
    config = yaml.safe_load(paths.MKDOCS_FILE.read_text())
    assert config["strict"] is True
    assert set(config["validation"].values()) == {"warn"}, config["validation"]


def test_the_check_finds_a_quiet_build(tmp_path):
    make = tmp_path / "Makefile"
    make.write_text("site:\n\t$(VENV)/bin/mkdocs build \\\n\t  --strict --quiet\n")
    script = tmp_path / "build.py"
    script.write_text(
        "import subprocess, sys\n"
        'ARGS = ("mkdocs", "build", "--strict")\n'
        'subprocess.run([sys.executable, "-m", *ARGS, "-q"], check=True)\n'
        'subprocess.run(["mkdocs", "build", "--strict"], check=True)\n'
        'subprocess.run(["pip", "install", "--quiet", "x"], check=True)\n'
    )
    assert len(quiet_invocations(make)) == 1
    hits = quiet_invocations(script)
    assert hits and all(":3:" in h for h in hits), hits
    assert quiet_invocations(paths.ROOT / "runner" / "report" / "site.py") == []
