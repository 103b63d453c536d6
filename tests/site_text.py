"""The committed report built into a site, and the text a reader sees on its pages (helpers of
tests/test_site_text.py and tests/test_browser_pages.py)."""

from __future__ import annotations

import html
import re
from pathlib import Path

from analysis import paths
from runner.report import site

BLOCK = re.compile(
    r"</?(?:p|li|td|th|h[1-6]|figcaption|figure|pre|div|tr|table|ul|ol|dt|dd|summary|details|"
    r"blockquote|br|hr)\b[^>]*>",
    re.I,
)
WORD = re.compile(r"[^\W_][\w'’.,%×→−+/-]*")


def build_committed(tmp: Path, root: Path = paths.ROOT) -> Path:
    """`mkdocs build --strict` of the committed report/ (the published results) with the
    project's own mkdocs.yml (of `root`: this checkout or a clone), into `tmp`: the results
    folder resolves as `make site` has it."""
    out = tmp / "site"
    site.mkdocs_build(root / "mkdocs.yml", out, cwd=root)
    return out


def pages(site_dir: Path) -> list[str]:
    """The site's own pages (not the executed notebooks it publishes, not the 404 page)."""
    return sorted(
        p.relative_to(site_dir).as_posix()
        for p in site_dir.rglob("*.html")
        if p.name != "notebook.html" and p.name != "404.html"
    )


def article(page_html: str, drop: tuple[str, ...] = ()) -> str:
    """The page's content (its <article>), with the elements named in `drop` removed."""
    start = page_html.index('<article class="md-content__inner')
    body = page_html[start : page_html.index("</article>", start)]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    for tag in drop:
        body = re.sub(rf"<{tag}\b.*?</{tag}>", " ", body, flags=re.S | re.I)
    return body


def blocks(body: str) -> list[str]:
    """The text of each block element, tags stripped, whitespace collapsed."""
    text = BLOCK.sub("\n\n", body)
    text = html.unescape(re.sub(r"<[^>]+>", "", text)).replace("¶", " ")
    out = [re.sub(r"\s+", " ", b).strip() for b in text.split("\n\n")]
    return [b for b in out if b]


def sentences(block: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", block) if s.strip()]


def words(text: str) -> list[str]:
    return WORD.findall(text)


def long_sentences(page_html: str, at_least: int = 12) -> set[str]:
    """The page's sentences of at least `at_least` words, normalised for comparison."""
    out = set()
    for b in blocks(article(page_html)):
        for s in sentences(b):
            w = words(s)
            if len(w) >= at_least:
                out.add(" ".join(w).lower())
    return out


def prose_words(page_html: str) -> int:
    """Words of prose: the article without its tables and figure captions."""
    return sum(len(words(b)) for b in blocks(article(page_html, drop=("table", "figcaption"))))


# Markdown a reader should never see as text: it means a table, emphasis or link was not
# converted (a table glued to the paragraph above it, Markdown inside raw HTML, a template's
# syntax left over). Code and preformatted text are exempt: they show syntax on purpose.
LEAKS = {
    "a table row": re.compile(r"(?:^|\s)\|\s[^|]*\s\|(?:\s|$)"),
    "a table's separator row": re.compile(r"\|\s*:?-{3,}:?\s*\||-{3,}:?\s*\|\s*:?-{3,}"),
    "bold markers": re.compile(r"\*\*\S|\S\*\*"),
    "emphasis markers": re.compile(r"(?:^|\s)[*_][^\W_][^*_]*[^\W_][*_](?=[\s.,;:!?)]|$)"),
    "a link's Markdown": re.compile(r"\]\(|\]\[|!\["),
    "a glossary definition": re.compile(r"\*\["),
    "a heading's hashes": re.compile(r"^#{1,6}\s"),
    "backticks": re.compile(r"`"),
    "an attribute list": re.compile(r"\{\s*[#.][\w-]+\s*\}"),
    "template syntax": re.compile(r"\{[{%#]|[}%#]\}"),
    "an admonition's marker": re.compile(r"^(?:!!!|\?\?\?\+?)\s*[a-z]"),
    "a footnote's marker": re.compile(r"\[\^[\w-]+\]"),
    # A tag shown as text: raw HTML that Markdown escaped instead of passing it through.
    "an HTML tag": re.compile(
        r"</?(?:div|span|p|table|tr|td|th|img|a|br|details|summary|figure|abbr)\b[^>]*>"
    ),
}


def markdown_leaks(page_html: str) -> list[tuple[str, str]]:
    """(what leaked, the text around it) for each piece of Markdown shown as text in the page's
    article: its blocks of visible text (code and preformatted text left out) and the glossary
    definitions a reader reads on hover."""
    body = article(page_html, drop=("code", "pre", "kbd"))
    texts = blocks(body) + [html.unescape(t) for t in re.findall(r'<abbr title="([^"]*)"', body)]
    out = []
    for text in texts:
        for what, pattern in LEAKS.items():
            m = pattern.search(text)
            if m:
                out.append((what, text[max(0, m.start() - 60) : m.end() + 60]))
    return out
