"""The reader's way to the report, run as a reader runs it: on a fresh clone (committed pages,
no run executed), `mkdocs serve` and `make serve` start on a free loopback port, headless
Chromium opens every page of the nav (each answers 200, every image loads, no request of the
page fails), and Ctrl-C stops the server cleanly. Real processes, real MkDocs, Debian's chromium.

`mkdocs serve` is strict (mkdocs.yml: `strict: true`): one broken link and it never starts,
which is how a broken provenance link once kept every reader from the report (issue 31).
"""

from __future__ import annotations

import subprocess
from urllib.parse import urljoin, urlsplit

import pytest

from tests import fresh_clone as reader
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, IMAGES_SETTLED

pytestmark = pytest.mark.browser

# The home page's navigation: every page link of the primary nav (not the table of contents).
NAV_LINKS = """() => [...document.querySelectorAll("nav.md-nav--primary a.md-nav__link[href]")]
  .map(a => a.href).filter(h => !h.includes("#"))"""
IMAGE_COUNT = "() => document.querySelectorAll('article img').length"


def commands(port: int) -> dict[str, list[str]]:
    """What README tells a reader to type (venv active for mkdocs), on a port of our own."""
    return {
        "mkdocs serve": [".venv/bin/mkdocs", "serve", "--dev-addr", f"127.0.0.1:{port}"],
        "make serve": ["make", "serve", f"PORT={port}"],
    }


def visit(base: str, pages: list[str]) -> tuple[dict, list[str], set[str]]:
    """Open every page at `base`: its status and image count, the problems found (failed
    requests, broken images), and the home page's nav links (relative to `base`)."""
    from playwright.sync_api import sync_playwright

    found, problems, current = {}, [], [""]

    def response(r) -> None:
        if r.status >= 400:
            problems.append(f"{current[0]}: {r.status} {r.url}")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        # The pages' own scripts off: under test here is the server, and what the scripts do
        # is the static site's, checked by test_browser*.py; with them on, each page rebuilds
        # the search index, 20 s instead of 6 for the nav on 2 cores. Playwright's evaluate
        # still runs.
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, java_script_enabled=False
        )
        page = context.new_page()
        page.on("response", response)
        try:
            for rel in pages:
                current[0] = rel
                answer = page.goto(base + rel, wait_until="load")
                broken = page.evaluate(IMAGES_SETTLED)
                problems += [f"{rel}: broken image {src}" for src in broken]
                found[rel] = {"status": answer.status, "images": page.evaluate(IMAGE_COUNT)}
            page.goto(base, wait_until="load")
            nav = {urlsplit(urljoin(base, h)).path.lstrip("/") for h in page.evaluate(NAV_LINKS)}
        finally:
            browser.close()
    return found, problems, nav


@pytest.mark.parametrize("how", ["mkdocs serve", "make serve"])
def test_a_fresh_clone_serves_every_page_of_the_nav(fresh_clone, how):
    port = reader.free_port()
    pages = reader.nav_pages(fresh_clone)
    with reader.serving(commands(port)[how], fresh_clone, port) as server:
        found, problems, nav = visit(server.base, pages)
    # Stopped cleanly: gone within 30 s of Ctrl-C, every process of its group with it, the
    # server's own shutdown and no traceback, the port free again. make passes the Ctrl-C on
    # and ends by it, as in a terminal (-SIGINT); mkdocs exits 0.
    assert server.stopped, f"{how} still ran 30 s after Ctrl-C:\n{server.output}"
    assert not reader.group_alive(server.process.pid)
    assert "Shutting down" in server.output and "Traceback" not in server.output, server.output
    assert server.process.returncode in ((0,) if how == "mkdocs serve" else (0, -2))
    assert reader.port_is_free(port)
    assert f"Serving on http://127.0.0.1:{port}/" in server.output
    # Every page of the nav answered 200 with its images, and the nav is that list.
    assert {rel: v["status"] for rel, v in found.items()} == dict.fromkeys(pages, 200)
    assert not problems, "\n".join(problems)
    assert nav == set(pages), nav ^ set(pages)
    assert found["index.html"]["images"] >= 4 and found["runs/cnn.html"]["images"] >= 2
    assert len(pages) > 20 and "provenance.html" in pages and "mechanisms.html" in pages


def test_the_readme_names_these_commands_and_the_default_port(fresh_clone):
    """README's "The report" tells a reader to type the commands tested above; without PORT,
    `make serve` listens where it says."""
    readme = (fresh_clone / "README.md").read_text()
    section = readme[readme.index("## The report") :]
    section = " ".join(section[: section.index("\n## ")].split())
    assert "`mkdocs serve` (venv active) or `make serve`" in section
    assert "http://127.0.0.1:8000" in section
    dry = subprocess.run(
        ["make", "-n", "serve"],
        cwd=fresh_clone,
        env=reader.env(fresh_clone),
        text=True,
        capture_output=True,
        check=True,
    )
    assert "mkdocs serve --dev-addr 127.0.0.1:8000" in dry.stdout, dry.stdout
