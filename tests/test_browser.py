"""Headless Chromium over the built smoke site, served over HTTP and opened from disk.

Every page must load without a console error, a broken image, a link to a missing file of the
site, or a request to another host. The file:// pass runs on the unzipped `make dist` archive,
which is what gets submitted. Chromium is Debian's (`make browser`), driven by Playwright.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from analysis import paths
from runner.report import dist

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--disable-quic",
]
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
ARTIFACTS = paths.ROOT / "test-artifacts"

# Wait until every image has loaded or failed (lazy ones are made eager first).
IMAGES_SETTLED = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener("load", r); i.addEventListener("error", r);
  })));
  return imgs.filter(i => i.complete && i.naturalWidth === 0)
             .map(i => i.currentSrc || i.src || i.getAttribute("src"));
}"""
LINKS = "els => els.map(a => a.href)"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def served(smoke_site) -> Iterator[str]:
    """The smoke site over HTTP on 127.0.0.1 (a free port), in a thread."""
    handler = functools.partial(_Quiet, directory=str(smoke_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def unzipped(smoke_site, tmp_path_factory) -> Path:
    """The smoke site as `make dist` ships it: zipped, then unzipped elsewhere."""
    tmp = tmp_path_factory.mktemp("dist")
    archive = dist.make_zip(smoke_site, tmp / "site.zip")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert names and all(n.startswith("site/") for n in names)
        zf.extractall(tmp / "x")
    return tmp / "x" / "site"


def site_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


def _in_site(url: str, base: str, site: Path) -> Path | None:
    """The file of the site that `url` names, or None when it points elsewhere."""
    if not url.startswith(base):
        return None
    rel = unquote(urlsplit(url[len(base) :]).path)
    target = site / rel
    return target / "index.html" if target.is_dir() or not rel else target


def _name(url: str, base: str) -> str:
    return url[len(base) :] if url.startswith(base) else url


def check_pages(browser, site: Path, base: str, pages: list[str]) -> list[str]:
    """Open each page (a path relative to `site`) at `base`; return the problems found."""
    problems: list[str] = []
    current = [""]

    def record(problem: str) -> None:
        problems.append(f"{current[0]}: {problem}")

    def route(route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            record(f"request to another host: {url}")
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and record(f"console error: {m.text}"))
    page.on("pageerror", lambda e: record(f"script error: {e}"))
    try:
        for rel in pages:
            current[0] = rel
            page.goto(base + rel, wait_until="load")
            for src in page.evaluate(IMAGES_SETTLED):
                record(f"broken image {_name(src, base)}")
            for href in set(page.eval_on_selector_all("a[href]", LINKS)):
                scheme = urlsplit(href).scheme
                if scheme == "file" and not href.startswith(base):
                    record(f"link outside the site: {href}")
                target = _in_site(href, base, site)
                if target is not None and not target.is_file():
                    record(f"broken link {_name(href, base)}")
    finally:
        context.close()
    return problems


@pytest.mark.parametrize("mode", ["http", "file"])
def test_every_page_loads_cleanly(browser, smoke_site, served, unzipped, mode):
    site, base = (smoke_site, served) if mode == "http" else (unzipped, unzipped.as_uri() + "/")
    pages = site_pages(site)
    if mode == "file":
        # 404.html is for web servers (its links are root-absolute); no page links to it.
        pages.remove("404.html")
    notebooks = [p for p in pages if p.endswith("/notebook.html")]
    assert "index.html" in pages and "runs/kernel-5x5.html" in pages and notebooks
    problems = check_pages(browser, site, base, pages)
    assert not problems, f"{len(problems)} problems over {mode}:\n" + "\n".join(problems)


def test_home_page_screenshot(browser, served):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(served + "index.html", wait_until="load")
        page.evaluate(IMAGES_SETTLED)
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)
        assert page.locator("h1").first.is_visible()
    finally:
        page.close()
    assert (ARTIFACTS / "home.png").stat().st_size > 10_000


def test_search_works_from_disk(browser, unzipped):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside: list[str] = []

    def route(route) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    try:
        page.goto((unzipped / "index.html").as_uri(), wait_until="load")
        box = page.locator("input.md-search__input")
        box.click()
        box.press_sequentially("kernel", delay=20)
        results = page.locator(".md-search-result__item")
        results.first.wait_for(state="visible", timeout=15_000)
        assert results.count() > 0
        assert "kernel" in page.locator(".md-search-result").inner_text().lower()
    finally:
        context.close()
    assert not outside, outside


def test_checker_reports_a_missing_figure(browser, smoke_site, tmp_path):
    damaged = tmp_path / "site"
    shutil.copytree(smoke_site, damaged)
    figure = damaged / "study" / "figures" / "confusion_matrix_kernel-5x5.png"
    figure.unlink()
    problems = check_pages(browser, damaged, damaged.as_uri() + "/", ["runs/kernel-5x5.html"])
    assert any(
        "broken image" in p and "study/figures/confusion_matrix_kernel-5x5.png" in p
        for p in problems
    ), problems
    assert any("broken link study/figures/confusion_matrix_kernel-5x5.png" in p for p in problems)
