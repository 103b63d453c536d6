"""Every page of the committed site in headless Chromium at a desktop (1280 px) and a phone
(390 px) width: a full-page screenshot of each (test-artifacts/pages/), no horizontal overflow
of the page body, every image loaded, and the home page's three answers on show without
expanding anything. One browser for all pages; Debian's chromium (`make browser`)."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from analysis import paths
from tests import site_text

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": 1280, "phone": 390}
ARTIFACTS = paths.ROOT / "test-artifacts" / "pages"
QUESTIONS = (
    "Why did the CNN beat the dense network?",
    "What inductive bias does convolution introduce?",
    "When is convolution not the right tool?",
)
# Wait until every image has loaded or failed (lazy ones made eager first); the broken ones.
IMAGES_SETTLED = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = "eager"; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener("load", r); i.addEventListener("error", r);
  })));
  return imgs.filter(i => i.naturalWidth === 0).map(i => i.getAttribute("src"));
}"""
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.body.querySelectorAll("*")].filter(e => {
    const r = e.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && getComputedStyle(e).position !== "fixed"
      && !e.closest(".md-typeset__scrollwrap, pre, .md-sidebar, .md-search, .md-tabs");
  }).slice(0, 3).map(e => e.tagName + "." + e.className);
  return {scroll: document.body.scrollWidth, width, wide};
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def visited(committed_site):
    """Open every page at both widths once; what each visit found, by (width name, page)."""
    from playwright.sync_api import sync_playwright

    handler = functools.partial(_Quiet, directory=str(committed_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    found = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"], headless=True
            )
            for label, width in WIDTHS.items():
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                for rel in site_text.pages(committed_site):
                    page.goto(base + rel, wait_until="load")
                    broken = page.evaluate(IMAGES_SETTLED)
                    shot = ARTIFACTS / label / rel.replace("/", "__").replace(".html", ".jpg")
                    shot.parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(
                        path=str(shot),
                        full_page=True,
                        type="jpeg",
                        quality=50,
                        animations="disabled",
                    )
                    visit = {"broken": broken, "overflow": page.evaluate(OVERFLOW), "shot": shot}
                    if rel == "index.html":
                        visit["answers"] = {
                            q: page.locator("h2", has_text=q).is_visible()
                            and page.locator("h2", has_text=q)
                            .locator("xpath=following-sibling::p[1]")
                            .is_visible()
                            for q in QUESTIONS
                        }
                        visit["images"] = page.locator("article img").count()
                    found[(label, rel)] = visit
                context.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return found


def test_every_page_is_visited_at_both_widths(visited, committed_site):
    pages = site_text.pages(committed_site)
    assert len(pages) > 20 and "index.html" in pages and "runs/cnn.html" in pages
    assert set(visited) == {(label, p) for label in WIDTHS for p in pages}
    assert all(v["shot"].stat().st_size > 5_000 for v in visited.values())


def test_no_page_overflows_horizontally(visited):
    bad = {
        k: v["overflow"]
        for k, v in visited.items()
        if v["overflow"]["scroll"] > v["overflow"]["width"] or v["overflow"]["wide"]
    }
    assert not bad, bad


def test_every_image_loads(visited):
    bad = {k: v["broken"] for k, v in visited.items() if v["broken"]}
    assert not bad, bad


def test_the_home_page_shows_its_three_answers(visited):
    for label in WIDTHS:
        home = visited[(label, "index.html")]
        assert home["answers"] == dict.fromkeys(QUESTIONS, True), (label, home["answers"])
        assert home["images"] >= 4
